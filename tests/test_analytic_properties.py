"""Invariants of the analytic bounds over random journeys (hypothesis, tests/strategies.py).

- every availability is in [0, 1];
- dependenceFree ⊇ sharedFateRange ∋ independent (shock domains stay as written in every
  shared-fate scenario, so with shocks the range need not hold the independent value), and
  pessimistic = min(sharedFateRange) is attained by the reported set;
- declared (when computable) and shared lie inside dependenceFree;
- every bound is monotone in each component's availability — without timeouts (with them a
  more available slow primary can lose the deadline, see test_analytic.py) and without beta
  shocks (whose q depends on the members' availabilities);
- latency: independent and comonotone quantiles lie in the dependence-free band (up to the
  reported discretisation error) and every column is nondecreasing in the level.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from strategies import journeys

from emac_sim.analytic import Bounds, bounds, scenario_availability
from emac_sim.analytic.states import STEEP_SD
from emac_sim.model.distributions import Empirical, LogNormal, Mixture
from emac_sim.model.journey import Component, Journey
from emac_sim.model.scenario import Scenario, factor_model
from emac_sim.operators import Retry, Timeout

EPS = 1e-12
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _has_deadlines(j: Journey) -> bool:
    return any(isinstance(n, Timeout) or (isinstance(n, Retry) and n.per_try_timeout is not None) for n in j.root.walk())


def _no_shocks(j: Journey) -> bool:
    return not any(d.model == "shock" for d in j.domains)


def _marginals_kept(j: Journey) -> bool:
    """Shock domains can keep every member's availability: ∏ (1 − q_d) ≥ a_i over i's shocks.
    (The loader checks each shock domain alone; several on one component can exceed 1 − a_i,
    and then no calibration keeps the marginal: such journeys are outside the model.)"""
    a = j.availabilities
    keep = {c: 1.0 for c in a}
    for d in j.domains:
        if d.model == "shock":
            for m in d.members:
                keep[m] *= 1.0 - d.shock_probability(a)
    return all(keep[c] >= a[c] - 1e-12 for c in a)


def _check_ordering(j: Journey, b: Bounds) -> None:
    a = b.availability
    df = a.dependence_free
    for v in (a.independent, a.pessimistic, a.shared, a.declared, *df, *(a.shared_fate_range or [])):
        if v is not None:
            assert -EPS <= v <= 1 + EPS
    lo, hi = a.shared_fate_range
    assert df[0] - EPS <= lo <= hi <= df[1] + EPS
    assert a.pessimistic == lo
    assert lo - EPS <= a.shared <= hi + EPS
    assert df[0] - EPS <= a.independent <= df[1] + EPS
    if a.declared is not None:
        assert df[0] - EPS <= a.declared <= df[1] + EPS
    attained = scenario_availability(j, Scenario.shared_fate(frozenset(a.pessimistic_shared)))
    assert attained == pytest.approx(lo, abs=1e-12)
    if _no_shocks(j):
        assert lo - EPS <= a.independent <= hi + EPS


@SETTINGS
@given(journeys(latency="never", objectives=False))
def test_bounds_are_ordered_without_latency(j: Journey) -> None:
    assume(_marginals_kept(j))
    _check_ordering(j, bounds(j))


MONOTONE_OPERATORS = ("series", "parallel", "race", "fallback", "retry", "choice", "optional", "repeat")


@SETTINGS
@given(journeys(latency="never", objectives=False, operators=MONOTONE_OPERATORS), st.data())
def test_every_bound_is_monotone_in_each_availability(j: Journey, data: st.DataObject) -> None:
    assume(_marginals_kept(j) and not any(d.model == "shock" and d.beta is not None for d in j.domains))
    cid = data.draw(st.sampled_from(j.component_ids))
    c = j.component(cid)
    step = data.draw(st.floats(0.0, 1.0))
    raised = c.availability + (1.0 - c.availability) * step
    comps = tuple(Component(id=x.id, availability=raised if x.id == cid else x.availability, domains=x.domains) for x in j.components)
    higher = Journey(name=j.name, root=j.root, components=comps, domains=j.domains, correlation=j.correlation)
    # a shock probability must stay below every member's unavailability
    assume(_marginals_kept(higher))
    a0, a1 = bounds(j).availability, bounds(higher).availability
    for key in ("independent", "pessimistic", "shared", "declared"):
        if a0.value(key) is not None and a1.value(key) is not None:
            assert a1.value(key) >= a0.value(key) - 1e-12, key
    for i in (0, 1):
        assert a1.dependence_free[i] >= a0.dependence_free[i] - 1e-12
        assert a1.shared_fate_range[i] >= a0.shared_fate_range[i] - 1e-12


def _near_deterministic_latency(j: Journey) -> bool:
    """Latency correlation leaves a component almost no own noise (Σ latencyRho near 1): its
    latency is then a function of the factors, resolved only to the quadrature nodes (documented
    in emac_sim/analytic/states.py), which timeouts turn into availability."""
    lm = factor_model(j, Scenario.declared(), latency=True)
    return bool(np.any((lm.own_sd < STEEP_SD) & np.any(lm.loadings != 0, axis=1)))


CONTINUOUS = ("lognormal", "gamma", "weibull", "exponential", "pareto", "empirical", "histogram", "mixture")


def _atoms(j: Journey) -> bool:
    """Some call duration has an atom (σ = 0 lognormal, an empirical list repeating a value):
    sums of atoms landing exactly on a deadline are resolved only to the grid (documented)."""

    def atomic(d: object) -> bool:
        if isinstance(d, LogNormal):
            return d.sigma == 0
        if isinstance(d, Empirical):
            xs = [x for _, x in d.quantiles]
            return len(set(xs)) < len(xs)
        if isinstance(d, Mixture):
            return any(atomic(x) for _, x in d.components)
        return False

    return any(atomic(c.latency) or atomic(c.error_latency) for c in j.components)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journeys(latency="always", objectives=False, max_components=4, max_depth=2, distribution_kinds=CONTINUOUS))
def test_latency_columns_sit_in_the_dependence_free_band(j: Journey) -> None:
    assume(_marginals_kept(j) and not _atoms(j) and not _near_deterministic_latency(j))
    b = bounds(j)
    lat = b.latency
    assert lat is not None
    tol_i, tol_c = lat.discretisation_error, lat.comonotone_discretisation_error
    previous = {k: 0.0 for k in ("independent", "comonotone", "lower", "upper")}
    for key in ("p50", "p90", "p99", "p999"):
        row = lat.quantiles[key]
        if b.availability.independent <= 1e-9:
            continue
        assert row.lower <= row.upper
        if math.isfinite(row.independent):
            assert row.lower - tol_i <= row.independent <= row.upper + tol_i, (key, row, tol_i)
        if math.isfinite(row.comonotone):
            assert row.lower - tol_c <= row.comonotone <= row.upper + tol_c, (key, row, tol_c)
        for col, v in row.to_dict().items():
            if not math.isnan(v):
                assert v >= previous[col] - 1e-12, (key, col)
                previous[col] = v
    a = b.availability
    # with deadlines in the tree, the dependence-free band reads P(ok, t <= D) on its latency
    # grid while the exact routes evaluate the CDF at D: allow the band's relative resolution
    eps = EPS + (1e-6 * a.dependence_free[1] if _has_deadlines(j) else 0.0)
    assert a.dependence_free[0] - eps <= a.independent <= a.dependence_free[1] + eps
    assert a.dependence_free[0] - eps <= a.shared_fate_range[0] <= a.shared_fate_range[1] <= a.dependence_free[1] + eps
