"""Kernel building blocks: Φ, the Generator stream inside numba, log buckets and latency draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit
from scipy import special

from emac_sim.core.histogram import N_BUCKETS, OVERFLOW_BUCKET, UNDERFLOW_BUCKET, ZERO_BUCKET, bucket_edges, bucket_values
from emac_sim.kernels import draws
from emac_sim.kernels.histogram import bucket_index
from emac_sim.kernels.special import ndtr
from emac_sim.model import distributions as D
from emac_sim.model.quantiles import TABLE_POINTS, TABLE_W, _isf_upper, _sf, gamma_constants, logit_grid, piecewise_points, quantile_table

# ----------------------------------------------------------------------------- special functions


def test_ndtr_matches_scipy():
    zs = np.linspace(-30, 30, 301)
    # libm erfc and cephes differ by ~1e-14 relative only in the far tail (|z| > 25)
    assert np.allclose([ndtr(z) for z in zs], special.ndtr(zs), rtol=1e-13, atol=1e-300)


# ----------------------------------------------------------------------------- random stream


@njit
def _mixed_draws(rng, n, out):
    for i in range(n):
        k = i % 3
        if k == 0:
            out[i] = rng.random()
        elif k == 1:
            out[i] = rng.standard_normal()
        else:
            out[i] = rng.standard_exponential()


def test_generator_draws_inside_numba_are_numpys_draws():
    # the contract the reference simulator relies on: the same calls give the same numbers and
    # leave the stream in the same place, inside @njit or from Python
    a, b = np.random.Generator(np.random.PCG64(11)), np.random.Generator(np.random.PCG64(11))
    out = np.empty(30000)
    _mixed_draws(a, out.size, out)
    want = np.empty(out.size)
    for i in range(out.size):
        want[i] = (b.random, b.standard_normal, b.standard_exponential)[i % 3]()
    assert np.array_equal(out, want)
    assert a.bit_generator.state == b.bit_generator.state


@njit
def _gammas(rng, shape, b, c, n, out):
    for i in range(n):
        out[i] = draws.std_gamma(rng, shape, b, c)


@pytest.mark.parametrize("shape", [0.05, 0.3, 0.999, 1.0, 1.5625, 3.0, 40.0])
def test_std_gamma_is_numpys_standard_gamma_draw_for_draw(shape):
    a, b = np.random.Generator(np.random.PCG64(5)), np.random.Generator(np.random.PCG64(5))
    out = np.empty(20000)
    _gammas(a, shape, *gamma_constants(shape), out.size, out)
    want = np.array([b.standard_gamma(shape) for _ in range(out.size)])
    assert np.array_equal(out, want)
    assert a.bit_generator.state == b.bit_generator.state


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


# ----------------------------------------------------------------------------- latency draws


PIECEWISE = [
    D.Empirical(quantiles=((0.5, 0.020), (0.9, 0.045), (0.99, 0.120), (1.0, 0.900))),
    D.Empirical(quantiles=((0.5, 0.020), (0.9, 0.045), (0.99, 0.120))),  # exponential tail beyond p99
    D.Histogram(buckets=((0.01, 10.0), (0.025, 60.0), (0.05, 60.0), (0.1, 95.0), (0.25, 99.0), (math.inf, 100.0))),
]
U_GRID = np.concatenate([[2.0**-53, 1e-12, 1e-6], np.linspace(0.001, 0.999, 999), [1 - 1e-6, 1 - 1e-12, 1 - 2.0**-53]])


def _pw(dist):
    p, x = piecewise_points(dist)
    return np.concatenate([p, x]), len(p), *dist._tail()


@pytest.mark.parametrize("dist", PIECEWISE, ids=["empirical", "empirical-tail", "histogram-flat-stretch"])
def test_piecewise_draw_is_the_exact_inverse(dist):
    tab, n, pn, xn, theta = _pw(dist)
    body = U_GRID[(U_GRID > 1e-6) & (U_GRID < 0.98)]
    got = np.array([draws.piecewise(tab, 0, n, pn, xn, theta, u, 1.0 - u) for u in body])
    assert np.allclose(got, dist.ppf(body), rtol=1e-12, atol=1e-15)
    s = np.array([1e-3, 1e-9, 1e-15, 2.0**-53])
    tail = np.array([draws.piecewise(tab, 0, n, pn, xn, theta, 1.0 - x, x) for x in s])
    if theta > 0:
        assert np.allclose(tail, xn - theta * np.log(s / (1 - pn)), rtol=1e-12)
        assert np.all(np.diff(tail) > 0)
    else:
        assert np.all(tail <= xn)


def _exact_quantile(dist, u, s):
    """Independent quantiles: gamma from scipy's incomplete-gamma inverses, mixtures by
    300-step bisection on F (lower half) or the survival function (upper half)."""
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
    values, log_flag = quantile_table(dist)
    assert len(values) == TABLE_POINTS
    inv = (TABLE_POINTS - 1) / (2 * TABLE_W)
    w = np.random.default_rng(5).uniform(-TABLE_W + 0.5, TABLE_W - 0.5, 3000)
    u, s = special.expit(w), special.expit(-w)
    got = np.array([draws.table(values, 0, TABLE_POINTS, -TABLE_W, inv, log_flag, a, b) for a, b in zip(u, s)])
    want = _exact_quantile(dist, u, s)
    ok = want > 1e-250  # the mixtures' far lower tail underflows the bisection
    assert np.all(np.abs(got[ok] - want[ok]) <= accuracy * want[ok])


def test_table_grid_reaches_the_extreme_uniforms():
    w, u, s = logit_grid()
    smallest = 2.0**-53
    assert w[0] <= math.log(smallest / (1 - smallest)) and w[-1] >= -math.log(smallest / (1 - smallest))
    assert np.all(u + s == pytest.approx(1.0))


def test_latent_helpers_keep_both_tails():
    for z in (-38.0, -8.0, -2.0, 0.0, 0.7, 6.0, 38.0):
        u, s = draws.latent_u(z)
        assert 0.0 < u <= 1.0 and 0.0 < s <= 1.0
        assert u == pytest.approx(max(special.ndtr(z), 5e-324), rel=1e-12)
        assert draws.log_sf(z) == pytest.approx(special.log_ndtr(-z), rel=1e-12)


def _wide_mixed_fork(width: int):
    """A ``parallel`` fork ``width`` wide over components of three different samplers, in an
    order that repeats no chunk of children: the shape outlining cannot share."""
    from emac_sim.spec import load_spec_text

    kinds = ["{dist: lognormal, p50: 20ms, p99: 80ms}", "{dist: gamma, mean: 30ms, cv: 0.5}", "{dist: exponential, mean: 10ms}"]
    comps = "\n".join(f"    c{i}: {{availability: 0.999, latency: {k}}}" for i, k in enumerate(kinds))
    rng = __import__("random").Random(3)
    branches = ", ".join(f"{{ref: c{rng.randrange(3)}}}" for _ in range(width))
    text = (
        "apiVersion: emac.dev/v1alpha1\nkind: JourneyIntent\nmetadata: {name: wide}\n"
        f"spec:\n  operator: {{type: parallel, join: all, branches: [{branches}]}}\n  components:\n{comps}\n"
    )
    return load_spec_text(text, "wide.yaml")


def test_a_kernel_too_large_to_compile_is_refused_in_one_line_before_numba(monkeypatch) -> None:
    from emac_sim.analytic.scenarios import resolve_scenario
    from emac_sim.engine.codegen import KernelOptions, KernelTooLarge, generate
    from emac_sim.errors import SpecError

    j = _wide_mixed_fork(3000)
    scenario, _ = resolve_scenario(j, "declared", None)
    with pytest.raises(KernelTooLarge) as err:
        generate(j, scenario, KernelOptions())
    assert isinstance(err.value, SpecError)
    assert str(err.value).startswith("wide.yaml: spec.operator: the journey's kernel would be ")
    assert "over the limit of 8,000 (EMAC_MAX_KERNEL_LINES)" in str(err.value)
    monkeypatch.setenv("EMAC_MAX_KERNEL_LINES", "1000000")  # raised: the same journey generates
    assert generate(j, scenario, KernelOptions()).source.count("\n") > 8_000
