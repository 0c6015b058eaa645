"""Latency distributions of successful (and failed) calls, in seconds.

Each distribution is a frozen dataclass with vectorised ``cdf``, ``sf``, ``ppf`` and ``mean``,
and ``to_spec()`` giving the YAML mapping it is read from (DESIGN §3). Parameters are stored in a
canonical form (lognormal as ``mu``/``sigma``, gamma as ``shape``/``scale``) so that
load → dump → load gives an equal object.

Piecewise distributions (``empirical``, ``histogram``) interpolate the CDF linearly between the
given points, start at (0 s, 0) when no 0-quantile is given, and continue beyond the last point
below probability 1 with an exponential tail whose density matches the last segment. This is the
same interpolation Prometheus' ``histogram_quantile`` uses inside buckets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import special

ArrayLike = float | np.ndarray

_Z99 = float(special.ndtri(0.99))  # special, not stats: importing scipy.stats costs ~1 s at start


def _arr(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


class Distribution:
    """Base class: a non-negative random duration in seconds."""

    kind: ClassVar[str] = ""

    def cdf(self, x: ArrayLike) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def ppf(self, q: ArrayLike) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def sf(self, x: ArrayLike) -> np.ndarray:
        """Survival function P(T > x)."""
        return 1.0 - self.cdf(x)

    def mean(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def upper(self, eps: float = 1e-7) -> float:
        """A finite point beyond which at most ``eps`` of the mass lies (used to size grids)."""
        return float(self.ppf(1.0 - eps))

    def to_spec(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:
        """Short human rendering: kind with its p50 and p99."""
        p50, p99 = (float(v) for v in self.ppf(np.array([0.5, 0.99])))
        return f"{self.kind} p50={p50 * 1e3:.3g}ms p99={p99 * 1e3:.3g}ms"


@dataclass(frozen=True)
class LogNormal(Distribution):
    """ln T ~ Normal(mu, sigma²); ``from_quantiles(p50, p99)`` gives mu = ln p50, sigma = ln(p99/p50)/z₀.₉₉."""

    mu: float
    sigma: float
    kind: ClassVar[str] = "lognormal"

    @classmethod
    def from_quantiles(cls, p50: float, p99: float) -> LogNormal:
        return cls(mu=math.log(p50), sigma=math.log(p99 / p50) / _Z99)

    def cdf(self, x: ArrayLike) -> np.ndarray:
        x = _arr(x)
        with np.errstate(divide="ignore"):
            if self.sigma == 0:
                return (x >= math.exp(self.mu)).astype(np.float64)
            return np.where(x > 0, special.ndtr((np.log(np.maximum(x, 1e-300)) - self.mu) / self.sigma), 0.0)

    def ppf(self, q: ArrayLike) -> np.ndarray:
        q = _arr(q)
        if self.sigma == 0:  # a point mass; 0 * ndtri(0 or 1) would be nan
            return np.full_like(q, math.exp(self.mu))
        return np.exp(self.mu + self.sigma * special.ndtri(q))

    def mean(self) -> float:
        return math.exp(self.mu + 0.5 * self.sigma**2)

    def to_spec(self) -> dict:
        return {"dist": self.kind, "mu": self.mu, "sigma": self.sigma}


@dataclass(frozen=True)
class Gamma(Distribution):
    """Gamma(shape k, scale θ); ``from_mean_cv``: k = 1/cv², θ = mean·cv²."""

    shape: float
    scale: float
    kind: ClassVar[str] = "gamma"

    @classmethod
    def from_mean_cv(cls, mean: float, cv: float) -> Gamma:
        return cls(shape=1.0 / cv**2, scale=mean * cv**2)

    def cdf(self, x: ArrayLike) -> np.ndarray:
        return special.gammainc(self.shape, np.maximum(_arr(x), 0.0) / self.scale)

    def ppf(self, q: ArrayLike) -> np.ndarray:
        return special.gammaincinv(self.shape, _arr(q)) * self.scale

    def mean(self) -> float:
        return self.shape * self.scale

    def to_spec(self) -> dict:
        return {"dist": self.kind, "shape": self.shape, "scale": self.scale}


@dataclass(frozen=True)
class Weibull(Distribution):
    """Weibull(shape k, scale λ): F(x) = 1 − exp(−(x/λ)^k)."""

    shape: float
    scale: float
    kind: ClassVar[str] = "weibull"

    def cdf(self, x: ArrayLike) -> np.ndarray:
        return -np.expm1(-((np.maximum(_arr(x), 0.0) / self.scale) ** self.shape))

    def ppf(self, q: ArrayLike) -> np.ndarray:
        return self.scale * (-np.log1p(-_arr(q))) ** (1.0 / self.shape)

    def mean(self) -> float:
        return self.scale * math.gamma(1.0 + 1.0 / self.shape)

    def to_spec(self) -> dict:
        return {"dist": self.kind, "shape": self.shape, "scale": self.scale}


@dataclass(frozen=True)
class Exponential(Distribution):
    """Exponential with the given mean (seconds)."""

    mean_s: float
    kind: ClassVar[str] = "exponential"

    def cdf(self, x: ArrayLike) -> np.ndarray:
        return -np.expm1(-np.maximum(_arr(x), 0.0) / self.mean_s)

    def ppf(self, q: ArrayLike) -> np.ndarray:
        return -self.mean_s * np.log1p(-_arr(q))

    def mean(self) -> float:
        return self.mean_s

    def to_spec(self) -> dict:
        return {"dist": self.kind, "mean": self.mean_s}


@dataclass(frozen=True)
class Pareto(Distribution):
    """Pareto type I: minimum ``scale`` x_m, tail index ``alpha``: S(x) = (x_m/x)^α for x ≥ x_m."""

    scale: float
    alpha: float
    kind: ClassVar[str] = "pareto"

    def cdf(self, x: ArrayLike) -> np.ndarray:
        x = _arr(x)
        return np.where(x >= self.scale, 1.0 - (self.scale / np.maximum(x, self.scale)) ** self.alpha, 0.0)

    def ppf(self, q: ArrayLike) -> np.ndarray:
        return self.scale * (1.0 - _arr(q)) ** (-1.0 / self.alpha)

    def mean(self) -> float:
        return math.inf if self.alpha <= 1 else self.alpha * self.scale / (self.alpha - 1.0)

    def to_spec(self) -> dict:
        return {"dist": self.kind, "scale": self.scale, "alpha": self.alpha}


@dataclass(frozen=True)
class Constant(Distribution):
    """A fixed duration."""

    value: float
    kind: ClassVar[str] = "constant"

    def cdf(self, x: ArrayLike) -> np.ndarray:
        return (_arr(x) >= self.value).astype(np.float64)

    def ppf(self, q: ArrayLike) -> np.ndarray:
        return np.full_like(_arr(q), self.value, dtype=np.float64)

    def mean(self) -> float:
        return self.value

    def upper(self, eps: float = 1e-7) -> float:
        return self.value

    def to_spec(self) -> dict:
        return {"dist": self.kind, "value": self.value}


def _piecewise_points(probs: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if probs[0] > 0.0:
        probs = np.concatenate([[0.0], probs])
        xs = np.concatenate([[min(0.0, xs[0])], xs])
    return probs, xs


class _Piecewise(Distribution):
    """Linear CDF between (x, p) points, exponential tail beyond the last point when p < 1."""

    def _points(self) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _tail(self) -> tuple[float, float, float]:
        """(p_n, x_n, theta): S(x) = (1 − p_n)·exp(−(x − x_n)/θ) beyond x_n; θ = 0 when p_n = 1."""
        p, x = self._points()
        pn, xn = float(p[-1]), float(x[-1])
        if pn >= 1.0:
            return pn, xn, 0.0
        # density of the last segment; flat segments fall back to the mean width
        j = len(p) - 1
        while j > 0 and p[j] == p[j - 1]:
            j -= 1
        dens = (p[j] - p[j - 1]) / max(x[j] - x[j - 1], 1e-12) if j > 0 else 1.0 / max(xn, 1e-3)
        # Points covering little of the mass (p_n small) make the density extrapolation
        # meaningless (θ can overflow); the tail mean is then capped at x_n / p_n, which never
        # binds for quantile lists that reach the body of the distribution (p_n ≥ 0.5).
        theta = (1.0 - pn) / max(dens, 1e-300)
        return pn, xn, min(theta, max(xn, 1e-6) / max(pn, 1e-3))

    def cdf(self, x: ArrayLike) -> np.ndarray:
        x = _arr(x)
        p, xs = self._points()
        pn, xn, theta = self._tail()
        inner = np.interp(x, xs, p, left=0.0, right=pn)
        if theta > 0:
            tail = 1.0 - (1.0 - pn) * np.exp(-np.maximum(x - xn, 0.0) / theta)
            return np.where(x > xn, tail, inner)
        return inner

    def ppf(self, q: ArrayLike) -> np.ndarray:
        q = _arr(q)
        p, xs = self._points()
        pn, xn, theta = self._tail()
        # right-continuous inverse on flat stretches: first x reaching q
        uniq_p, idx = np.unique(p, return_index=True)
        inner = np.interp(q, uniq_p, xs[idx])
        if theta > 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                tail = xn - theta * np.log(np.maximum(1.0 - q, 1e-300) / (1.0 - pn))
            return np.where(q > pn, tail, inner)
        return inner

    def mean(self) -> float:
        p, xs = self._points()
        body = float(np.sum(np.diff(p) * 0.5 * (xs[1:] + xs[:-1])))
        pn, xn, theta = self._tail()
        return body + (1.0 - pn) * (xn + theta)


@dataclass(frozen=True)
class Empirical(_Piecewise):
    """Quantile points ``((probability, seconds), …)`` sorted by probability."""

    quantiles: tuple[tuple[float, float], ...]
    kind: ClassVar[str] = "empirical"

    def _points(self) -> tuple[np.ndarray, np.ndarray]:
        p = np.array([q for q, _ in self.quantiles])
        x = np.array([v for _, v in self.quantiles])
        return _piecewise_points(p, x)

    def upper(self, eps: float = 1e-7) -> float:
        pn, xn, theta = self._tail()
        return xn if theta == 0 else float(self.ppf(1.0 - eps))

    def to_spec(self) -> dict:
        return {"dist": self.kind, "quantiles": {p: x for p, x in self.quantiles}}


@dataclass(frozen=True)
class Histogram(_Piecewise):
    """Prometheus-style cumulative buckets ``((le seconds, cumulative count), …)``, ``inf`` last."""

    buckets: tuple[tuple[float, float], ...]
    kind: ClassVar[str] = "histogram"

    @property
    def total(self) -> float:
        return float(self.buckets[-1][1])

    def _points(self) -> tuple[np.ndarray, np.ndarray]:
        finite = [(le, c) for le, c in self.buckets if math.isfinite(le)]
        x = np.array([le for le, _ in finite])
        p = np.array([c for _, c in finite]) / self.total
        return _piecewise_points(p, x)

    def upper(self, eps: float = 1e-7) -> float:
        pn, xn, theta = self._tail()
        return xn if theta == 0 else float(self.ppf(1.0 - eps))

    def to_spec(self) -> dict:
        return {
            "dist": self.kind,
            "buckets": [["+Inf" if math.isinf(le) else le, c] for le, c in self.buckets],
        }


@dataclass(frozen=True)
class Mixture(Distribution):
    """Finite mixture ``((weight, distribution), …)`` with weights summing to 1."""

    components: tuple[tuple[float, Distribution], ...]
    kind: ClassVar[str] = "mixture"

    def cdf(self, x: ArrayLike) -> np.ndarray:
        x = _arr(x)
        return sum(w * d.cdf(x) for w, d in self.components)

    def ppf(self, q: ArrayLike) -> np.ndarray:
        # bisection on [0, max component quantile]; 200 halvings reach float resolution
        q = _arr(q)
        hi = np.maximum.reduce([np.broadcast_to(d.ppf(q), q.shape) for _, d in self.components])
        lo = np.zeros_like(hi)
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            below = self.cdf(mid) < q
            lo = np.where(below, mid, lo)
            hi = np.where(below, hi, mid)
            if np.all(hi - lo <= 1e-15 * np.maximum(hi, 1e-300)):
                break
        return hi

    def mean(self) -> float:
        return float(sum(w * d.mean() for w, d in self.components))

    def upper(self, eps: float = 1e-7) -> float:
        return max(d.upper(eps) for _, d in self.components)

    def to_spec(self) -> dict:
        return {"dist": self.kind, "components": [{"weight": w, "dist": d.to_spec()} for w, d in self.components]}


DISTRIBUTION_KINDS: tuple[str, ...] = (
    "lognormal",
    "gamma",
    "weibull",
    "exponential",
    "pareto",
    "constant",
    "empirical",
    "histogram",
    "mixture",
)
