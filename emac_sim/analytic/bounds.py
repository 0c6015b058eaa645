"""``bounds()``: every analytic number for a journey in one JSON-ready mapping (DESIGN §5, §9)."""

from __future__ import annotations

import math

from ..errors import numeric_layer
from ..model.journey import Journey
from ..model.scenario import Scenario
from .availability import availability_from_states, declared_availability, shared_fate_range
from .dependence_free import BandEvaluator, BandGrid, availability_bounds, conditional_quantile_bounds, has_counted_leaves
from .grid import DEFAULT_GRID_POINTS, latency_matters, sum_depth, support
from .latency import QUANTILE_KEYS, QUANTILES, scenario_quantiles
from .states import state_space

BAND_POINTS = 512
"""Points of the (geometric) dependence-free band grid, halved for large trees (each sum costs O(G²))."""


def _band_points(j: Journey) -> int:
    nodes = sum(1 for _ in j.root.walk())
    return BAND_POINTS if nodes <= 64 else BAND_POINTS // 2


def _fastest(j: Journey) -> float:
    """Half the smallest 0.1 % quantile of any referenced call duration (the band grid's first point)."""
    lows = []
    for cid in set(j.root.refs()):
        c = j.component(cid)
        for d in (c.latency, c.error_distribution()):
            if d is not None:
                v = float(d.ppf(1e-3))
                if v > 0:
                    lows.append(v)
    return 0.5 * min(lows) if lows else 0.0


@numeric_layer("bounds")
def bounds(journey: Journey, *, grid_points: int | None = None, confidence: float = 0.95) -> dict:
    """Availability and latency bounds of a journey, exactly (no sampling).

    Parameters
    ----------
    journey
        The journey (``emac_sim.load_spec``).
    grid_points
        Points of the latency grids (default 4096): the independent law's grid is fitted to
        where its mass lies (:func:`~emac_sim.analytic.grid.fitted_grid`), the comonotone one
        spans the sum of the calls' ``1 − 1e-6`` quantiles.
    confidence
        Confidence of the DKW band put around histogram leaves (per leaf).

    Returns
    -------
    dict
        ``journey``, ``expression``, ``availability`` (``independent``, ``declared``,
        ``pessimistic``, ``sharedFateRange`` [lo, hi], ``dependenceFree`` [lo, hi], ``shared``,
        ``pessimisticShared`` (sorted domain names), ``scenarioCount``, ``declaredMethod``,
        ``pessimisticMethod``, ``notes``), ``latency`` (``None`` when not modelled, else
        ``p50``/``p90``/``p99``/``p999`` each with ``independent``, ``comonotone``, ``lower``,
        ``upper`` in seconds, plus ``discretisationError`` (seconds, independent column),
        ``comonotoneDiscretisationError``, ``dkwConfidence``, ``gridStep``, ``gridPoints``,
        ``bandPoints``) and ``latencyModelled``.

    Notes
    -----
    ``independent`` is the paper's A⁺, ``pessimistic`` its A⁻ (the minimum over shared-fate
    scenarios), ``dependenceFree`` holds for any dependence between calls. Latency quantiles are
    of successful journeys; ``lower``/``upper`` bound them under any dependence.
    """
    j = journey
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    notes: list[str] = []
    lat_modelled = j.latency_modelled
    lat_matters = latency_matters(j)
    ind_space = state_space(j, Scenario.independent(), grid=True)
    assert ind_space is not None
    independent = availability_from_states(j, ind_space)
    sfr = shared_fate_range(j)
    declared, declared_method = declared_availability(j)

    band = None
    bgrid = None
    if lat_modelled:
        top = support(j.root, j)
        bgrid = BandGrid.geometric(top, _fastest(j), _band_points(j))
        band = BandEvaluator(j, bgrid, confidence).evaluate()
    if lat_matters and band is not None:
        df = [float(band.s.tlo), float(band.s.thi)]
    else:
        lo, hi = availability_bounds(j.root, j.availabilities)
        df = [float(lo), float(hi)]

    avail: dict = {
        "independent": independent,
        "declared": declared,
        "pessimistic": sfr.low if sfr else None,
        "sharedFateRange": [sfr.low, sfr.high] if sfr else None,
        "dependenceFree": df,
        "shared": (sfr.shared_all if sfr and math.isfinite(sfr.shared_all) else None),
        "pessimisticShared": sorted(sfr.low_set) if sfr else None,
        "scenarioCount": sfr.count if sfr else 0,
        "declaredMethod": declared_method,
        "pessimisticMethod": sfr.method if sfr else "not computable: too many gaussian factors or domain states",
    }
    if sfr is not None and not sfr.exhaustive:
        notes.append("sharedFateRange / pessimistic come from a non-exhaustive search: " + sfr.method)
    if any(d.model == "shock" for d in j.domains):
        notes.append("shock domains stay as written in every shared-fate scenario")
    if any(d.model == "none" and len(d.members) > 1 for d in j.domains):
        notes.append("magnitude-free domains are a shared-fate hypothesis: independent in declared, covered by sharedFateRange")

    latency = None
    if lat_modelled:
        assert band is not None and bgrid is not None
        ind = scenario_quantiles(j, Scenario.independent(), QUANTILES, grid_points)
        co = scenario_quantiles(j, "comonotone", QUANTILES, grid_points)
        assert ind is not None and co is not None
        (ind_q, ind_step), (co_q, co_step) = ind, co
        bq = conditional_quantile_bounds(band.s, bgrid, QUANTILES)
        latency = {QUANTILE_KEYS[q]: {"independent": ind_q[q], "comonotone": co_q[q], "lower": bq[q][0], "upper": bq[q][1]} for q in QUANTILES}
        depth = sum_depth(j.root) + 1
        latency["discretisationError"] = depth * ind_step / 2.0
        latency["comonotoneDiscretisationError"] = depth * co_step / 2.0
        counted = has_counted_leaves(j)
        latency["dkwConfidence"] = confidence if counted else None
        latency["gridStep"] = ind_step
        latency["gridPoints"] = int(grid_points or DEFAULT_GRID_POINTS)
        latency["bandPoints"] = bgrid.n
        if counted:
            notes.append(f"histogram leaves carry a DKW band at confidence {confidence:g} (per leaf) in lower/upper")
        if any(c.latency is not None and c.latency.kind == "empirical" for c in j.components):
            notes.append("empirical quantile lists carry no sample size: used as given (no DKW band)")
        notes.append("comonotone: durations comonotone at every operator, failures independent")
    avail["notes"] = notes
    return {
        "journey": j.name,
        "expression": j.expression,
        "availability": avail,
        "latency": latency,
        "latencyModelled": lat_modelled,
    }
