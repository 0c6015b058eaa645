"""Analytic availability: every operator against hand-computed values, scenarios, the paper.

Oracles are closed forms (series ∏a, parallel 1 − ∏(1 − a), Poisson-binomial quorum, retry
1 − (1 − a)ⁿ, timeouts over exponential latency a·(1 − e^{−D/m})), one-dimensional integrals
(scipy ``quad``) and multivariate normal CDFs for gaussian domains, and the paper's numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, special, stats

from emac_sim.analytic import birnbaum_importance, call_amplification, pessimistic_shared, scenario_availability
from emac_sim.analytic.availability import declared_availability, independent_availability, shared_fate_range
from emac_sim.analytic.dependence_free import availability_bounds
from emac_sim.model.distributions import Constant, Exponential, LogNormal
from emac_sim.model.journey import Component, Domain, Journey, Node, Ref
from emac_sim.model.scenario import Scenario, fate_groups, named_scenario, sharable_domains
from emac_sim.operators import Backoff, Choice, Fallback, Optional, Parallel, Race, Repeat, Retry, Series, Timeout

A = {"a": 0.9, "b": 0.8, "c": 0.7, "d": 0.95}


def journey(
    root: Node, avail: dict[str, float] = A, latency: dict | None = None, domains: tuple[Domain, ...] = (), error: dict | None = None
) -> Journey:
    comps = tuple(
        Component(
            id=c,
            availability=v,
            latency=(latency or {}).get(c),
            error_latency=(error or {}).get(c, "same"),
            domains=tuple(d.name for d in domains if c in d.members),
        )
        for c, v in avail.items()
    )
    return Journey(name="t", root=root, components=comps, domains=domains)


def R(c: str) -> Ref:
    return Ref(c)


def indep(root: Node, **kw) -> float:
    return independent_availability(journey(root, **kw))


# --------------------------------------------------------------------------- every operator, independent


@pytest.mark.parametrize(
    ("root", "expected"),
    [
        (R("a"), 0.9),
        (Series((R("a"), R("b"), R("c"))), 0.9 * 0.8 * 0.7),
        (Parallel((R("a"), R("b"))), 0.9 * 0.8),
        (Parallel((R("a"), R("b"), R("c")), join="any"), 1 - 0.1 * 0.2 * 0.3),
        # 2 of 3: all three ok, or exactly two
        (Parallel((R("a"), R("b"), R("c")), join="quorum", k=2), 0.9 * 0.8 * 0.7 + 0.9 * 0.8 * 0.3 + 0.9 * 0.2 * 0.7 + 0.1 * 0.8 * 0.7),
        (Race((R("a"), R("b"))), 1 - 0.1 * 0.2),
        (Race((R("a"), R("b")), hedge_delay=0.05), 1 - 0.1 * 0.2),
        (Fallback((R("a"), R("b"), R("c"))), 1 - 0.1 * 0.2 * 0.3),
        (Retry(R("c"), attempts=3), 1 - 0.3**3),
        (Timeout(R("a"), deadline=0.1), 0.9),  # latency not modelled: t = 0, never fires
        (Choice((R("a"), R("b")), weights=(3.0, 1.0)), 0.75 * 0.9 + 0.25 * 0.8),
        (Optional(R("b"), probability=0.4), 0.6 + 0.4 * 0.8),
        (Repeat(R("a"), count=3), 0.9**3),
        # a component referenced twice makes two independent calls
        (Series((R("a"), Parallel((R("a"), R("b")), join="any"))), 0.9 * (1 - 0.1 * 0.2)),
        (Retry(Series((R("a"), R("b"))), attempts=2), 1 - (1 - 0.72) ** 2),
    ],
    ids=lambda v: str(v) if isinstance(v, Node) else "",
)
def test_every_operator_independent(root: Node, expected: float) -> None:
    assert indep(root) == pytest.approx(expected, abs=1e-14)


# --------------------------------------------------------------------------- latency-dependent availability


def test_timeout_over_exponential_latency() -> None:
    m, d = 0.05, 0.08
    j = journey(Timeout(R("a"), deadline=d), latency={"a": Exponential(m)})
    assert independent_availability(j) == pytest.approx(0.9 * (1 - math.exp(-d / m)), abs=1e-12)


def test_timeout_over_a_series_of_exponentials_is_erlang() -> None:
    m, d = 0.03, 0.1
    lat = {"a": Exponential(m), "b": Exponential(m)}
    j = journey(Timeout(Series((R("a"), R("b"))), deadline=d), latency=lat)
    expected = 0.9 * 0.8 * stats.gamma(2, scale=m).cdf(d)
    # local grid of 1024 points over [0, D]: second-order in the step
    assert independent_availability(j) == pytest.approx(expected, abs=2e-6)


def test_retry_with_per_try_timeout() -> None:
    m, tau = 0.05, 0.06
    j = journey(Retry(R("c"), attempts=3, per_try_timeout=tau), latency={"c": Exponential(m)})
    p = 0.7 * (1 - math.exp(-tau / m))
    assert independent_availability(j) == pytest.approx(1 - (1 - p) ** 3, abs=1e-12)


def test_a_short_timeout_under_a_long_per_try_timeout_keeps_its_resolution() -> None:
    # the per-try timeout's local grid spans the step's support (1 ms), not its 1 s deadline,
    # else the inner 1 ms deadline sits in one coarse cell (found by hypothesis: 0.528 vs 0.569)
    m, d = 0.001, 0.001
    j = journey(Retry(Timeout(R("a"), deadline=d), attempts=2, per_try_timeout=1.0), latency={"a": Exponential(m)})
    p = 0.9 * (1 - math.exp(-d / m))
    assert independent_availability(j) == pytest.approx(1 - (1 - p) ** 2, abs=1e-6)


def test_per_try_timeout_over_a_fallback_uses_the_joint_law() -> None:
    # fallback(a, b) per try: a fails fast (t = 0), so the b branch gets the whole budget
    m, tau = 0.04, 0.05
    j = journey(
        Retry(Fallback((R("a"), R("b"))), attempts=2, per_try_timeout=tau), latency={"a": Exponential(m), "b": Exponential(m)}, error={"a": "fast"}
    )
    f = 1 - math.exp(-tau / m)
    one = 0.9 * f + 0.1 * 0.8 * f
    assert independent_availability(j) == pytest.approx(1 - (1 - one) ** 2, abs=2e-6)


def test_a_call_taking_exactly_the_deadline_is_in_time() -> None:
    # ok iff t ≤ D: an atom at D counts, inside a subtree (local grid) as for a bare call
    lat = {"a": Constant(0.1), "b": Exponential(0.02)}
    for root in (
        Timeout(R("a"), deadline=0.1),
        Timeout(Series((R("a"),)), deadline=0.1),
        Retry(Parallel((R("a"), R("b"))), attempts=1, per_try_timeout=0.1),
    ):
        expected = 0.9 if isinstance(root, Timeout) else 0.9 * 0.8 * (1 - math.exp(-0.1 / 0.02))
        assert indep(root, latency=lat) == pytest.approx(expected, abs=1e-12), root


def test_timeouts_make_availability_non_monotone() -> None:
    # a slow primary that succeeds more often makes the journey miss its deadline more often
    lat = {"a": Constant(0.5), "b": Constant(0.01)}
    root = Timeout(Fallback((R("a"), R("b"))), deadline=0.1)
    low = independent_availability(journey(root, {"a": 0.5, "b": 1.0, "c": 1.0, "d": 1.0}, latency=lat, error={"a": "fast"}))
    high = independent_availability(journey(root, {"a": 0.9, "b": 1.0, "c": 1.0, "d": 1.0}, latency=lat, error={"a": "fast"}))
    assert low == pytest.approx(0.5, abs=1e-12)
    assert high == pytest.approx(0.1, abs=1e-12)


# --------------------------------------------------------------------------- scenarios


def test_fate_group_is_comonotone_by_threshold_intervals() -> None:
    # a: 0.9, b: 0.8 share fate: one uniform G; a up iff G ≤ 0.9, b up iff G ≤ 0.8
    dom = (Domain("z", ("a", "b")),)
    par_any = journey(Parallel((R("a"), R("b")), join="any"), domains=dom)
    series = journey(Series((R("a"), R("b"))), domains=dom)
    shared = Scenario.shared_fate({"z"})
    assert scenario_availability(par_any, shared) == pytest.approx(0.9, abs=1e-15)  # max
    assert scenario_availability(series, shared) == pytest.approx(0.8, abs=1e-15)  # min
    # retries of a fate-group member fail together
    retry = journey(Retry(R("a"), attempts=3), domains=(Domain("z", ("a", "b")),))
    assert scenario_availability(retry, shared) == pytest.approx(0.9, abs=1e-15)
    assert scenario_availability(retry, Scenario.independent()) == pytest.approx(1 - 0.1**3, abs=1e-15)


def test_overlapping_shared_domains_merge_into_one_group() -> None:
    doms = (Domain("x", ("a", "b")), Domain("y", ("b", "c")))
    j = journey(Parallel((R("a"), R("c")), join="any"), domains=doms)
    assert fate_groups(j, Scenario.shared_fate({"x", "y"})) == (("a", "b", "c"),)
    assert scenario_availability(j, Scenario.shared_fate({"x", "y"})) == pytest.approx(0.9, abs=1e-15)
    # sharing only x: a and c stay independent
    assert scenario_availability(j, Scenario.shared_fate({"x"})) == pytest.approx(1 - 0.1 * 0.3, abs=1e-15)


def test_shock_domain_by_outage_states() -> None:
    q = 0.02
    dom = (Domain("s", ("a", "b"), model="shock", probability=q),)
    sc = Scenario.declared()
    ser = journey(Series((R("a"), R("b"))), domains=dom)
    assert scenario_availability(ser, sc) == pytest.approx(0.9 * 0.8 / (1 - q), abs=1e-14)
    par = journey(Parallel((R("a"), R("b")), join="any"), domains=dom)
    a1, b1 = 0.9 / (1 - q), 0.8 / (1 - q)
    assert scenario_availability(par, sc) == pytest.approx((1 - q) * (1 - (1 - a1) * (1 - b1)), abs=1e-14)
    # the marginal stays a
    assert scenario_availability(journey(R("a"), domains=dom), sc) == pytest.approx(0.9, abs=1e-14)
    # a retry cannot escape the outage
    ret = journey(Retry(R("a"), attempts=2), domains=dom)
    assert scenario_availability(ret, sc) == pytest.approx((1 - q) * (1 - (1 - a1) ** 2), abs=1e-14)


def _gaussian_pair_fail(a: float, b: float, rho: float) -> float:
    """P(both calls fail) under a one-factor gaussian copula, by 1-D quadrature (scipy ``quad``)."""
    ca, cb = stats.norm.ppf(a), stats.norm.ppf(b)
    if rho >= 1.0:  # comonotone: both fail iff the common latent exceeds both thresholds
        return float(stats.norm.sf(max(ca, cb)))
    s = math.sqrt(1 - rho)

    def f(w: float) -> float:
        return stats.norm.pdf(w) * stats.norm.sf((ca - math.sqrt(rho) * w) / s) * stats.norm.sf((cb - math.sqrt(rho) * w) / s)

    kinks = [ca / math.sqrt(rho), cb / math.sqrt(rho)]
    return integrate.quad(f, -12, 12, epsabs=1e-15, epsrel=1e-13, limit=500, points=kinks)[0]


@pytest.mark.parametrize("rho", [0.1, 0.3, 0.6, 0.95, 0.999, 1.0])
def test_declared_gaussian_domain_by_quadrature(rho: float) -> None:
    dom = (Domain("g", ("a", "b"), model="gaussian", rho=rho),)
    j = journey(Race((R("a"), R("b"))), domains=dom)
    value, method = declared_availability(j)
    assert value == pytest.approx(1 - _gaussian_pair_fail(0.9, 0.8, rho), abs=1e-9)
    assert "quadrature" in method
    # the marginal stays a, however steep the member's conditional availability
    single, _ = declared_availability(journey(R("a"), domains=(Domain("g", ("a",), model="gaussian", rho=rho),)))
    assert single == pytest.approx(0.9, abs=1e-9)


def test_declared_two_gaussian_domains_against_a_legendre_double_integral() -> None:
    # a–b share factor x (rho 0.2), b–c share factor y (rho 0.3): given both factors the calls
    # are independent; integrate the product of conditional availabilities over (x, y)
    doms = (Domain("x", ("a", "b"), model="gaussian", rho=0.2), Domain("y", ("b", "c"), model="gaussian", rho=0.3))
    j = journey(Series((R("a"), R("b"), R("c"))), domains=doms)
    ca, cb, cc = stats.norm.ppf([0.9, 0.8, 0.7])
    # composite Gauss–Legendre on [−10, 10]² (a different rule from the code's Gauss–Hermite)
    x, w = np.polynomial.legendre.leggauss(20)
    edges = np.linspace(-10, 10, 41)
    nodes = np.concatenate([(lo + hi) / 2 + (hi - lo) / 2 * x for lo, hi in zip(edges[:-1], edges[1:])])
    weights = np.concatenate([(hi - lo) / 2 * w for lo, hi in zip(edges[:-1], edges[1:])]) * stats.norm.pdf(nodes)
    w1, w2 = nodes[:, None], nodes[None, :]
    ndtr = special.ndtr
    f = (
        ndtr((ca - math.sqrt(0.2) * w1) / math.sqrt(0.8))
        * ndtr((cb - math.sqrt(0.2) * w1 - math.sqrt(0.3) * w2) / math.sqrt(0.5))
        * ndtr((cc - math.sqrt(0.3) * w2) / math.sqrt(0.7))
    )
    expected = float(weights @ f @ weights)
    value, _ = declared_availability(j)
    assert value == pytest.approx(expected, abs=1e-10)


def test_declared_is_none_beyond_three_factors() -> None:
    doms = tuple(Domain(f"g{i}", (m, "d"), model="gaussian", rho=0.1) for i, m in enumerate("abcd") if m != "d")
    doms = doms + (Domain("g9", ("a", "b"), model="gaussian", rho=0.1),)
    j = journey(Series((R("a"), R("b"), R("c"), R("d"))), domains=doms)
    value, method = declared_availability(j)
    assert value is None
    assert "not computable: 4 gaussian factors" in method
    assert scenario_availability(j, Scenario.declared()) is None


def test_magnitude_free_domains_are_independent_in_declared() -> None:
    j = journey(Race((R("a"), R("b"))), domains=(Domain("n", ("a", "b")),))
    value, method = declared_availability(j)
    assert value == pytest.approx(1 - 0.1 * 0.2, abs=1e-15)
    assert "magnitude-free domains independent (n)" in method


# --------------------------------------------------------------------------- shared-fate range


def test_shared_fate_range_matches_every_scenario() -> None:
    doms = (Domain("x", ("a", "b")), Domain("y", ("c", "d")), Domain("w", ("b", "c")))
    root = Series((Race((R("a"), R("b"))), Parallel((R("c"), R("d")), join="any"), R("b")))
    j = journey(root, domains=doms)
    r = shared_fate_range(j)
    assert r is not None and r.exhaustive and r.count == 8
    names = [s.name for s in sharable_domains(j)]
    values = {}
    for mask in range(8):
        sub = frozenset(n for i, n in enumerate(names) if mask >> i & 1)
        values[sub] = scenario_availability(j, Scenario.shared_fate(sub))
    assert r.low == pytest.approx(min(values.values()), abs=1e-15)
    assert r.high == pytest.approx(max(values.values()), abs=1e-15)
    assert values[r.low_set] == pytest.approx(r.low, abs=1e-15)
    assert r.shared_all == pytest.approx(values[frozenset(names)], abs=1e-15)
    assert pessimistic_shared(j) == r.low_set


def test_coordinate_descent_beyond_the_exhaustive_limit_reports_it() -> None:
    doms = (Domain("x", ("a", "b")), Domain("y", ("c", "d")), Domain("w", ("b", "c")))
    j = journey(Series((Race((R("a"), R("b"))), Parallel((R("c"), R("d")), join="any"))), domains=doms)
    exact = shared_fate_range(j)
    approx = shared_fate_range(j, exhaustive_limit=1)
    assert exact is not None and approx is not None
    assert not approx.exhaustive and "not exhaustive" in approx.method
    # every value reported is a real scenario's value, inside the exact range
    assert scenario_availability(j, Scenario.shared_fate(approx.low_set)) == pytest.approx(approx.low, abs=1e-15)
    assert scenario_availability(j, Scenario.shared_fate(approx.high_set)) == pytest.approx(approx.high, abs=1e-15)
    assert exact.low - 1e-15 <= approx.low <= approx.high <= exact.high + 1e-15


def test_explicit_matrix_group_is_sharable() -> None:
    from emac_sim.model.journey import CorrelationMatrix

    j = journey(Race((R("a"), R("b"))))
    j = Journey(name="m", root=j.root, components=j.components, correlation=CorrelationMatrix(("a", "b"), ((1.0, 0.4), (0.4, 1.0))))
    assert [s.name for s in sharable_domains(j)] == ["matrix:a"]
    assert scenario_availability(j, Scenario.shared_fate({"matrix:a"})) == pytest.approx(0.9, abs=1e-15)
    value, _ = declared_availability(j)
    assert value == pytest.approx(1 - _gaussian_pair_fail(0.9, 0.8, 0.4), abs=1e-9)


# --------------------------------------------------------------------------- the paper


def test_paper_checkout_numbers(paper_spec: Path) -> None:
    from emac_sim import load_spec

    j = load_spec(paper_spec)
    assert round(independent_availability(j), 8) == 0.99747706
    r = shared_fate_range(j)
    assert r is not None
    assert round(r.low, 8) == 0.99251449
    assert r.shared_all == pytest.approx(0.999 * 0.995, abs=1e-15)
    assert pessimistic_shared(j) == frozenset({"payment-network"})
    assert scenario_availability(j, named_scenario(j, "shared")) == pytest.approx(0.994005, abs=1e-15)
    lo, hi = availability_bounds(j.root, j.availabilities)
    assert lo <= r.low and independent_availability(j) <= hi


# --------------------------------------------------------------------------- dependence-free availability


@pytest.mark.parametrize(
    ("root", "expected"),
    [
        (Series((R("a"), R("b"))), (0.7, 0.8)),
        (Parallel((R("a"), R("b"), R("c")), join="any"), (0.9, 1.0)),
        (Parallel((R("a"), R("b"), R("c")), join="quorum", k=2), (0.7, 1.0)),
        (Parallel((R("b"), R("c"), R("c")), join="quorum", k=3), (0.2, 0.7)),
        (Race((R("c"), R("c"))), (0.7, 1.0)),
        (Fallback((R("b"), R("c"))), (0.8, 1.0)),
        (Retry(R("c"), attempts=2), (0.7, 1.0)),
        (Choice((R("a"), R("c")), weights=(1.0, 1.0)), (0.8, 0.8)),
        (Optional(R("c"), probability=0.5), (0.85, 0.85)),
        (Repeat(R("a"), count=3), (0.7, 0.9)),
    ],
    ids=lambda v: str(v) if isinstance(v, Node) else "",
)
def test_dependence_free_availability(root: Node, expected: tuple[float, float]) -> None:
    lo, hi = availability_bounds(root, A)
    assert (lo, hi) == pytest.approx(expected, abs=1e-14)


# --------------------------------------------------------------------------- importance, amplification


def test_birnbaum_importance_of_a_series_and_a_redundant_pair() -> None:
    j = journey(Series((R("a"), Parallel((R("b"), R("c")), join="any"))))
    imp = birnbaum_importance(j)
    assert imp["a"] == pytest.approx(1 - 0.2 * 0.3, abs=1e-15)
    assert imp["b"] == pytest.approx(0.9 * 0.3, abs=1e-15)
    assert imp["c"] == pytest.approx(0.9 * 0.2, abs=1e-15)
    assert imp["d"] == 0.0


def test_call_amplification() -> None:
    j = journey(Series((R("a"), Retry(R("c"), attempts=3), Fallback((R("b"), R("d"))), Optional(R("a"), probability=0.5))))
    calls = call_amplification(j)
    assert calls["a"] == pytest.approx(1 + 0.9 * (1 - 0.3**3) * (1 - 0.2 * 0.05) * 0.5, abs=1e-14)
    assert calls["c"] == pytest.approx(0.9 * (1 + 0.3 + 0.09), abs=1e-14)
    assert calls["b"] == pytest.approx(0.9 * (1 - 0.3**3), abs=1e-14)
    assert calls["d"] == pytest.approx(0.9 * (1 - 0.3**3) * 0.2, abs=1e-14)


def test_call_amplification_of_a_hedge() -> None:
    m, h = 0.05, 0.04
    j = journey(Race((R("a"), R("b")), hedge_delay=h), latency={"a": Exponential(m), "b": Exponential(m)})
    calls = call_amplification(j)
    assert calls["a"] == 1.0
    # branch 1 is issued unless branch 0 succeeded by h (second order in the grid step)
    assert calls["b"] == pytest.approx(1 - 0.9 * (1 - math.exp(-h / m)), abs=1e-6)
    # without a latency model a failed first branch always brings in the hedge
    assert call_amplification(journey(Race((R("a"), R("b")), hedge_delay=h)))["b"] == pytest.approx(0.1, abs=1e-15)
    assert call_amplification(journey(Race((R("a"), R("b")))))["b"] == 1.0


def test_retry_backoff_does_not_change_availability() -> None:
    root = Retry(R("c"), attempts=3, per_try_timeout=None, backoff=Backoff(0.1, 2.0, 0.3))
    assert indep(root, latency={c: LogNormal.from_quantiles(0.01, 0.05) for c in A}) == pytest.approx(1 - 0.3**3, abs=1e-14)
