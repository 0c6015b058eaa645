"""What every operator means: the rules an operator module implements (docs/architecture.md).

An operator module (``emac_sim/operators/<name>.py``) defines one frozen dataclass, a subclass of
:class:`Operator`, holding the operator's fields and every rule below. The layers never switch on
operator types: the spec loader looks the class up in the registry by its ``type``, and every
other layer walks the tree and calls these methods, handling only the leaf (:class:`Ref`) itself.
``tests/test_operators.py`` fails when a registered operator lacks a rule, and runs the
analytic-vs-Monte-Carlo and kernel-vs-reference agreement tests for every one of them.

Heavy toolkits (the grid algebra, the kernel writer) are imported inside the rules, so loading a
spec stays light and no layer below imports this package.

An operator's spec keys are its :meth:`Operator.schema` fragment (JSON Schema, draft 2020-12);
``emac_sim/spec/schema.py`` assembles the document schema from every registered operator's, and the
loader reads the keys each operator accepts from it. The fragment is written with the shapes below
(:func:`schema_ref` to the document's shared ``$defs``, :func:`schema_number` for bounded numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from ..model.node import Node

if TYPE_CHECKING:  # the toolkits the rules are written against
    import numpy as np

    from ..analytic.dependence_free import BandEvaluator, NodeBand
    from ..analytic.grid import Grid, Law
    from ..engine.codegen import KernelWriter, Res
    from ..spec.limits import CallCount

Ok = Callable[[Node], "np.ndarray"]

#: Shared shapes the document schema defines in ``$defs`` (``emac_sim/spec/schema.py``): an operator
#: node; an operator node with a ``weight`` key beside its own (a choice branch); a duration
#: (``250ms``, ``1.5s``, seconds as a number); a probability; a number; a defined component's id.
SHARED_SHAPES: tuple[str, ...] = ("node", "weightedNode", "duration", "probability", "number", "componentId")

#: A number as the loader reads it: YAML numbers, or strings that parse as one (PyYAML reads ``1e5`` as a string).
NUMBER_TEXT = r"^\s*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*$"


def schema_ref(shape: str) -> dict[str, str]:
    """A reference to one of :data:`SHARED_SHAPES` in the document schema."""
    if shape not in SHARED_SHAPES:
        raise ValueError(f"no shared schema shape {shape!r} (one of {', '.join(SHARED_SHAPES)})")
    return {"$ref": f"#/$defs/{shape}"}


def schema_number(minimum: float | None = None, maximum: float | None = None, integer: bool = False) -> dict[str, Any]:
    """A number (or numeric string, as the loader accepts) within ``[minimum, maximum]``."""
    out: dict[str, Any] = {"type": ["integer" if integer else "number", "string"], "pattern": NUMBER_TEXT}
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    return out


def schema_list(item: dict[str, Any]) -> dict[str, Any]:
    """A non-empty list of ``item`` (an operator's steps or branches)."""
    return {"type": "array", "minItems": 1, "items": item}


class Operator(Node):
    """A composite operator. ``op`` is its spec ``type``; ``keys`` the spec keys it accepts
    besides ``type``, ``name`` and ``description`` (the properties of its :meth:`schema`)."""

    keys: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "schema" in vars(cls):
            cls.keys = tuple(cls.schema()["properties"])

    # ------------------------------------------------------------------ spec
    @classmethod
    def schema(cls) -> dict[str, Any]:
        """The JSON Schema fragment (draft 2020-12) of the operator's own keys: ``properties``
        (in the order messages list them), ``required`` (what :meth:`parse` needs), and any
        further keywords (``if``/``then``, …). ``type``, ``name`` and ``description`` are added by
        ``emac_sim/spec/schema.py``; the fragment stays open (the document closes it)."""
        raise NotImplementedError

    @classmethod
    def parse(cls, p: Any, d: dict, path: str) -> Operator:
        """Build the node from its YAML mapping ``d`` at ``path``. ``p`` (the loader's
        ``OperatorParser``) checks values (``p.number``, ``p.duration``, ``p.probability``,
        ``p.fail``) and parses children (``p.child(key)``, ``p.children(key)``)."""
        raise NotImplementedError

    def dump(self, dump: Callable[[Node], dict]) -> dict:
        """The node's YAML mapping (``dump`` renders a child); ``parse(dump(x)) == x``."""
        raise NotImplementedError

    def spec_children(self) -> tuple[tuple[str, Node], ...]:
        """Children named by their place in the YAML document (``dump``'s layout)."""
        return self.children_named()

    # ------------------------------------------------------------------ summaries
    def graph(self, children: list[Any], duration: Callable[[float], str]) -> Any:
        """The paper's compact form for the derivation report, ``children`` already rendered and
        ``duration`` formatting seconds the report's way."""
        return {self.op: children}

    def redundancy(self) -> tuple[str, dict] | None:
        """``(kind, parameters)`` when the node is a redundancy group a ModelDelta compares."""
        return None

    def branch_probabilities(self) -> list[tuple[str, Node, float]]:
        """``(kind, child, probability)`` of routing splits (choice branches, optional steps)."""
        return []

    def fixed_delay(self) -> bool:
        """True when the node has a time constant that does not scale with component latency."""
        return False

    def call_count(self, kids: list[tuple[CallCount, float]]) -> tuple[CallCount, float]:
        """Expected and worst-case calls, and P(ok) with independent failures, from the
        children's (``emac_sim.spec.limits``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ analytic
    def ok_probability(self, ok: Ok, latency: Ok | None) -> np.ndarray:
        """P(ok) per state row; ``ok(child)`` gives a child's, ``latency(node)`` — when latency can
        change the outcome — P(this node's :meth:`timed_step` is ok by its deadline)."""
        raise NotImplementedError

    def timed_step(self) -> tuple[Node, float] | None:
        """``(step, deadline)`` when the node's ok depends on time (timeouts, per-try timeouts)."""
        return None

    def uses_time(self) -> bool:
        """True when durations decide what the node or its children do (issued hedges, timeouts)."""
        return self.timed_step() is not None

    def support(self, kids: list[float]) -> float:
        """A duration (s) the node exceeds with probability ≲ calls·eps, from the children's."""
        raise NotImplementedError

    def sum_depth(self, kids: list[int]) -> int:
        """Most rounded durations summed along one path (grid discretisation error)."""
        raise NotImplementedError

    def tail_estimate(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        """(mean, tail point) of the node's duration for sizing a grid, from the children's."""
        raise NotImplementedError

    def law(self, kids: list[Law], grid: Grid) -> Law:
        """Joint (ok, t) law, children independent (exact composition on the grid)."""
        raise NotImplementedError

    def co_law(self, kids: list[Law], grid: Grid) -> Law:
        """Joint (ok, t) law with comonotone durations and independent failures."""
        raise NotImplementedError

    def availability_bounds(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        """[lo, hi] on P(ok) for any dependence between calls (Fréchet–Hoeffding / Boole)."""
        raise NotImplementedError

    def band(self, kids: list[NodeBand], ev: BandEvaluator) -> NodeBand:
        """Dependence-free CDF bands of the node's success and failure times."""
        raise NotImplementedError

    def expected_calls(self, calls: Callable[[Node], np.ndarray], ctx: Any) -> np.ndarray:
        """Expected calls per component when the node runs (call amplification); ``ctx.p_ok(node)``
        and ``ctx.p_ok_by(node, seconds)`` give children's success probabilities."""
        raise NotImplementedError

    # ------------------------------------------------------------------ simulation
    def simulate(self, sim: Any, path: str, start: float, attempt: int) -> tuple[bool, float, str | None, float]:
        """The reference simulator's step: ``(ok, t, dominant component, its call's seconds)``;
        children run through ``sim.run(child, path, start, attempt)``, draws from ``sim.rng``."""
        raise NotImplementedError

    def emit(self, g: KernelWriter, path: str) -> Res:
        """Generate the kernel code evaluating the node (children through ``g.emit``)."""
        raise NotImplementedError

    def replay(self, rp: Any, path: str, start: float) -> tuple[bool, float, list[int]]:
        """Replay one request's recorded calls through the node for synthetic traces: ``(ok, t,
        indices of the calls it made)``, cutting calls the caller stopped waiting for."""
        raise NotImplementedError

    def can_be_empty(self, kids: list[bool]) -> bool:
        """Whether the node can run without making a call, from the children's."""
        return all(kids)


RULES: tuple[str, ...] = (
    "schema",
    "parse",
    "dump",
    "call_count",
    "ok_probability",
    "support",
    "sum_depth",
    "tail_estimate",
    "law",
    "co_law",
    "availability_bounds",
    "band",
    "expected_calls",
    "simulate",
    "emit",
    "replay",
)
"""Rules every operator must define itself (the others have sound defaults)."""
