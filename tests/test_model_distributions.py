"""Latency distributions: inverse pairs, closed forms (scipy.stats), means, piecewise tails, mixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from emac_sim.model import distributions as D
from emac_sim.spec.loader import _Ctx, parse_distribution

Q = np.array([1e-4, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999])

EMPIRICAL = D.Empirical(quantiles=((0.5, 0.020), (0.9, 0.045), (0.99, 0.120)))
EMPIRICAL_CLOSED = D.Empirical(quantiles=((0.5, 0.020), (0.9, 0.045), (0.99, 0.120), (1.0, 0.900)))
HISTOGRAM = D.Histogram(buckets=((0.1, 50.0), (0.2, 90.0), (math.inf, 100.0)))
MIXTURE = D.Mixture(components=((0.95, D.LogNormal.from_quantiles(0.02, 0.06)), (0.05, D.Exponential(mean_s=0.15))))

# (distribution, frozen scipy equivalent or None)
CASES = {
    "lognormal": (D.LogNormal(mu=math.log(0.05), sigma=0.6), stats.lognorm(s=0.6, scale=0.05)),
    "gamma": (D.Gamma(shape=2.5, scale=0.01), stats.gamma(a=2.5, scale=0.01)),
    "gamma-small-shape": (D.Gamma(shape=0.4, scale=0.1), stats.gamma(a=0.4, scale=0.1)),
    "weibull": (D.Weibull(shape=1.5, scale=0.03), stats.weibull_min(c=1.5, scale=0.03)),
    "exponential": (D.Exponential(mean_s=0.04), stats.expon(scale=0.04)),
    "pareto": (D.Pareto(scale=0.01, alpha=2.5), stats.pareto(b=2.5, scale=0.01)),
    "empirical": (EMPIRICAL, None),
    "empirical-closed": (EMPIRICAL_CLOSED, None),
    "histogram": (HISTOGRAM, None),
    "mixture": (MIXTURE, None),
}
CONTINUOUS = list(CASES)


def test_every_kind_is_covered():
    kinds = {d.kind for d, _ in CASES.values()} | {"constant"}
    assert kinds == set(D.DISTRIBUTION_KINDS)


@pytest.mark.parametrize("name", CONTINUOUS)
def test_cdf_of_ppf_is_identity(name):
    d, _ = CASES[name]
    np.testing.assert_allclose(d.cdf(d.ppf(Q)), Q, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", CONTINUOUS)
def test_ppf_is_monotone_and_sf_complements_cdf(name):
    d, _ = CASES[name]
    qs = np.linspace(0.0005, 0.9995, 2001)
    x = d.ppf(qs)
    assert np.all(np.diff(x) >= 0)
    grid = np.linspace(0.0, float(d.ppf(0.9999)), 500)
    np.testing.assert_allclose(d.sf(grid), 1.0 - d.cdf(grid), atol=1e-15)
    assert np.all(np.diff(d.cdf(grid)) >= -1e-15)
    assert float(d.cdf(-1.0)) == 0.0


@pytest.mark.parametrize("name", [n for n, (_, ref) in CASES.items() if ref is not None])
def test_closed_forms_match_scipy(name):
    d, ref = CASES[name]
    x = ref.ppf(Q)
    np.testing.assert_allclose(d.cdf(x), ref.cdf(x), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(d.sf(x), ref.sf(x), rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(d.ppf(Q), ref.ppf(Q), rtol=1e-10)
    assert d.mean() == pytest.approx(ref.mean(), rel=1e-12)


@pytest.mark.parametrize("name", CONTINUOUS)
def test_mean_is_the_integral_of_the_survival_function(name):
    # E[T] = ∫₀^∞ S(x) dx for T ≥ 0: an independent route to every mean, piecewise ones included
    d, _ = CASES[name]
    breaks = sorted({0.0, *(float(v) for v in d.ppf(np.array([0.5, 0.9, 0.99, 0.999])))})
    total = sum(integrate.quad(lambda x: float(d.sf(x)), a, b, limit=200)[0] for a, b in zip(breaks, breaks[1:]))
    total += integrate.quad(lambda x: float(d.sf(x)), breaks[-1], np.inf, limit=200)[0]
    assert d.mean() == pytest.approx(total, rel=1e-6)


def test_pareto_mean_infinite_for_alpha_at_most_one():
    assert D.Pareto(scale=0.01, alpha=1.0).mean() == math.inf
    assert D.Pareto(scale=0.01, alpha=0.5).mean() == math.inf


def test_lognormal_from_quantiles():
    d = D.LogNormal.from_quantiles(0.018, 0.070)
    assert float(d.ppf(0.5)) == pytest.approx(0.018, rel=1e-12)
    assert float(d.ppf(0.99)) == pytest.approx(0.070, rel=1e-12)


def test_lognormal_point_mass():
    d = D.LogNormal.from_quantiles(0.05, 0.05)
    assert d.sigma == 0.0
    np.testing.assert_allclose(d.ppf(np.array([0.0, 0.5, 1.0])), 0.05)
    at = math.exp(d.mu)
    assert float(d.cdf(at * 0.999)) == 0.0 and float(d.cdf(at)) == 1.0


def test_gamma_from_mean_cv():
    d = D.Gamma.from_mean_cv(0.025, 0.8)
    ref = stats.gamma(a=d.shape, scale=d.scale)
    assert ref.mean() == pytest.approx(0.025, rel=1e-12)
    assert ref.std() / ref.mean() == pytest.approx(0.8, rel=1e-12)


def test_constant():
    d = D.Constant(value=0.005)
    np.testing.assert_array_equal(d.ppf(Q), np.full_like(Q, 0.005))
    # generalised inverse: F(F⁻¹(q)) ≥ q, F⁻¹(F(x)) ≤ x
    assert np.all(d.cdf(d.ppf(Q)) >= Q)
    assert float(d.cdf(0.0049)) == 0.0 and float(d.cdf(0.005)) == 1.0
    assert d.mean() == 0.005 and d.upper() == 0.005


# --------------------------------------------------------------------------- piecewise


def test_empirical_interpolates_linearly_between_points():
    d = EMPIRICAL
    for p, x in d.quantiles:
        assert float(d.cdf(x)) == pytest.approx(p, abs=1e-15)
        assert float(d.ppf(p)) == pytest.approx(x, abs=1e-15)
    # halfway between q0.5 = 20 ms and q0.9 = 45 ms
    assert float(d.ppf(0.7)) == pytest.approx(0.0325, abs=1e-15)
    # below the first point: linear from (0 s, 0)
    assert float(d.ppf(0.25)) == pytest.approx(0.010, abs=1e-15)


def test_empirical_exponential_tail():
    d = EMPIRICAL
    pn, xn = 0.99, 0.120
    density = (0.99 - 0.9) / (0.120 - 0.045)  # of the last segment
    theta = (1 - pn) / density
    for dx in (0.0, 0.01, 0.1, 1.0):
        assert float(d.sf(xn + dx)) == pytest.approx((1 - pn) * math.exp(-dx / theta), rel=1e-12)
    # the density is continuous at the last point
    h = 1e-7
    left = (float(d.cdf(xn)) - float(d.cdf(xn - h))) / h
    right = (float(d.cdf(xn + h)) - float(d.cdf(xn))) / h
    assert right == pytest.approx(left, rel=1e-5)
    assert float(d.ppf(0.999)) == pytest.approx(xn - theta * math.log(0.001 / 0.01), rel=1e-12)
    assert d.upper(1e-9) == pytest.approx(xn - theta * math.log(1e-9 / 0.01), rel=1e-9)


def test_empirical_with_a_maximum_has_no_tail():
    d = EMPIRICAL_CLOSED
    assert float(d.cdf(0.9)) == 1.0 and float(d.sf(5.0)) == 0.0
    assert float(d.ppf(1.0)) == 0.9
    assert d.upper() == 0.9


def test_empirical_flat_stretch_takes_the_first_point():
    d = D.Empirical(quantiles=((0.5, 0.01), (0.8, 0.01), (1.0, 0.03)))
    # an atom at 10 ms (probability 0.3): the generalised inverse lands on it
    assert float(d.ppf(0.6)) == pytest.approx(0.01)
    assert float(d.cdf(0.01)) == pytest.approx(0.8)
    assert np.all(d.cdf(d.ppf(Q)) >= Q - 1e-15)


def _prometheus_histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """histogram_quantile() as Prometheus computes it for a rank inside the finite buckets."""
    total = buckets[-1][1]
    rank = q * total
    start, below = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            return start + (le - start) * (rank - below) / (count - below)
        start, below = le, count
    raise AssertionError("rank in the +Inf bucket")


def test_histogram_matches_prometheus_inside_buckets():
    buckets = [(0.025, 300.0), (0.05, 720.0), (0.1, 930.0), (0.25, 990.0), (0.5, 998.0), (math.inf, 1000.0)]
    d = D.Histogram(buckets=tuple(buckets))
    for q in (0.01, 0.1, 0.3, 0.5, 0.72, 0.9, 0.95, 0.99, 0.995, 0.998):
        assert float(d.ppf(q)) == pytest.approx(_prometheus_histogram_quantile(q, buckets), rel=1e-12)


def test_histogram_tail_beyond_the_last_finite_bucket():
    d = HISTOGRAM
    assert float(d.ppf(0.5)) == pytest.approx(0.1) and float(d.ppf(0.7)) == pytest.approx(0.15)
    theta = 0.1 / ((0.9 - 0.5) / 0.1)  # (1 − p_n) / last-segment density = 0.025 s
    assert float(d.sf(0.2 + theta)) == pytest.approx(0.1 * math.exp(-1.0), rel=1e-12)
    assert d.total == 100.0


def test_histogram_all_mass_in_finite_buckets():
    d = D.Histogram(buckets=((0.1, 10.0), (0.2, 20.0), (math.inf, 20.0)))
    assert float(d.cdf(0.2)) == 1.0 and d.upper() == 0.2
    assert d.mean() == pytest.approx(0.1)  # uniform on [0, 0.2]


# --------------------------------------------------------------------------- mixtures


def test_mixture_cdf_and_mean_are_weighted():
    x = np.array([0.005, 0.02, 0.05, 0.3])
    w, a = MIXTURE.components[0]
    v, b = MIXTURE.components[1]
    np.testing.assert_allclose(MIXTURE.cdf(x), w * a.cdf(x) + v * b.cdf(x), rtol=1e-15)
    assert MIXTURE.mean() == pytest.approx(w * a.mean() + v * b.mean(), rel=1e-15)


@pytest.mark.parametrize("q", [0.001, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999, 0.99999])
def test_mixture_ppf_is_the_root_of_the_cdf(q):
    root = optimize.brentq(lambda x: float(MIXTURE.cdf(x)) - q, 1e-9, 100.0, xtol=1e-15, rtol=1e-14)
    assert float(MIXTURE.ppf(q)) == pytest.approx(root, rel=1e-10)


def test_mixture_ppf_scalar_and_array_shapes():
    assert np.ndim(MIXTURE.ppf(0.5)) == 0
    qs = np.array([[0.1, 0.5], [0.9, 0.99]])
    out = MIXTURE.ppf(qs)
    assert out.shape == (2, 2)
    np.testing.assert_allclose(out.ravel(), [float(MIXTURE.ppf(q)) for q in qs.ravel()], rtol=1e-12)


def test_mixture_with_an_atom():
    d = D.Mixture(components=((0.3, D.Constant(value=0.001)), (0.7, D.Exponential(mean_s=0.02))))
    assert float(d.ppf(0.2)) == pytest.approx(0.001, rel=1e-9)  # inside the atom's jump
    assert np.all(d.cdf(d.ppf(Q)) >= Q - 1e-12)


def test_mixture_samples_follow_the_cdf():
    # sample by picking a component, then its own inverse: a route independent of Mixture.ppf;
    # KS test at alpha = 1e-3 with a fixed seed
    rng = np.random.default_rng(20260205)
    n = 20_000
    pick = rng.random(n) < MIXTURE.components[0][0]
    u = rng.random(n)
    x = np.where(pick, MIXTURE.components[0][1].ppf(u), MIXTURE.components[1][1].ppf(u))
    assert stats.kstest(x, MIXTURE.cdf).pvalue > 1e-3


@pytest.mark.parametrize("name", CONTINUOUS)
def test_inverse_transform_samples_pass_ks(name):
    # ppf(U) must have distribution cdf: catches a ppf that is a different function than cdf⁻¹
    d, ref = CASES[name]
    rng = np.random.default_rng(7)
    x = d.ppf(rng.random(5000))
    assert stats.kstest(x, ref.cdf if ref is not None else d.cdf).pvalue > 1e-3


# --------------------------------------------------------------------------- bounds, spec


@pytest.mark.parametrize("name", CONTINUOUS)
def test_upper_leaves_at_most_eps(name):
    d, _ = CASES[name]
    assert float(d.sf(d.upper(1e-7))) <= 1e-7 * (1 + 1e-6)


@pytest.mark.parametrize("name", [*CONTINUOUS, "constant"])
def test_to_spec_parses_back_to_an_equal_distribution(name):
    d = CASES[name][0] if name in CASES else D.Constant(value=0.005)
    again = parse_distribution(_Ctx("<test>"), d.to_spec(), "latency")
    assert again == d


def test_describe():
    assert D.LogNormal.from_quantiles(0.018, 0.07).describe() == "lognormal p50=18ms p99=70ms"
