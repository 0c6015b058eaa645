"""Latency on a common grid: defective distributions and their exact independent composition.

Every node's outcome ``(ok, t)`` is held as two *defective* distributions on one uniform grid
``x_k = k·Δ`` (k = 0 … G−1): ``s[k] = P(ok, t ≈ x_k)`` and ``f[k] = P(not ok, t ≈ x_k)``, plus
the mass beyond the grid (``so``, ``fo``, an atom "later than the grid"). Success and failure
mass are kept apart because operators treat them differently (a series stops at a failure, a
fallback adds the failed branch's time, a timeout turns slow successes into failures).

Discretisation: a leaf's mass in ``[(k−½)Δ, (k+½)Δ)`` is put on ``x_k`` (nearest-point rounding),
so cumulative masses are the exact CDF at the cell boundaries ``(k+½)Δ``. The rounded model is
then composed *exactly*: sums by convolution (FFT when both supports are long, shifts when one
is short), max by products of CDFs, k-th success by a Poisson-binomial recursion over CDFs, hedge
offsets, backoffs and deadlines rounded to the grid. Each rounded duration is within ``Δ/2`` of
the true one and sum / max / min / k-th order statistics are 1-Lipschitz in every summand, so a
quantile of the journey is off by at most ``(L + 1)·Δ/2``, with ``L`` the most rounded terms
summed along any path (:func:`sum_depth`) and one more ``Δ/2`` for interpolating inside a cell.
Threshold decisions (timeouts, per-try timeouts, hedge issue) are taken on the rounded times.

All operators work on arrays with a leading *state* axis (S, G): the same computation runs for
every domain state of :mod:`emac_sim.analytic.states` at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import fft as sfft

from ..model.distributions import Distribution
from ..model.journey import Component, Journey, Node, Ref
from .states import StateChunk, StateSpace, conditional_cdf

DEFAULT_GRID_POINTS = 4096
MAX_GRID_POINTS = 65_536
"""Most points a latency grid may have (``--grid-points``): 16× the default; memory and time grow with it."""
TAIL_MASS = 1e-7
"""A fitted grid is redone over the whole support when more than 10× this mass lies beyond it."""
SUPPORT_EPS = 1e-6
"""Each leaf's grid range covers its (1 − SUPPORT_EPS)-quantile; the rest is kept as overflow."""


# --------------------------------------------------------------------------- the grid


@dataclass(frozen=True)
class Grid:
    """Uniform grid ``x_k = k·step`` for k = 0 … n−1 (seconds)."""

    step: float
    n: int

    @property
    def points(self) -> np.ndarray:
        return self.step * np.arange(self.n)

    @property
    def boundaries(self) -> np.ndarray:
        """Upper cell edges ``(k+½)·step``; cumulative masses are CDF values there."""
        return self.step * (np.arange(self.n) + 0.5)

    def index(self, t: float) -> int:
        """Nearest grid index of a duration (``n`` when beyond the grid)."""
        x = t / self.step + 0.5
        if not x < self.n:  # beyond the grid (inf and NaN included)
            return self.n
        return min(max(int(math.floor(x)), 0), self.n)

    def threshold(self, t: float) -> tuple[int, float]:
        """Cell of a deadline and the share of that cell below it: ``(k, keep)``."""
        k = self.index(t)
        return k, min(max(t / self.step - (k - 0.5), 0.0), 1.0)


def support(node: Node, j: Journey, eps: float = SUPPORT_EPS) -> float:
    """A duration (seconds) that the node's time exceeds with probability ≲ (number of calls)·eps.

    Leaves use their ``(1 − eps)`` quantile; operators combine their children's (sums add,
    max/choice take the largest, timeouts cap: each operator's ``support``).
    """
    if isinstance(node, Ref):
        c = j.component(node.component)
        vals = [0.0]
        if c.latency is not None:
            vals.append(c.latency.upper(eps))
        err = c.error_distribution()
        if err is not None:
            vals.append(err.upper(eps))
        return max(v for v in vals if math.isfinite(v))
    return node.support([support(c, j, eps) for c in node.children])  # type: ignore[attr-defined]


def sum_depth(node: Node) -> int:
    """Most rounded durations (leaf draws, offsets, backoffs) summed along one path."""
    if isinstance(node, Ref):
        return 1
    return node.sum_depth([sum_depth(c) for c in node.children])  # type: ignore[attr-defined]


def make_grid(j: Journey, grid_points: int | None = None) -> Grid:
    """A grid over the journey's whole :func:`support` (the comonotone range), ``grid_points`` points."""
    n = int(grid_points or DEFAULT_GRID_POINTS)
    if not 16 <= n <= MAX_GRID_POINTS:
        raise ValueError(f"grid_points must be between 16 and {MAX_GRID_POINTS}, got {n}")
    top = support(j.root, j)
    if not math.isfinite(top) or top <= 0:
        top = 1.0
    return Grid(step=top / (n - 1), n=n)


def tail_of_sum(parts: list[tuple[float, float]], shift: float = 0.0) -> tuple[float, float]:
    """(mean, tail point) of a sum: means add (plus ``shift``), the excesses over the means add in
    quadrature (exact for gaussian sums, dominated by the largest excess for heavy tails)."""
    m = sum(p[0] for p in parts) + shift
    return m, m + math.sqrt(sum((p[1] - p[0]) ** 2 for p in parts))


def tail_estimate(node: Node, j: Journey, eps: float = SUPPORT_EPS) -> tuple[float, float]:
    """(mean, tail point) of a node's duration, for sizing a grid (not a bound).

    Leaves: mean and ``(1 − eps)`` quantile; operators combine their children's (sums by
    :func:`tail_of_sum`, joins and choices the largest, timeouts cap: each ``tail_estimate``).
    """
    if isinstance(node, Ref):
        c = j.component(node.component)
        dists = [d for d in (c.latency, c.error_distribution()) if d is not None]
        if not dists:
            return 0.0, 0.0
        means = [d.mean() for d in dists]
        tails = [d.upper(eps) for d in dists]
        mean = max(m for m in means if math.isfinite(m)) if any(math.isfinite(m) for m in means) else max(tails)
        return min(mean, max(tails)), max(tails)
    return node.tail_estimate([tail_estimate(c, j, eps) for c in node.children])  # type: ignore[attr-defined]


def fitted_grid(j: Journey, grid_points: int | None = None) -> Grid:
    """A grid fitted to where the journey's mass is likely to be: ``1.25 ×`` the
    :func:`tail_estimate` (at most the full :func:`support`). Sums of many calls reach far less
    than the sum of the calls' extreme quantiles, so this resolves the body of the law much
    better. Callers check the mass beyond the grid and fall back to :func:`make_grid`.
    """
    full = make_grid(j, grid_points)
    top = min(1.25 * tail_estimate(j.root, j)[1], full.step * (full.n - 1))
    if not math.isfinite(top) or top <= 0:
        return full
    return Grid(step=top / (full.n - 1), n=full.n)


def fitted_law(j: Journey, space: StateSpace, grid_points: int | None = None) -> tuple[Law, Grid]:
    """The journey's law under ``space`` on a :func:`fitted_grid`, redone over the whole support
    when more than :data:`TAIL_MASS` ×10 of the mass falls beyond the fitted range."""
    grid = fitted_grid(j, grid_points)
    law = mixture_law(j, grid, space)
    beyond = float(law.so[0] + law.fo[0])
    if beyond > 10 * TAIL_MASS:
        full = make_grid(j, grid_points)
        if full.step > grid.step:
            grid = full
            law = mixture_law(j, grid, space)
    return law, grid


def latency_matters(j: Journey) -> bool:
    """True when availability depends on latency: a timeout or per-try timeout (a node with a
    ``timed_step``) with latency modelled."""
    if not j.latency_modelled:
        return False
    return any(not n.is_leaf and n.timed_step() is not None for n in j.root.walk())  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- defective laws


@dataclass
class Law:
    """Joint (ok, t) law on a grid for S states: masses (S, G) and beyond-grid masses (S,)."""

    s: np.ndarray
    f: np.ndarray
    so: np.ndarray
    fo: np.ndarray

    @property
    def ok(self) -> np.ndarray:
        """P(ok) per state (S,)."""
        return self.s.sum(axis=1) + self.so

    def scaled(self, w: np.ndarray | float) -> Law:
        w = np.asarray(w, dtype=np.float64)
        wc = w[..., None] if w.ndim else w
        return Law(self.s * wc, self.f * wc, self.so * w, self.fo * w)

    def plus(self, other: Law) -> Law:
        return Law(self.s + other.s, self.f + other.f, self.so + other.so, self.fo + other.fo)


def _support_len(a: np.ndarray) -> int:
    nz = np.flatnonzero(np.any(a != 0, axis=0))
    return 0 if nz.size == 0 else int(nz[-1]) + 1


def convolve(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distribution of the sum of two independent defective parts (S, G) each.

    Returns the grid part (S, G) and the mass that falls beyond the grid (S,). Direct shifts
    when one support is short, FFT otherwise.
    """
    S, G = a.shape
    na, nb = _support_len(a), _support_len(b)
    out = np.zeros((S, G))
    if na == 0 or nb == 0:
        return out, np.zeros(S)
    if min(na, nb) <= 24:
        small, big, ns = (a, b, na) if na <= nb else (b, a, nb)
        for k in range(ns):
            col = small[:, k : k + 1]
            if np.any(col):
                out[:, k:] += col * big[:, : G - k]
    else:
        n = sfft.next_fast_len(na + nb - 1, real=True)
        full = sfft.irfft(sfft.rfft(a[:, :na], n, axis=1) * sfft.rfft(b[:, :nb], n, axis=1), n, axis=1)
        m = min(G, na + nb - 1)
        out[:, :m] = full[:, :m]
        np.clip(out, 0.0, None, out=out)
    tail = np.clip(a.sum(axis=1) * b.sum(axis=1) - out.sum(axis=1), 0.0, None)
    return out, tail


def add_parts(xm: np.ndarray, xo: np.ndarray, ym: np.ndarray, yo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum of two independent defective durations, each (mass on grid, mass beyond)."""
    m, tail = convolve(xm, ym)
    return m, tail + xo * (ym.sum(axis=1) + yo) + xm.sum(axis=1) * yo


def shift(m: np.ndarray, o: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Delay a defective duration by ``k`` grid steps."""
    if k <= 0:
        return m, o
    G = m.shape[1]
    out = np.zeros_like(m)
    if k < G:
        out[:, k:] = m[:, : G - k]
    return out, o + m[:, max(G - k, 0) :].sum(axis=1)


def shift_cdf(c: np.ndarray, k: int) -> np.ndarray:
    """CDF at ``x − k·Δ`` from the CDF at ``x`` (zeros before the shift)."""
    if k <= 0:
        return c
    out = np.zeros_like(c)
    if k < c.shape[-1]:
        out[..., k:] = c[..., : c.shape[-1] - k]
    return out


def cdf_masses(c: np.ndarray) -> np.ndarray:
    """Cell masses from a CDF at the cell boundaries (negative rounding clipped)."""
    m = np.diff(c, axis=-1, prepend=0.0)
    return np.clip(m, 0.0, None)


def cut(law: Law, k: int, keep: float = 1.0) -> Law:
    """Per-try timeout / deadline at grid index ``k``: ok only if t ≤ deadline; t = min(t, x_k).

    ``keep`` is the share of cell k's success mass below the deadline (the cell's mass is taken
    as uniform over the cell, as when quantiles are read), the rest becomes a failure at x_k.
    """
    G = law.s.shape[1]
    if k >= G:
        return law
    s, f = law.s.copy(), law.f.copy()
    late_s = s[:, k + 1 :].sum(axis=1) + law.so + (1.0 - keep) * s[:, k]
    late_f = f[:, k + 1 :].sum(axis=1) + law.fo
    s[:, k] *= keep
    s[:, k + 1 :] = 0.0
    f[:, k + 1 :] = 0.0
    f[:, k] += late_s + late_f
    z = np.zeros_like(law.so)
    return Law(s, f, z, z.copy())


def pb_at_least(p: list[np.ndarray], k: int) -> np.ndarray:
    """P(at least k of n independent events), p: list of arrays of one shape (Poisson-binomial).

    The dynamic program keeps the counts that can still matter: successes 0..k−1 plus an
    absorbing "≥ k" state when k is small, failures 0..n−k when k is close to n (the answer is
    then the sum of the surviving states). Either way no probability is formed by subtraction,
    and the cost is O(n · min(k, n − k + 1)) array operations of the input's shape
    (docs/semantics.md, "Cost of the analytic layer").
    """
    return all_within_at_least(p, None, k)


def all_within_at_least(cs: list[np.ndarray], cf: list[np.ndarray] | None, k: int) -> np.ndarray:
    """P(every branch finished by x and at least k of them ok), independent branches.

    ``cs[i]``, ``cf[i]``: P(branch i ok and done by x), P(branch i failed and done by x); with
    ``cf`` None every branch counts as done (plain Poisson-binomial tail, :func:`pb_at_least`).
    O(n · min(k, n − k + 1)) vectorised steps.
    """
    n = len(cs)
    shape = np.broadcast_shapes(*(np.shape(c) for c in cs)) if n else ()
    pairs = ((np.asarray(c, dtype=np.float64), 1.0 - np.asarray(c, dtype=np.float64) if cf is None else np.asarray(cf[i], dtype=np.float64))
             for i, c in enumerate(cs))  # one branch at a time: a 10⁴-wide fork is never stacked
    if k <= 0:
        out = np.ones(shape)
        for si, fi in pairs:
            out = out * (si + fi)
        return out
    if k > n:
        return np.zeros(shape)
    if k <= n - k + 1:
        # successes 0..k-1 and an absorbing ">= k"
        dp = np.zeros((k + 1, *shape))
        dp[0] = 1.0
        for si, fi in pairs:
            top = dp[k] * (si + fi) + dp[k - 1] * si
            dp[1:k] = dp[1:k] * fi + dp[: k - 1] * si
            dp[0] = dp[0] * fi
            dp[k] = top
        return dp[k]
    # failures 0..n-k: at least k ok <=> at most n-k failed (more failures drop out)
    dp = np.zeros((n - k + 1, *shape))
    dp[0] = 1.0
    for si, fi in pairs:
        dp[1:] = dp[1:] * si + dp[:-1] * fi
        dp[0] = dp[0] * si
    return dp.sum(axis=0)


# --------------------------------------------------------------------------- mixtures


def mix_laws(laws: list[Law], weights: list[float]) -> Law:
    """A mixture of laws (choice branches, a skipped optional step)."""
    out = laws[0].scaled(weights[0])
    for law, w in zip(laws[1:], weights[1:]):
        out = out.plus(law.scaled(w))
    return out


# --------------------------------------------------------------------------- leaves and the tree


class LeafTable:
    """Discretised leaf distributions on a grid, cached per distribution: the CDF at the cell
    boundaries and the cell masses with the mass beyond the grid."""

    def __init__(self, grid: Grid) -> None:
        self.grid = grid
        # keyed by value (distributions are frozen dataclasses): a fork over 10⁴ components
        # with the same latency model discretises it once
        self._cdf: dict[Distribution, np.ndarray] = {}
        self._mass: dict[Distribution | None, tuple[np.ndarray, float]] = {}

    def cdf(self, dist: Distribution) -> np.ndarray:
        key = dist
        if key not in self._cdf:
            c = np.clip(np.asarray(dist.cdf(self.grid.boundaries), dtype=np.float64), 0.0, 1.0)
            self._cdf[key] = np.maximum.accumulate(c)
        return self._cdf[key]

    def mass(self, dist: Distribution | None) -> tuple[np.ndarray, float]:
        """Cell masses (G,) and the mass beyond the grid; ``None`` is a fast failure (t = 0)."""
        key = dist
        if key not in self._mass:
            if dist is None:
                m = np.zeros(self.grid.n)
                m[0] = 1.0
                self._mass[key] = (m, 0.0)
            else:
                c = self.cdf(dist)
                self._mass[key] = (cdf_masses(c), float(1.0 - c[-1]))
        return self._mass[key]


def leaf_law(
    comp: Component,
    avail: np.ndarray,
    table: LeafTable,
    latent: np.ndarray | None = None,
    loading: np.ndarray | None = None,
    own_sd: float = 1.0,
) -> Law:
    """A single call: ok with probability ``avail`` (S,), duration from the latency model
    (conditioned on latency factors when ``latent``/``loading`` are given)."""
    S = avail.shape[0]
    G = table.grid.n
    conditioned = latent is not None and loading is not None and bool(np.any(loading != 0))
    if comp.latency is None:
        ms = np.zeros(G)
        ms[0] = 1.0
        return Law(avail[:, None] * ms, (1.0 - avail)[:, None] * ms, np.zeros(S), np.zeros(S))
    if not conditioned:
        ms, os_ = table.mass(comp.latency)
        mf, of = table.mass(comp.error_distribution())
        return Law(avail[:, None] * ms, (1.0 - avail)[:, None] * mf, avail * os_, (1.0 - avail) * of)
    assert latent is not None and loading is not None

    def cdf_of(dist: Distribution | None) -> np.ndarray:
        if dist is None:  # fast failure: at t = 0
            return np.ones((S, G))
        return conditional_cdf(table.cdf(dist), latent @ loading, own_sd)

    cs = cdf_of(comp.latency)
    cf = cdf_of(comp.error_distribution())
    return Law(cdf_masses(cs) * avail[:, None], cdf_masses(cf) * (1.0 - avail)[:, None], avail * (1.0 - cs[:, -1]), (1.0 - avail) * (1.0 - cf[:, -1]))


class TreeEvaluator:
    """Evaluate a journey's joint (ok, t) law for one chunk of states, independent given the state.

    ``record`` keeps every node's law (keyed by ``id(node)``) for call amplification.
    """

    def __init__(self, j: Journey, grid: Grid, table: LeafTable | None = None, record: bool = False) -> None:
        self.j = j
        self.grid = grid
        self.table = table or LeafTable(grid)
        self.idx = {c: i for i, c in enumerate(j.component_ids)}
        self.record = record
        self.laws: dict[int, Law] = {}

    def evaluate(self, chunk: StateChunk, space: StateSpace | None = None, node: Node | None = None) -> Law:
        """The law of ``node`` (default: the root) for every state of ``chunk``."""
        self._chunk = chunk
        self._lm = space.latency_model if space is not None else None
        return self._eval(node if node is not None else self.j.root)

    def _eval(self, node: Node) -> Law:
        law = self._eval_node(node)
        if self.record:
            self.laws[id(node)] = law
        return law

    def _eval_node(self, node: Node) -> Law:
        if isinstance(node, Ref):
            i = self.idx[node.component]
            comp = self.j.components[i]
            lm = self._lm
            if lm is not None and self._chunk.latent is not None:
                return leaf_law(comp, self._chunk.avail[:, i], self.table, self._chunk.latent, lm.loadings[i], float(lm.own_sd[i]))
            return leaf_law(comp, self._chunk.avail[:, i], self.table)
        return node.law([self._eval(c) for c in node.children], self.grid)  # type: ignore[attr-defined]


def chunk_size_for(grid: Grid) -> int:
    """States per chunk for grid work (keeps each (S, G) array around 4 MB)."""
    return max(1, (1 << 19) // grid.n)


class LatencyCuts:
    """P(ok) of the nodes whose outcome depends on latency — ``Timeout`` (ok iff the step is ok
    by the deadline) and ``Retry`` with a per-try timeout — for availability.

    Above such a node only its P(ok) matters, so its step is composed on a *local* grid that
    spans just the deadline (mass beyond it fails anyway): ``points`` cells covering [0, D]. The
    result for a state depends only on the availabilities (and latency factors) of the
    components under the node, so distinct rows are evaluated once and remembered — across
    chunks and across the scenarios of a shared-fate search.
    """

    def __init__(self, j: Journey, points: int = 1024) -> None:
        self.j = j
        self.points = points
        self._ev: dict[int, TreeEvaluator] = {}
        self._cols: dict[int, np.ndarray] = {}
        self._memo: dict[tuple[int, bytes], float] = {}
        self._leaf: dict[tuple[int, float], tuple[int, float]] = {}

    def _evaluator(self, node: Node, deadline: float) -> TreeEvaluator:
        key = id(node)
        if key not in self._ev:
            # D is the upper edge of the last cell: every cell lies at or below D, the CDF at D
            # (atoms exactly at D included) is the on-grid mass, and later mass is beyond the grid.
            # The grid spans the step's own support when that ends before the deadline (a timeout
            # nested under a longer per-try timeout): cells of D/points would blur the inner
            # deadline; mass beyond the support (≲ calls·eps) then counts as late, conservatively.
            step = node.timed_step()[0]  # type: ignore[attr-defined]
            top = min(deadline, support(step, self.j))
            if not (math.isfinite(top) and top > 0):
                top = deadline
            self._ev[key] = TreeEvaluator(self.j, Grid(step=top / (self.points - 0.5), n=self.points))
            idx = {c: i for i, c in enumerate(self.j.component_ids)}
            self._cols[key] = np.array(sorted({idx[c] for c in node.refs()}), dtype=np.int64)
        return self._ev[key]

    def step_ok_by(self, node: Node, chunk: StateChunk, space: StateSpace | None) -> np.ndarray:
        """P(step ok and t ≤ deadline) per state (S,) of a node's ``timed_step``: the timeout's
        ok, or one attempt's ok under a per-try timeout."""
        timed = node.timed_step()  # type: ignore[attr-defined]
        assert timed is not None
        step, deadline = timed
        if isinstance(step, Ref):
            return self._leaf_ok_by(step, deadline, chunk, space)
        ev = self._evaluator(node, deadline)
        cols = self._cols[id(node)]
        key_rows = chunk.avail[:, cols]
        if chunk.latent is not None:
            key_rows = np.concatenate([key_rows, chunk.latent], axis=1)
        rows, first, inverse = np.unique(key_rows, axis=0, return_index=True, return_inverse=True)
        keys = [(id(node), r.tobytes()) for r in rows]
        todo = np.array([i for i, k in enumerate(keys) if k not in self._memo], dtype=np.int64)
        size = chunk_size_for(ev.grid)
        for start in range(0, len(todo), size):
            pick = first[todo[start : start + size]]
            part = StateChunk(chunk.weights[pick], chunk.avail[pick], None if chunk.latent is None else chunk.latent[pick])
            law = ev.evaluate(part, space, step)
            ok = law.s.sum(axis=1)  # ok and done by D: the success mass on the grid
            for i, v in zip(todo[start : start + size], ok):
                self._memo[keys[i]] = float(v)
        vals = np.array([self._memo[k] for k in keys])
        return np.clip(vals[np.ravel(inverse)], 0.0, 1.0)

    def _leaf_ok_by(self, ref: Ref, deadline: float, chunk: StateChunk, space: StateSpace | None) -> np.ndarray:
        """A single call: ``a · F(D)`` (F conditioned on the latency factors when in force)."""
        key = (id(ref), deadline)
        if key not in self._leaf:
            i = self.j.component_ids.index(ref.component)
            lat = self.j.components[i].latency
            self._leaf[key] = (i, 1.0 if lat is None else float(np.clip(lat.cdf(deadline), 0.0, 1.0)))
        i, f = self._leaf[key]
        lm = space.latency_model if space is not None else None
        if lm is not None and chunk.latent is not None and np.any(lm.loadings[i] != 0):
            f_state = conditional_cdf(np.array([f]), chunk.latent @ lm.loadings[i], float(lm.own_sd[i]))[:, 0]
            return np.clip(chunk.avail[:, i] * f_state, 0.0, 1.0)
        return chunk.avail[:, i] * f


def mixture_law(j: Journey, grid: Grid, space: StateSpace, table: LeafTable | None = None) -> Law:
    """The journey's joint law under a scenario: Σ_states weight · law(state), shape (1, G)."""
    ev = TreeEvaluator(j, grid, table)
    total: Law | None = None
    for chunk in space.chunks(chunk_size_for(grid)):
        law = ev.evaluate(chunk, space)
        w = chunk.weights
        part = Law(
            (law.s * w[:, None]).sum(0, keepdims=True),
            (law.f * w[:, None]).sum(0, keepdims=True),
            np.atleast_1d(law.so @ w),
            np.atleast_1d(law.fo @ w),
        )
        total = part if total is None else total.plus(part)
    assert total is not None
    return total


# --------------------------------------------------------------------------- quantiles


MIN_CELLS = 25
"""A quantile read from fewer grid cells than this is recomputed on a finer grid."""


def refined_quantiles(
    law_on: Callable[[Grid], Law], base: Grid, qs: tuple[float, ...], levels: int = 3, base_law: Law | None = None
) -> tuple[dict[float, float], dict[float, float], float]:
    """Quantiles of t given ok, each read from a grid fine enough for it.

    ``law_on(grid)`` composes the journey on a grid (``base_law``: already done on ``base``).
    The base grid spans the whole law; a
    quantile lying fewer than :data:`MIN_CELLS` cells from 0 (heavy tails: p50 ≪ p999) is
    recomputed on a grid spanning twice it, with as many points, up to ``levels`` times. On a
    narrower grid the mass beyond it only loses its ok / failed label (everything composed
    from it is beyond the grid too), so the on-grid success masses are exact, and P(ok) is
    taken from the base grid.

    Returns the quantiles (seconds), the grid step each was read with, and P(ok).
    """
    law = base_law if base_law is not None else law_on(base)
    ok = float(law.s[0].sum() + law.so[0])
    out = quantiles_from_mass(law.s[0], float(law.so[0]), base, qs)
    used = {q: base.step for q in qs}
    grid = base
    for _ in range(levels):
        coarse = [q for q in qs if math.isfinite(out[q]) and out[q] < MIN_CELLS * used[q]]
        if not coarse or ok <= 0:
            break
        top = 2.0 * max(max(out[q] for q in coarse), grid.step)
        finer = Grid(step=top / (base.n - 1), n=base.n)
        if finer.step >= 0.5 * grid.step:
            break
        fine = law_on(finer)
        s = fine.s[0]
        res = quantiles_from_mass(s, max(ok - float(s.sum()), 0.0), finer, tuple(coarse))
        for q in coarse:
            if math.isfinite(res[q]):
                out[q], used[q] = res[q], finer.step
        grid = finer
    return out, used, ok


def quantiles_from_mass(s: np.ndarray, so: float, grid: Grid, qs: tuple[float, ...]) -> dict[float, float]:
    """Quantiles (seconds) of the *conditional* law of t given ok, from success masses (G,).

    Mass on ``x_k`` is spread uniformly over its cell; ``inf`` when the quantile lies beyond the
    grid (in the overflow mass); ``nan`` when P(ok) = 0.
    """
    s = np.asarray(s, dtype=np.float64).ravel()
    total = float(s.sum() + so)
    out: dict[float, float] = {}
    if total <= 0:
        return {q: math.nan for q in qs}
    cum = np.cumsum(s) / total
    edges = np.concatenate([[0.0], grid.boundaries])
    cum0 = np.concatenate([[0.0], cum])
    for q in qs:
        k = int(np.searchsorted(cum0, q, side="left"))
        if k >= len(cum0):
            out[q] = math.inf
            continue
        if k == 0:
            out[q] = 0.0
            continue
        lo, hi = cum0[k - 1], cum0[k]
        frac = (q - lo) / (hi - lo) if hi > lo else 1.0
        out[q] = float(edges[k - 1] + frac * (edges[k] - edges[k - 1]))
    return out
