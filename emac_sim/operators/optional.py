"""``optional``: the step runs with ``probability``; a skipped step counts as ok and takes no
time (docs/semantics.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..model.node import Node
from .base import Operator, schema_ref


@dataclass(frozen=True)
class Optional(Operator):
    """Runs ``step`` with ``probability``; skipped counts as ok with t = 0."""

    step: Node
    probability: float
    op: ClassVar[str] = "optional"

    def children_named(self) -> tuple[tuple[str, Node], ...]:
        return (("step", self.step),)

    def __str__(self) -> str:
        return f"Optional({self.step}, {self.probability:g})"

    # ---- spec
    @classmethod
    def schema(cls) -> dict[str, Any]:
        return {"properties": {"step": schema_ref("node"), "probability": schema_ref("probability")}, "required": ["step", "probability"]}

    @classmethod
    def parse(cls, p: Any, d: dict, path: str) -> Optional:
        step = p.child("step")
        return cls(step=step, probability=p.probability(p.need("probability"), p.at("probability")))

    def dump(self, dump: Callable[[Node], dict]) -> dict:
        return {"type": "optional", "probability": self.probability, "step": dump(self.step)}

    # ---- summaries
    def graph(self, children: list[Any], duration: Callable[[float], str]) -> Any:
        return {self.op: children[0], "probability": self.probability}

    def branch_probabilities(self) -> list[tuple[str, Node, float]]:
        return [("optional", self.step, self.probability)]

    def call_count(self, kids: list) -> tuple:
        from ..spec.limits import CallCount

        c, p = kids[0]
        return CallCount(self.probability * c.expected, c.worst), 1.0 - self.probability * (1.0 - p)

    # ---- analytic
    def ok_probability(self, ok, latency) -> np.ndarray:
        return 1.0 - self.probability + self.probability * ok(self.step)

    def support(self, kids: list[float]) -> float:
        return kids[0]

    def sum_depth(self, kids: list[int]) -> int:
        return kids[0]

    def tail_estimate(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        return kids[0]

    def law(self, kids: list, grid: Any) -> Any:
        return optional_law(kids[0], self.probability)

    def co_law(self, kids: list, grid: Any) -> Any:
        return optional_law(kids[0], self.probability)

    def availability_bounds(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        lo, hi = kids[0]
        q = self.probability
        return 1.0 - q + q * lo, 1.0 - q + q * hi

    def band(self, kids: list, ev: Any) -> Any:
        from ..analytic.dependence_free import NodeBand, Part

        q = self.probability
        k = kids[0]
        s = Part(1 - q + q * k.s.lo, 1 - q + q * k.s.hi, q * k.s.sv, 1 - q + q * k.s.tlo, 1 - q + q * k.s.thi).tidy()
        return NodeBand(s, Part(q * k.f.lo, q * k.f.hi, q * k.f.sv, q * k.f.tlo, q * k.f.thi).tidy())

    def expected_calls(self, calls, ctx) -> np.ndarray:
        return self.probability * calls(self.step)

    # ---- simulation
    def simulate(self, sim: Any, path: str, start: float, attempt: int) -> tuple:
        if sim.rng.random() < self.probability:
            return sim.run(self.step, f"{path}.step", start, attempt)
        return True, 0.0, None, -1.0

    def emit(self, g: Any, path: str) -> Any:
        from ..engine.codegen import Res

        det = g.details
        out = Res(g.name("ok"), g.name("t"), *((g.name("d"), g.name("dt")) if det else ("-1", "-1.0")))
        with g.block(f"if {g.uniform()} < {g.param(self.probability)}:"):
            g.assign(out, g.emit(self.step, f"{path}.step"))
        with g.block("else:"):
            g.assign(out, Res("True", "0.0", "-1", "-1.0"))
        return out

    def replay(self, rp: Any, path: str, start: float) -> tuple:
        st = rp.stats[path]
        st["reached"] += 1
        if rp.next_under(f"{path}.step"):
            st["taken"] += 1
            return rp.run(self.step, f"{path}.step", start)
        return True, 0.0, []

    def can_be_empty(self, kids: list[bool]) -> bool:
        return True


def optional_law(law: Any, q: float) -> Any:
    """The step's law with probability q, an ok atom at 0 otherwise."""
    from ..analytic.grid import Law, mix_laws

    S, G = law.s.shape
    skip = np.zeros((S, G))
    skip[:, 0] = 1.0
    z = np.zeros(S)
    return mix_laws([Law(skip, np.zeros((S, G)), z, z.copy()), law], [1.0 - q, q])
