"""Discovery's latency fits against known truth (scipy.stats fits and KS, issue 14).

Samples are drawn with a fixed seed from a known distribution. The maximum-likelihood estimate θ̂
of n draws is asymptotically normal with covariance I(θ)⁻¹/n (I: the Fisher information of one
draw, in closed form below), so the Wald statistic n·(θ̂ − θ)ᵀ I (θ̂ − θ) is χ² with as many degrees
of freedom as parameters; each test accepts at α = 1e-3, jointly and per parameter. Kolmogorov–Smirnov
with parameters fitted to the sample is conservative (Lilliefors), so its p-value exceeding 1e-3
for the true family is at least as likely as for a fully specified one.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, special, stats

from emac_sim.discover.stats import fit_latency
from emac_sim.spec.limits import WEIBULL_SHAPE_RANGE, within_limits

ALPHA = 1e-3
N = 4000
EULER = float(np.euler_gamma)


def _gamma_info(shape: float, scale: float) -> np.ndarray:
    return np.array([[special.polygamma(1, shape), 1 / scale], [1 / scale, shape / scale**2]])


def _weibull_info(shape: float, scale: float) -> np.ndarray:
    return np.array([[(math.pi**2 / 6 + (1 - EULER) ** 2) / shape**2, -(1 - EULER) / scale], [-(1 - EULER) / scale, shape**2 / scale**2]])


def _lognormal_info(mu: float, sigma: float) -> np.ndarray:
    return np.diag([1 / sigma**2, 2 / sigma**2])


# family: (truth as spec parameters, Fisher information of one draw, sampler, a wrong family KS must reject)
CASES = {
    "gamma": ({"shape": 2.5, "scale": 0.004}, _gamma_info, lambda rng, p: rng.gamma(p["shape"], p["scale"], N), "lognormal"),
    "weibull": ({"shape": 0.8, "scale": 0.02}, _weibull_info, lambda rng, p: p["scale"] * rng.weibull(p["shape"], N), "lognormal"),
    "lognormal": ({"mu": math.log(0.02), "sigma": 0.5}, _lognormal_info, lambda rng, p: rng.lognormal(p["mu"], p["sigma"], N), "weibull"),
    "exponential": ({"mean": 0.01}, lambda m: np.array([[1 / m**2]]), lambda rng, p: rng.exponential(p["mean"], N), "lognormal"),
}


def _sample(family: str) -> np.ndarray:
    truth, _, draw, _ = CASES[family]
    return draw(np.random.default_rng(14), truth)


@pytest.mark.parametrize("family", CASES)
def test_the_fit_recovers_known_parameters_within_the_mle_interval(family: str) -> None:
    truth, info, _, _ = CASES[family]
    fit = fit_latency(_sample(family))
    got = fit.fits[family]["params"]
    theta = np.array(list(truth.values()))
    d = np.array([got[k] for k in truth]) - theta
    fisher = info(*theta)
    wald = N * float(d @ fisher @ d)
    assert wald < stats.chi2.ppf(1 - ALPHA, len(theta)), (got, wald)
    se = np.sqrt(np.diag(np.linalg.inv(fisher)) / N)
    assert np.all(np.abs(d) < stats.norm.ppf(1 - ALPHA / 2) * se), (got, d / se)


@pytest.mark.parametrize("family", CASES)
def test_ks_accepts_the_true_family_and_rejects_a_wrong_one(family: str) -> None:
    wrong = CASES[family][3]
    fit = fit_latency(_sample(family))
    assert fit.fits[family]["ksP"] > ALPHA
    assert fit.fits[wrong]["ksP"] < ALPHA
    # D and p are scipy's one-sample KS against the fitted law, exact distribution of D
    x = _sample(family)
    ref = stats.kstest(x, _frozen(fit.fits[family]["params"]).cdf, method="exact")
    assert fit.fits[family]["ksD"] == pytest.approx(ref.statistic, rel=1e-9)
    assert fit.fits[family]["ksP"] == pytest.approx(ref.pvalue, rel=1e-6)
    if family != "exponential":  # exponential data: gamma and Weibull nest it, AIC may prefer either
        assert fit.best == family and fit.chosen_kind == "fit"
        assert fit.chosen.to_spec() == fit.fits[family]["params"]


def _frozen(p: dict):
    kind = p["dist"]
    if kind == "gamma":
        return stats.gamma(p["shape"], scale=p["scale"])
    if kind == "weibull":
        return stats.weibull_min(p["shape"], scale=p["scale"])
    if kind == "lognormal":
        return stats.lognorm(p["sigma"], scale=math.exp(p["mu"]))
    return stats.expon(scale=p["mean"])


def test_gamma_and_weibull_fits_solve_their_likelihood_equations() -> None:
    """The fitted shapes are roots of the score equations (location 0), to rounding."""
    x = _sample("gamma")
    k = fit_latency(x).fits["gamma"]["params"]
    assert math.log(k["shape"]) - special.digamma(k["shape"]) == pytest.approx(math.log(x.mean()) - np.log(x).mean(), abs=1e-12)
    assert k["scale"] == pytest.approx(x.mean() / k["shape"], rel=1e-12)
    x = _sample("weibull")
    w = fit_latency(x).fits["weibull"]["params"]
    lx, c = np.log(x), w["shape"]
    xc = x**c
    assert 1 / c + lx.mean() - float(np.sum(xc * lx) / np.sum(xc)) == pytest.approx(0.0, abs=1e-10)
    assert w["scale"] == pytest.approx(float(np.mean(xc)) ** (1 / c), rel=1e-10)


def test_weibull_fit_agrees_with_scipy_weibull_min_fit() -> None:
    """The Weibull fit (scipy's Gumbel fit of ln T) is the optimum scipy's weibull_min.fit(floc=0)
    approaches with a generic Nelder–Mead: the same parameters to the simplex's precision, and a
    log-likelihood no lower."""
    x = _sample("weibull")
    w = fit_latency(x).fits["weibull"]

    def tight(func, x0, args=(), disp=0):
        return optimize.fmin(func, x0, args=args, xtol=1e-10, ftol=1e-12, maxiter=20_000, maxfun=40_000, disp=disp)

    # durations in units of their median, so that the simplex works on numbers of order one
    med = float(np.median(x))
    c, _, lam = stats.weibull_min.fit(x / med, floc=0, optimizer=tight)
    assert w["params"]["shape"] == pytest.approx(c, rel=1e-6)
    assert w["params"]["scale"] == pytest.approx(lam * med, rel=1e-6)
    ll_generic = float(np.sum(stats.weibull_min.logpdf(x, c, scale=lam * med)))
    assert w["logLikelihood"] >= ll_generic - 1e-9 * abs(ll_generic)


def test_a_fit_outside_the_loaders_ranges_is_reported_not_chosen() -> None:
    """Weibull shape 150 lies beyond what a spec accepts (≤ 100): the fit is reported, the spec gets
    the next family or, when KS rejects that at 0.01, the empirical quantiles."""
    truth = {"shape": 150.0, "scale": 0.01}
    x = truth["scale"] * np.random.default_rng(14).weibull(truth["shape"], N)
    fit = fit_latency(x)
    got = fit.fits["weibull"]
    assert got["params"]["shape"] > WEIBULL_SHAPE_RANGE[1] and got["ksP"] > ALPHA
    d = np.array([got["params"]["shape"], got["params"]["scale"]]) - np.array(list(truth.values()))
    assert N * float(d @ _weibull_info(*truth.values()) @ d) < stats.chi2.ppf(1 - ALPHA, 2)
    assert fit.best != "weibull" and within_limits(fit.chosen)
    assert fit.chosen_kind == "empirical" and fit.ks_p < 0.01
