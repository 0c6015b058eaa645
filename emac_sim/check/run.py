"""Run the check end to end for one journey: bounds, Monte Carlo at the check's confidence, verdict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..core.seeds import DEFAULT_SEED
from ..model.journey import Journey
from ..model.scenario import SCENARIO_NAMES
from .consistency import CHECK_CONFIDENCE, CheckVerdict, check_consistency

if TYPE_CHECKING:
    from ..analytic.bounds import Bounds
    from ..engine.result import Estimate

DEFAULT_SAMPLES = 200_000


@dataclass(frozen=True)
class CheckRun:
    """Everything one check produced: analytic bounds, the Monte Carlo estimate and the verdict.

    ``simulation`` is the run's :class:`~emac_sim.engine.result.Estimate`; ``bounds`` is
    ``emac_sim.analytic.bounds(journey)``.
    """

    journey: Journey
    bounds: Bounds
    simulation: Estimate
    verdict: CheckVerdict


def run_check(
    journey: Journey,
    *,
    samples: int = DEFAULT_SAMPLES,
    seed: int | None = DEFAULT_SEED,
    correlation: str = "declared",
    bounds: Bounds | None = None,
    workers: int | None = None,
    method: str = "plain",
) -> CheckRun:
    """Compute bounds (unless given), simulate ``correlation`` and hold one against the other.

    Parameters
    ----------
    journey
        The journey to check.
    samples
        Monte Carlo samples (journeys).
    seed
        Root seed; ``None`` lets the engine draw one (recorded in ``simulation.seed``).
        The default is fixed (0) so that a check, and everything derived from it, is
        reproducible byte for byte.
    correlation
        Scenario to simulate: ``declared``, ``independent``, ``shared`` or ``pessimistic``.
    bounds
        Precomputed ``emac_sim.analytic.bounds(journey)``.
    workers
        Engine threads (results do not depend on it).
    method
        ``plain``, ``importance`` or ``auto`` (:func:`emac_sim.engine.simulate`).

    Raises
    ------
    ValueError
        For an unknown scenario name.
    """
    from ..analytic import bounds as analytic_bounds
    from ..engine import simulate

    if correlation not in SCENARIO_NAMES:
        raise ValueError(f"unknown correlation scenario {correlation!r} (one of {', '.join(SCENARIO_NAMES)})")
    b = bounds if bounds is not None else analytic_bounds(journey)
    sim = simulate(
        journey,
        samples=samples,
        seed=seed,
        correlation=correlation,
        workers=workers,
        pessimistic_shared=b.availability.pessimistic_set,
        confidence=CHECK_CONFIDENCE,
        method=method,
    ).estimate
    return CheckRun(journey=journey, bounds=b, simulation=sim, verdict=check_consistency(b, sim, scenario=correlation))
