"""Kernel building blocks: Φ/Φ⁻¹, the xoshiro256** stream, log buckets and latency samplers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from emac_sim.engine.compile import TABLE_POINTS, TABLE_W, _SamplerTable, logit_grid, quantile_table
from emac_sim.kernels import samplers as S
from emac_sim.kernels.histogram import N_BUCKETS, OVERFLOW_BUCKET, UNDERFLOW_BUCKET, ZERO_BUCKET, bucket_edges, bucket_index, bucket_values
from emac_sim.kernels.rng import next_u64, next_uniform
from emac_sim.kernels.special import ndtr, ndtri, ndtri_pq
from emac_sim.model import distributions as D
from emac_sim.reference import Xoshiro256

# ----------------------------------------------------------------------------- special functions


def test_ndtri_matches_scipy_across_the_body_and_lower_tail():
    ps = np.concatenate([np.linspace(1e-6, 1 - 1e-6, 4001), np.logspace(-300, -1, 600)])
    got = np.array([ndtri_pq(p, 1.0 - p) for p in ps])
    want = special.ndtri(ps)
    rel = np.abs(got - want) / np.maximum(np.abs(want), 1e-3)
    assert rel.max() < 1e-14


def test_ndtri_keeps_upper_tail_precision_from_q():
    qs = np.logspace(-300, -1, 600)
    got = np.array([ndtri_pq(1.0 - q, q) for q in qs])
    assert np.allclose(got, -special.ndtri(qs), rtol=1e-14, atol=0)


def test_ndtri_ends_and_ndtr():
    assert ndtri(0.0) == -math.inf and ndtri(1.0) == math.inf
    assert ndtri(0.5) == 0.0
    zs = np.linspace(-30, 30, 301)
    # libm erfc and cephes differ by ~1e-14 relative only in the far tail (|z| > 25)
    assert np.allclose([ndtr(z) for z in zs], special.ndtr(zs), rtol=1e-13, atol=1e-300)


# ----------------------------------------------------------------------------- random stream


def test_xoshiro_reference_outputs():
    # xoshiro256** from state {1, 2, 3, 4}: first outputs of the published algorithm
    st = np.array([1, 2, 3, 4], dtype=np.uint64)
    assert [int(next_u64(st)) for _ in range(4)] == [11520, 0, 1509978240, 1215971899390074240]


def test_python_port_reproduces_the_kernel_stream():
    state = np.random.SeedSequence(2024).generate_state(4, np.uint64)
    st = state.copy()
    py = Xoshiro256(state)
    kernel = [next_uniform(st) for _ in range(2000)]
    port = [py.uniform() for _ in range(2000)]
    assert kernel == port


def test_uniforms_are_open_and_their_complement_exact():
    st = np.random.SeedSequence(7).generate_state(4, np.uint64)
    u = np.array([next_uniform(st) for _ in range(20000)])
    assert u.min() > 0.0 and u.max() < 1.0
    k = u * 2.0**52 - 0.5  # (k + 0.5)·2⁻⁵² with integer k
    assert np.array_equal(k, np.floor(k))
    assert np.array_equal(1.0 - (1.0 - u), u)
    # the extreme grid points stay inside (0, 1) both ways
    lo, hi = 0.5 * 2.0**-52, 1.0 - 0.5 * 2.0**-52
    assert 0.0 < lo and hi < 1.0 and 1.0 - hi == lo


# ----------------------------------------------------------------------------- histogram buckets


def test_buckets_contain_their_values_with_bounded_relative_error():
    rng = np.random.default_rng(3)
    ts = np.exp(rng.uniform(math.log(1e-9), math.log(4e5), 20000))
    lo, hi = bucket_edges()
    mid = bucket_values()
    for t in ts:
        b = bucket_index(t)
        assert 2 <= b < OVERFLOW_BUCKET
        assert lo[b] <= t < hi[b]
        assert abs(mid[b] - t) / t <= 1.0 / 256 + 1e-15
    assert np.all(hi[2:-1] / lo[2:-1] <= 1 + 1 / 128 + 1e-15)
    assert np.all(hi[2:-2] == lo[3:-1])  # contiguous


def test_bucket_special_values():
    assert bucket_index(0.0) == ZERO_BUCKET
    assert bucket_index(-1.0) == ZERO_BUCKET
    assert bucket_index(1e-12) == UNDERFLOW_BUCKET
    assert bucket_index(math.inf) == OVERFLOW_BUCKET
    assert bucket_index(math.nan) == OVERFLOW_BUCKET
    assert bucket_index(1e7) == OVERFLOW_BUCKET
    assert N_BUCKETS == OVERFLOW_BUCKET + 1


# ----------------------------------------------------------------------------- samplers


def _row(dist):
    table = _SamplerTable()
    m = table.add(dist)
    kind, par, tab = table.arrays()
    return kind, par, m, tab


U_GRID = np.concatenate([[2.0**-53, 1e-12, 1e-6], np.linspace(0.001, 0.999, 999), [1 - 1e-6, 1 - 1e-12, 1 - 2.0**-53]])


CLOSED = [
    D.LogNormal(mu=math.log(0.02), sigma=0.6),
    D.Exponential(mean_s=0.04),
    D.Weibull(shape=1.7, scale=0.05),
    D.Weibull(shape=0.6, scale=0.05),
    D.Pareto(scale=0.01, alpha=2.5),
    D.Constant(value=0.123),
]


@pytest.mark.parametrize("dist", CLOSED, ids=lambda d: d.kind)
def test_closed_form_samplers_are_the_inverse_cdf(dist):
    from emac_sim.engine.compile import _isf_upper

    kind, par, m, tab = _row(dist)
    got = np.array([S.sample_u(kind, par, m, tab, u, 1.0 - u) for u in U_GRID])
    lower = U_GRID < 0.5
    want = np.empty_like(U_GRID)
    want[lower] = dist.ppf(U_GRID[lower])
    # the upper half from the survival side: dist.ppf(1 − s) would lose the far tail
    want[~lower] = _isf_upper(dist, 1.0 - U_GRID[~lower])
    assert np.allclose(got, want, rtol=1e-12, atol=0)
    if not isinstance(dist, D.Constant):
        body = (U_GRID > 1e-9) & (U_GRID < 1 - 1e-9)
        assert np.allclose(dist.cdf(got[body]), U_GRID[body], rtol=1e-9, atol=1e-12)


PIECEWISE = [
    D.Empirical(quantiles=((0.5, 0.020), (0.9, 0.045), (0.99, 0.120), (1.0, 0.900))),
    D.Empirical(quantiles=((0.5, 0.020), (0.9, 0.045), (0.99, 0.120))),  # exponential tail beyond p99
    D.Histogram(buckets=((0.01, 10.0), (0.025, 60.0), (0.05, 60.0), (0.1, 95.0), (0.25, 99.0), (math.inf, 100.0))),
]


@pytest.mark.parametrize("dist", PIECEWISE, ids=["empirical", "empirical-tail", "histogram-flat-stretch"])
def test_piecewise_sampler_is_the_exact_inverse(dist):
    kind, par, m, tab = _row(dist)
    assert kind[m] == S.PIECEWISE
    body = U_GRID[(U_GRID > 1e-6) & (U_GRID < 0.98)]
    got = np.array([S.sample_u(kind, par, m, tab, u, 1.0 - u) for u in body])
    assert np.allclose(got, dist.ppf(body), rtol=1e-12, atol=1e-15)
    s = np.array([1e-3, 1e-9, 1e-15, 2.0**-53])
    tail = np.array([S.sample_u(kind, par, m, tab, 1.0 - x, x) for x in s])
    pn, xn, theta = dist._tail()
    if theta > 0:
        assert np.allclose(tail, xn - theta * np.log(s / (1 - pn)), rtol=1e-12)
        assert np.all(np.diff(tail) > 0)
    else:
        assert np.all(tail <= xn)


TABLED = [
    D.Gamma(shape=1.5625, scale=0.016),  # mean 25 ms, cv 0.8
    D.Gamma(shape=0.3, scale=0.1),
    D.Gamma(shape=40.0, scale=0.001),
    D.Mixture(components=((0.99, D.LogNormal(mu=math.log(0.02), sigma=0.4)), (0.01, D.LogNormal(mu=math.log(0.5), sigma=0.3)))),
    D.Mixture(components=((0.7, D.Exponential(mean_s=0.01)), (0.3, D.Weibull(shape=2.0, scale=0.08)))),
]


def _exact_quantile(dist, u, s):
    """Independent quantiles: gamma from scipy's incomplete-gamma inverses, mixtures by
    300-step bisection on F (lower half) or the survival function (upper half)."""
    from emac_sim.engine.compile import _isf_upper, _sf

    if isinstance(dist, D.Gamma):
        return np.where(u <= 0.5, special.gammaincinv(dist.shape, u), special.gammainccinv(dist.shape, s)) * dist.scale
    lo, hi = np.zeros_like(u), np.asarray(_isf_upper(dist, s), dtype=float)
    lower = u <= 0.5
    for _ in range(300):
        mid = 0.5 * (lo + hi)
        below = np.where(lower, dist.cdf(mid) < u, _sf(dist, mid) > s)
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return hi


# (distribution, documented relative accuracy of its quantile table)
TABLED = [
    (D.Gamma(shape=1.5625, scale=0.016), 2e-6),  # mean 25 ms, cv 0.8
    (D.Gamma(shape=0.3, scale=0.1), 2e-6),
    (D.Gamma(shape=40.0, scale=0.001), 2e-6),
    (D.Mixture(components=((0.7, D.Exponential(mean_s=0.01)), (0.3, D.Weibull(shape=2.0, scale=0.08)))), 2e-5),
    (D.Mixture(components=((0.99, D.LogNormal(mu=math.log(0.02), sigma=0.4)), (0.01, D.LogNormal(mu=math.log(0.5), sigma=0.3)))), 1e-3),
]


@pytest.mark.parametrize(("dist", "accuracy"), TABLED, ids=["gamma", "gamma-small-shape", "gamma-large-shape", "mixture", "mixture-bimodal"])
def test_quantile_tables_are_accurate_in_body_and_both_tails(dist, accuracy):
    kind, par, m, tab = _row(dist)
    assert kind[m] == S.TABLE
    assert len(quantile_table(dist)[0]) == TABLE_POINTS
    w = np.random.default_rng(5).uniform(-TABLE_W + 0.5, TABLE_W - 0.5, 3000)
    u, s = special.expit(w), special.expit(-w)
    got = np.array([S.sample_u(kind, par, m, tab, a, b) for a, b in zip(u, s)])
    want = _exact_quantile(dist, u, s)
    ok = want > 1e-250  # the mixtures' far lower tail underflows the bisection
    assert np.all(np.abs(got[ok] - want[ok]) <= accuracy * want[ok])


def test_table_grid_reaches_the_extreme_uniforms():
    w, u, s = logit_grid()
    smallest = 0.5 * 2.0**-52
    assert w[0] <= math.log(smallest / (1 - smallest)) and w[-1] >= -math.log(smallest / (1 - smallest))
    assert np.all(u + s == pytest.approx(1.0))


@pytest.mark.parametrize("dist", CLOSED[:5] + [TABLED[0][0], PIECEWISE[1]], ids=lambda d: d.kind)
def test_latent_entry_is_ppf_of_phi(dist):
    kind, par, m, tab = _row(dist)
    for z in (-6.0, -2.0, -0.3, 0.0, 0.7, 2.5, 6.0):
        got = S.sample_z(kind, par, m, tab, z)
        u, s = special.ndtr(z), special.ndtr(-z)
        want = S.sample_u(kind, par, m, tab, u, s)
        assert got == pytest.approx(want, rel=1e-12)
        if isinstance(dist, D.LogNormal):
            assert got == pytest.approx(math.exp(dist.mu + dist.sigma * z), rel=1e-14)


def test_zero_sampler_and_shared_rows():
    table = _SamplerTable()
    a = table.add(D.Exponential(mean_s=0.1))
    b = table.add(D.Exponential(mean_s=0.1))
    assert a == b and table.add(None) == 0
    kind, par, tab = table.arrays()
    assert S.sample_u(kind, par, 0, tab, 0.3, 0.7) == 0.0
