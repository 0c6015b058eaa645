"""Budget arithmetic: bounded SLO, error budget, burn rates, target rounding, latency scaling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emac_sim.budgets import bounded_slo, burn_rate_thresholds, error_budget, publish_target, scale_distribution
from emac_sim.budgets.latency import has_fixed_delays, latency_budgets, scale_latency
from emac_sim.model import distributions as D
from emac_sim.model.journey import DEFAULT_BURN_RATES, Component, Journey, LatencyObjective, Ref
from emac_sim.operators import Race, Retry, Series, Timeout

THIRTY_DAYS = 30 * 86400.0


def test_error_budget_of_995_over_30_days_is_216_minutes() -> None:
    eb = error_budget(0.995, THIRTY_DAYS, 0.99251449, 0.99747706)
    assert eb.minutes == pytest.approx(216.0, rel=1e-12)
    assert eb.allowed_error_ratio == pytest.approx(0.005, rel=1e-12)
    # A⁻ burns (1 − 0.99251449)/0.005 = 1.497102 × the sustainable rate
    assert eb.burn_rate_lower == pytest.approx(0.00748551 / 0.005, rel=1e-9)
    assert eb.burn_rate_upper == pytest.approx(0.00252294 / 0.005, rel=1e-9)
    assert eb.expected_minutes_lower == pytest.approx(0.00748551 * 43200, rel=1e-9)


def test_error_budget_rejects_an_objective_of_one() -> None:
    with pytest.raises(ValueError, match="objective must be in"):
        error_budget(1.0, THIRTY_DAYS, 0.9, 0.99)


@pytest.mark.parametrize(
    ("lower", "upper", "status"),
    [(0.996, 0.998, "met"), (0.99251449, 0.99747706, "at-risk"), (0.990, 0.994, "violated")],
)
def test_bounded_slo_status(lower: float, upper: float, status: str) -> None:
    s = bounded_slo(lower, upper, 0.995)
    assert s.status == status
    assert s.width == pytest.approx(upper - lower)
    assert s.shortfall == pytest.approx(max(0.995 - lower, 0.0))


def test_paper_bound_width_and_shortfall() -> None:
    s = bounded_slo(0.99251449, 0.99747706, 0.995)
    assert round(s.width, 8) == 0.00496257
    assert round(s.shortfall, 8) == 0.00248551
    assert bounded_slo(0.9, 0.95, None).status == "no-objective"


def test_sre_workbook_burn_rates() -> None:
    th = burn_rate_thresholds(0.999, DEFAULT_BURN_RATES, THIRTY_DAYS)
    assert [t.burn_rate for t in th] == [14.4, 6.0, 3.0, 1.0]
    # SRE workbook table 5-8: 2 % of the budget in 1 h, 5 % in 6 h, 10 % in 1 d and 3 d
    assert [round(t.budget_consumed, 6) for t in th] == [0.02, 0.05, 0.1, 0.1]
    assert th[0].error_ratio_threshold == pytest.approx(14.4 * 0.001)
    assert th[0].time_to_exhaustion_seconds == pytest.approx(THIRTY_DAYS / 14.4)


@pytest.mark.parametrize(
    ("value", "published"),
    [(0.999321451, 0.999322), (0.99749, 0.99749), (0.9974900001, 0.9975), (0.5, 0.5), (1.0, 1.0), (0.123456, 0.124)],
)
def test_publish_target_rounds_up(value: float, published: float) -> None:
    assert publish_target(value) == published
    assert publish_target(value) >= value - 1e-12


DISTS = [
    D.LogNormal.from_quantiles(0.018, 0.070),
    D.Gamma.from_mean_cv(0.025, 0.8),
    D.Weibull(shape=1.5, scale=0.05),
    D.Exponential(mean_s=0.04),
    D.Pareto(scale=0.01, alpha=2.5),
    D.Constant(value=0.2),
    D.Empirical(quantiles=((0.5, 0.02), (0.9, 0.045), (0.99, 0.12), (1.0, 0.9))),
    D.Histogram(buckets=((0.01, 10.0), (0.05, 80.0), (0.1, 95.0), (math.inf, 100.0))),
    D.Mixture(components=((0.99, D.Exponential(mean_s=0.02)), (0.01, D.Constant(value=1.0)))),
]


@pytest.mark.parametrize("dist", DISTS, ids=lambda d: d.kind)
def test_scaled_distribution_has_scaled_quantiles(dist: D.Distribution) -> None:
    qs = np.array([0.1, 0.5, 0.9, 0.99, 0.999])
    c = 1.7
    scaled = scale_distribution(dist, c)
    assert type(scaled) is type(dist)
    np.testing.assert_allclose(scaled.ppf(qs), c * dist.ppf(qs), rtol=1e-9)
    np.testing.assert_allclose(scaled.cdf(c * dist.ppf(qs)), dist.cdf(dist.ppf(qs)), rtol=1e-9, atol=1e-12)


def test_scale_rejects_non_positive_factor() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        scale_distribution(D.Exponential(mean_s=1.0), 0.0)


def _journey(root, comps, threshold: float = 0.1) -> Journey:
    return Journey(name="j", root=root, components=tuple(comps), latency_objective=LatencyObjective(threshold=threshold))


def test_fixed_delays_are_detected() -> None:
    a = Ref("a")
    assert not has_fixed_delays(Series((a, Race((a, a)))))
    assert has_fixed_delays(Race((a, a), hedge_delay=0.1))
    assert has_fixed_delays(Series((Timeout(a, 1.0),)))
    assert has_fixed_delays(Retry(a, 3, per_try_timeout=0.5))
    assert not has_fixed_delays(Retry(a, 3))


def test_scale_latency_scales_success_and_error_latency_only() -> None:
    c = Component("a", 0.99, latency=D.Exponential(mean_s=0.01), error_latency=D.Constant(value=0.002))
    j = scale_latency(_journey(Ref("a"), [c]), 3.0)
    assert j.component("a").latency == D.Exponential(mean_s=0.03)
    assert j.component("a").error_latency == D.Constant(value=0.006)
    assert j.component("a").availability == 0.99


def test_homogeneous_latency_budget_is_threshold_over_quantile() -> None:
    # one exponential component: the journey p99 is exactly its p99, mean·ln 100
    m = 0.02
    comp = Component("a", 0.999, latency=D.Exponential(mean_s=m))
    j = _journey(Ref("a"), [comp], threshold=0.05)

    def exact(jj: Journey, q: float, bound: str) -> float:
        return float(jj.component("a").latency.ppf(q))

    lb = latency_budgets(j, quantile_fn=exact)
    # the default policy (upperConfidence) budgets on the exact independent quantile
    assert lb is not None and lb.primary == "independent"
    sol = lb.solution()
    assert sol.method.startswith("homogeneous")
    assert sol.journey_before == pytest.approx(m * math.log(100))
    assert sol.factor == pytest.approx(0.05 / (m * math.log(100)))
    assert sol.journey_after == pytest.approx(0.05)
    assert sol.components[0].budget == pytest.approx(0.05)


def test_latency_budget_with_a_timeout_solves_the_conditional_quantile() -> None:
    # exponential(mean c·m) under a deadline D: successful journeys' q-quantile is
    # F⁻¹(q·F(D)) = −c·m·ln(1 − q(1 − e^(−D/(c·m)))); not homogeneous in c because D is fixed.
    m, deadline, threshold, q = 0.05, 0.3, 0.12, 0.99
    comp = Component("a", 0.999, latency=D.Exponential(mean_s=m))
    j = _journey(Timeout(Ref("a"), deadline), [comp], threshold=threshold)

    def cond_quantile(jj: Journey, qq: float, bound: str) -> float:
        mean = jj.component("a").latency.mean_s
        return -mean * math.log(1 - qq * (1 - math.exp(-deadline / mean)))

    sol = latency_budgets(j, quantile_fn=cond_quantile).solution()
    assert sol.method.startswith("brent")
    assert sol.journey_after == pytest.approx(threshold, rel=1e-5)
    # independent re-derivation by dense search
    cs = np.exp(np.linspace(math.log(0.01), math.log(10), 200001))
    vals = -cs * m * np.log(1 - q * (1 - np.exp(-deadline / (cs * m))))
    expect = cs[np.argmin(np.abs(vals - threshold))]
    assert sol.factor == pytest.approx(expect, rel=1e-3)


def test_no_latency_budget_without_model_or_objective() -> None:
    comp = Component("a", 0.999)
    assert latency_budgets(_journey(Ref("a"), [comp])) is None
    comp = Component("a", 0.999, latency=D.Exponential(mean_s=0.01))
    j = Journey(name="j", root=Ref("a"), components=(comp,))
    assert latency_budgets(j) is None
