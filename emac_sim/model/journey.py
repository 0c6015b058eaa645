"""The journey IR: components, failure domains, objectives, the journey (DESIGN §3–4).

Everything here is a frozen dataclass built once by :mod:`emac_sim.spec` and never mutated. The
operator tree's base and leaf are in :mod:`.node`; the operators, one module each, in
:mod:`emac_sim.operators`. ``str(journey.root)`` prints the paper's expression, e.g.
``Series(front, Parallel(cart, pricing), Race(paya, payb))``; ``docs/semantics.md`` spells out
the corner cases every route (analytic, kernel, reference simulator) implements identically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from .distributions import Distribution
from .node import Node, Ref  # noqa: F401  re-exported: the tree's base and leaf

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
