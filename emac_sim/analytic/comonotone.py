"""Comonotone latency: "everything slow together", by quantile arithmetic.

At every operator the children's durations are coupled comonotonically — driven by one uniform
U, child i takes ``Qᵢ(U)`` with ``Qᵢ`` its quantile function (of successful or of failed calls,
whichever its ok flag says) — while ok flags stay independent (as in the independent scenario):
latency is perfectly correlated, failures are not. Then:

- sums (series, fallback, retry, repeat, cache) add quantile functions: a success after k steps
  takes ``Σ Qᵢ(u)``, a mixture over the step at which the path ends;
- a fork-join needing all branches: ``P(ok, t ≤ x) = ∏pᵢ · minᵢ Sᵢ(x)`` (S the branch success
  CDF); every other fork-join and race quantity is an integral over u of a product of step
  functions, computed exactly by sorting the branches' levels once per grid point and running
  one Poisson-binomial recursion over them (:func:`level_integral`: O(n log n + n·min(k, n−k+1))
  per point, in blocks of grid points so that memory stays bounded however wide the fork);
- timeouts, choice and optional act on one child or mix children, exactly as under independence.

Quantile functions live on a probability grid (dense near 0 and 1, down to 1e-10) joined with
every level at which the summed parts change slope, so that a comonotone sum of the gridded
laws is exact; CDFs come back onto the common time grid (:mod:`.grid`). The machinery is here;
each operator's composition is its ``co_law`` (:mod:`emac_sim.operators`).
"""

from __future__ import annotations

import numpy as np

from ..model.journey import Journey, Node, Ref
from .grid import Grid, Law, LeafTable, leaf_law


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


class QuantilePart:
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


def levels(parts: list[QuantilePart]) -> np.ndarray:
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


_ROWS_BUDGET = 2_000_000  # elements per (rows × branches) block: a 10⁴-wide fork is done in slices of the grid


def level_integral(lo: np.ndarray, top: np.ndarray, c: np.ndarray, t: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    """``∫₀^top ∏_{single} cᵢ · P(#ok among the full branches ≥ k − #ok-singles) du`` per row.

    The comonotone fork-join quantities reduce to this form. At level u branch i is *full*
    (u ≤ loᵢ: it may be ok, with probability pᵢ, or not), *single* (loᵢ < u ≤ top: it contributes
    the factor cᵢ and tᵢ ∈ {0, 1} oks), and the integrand vanishes above ``top``. Walking the
    branches by decreasing lo, the full ones are a prefix: one Poisson-binomial recursion over
    that prefix (:func:`~emac_sim.analytic.grid.pb_at_least`'s states) gives every interval's
    value, so the cost is O(n log n + n · min(k, n − k + 1)) per row instead of a recursion per
    interval.

    Parameters
    ----------
    lo, c, t
        (R, n) levels, single factors and single ok counts (0 or 1) per row and branch.
    top
        (R,) level above which the integrand is 0.
    p
        (n,) P(branch ok).
    k
        Oks needed (0: no condition).
    """
    R, n = lo.shape
    order = np.argsort(-lo, axis=1, kind="stable")
    los = np.take_along_axis(lo, order, axis=1)
    ps = p[order]
    upper = np.concatenate([np.full((R, 1), np.inf), los], axis=1)  # interval j: (lower_j, upper_j], full = first j ranks
    lower = np.concatenate([los, np.zeros((R, 1))], axis=1)
    width = np.clip(np.minimum(upper, top[:, None]) - lower, 0.0, None)
    cs = np.take_along_axis(c, order, axis=1)
    suffix = np.ones((R, n + 1))
    suffix[:, :n] = np.cumprod(cs[:, ::-1], axis=1)[:, ::-1]  # product of the single factors of ranks ≥ j
    weight = width * suffix
    if k <= 0:
        return weight.sum(axis=1)
    ts = np.take_along_axis(t, order, axis=1)
    m = np.zeros((R, n + 1), dtype=np.int64)
    m[:, :n] = np.cumsum(ts[:, ::-1], axis=1)[:, ::-1]  # ok-singles among ranks ≥ j
    need = k - m  # oks still needed from the full prefix, per interval
    constant = not ts.any()  # no ok-singles: the prefix always needs k (no per-row threshold to look up)
    total = np.zeros(R)
    rows = np.arange(R)
    if k <= n - k + 1:
        dp = np.zeros((k + 1, R))  # successes 0..k-1 and an absorbing ">= k"
        dp[0] = 1.0
        for j in range(n + 1):
            if j:
                pj = ps[:, j - 1]
                top_state = dp[k] + dp[k - 1] * pj
                dp[1:k] = dp[1:k] * (1.0 - pj) + dp[: k - 1] * pj
                dp[0] = dp[0] * (1.0 - pj)
                dp[k] = top_state
            if constant:
                tail = dp[k]
            else:
                at_least = np.cumsum(dp[::-1], axis=0)[::-1]  # at_least[c] = P(≥ c oks)
                tail = at_least[np.clip(need[:, j], 0, k), rows]
            total += weight[:, j] * tail
        return total
    big = n - k  # failures 0..n-k: enough, since the prefix never needs more than n - k to fail
    dp = np.zeros((big + 1, R))
    dp[0] = 1.0
    for j in range(n + 1):
        if j:
            pj = ps[:, j - 1]
            dp[1:] = dp[1:] * pj + dp[:-1] * (1.0 - pj)
            dp[0] = dp[0] * pj
        if constant:
            tail = dp[: j - k + 1].sum(axis=0) if j >= k else 0.0
        else:
            allowed = j - need[:, j]  # failures the prefix may have
            at_most = np.cumsum(dp, axis=0)
            tail = np.where(allowed < 0, 0.0, at_most[np.clip(allowed, 0, big), rows])
        total += weight[:, j] * tail
    return total


def _any_ok_integral(S: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``∫₀¹ P(some branch ok with Sᵢ ≥ u) du`` per row, vectorised (the k = 1 case of
    :func:`level_integral` without singles)."""
    R, n = S.shape
    order = np.argsort(-S, axis=1, kind="stable")
    Ss = np.take_along_axis(S, order, axis=1)
    none = np.cumprod(1.0 - p[order], axis=1)  # P(none of the first j+1 ok)
    width = Ss - np.concatenate([Ss[:, 1:], np.zeros((R, 1))], axis=1)
    return (width * (1.0 - none)).sum(axis=1)


def _fork_rows(S: np.ndarray, F: np.ndarray, p: np.ndarray, need: int) -> tuple[np.ndarray, np.ndarray]:
    """Success and failure CDFs of a comonotone fork-join on a block of grid rows.

    S, F (R, n): normalised success / failure CDFs of the branches at the rows' times."""
    R, n = S.shape
    if need == 1:
        return _any_ok_integral(S, p), np.prod(1.0 - p) * F.min(axis=1)
    # every branch done by x: below min(S, F) it may be ok or not, then only the slower kind is
    # still done (factor p or 1 - p, one ok for the success kind), above max(S, F) it is not done
    lo, hi = np.minimum(S, F), np.maximum(S, F)
    top = hi.min(axis=1)
    c = np.where(S > F, p[None, :], 1.0 - p[None, :])
    t = (S > F).astype(np.int64)
    all_done = level_integral(lo, top, c, t, p, 0)
    if need == n:
        s_cdf = np.prod(p) * S.min(axis=1)
        return s_cdf, all_done - s_cdf
    ok_done = level_integral(lo, top, c, t, p, need)
    at_least = level_integral(S, np.ones(R), np.ones_like(S), np.zeros_like(t), p, need)
    return at_least, all_done - ok_done


def fork_cdfs(S_cols: list[np.ndarray], F_cols: list[np.ndarray], p: np.ndarray, need: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_fork_rows` over the whole grid in blocks of rows (memory O(block · n))."""
    G, n = len(S_cols[0]), len(S_cols)
    block = max(1, _ROWS_BUDGET // max(n, 1))
    s_cdf, f_cdf = np.empty(G), np.empty(G)
    for r0 in range(0, G, block):
        r1 = min(G, r0 + block)
        S = np.stack([col[r0:r1] for col in S_cols], axis=1)
        F = np.stack([col[r0:r1] for col in F_cols], axis=1)
        s_cdf[r0:r1], f_cdf[r0:r1] = _fork_rows(S, F, p, need)
    return s_cdf, f_cdf


def part_law(s: np.ndarray, f: np.ndarray, so: float, fo: float) -> Law:
    """A (1, G) law from success / failure masses and beyond-grid masses."""
    return Law(s[None, :], f[None, :], np.array([max(so, 0.0)]), np.array([max(fo, 0.0)]))


def comonotone_parts(law: Law, grid: Grid) -> tuple[QuantilePart, QuantilePart, float]:
    """A (1, G) law's success and failure parts with their quantile functions, and P(ok)."""
    sp = QuantilePart(law.s[0], float(law.so[0]), grid)
    fp = QuantilePart(law.f[0], float(law.fo[0]), grid)
    return sp, fp, sp.total


class Accumulator:
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


def comonotone_law(j: Journey, grid: Grid, table: LeafTable | None = None) -> Law:
    """The journey's joint (ok, t) law with comonotone durations and independent failures (1, G);
    each operator's rule is its ``co_law`` (:mod:`emac_sim.operators`)."""
    table = table or LeafTable(grid)

    def ev(node: Node) -> Law:
        if isinstance(node, Ref):
            c = j.component(node.component)
            return leaf_law(c, np.array([c.availability]), table)
        return node.co_law([ev(c) for c in node.children], grid)  # type: ignore[attr-defined]

    return ev(j.root)
