"""Queueing model for components with capacity: Erlang C, M/G/c, response-time tables (issue 7)."""

from __future__ import annotations

import heapq
import math

import numpy as np
import pytest
from scipy import optimize

from emac_sim.model import distributions as D
from emac_sim.studies.queueing import TABLE_PROBABILITIES, erlang_c, mm_c_response_sf, queue_stats, response_time, service_moments


def test_erlang_c_closed_forms() -> None:
    # M/M/1: P(wait) = rho
    for rho in (0.1, 0.5, 0.9):
        assert erlang_c(1, rho) == pytest.approx(rho, rel=1e-14)
    # M/M/2 with a = 1: B(2,1) = 0.2, C = 0.2 / (1 - 0.5*0.8) = 1/3
    assert erlang_c(2, 1.0) == pytest.approx(1.0 / 3.0, rel=1e-14)
    # textbook formula with factorials for small c
    c, a = 5, 3.7
    num = a**c / math.factorial(c) * c / (c - a)
    den = sum(a**k / math.factorial(k) for k in range(c)) + num
    assert erlang_c(c, a) == pytest.approx(num / den, rel=1e-12)
    # large systems stay finite and in (0, 1)
    v = erlang_c(2000, 1950.0)
    assert 0.0 < v < 1.0
    assert erlang_c(3, 3.0) == 1.0 and erlang_c(3, 0.0) == 0.0


def test_service_moments() -> None:
    assert service_moments(D.Exponential(0.02)) == (0.02, 1.0)
    assert service_moments(D.Constant(0.05)) == (0.05, 0.0)
    m, cv2 = service_moments(D.Gamma.from_mean_cv(0.04, 0.6))
    assert m == pytest.approx(0.04) and cv2 == pytest.approx(0.36)
    ln = D.LogNormal(mu=math.log(0.01), sigma=0.7)
    assert service_moments(ln)[1] == pytest.approx(math.expm1(0.49))
    # a mixture: E[S] and E[S^2] combine linearly
    mix = D.Mixture(((0.9, D.Constant(0.01)), (0.1, D.Constant(0.1))))
    m, cv2 = service_moments(mix)
    m2 = 0.9 * 0.01**2 + 0.1 * 0.1**2
    assert m == pytest.approx(0.019) and cv2 == pytest.approx(m2 / m**2 - 1)
    # empirical: numeric integration agrees with the piecewise-uniform closed form
    emp = D.Empirical(((0.0, 0.0), (1.0, 0.1)))  # uniform on [0, 100 ms]: cv^2 = 1/3
    m, cv2 = service_moments(emp)
    assert m == pytest.approx(0.05, rel=1e-6) and cv2 == pytest.approx(1.0 / 3.0, rel=1e-3)
    assert service_moments(D.Pareto(0.01, 1.5))[1] == math.inf


def test_mmc_waiting_time_is_erlang_c_exponential() -> None:
    st = queue_stats(50.0, 3, D.Exponential(0.05))
    assert st.model.startswith("M/M/c")
    assert st.utilisation == pytest.approx(50 * 0.05 / 3)
    assert st.wait_probability == pytest.approx(erlang_c(3, 2.5))
    assert st.wait_rate == pytest.approx(3 / 0.05 - 50)
    t = np.array([0.0, 0.01, 0.1])
    np.testing.assert_allclose(st.waiting_sf(t), st.wait_probability * np.exp(-(60.0 - 50.0) * t))
    assert st.mean_wait == pytest.approx(st.wait_probability / 10.0)


def test_mgc_allen_cunneen_scaling() -> None:
    det = queue_stats(50.0, 3, D.Constant(0.05))
    exp = queue_stats(50.0, 3, D.Exponential(0.05))
    assert det.model.startswith("M/G/c")
    assert det.wait_probability == pytest.approx(exp.wait_probability)
    # E[W] scales with (1 + cs^2)/2: deterministic service halves the M/M/c mean wait
    assert det.mean_wait == pytest.approx(0.5 * exp.mean_wait)
    g = queue_stats(50.0, 3, D.Gamma.from_mean_cv(0.05, 2.0))
    assert g.mean_wait == pytest.approx(exp.mean_wait * (1 + 4.0) / 2)
    # M/G/1: Allen-Cunneen reduces to the Pollaczek-Khinchine mean
    lam, s = 8.0, D.Gamma.from_mean_cv(0.1, 0.5)
    pk = lam * (0.1**2 * (1 + 0.25)) / (2 * (1 - lam * 0.1))
    assert queue_stats(lam, 1, s).mean_wait == pytest.approx(pk, rel=1e-12)


def test_saturation_is_flagged() -> None:
    st = queue_stats(61.0, 3, D.Exponential(0.05))
    assert st.saturated and st.utilisation > 1
    assert st.mean_wait == math.inf and st.waiting_quantile(0.5) == math.inf
    assert queue_stats(60.0, 3, D.Exponential(0.05)).saturated  # rho = 1 exactly
    with pytest.raises(ValueError, match="saturated"):
        response_time(st, D.Exponential(0.05))
    with pytest.raises(ValueError, match="infinite variance"):
        queue_stats(1.0, 1, D.Pareto(0.01, 1.5))


@pytest.mark.parametrize(("lam", "c", "mean"), [(50.0, 3, 0.05), (10.0, 1, 0.08), (190.0, 20, 0.1)])
def test_response_time_table_matches_mmc_closed_form(lam: float, c: int, mean: float) -> None:
    st = queue_stats(lam, c, D.Exponential(mean))
    r = response_time(st, D.Exponential(mean))
    qs = TABLE_PROBABILITIES[1:]
    got = r.distribution.ppf(qs)
    exact = np.array([optimize.brentq(lambda x, q=q: mm_c_response_sf(x, lam, c, mean) - (1 - q), 0, 1e3) for q in qs])
    # at the table's probabilities the quantiles are within one grid step of the exact ones
    assert np.all(np.abs(got - exact) <= r.grid_step + 1e-12)
    # between them the CDF is linear: off by less than the largest probability gap of the table
    x = np.linspace(0.001, 1.0, 200)
    gap = float(np.max(np.diff(TABLE_PROBABILITIES)))
    np.testing.assert_allclose(r.distribution.sf(x), mm_c_response_sf(x, lam, c, mean), rtol=0, atol=gap)


def test_response_time_without_load_is_the_service_time() -> None:
    s = D.LogNormal.from_quantiles(0.01, 0.05)
    st = queue_stats(0.0, 2, s)
    assert response_time(st, s).distribution is s


def test_response_time_constant_service_shifts_the_wait() -> None:
    s = D.Constant(0.05)
    st = queue_stats(30.0, 2, s)
    r = response_time(st, s)
    # R = 0.05 + W: the q-quantile is 0.05 for q <= 1 - C, else 0.05 + ln(C / (1 - q)) / theta
    for q in TABLE_PROBABILITIES[1:]:
        w = st.waiting_quantile(float(q))
        assert float(r.distribution.ppf(q)) == pytest.approx(0.05 + w, abs=r.grid_step + 1e-12)


def _simulate_fcfs_waits(lam: float, c: int, service: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Waiting times of an FCFS c-server queue (Kiefer-Wolfowitz: the earliest free server)."""
    arrivals = np.cumsum(rng.exponential(1.0 / lam, len(service)))
    free = [0.0] * c
    waits = np.empty(len(service))
    for i, (a, s) in enumerate(zip(arrivals, service)):
        f = heapq.heappop(free)
        start = max(a, f)
        waits[i] = start - a
        heapq.heappush(free, start + s)
    return waits


def test_erlang_c_against_a_discrete_event_queue() -> None:
    # M/M/3 at rho = 0.7: the simulated mean wait and P(W > 0) agree with Erlang C within
    # 5 batch-means standard errors (the waits are autocorrelated, so batches of 2,000)
    rng = np.random.default_rng(20240607)
    lam, c, mean = 42.0, 3, 0.05
    n, batches = 200_000, 100
    waits = _simulate_fcfs_waits(lam, c, rng.exponential(mean, n), rng)[10_000:]
    st = queue_stats(lam, c, D.Exponential(mean))
    for stat, expected in ((waits, st.mean_wait), (waits > 0, st.wait_probability)):
        b = np.array([x.mean() for x in np.array_split(np.asarray(stat, dtype=float), batches)])
        se = b.std(ddof=1) / math.sqrt(batches)
        assert abs(b.mean() - expected) < 5 * se, (b.mean(), expected, se)
