"""Estimates with uncertainty for discovery: proportions, latency fits, and field confidence.

- Proportions (availability, optional-step probability, routing weights) use the **Wilson score
  interval** (Wilson 1927; Agresti & Coull 1998, *Am. Stat.* 52:119): for k successes in n,
  centre (k + z²/2)/(n + z²) and half-width z·sqrt(k(n−k)/n + z²/4)/(n + z²), z = Φ⁻¹(1 − α/2).
- Latency: empirical quantiles of successful calls, and maximum-likelihood fits of lognormal,
  gamma, Weibull and exponential with the location fixed at 0 (``scipy.stats`` fits). The fit
  with the lowest AIC is reported with its Kolmogorov–Smirnov statistic D and exact p-value
  (``scipy.stats.kstest``); since the parameters come from the same sample the p-value is
  conservative (Lilliefors). The spec gets the fitted distribution unless KS rejects it at
  α = 0.01 with n ≥ 50, in which case it gets the empirical quantiles.
- **Confidence** of an inferred field (documented formula, also written into each model)::

      confidence = coverage × agreement × n / (n + N0),   N0 = 10

  *coverage*: share of the journey's traces (or calls) that carry evidence for the field;
  *agreement*: share of that evidence consistent with the inferred value (e.g. traces whose
  branch choice is exactly one branch); *n*: the evidence count, so a field seen 10 times gets at
  most 0.5, 90 times at most 0.9. Fields read from configuration (Istio, Kubernetes) are
  declared, not inferred: confidence 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from ..model import distributions as D
from ..spec.limits import clamp_latency, within_limits

N0 = 10.0
CONFIDENCE_FORMULA = (
    "confidence = coverage * agreement * n / (n + 10); overall = traceCoverage * geometric mean of field confidences (each floored at 0.01)"
)


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Parameters
    ----------
    k, n
        Successes and trials (n ≥ 0; n = 0 gives the uninformative [0, 1]).
    confidence
        Two-sided coverage, e.g. 0.95.

    Returns
    -------
    (lo, hi)
        Interval in [0, 1].
    """
    if n <= 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    p = k / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Evidence:
    """Evidence behind one inferred field; ``confidence`` follows the module formula."""

    n: int
    coverage: float = 1.0
    agreement: float = 1.0
    examples: list[str] = field(default_factory=list)
    values: dict = field(default_factory=dict)
    what: str = ""
    fixed: float | None = None  # fields read from configuration: confidence 1 by declaration

    @property
    def confidence(self) -> float:
        if self.fixed is not None:
            return self.fixed
        if self.n <= 0:
            return 0.0
        return max(0.0, min(1.0, self.coverage)) * max(0.0, min(1.0, self.agreement)) * self.n / (self.n + N0)

    def to_dict(self) -> dict:
        out = {
            "inferred": self.what,
            "confidence": round(self.confidence, 6),
            "evidence": {"n": int(self.n), "coverage": round(self.coverage, 6), "agreement": round(self.agreement, 6)},
        }
        if self.values:
            out["values"] = self.values
        if self.examples:
            out["examples"] = list(self.examples[:5])
        return out


def overall_confidence(confidences: list[float], trace_coverage: float) -> float:
    """traceCoverage × geometric mean of the field confidences (each floored at 0.01)."""
    if not confidences:
        return 0.0
    logs = [math.log(max(c, 0.01)) for c in confidences]
    return float(trace_coverage * math.exp(sum(logs) / len(logs)))


# --------------------------------------------------------------------------- latency


@dataclass
class LatencyFit:
    """Latency evidence for one component (seconds)."""

    n: int
    quantiles: dict[str, float]
    fits: dict[str, dict]
    best: str | None
    ks_d: float | None
    ks_p: float | None
    chosen: D.Distribution | None
    chosen_kind: str  # "fit", "empirical" or "none"

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "quantilesSeconds": self.quantiles,
            "fits": self.fits,
            "best": self.best,
            "goodnessOfFit": None
            if self.ks_d is None
            else {"test": "Kolmogorov-Smirnov (parameters estimated)", "D": self.ks_d, "pValue": self.ks_p},
            "specUses": self.chosen_kind,
        }


def _quantile_points(x: np.ndarray) -> tuple[tuple[float, float], ...]:
    """Quantiles every 2 % (linear CDF in between: KS distance ≤ 0.02 from the sample), plus the
    tail points the sample size supports (0.99 from n ≥ 100, 0.999 from n ≥ 1000)."""
    qs = [round(0.02 * i, 2) for i in range(50)]
    qs += [q for q, need in ((0.99, 100), (0.995, 200), (0.999, 1000)) if x.size >= need]
    qs.append(1.0)
    vals = np.quantile(x, qs)
    vals = np.maximum.accumulate(vals)
    return tuple((float(q), clamp_latency(float(v))) for q, v in zip(qs, vals))


def _lognormal(x: np.ndarray) -> tuple[D.Distribution, np.ndarray]:
    # ln T is Normal(mu, sigma): the fit of the normal to ln T (mean and ddof-0 sd) is the
    # zero-location lognormal fit, in the model's own parameters (lognorm.fit(floc=0) returns
    # exp(mu), whose log gives mu back only to an ulp of the median)
    mu, sigma = stats.norm.fit(np.log(x))
    return D.LogNormal(mu=float(mu), sigma=float(sigma)), stats.lognorm.logpdf(x, sigma, scale=math.exp(mu))


def _gamma(x: np.ndarray) -> tuple[D.Distribution, np.ndarray]:
    shape, _, scale = stats.gamma.fit(x, floc=0)  # root of ln k − ψ(k) = ln mean − mean ln, scale = mean / k
    return D.Gamma(shape=float(shape), scale=float(scale)), stats.gamma.logpdf(x, shape, scale=scale)


def _weibull(x: np.ndarray) -> tuple[D.Distribution, np.ndarray]:
    # ln T of a zero-location Weibull(k, λ) is Gumbel-min(ln λ, 1/k), and the change of variable
    # does not involve the parameters: the same maximum. scipy's gumbel fit solves its score
    # equation to rtol 1e-14; weibull_min.fit(floc=0) runs a generic Nelder–Mead (about 1e-4
    # relative at its default tolerances, 1e-8 at best) from a method-of-moments start that fails
    # on very spread samples. tests/test_discover_fits.py holds the two routes together.
    lx = np.log(x)
    guess = float(lx.std()) * math.sqrt(6.0) / math.pi  # Var ln T = π²/(6k²)
    loc, scale = stats.gumbel_l.fit(lx, scale=guess if guess > 0 else 1.0)
    shape, lam = 1.0 / float(scale), math.exp(float(loc))
    return D.Weibull(shape=shape, scale=lam), stats.weibull_min.logpdf(x, shape, scale=lam)


def _exponential(x: np.ndarray) -> tuple[D.Distribution, np.ndarray]:
    _, scale = stats.expon.fit(x, floc=0)  # the mean
    return D.Exponential(mean_s=float(scale)), stats.expon.logpdf(x, scale=scale)


# family → (maximum-likelihood fit with location 0 returning the distribution and the pointwise
# log-densities, free parameters); this order breaks AIC ties
FAMILIES = {"lognormal": (_lognormal, 2), "gamma": (_gamma, 2), "weibull": (_weibull, 2), "exponential": (_exponential, 1)}


def fit_families(x: np.ndarray) -> dict[str, tuple[D.Distribution, float, int]]:
    """Maximum-likelihood fits of every family in :data:`FAMILIES` (scipy.stats, location 0).

    Parameters
    ----------
    x
        1-D float64 array of durations in seconds, all > 0, not all equal.

    Returns
    -------
    dict
        Family name → (distribution, log-likelihood, number of free parameters), for the families
        whose fit converged to finite parameters with a finite log-likelihood.
    """
    out: dict[str, tuple[D.Distribution, float, int]] = {}
    for name, (fit, k) in FAMILIES.items():
        try:
            with np.errstate(all="ignore"):
                dist, logpdf = fit(x)
                ll = float(np.sum(logpdf))
        except (ValueError, RuntimeError, OverflowError, FloatingPointError, stats.FitError):
            continue  # no maximum in range (a near-constant sample has none for gamma or Weibull)
        if math.isfinite(ll) and all(math.isfinite(v) for v in dist.to_spec().values() if not isinstance(v, str)):
            out[name] = (dist, ll, k)
    return out


def fit_latency(x: np.ndarray, alpha: float = 0.01) -> LatencyFit:
    """Empirical quantiles plus the best of four ML fits (module docs), for durations ``x`` (s).

    Parameters
    ----------
    x
        1-D array of non-negative durations in seconds.
    alpha
        KS rejection level above which the fitted family is used in the spec.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x) & (x >= 0)]
    n = int(x.size)
    if n == 0:
        return LatencyFit(0, {}, {}, None, None, None, None, "none")
    qd = {name: float(np.quantile(x, q)) for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))}
    qd["max"] = float(x.max())
    if float(x.max()) == 0.0:
        return LatencyFit(n, qd, {}, None, None, None, None, "none")
    fits: dict[str, dict] = {}
    cands = fit_families(x) if n >= 2 and float(x.min()) > 0 and float(np.ptp(x)) > 0 else {}
    best, best_aic = None, math.inf
    for name, (dist, ll, k) in cands.items():
        aic = 2 * k - 2 * ll
        d_ks, p_ks = ks_test(x, dist)
        fits[name] = {"params": dist.to_spec(), "logLikelihood": ll, "aic": aic, "ksD": d_ks, "ksP": p_ks}
        # a fit the spec loader would refuse (a gamma shape of 1e5, a lognormal sigma of 8) is
        # reported but not chosen: the discovered model must load again
        if aic < best_aic and within_limits(dist):
            best, best_aic = name, aic
    if best is None:
        emp = D.Empirical(quantiles=_quantile_points(x)) if n >= 2 and float(np.ptp(x)) > 0 else D.Constant(value=clamp_latency(float(np.median(x))))
        return LatencyFit(n, qd, fits, None, None, None, emp, "empirical")
    d, p = fits[best]["ksD"], fits[best]["ksP"]
    if p < alpha and n >= 50:
        return LatencyFit(n, qd, fits, best, d, p, D.Empirical(quantiles=_quantile_points(x)), "empirical")
    return LatencyFit(n, qd, fits, best, d, p, cands[best][0], "fit")


def ks_test(x: np.ndarray, dist: D.Distribution) -> tuple[float, float]:
    """One-sample Kolmogorov–Smirnov D of ``x`` against ``dist`` and its p-value (``scipy.stats.kstest``,
    exact distribution of D); with parameters fitted to ``x`` the p-value is conservative."""
    r = stats.kstest(x, dist.cdf, method="exact")
    return float(r.statistic), float(r.pvalue)


def same_distribution(a: np.ndarray, b: np.ndarray, alpha: float = 0.01) -> tuple[bool, float | None]:
    """Two-sample KS test: (not rejected at ``alpha``, p-value); True when either sample is tiny."""
    if a.size < 20 or b.size < 20:
        return True, None
    r = stats.ks_2samp(a, b)
    return bool(r.pvalue >= alpha), float(r.pvalue)
