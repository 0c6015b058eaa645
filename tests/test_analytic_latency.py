"""Latency on grids: closed forms for every operator, comonotone arithmetic, scenarios, bands.

Accuracy requirement (issue 3): against closed forms — sums of exponentials (Erlang,
hypoexponential), max and min of i.i.d. exponentials, lognormal quantiles — grid quantiles are
within 0.5 % relative error. Other operators are checked the same way against CDFs written out
by hand and inverted with ``brentq``. Band tests use the sharp two-term Makarov / Fréchet
bounds in closed form; a band read on the geometric grid may be off by one grid ratio, outward.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import optimize, stats

from emac_sim.analytic import bounds, latency_quantiles
from emac_sim.analytic.bounds import _band_points, _fastest
from emac_sim.analytic.dependence_free import BandEvaluator, BandGrid, conditional_quantile_bounds
from emac_sim.analytic.grid import support
from emac_sim.model.distributions import Constant, Distribution, Exponential, Histogram, LogNormal
from emac_sim.model.journey import Component, Domain, Journey, Node, Ref
from emac_sim.model.scenario import Scenario
from emac_sim.operators import Backoff, Choice, Fallback, Optional, Parallel, Race, Repeat, Retry, Series, Timeout

QS = (0.5, 0.9, 0.99, 0.999)
REL = 5e-3  # the 0.5 % relative error


def journey(root: Node, comps: dict[str, tuple[float, Distribution]], error: dict | None = None, domains: tuple[Domain, ...] = ()) -> Journey:
    cs = tuple(
        Component(
            id=c, availability=a, latency=d, error_latency=(error or {}).get(c, "same"), domains=tuple(x.name for x in domains if c in x.members)
        )
        for c, (a, d) in comps.items()
    )
    return Journey(name="lat", root=root, components=cs, domains=domains)


def refs(n: int) -> tuple[Ref, ...]:
    return tuple(Ref(f"c{i}") for i in range(n))


def exps(means: list[float], a: float = 1.0) -> dict[str, tuple[float, Distribution]]:
    return {f"c{i}": (a, Exponential(m)) for i, m in enumerate(means)}


def invert(cdf: Callable[[float], float], q: float, hi: float = 1e3) -> float:
    return optimize.brentq(lambda x: cdf(x) - q, 0.0, hi, xtol=1e-14, rtol=1e-13)


def assert_quantiles(j: Journey, exact: dict[float, float], rel: float = REL, scenario: str | Scenario = "independent") -> None:
    got = latency_quantiles(j, scenario)
    assert got is not None
    for q in QS:
        assert got[q] == pytest.approx(exact[q], rel=rel), f"q={q}: {got[q]} vs {exact[q]}"


# --------------------------------------------------------------------------- the closed forms


def test_sum_of_exponentials_is_erlang() -> None:
    j = journey(Series(refs(5)), exps([1.0] * 5))
    assert_quantiles(j, {q: stats.gamma(5).ppf(q) for q in QS})


def test_sum_of_different_exponentials_is_hypoexponential() -> None:
    rates = np.array([2.0, 1.0, 0.5])

    def cdf(x: float) -> float:
        return float(sum(np.prod([lj / (lj - li) for k, lj in enumerate(rates) if k != i]) * (1 - math.exp(-li * x)) for i, li in enumerate(rates)))

    j = journey(Series(refs(3)), exps(list(1 / rates)))
    assert_quantiles(j, {q: invert(cdf, q) for q in QS})


def test_max_of_iid_exponentials() -> None:
    j = journey(Parallel(refs(5), join="all"), exps([1.0] * 5))
    assert_quantiles(j, {q: -math.log(1 - q ** (1 / 5)) for q in QS})


def test_min_of_iid_exponentials() -> None:
    j = journey(Parallel(refs(5), join="any"), exps([1.0] * 5))
    assert_quantiles(j, {q: -math.log(1 - q) / 5 for q in QS})


@pytest.mark.parametrize(("p50", "p99"), [(0.018, 0.07), (0.11, 0.32), (0.002, 0.2)])
def test_lognormal_quantiles(p50: float, p99: float) -> None:
    d = LogNormal.from_quantiles(p50, p99)
    j = journey(Ref("c0"), {"c0": (0.999, d)})
    assert_quantiles(j, {q: float(d.ppf(q)) for q in QS})


# --------------------------------------------------------------------------- every other operator


def test_quorum_is_the_kth_order_statistic() -> None:
    j = journey(Parallel(refs(3), join="quorum", k=2), exps([1.0] * 3))
    assert_quantiles(j, {q: invert(lambda x: stats.binom(3, 1 - math.exp(-x)).sf(1), q) for q in QS})


def test_hedged_race() -> None:
    h, a = 0.3, 0.9
    F = stats.expon.cdf
    j = journey(Race(refs(2), hedge_delay=h), exps([1.0, 1.0], a=a))

    def cdf(x: float) -> float:  # some branch ok and done by x, over P(ok)
        return (1 - (1 - a * F(x)) * (1 - a * F(x - h))) / (1 - (1 - a) ** 2)

    assert_quantiles(j, {q: invert(cdf, q) for q in QS})


def test_fallback_adds_the_failed_branch_time() -> None:
    comps = {"c0": (0.5, Exponential(1.0)), "c1": (1.0, Exponential(1.0))}
    j = journey(Fallback(refs(2)), comps, error={"c0": Constant(0.2)})
    F = stats.expon.cdf
    assert_quantiles(j, {q: invert(lambda x: 0.5 * F(x) + 0.5 * F(x - 0.2), q) for q in QS})


def test_retry_with_backoff_and_fast_failures() -> None:
    a, m = 0.7, 0.5
    j = journey(Retry(Ref("c0"), attempts=3, backoff=Backoff(0.1, 2.0)), {"c0": (a, Exponential(m))}, error={"c0": "fast"})
    F = stats.expon(scale=m).cdf
    ok = 1 - (1 - a) ** 3

    def cdf(x: float) -> float:  # attempt k succeeds after the waits 0.1, 0.2 (failures take 0 s)
        return (a * F(x) + (1 - a) * a * F(x - 0.1) + (1 - a) ** 2 * a * F(x - 0.3)) / ok

    assert_quantiles(j, {q: invert(cdf, q) for q in QS})


def test_retry_per_try_timeout_costs_the_timeout() -> None:
    a, tau = 0.9, 0.5
    j = journey(Retry(Ref("c0"), attempts=2, per_try_timeout=tau), {"c0": (a, Exponential(1.0))})
    F = stats.expon.cdf
    p = a * F(tau)  # an attempt succeeds within the budget

    def cdf(x: float) -> float:
        # first attempt ok by x (≤ τ); or it failed — taking t ∧ τ — and the second is ok
        first = a * F(min(x, tau))
        # failed attempt's duration: fail (prob 1 − a, time Exp ∧ τ) or slow success (time τ)
        grid = np.linspace(0, tau, 20001)
        dens = (1 - a) * stats.expon.pdf(grid)  # a failed try ending at s < τ
        second_ok = a * F(np.clip(np.minimum(x - grid, tau), 0, None))
        second = float(np.trapezoid(dens * second_ok, grid))
        at_tau = (1 - a) * (1 - F(tau)) + a * (1 - F(tau))  # atom of the failed try at τ
        second += at_tau * a * F(min(max(x - tau, 0.0), tau))
        return (first + second) / (1 - (1 - p) ** 2)

    assert_quantiles(j, {q: invert(cdf, q, hi=10) for q in QS})


def test_timeout_truncates_the_success_law() -> None:
    d = 1.5
    j = journey(Timeout(Ref("c0"), deadline=d), {"c0": (0.99, Exponential(1.0))})
    assert_quantiles(j, {q: -math.log(1 - q * (1 - math.exp(-d))) for q in QS})


def test_choice_is_a_mixture() -> None:
    j = journey(Choice(refs(2), weights=(0.3, 0.7)), exps([1.0, 3.0]))
    assert_quantiles(j, {q: invert(lambda x: 0.3 * stats.expon.cdf(x) + 0.7 * stats.expon(scale=3).cdf(x), q) for q in QS})


def test_optional_adds_an_atom_at_zero() -> None:
    j = journey(Optional(Ref("c0"), probability=0.4), {"c0": (1.0, Exponential(1.0))})
    got = latency_quantiles(j, qs=(0.9, 0.99, 0.999))
    assert got is not None
    for q in (0.9, 0.99, 0.999):
        assert got[q] == pytest.approx(-math.log(1 - (q - 0.6) / 0.4), rel=REL)


def test_repeat_is_a_sum() -> None:
    j = journey(Repeat(Ref("c0"), count=4), {"c0": (0.95, Exponential(0.5))})
    assert_quantiles(j, {q: stats.gamma(4, scale=0.5).ppf(q) for q in QS})


def test_failures_do_not_change_the_success_law_of_a_series() -> None:
    j = journey(Series(refs(3)), exps([1.0, 1.0, 1.0], a=0.8), error={"c0": "fast"})
    assert_quantiles(j, {q: stats.gamma(3).ppf(q) for q in QS})


def test_no_latency_model_means_no_latency() -> None:
    j = Journey(name="x", root=Ref("c0"), components=(Component("c0", 0.9),))
    assert latency_quantiles(j) is None
    b = bounds(j)
    assert b.latency is None and b.latency_modelled is False


# --------------------------------------------------------------------------- comonotone


@pytest.mark.parametrize(
    ("root", "combine"),
    [
        (Series(refs(3)), lambda qs: sum(qs)),
        (Parallel(refs(3), join="all"), max),
        (Parallel(refs(3), join="any"), min),
        (Race(refs(3)), min),
        (Parallel(refs(3), join="quorum", k=2), lambda qs: sorted(qs)[1]),
    ],
    ids=["series-sum", "all-max", "any-min", "race-min", "quorum-2nd"],
)
def test_comonotone_is_quantile_arithmetic(root: Node, combine: Callable[[list[float]], float]) -> None:
    means = [1.0, 2.0, 0.5]
    j = journey(root, exps(means))
    exact = {q: combine([-m * math.log(1 - q) for m in means]) for q in QS}
    assert_quantiles(j, exact, scenario="comonotone")


def test_comonotone_repeat() -> None:
    j = journey(Repeat(Ref("c0"), count=3), {"c0": (1.0, LogNormal.from_quantiles(0.02, 0.09))})
    d = LogNormal.from_quantiles(0.02, 0.09)
    assert_quantiles(j, {q: 3 * float(d.ppf(q)) for q in QS}, scenario="comonotone")


# --------------------------------------------------------------------------- scenarios


def test_shared_fate_fallback_only_succeeds_on_the_primary() -> None:
    # both up or both down together: a fallback either succeeds at once or not at all
    comps = {"c0": (0.9, Exponential(1.0)), "c1": (0.9, Exponential(5.0))}
    dom = (Domain("z", ("c0", "c1")),)
    j = journey(Fallback(refs(2)), comps, domains=dom)
    assert_quantiles(j, {q: -math.log(1 - q) for q in QS}, scenario="shared")
    indep = latency_quantiles(j)
    assert indep is not None and indep[0.99] > -math.log(0.01) * 1.01  # independent: slower mixture


def test_latency_correlation_of_a_fork_join_by_quadrature() -> None:
    # identical lognormals with latency correlation rho: P(max ≤ x) = Φ₂(z, z; rho)
    rho = 0.5
    d = LogNormal.from_quantiles(0.05, 0.2)
    comps = {"c0": (1.0, d), "c1": (1.0, d)}
    dom = (Domain("g", ("c0", "c1"), model="gaussian", latency_rho=rho),)
    j = journey(Parallel(refs(2)), comps, domains=dom)
    mvn = stats.multivariate_normal(mean=[0.0, 0.0], cov=[[1.0, rho], [rho, 1.0]])
    exact = {q: math.exp(d.mu + d.sigma * optimize.brentq(lambda z, q=q: mvn.cdf([z, z]) - q, -8, 8, xtol=1e-12)) for q in QS}
    assert_quantiles(j, exact, rel=2e-3, scenario="declared")
    # latency correlation leaves a single call's marginal alone
    single = journey(Ref("c0"), comps, domains=dom)
    assert_quantiles(single, {q: float(d.ppf(q)) for q in QS}, rel=1e-3, scenario="declared")


# --------------------------------------------------------------------------- dependence-free bands


def band_quantiles(j: Journey, qs: tuple[float, ...] = QS) -> tuple[dict[float, tuple[float, float]], float]:
    g = BandGrid.geometric(support(j.root, j), _fastest(j), _band_points(j))
    b = BandEvaluator(j, g).evaluate()
    ratio = float(g.points[2] / g.points[1])
    return conditional_quantile_bounds(b.s, g, qs), ratio


def assert_band(got: tuple[float, float], lower: float, upper: float, ratio: float) -> None:
    lo, hi = got
    assert lo <= lower * (1 + 1e-9) and lo >= lower / ratio**2, (lo, lower)
    assert hi >= upper * (1 - 1e-9) and hi <= upper * ratio**2, (hi, upper)


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_makarov_band_for_a_sum_of_two_exponentials(q: float) -> None:
    # worst case over all couplings (sharp for two terms): upper 2·ln(2/(1−q)); lower: one term's quantile
    j = journey(Series(refs(2)), exps([1.0, 1.0]))
    got, ratio = band_quantiles(j, (q,))
    assert_band(got[q], -math.log(1 - q), 2 * math.log(2 / (1 - q)), ratio)


@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_frechet_bands_for_max_and_min(q: float) -> None:
    got, ratio = band_quantiles(journey(Parallel(refs(2)), exps([1.0, 1.0])), (q,))
    assert_band(got[q], -math.log(1 - q), -math.log((1 - q) / 2), ratio)
    got, ratio = band_quantiles(journey(Parallel(refs(2), join="any"), exps([1.0, 1.0])), (q,))
    assert_band(got[q], -math.log(1 - q / 2), -math.log(1 - q), ratio)


def test_dkw_band_widens_histogram_leaves() -> None:
    buckets = ((0.01, 10.0), (0.02, 50.0), (0.05, 90.0), (0.1, 99.0), (0.2, 100.0), (math.inf, 100.0))
    small = Histogram(buckets=buckets)
    large = Histogram(buckets=tuple((le, c * 1e6) for le, c in buckets))
    b_small = bounds(journey(Ref("c0"), {"c0": (1.0, small)}), confidence=0.95)
    b_large = bounds(journey(Ref("c0"), {"c0": (1.0, large)}), confidence=0.95)
    assert b_small.latency.dkw_confidence == 0.95
    eps = math.sqrt(math.log(2 / 0.05) / 200)
    p90 = b_small.quantile("p90")
    # the band must hold the quantiles of every CDF within ±eps of the histogram's
    assert p90.upper >= float(small.ppf(0.9 + eps)) * (1 - 1e-9)
    assert p90.lower <= float(small.ppf(0.9 - eps)) * (1 + 1e-9)
    assert p90.upper > b_large.quantile("p90").upper
    assert p90.lower < b_large.quantile("p90").lower


ALL_OPERATORS = Series(
    (
        Ref("c0"),
        Parallel((Ref("c1"), Retry(Ref("c2"), attempts=2, per_try_timeout=0.3)), join="all"),
        Race((Ref("c3"), Fallback((Ref("c4"), Ref("c0")))), hedge_delay=0.1),
        Choice((Optional(Ref("c1"), probability=0.5), Repeat(Ref("c2"), count=2)), weights=(1.0, 2.0)),
        Timeout(Parallel((Ref("c3"), Ref("c4"), Ref("c1")), join="quorum", k=2), deadline=0.6),
    )
)


def test_independent_and_comonotone_inside_the_band() -> None:
    comps = {
        "c0": (0.999, LogNormal.from_quantiles(0.02, 0.08)),
        "c1": (0.995, Exponential(0.03)),
        "c2": (0.99, LogNormal.from_quantiles(0.05, 0.3)),
        "c3": (0.999, LogNormal.from_quantiles(0.1, 0.25)),
        "c4": (0.98, Exponential(0.06)),
    }
    b = bounds(journey(ALL_OPERATORS, comps, error={"c4": "fast"}))
    lat = b.latency
    tol = lat.discretisation_error
    for key in ("p50", "p90", "p99", "p999"):
        row = lat.quantiles[key]
        assert row.lower - tol <= row.independent <= row.upper + tol, (key, row)
        assert row.lower - lat.comonotone_discretisation_error <= row.comonotone <= row.upper + lat.comonotone_discretisation_error, (
            key,
            row,
        )
    a = b.availability
    assert a.dependence_free[0] <= a.independent <= a.dependence_free[1]
