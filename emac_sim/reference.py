"""A slow, obvious pure-Python journey simulator with the kernel's semantics (docs/semantics.md).

It exists for tests and small jobs (synthetic traces): a recursive walk of the operator tree,
one call at a time, written to be read rather than to be fast. Given the same random stream it
makes the same draws in the same order, with the same arithmetic, as the generated kernels
(``emac_sim.engine.codegen``), so the two must agree sample for sample:

* per request: failure-factor normals, latency-factor normals, one uniform per fate group, one
  per shock domain (in the orders of ``emac_sim.model.scenario``);
* per call, in tree order: the failure draw (none for a fate-group member, a standard normal for
  a member of a failure factor, else a uniform), then the latency draw of the sampler the outcome
  selects; one uniform when a ``choice`` or an ``optional`` node is entered.

The stream is a ``numpy.random.Generator`` (PCG64) seeded per block like the engine's
(``SeedSequence(seed, spawn_key=(block,))``); its scalar methods are the same ziggurat and gamma
algorithms the kernels call. Latent-driven latency (under latency correlation) uses the
distributions' quantile functions through :mod:`emac_sim.model.quantiles` (the logit-grid table
for gamma and mixtures), as the kernels do; the table itself is tested against ``ppf``
separately. Nothing here imports the engine or the kernels it checks.

Public: :func:`simulate_requests` (per-call records, used to write synthetic traces) and
:func:`simulate_block` (block counts comparable with ``emac_sim.engine.run_block``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import special

from .model import distributions as D
from .model.journey import Journey, Node, Ref
from .model.quantiles import TABLE_POINTS, TABLE_W, choice_cumulative, piecewise_points, quantile_table
from .model.scenario import Scenario, factor_model, fate_groups, shocks

_SQRT1_2 = 0.7071067811865476


def block_generator(seed: int, block_index: int, stream: int = 0) -> np.random.Generator:
    """The engine's stream for ``(seed, block_index)`` (``stream=1``: the Birnbaum stream)."""
    key = (int(block_index),) if stream == 0 else (int(block_index), int(stream))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))


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


def _ndtr(z: float) -> float:
    return 0.5 * math.erfc(-z * _SQRT1_2)


def _latent_u(z: float) -> tuple[float, float]:
    u, s = _ndtr(z), _ndtr(-z)
    return (u if u > 0.0 else 5e-324), (s if s > 0.0 else 5e-324)


def _log_sf(z: float) -> float:
    if z < 0.0:
        return math.log1p(-_ndtr(z))
    if z > 30.0:
        r = 1.0 / (z * z)
        return -0.5 * z * z - math.log(z) - 0.9189385332046728 + math.log1p(r * (-1.0 + r * (3.0 - 15.0 * r)))
    return math.log(_ndtr(-z))


def _piecewise(p: np.ndarray, x: np.ndarray, pn: float, xn: float, theta: float, u: float, s: float) -> float:
    """Inverse of the piecewise-linear CDF through (p, x), exponential tail beyond ``pn``."""
    if u > pn and theta > 0.0:
        return xn - theta * math.log(s / (1.0 - pn))
    n = len(p)
    if u >= p[n - 1]:
        return float(x[n - 1])
    lo, hi = 0, n - 1
    while hi - lo > 1:
        mid = (lo + hi) >> 1
        if p[mid] <= u:
            lo = mid
        else:
            hi = mid
    return float(x[lo] + (u - p[lo]) / (p[hi] - p[lo]) * (x[hi] - x[lo]))


class _Latency:
    """Latency draws with the kernels' samplers (tables and piecewise points cached)."""

    def __init__(self) -> None:
        self.tables: dict[object, tuple[np.ndarray, bool]] = {}
        self.points: dict[object, tuple[np.ndarray, np.ndarray, float, float, float]] = {}

    def _pw(self, dist: D.Distribution) -> tuple[np.ndarray, np.ndarray, float, float, float]:
        if dist not in self.points:
            p, x = piecewise_points(dist)
            self.points[dist] = (p, x, *dist._tail())  # type: ignore[attr-defined]
        return self.points[dist]

    def _table(self, dist: D.Distribution, u: float, s: float) -> float:
        if dist not in self.tables:
            self.tables[dist] = quantile_table(dist)
        values, log_flag = self.tables[dist]
        pos = (math.log(u / s) - (-TABLE_W)) * ((TABLE_POINTS - 1) / (2 * TABLE_W))
        if pos <= 0.0:
            v = float(values[0])
        elif pos >= TABLE_POINTS - 1:
            v = float(values[-1])
        else:
            i = int(pos)
            f = pos - i
            v = float(values[i] + f * (values[i + 1] - values[i]))
        return math.exp(v) if log_flag else v

    def draw(self, dist: D.Distribution | None, rng: np.random.Generator, z: float | None) -> float:
        """A duration (seconds) of ``dist``: from the stream, or from the latent ``z``."""
        if dist is None:
            return 0.0
        if isinstance(dist, D.Constant):
            return dist.value
        if isinstance(dist, D.LogNormal):
            return math.exp(dist.mu + dist.sigma * (z if z is not None else rng.standard_normal()))
        if z is not None:
            if isinstance(dist, D.Exponential):
                return -dist.mean_s * _log_sf(z)
            if isinstance(dist, D.Weibull):
                return dist.scale * (-_log_sf(z)) ** (1.0 / dist.shape)
            if isinstance(dist, D.Pareto):
                return dist.scale * math.exp(-_log_sf(z) / dist.alpha)
            u, s = _latent_u(z)
            if isinstance(dist, D._Piecewise):
                return _piecewise(*self._pw(dist), u, s)
            return self._table(dist, u, s)
        if isinstance(dist, D.Exponential):
            return dist.mean_s * rng.standard_exponential()
        if isinstance(dist, D.Gamma):
            return dist.scale * rng.standard_gamma(dist.shape)
        if isinstance(dist, D.Weibull):
            return dist.scale * rng.standard_exponential() ** (1.0 / dist.shape)
        if isinstance(dist, D.Pareto):
            return dist.scale * math.exp(rng.standard_exponential() / dist.alpha)
        if isinstance(dist, D._Piecewise):
            u = rng.random()
            return _piecewise(*self._pw(dist), u, 1.0 - u)
        if isinstance(dist, D.Mixture):
            if len(dist.components) == 1:
                return self.draw(dist.components[0][1], rng, None)
            u = rng.random()
            cum = choice_cumulative(tuple(w for w, _ in dist.components))
            j = next(i for i, c in enumerate(cum) if u < c or i == len(cum) - 1)
            return self.draw(dist.components[j][1], rng, None)
        raise TypeError(f"no sampler for {type(dist).__name__}")  # pragma: no cover


# --------------------------------------------------------------------------- the simulator


def _dot(loadings: list[tuple[float, int]], w: list[float]) -> float:
    """Σ loading·w in the kernels' order (left to right)."""
    acc = loadings[0][0] * w[loadings[0][1]]
    for lk, k in loadings[1:]:
        acc = acc + lk * w[k]
    return acc


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
        ff = factor_model(journey, scenario, latency=False)
        fl = factor_model(journey, scenario, latency=True)
        self.n_wf, self.n_wl = ff.n_factors, fl.n_factors
        self.sh = shocks(journey, scenario)
        own = np.asarray(self.sh.own_availability, dtype=np.float64)
        with np.errstate(divide="ignore"):
            zthr = special.ndtri(own)
        self.own_a = {c: float(own[i]) for i, c in enumerate(self.ids)}
        self.zthr = {c: float(zthr[i]) for i, c in enumerate(self.ids)}
        self.f_load = {
            c: [(float(ff.loadings[i, k]), k) for k in range(ff.n_factors) if ff.loadings[i, k] != 0] if c not in self.group_of else []
            for i, c in enumerate(self.ids)
        }
        self.f_sd = {c: float(ff.own_sd[i]) for i, c in enumerate(self.ids)}
        self.l_load = {c: [(float(fl.loadings[i, k]), k) for k in range(fl.n_factors) if fl.loadings[i, k] != 0] for i, c in enumerate(self.ids)}
        self.l_sd = {c: float(fl.own_sd[i]) for i, c in enumerate(self.ids)}
        self.shocks_of = {c: [d for d in range(len(self.sh.names)) if self.sh.members[d, i]] for i, c in enumerate(self.ids)}
        self.latency_on = journey.latency_modelled
        self.lat = _Latency()
        self.forced: tuple[str, bool] | None = None

    # ---- per request
    def draw_domain_state(self, rng: np.random.Generator) -> None:
        self.w_f = [rng.standard_normal() for _ in range(self.n_wf)]
        self.w_l = [rng.standard_normal() for _ in range(self.n_wl)]
        self.g_u = [rng.random() for _ in self.groups]
        self.outage = [rng.random() < float(q) for q in self.sh.probability]

    def run_request(self, rng: np.random.Generator, record: bool = True) -> RequestRecord:
        self.rng = rng
        self.record = record
        self.req = RequestRecord(ok=False, t=0.0)
        ok, t, dom, _ = self.run(self.j.root, "root", 0.0, 1)
        self.req.ok, self.req.t = ok, t
        self.req.dominant = dom
        return self.req

    # ---- one call of component c
    def call(self, c: str, path: str, start: float, attempt: int) -> tuple[bool, float]:
        rng = self.rng
        if c in self.group_of:
            ok = self.g_u[self.group_of[c]] < self.own_a[c]
        elif self.f_load[c]:
            ok = _dot(self.f_load[c], self.w_f) + self.f_sd[c] * rng.standard_normal() <= self.zthr[c]
        else:
            ok = rng.random() < self.own_a[c]
        if self.shocks_of[c]:
            ok = ok and not any(self.outage[d] for d in self.shocks_of[c])
        if self.forced is not None and self.forced[0] == c:
            ok = self.forced[1]
        t = 0.0
        if self.latency_on:
            comp = self.j.component(c)
            z = None
            if self.l_load[c]:
                z = _dot(self.l_load[c], self.w_l) + self.l_sd[c] * rng.standard_normal()
            dist = comp.latency if (ok or comp.error_latency == "same") else comp.error_distribution()
            t = self.lat.draw(dist, rng, z)
        if self.record:
            self.req.calls.append(CallRecord(c, start, start + t, ok, attempt, path))
        return ok, t

    # ---- the tree: returns (ok, t, dominant component, its call's seconds)
    def run(self, node: Node, path: str, start: float, attempt: int) -> tuple[bool, float, str | None, float]:
        """Evaluate ``node`` for the current request; operators step through their own rule
        (``simulate`` in :mod:`emac_sim.operators`), calling back here for their children."""
        if isinstance(node, Ref):
            ok, t = self.call(node.component, path, start, attempt)
            return ok, t, node.component, t
        return node.simulate(self, path, start, attempt)  # type: ignore[attr-defined]

    def sample(self, rng: np.random.Generator, record: bool = True) -> RequestRecord:
        """One request: domain state, then the tree."""
        self.draw_domain_state(rng)
        self.forced = None
        self.hedged_paths: set[str] = set()
        req = self.run_request(rng, record)
        req.hedged = bool(self.hedged_paths)
        return req

    def forced_ok(self, rng: np.random.Generator, component: str, up: bool) -> bool:
        """Outcome of a fresh request from ``rng`` with every call of ``component`` forced to
        succeed (``up``) or fail."""
        saved_paths = getattr(self, "hedged_paths", set())
        self.draw_domain_state(rng)
        self.forced = (component, up)
        self.hedged_paths = set()
        try:
            return self.run_request(rng, record=False).ok
        finally:
            self.forced = None
            self.hedged_paths = saved_paths


# --------------------------------------------------------------------------- public entry points


def _scenario(journey: Journey, correlation: str, pessimistic_shared: frozenset[str] | None) -> Scenario:
    from .analytic.scenarios import resolve_scenario

    return resolve_scenario(journey, correlation, pessimistic_shared)[0]


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
    bs = 65536 if block_size is None else block_size  # emac_sim.engine.BLOCK_SIZE
    sim = ReferenceSimulator(journey, _scenario(journey, correlation, pessimistic_shared))
    out: list[RequestRecord] = []
    rng = None
    for i in range(n):
        if i % bs == 0:
            rng = block_generator(seed, i // bs)
        assert rng is not None
        out.append(sim.sample(rng))
    return out


@dataclass
class ReferenceCounts:
    """Block counts with the fields of ``emac_sim.engine.BlockResult`` (compared field by field)."""

    samples: int
    ok: int
    hedged: int
    birnbaum_samples: int
    hist_ok: np.ndarray
    hist_all: np.ndarray
    joint: np.ndarray
    calls: np.ndarray
    race_issued: np.ndarray
    birnbaum_up: np.ndarray
    birnbaum_down: np.ndarray


def simulate_block(
    journey: Journey, scenario: Scenario, seed: int, block_index: int, n: int, birnbaum_stride: int = 0
) -> tuple[ReferenceCounts, list[RequestRecord]]:
    """Reference counterpart of ``emac_sim.engine.run_block``: ``n`` requests from the stream of
    ``(seed, block_index)``, aggregated like the kernel aggregates them.

    Birnbaum importance: on every ``birnbaum_stride``-th request, for each component the journey
    calls (in component order), one fresh request with the component forced up and one forced
    down, both drawn from the block's second stream.

    Returns
    -------
    (ReferenceCounts, list[RequestRecord])
    """
    from .core.histogram import N_BUCKETS, bucket_index

    sim = ReferenceSimulator(journey, scenario)
    ids = sim.ids
    used = sorted({ids.index(c) for c in journey.root.refs()})
    races = [p for p, nd in journey.root.paths() if nd.op == "race"]
    res = ReferenceCounts(
        samples=0,
        ok=0,
        hedged=0,
        birnbaum_samples=0,
        hist_ok=np.zeros(N_BUCKETS, np.int64),
        hist_all=np.zeros(N_BUCKETS, np.int64),
        joint=np.zeros((len(ids) + 1, N_BUCKETS), np.int64),
        calls=np.zeros(len(ids), np.int64),
        race_issued=np.zeros(len(races), np.int64),
        birnbaum_up=np.zeros(len(ids), np.int64),
        birnbaum_down=np.zeros(len(ids), np.int64),
    )
    rng = block_generator(seed, block_index)
    rng_b = block_generator(seed, block_index, stream=1)
    records = []
    for r in range(n):
        req = sim.sample(rng)
        records.append(req)
        b = bucket_index(req.t)
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
            res.birnbaum_samples += 1
            for i in used:
                res.birnbaum_up[i] += int(sim.forced_ok(rng_b, ids[i], True))
                res.birnbaum_down[i] += int(sim.forced_ok(rng_b, ids[i], False))
    return res, records
