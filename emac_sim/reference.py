"""A slow, obvious pure-Python journey simulator with the kernel's semantics (docs/semantics.md).

It exists for tests and small jobs (synthetic traces): a recursive walk of the operator tree,
one call at a time, written to be read rather than to be fast. Given the same random stream it
makes the same draws in the same order as ``emac_sim.kernels.interpreter``, so the two must
agree sample for sample:

* per request: failure-factor normals, latency-factor normals, one uniform per fate group, one
  per shock domain (in the orders of ``emac_sim.model.scenario``);
* per call, in tree order: a failure uniform then a latency uniform; one uniform when a
  ``choice`` or an ``optional`` node is entered.

The stream is xoshiro256** (:class:`Xoshiro256`, a port of ``emac_sim.kernels.rng``) seeded per
block exactly like the engine (``emac_sim.engine.blocks.block_state``). Normals are Φ⁻¹ of
uniforms (scipy here, AS 241 in the kernel; they agree to ~1e-15). Latency draws use the
distributions' own ``ppf`` (the upper half through the survival side, for precision), except
gamma and mixtures, which the kernel samples from a quantile table: the reference reads the
same table (``emac_sim.engine.compile.quantile_table``) so outcomes match exactly; the table
itself is tested against ``ppf`` separately.

Public: :func:`simulate_requests` (per-call records, used to write synthetic traces) and
:func:`simulate_block` (block counts comparable with ``emac_sim.engine.run_block``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from .model import distributions as D
from .model.journey import (
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
from .model.scenario import Scenario, factor_model, fate_groups, named_scenario, shocks

_MASK = (1 << 64) - 1


class Xoshiro256:
    """xoshiro256** on Python integers; ``uniform()`` returns (k + 0.5)·2⁻⁵² like the kernel."""

    def __init__(self, state: np.ndarray | list[int]) -> None:
        self.s = [int(v) for v in state]

    @staticmethod
    def _rotl(x: int, k: int) -> int:
        return ((x << k) | (x >> (64 - k))) & _MASK

    def next_u64(self) -> int:
        s0, s1, s2, s3 = self.s
        result = (self._rotl((s1 * 5) & _MASK, 7) * 9) & _MASK
        t = (s1 << 17) & _MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = self._rotl(s3, 45)
        self.s = [s0, s1, s2, s3]
        return result

    def uniform(self) -> float:
        return ((self.next_u64() >> 12) + 0.5) * 2.0**-52

    def normal(self) -> float:
        return float(special.ndtri(self.uniform()))

    def getstate(self) -> list[int]:
        return list(self.s)

    def setstate(self, state: list[int]) -> None:
        self.s = list(state)


@dataclass
class CallRecord:
    """One issued call: component, start/end (seconds from the request start), outcome, the
    attempt number within the innermost retry (1 outside retries) and the operator path."""

    component: str
    start: float
    end: float
    ok: bool
    attempt: int
    path: str


@dataclass
class RequestRecord:
    """One journey request: outcome, elapsed seconds and the calls it issued, in issue order."""

    ok: bool
    t: float
    calls: list[CallRecord] = field(default_factory=list)
    dominant: str | None = None
    hedged: bool = False


# --------------------------------------------------------------------------- latency


def _upper_ppf(dist: D.Distribution, s: float) -> float:
    """Quantile at upper-tail probability s (u = 1 − s ≥ 0.5), written per kind."""
    if isinstance(dist, D.LogNormal):
        return math.exp(dist.mu - dist.sigma * float(special.ndtri(s)))
    if isinstance(dist, D.Exponential):
        return -dist.mean_s * math.log(s)
    if isinstance(dist, D.Weibull):
        return dist.scale * (-math.log(s)) ** (1.0 / dist.shape)
    if isinstance(dist, D.Pareto):
        return dist.scale * s ** (-1.0 / dist.alpha)
    if isinstance(dist, D._Piecewise):
        pn, xn, theta = dist._tail()
        if 1.0 - s > pn and theta > 0:
            return xn - theta * math.log(s / (1.0 - pn))
    return float(dist.ppf(1.0 - s))


class _Latency:
    """Inverse CDFs of the journey's latency distributions, with the kernel's tables for
    gamma and mixtures."""

    def __init__(self) -> None:
        self.tables: dict[object, tuple[np.ndarray, bool]] = {}

    def ppf(self, dist: D.Distribution | None, u: float, s: float) -> float:
        if dist is None:
            return 0.0
        if isinstance(dist, (D.Gamma, D.Mixture)):
            return self._table(dist, u, s)
        if u < 0.5:
            return float(dist.ppf(u))
        return _upper_ppf(dist, s)

    def from_latent(self, dist: D.Distribution | None, z: float) -> float:
        if dist is None:
            return 0.0
        if isinstance(dist, D.LogNormal):  # ppf(Φ(z)) = exp(mu + sigma·z)
            return math.exp(dist.mu + dist.sigma * z)
        u = float(special.ndtr(z)) or 5e-324
        s = float(special.ndtr(-z)) or 5e-324
        return self.ppf(dist, u, s)

    def _table(self, dist: D.Distribution, u: float, s: float) -> float:
        from .engine.compile import TABLE_POINTS, TABLE_W, quantile_table

        if dist not in self.tables:
            self.tables[dist] = quantile_table(dist)
        values, log_flag = self.tables[dist]
        pos = (math.log(u / s) + TABLE_W) * ((TABLE_POINTS - 1) / (2 * TABLE_W))
        if pos <= 0:
            v = float(values[0])
        elif pos >= TABLE_POINTS - 1:
            v = float(values[-1])
        else:
            i = int(pos)
            f = pos - i
            v = float(values[i]) + f * (float(values[i + 1]) - float(values[i]))
        return math.exp(v) if log_flag else v


# --------------------------------------------------------------------------- the simulator


class ReferenceSimulator:
    """Evaluates one journey under one scenario, request by request.

    Parameters
    ----------
    journey, scenario
        What to simulate.
    """

    def __init__(self, journey: Journey, scenario: Scenario) -> None:
        self.j = journey
        self.ids = list(journey.component_ids)
        self.groups = fate_groups(journey, scenario)
        self.group_of = {m: g for g, members in enumerate(self.groups) for m in members}
        self.ff = factor_model(journey, scenario, latency=False)
        self.fl = factor_model(journey, scenario, latency=True)
        self.sh = shocks(journey, scenario)
        self.own_a = {c: float(self.sh.own_availability[i]) for i, c in enumerate(self.ids)}
        self.latency_on = journey.latency_modelled
        self.lat = _Latency()
        self.forced: tuple[str, bool] | None = None

    # ---- per request
    def draw_domain_state(self, rng: Xoshiro256) -> None:
        self.w_f = [rng.normal() for _ in range(self.ff.n_factors)]
        self.w_l = [rng.normal() for _ in range(self.fl.n_factors)]
        self.g_u = [rng.uniform() for _ in self.groups]
        self.outage = [rng.uniform() < float(q) for q in self.sh.probability]

    def run_request(self, rng: Xoshiro256, record: bool = True) -> RequestRecord:
        self.rng = rng
        self.record = record
        self.req = RequestRecord(ok=False, t=0.0)
        ok, t, dom, _ = self.run(self.j.root, "root", 0.0, 1)
        self.req.ok, self.req.t = ok, t
        self.req.dominant = dom
        return self.req

    # ---- one call of component c
    def call(self, c: str, path: str, start: float, attempt: int) -> tuple[bool, float]:
        i = self.ids.index(c)
        u1 = self.rng.uniform()
        u2 = self.rng.uniform()
        if self.forced is not None and self.forced[0] == c:
            ok = self.forced[1]
        else:
            if c in self.group_of:
                ok = self.g_u[self.group_of[c]] <= self.own_a[c]
            elif self.ff.n_factors and np.any(self.ff.loadings[i] != 0):
                z = float(np.dot(self.ff.loadings[i], self.w_f)) + float(self.ff.own_sd[i]) * float(special.ndtri(u1))
                ok = float(special.ndtr(z)) <= self.own_a[c]
            else:
                ok = u1 <= self.own_a[c]
            if ok and any(self.outage[d] for d in range(len(self.sh.names)) if self.sh.members[d, i]):
                ok = False
        t = 0.0
        if self.latency_on:
            comp = self.j.component(c)
            dist = comp.latency if ok else comp.error_distribution()
            if self.fl.n_factors and np.any(self.fl.loadings[i] != 0):
                z = float(np.dot(self.fl.loadings[i], self.w_l)) + float(self.fl.own_sd[i]) * float(special.ndtri(u2))
                t = self.lat.from_latent(dist, z)
            else:
                t = self.lat.ppf(dist, u2, 1.0 - u2)
        if self.record:
            self.req.calls.append(CallRecord(c, start, start + t, ok, attempt, path))
        return ok, t

    # ---- the operators: return (ok, t, dominant component, its call's seconds)
    def run(self, node: Node, path: str, start: float, attempt: int) -> tuple[bool, float, str | None, float]:
        if isinstance(node, Ref):
            ok, t = self.call(node.component, path, start, attempt)
            return ok, t, node.component, t

        if isinstance(node, (Series, Repeat)):
            if isinstance(node, Series):
                steps = [(f"{path}.steps[{i}]", s) for i, s in enumerate(node.steps)]
            else:
                steps = [(f"{path}.step", node.step)] * node.count
            total, dom, domt = 0.0, None, -1.0
            for p, step in steps:
                ok, t, d, dt = self.run(step, p, start + total, attempt)
                total += t
                if dt > domt:
                    dom, domt = d, dt
                if not ok:
                    return False, total, dom, domt
            return True, total, dom, domt

        if isinstance(node, Fallback):
            total, dom, domt = 0.0, None, -1.0
            for i, b in enumerate(node.branches):
                ok, t, d, dt = self.run(b, f"{path}.branches[{i}]", start + total, attempt)
                total += t
                if dt > domt:
                    dom, domt = d, dt
                if ok:
                    return True, total, dom, domt
            return False, total, dom, domt

        if isinstance(node, Parallel):
            results = [self.run(b, f"{path}.branches[{i}]", start, attempt) for i, b in enumerate(node.branches)]
            slowest = results[0]
            for r in results[1:]:
                if r[1] > slowest[1]:
                    slowest = r
            successes = sorted((r for r in results if r[0]), key=lambda r: r[1])  # stable
            k = node.needed
            if len(successes) < k:
                return False, slowest[1], slowest[2], slowest[3]
            # ties (equal durations) only matter for the dominant component: 'all' reports the
            # first slowest branch, 'any' the first fastest success, quorum the stable k-th
            kth = slowest if k == len(results) else successes[k - 1]
            return True, kth[1], kth[2], kth[3]

        if isinstance(node, Race):
            h = node.hedge_delay
            best = None  # (finish, dom, domt) of the first success
            latest = None  # (finish, dom, domt) of the latest finish
            for j, b in enumerate(node.branches):
                s_j = j * h
                if j > 0 and h != 0.0 and best is not None and best[0] <= s_j:
                    break  # an earlier branch already succeeded: branch j is never issued
                if j == 1:
                    self.hedged_paths.add(path)
                ok, t, d, dt = self.run(b, f"{path}.branches[{j}]", start + s_j, attempt)
                finish = s_j + t
                if ok and (best is None or finish < best[0]):
                    best = (finish, d, dt)
                if latest is None or finish > latest[0]:
                    latest = (finish, d, dt)
            if best is not None:
                return True, best[0], best[1], best[2]
            assert latest is not None
            return False, latest[0], latest[1], latest[2]

        if isinstance(node, Retry):
            tau = math.inf if node.per_try_timeout is None else node.per_try_timeout
            total, dom, domt = 0.0, None, -1.0
            for a in range(1, node.attempts + 1):
                ok, t, d, dt = self.run(node.step, f"{path}.step", start + total, a)
                if t > tau:  # a timed-out try is a failure that took exactly tau
                    ok, t = False, tau
                total += t
                dt = min(dt, t)
                if d is not None and dt > domt:
                    dom, domt = d, dt
                if ok:
                    return True, total, dom, domt
                if a < node.attempts:
                    total += node.backoff.delay(a)
            return False, total, dom, domt

        if isinstance(node, Timeout):
            ok, t, d, dt = self.run(node.step, f"{path}.step", start, attempt)
            if t > node.deadline:
                return False, node.deadline, d, min(dt, node.deadline)
            return ok, t, d, dt

        if isinstance(node, Choice):
            u = self.rng.uniform()
            cum, acc = [], 0.0
            for p in node.probabilities:
                acc += p
                cum.append(acc)
            cum[-1] = 1.0
            j = next(i for i, c in enumerate(cum) if u < c or i == len(cum) - 1)
            return self.run(node.branches[j], f"{path}.branches[{j}]", start, attempt)

        if isinstance(node, Optional):
            if self.rng.uniform() < node.probability:
                return self.run(node.step, f"{path}.step", start, attempt)
            return True, 0.0, None, -1.0

        raise TypeError(f"unknown operator {node!r}")  # pragma: no cover

    def sample(self, rng: Xoshiro256, record: bool = True) -> RequestRecord:
        """One request: domain state, then the tree."""
        self.draw_domain_state(rng)
        self.forced = None
        self.hedged_paths: set[str] = set()
        req = self.run_request(rng, record)
        req.hedged = bool(self.hedged_paths)
        return req

    def forced_ok(self, rng: Xoshiro256, state: list[int], component: str, up: bool) -> bool:
        """Outcome of the current request re-run from ``state`` (just after the domain
        state) with every call of ``component`` forced to succeed (``up``) or fail."""
        saved_paths = self.hedged_paths
        rng.setstate(state)
        self.forced = (component, up)
        self.hedged_paths = set()
        try:
            return self.run_request(rng, record=False).ok
        finally:
            self.forced = None
            self.hedged_paths = saved_paths


# --------------------------------------------------------------------------- public entry points


def _scenario(journey: Journey, correlation: str, pessimistic_shared: frozenset[str] | None) -> Scenario:
    if correlation == "pessimistic" and pessimistic_shared is None:
        from .analytic import pessimistic_shared as minimiser

        pessimistic_shared = frozenset(minimiser(journey))
    return named_scenario(journey, correlation, pessimistic_shared)


def simulate_requests(
    journey: Journey,
    n: int,
    seed: int,
    correlation: str = "declared",
    *,
    pessimistic_shared: frozenset[str] | None = None,
    block_size: int | None = None,
) -> list[RequestRecord]:
    """Simulate ``n`` requests and return them with their calls (seconds from request start).

    Request ``i`` is sample ``i`` of the engine run with the same ``seed``, ``correlation`` and
    block size (``emac_sim.engine.BLOCK_SIZE`` by default): the same outcome and duration.

    Parameters
    ----------
    journey
        The journey IR.
    n
        Number of requests.
    seed
        Non-negative integer seed.
    correlation
        ``declared`` | ``independent`` | ``shared`` | ``pessimistic``.
    pessimistic_shared
        Shared set for ``pessimistic`` (default: ``emac_sim.analytic.pessimistic_shared``).
    block_size
        Samples per random-stream block.

    Returns
    -------
    list[RequestRecord]
    """
    from .engine.blocks import BLOCK_SIZE, block_state

    bs = BLOCK_SIZE if block_size is None else block_size
    sim = ReferenceSimulator(journey, _scenario(journey, correlation, pessimistic_shared))
    out: list[RequestRecord] = []
    rng = None
    for i in range(n):
        if i % bs == 0:
            rng = Xoshiro256(block_state(seed, i // bs))
        assert rng is not None
        out.append(sim.sample(rng))
    return out


def _bucket_index(t: float) -> int:
    from .kernels.histogram import E_MAX, E_MIN, N_BUCKETS, SUB

    if t <= 0.0:
        return 0
    if not t < math.inf:
        return N_BUCKETS - 1
    m, e = math.frexp(t)
    if e < E_MIN:
        return 1
    if e >= E_MAX:
        return N_BUCKETS - 1
    return 2 + (e - E_MIN) * SUB + int((2.0 * m - 1.0) * SUB)


def simulate_block(journey: Journey, scenario: Scenario, state: np.ndarray | list[int], n: int, birnbaum_stride: int = 0):
    """Reference counterpart of ``emac_sim.engine.run_block``: ``n`` requests from the given
    xoshiro256** state, aggregated into an ``emac_sim.engine.BlockResult``.

    Birnbaum importance is computed the obvious way: on every ``birnbaum_stride``-th request,
    re-run the request from the post-domain-state stream position with each component forced
    up and forced down (both, always) and add ``ok_up − ok_down``.

    Returns
    -------
    (BlockResult, list[RequestRecord])
    """
    from .engine.blocks import BlockResult
    from .kernels.histogram import N_BUCKETS

    sim = ReferenceSimulator(journey, scenario)
    ids = sim.ids
    races = [p for p, nd in _paths(journey.root) if isinstance(nd, Race)]
    res = BlockResult(
        samples=0,
        ok=0,
        hedged=0,
        birnbaum_samples=0,
        hist_ok=np.zeros(N_BUCKETS, np.int64),
        hist_all=np.zeros(N_BUCKETS, np.int64),
        joint=np.zeros((len(ids) + 1, N_BUCKETS), np.int64),
        calls=np.zeros(len(ids), np.int64),
        race_issued=np.zeros(len(races), np.int64),
        birnbaum_sum=np.zeros(len(ids), np.int64),
    )
    rng = Xoshiro256(state)
    records = []
    for r in range(n):
        sim.draw_domain_state(rng)
        after_domains = rng.getstate()
        sim.forced = None
        sim.hedged_paths = set()
        req = sim.run_request(rng)
        req.hedged = bool(sim.hedged_paths)
        records.append(req)
        b = _bucket_index(req.t)
        res.samples += 1
        res.hist_all[b] += 1
        if req.ok:
            res.ok += 1
            res.hist_ok[b] += 1
            res.joint[0 if req.dominant is None else ids.index(req.dominant) + 1, b] += 1
        for call in req.calls:
            res.calls[ids.index(call.component)] += 1
        for k, p in enumerate(races):
            if p in sim.hedged_paths:
                res.race_issued[k] += 1
        res.hedged += int(req.hedged)
        if birnbaum_stride and r % birnbaum_stride == 0:
            after_request = rng.getstate()
            res.birnbaum_samples += 1
            for i, c in enumerate(ids):
                up = sim.forced_ok(rng, after_domains, c, True)
                down = sim.forced_ok(rng, after_domains, c, False)
                res.birnbaum_sum[i] += int(up) - int(down)
            rng.setstate(after_request)
    return res, records


def _paths(node: Node, path: str = "root"):
    yield path, node
    if isinstance(node, Series):
        kids = [(f"steps[{i}]", c) for i, c in enumerate(node.steps)]
    elif isinstance(node, (Parallel, Race, Fallback, Choice)):
        kids = [(f"branches[{i}]", c) for i, c in enumerate(node.branches)]
    elif isinstance(node, (Retry, Timeout, Optional, Repeat)):
        kids = [("step", node.step)]
    else:
        kids = []
    for name, child in kids:
        yield from _paths(child, f"{path}.{name}")
