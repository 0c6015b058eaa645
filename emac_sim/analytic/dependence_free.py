"""Bounds that hold for *any* dependence between calls (DESIGN §5 ``dependenceFree``).

Only each call's marginal law is used: its availability and its latency distributions. Every
other call — including further calls of the same component (retries, repeats, a component
referenced twice) — may depend on it in any way. Choice and optional draws are routing decisions
and stay independent of call outcomes.

Availability (Fréchet–Hoeffding / Boole), through the tree with the outcomes of steps that do not
run taken as *latent* (what the step would have returned):

- all of n events: ``[max(0, Σ lo − (n−1)), min hi]``; any of n: ``[max lo, min(1, Σ hi)]``;
- at least k of n (quorum): ``P(N ≥ k) ≥ max_m (Σ_{m largest} lo − (k−1))/(m − k + 1)`` and
  ``P(N ≥ k) ≤ min_j (Σ_{n−j smallest} hi)/(k − j)`` (Markov on the count);
- fallback, race and retry succeed iff some (latent) branch / attempt succeeds; a timeout's ok
  implies its step's ok.

Latency: CDF bands of the defective laws ``P(ok, t ≤ x)`` and ``P(not ok, t ≤ x)`` on a grid,
composed with

- **Fréchet** for max / min / unions (fork-join, race, all-finished events);
- **Makarov** for sums: ``P(A ∩ B, t_A + t_B ≤ x) ≥ sup_y [P(A, t_A ≤ y) + P(B, t_B ≤ x−y) − 1]⁺``
  and ``≤ inf_y [P(A, t_A ≤ y) + P(B, t_B ≤ x−y)]``, composed pairwise (the sup/inf convolution
  is associative, so an n-term sum costs n−1 folds, each O(G²), never exponential in n);
- disjoint decompositions for series (first failing step), fallback (first succeeding branch) and
  retry (first succeeding attempt), binary powering for repeat;
- a **DKW** band ``±sqrt(ln(2/α)/(2n))`` around histogram leaves with n observations, at the
  stated confidence 1 − α per leaf (empirical quantile lists carry no sample size and are used as
  given).

The band is evaluated at grid points only and read conservatively (floor / ceil for offsets and
deadlines between points), so it carries no discretisation error of its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..model.distributions import Distribution, Histogram, Mixture
from ..model.journey import Journey, Node, Ref
from .makarov import inf_convolution, sup_convolution

# --------------------------------------------------------------------------- availability


def at_least_bounds(lo: np.ndarray, hi: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Bounds on P(at least k of n events) given bounds on each event's probability.

    ``lo``, ``hi`` have shape (n, ...) (events first); returns arrays of shape (...).
    """
    n = lo.shape[0]
    if k <= 0:
        one = np.ones(lo.shape[1:])
        return one, one
    desc = -np.sort(-lo, axis=0)  # largest first
    csum = np.cumsum(desc, axis=0)
    m = np.arange(1, n + 1).reshape((n,) + (1,) * (lo.ndim - 1))
    valid = m >= k
    ratios = np.where(valid, (csum - (k - 1)) / np.maximum(m - k + 1, 1), -np.inf)
    lower = np.clip(ratios.max(axis=0), 0.0, 1.0)
    asc = np.sort(hi, axis=0)  # smallest first
    # Σ of the n−j smallest = total − Σ of the j largest
    total = asc.sum(axis=0)
    top = np.concatenate([np.zeros((1,) + asc.shape[1:]), np.cumsum(asc[::-1], axis=0)], axis=0)
    uppers = [(total - top[jx]) / (k - jx) for jx in range(k)]
    upper = np.clip(np.min(uppers, axis=0), 0.0, 1.0)
    return np.minimum(lower, upper), upper


def availability_bounds(node: Node, a: dict[str, float]) -> tuple[float, float]:
    """[lo, hi] on P(ok) valid for any dependence between calls, durations ignored (t = 0); each
    operator's rule is its ``availability_bounds``."""
    if isinstance(node, Ref):
        return a[node.component], a[node.component]
    return node.availability_bounds([availability_bounds(c, a) for c in node.children])  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- latency bands


class BandGrid:
    """Points ``0 = x_0 < x_1 < … < x_{n−1}`` (seconds), geometric after 0; bands are CDF values there.

    A geometric grid keeps the same *relative* resolution from the fastest call to the slowest
    sum. Durations between points are read conservatively: lower bounds at the point below,
    upper bounds at the point above.
    """

    def __init__(self, points: np.ndarray) -> None:
        self.points = np.asarray(points, dtype=np.float64)
        self.n = len(self.points)
        self._floor_idx: np.ndarray | None = None
        self._ceil_idx: np.ndarray | None = None

    @classmethod
    def geometric(cls, top: float, bottom: float, n: int) -> BandGrid:
        if not 0.0 < top < float("inf"):  # every duration is 0 (constant 0 latencies): any range will do
            top = 1.0
        bottom = min(max(bottom, top * 1e-6), top / 2)
        return cls(np.concatenate([[0.0], np.geomspace(bottom, top, n - 1)]))

    def floor(self, t: float) -> int:
        """Largest k with x_k ≤ t (−1 when t < 0)."""
        return int(np.searchsorted(self.points, t * (1 + 1e-12) + 1e-300, side="right")) - 1

    def ceil(self, t: float) -> int:
        """Smallest k with x_k ≥ t (n when beyond the grid)."""
        return int(np.searchsorted(self.points, t * (1 - 1e-12), side="left"))

    def diff_index(self) -> tuple[np.ndarray, np.ndarray]:
        """Flat gather indices of ``x_k − x_j`` (rows k, columns j) into a value array extended by
        one sentinel slot (index n) used where j > k: floor and ceil versions, (n·n,) each."""
        if self._floor_idx is None:
            d = self.points[:, None] - self.points[None, :]
            mask = d >= 0
            dd = np.where(mask, d, 0.0)
            f = np.searchsorted(self.points, (dd * (1 + 1e-12)).ravel() + 1e-300, side="right").reshape(d.shape) - 1
            c = np.searchsorted(self.points, (dd * (1 - 1e-12)).ravel(), side="left").reshape(d.shape)
            f = np.where(mask, np.clip(f, 0, self.n - 1), self.n)
            c = np.where(mask, np.clip(c, 0, self.n - 1), self.n)
            self._floor_idx, self._ceil_idx = f.ravel().astype(np.intp), c.ravel().astype(np.intp)
        assert self._ceil_idx is not None
        return self._floor_idx, self._ceil_idx

    def shift_index(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Floor and ceil index of ``x_k − t`` for every k (−1: below zero)."""
        x = self.points - t
        f = np.searchsorted(self.points, x * (1 + 1e-12) + 1e-300, side="right") - 1
        c = np.searchsorted(self.points, x * (1 - 1e-12), side="left")
        c = np.where(x < -1e-15, -1, c)
        return f, c


@dataclass
class Part:
    """Bounds for one defective part (an event E with a duration t) at the grid points:
    ``lo ≤ P(E, t ≤ x_k) ≤ hi``, ``P(E, t > x_k) ≤ sv`` (all (G,)) and ``tlo ≤ P(E) ≤ thi``."""

    lo: np.ndarray
    hi: np.ndarray
    sv: np.ndarray
    tlo: float
    thi: float

    def tidy(self) -> Part:
        """Make the bounds consistent: monotone in x, inside [0, P(E) bounds], lo ≥ P(E) − sv."""
        thi = min(max(self.thi, 0.0), 1.0)
        tlo = min(max(self.tlo, 0.0), thi)
        sv = np.minimum.accumulate(np.minimum(np.maximum(self.sv, 0.0), thi))
        hi = np.ascontiguousarray(np.minimum.accumulate(np.minimum(np.maximum(self.hi, 0.0), thi)[::-1])[::-1])
        lo = np.maximum.accumulate(np.maximum(self.lo, tlo - sv))
        np.minimum(lo, hi, out=lo)
        np.maximum(lo, 0.0, out=lo)
        tlo = min(max(tlo, float(lo[-1])), thi)
        return Part(lo, hi, sv, tlo, thi)


@dataclass
class NodeBand:
    s: Part
    f: Part


def fold(a: Part, b: Part, grid: BandGrid) -> Part:
    """Makarov: both events, durations summed. ``{A, B, t_A + t_B > x} ⊆ {A, t_A > y} ∪ {B, t_B > x−y}``
    bounds the slow part the same way."""
    f_idx, c_idx = grid.diff_index()
    lo = np.clip(sup_convolution(a.lo, b.lo, f_idx) - 1.0, 0.0, None)
    top = min(a.thi, b.thi)
    hi = np.minimum.reduce([inf_convolution(a.hi, b.hi, c_idx), a.hi, b.hi, np.full_like(a.hi, top)])
    sv = np.minimum(inf_convolution(a.sv, b.sv, f_idx), top)
    return Part(lo, hi, sv, max(0.0, a.tlo + b.tlo - 1.0), top).tidy()


def disjoint(parts: list[Part]) -> Part:
    """Disjoint events (a mixture over which path was taken)."""
    return Part(
        np.sum([p.lo for p in parts], axis=0),
        np.sum([p.hi for p in parts], axis=0),
        np.sum([p.sv for p in parts], axis=0),
        sum(p.tlo for p in parts),
        sum(p.thi for p in parts),
    ).tidy()


def union(parts: list[Part]) -> Part:
    """Some event with its duration ≤ x (race, parallel-any). Slow: every one that happened is slow."""
    return Part(
        np.max([p.lo for p in parts], axis=0),
        np.sum([p.hi for p in parts], axis=0),
        np.sum([p.sv for p in parts], axis=0),
        max(p.tlo for p in parts),
        sum(p.thi for p in parts),
    ).tidy()


def intersection(parts: list[Part]) -> Part:
    """All events, the largest duration ≤ x (fork-join). Slow: some one is slow."""
    n = len(parts)
    lo = np.sum([p.lo for p in parts], axis=0) - (n - 1)
    return Part(
        lo,
        np.min([p.hi for p in parts], axis=0),
        np.sum([p.sv for p in parts], axis=0),
        max(0.0, sum(p.tlo for p in parts) - (n - 1)),
        min(p.thi for p in parts),
    ).tidy()


def at_least(parts: list[Part], k: int) -> Part:
    """At least k events with duration ≤ x (quorum). Slow: some event that happened is slow."""
    lo, hi = at_least_bounds(np.array([p.lo for p in parts]), np.array([p.hi for p in parts]), k)
    tlo, thi = at_least_bounds(np.array([p.tlo for p in parts]), np.array([p.thi for p in parts]), k)
    return Part(lo, hi, np.sum([p.sv for p in parts], axis=0), float(tlo), float(thi)).tidy()


def delay(p: Part, t: float, grid: BandGrid) -> Part:
    """The bounds of ``t + T`` (a deterministic delay, read conservatively between points)."""
    if t <= 0:
        return p
    f, c = grid.shift_index(t)
    lo = np.where(f >= 0, p.lo[np.clip(f, 0, None)], 0.0)
    sv = np.where(f >= 0, p.sv[np.clip(f, 0, None)], p.thi)
    hi = np.where(c >= 0, p.hi[np.clip(c, 0, grid.n - 1)], 0.0)
    hi = np.where(c >= grid.n, p.thi, hi)
    return Part(lo, hi, sv, p.tlo, p.thi).tidy()


def _value_at(p: Part, t: float, grid: BandGrid) -> tuple[float, float]:
    """Bounds on ``P(E, T ≤ t)`` for t between grid points."""
    kf, kc = grid.floor(t), grid.ceil(t)
    lo = float(p.lo[min(kf, grid.n - 1)]) if kf >= 0 else 0.0
    hi = float(p.hi[kc]) if kc < grid.n else p.thi
    return lo, hi


def cut_band(b: NodeBand, deadline: float, grid: BandGrid) -> NodeBand:
    """Timeout / per-try timeout: ok iff ok and t ≤ D; t = min(t, D)."""
    d_lo, d_hi = _value_at(b.s, deadline, grid)
    kf = grid.floor(deadline)
    slow_at_d = float(b.s.sv[min(kf, grid.n - 1)]) if kf >= 0 else b.s.thi  # ≥ P(ok, t > D)
    after = grid.points >= deadline - 1e-12 * max(deadline, 1.0)
    s_lo = np.where(after, d_lo, b.s.lo)
    s_hi = np.where(after, d_hi, b.s.hi)
    s_sv = np.where(after, 0.0, b.s.sv)
    f_lo = np.where(after, 1.0 - d_hi, b.f.lo)
    f_hi = np.where(after, 1.0 - d_lo, b.f.hi)
    f_sv = np.where(after, 0.0, b.f.sv + slow_at_d)
    return NodeBand(Part(s_lo, s_hi, s_sv, d_lo, d_hi).tidy(), Part(f_lo, f_hi, f_sv, 1.0 - d_hi, 1.0 - d_lo).tidy())


def dkw_epsilon(dist: Distribution, confidence: float) -> float:
    """Half-width of the DKW band for a leaf distribution (0 unless built from counts)."""
    alpha = 1.0 - confidence
    if isinstance(dist, Histogram):
        n = dist.total
        return math.sqrt(math.log(2.0 / alpha) / (2.0 * n)) if n > 0 else 1.0
    if isinstance(dist, Mixture):
        return sum(w * dkw_epsilon(d, confidence) for w, d in dist.components)
    return 0.0


def has_counted_leaves(j: Journey) -> bool:
    """True when some referenced latency distribution is built from counts (a histogram)."""

    def counted(d: Distribution | None) -> bool:
        if isinstance(d, Histogram):
            return True
        if isinstance(d, Mixture):
            return any(counted(x) for _, x in d.components)
        return False

    for cid in set(j.root.refs()):
        c = j.component(cid)
        err = c.error_distribution()
        if counted(c.latency) or counted(err):
            return True
    return False


class BandEvaluator:
    """Dependence-free CDF bands of a journey on a :class:`BandGrid`."""

    def __init__(self, j: Journey, grid: BandGrid, confidence: float = 0.95) -> None:
        self.j = j
        self.grid = grid
        self.confidence = confidence
        self._leaf: dict[str, NodeBand] = {}

    def leaf(self, cid: str) -> NodeBand:
        if cid not in self._leaf:
            c = self.j.component(cid)
            x = self.grid.points
            a = c.availability

            def band(dist: Distribution | None) -> tuple[np.ndarray, np.ndarray]:
                if dist is None:
                    one = np.ones_like(x)
                    return one, one
                cdf = np.clip(np.asarray(dist.cdf(x), dtype=np.float64), 0.0, 1.0)
                eps = dkw_epsilon(dist, self.confidence)
                return np.clip(cdf - eps, 0.0, 1.0), np.clip(cdf + eps, 0.0, 1.0)

            if c.latency is None:
                sl = sh = fl = fh = np.ones_like(x)
            else:
                sl, sh = band(c.latency)
                fl, fh = band(c.error_distribution())
            self._leaf[cid] = NodeBand(
                Part(a * sl, a * sh, a * (1.0 - sl), a, a).tidy(),
                Part((1 - a) * fl, (1 - a) * fh, (1 - a) * (1.0 - fl), 1 - a, 1 - a).tidy(),
            )
        return self._leaf[cid]

    def evaluate(self, node: Node | None = None) -> NodeBand:
        return self._eval(node if node is not None else self.j.root)

    def _eval(self, node: Node) -> NodeBand:
        if isinstance(node, Ref):
            return self.leaf(node.component)
        return node.band([self._eval(c) for c in node.children], self)  # type: ignore[attr-defined]


def conditional_quantile_bounds(s: Part, grid: BandGrid, qs: tuple[float, ...]) -> dict[float, tuple[float, float]]:
    """[lower, upper] on quantiles of t given ok, from the band of ``P(ok, t ≤ x)``.

    With N = P(ok, t ≤ x) and M = P(ok, t > x), ``P(t ≤ x | ok) = N/(N + M)`` grows with N and
    falls with M, so it is ``≥ max(lo/A_hi, lo/(lo + sv))`` and ``≤ hi/A_lo``. upper = first grid
    point where the lower CDF bound reaches q (inf if none); lower = last grid point where the
    upper CDF bound is still below q (0 if none).
    """
    x = grid.points
    out: dict[float, tuple[float, float]] = {}
    with np.errstate(invalid="ignore", divide="ignore"):
        by_slow = np.where(s.lo + s.sv > 0, s.lo / (s.lo + s.sv), 0.0)
    lower_cdf = np.maximum(s.lo / s.thi if s.thi > 0 else np.zeros_like(s.lo), by_slow)
    upper_cdf = np.minimum(s.hi / s.tlo, 1.0) if s.tlo > 0 else np.ones_like(s.hi)
    for q in qs:
        reach = np.flatnonzero(lower_cdf >= q - 1e-12)
        upper = float(x[reach[0]]) if reach.size else math.inf
        below = np.flatnonzero(upper_cdf < q - 1e-12)
        lower = float(x[below[-1]]) if below.size else 0.0
        out[q] = (lower, upper)
    return out
