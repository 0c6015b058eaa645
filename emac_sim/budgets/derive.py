"""All budgets of one journey in one object, as the pipeline and the derivation report use them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import numeric_layer
from ..model.journey import Journey
from .atomic import AtomicTargets, required_atomic_targets
from .latency import LatencyBudgets, latency_budgets
from .slo import BoundedSLO, BurnRateThreshold, ErrorBudget, bounded_slo, burn_rate_thresholds, error_budget

if TYPE_CHECKING:
    from ..analytic.bounds import Bounds


@dataclass(frozen=True)
class Budgets:
    """Bounded SLO [A⁻, A⁺], error budget, atomic targets, latency budgets, burn-rate thresholds.

    Members that need an objective are ``None`` when the spec has none (``latency`` also when
    latency is not modelled).
    """

    slo: BoundedSLO
    error_budget: ErrorBudget | None
    atomic_targets: AtomicTargets | None
    latency: LatencyBudgets | None
    burn_rates: tuple[BurnRateThreshold, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "boundedSLO": self.slo.to_dict(),
            "errorBudget": self.error_budget.to_dict() if self.error_budget is not None else None,
            "atomicTargets": self.atomic_targets.to_dict() if self.atomic_targets is not None else None,
            "latency": self.latency.to_dict() if self.latency is not None else None,
            "burnRates": [b.to_dict() for b in self.burn_rates],
        }


@numeric_layer("budgets")
def derive_budgets(journey: Journey, bounds: Bounds, *, atomic: bool = True, latency: bool = True) -> Budgets:
    """Derive every budget of ``journey`` from its analytic ``bounds``.

    Parameters
    ----------
    journey
        The journey (objectives and governance policy included).
    bounds
        ``emac_sim.analytic.bounds(journey)``; A⁻ = ``availability.pessimistic``,
        A⁺ = ``availability.independent``.
    atomic, latency
        Skip the (analytic-solver) atomic targets or latency budgets when False.

    Notes
    -----
    Error budget minutes use the availability objective's window; burn-rate thresholds use the
    policy's ``sloBudgetWindow`` (both 30 d unless the spec says otherwise).
    """
    lower, upper = float(bounds.availability.pessimistic), float(bounds.availability.independent)  # type: ignore[arg-type]
    obj = journey.availability_objective
    target = obj.target if obj is not None else None
    slo = bounded_slo(lower, upper, target)
    eb = error_budget(obj.target, obj.window, lower, upper) if obj is not None else None
    targets = required_atomic_targets(journey, obj.target, lower=lower) if obj is not None and atomic else None
    lat = latency_budgets(journey, bounds) if latency else None
    g = journey.governance
    burns = burn_rate_thresholds(obj.target, g.burn_rates, g.budget_window) if obj is not None else ()
    return Budgets(slo=slo, error_budget=eb, atomic_targets=targets, latency=lat, burn_rates=burns)
