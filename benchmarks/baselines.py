"""Baselines the engine is measured against (issue 8): what a user would write instead.

* :class:`NumpyJourney` — a straightforward vectorised NumPy simulator: each operator is
  evaluated for a whole chunk of requests at once with array operations. Like most first
  versions it computes every call for every request and masks the results afterwards (steps
  after a failure in a series, retry attempts after a success, hedges that are never issued,
  unchosen choice branches), because branching per request is what vectorisation cannot do.
* :class:`SimPyJourney` — a discrete-event model in SimPy: every request and every call is a
  process, the operators are ``AllOf`` / ``AnyOf`` conditions, per-try timeouts and deadlines
  are timeouts racing the call, and requests arrive as a Poisson stream. Pure Python, one
  random draw at a time (``random.Random``).

The NumPy and SimPy baselines implement ``docs/semantics.md`` for the ``declared`` and
``independent`` scenarios (gaussian failure and latency factors, shock domains; fate groups of
the shared-fate scenarios are not implemented). They draw their own random numbers, so they
agree with the engine in distribution only — :func:`agreement` tests that within intervals.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np
from scipy import special

from emac_sim.engine import order_statistic_ranks, simulate, wilson_interval
from emac_sim.model import distributions as D
from emac_sim.model.journey import Journey, Node, Ref
from emac_sim.model.scenario import factor_model, fate_groups, named_scenario, shocks
from emac_sim.operators import Choice, Fallback, Optional, Parallel, Race, Repeat, Retry, Series, Timeout

from . import LoadMeter, median, timed

AGREEMENT_CONFIDENCE = 0.999  # intervals compared between routes
QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))


@dataclass(frozen=True)
class _Resolved:
    """The scenario resolved to per-component arrays (rows in ``component_ids`` order)."""

    index: dict[str, int]
    own_a: np.ndarray  # calibrated availability a′ᵢ
    zthr: np.ndarray  # Φ⁻¹(a′ᵢ)
    load_f: np.ndarray  # (C, Kf)
    sd_f: np.ndarray
    has_f: np.ndarray
    load_l: np.ndarray  # (C, Kl)
    sd_l: np.ndarray
    has_l: np.ndarray
    shock_q: np.ndarray  # (S,)
    shock_members: np.ndarray  # (S, C) bool


def _resolve(journey: Journey, correlation: str) -> _Resolved:
    if correlation not in ("declared", "independent"):
        raise ValueError(f"baselines implement the declared and independent scenarios, not {correlation!r}")
    scen = named_scenario(journey, correlation)
    if fate_groups(journey, scen):
        raise NotImplementedError("fate groups (shared-fate scenarios) are not implemented by the baselines")
    ff = factor_model(journey, scen, latency=False)
    fl = factor_model(journey, scen, latency=True)
    sh = shocks(journey, scen)
    own = np.asarray(sh.own_availability, dtype=np.float64)
    with np.errstate(divide="ignore"):
        zthr = special.ndtri(own)
    return _Resolved(
        index={c: i for i, c in enumerate(journey.component_ids)},
        own_a=own,
        zthr=zthr,
        load_f=ff.loadings,
        sd_f=ff.own_sd,
        has_f=np.abs(ff.loadings).sum(axis=1) > 0 if ff.n_factors else np.zeros(len(own), bool),
        load_l=fl.loadings,
        sd_l=fl.own_sd,
        has_l=np.abs(fl.loadings).sum(axis=1) > 0 if fl.n_factors else np.zeros(len(own), bool),
        shock_q=np.asarray(sh.probability, dtype=np.float64).reshape(-1),
        shock_members=np.asarray(sh.members, dtype=bool).reshape(len(sh.names), len(own)),
    )


def summarise(ok: np.ndarray, t: np.ndarray, confidence: float = 0.95) -> dict:
    """Availability (Wilson interval) and quantiles of successful requests' latency (seconds)
    with order-statistic intervals, from per-request outcomes ``ok`` (bool) and ``t`` (s)."""
    n = int(ok.size)
    k = int(np.count_nonzero(ok))
    lo, hi = wilson_interval(k, n, confidence)
    good = np.sort(t[ok])
    lat = {}
    for name, q in QUANTILES:
        if good.size == 0:
            lat[name] = None
            continue
        rank = max(1, math.ceil(q * good.size))
        lr, ur = order_statistic_ranks(good.size, q, confidence)
        lat[name] = {
            "estimate": float(good[rank - 1]),
            "ci": [float(good[lr - 1]) if lr >= 1 else 0.0, float(good[ur - 1]) if ur <= good.size else math.inf],
        }
    return {"samples": n, "availability": {"estimate": k / n if n else math.nan, "ci": [lo, hi]}, "latency": lat}


# --------------------------------------------------------------------------- vectorised NumPy


class NumpyJourney:
    """Vectorised NumPy simulator of a journey (the first thing a user would write).

    Parameters
    ----------
    journey
        The journey IR.
    correlation
        ``declared`` or ``independent``.
    chunk
        Requests evaluated per array pass (bounds memory at about 40 arrays of ``chunk``
        float64 values per nesting level).
    """

    def __init__(self, journey: Journey, correlation: str = "declared", chunk: int = 1 << 18) -> None:
        self.journey = journey
        self.r = _resolve(journey, correlation)
        self.chunk = int(chunk)
        self.latency_on = journey.latency_modelled

    # ---- leaves
    def _duration(self, dist: D.Distribution | None, n: int, rng: np.random.Generator, z: np.ndarray | None) -> np.ndarray:
        if dist is None or not self.latency_on:
            return np.zeros(n)
        if z is not None:  # correlated latency: the latent normal drives the quantile function
            if isinstance(dist, D.LogNormal):
                return np.exp(dist.mu + dist.sigma * z)
            return np.asarray(dist.ppf(special.ndtr(z)), dtype=np.float64)
        if isinstance(dist, D.LogNormal):
            return rng.lognormal(dist.mu, dist.sigma, n)
        if isinstance(dist, D.Gamma):
            return rng.gamma(dist.shape, dist.scale, n)
        if isinstance(dist, D.Exponential):
            return rng.exponential(dist.mean_s, n)
        if isinstance(dist, D.Weibull):
            return dist.scale * rng.weibull(dist.shape, n)
        if isinstance(dist, D.Pareto):
            return dist.scale * (1.0 + rng.pareto(dist.alpha, n))
        if isinstance(dist, D.Constant):
            return np.full(n, dist.value)
        return np.asarray(dist.ppf(rng.random(n)), dtype=np.float64)

    def _call(self, cid: str, n: int, rng: np.random.Generator, st: dict) -> tuple[np.ndarray, np.ndarray]:
        r = self.r
        c = r.index[cid]
        if r.has_f[c]:
            ok = st["wf"] @ r.load_f[c] + r.sd_f[c] * rng.standard_normal(n) <= r.zthr[c]
        else:
            ok = rng.random(n) <= r.own_a[c]
        for d in np.flatnonzero(r.shock_members[:, c]):
            ok &= ~st["outage"][:, d]
        comp = self.journey.component(cid)
        z = st["wl"] @ r.load_l[c] + r.sd_l[c] * rng.standard_normal(n) if r.has_l[c] else None
        t_ok = self._duration(comp.latency, n, rng, z)
        if comp.error_latency == "same":
            return ok, t_ok
        t_err = np.zeros(n) if comp.error_latency == "fast" else self._duration(comp.error_distribution(), n, rng, z)
        return ok, np.where(ok, t_ok, t_err)

    # ---- operators
    def _eval(self, node: Node, n: int, rng: np.random.Generator, st: dict) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(node, Ref):
            return self._call(node.component, n, rng, st)
        if isinstance(node, (Series, Repeat)):
            steps = node.steps if isinstance(node, Series) else (node.step,) * node.count
            ok = np.ones(n, bool)
            t = np.zeros(n)
            for s in steps:
                o, d = self._eval(s, n, rng, st)
                t += np.where(ok, d, 0.0)
                ok &= o
            return ok, t
        if isinstance(node, Parallel):
            outs = [self._eval(b, n, rng, st) for b in node.branches]
            oks = np.stack([o for o, _ in outs])
            ts = np.stack([d for _, d in outs])
            slowest = ts.max(axis=0)
            if node.join == "all":
                return oks.all(axis=0), slowest
            need = node.needed
            kth = np.partition(np.where(oks, ts, np.inf), need - 1, axis=0)[need - 1]
            ok = oks.sum(axis=0) >= need
            return ok, np.where(ok, kth, slowest)
        if isinstance(node, Race):
            h = node.hedge_delay
            best = np.full(n, np.inf)
            latest = np.full(n, -1.0)
            for j, b in enumerate(node.branches):
                o, d = self._eval(b, n, rng, st)  # computed for every request, used where issued
                issued = np.ones(n, bool) if (j == 0 or h == 0.0) else best > j * h
                fin = j * h + d
                best = np.where(issued & o & (fin < best), fin, best)
                latest = np.where(issued, np.maximum(latest, fin), latest)
            ok = best < np.inf
            return ok, np.where(ok, best, latest)
        if isinstance(node, Fallback):
            tried = np.ones(n, bool)
            ok = np.zeros(n, bool)
            t = np.zeros(n)
            for b in node.branches:
                o, d = self._eval(b, n, rng, st)
                t += np.where(tried, d, 0.0)
                ok |= tried & o
                tried &= ~o
            return ok, t
        if isinstance(node, Retry):
            tau = math.inf if node.per_try_timeout is None else node.per_try_timeout
            active = np.ones(n, bool)
            ok = np.zeros(n, bool)
            t = np.zeros(n)
            for a in range(1, node.attempts + 1):
                o, d = self._eval(node.step, n, rng, st)
                o = o & (d <= tau)
                t += np.where(active, np.minimum(d, tau), 0.0)
                ok |= active & o
                active &= ~o
                if a < node.attempts:
                    t += np.where(active, node.backoff.delay(a), 0.0)
            return ok, t
        if isinstance(node, Timeout):
            o, d = self._eval(node.step, n, rng, st)
            return o & (d <= node.deadline), np.minimum(d, node.deadline)
        if isinstance(node, Choice):
            pick = np.searchsorted(np.cumsum(node.probabilities)[:-1], rng.random(n), side="right")
            outs = [self._eval(b, n, rng, st) for b in node.branches]
            return np.choose(pick, [o for o, _ in outs]), np.choose(pick, [d for _, d in outs])
        if isinstance(node, Optional):
            run = rng.random(n) < node.probability
            o, d = self._eval(node.step, n, rng, st)
            return np.where(run, o, True), np.where(run, d, 0.0)
        raise TypeError(f"unsupported operator {node.op!r}")

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Outcomes of ``n`` requests in one array pass: ``ok`` (bool[n]) and ``t`` (seconds, float[n])."""
        r = self.r
        st = {
            "wf": rng.standard_normal((n, r.load_f.shape[1])),
            "wl": rng.standard_normal((n, r.load_l.shape[1])),
            "outage": rng.random((n, r.shock_q.size)) < r.shock_q,
        }
        return self._eval(self.journey.root, n, rng, st)

    def outcomes(self, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``ok`` and ``t`` (seconds) of ``samples`` requests, simulated ``chunk`` at a time."""
        rng = np.random.default_rng(seed)
        oks, ts = [], []
        left = int(samples)
        while left > 0:
            m = min(left, self.chunk)
            o, d = self.sample(m, rng)
            oks.append(o)
            ts.append(d)
            left -= m
        return np.concatenate(oks), np.concatenate(ts)

    def run(self, samples: int, seed: int, confidence: float = 0.95) -> dict:
        """Simulate ``samples`` requests and summarise them (:func:`summarise`)."""
        return summarise(*self.outcomes(samples, seed), confidence)


# --------------------------------------------------------------------------- SimPy


class SimPyJourney:
    """Discrete-event model of a journey in SimPy: requests and calls are processes.

    Parameters
    ----------
    journey
        The journey IR.
    correlation
        ``declared`` or ``independent``.
    arrival_rate
        Poisson arrival rate of requests (per simulated second); requests do not contend
        (no queues), so it does not change the outcomes, only how many are in flight.
    """

    def __init__(self, journey: Journey, correlation: str = "declared", arrival_rate: float = 200.0) -> None:
        import simpy  # dev extra

        self.simpy = simpy
        self.journey = journey
        self.r = _resolve(journey, correlation)
        self.rate = float(arrival_rate)
        self.latency_on = journey.latency_modelled
        self.rnd = random.Random(0)

    def _duration(self, dist: D.Distribution | None, z: float | None) -> float:
        rnd = self.rnd
        if dist is None or not self.latency_on:
            return 0.0
        if z is not None:
            if isinstance(dist, D.LogNormal):
                return math.exp(dist.mu + dist.sigma * z)
            return float(dist.ppf(special.ndtr(z)))
        if isinstance(dist, D.LogNormal):
            return rnd.lognormvariate(dist.mu, dist.sigma)
        if isinstance(dist, D.Gamma):
            return rnd.gammavariate(dist.shape, dist.scale)
        if isinstance(dist, D.Exponential):
            return rnd.expovariate(1.0 / dist.mean_s)
        if isinstance(dist, D.Weibull):
            return rnd.weibullvariate(dist.scale, dist.shape)
        if isinstance(dist, D.Pareto):
            return dist.scale * rnd.paretovariate(dist.alpha)
        if isinstance(dist, D.Constant):
            return dist.value
        return float(dist.ppf(rnd.random()))

    def _domain_state(self) -> dict:
        r, rnd = self.r, self.rnd
        return {
            "wf": [rnd.gauss(0.0, 1.0) for _ in range(r.load_f.shape[1])],
            "wl": [rnd.gauss(0.0, 1.0) for _ in range(r.load_l.shape[1])],
            "outage": [rnd.random() < q for q in r.shock_q],
        }

    def _call(self, env, cid: str, req: dict):
        r, rnd = self.r, self.rnd
        c = r.index[cid]
        if r.has_f[c]:
            z = sum(float(r.load_f[c, k]) * w for k, w in enumerate(req["wf"])) + float(r.sd_f[c]) * rnd.gauss(0.0, 1.0)
            ok = z <= r.zthr[c]
        else:
            ok = rnd.random() <= r.own_a[c]
        if ok and any(req["outage"][d] for d in np.flatnonzero(r.shock_members[:, c])):
            ok = False
        comp = self.journey.component(cid)
        zl = None
        if r.has_l[c]:
            zl = sum(float(r.load_l[c, k]) * w for k, w in enumerate(req["wl"])) + float(r.sd_l[c]) * rnd.gauss(0.0, 1.0)
        if ok or comp.error_latency == "same":
            dur = self._duration(comp.latency, zl)
        elif comp.error_latency == "fast":
            dur = 0.0
        else:
            dur = self._duration(comp.error_distribution(), zl)
        yield env.timeout(dur)
        return ok

    def _run(self, env, node: Node, req: dict):
        """Process body for ``node``; its return value is the node's ok, its duration elapsed time."""
        if isinstance(node, Ref):
            return (yield from self._call(env, node.component, req))
        if isinstance(node, (Series, Repeat)):
            steps = node.steps if isinstance(node, Series) else (node.step,) * node.count
            for s in steps:
                if not (yield env.process(self._run(env, s, req))):
                    return False
            return True
        if isinstance(node, Parallel):
            procs = [env.process(self._run(env, b, req)) for b in node.branches]
            if node.join == "all":
                yield env.all_of(procs)
                return all(p.value for p in procs)
            need, wins, pending = node.needed, 0, list(procs)
            while pending:
                done = yield env.any_of(pending)
                for p in list(done):
                    pending.remove(p)
                    wins += bool(p.value)
                if wins >= need:
                    return True  # the others keep running, as real fan-out calls do
            return False
        if isinstance(node, Race):
            start, h = env.now, node.hedge_delay
            first_ok = env.event()

            def branch(b: Node):
                ok = yield env.process(self._run(env, b, req))
                if ok and not first_ok.triggered:
                    first_ok.succeed()
                return ok

            procs = [env.process(branch(node.branches[0]))]
            for j in range(1, len(node.branches)):
                if h > 0.0 and not first_ok.triggered:
                    yield first_ok | env.timeout(start + j * h - env.now)
                if first_ok.triggered:
                    break
                procs.append(env.process(branch(node.branches[j])))
            if not first_ok.triggered:
                yield first_ok | env.all_of(procs)
            return first_ok.triggered
        if isinstance(node, Fallback):
            for b in node.branches:
                if (yield env.process(self._run(env, b, req))):
                    return True
            return False
        if isinstance(node, Retry):
            tau = node.per_try_timeout
            for a in range(1, node.attempts + 1):
                p = env.process(self._run(env, node.step, req))
                if tau is None:
                    ok = yield p
                else:
                    fired = yield p | env.timeout(tau)
                    ok = p in fired and p.value  # a timed-out attempt keeps running, unheard
                if ok:
                    return True
                if a < node.attempts:
                    yield env.timeout(node.backoff.delay(a))
            return False
        if isinstance(node, Timeout):
            p = env.process(self._run(env, node.step, req))
            fired = yield p | env.timeout(node.deadline)
            return p in fired and p.value
        if isinstance(node, Choice):
            u, acc = self.rnd.random(), 0.0
            pick = len(node.branches) - 1
            for j, prob in enumerate(node.probabilities[:-1]):
                acc += prob
                if u < acc:
                    pick = j
                    break
            return (yield env.process(self._run(env, node.branches[pick], req)))
        if isinstance(node, Optional):
            if self.rnd.random() < node.probability:
                return (yield env.process(self._run(env, node.step, req)))
            return True
        raise TypeError(f"unsupported operator {node.op!r}")

    def run(self, samples: int, seed: int, confidence: float = 0.95) -> dict:
        """Simulate ``samples`` requests and summarise them (:func:`summarise`)."""
        return summarise(*self.outcomes(samples, seed), confidence)

    def outcomes(self, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``ok`` and ``t`` (seconds) of ``samples`` requests arriving as a Poisson stream."""
        self.rnd = random.Random(seed)
        env = self.simpy.Environment()
        oks: list[bool] = []
        ts: list[float] = []

        def request():
            req = self._domain_state()
            start = env.now
            ok = yield env.process(self._run(env, self.journey.root, req))
            oks.append(bool(ok))
            ts.append(env.now - start)

        def source():
            for _ in range(int(samples)):
                env.process(request())
                yield env.timeout(self.rnd.expovariate(self.rate))

        env.process(source())
        env.run()
        return np.array(oks, dtype=bool), np.array(ts, dtype=np.float64)


# --------------------------------------------------------------------------- agreement


def agreement(engine: dict, other: dict, sigmas: float = 5.0, bucket_error: float = 1.0 / 256.0) -> dict:
    """Do two routes' estimates agree? (engine ``to_dict()`` vs :func:`summarise` output).

    Availability: ``|p̂₁ − p̂₂| ≤ sigmas·sqrt(p̄(1 − p̄)(1/n₁ + 1/n₂))`` (a two-sample z test
    at 5σ with the pooled proportion). Quantiles: the two order-statistic intervals overlap once
    the engine's is widened by its histogram resolution (``bucket_error``, relative); the
    intervals should be computed at a high confidence (e.g. 0.999) by the caller.

    Returns
    -------
    dict
        ``{"availability": bool, "<pNN>": bool…, "all": bool, "availabilityZ": float}``.
    """
    n1, n2 = engine["samples"], other["samples"]
    p1, p2 = engine["availability"]["estimate"], other["availability"]["estimate"]
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    sd = math.sqrt(max(pooled * (1.0 - pooled), 1.0 / (n1 + n2)) * (1.0 / n1 + 1.0 / n2))
    z = abs(p1 - p2) / sd
    out: dict = {"availabilityZ": z, "availability": z <= sigmas}
    for name, _ in QUANTILES:
        e = (engine.get("latency") or {}).get(name)
        o = (other.get("latency") or {}).get(name)
        if not e or not o or e.get("estimate") is None:
            continue
        e_lo, e_hi = e["ci"][0] * (1.0 - bucket_error), e["ci"][1] * (1.0 + bucket_error)
        out[name] = bool(e_lo <= o["ci"][1] and o["ci"][0] <= e_hi)
    out["all"] = all(v for k, v in out.items() if k not in ("availabilityZ",))
    return out


# --------------------------------------------------------------------------- comparisons


def engine_run(journey: Journey, samples: int, seed: int, confidence: float = 0.95) -> dict:
    """The engine as every comparison runs it: ``simulate(workers=1, details=False)`` (one thread,
    availability and latency with their intervals: what the baselines compute too, no
    attribution), as a dict."""
    return simulate(journey, samples=int(samples), seed=seed, workers=1, details=False, confidence=confidence).to_dict()


def compare_numpy(journey: Journey, samples: int, repeats: int, seed: int = 1) -> dict:
    """Engine (:func:`engine_run`) vs :class:`NumpyJourney` on ``samples`` requests, process CPU
    time, interleaved ``repeats`` times (medians, each run with its own seed), both including
    their summaries (intervals, quantiles); plus :func:`agreement` of the last runs."""
    nb = NumpyJourney(journey)
    nb.run(1000, seed)
    engine_run(journey, 1000, seed)  # load (or compile) the kernel
    t_eng: list[float] = []
    t_np: list[float] = []
    eng: dict = {}
    other: dict = {}
    with LoadMeter() as meter:
        for r in range(repeats):
            t, eng = timed(lambda r=r: engine_run(journey, samples, seed + r, AGREEMENT_CONFIDENCE), 1, "cpu")
            t_eng += t
            t, other = timed(lambda r=r: nb.run(samples, seed + 1000 + r, AGREEMENT_CONFIDENCE), 1, "cpu")
            t_np += t
    return {
        "journey": journey.name,
        "samples": samples,
        "repeats": repeats,
        "clock": "process CPU time, median of interleaved repeats",
        "engineMsps": samples / median(t_eng) / 1e6,
        "numpyMsps": samples / median(t_np) / 1e6,
        "speedup": median(t_np) / median(t_eng),
        "numpyLeafEvaluationsPerRequest": evaluated_calls(journey.root),
        "agreement": agreement(eng, other),
        "engine": _brief(eng),
        "numpy": _brief(other),
        "load": meter.result,
        "seconds": {"engine": t_eng, "numpy": t_np},
    }


def compare_simpy(journey: Journey, samples: int, repeats: int, engine_samples: int, seed: int = 1) -> dict:
    """Engine (:func:`engine_run`) vs :class:`SimPyJourney`: throughput on process CPU time
    (medians of ``repeats`` runs each) and :func:`agreement` of the engine's last run with the
    pooled SimPy requests (``repeats × samples``)."""
    sp = SimPyJourney(journey)
    sp.outcomes(20, seed)
    engine_run(journey, 1000, seed)
    t_sp: list[float] = []
    t_eng: list[float] = []
    oks, ts = [], []
    eng: dict = {}
    with LoadMeter() as meter:
        for r in range(repeats):
            t, (o, d) = timed(lambda r=r: sp.outcomes(samples, seed + 2000 + r), 1, "cpu")
            t_sp += t
            oks.append(o)
            ts.append(d)
            t, eng = timed(lambda r=r: engine_run(journey, engine_samples, seed + r, AGREEMENT_CONFIDENCE), 1, "cpu")
            t_eng += t
    other = summarise(np.concatenate(oks), np.concatenate(ts), AGREEMENT_CONFIDENCE)
    return {
        "journey": journey.name,
        "samples": samples,
        "engineSamples": engine_samples,
        "repeats": repeats,
        "clock": "process CPU time, medians",
        "simpySps": samples / median(t_sp),
        "engineSps": engine_samples / median(t_eng),
        "speedup": (engine_samples / median(t_eng)) / (samples / median(t_sp)),
        "agreement": agreement(eng, other),
        "engine": _brief(eng),
        "simpy": _brief(other),
        "load": meter.result,
        "seconds": {"engine": t_eng, "simpy": t_sp},
    }


def _brief(d: dict) -> dict:
    """Samples, availability and latency quantiles (estimate and interval) of a result dict."""
    lat = d.get("latency") or {}
    return {
        "samples": d["samples"],
        "availability": d["availability"]["estimate"],
        "availabilityCi": list(d["availability"]["ci"]),
        "latency": {k: {"estimate": v["estimate"], "ci": list(v["ci"])} for k, v in lat.items() if v},
    }


def evaluated_calls(node: Node) -> int:
    """Leaf evaluations per request of :class:`NumpyJourney`, which computes every branch and
    attempt for every request: a ``ref`` counts 1, ``retry`` and ``repeat`` multiply their step
    by attempts / count, every other operator adds up its children."""
    inner = sum(evaluated_calls(c) for c in node.children)
    if isinstance(node, Ref):
        return 1
    if isinstance(node, Retry):
        return node.attempts * inner
    if isinstance(node, Repeat):
        return node.count * inner
    return inner
