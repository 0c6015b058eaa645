"""Multi-server queues for components that declare ``capacity: {replicas, serviceTime}``.

A component with ``c`` replicas, Poisson arrivals at rate ``λ`` (requests/s) and i.i.d. service
times ``S`` (mean ``1/μ`` seconds, squared coefficient of variation ``cs² = Var S / (E S)²``) is
an M/G/c FCFS queue. Its response time is ``R = W + S`` with ``W`` the waiting time in the queue,
independent of the call's own service time.

Waiting time
------------
- **M/M/c** (``cs² = 1``, exponential service) is exact: with offered load ``a = λ/μ`` and
  utilisation ``ρ = a/c < 1``, the probability of waiting is Erlang's C formula ``C(c, a)`` and

      P(W > t) = C(c, a) · exp(−(cμ − λ) t)         (Erlang 1917; Kleinrock, Queueing Systems I §3.5)

- **M/G/c** uses the Allen–Cunneen approximation: the probability of waiting is kept at
  ``C(c, a)`` and the conditional wait stays exponential with its mean scaled by
  ``(1 + cs²)/2`` (Poisson arrivals have ``ca² = 1``)::

      P(W > t) ≈ C(c, a) · exp(−θ t),   θ = (cμ − λ) · 2 / (1 + cs²)

  so ``E[W] ≈ C/(cμ − λ) · (1 + cs²)/2`` (Allen, *Probability, Statistics and Queueing Theory*,
  2nd ed. 1990, §6.3; Kingman's heavy-traffic limit has the same scaling and an exponential
  conditional wait). It is exact for ``cs² = 1`` and for ``c = 1`` gives the Pollaczek–Khinchine
  mean; for ``c > 1`` and light load it is typically within 10–20 % on ``E[W]``; it is an
  engineering approximation, and results say which model was used.

Utilisation ``ρ ≥ 1`` has no stationary regime: :class:`QueueStats` says ``saturated`` and the
waiting time is infinite; no number is invented for it.

Response time
-------------
``P(R ≤ x) = F_S(x) − C · ∫₀ˣ e^{−θ(x−s)} dF_S(s)`` is evaluated on a uniform grid (service mass
spread uniformly inside each cell, the exponential integrated exactly), then turned into a
quantile table (:class:`~emac_sim.model.distributions.Empirical`) that the analytic layer and the
Monte Carlo engine both consume. The grid step bounds the discretisation error of every
quantile (reported as ``grid_step``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from ..model import distributions as D

#: probabilities of the response-time quantile table (dense in the tail, up to 1 − 1e−7)
TABLE_PROBABILITIES: np.ndarray = np.unique(
    np.concatenate([np.linspace(0.0, 0.9, 91), 1.0 - np.logspace(-1.0, -7.0, 121)])
)
GRID_POINTS = 1 << 15


def erlang_c(servers: int, offered_load: float) -> float:
    """Erlang's C formula: probability that an arriving call waits in an M/M/c queue.

    Parameters
    ----------
    servers
        Number of servers ``c ≥ 1``.
    offered_load
        ``a = λ/μ`` in Erlangs (dimensionless), ``0 ≤ a``.

    Returns
    -------
    float
        ``C(c, a)`` in [0, 1]; 1.0 when ``a ≥ c`` (saturated: every call waits).

    Notes
    -----
    Computed through the Erlang B recursion ``B₀ = 1``, ``Bₖ = a·Bₖ₋₁ / (k + a·Bₖ₋₁)`` and
    ``C = B_c / (1 − ρ(1 − B_c))`` with ``ρ = a/c``, which is stable for thousands of servers
    (no factorials). Cost O(c).
    """
    if servers < 1:
        raise ValueError("servers must be >= 1")
    if offered_load < 0 or not math.isfinite(offered_load):
        raise ValueError("offered load must be finite and >= 0")
    if offered_load == 0:
        return 0.0
    rho = offered_load / servers
    if rho >= 1.0:
        return 1.0
    b = 1.0
    for k in range(1, servers + 1):
        b = offered_load * b / (k + offered_load * b)
    return b / (1.0 - rho * (1.0 - b))


def _second_moment_numeric(dist: D.Distribution) -> float:
    """E[S²] = 2∫ x·P(S > x) dx by the trapezoid rule up to the 1 − 1e−12 quantile."""
    hi = dist.upper(1e-12)
    if not math.isfinite(hi) or hi <= 0:
        return 0.0 if hi == 0 else math.inf
    x = np.linspace(0.0, hi, 1 << 16)
    return float(2.0 * np.trapezoid(x * dist.sf(x), x))


def service_moments(dist: D.Distribution) -> tuple[float, float]:
    """(mean in seconds, squared coefficient of variation cs²) of a service-time distribution.

    Closed forms for the parametric families; mixtures combine their parts' moments; piecewise
    (empirical / histogram) distributions integrate their survival function numerically.
    ``cs²`` is ``inf`` for heavy tails without a second moment (Pareto ``alpha ≤ 2``).
    """
    if isinstance(dist, D.Exponential):
        return dist.mean_s, 1.0
    if isinstance(dist, D.Constant):
        return dist.value, 0.0
    if isinstance(dist, D.Gamma):
        return dist.mean(), 1.0 / dist.shape
    if isinstance(dist, D.LogNormal):
        return dist.mean(), math.expm1(dist.sigma**2)
    if isinstance(dist, D.Weibull):
        g1 = math.gamma(1.0 + 1.0 / dist.shape)
        g2 = math.gamma(1.0 + 2.0 / dist.shape)
        return dist.mean(), g2 / g1**2 - 1.0
    if isinstance(dist, D.Pareto):
        if dist.alpha <= 2.0:
            return dist.mean(), math.inf
        return dist.mean(), 1.0 / (dist.alpha * (dist.alpha - 2.0))
    if isinstance(dist, D.Mixture):
        parts = [(w, *service_moments(d)) for w, d in dist.components]
        m = sum(w * mi for w, mi, _ in parts)
        m2 = sum(w * mi**2 * (1.0 + ci) for w, mi, ci in parts)
        return m, (m2 / m**2 - 1.0) if m > 0 else 0.0
    m = dist.mean()
    m2 = _second_moment_numeric(dist)
    return m, (max(m2 / m**2 - 1.0, 0.0) if m > 0 else 0.0)


@dataclass(frozen=True)
class QueueStats:
    """One component's queue at a given arrival rate.

    Attributes
    ----------
    arrival_rate
        λ, calls per second reaching the component.
    servers
        c, replicas.
    mean_service
        E[S], seconds.
    scv
        cs², dimensionless.
    utilisation
        ρ = λ·E[S]/c.
    wait_probability
        P(W > 0) (Erlang C); 1 when saturated.
    wait_rate
        θ, 1/s: P(W > t | W > 0) = exp(−θt); 0 when saturated.
    model
        ``"M/M/c (Erlang C, exact)"`` or ``"M/G/c (Allen–Cunneen)"``.
    """

    arrival_rate: float
    servers: int
    mean_service: float
    scv: float
    utilisation: float
    wait_probability: float
    wait_rate: float
    model: str

    @property
    def saturated(self) -> bool:
        """Utilisation ≥ 1: the queue grows without bound (no stationary waiting time)."""
        return self.utilisation >= 1.0

    @property
    def mean_wait(self) -> float:
        """E[W] in seconds (``inf`` when saturated)."""
        if self.saturated:
            return math.inf
        return 0.0 if self.wait_probability == 0 else self.wait_probability / self.wait_rate

    def waiting_sf(self, t: np.ndarray | float) -> np.ndarray:
        """P(W > t) for ``t`` seconds (array-like); 1 everywhere when saturated."""
        t = np.asarray(t, dtype=np.float64)
        if self.saturated:
            return np.ones_like(t)
        return np.where(t < 0, 1.0, self.wait_probability * np.exp(-self.wait_rate * np.maximum(t, 0.0)))

    def waiting_quantile(self, q: float) -> float:
        """The q-quantile of W in seconds (0 when q ≤ 1 − C; inf when saturated)."""
        if self.saturated:
            return math.inf
        if q <= 1.0 - self.wait_probability:
            return 0.0
        return math.log(self.wait_probability / (1.0 - q)) / self.wait_rate

    def to_dict(self) -> dict:
        return {
            "arrivalRate": self.arrival_rate,
            "replicas": self.servers,
            "meanServiceSeconds": self.mean_service,
            "serviceScv": self.scv,
            "utilisation": self.utilisation,
            "saturated": self.saturated,
            "waitProbability": self.wait_probability,
            "meanWaitSeconds": self.mean_wait,
            "model": self.model,
        }


def queue_stats(arrival_rate: float, servers: int, service: D.Distribution) -> QueueStats:
    """The M/G/c queue of one component (see the module docstring for the formulas).

    Parameters
    ----------
    arrival_rate
        λ in calls per second (≥ 0).
    servers
        Replicas ``c`` (≥ 1).
    service
        Service-time distribution (seconds).

    Raises
    ------
    ValueError
        Service times with infinite variance (the approximation needs a finite cs²) or zero mean.
    """
    mean, scv = service_moments(service)
    if not math.isfinite(mean) or mean <= 0:
        raise ValueError(f"service time needs a finite positive mean, got {mean:g}s")
    if not math.isfinite(scv):
        raise ValueError("service time has infinite variance: the M/G/c approximation needs a finite cv²")
    exact = isinstance(service, D.Exponential) or (isinstance(service, D.Gamma) and abs(service.shape - 1.0) < 1e-12)
    model = "M/M/c (Erlang C, exact)" if exact else "M/G/c (Allen–Cunneen)"
    mu = 1.0 / mean
    a = arrival_rate * mean
    rho = a / servers
    if rho >= 1.0:
        return QueueStats(arrival_rate, servers, mean, scv, rho, 1.0, 0.0, model)
    c_prob = erlang_c(servers, a)
    theta = (servers * mu - arrival_rate) * (1.0 if exact else 2.0 / (1.0 + scv))
    return QueueStats(arrival_rate, servers, mean, scv, rho, c_prob, theta, model)


@dataclass(frozen=True)
class ResponseTime:
    """Response-time distribution ``W + S`` as a quantile table, with its grid step (seconds)."""

    distribution: D.Distribution
    grid_step: float


def response_time(stats: QueueStats, service: D.Distribution, grid_points: int = GRID_POINTS) -> ResponseTime:
    """Distribution of ``R = W + S`` (seconds) for a non-saturated queue.

    Returns ``service`` itself when nobody waits (``λ = 0``). Otherwise the CDF on a uniform
    grid of ``grid_points`` cells up to the point where ``P(R > x) < 1e−9``, converted to an
    :class:`~emac_sim.model.distributions.Empirical` at :data:`TABLE_PROBABILITIES`. Each table
    quantile is within one grid step of the exact quantile of the modelled ``W + S``.

    Raises
    ------
    ValueError
        When the queue is saturated (no stationary response time exists).
    """
    if stats.saturated:
        raise ValueError("saturated queue: the response time has no stationary distribution")
    if stats.wait_probability == 0.0:
        return ResponseTime(service, 0.0)
    c_prob, theta = stats.wait_probability, stats.wait_rate
    hi = float(service.upper(1e-10)) + math.log(max(c_prob, 1e-300) / 1e-10) / theta
    n = int(grid_points)
    h = hi / (n - 1)
    x = np.linspace(0.0, hi, n)
    f_s = np.clip(service.cdf(x), 0.0, 1.0)
    f_s = np.maximum.accumulate(f_s)
    mass = np.diff(f_s, prepend=0.0)
    # G_k = ∫_0^{x_k} e^{−θ(x_k − s)} dF_S(s): mass at x = 0 is an atom; mass of cell k is spread
    # uniformly over (x_{k−1}, x_k], whose exponential weight integrates to (1 − e^{−θh})/(θh)
    decay = math.exp(-theta * h)
    cell = -math.expm1(-theta * h) / (theta * h)
    weights = mass * cell
    weights[0] = mass[0]
    g = _exp_smooth(weights, decay)
    f_r = np.clip(f_s - c_prob * g, 0.0, 1.0)
    f_r = np.maximum.accumulate(f_r)
    probs = TABLE_PROBABILITIES
    # first grid point reaching each probability (right-continuous inverse), then linear inside the cell
    idx = np.searchsorted(f_r, probs, side="left")
    idx = np.clip(idx, 1, n - 1)
    lo_p, hi_p = f_r[idx - 1], f_r[idx]
    frac = np.where(hi_p > lo_p, (probs - lo_p) / np.where(hi_p > lo_p, hi_p - lo_p, 1.0), 0.0)
    q = x[idx - 1] + np.clip(frac, 0.0, 1.0) * h
    q[0] = x[np.argmax(f_r > 0)] if np.any(f_r > 0) else 0.0
    q = np.maximum.accumulate(q)
    pts = tuple((float(p), float(v)) for p, v in zip(probs, q))
    return ResponseTime(D.Empirical(quantiles=pts), h)


def _exp_smooth(w: np.ndarray, decay: float) -> np.ndarray:
    """y_k = decay·y_{k−1} + w_k (a first-order IIR filter; stable since decay ≤ 1)."""
    return signal.lfilter([1.0], [1.0, -decay], w)


def mm_c_response_sf(x: np.ndarray | float, arrival_rate: float, servers: int, mean_service: float) -> np.ndarray:
    """Exact P(R > x) of an M/M/c queue (W + S, both exponential phases), seconds.

    ``P(R > x) = (1 − C)e^{−μx} + C·(θe^{−μx} − μe^{−θx})/(θ − μ)`` with ``θ = cμ − λ``
    (the ``θ = μ`` limit is ``(1 + μx)e^{−μx}`` for the waiting part). Used as a test oracle.
    """
    x = np.asarray(x, dtype=np.float64)
    mu = 1.0 / mean_service
    a = arrival_rate * mean_service
    c_prob = erlang_c(servers, a)
    theta = servers * mu - arrival_rate
    if abs(theta - mu) < 1e-12 * mu:
        waited = (1.0 + mu * x) * np.exp(-mu * x)
    else:
        waited = (theta * np.exp(-mu * x) - mu * np.exp(-theta * x)) / (theta - mu)
    return (1.0 - c_prob) * np.exp(-mu * x) + c_prob * waited


__all__ = [
    "QueueStats",
    "ResponseTime",
    "erlang_c",
    "mm_c_response_sf",
    "queue_stats",
    "response_time",
    "service_moments",
]
