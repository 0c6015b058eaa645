"""Comonotone latency: "everything slow together", by quantile arithmetic.

At every operator the children's durations are coupled comonotonically — driven by one uniform
U, child i takes ``Qᵢ(U)`` with ``Qᵢ`` its quantile function (of successful or of failed calls,
whichever its ok flag says) — while ok flags stay independent (as in the independent scenario):
latency is perfectly correlated, failures are not. Then:

- sums (series, fallback, retry, repeat) add quantile functions: a success after k steps takes
  ``Σ Qᵢ(u)``, a mixture over the step at which the path ends;
- a fork-join needing all branches: ``P(ok, t ≤ x) = ∏pᵢ · minᵢ Sᵢ(x)`` (S the branch success
  CDF); every other fork-join and race quantity is an integral over u of a product of step
  functions ``Σ_c coef·[u ≤ threshold]``, computed exactly by sorting the thresholds
  (:func:`product_integral`), or for a quorum with a Poisson-binomial recursion per interval;
- timeouts, choice and optional act on one child or mix children, exactly as under independence.

Quantile functions live on a probability grid (dense near 0 and 1, down to 1e-10) joined with
every level at which the summed parts change slope, so that a comonotone sum of the gridded
laws is exact; CDFs come back onto the common time grid (:mod:`.grid`).
"""

from __future__ import annotations

import numpy as np

from ..model.journey import (
    Choice,
    Fallback,
    Journey,
    Node,
    Optional,
    Parallel,
    Race,
    Ref,
    Repeat,
    Retry,
    Series,
    Timeout,
)
from .grid import Grid, Law, LeafTable, _all_within_at_least, cut, leaf_law, op_mix, op_optional, pb_at_least, shift_cdf


def probability_grid() -> np.ndarray:
    """Levels u at which quantile functions are held (0 < u < 1, increasing)."""
    body = np.linspace(0.0, 1.0, 1025)[1:-1]
    upper = 1.0 - np.logspace(-3.0, -10.0, 281)
    lower = np.logspace(-10.0, -3.0, 71)
    return np.unique(np.concatenate([lower, body, upper]))


def comonotone_points(grid_points: int | None) -> int:
    """Grid points for the comonotone law: half the independent grid's (its range is the whole
    support, so its cost, not its resolution, is what the extra points would buy)."""
    from .grid import DEFAULT_GRID_POINTS

    return max(16, int(grid_points or DEFAULT_GRID_POINTS) // 2)


_U = probability_grid()


class _Part:
    """One defective part (success or failure) of a node: its mass and normalised law."""

    def __init__(self, m: np.ndarray, o: float, grid: Grid) -> None:
        self.total = float(m.sum() + o)
        self.grid = grid
        self.cdf = np.cumsum(m) / self.total if self.total > 0 else np.zeros_like(m)
        self._q: dict[int, np.ndarray] = {}

    def q(self, u: np.ndarray) -> np.ndarray:
        """Quantile function at the levels ``u`` (seconds; inf beyond the time grid)."""
        key = id(u)
        if key not in self._q:
            self._q[key] = quantile_function(self.cdf, self.grid, u)
        return self._q[key]


def levels(parts: list[_Part]) -> np.ndarray:
    """The probability grid plus every level at which one of ``parts`` changes slope: on this
    union each part's (piecewise-linear) quantile function, and so their sums, are exact."""
    own = [p.cdf[(p.cdf > 0) & (p.cdf < 1)] for p in parts if p.total > 0]
    return np.unique(np.concatenate([_U, *own])) if own else _U


def quantile_function(cdf: np.ndarray, grid: Grid, u: np.ndarray = _U) -> np.ndarray:
    """Q(u) of a normalised CDF given at the cell boundaries, linear inside cells; inf beyond."""
    edges = np.concatenate([[0.0], grid.boundaries])
    cum0 = np.concatenate([[0.0], cdf])
    k = np.searchsorted(cum0, u, side="left")
    out = np.full(u.shape, np.inf)
    inside = k < len(cum0)
    kk = np.maximum(k[inside], 1)
    lo, hi = cum0[kk - 1], cum0[kk]
    frac = np.where(hi > lo, (u[inside] - lo) / np.where(hi > lo, hi - lo, 1.0), 1.0)
    out[inside] = edges[kk - 1] + frac * (edges[kk] - edges[kk - 1])
    return out


def cdf_of_quantiles(q: np.ndarray, grid: Grid, u: np.ndarray = _U) -> np.ndarray:
    """CDF at the cell boundaries of the law with quantile function ``q`` (nondecreasing, inf allowed)."""
    qx = np.concatenate([[0.0], q])
    ux = np.concatenate([[0.0], u])
    x = grid.boundaries
    k = np.searchsorted(qx, x, side="right")  # ≥ 1 since qx[0] = 0 ≤ x
    out = np.empty_like(x)
    last = k >= len(qx)
    out[last] = ux[-1]
    kk = k[~last]
    q0, q1 = qx[kk - 1], qx[kk]
    u0, u1 = ux[kk - 1], ux[kk]
    finite = np.isfinite(q1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(finite & (q1 > q0), (x[~last] - q0) / np.where(finite & (q1 > q0), q1 - q0, 1.0), 0.0)
    out[~last] = u0 + np.clip(frac, 0.0, 1.0) * (u1 - u0)
    return np.maximum.accumulate(out)


def _from_cdf(cdf: np.ndarray, weight: float) -> tuple[np.ndarray, float]:
    m = np.clip(np.diff(cdf, prepend=0.0), 0.0, None) * weight
    return m, weight * max(1.0 - float(cdf[-1]), 0.0)


def product_integral(thr: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """``∫₀¹ ∏ᵢ Σ_c coef[i, c]·[u ≤ thr[g, i, c]] du`` for every row g, exactly.

    ``thr`` (G, n, C) thresholds in [0, 1] (use 1 for a constant term), ``coef`` (n, C) with
    every partial sum of a row's coefficients ≥ 0 (each factor is a probability). The integrand
    is constant between consecutive sorted thresholds; walking them upwards, each threshold
    passed drops its coefficient from its factor, and the product is kept as a sum of logs plus
    a count of zero factors. O(G·nC·log(nC)).
    """
    G, n, C = thr.shape
    flat = np.clip(thr, 0.0, 1.0).reshape(G, n * C)
    order = np.argsort(flat, axis=1, kind="stable")
    b = np.take_along_axis(flat, order, axis=1)
    branch = order // C
    drop = coef.reshape(-1)[order]  # (G, nC) coefficient removed when passing each threshold
    factor = np.broadcast_to(coef.sum(axis=1), (G, n)).copy()
    tiny = 1e-300
    zero = factor <= tiny
    logs = np.where(zero, 0.0, np.log(np.where(zero, 1.0, factor)))
    log_sum = logs.sum(axis=1)
    zeros = zero.sum(axis=1)
    rows = np.arange(G)
    prev = np.zeros(G)
    total = np.zeros(G)
    for jx in range(n * C):
        bj = b[:, jx]
        total += (bj - prev) * np.where(zeros == 0, np.exp(log_sum), 0.0)
        prev = bj
        i = branch[:, jx]
        old = factor[rows, i]
        new = old - drop[:, jx]
        new = np.where(new <= tiny, 0.0, new)
        was_zero = old <= tiny
        is_zero = new <= tiny
        log_sum = (
            log_sum - np.where(was_zero, 0.0, np.log(np.where(was_zero, 1.0, old))) + np.where(is_zero, 0.0, np.log(np.where(is_zero, 1.0, new)))
        )
        zeros = zeros - was_zero + is_zero
        factor[rows, i] = new
    total += (1.0 - prev) * np.where(zeros == 0, np.exp(log_sum), 0.0)
    return total


def _count_integrals(S: np.ndarray, F: np.ndarray, p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Comonotone quorum: ``∫ P(#{ok, fast} ≥ k) du`` and ``∫ P(all fast, #ok ≥ k) du``.

    S, F (G, n) normalised success / failure CDFs of the branches at x; p (n,) P(ok)."""
    G, n = S.shape
    b = np.sort(np.concatenate([S, F], axis=1), axis=1)
    b = np.concatenate([b, np.ones((G, 1))], axis=1)
    prev = np.zeros(G)
    at_least = np.zeros(G)
    all_fast = np.zeros(G)
    for jx in range(b.shape[1]):
        bj = b[:, jx][:, None]
        a = [p[i] * (S[:, i : i + 1] >= bj)[:, 0] for i in range(n)]
        c = [(1.0 - p[i]) * (F[:, i : i + 1] >= bj)[:, 0] for i in range(n)]
        width = b[:, jx] - prev
        at_least += width * pb_at_least(a, k)
        all_fast += width * _all_within_at_least(a, c, k)
        prev = b[:, jx]
    return at_least, all_fast


def _law(s: np.ndarray, f: np.ndarray, so: float, fo: float) -> Law:
    return Law(s[None, :], f[None, :], np.array([max(so, 0.0)]), np.array([max(fo, 0.0)]))


def _parts(law: Law, grid: Grid) -> tuple[_Part, _Part, float]:
    sp = _Part(law.s[0], float(law.so[0]), grid)
    fp = _Part(law.f[0], float(law.fo[0]), grid)
    return sp, fp, sp.total


class _Acc:
    """Accumulates weighted comonotone-sum terms into masses on the grid."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        self.m = np.zeros(grid.n)
        self.o = 0.0

    def add(self, q: np.ndarray, weight: float, u: np.ndarray) -> None:
        if weight <= 0:
            return
        m, o = _from_cdf(cdf_of_quantiles(q, self.grid, u), weight)
        self.m += m
        self.o += o


def co_series(laws: list[Law], grid: Grid) -> Law:
    parts = [_parts(law, grid) for law in laws]
    if len(parts) == 1:
        return laws[0]
    u = levels([x for sp, fp, _ in parts for x in (sp, fp)])
    s_acc, f_acc = _Acc(grid), _Acc(grid)
    prefix = np.zeros_like(u)
    run = 1.0
    for sp, fp, p in parts:
        if run * (1.0 - p) > 0:
            f_acc.add(prefix + fp.q(u), run * (1.0 - p), u)
        run *= p
        if run <= 0:
            break
        prefix = prefix + sp.q(u)
    if run > 0:
        s_acc.add(prefix, run, u)
    return _law(s_acc.m, f_acc.m, s_acc.o, f_acc.o)


def co_fallback(laws: list[Law], grid: Grid, waits: list[float] | None = None) -> Law:
    if len(laws) == 1:
        return laws[0]
    parts = [_parts(law, grid) for law in laws]
    u = levels([x for sp, fp, _ in parts for x in (sp, fp)])
    s_acc, f_acc = _Acc(grid), _Acc(grid)
    prefix = np.zeros_like(u)
    run = 1.0
    for i, (sp, fp, p) in enumerate(parts):
        if i and waits:
            prefix = prefix + waits[i - 1]
        if run * p > 0:
            s_acc.add(prefix + sp.q(u), run * p, u)
        run *= 1.0 - p
        if run <= 0:
            break
        prefix = prefix + fp.q(u)
    if run > 0:
        f_acc.add(prefix, run, u)
    return _law(s_acc.m, f_acc.m, s_acc.o, f_acc.o)


def co_repeat(law: Law, count: int, grid: Grid) -> Law:
    if count == 1:
        return law
    sp, fp, p = _parts(law, grid)
    u = levels([sp, fp])
    s_acc, f_acc = _Acc(grid), _Acc(grid)
    for k in range(count):
        w = p**k * (1.0 - p)
        if w > 0:
            f_acc.add(fp.q(u) if k == 0 else k * sp.q(u) + fp.q(u), w, u)
    if p > 0:
        s_acc.add(count * sp.q(u), p**count, u)
    return _law(s_acc.m, f_acc.m, s_acc.o, f_acc.o)


def co_parallel(laws: list[Law], need: int, grid: Grid) -> Law:
    n = len(laws)
    parts = [_parts(law, grid) for law in laws]
    p = np.array([pp for _, _, pp in parts])
    S = np.stack([sp.cdf for sp, _, _ in parts], axis=1)  # (G, n)
    F = np.stack([fp.cdf for _, fp, _ in parts], axis=1)
    G = grid.n
    if need == n:
        s_cdf = np.prod(p) * S.min(axis=1)
        thr = np.stack([S, F], axis=2)
        all_fast = product_integral(thr, np.stack([p, 1.0 - p], axis=1))
        f_cdf = all_fast - s_cdf
    elif need == 1:
        thr = np.stack([np.ones((G, n)), S], axis=2)
        s_cdf = 1.0 - product_integral(thr, np.stack([np.ones(n), -p], axis=1))
        f_cdf = np.prod(1.0 - p) * F.min(axis=1)
    else:
        s_cdf, ok_fast = _count_integrals(S, F, p, need)
        thr = np.stack([S, F], axis=2)
        f_cdf = product_integral(thr, np.stack([p, 1.0 - p], axis=1)) - ok_fast
    s_tot = float(pb_at_least([np.array([x]) for x in p], need)[0])
    s_cdf = np.minimum(np.maximum.accumulate(np.clip(s_cdf, 0.0, None)), s_tot)
    f_cdf = np.minimum(np.maximum.accumulate(np.clip(f_cdf, 0.0, None)), 1.0 - s_tot)
    return _law(np.diff(s_cdf, prepend=0.0), np.diff(f_cdf, prepend=0.0), s_tot - s_cdf[-1], 1.0 - s_tot - f_cdf[-1])


def co_race(laws: list[Law], offsets: list[int], grid: Grid) -> Law:
    n = len(laws)
    parts = [_parts(law, grid) for law in laws]
    p = np.array([pp for _, _, pp in parts])
    S = np.stack([shift_cdf(sp.cdf, o) for (sp, _, _), o in zip(parts, offsets)], axis=1)
    F = np.stack([shift_cdf(fp.cdf, o) for (_, fp, _), o in zip(parts, offsets)], axis=1)
    thr = np.stack([np.ones_like(S), S], axis=2)
    s_cdf = 1.0 - product_integral(thr, np.stack([np.ones(n), -p], axis=1))
    f_cdf = np.prod(1.0 - p) * F.min(axis=1)
    s_tot = 1.0 - float(np.prod(1.0 - p))
    s_cdf = np.minimum(np.maximum.accumulate(np.clip(s_cdf, 0.0, None)), s_tot)
    return _law(np.diff(s_cdf, prepend=0.0), np.diff(f_cdf, prepend=0.0), s_tot - s_cdf[-1], 1.0 - s_tot - f_cdf[-1])


def comonotone_law(j: Journey, grid: Grid, table: LeafTable | None = None) -> Law:
    """The journey's joint (ok, t) law with comonotone durations and independent failures (1, G)."""
    table = table or LeafTable(grid)

    def ev(node: Node) -> Law:
        if isinstance(node, Ref):
            c = j.component(node.component)
            return leaf_law(c, np.array([c.availability]), table)
        kids = [ev(c) for c in node.children]
        if isinstance(node, Series):
            return co_series(kids, grid)
        if isinstance(node, Parallel):
            return co_parallel(kids, node.needed, grid)
        if isinstance(node, Race):
            return co_race(kids, [grid.index(i * node.hedge_delay) for i in range(len(kids))], grid)
        if isinstance(node, Fallback):
            return co_fallback(kids, grid)
        if isinstance(node, Retry):
            one = cut(kids[0], *grid.threshold(node.per_try_timeout)) if node.per_try_timeout is not None else kids[0]
            waits = [grid.index(node.backoff.delay(i)) * grid.step for i in range(1, node.attempts)]
            return co_fallback([one] * node.attempts, grid, waits)
        if isinstance(node, Timeout):
            return cut(kids[0], *grid.threshold(node.deadline))
        if isinstance(node, Choice):
            return op_mix(kids, list(node.probabilities))
        if isinstance(node, Optional):
            return op_optional(kids[0], node.probability)
        if isinstance(node, Repeat):
            return co_repeat(kids[0], node.count, grid)
        raise TypeError(f"unknown operator {type(node).__name__}")

    return ev(j.root)
