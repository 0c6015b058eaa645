"""Journey latency quantiles under a scenario: the state mixture of exact grid laws.

The latency of *successful* journeys (seconds): ``P(t ≤ x | ok)`` from the success part of the
journey's joint (ok, t) law (:mod:`.grid`). Under a correlation scenario the law is the mixture
over domain states (fate-group intervals, shock outages, quadrature over failure and latency
factors, :mod:`.states`) of the independent composition given the state.
"""

from __future__ import annotations

from ..core.quantiles import LATENCY_QUANTILES
from ..model.journey import Journey
from ..model.scenario import Scenario
from .comonotone import comonotone_law, comonotone_points
from .grid import Grid, Law, fitted_law, make_grid, mixture_law, refined_quantiles
from .states import state_space

QUANTILES: tuple[float, ...] = tuple(q for _, q in LATENCY_QUANTILES)
QUANTILE_KEYS: dict[float, str] = {q: k for k, q in LATENCY_QUANTILES}


def scenario_quantiles(
    j: Journey, scenario: Scenario | str, qs: tuple[float, ...] = QUANTILES, grid_points: int | None = None
) -> tuple[dict[float, float], float] | None:
    """Quantiles of t given ok (seconds) under a scenario (or ``"comonotone"``) with the largest
    grid step any of them was read with (see :func:`~emac_sim.analytic.grid.refined_quantiles`)."""
    if isinstance(scenario, str):
        grid = make_grid(j, comonotone_points(grid_points))
        base = None

        def law_on(g: Grid) -> Law:
            return comonotone_law(j, g)

    else:
        space = state_space(j, scenario, latency_matters=True, grid=True)
        if space is None:
            return None
        base, grid = fitted_law(j, space, grid_points)

        def law_on(g: Grid) -> Law:
            return mixture_law(j, g, space)

    out, used, _ = refined_quantiles(law_on, grid, tuple(qs), base_law=base)
    return out, max(used.values())


def latency_quantiles(
    journey: Journey,
    scenario_name: str | Scenario = "independent",
    qs: tuple[float, ...] = QUANTILES,
    *,
    grid_points: int | None = None,
) -> dict[float, float] | None:
    """Quantiles (seconds) of the latency of successful journeys under a scenario.

    Parameters
    ----------
    journey
        The journey.
    scenario_name
        ``independent``, ``declared``, ``shared``, ``pessimistic`` (the analytic minimiser),
        ``comonotone`` (durations comonotone at every operator, failures independent), or a
        :class:`~emac_sim.model.scenario.Scenario`.
    qs
        Probability levels in (0, 1).
    grid_points
        Points of the common grid (default :data:`~emac_sim.analytic.grid.DEFAULT_GRID_POINTS`).

    Returns
    -------
    dict or None
        ``{q: seconds}``; ``inf`` when a quantile lies beyond the grid range. ``None`` when
        latency is not modelled, or the scenario needs more than 3 gaussian factors.

    Notes
    -----
    Accuracy: see :func:`~emac_sim.analytic.grid.sum_depth` — the error is at most
    ``(L + 1)·Δ/2`` seconds for the Lipschitz operators and in practice second order in Δ;
    each quantile is read from a grid with at least 25 cells below it where possible.
    """
    if not journey.latency_modelled:
        return None
    if isinstance(scenario_name, Scenario):
        sc: Scenario | str = scenario_name
    elif scenario_name == "comonotone":
        sc = "comonotone"
    else:
        from .scenarios import resolve_scenario

        sc = resolve_scenario(journey, scenario_name)[0]
    got = scenario_quantiles(journey, sc, tuple(qs), grid_points)
    return None if got is None else got[0]
