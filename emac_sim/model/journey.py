"""The journey IR: operator nodes, components, failure domains, objectives (DESIGN §3–4).

Everything here is a frozen dataclass built once by :mod:`emac_sim.spec` and never mutated.
``str(node)`` prints the paper's expression, e.g. ``Series(front, Parallel(cart, pricing),
Race(paya, payb))``. Semantics (a request's outcome at a node is ``(ok, t)``, seconds) are
documented per class; ``docs/semantics.md`` spells out the corner cases every route (analytic,
kernel, reference simulator) implements identically.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from .distributions import Distribution


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1e3:g}ms" if seconds < 1 else f"{seconds:g}s"


# --------------------------------------------------------------------------- operators


class Node:
    """Base of the operator tree."""

    op: str = ""

    @property
    def children(self) -> tuple[Node, ...]:
        return ()

    def walk(self) -> Iterator[Node]:
        """Pre-order traversal."""
        yield self
        for c in self.children:
            yield from c.walk()

    def refs(self) -> Iterator[str]:
        """Component ids referenced, in tree order (with repeats)."""
        for n in self.walk():
            if isinstance(n, Ref):
                yield n.component


@dataclass(frozen=True)
class Ref(Node):
    """Leaf: one call to ``component``; (ok, t) is the component's draw."""

    component: str
    op = "ref"

    def __str__(self) -> str:
        return self.component


@dataclass(frozen=True)
class Series(Node):
    """Steps in order; stops at the first failure; t = sum of the steps executed."""

    steps: tuple[Node, ...]
    op = "series"

    @property
    def children(self) -> tuple[Node, ...]:
        return self.steps

    def __str__(self) -> str:
        return f"Series({', '.join(map(str, self.steps))})"


@dataclass(frozen=True)
class Parallel(Node):
    """Fork-join. ``join='all'``: all ok, t = max. ``any``: some ok, t = first success (max if
    none). ``quorum``: at least ``k`` ok, t = k-th success (max if fewer)."""

    branches: tuple[Node, ...]
    join: Literal["all", "any", "quorum"] = "all"
    k: int | None = None
    op = "parallel"

    @property
    def children(self) -> tuple[Node, ...]:
        return self.branches

    @property
    def needed(self) -> int:
        """Successes needed: n for all, 1 for any, k for quorum."""
        if self.join == "all":
            return len(self.branches)
        if self.join == "any":
            return 1
        assert self.k is not None
        return self.k

    def __str__(self) -> str:
        inner = ", ".join(map(str, self.branches))
        if self.join == "all":
            return f"Parallel({inner})"
        if self.join == "any":
            return f"ParallelAny({inner})"
        return f"Quorum{self.k}({inner})"


@dataclass(frozen=True)
class Race(Node):
    """Hedged race: branch j is issued at ``j·hedge_delay`` if no success has arrived by then;
    ok when any issued branch is ok; t = first success (else the last issued branch's end)."""

    branches: tuple[Node, ...]
    hedge_delay: float = 0.0
    op = "race"

    @property
    def children(self) -> tuple[Node, ...]:
        return self.branches

    def __str__(self) -> str:
        inner = ", ".join(map(str, self.branches))
        return f"Race({inner})" if self.hedge_delay == 0 else f"Race({inner}; hedge={_fmt_s(self.hedge_delay)})"


@dataclass(frozen=True)
class Fallback(Node):
    """Branches tried in order until one is ok; t = sum of tried branches."""

    branches: tuple[Node, ...]
    op = "fallback"

    @property
    def children(self) -> tuple[Node, ...]:
        return self.branches

    def __str__(self) -> str:
        return f"Fallback({', '.join(map(str, self.branches))})"


@dataclass(frozen=True)
class Backoff:
    """Wait before retry attempt i (i = 1 … attempts−1): min(initial·multiplier^(i−1), max)."""

    initial: float = 0.0
    multiplier: float = 1.0
    max: float | None = None

    def delay(self, i: int) -> float:
        if self.initial == 0.0:
            return 0.0
        try:
            d = self.initial * self.multiplier ** (i - 1)
        except OverflowError:  # huge multipliers: the wait is unbounded until max caps it
            d = float("inf")
        return d if self.max is None else min(d, self.max)


@dataclass(frozen=True)
class Retry(Node):
    """Up to ``attempts`` tries of ``step`` (attempts counts the first try). A try is ok when the
    step is ok and, with ``per_try_timeout``, finishes by it (a timed-out try costs the timeout).
    t = sum of tries and backoff waits. Tries redraw the components' own randomness but keep the
    request's failure-domain state."""

    step: Node
    attempts: int
    per_try_timeout: float | None = None
    backoff: Backoff = field(default_factory=Backoff)
    op = "retry"

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.step,)

    def __str__(self) -> str:
        extra = f", perTry={_fmt_s(self.per_try_timeout)}" if self.per_try_timeout is not None else ""
        return f"Retry({self.step}, {self.attempts}{extra})"


@dataclass(frozen=True)
class Timeout(Node):
    """ok when the step is ok and t ≤ deadline; t = min(t, deadline)."""

    step: Node
    deadline: float
    op = "timeout"

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.step,)

    def __str__(self) -> str:
        return f"Timeout({self.step}, {_fmt_s(self.deadline)})"


@dataclass(frozen=True)
class Choice(Node):
    """Exactly one branch runs, chosen with probability weight/Σweights (A/B, canary splits)."""

    branches: tuple[Node, ...]
    weights: tuple[float, ...]
    op = "choice"

    @property
    def children(self) -> tuple[Node, ...]:
        return self.branches

    @property
    def probabilities(self) -> tuple[float, ...]:
        total = sum(self.weights)
        return tuple(w / total for w in self.weights)

    def __str__(self) -> str:
        inner = ", ".join(f"{p:g}:{b}" for p, b in zip(self.probabilities, self.branches))
        return f"Choice({inner})"


@dataclass(frozen=True)
class Optional(Node):
    """Runs ``step`` with ``probability``; skipped counts as ok with t = 0."""

    step: Node
    probability: float
    op = "optional"

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.step,)

    def __str__(self) -> str:
        return f"Optional({self.step}, {self.probability:g})"


@dataclass(frozen=True)
class Repeat(Node):
    """``count`` sequential calls of ``step`` (N+1 query patterns): series semantics."""

    step: Node
    count: int
    op = "repeat"

    @property
    def children(self) -> tuple[Node, ...]:
        return (self.step,)

    def __str__(self) -> str:
        return f"Repeat({self.step}, {self.count})"


OPERATOR_TYPES: tuple[str, ...] = (
    "series",
    "parallel",
    "race",
    "fallback",
    "retry",
    "timeout",
    "choice",
    "optional",
    "repeat",
)


def children_with_names(node: Node, *, spec: bool = False) -> list[tuple[str, Node]]:
    """(field name, child) pairs of an operator node, e.g. ``("steps[2]", node)``.

    With ``spec`` the names are the children's places in the spec document, where a choice
    branch's node sits under ``branches[i].step`` (beside its ``weight``).
    """
    if isinstance(node, Series):
        return [(f"steps[{i}]", c) for i, c in enumerate(node.steps)]
    if isinstance(node, Choice):
        return [(f"branches[{i}].step" if spec else f"branches[{i}]", c) for i, c in enumerate(node.branches)]
    if isinstance(node, (Parallel, Race, Fallback)):
        return [(f"branches[{i}]", c) for i, c in enumerate(node.branches)]
    if isinstance(node, (Retry, Timeout, Optional, Repeat)):
        return [("step", node.step)]
    return []


def node_paths(root: Node, base: str = "root", *, spec: bool = False) -> list[tuple[str, Node]]:
    """Pre-order (path, node) pairs; the root is ``base``, children ``base.steps[1]`` etc.

    The engine names race nodes by these paths (``hedgeRates``); ``spec=True`` with
    ``base="spec.operator"`` gives the paths of the spec document.
    """
    out: list[tuple[str, Node]] = []

    def visit(path: str, node: Node) -> None:
        out.append((path, node))
        for name, child in children_with_names(node, spec=spec):
            visit(f"{path}.{name}", child)

    visit(base, root)
    return out

# --------------------------------------------------------------------------- components, domains


ErrorLatency = Literal["same", "fast"] | Distribution


@dataclass(frozen=True)
class Capacity:
    """Queueing capacity of a component: ``replicas`` servers with ``service_time`` each."""

    replicas: int
    service_time: Distribution


@dataclass(frozen=True)
class Component:
    """A leaf service.

    ``availability`` is the probability a call succeeds. ``latency`` is the distribution of
    successful calls (``None``: not modelled). ``error_latency``: ``"same"`` (failed calls take a
    draw of ``latency``), ``"fast"`` (failed calls return at t = 0) or a distribution.
    ``availability_source`` says where the number came from (``inline``,
    ``openslo:<name> (<file>)``, ``sloth:<service>/<slo> (<file>)``) and is not part of equality.
    """

    id: str
    availability: float
    latency: Distribution | None = None
    error_latency: ErrorLatency = "same"
    domains: tuple[str, ...] = ()
    kind: str = "service"
    capacity: Capacity | None = None
    availability_source: str = field(default="inline", compare=False)
    extra: tuple[tuple[str, object], ...] = field(default=(), compare=False)

    def error_distribution(self) -> Distribution | None:
        """Distribution of failed calls' durations, ``None`` for fast failures or no latency."""
        if self.error_latency == "fast":
            return None
        if self.error_latency == "same":
            return self.latency
        return self.error_latency


CorrelationModel = Literal["none", "gaussian", "shock"]


@dataclass(frozen=True)
class Domain:
    """A failure domain: members fail (or slow down) together.

    ``model``: ``none`` (magnitude-free hypothesis, the paper's form), ``gaussian`` (factor
    copula with loading ``rho`` on failures and ``latency_rho`` on latency) or ``shock`` (a
    common-cause outage with ``probability`` q per request; ``beta`` sets q = β·min(1 − a_i)).
    """

    name: str
    members: tuple[str, ...]
    model: CorrelationModel = "none"
    rho: float = 0.0
    latency_rho: float = 0.0
    probability: float | None = None
    beta: float | None = None
    kind: str = "declared"
    confidence: float | None = None
    description: str = field(default="", compare=False)
    extra: tuple[tuple[str, object], ...] = field(default=(), compare=False)

    def shock_probability(self, availabilities: dict[str, float]) -> float:
        """q for shock domains: explicit, or β · min over members of (1 − a_i)."""
        if self.probability is not None:
            return self.probability
        if self.beta is not None and self.members:
            return self.beta * min(1.0 - availabilities[m] for m in self.members)
        return 0.0


@dataclass(frozen=True)
class CorrelationMatrix:
    """Explicit gaussian-copula correlation over ``components`` (failure; optional latency)."""

    components: tuple[str, ...]
    matrix: tuple[tuple[float, ...], ...]
    latency_matrix: tuple[tuple[float, ...], ...] | None = None


# --------------------------------------------------------------------------- objectives, policy


@dataclass(frozen=True)
class AvailabilityObjective:
    target: float
    window: float = 30 * 86400.0
    good_query: str | None = None
    total_query: str | None = None


@dataclass(frozen=True)
class LatencyObjective:
    threshold: float
    metric: str = "p99"
    window: float = 30 * 86400.0
    promql: str | None = None

    @property
    def quantile(self) -> float:
        """0.99 for ``p99``, 0.999 for ``p999``, 0.5 for ``p50``."""
        digits = self.metric.lstrip("p")
        return float("0." + digits) if digits != "100" else 1.0


@dataclass(frozen=True)
class BurnRateWindow:
    severity: str
    burn_rate: float
    long_window: float
    short_window: float


DEFAULT_BURN_RATES: tuple[BurnRateWindow, ...] = (
    BurnRateWindow("page", 14.4, 3600.0, 300.0),
    BurnRateWindow("page", 6.0, 6 * 3600.0, 1800.0),
    BurnRateWindow("ticket", 3.0, 86400.0, 2 * 3600.0),
    BurnRateWindow("ticket", 1.0, 3 * 86400.0, 6 * 3600.0),
)


@dataclass(frozen=True)
class Action:
    kind: str
    guard: str | None = None
    parameter_bounds: tuple[tuple[str, float], ...] = ()
    rollback: tuple[tuple[str, object], ...] = ()
    rate_limit: tuple[tuple[str, object], ...] = ()

    def bound(self, name: str, default: float | None = None) -> float | None:
        return dict(self.parameter_bounds).get(name, default)


@dataclass(frozen=True)
class Governance:
    evaluation_mode: str = "conservative"
    availability_bound: str = "pessimistic"
    latency_bound: str = "upperConfidence"
    burn_rates: tuple[BurnRateWindow, ...] = DEFAULT_BURN_RATES
    burn_rates_declared: bool = False
    budget_window: float = 30 * 86400.0
    sloth_compatible: bool = False
    delivery_provider: str = "argo-rollouts"
    max_canary_burn_rate: float = 1.0
    max_p99_latency: float | None = None
    actions: tuple[Action, ...] = ()
    confidence_threshold: float = 0.8
    delta_threshold: float = 0.001


@dataclass(frozen=True)
class Evidence:
    discovery_enabled: bool = False
    evidence_window: float | None = None
    coverage_policy: tuple[tuple[str, object], ...] = ()
    discovered_model_ref: str | None = None


@dataclass(frozen=True)
class Journey:
    """A validated journey: the root of everything downstream."""

    name: str
    root: Node
    components: tuple[Component, ...]
    domains: tuple[Domain, ...] = ()
    correlation: CorrelationMatrix | None = None
    availability_objective: AvailabilityObjective | None = None
    latency_objective: LatencyObjective | None = None
    governance: Governance = field(default_factory=Governance)
    evidence: Evidence = field(default_factory=Evidence)
    load_rate: float | None = None
    labels: tuple[tuple[str, str], ...] = ()
    kind: str = "JourneyIntent"
    confidence: float | None = None
    evidence_flags: tuple[str, ...] = ()
    source: str = field(default="<spec>", compare=False)
    inputs: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @property
    def expression(self) -> str:
        """The paper's operator expression, e.g. ``Series(front, Parallel(cart, pricing), ...)``."""
        return str(self.root)

    def component(self, cid: str) -> Component:
        return self._by_id[cid]

    @cached_property
    def _by_id(self) -> dict[str, Component]:
        # a dict, not a scan: wide journeys (10⁴ branches) look components up once per leaf
        return {c.id: c for c in self.components}

    @property
    def component_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.components)

    @property
    def availabilities(self) -> dict[str, float]:
        return {c.id: c.availability for c in self.components}

    @property
    def latency_modelled(self) -> bool:
        """True when every referenced component has a latency distribution."""
        used = set(self.root.refs())
        return all(self.component(c).latency is not None for c in used)

    def domain(self, name: str) -> Domain:
        for d in self.domains:
            if d.name == name:
                return d
        raise KeyError(name)
