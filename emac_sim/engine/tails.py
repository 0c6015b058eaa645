"""Latency tails by exponential tilting (issue 18): P(T > t) and the far quantiles of a journey.

A p99.999 needs about 4·10⁷ plain requests for ±10 % on its exceedance probability. Here the
*slow* calls are drawn from tilted laws instead (:mod:`emac_sim.engine.codegen`,
``KernelOptions.tilt``), all driven by one tilt θ ≥ 0:

* a lognormal call: its underlying normal x ~ N(θ, 1) instead of N(0, 1) (log likelihood ratio
  −θx + θ²/2): its median moves to the nominal law's Φ(θ) quantile;
* an exponential or gamma call (shape a): its scale multiplied by k(θ) = Q_a(Φ(θ)) / Q_a(½)
  (Q_a the standard gamma quantile), which is the exponential tilt of the law (density ∝
  e^{sx}·f(x), s = (1 − 1/k)/scale) and moves its median to the nominal Φ(θ) quantile too;
  log likelihood ratio a·log k − (k − 1)·G for the standard draw G;
* the latency-correlation normals: a latency factor shifted by θ times its members' mean
  loading, a member's own noise by θ times its own standard deviation (so a member's latent moves
  by about θ), whatever the member's sampler.

Constant, empirical, histogram, Weibull, Pareto and mixture samplers are **not** tilted
(likelihood ratio 1), nor are the draws of choices, caches and optional steps; failures keep
their nominal laws too (use ``--method importance`` without ``--exceed``/``--tail`` for rare
failures). Each request carries its exact weight w = Π nominal / tilted density over the draws it
made, and the kernel adds w, w², w⁴, max w and a count into the log bucket of its latency T
(:mod:`emac_sim.core.histogram`; *all* requests, successful and failed, with the latency the
journey reports) and into one row per requested threshold.

**Estimates.** For a threshold t, P̂(T > t) = Σ w·1{T > t} / n with the CLT interval
P̂ ± z·s/√n, s² = (Σ w²·1{T > t} − n·P̂²)/(n − 1), unbiased for any θ. At bucket edges the same
sums come from the histogram's suffix sums, so P(T ≥ e) is estimated at every edge e at once.
The quantile of level q is the smallest bucket edge e with P̂(T ≥ e) ≤ 1 − q, and its interval
inverts the pointwise intervals: from the largest edge whose interval lies wholly above 1 − q to
the smallest edge whose interval lies wholly at or below it. These are **bucket-resolution**
values: a bucket spans at most 1/128 (0.78 %) of its lower edge, so a quantile is known to within
one bucket even with infinite samples, and the reported interval is at least that wide.

**Tuning.** Pilot blocks (their own streams) at θ = 0, ½, 1, … up to :data:`THETA_MAX`: at each
the level (the threshold, or the pilot's own estimate of the farthest requested quantile), the
share of pilot requests beyond it and the pilot's relative variance of the estimator. The search
stops once at least :data:`STOP_SHARE` of the pilot lies beyond the level; the θ chosen is the one
of least relative variance among those with at least :data:`MIN_PILOT_EXCEED` requests beyond
(about 10–50 % of the pilot in practice). With none, the largest θ tried is used and a warning says so.

**Diagnostics**, as for availability: Kish's effective sample size (Σ w·1)² / Σ w²·1 of the
exceeding requests, the largest single weight's share, the variance estimate's relative error;
warnings when they say the interval cannot be trusted. Blocks are merged in block order, so the
same seed gives the same bytes for any number of workers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from ..core import histogram as H
from ..core.seeds import STREAM_TILT, stream_key
from ..model.journey import Journey
from ..model.scenario import Scenario
from .blocks import plan_blocks
from .codegen import TILT_STATS, KernelOptions, KernelSource, TiltLayout, generate
from .importance import MAX_VARIANCE_REL_ERROR, MAX_WEIGHT_SHARE, MIN_ESS, _ordered
from .kernelstore import load_module

TAIL_BLOCK_SIZE = 8192
"""Requests per tilted block (part of the stream contract of ``--exceed`` / ``--tail``)."""
PILOT_SIZE = 8192
THETA_STEP = 0.5
THETA_MAX = 7.0
STOP_SHARE = 0.5
MIN_PILOT_EXCEED = 100
DEFAULT_QUANTILES = (0.9999, 0.99999)
BUCKET_RESOLUTION = 1.0 / H.SUB
"""Largest relative width of a histogram bucket (hi/lo − 1)."""


def quantile_name(q: float) -> str:
    """``0.99999`` → ``p99.999``."""
    return "p" + f"{100.0 * q:.10f}".rstrip("0").rstrip(".")


def tilt_vector(lay: TiltLayout, theta: float) -> np.ndarray:
    """The kernel's ``tilt`` array for the common tilt ``theta`` (clipped to [0, THETA_MAX])."""
    th = float(np.clip(theta, 0.0, THETA_MAX))
    out = np.zeros(max(2 * lay.n_slots, 2))
    for s, (kind, v) in enumerate(zip(lay.kind, lay.value)):
        if kind == "normal":
            m = th * float(v)
            out[2 * s : 2 * s + 2] = (m, 0.5 * m * m)
        else:
            k = scale_factor(float(v), th)
            out[2 * s : 2 * s + 2] = (k, float(v) * math.log(k))
    return out


def scale_factor(shape: float, theta: float) -> float:
    """k(θ) = Q_a(Φ(θ)) / Q_a(½) ≥ 1 for a gamma law of shape a (exponential: a = 1)."""
    if theta <= 0:
        return 1.0
    return max(1.0, float(special.gammainccinv(shape, special.ndtr(-theta)) / special.gammainccinv(shape, 0.5)))


# --------------------------------------------------------------------------- blocks


@dataclass
class TailBlock:
    """Weighted sums of one tilted block (or several merged in block order): ``hist`` per bucket
    and ``xs`` per threshold the columns Σw, Σw², Σw⁴, max w, count; ``sums`` Σw, Σw², Σw·F,
    Σw²·F, requests."""

    hist: np.ndarray
    xs: np.ndarray
    sums: np.ndarray
    first_block: int = 0
    n_blocks: int = 0

    @staticmethod
    def empty(n_thr: int, first_block: int = 0) -> TailBlock:
        return TailBlock(np.zeros((H.N_BUCKETS, TILT_STATS)), np.zeros((n_thr, TILT_STATS)), np.zeros(5), first_block, 0)

    def merge(self, other: TailBlock) -> TailBlock:
        """Sum of two results; ``other`` must cover the blocks right after ``self``."""
        if self.n_blocks and other.n_blocks and other.first_block != self.first_block + self.n_blocks:
            raise ValueError(f"blocks merged out of order: {self.first_block}+{self.n_blocks} then {other.first_block}")
        h, x = self.hist + other.hist, self.xs + other.xs
        h[:, 3] = np.maximum(self.hist[:, 3], other.hist[:, 3])
        x[:, 3] = np.maximum(self.xs[:, 3], other.xs[:, 3])
        first = self.first_block if self.n_blocks else other.first_block
        return TailBlock(h, x, self.sums + other.sums, first, self.n_blocks + other.n_blocks)

    @property
    def samples(self) -> int:
        return int(self.sums[4])

    def edge_sums(self) -> np.ndarray:
        """Per bucket b, the columns over the requests with T ≥ the bucket's lower edge."""
        out = np.cumsum(self.hist[::-1], axis=0)[::-1].copy()
        out[:, 3] = np.maximum.accumulate(self.hist[::-1, 3])[::-1]
        return out


def compile_tilt(journey: Journey, scenario: Scenario) -> KernelSource:
    """The tilted-latency kernel of ``journey`` under ``scenario``."""
    if not journey.latency_modelled:
        raise ValueError("latency tails need latency: the journey models no latency")
    src = generate(journey, scenario, KernelOptions(tilt=True))
    assert src.tilt is not None
    return src


def run_tail_block(
    src: KernelSource, tilt: np.ndarray, thr: np.ndarray, seed: int, key: tuple[int, ...], size: int, first_block: int = 0
) -> TailBlock:
    """``size`` requests under the tilt vector ``tilt`` with the stream ``SeedSequence(seed, spawn_key=key)``."""
    mod = load_module(src.source)
    thr = np.asarray(thr, dtype=np.float64).reshape(-1)
    res = TailBlock.empty(len(thr), first_block)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))
    mod.sample_block(int(size), rng, src.fp, src.ip, src.tab, tilt, thr, res.hist, res.xs, res.sums)
    res.n_blocks = 1
    return res


# --------------------------------------------------------------------------- estimates


@dataclass(frozen=True)
class Exceedance:
    """P̂(T > t) (T ≥ t at a bucket edge) with its CLT interval and weight diagnostics."""

    seconds: float
    probability: float
    std_error: float
    ci: tuple[float, float]
    exceeding: int
    ess: float
    max_weight_share: float
    variance_rel_error: float | None

    def warnings(self) -> list[str]:
        bad = "the interval cannot be trusted"
        at = f"P(T > {self.seconds:.6g}s)"
        if self.exceeding == 0:
            return [f"{at}: no sampled request exceeded it; the estimate 0 and its interval cannot be trusted"]
        out = []
        if self.ess < MIN_ESS:
            out.append(f"weight degeneracy at {at}: effective sample size {self.ess:.1f} < {MIN_ESS:g}; {bad}")
        if self.max_weight_share > MAX_WEIGHT_SHARE:
            out.append(f"weight degeneracy at {at}: one request holds {self.max_weight_share:.0%} of the weighted exceedances; {bad}")
        if self.variance_rel_error is not None and self.variance_rel_error > MAX_VARIANCE_REL_ERROR:
            out.append(f"weight degeneracy at {at}: the variance estimate's relative error is {self.variance_rel_error:.2f}; {bad}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "probability": self.probability,
            "ci": list(self.ci),
            "stdError": self.std_error,
            "exceedingSamples": self.exceeding,
            "effectiveSampleSize": self.ess,
            "maxWeightShare": self.max_weight_share,
            "varianceRelError": self.variance_rel_error,
        }


def _z(confidence: float) -> float:
    return float(special.ndtri(0.5 + confidence / 2.0))


def exceedance(row: np.ndarray, n: int, seconds: float, confidence: float = 0.95) -> Exceedance:
    """The estimate from one row of sums (Σw·1, Σw²·1, Σw⁴·1, max w·1, count) over ``n`` requests."""
    s1, s2, s4, mx, cnt = (float(v) for v in row)
    p = s1 / n
    var = max(s2 - n * p * p, 0.0) / (n - 1) if n > 1 else float("inf")
    se = math.sqrt(var / n)
    z = _z(confidence)
    m2, m4 = s2 / n, s4 / n
    return Exceedance(
        seconds=float(seconds),
        probability=p,
        std_error=se,
        ci=(max(0.0, p - z * se), min(1.0, p + z * se)),
        exceeding=int(cnt),
        ess=(s1 * s1 / s2) if s2 > 0 else 0.0,
        max_weight_share=(mx / s1) if s1 > 0 else 0.0,
        variance_rel_error=(math.sqrt(max(m4 - m2 * m2, 0.0) / n) / m2) if m2 > 0 else None,
    )


@dataclass(frozen=True)
class TailQuantile:
    """A far quantile at bucket resolution: ``seconds`` the smallest edge e with P̂(T ≥ e) ≤ 1 − q,
    ``ci`` the edges where the pointwise exceedance intervals cross 1 − q; ``at`` the exceedance
    estimate at ``seconds``."""

    q: float
    seconds: float | None
    ci: tuple[float, float | None]
    at: Exceedance | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "name": quantile_name(self.q),
            "seconds": self.seconds,
            "ci": list(self.ci),
            "resolution": "bucket edges (buckets at most 0.78 % wide)",
            "exceedanceAtEstimate": self.at.to_dict() if self.at is not None else None,
        }


def tail_quantile(res: TailBlock, q: float, confidence: float = 0.95, edges: np.ndarray | None = None) -> TailQuantile:
    """The quantile of level ``q`` from the merged weighted histogram (see the module docstring)."""
    n = max(res.samples, 1)
    lo = H.bucket_edges()[0] if edges is None else edges
    es = res.edge_sums()
    p = 1.0 - q
    est = es[:, 0] / n
    var = np.maximum(es[:, 1] - n * est * est, 0.0) / max(n - 1, 1)
    half = _z(confidence) * np.sqrt(var / n)
    idx = np.arange(H.N_BUCKETS)
    real = idx >= 2  # the zero and underflow buckets have no positive lower edge
    below = np.nonzero(real & (est <= p))[0]
    if below.size == 0:
        return TailQuantile(q, None, (0.0, None), None)
    b = int(below[0])
    upper = np.nonzero(real & (est + half <= p))[0]
    above = np.nonzero(real & (est - half > p))[0]
    hi = float(lo[int(upper[0])]) if upper.size else None
    low = float(lo[int(above[-1])]) if above.size else 0.0
    return TailQuantile(q, float(lo[b]), (low, hi), exceedance(es[b], n, float(lo[b]), confidence))


# --------------------------------------------------------------------------- tuning


@dataclass(frozen=True)
class TiltTuning:
    theta: float
    pilot_samples: int
    pilot_share: float
    pilot_rel_variance: float | None
    reached: bool
    trace: tuple[tuple[float, float, float | None], ...]


def _pilot_level(res: TailBlock, exceed_row: int | None, p_target: float | None) -> tuple[np.ndarray | None, float]:
    """The pilot's sums beyond the level and the level itself."""
    if exceed_row is not None:
        return res.xs[exceed_row], math.nan
    assert p_target is not None
    es = res.edge_sums()
    n = res.samples
    ok = np.nonzero((np.arange(H.N_BUCKETS) >= 2) & (es[:, 0] / n <= p_target))[0]
    if ok.size == 0:
        return None, math.nan
    return es[int(ok[0])], float(H.bucket_edges()[0][int(ok[0])])


def tune_tilt(src: KernelSource, seed: int, thr: np.ndarray, p_target: float | None, pilot_size: int = PILOT_SIZE) -> TiltTuning:
    """The tilt θ for a threshold (``thr`` non-empty: its first entry) or for the quantile of
    exceedance level ``p_target`` (see the module docstring)."""
    lay = src.tilt
    assert lay is not None
    trace: list[tuple[float, float, float | None]] = []
    best: tuple[float, float, float] | None = None  # (rel var, θ, share)
    theta, used = 0.0, 0
    steps = int(round(THETA_MAX / THETA_STEP))
    for i in range(steps + 1):
        theta = i * THETA_STEP
        res = run_tail_block(src, tilt_vector(lay, theta), thr, seed, stream_key(i, STREAM_TILT, 1), pilot_size)
        used += pilot_size
        row, _ = _pilot_level(res, 0 if len(thr) else None, p_target)
        if row is None:
            trace.append((theta, 0.0, None))
            continue
        share = float(row[4]) / pilot_size
        m1, m2 = float(row[0]) / pilot_size, float(row[1]) / pilot_size
        rv = (m2 / (m1 * m1) - 1.0) if m1 > 0 else None
        trace.append((theta, share, rv))
        if row[4] >= MIN_PILOT_EXCEED and rv is not None and (best is None or rv < best[0]):
            best = (rv, theta, share)
        if share >= STOP_SHARE:
            break
    if best is None:
        return TiltTuning(theta, used, trace[-1][1], None, False, tuple(trace))
    return TiltTuning(best[1], used, best[2], best[0], True, tuple(trace))


# --------------------------------------------------------------------------- run


@dataclass(frozen=True)
class TailEstimate:
    """Tail estimates of one tilted run: ``exceed`` per requested threshold, ``quantiles`` per
    requested level, the tilt used and the diagnostics."""

    theta: float
    samples: int
    blocks: int
    pilot_samples: int
    tuning: TiltTuning | None
    exceed: tuple[Exceedance, ...]
    quantiles: tuple[TailQuantile, ...]
    slots: dict[str, int]
    confidence: float
    warnings: tuple[str, ...]
    wall_seconds: float

    def to_dict(self) -> dict[str, Any]:
        t = self.tuning
        return {
            "method": "exponential tilting of the slow calls' latency (exact likelihood ratios)",
            "population": "all requests, successful and failed",
            "theta": self.theta,
            "samples": self.samples,
            "blocks": self.blocks,
            "pilotSamples": self.pilot_samples,
            "pilotShareBeyond": t.pilot_share if t else None,
            "pilotRelVariance": t.pilot_rel_variance if t else None,
            "tiltedDraws": self.slots,
            "untilted": "constant, empirical, histogram, Weibull, Pareto and mixture samplers (unless latency-factor members); failures",
            "confidence": self.confidence,
            "exceedance": [e.to_dict() for e in self.exceed],
            "quantiles": [q.to_dict() for q in self.quantiles],
            "warnings": list(self.warnings),
        }


def simulate_tail(
    journey: Journey,
    scenario: Scenario,
    *,
    samples: int,
    seed: int,
    exceed: float | None = None,
    quantiles: tuple[float, ...] = (),
    workers: int = 1,
    confidence: float = 0.95,
    theta: float | None = None,
    block_size: int = TAIL_BLOCK_SIZE,
) -> TailEstimate:
    """Tail estimates of ``journey``'s latency under ``scenario`` by exponential tilting.

    Parameters
    ----------
    journey, scenario
        The journey and the resolved correlation scenario.
    samples
        Requests of the estimation run (the pilot's come on top).
    seed
        The run's seed (pilot and estimation streams: ``STREAM_TILT``).
    exceed
        Estimate P(T > exceed) (seconds).
    quantiles
        Levels q (e.g. 0.9999) whose quantiles to estimate at bucket resolution.
    workers
        Threads; results do not depend on it.
    confidence
        Coverage of the intervals.
    theta
        Use this tilt instead of tuning one (tests, diagnostics).

    Returns
    -------
    TailEstimate
    """
    t0 = time.perf_counter()
    if exceed is None and not quantiles:
        raise ValueError("latency tails: give a threshold (exceed) or quantile levels")
    if exceed is not None and not (0.0 < exceed < math.inf):
        raise ValueError(f"exceed must be a positive duration, got {exceed!r}")
    for q in quantiles:
        if not 0.0 < q < 1.0:
            raise ValueError(f"tail quantile levels must be in (0, 1), got {q!r}")
    src = compile_tilt(journey, scenario)
    lay = src.tilt
    assert lay is not None
    thr = np.array([exceed] if exceed is not None else [], dtype=np.float64)
    tuning = None
    if theta is None:
        p_target = 1.0 - max(quantiles) if quantiles else None
        tuning = tune_tilt(src, seed, thr, None if exceed is not None else p_target)
        theta = tuning.theta
    vec = tilt_vector(lay, theta)
    sizes = plan_blocks(int(samples), block_size)

    def one(b: int) -> TailBlock:
        return run_tail_block(src, vec, thr, seed, stream_key(b, STREAM_TILT), sizes[b], first_block=b)

    load_module(src.source)
    merged = TailBlock.empty(len(thr))
    for res in _ordered(one, len(sizes), min(max(workers, 1), len(sizes))):  # type: ignore[arg-type]
        merged = merged.merge(res)
    n = max(merged.samples, 1)
    ex = tuple(exceedance(merged.xs[k], n, float(thr[k]), confidence) for k in range(len(thr)))
    qs = tuple(tail_quantile(merged, q, confidence) for q in sorted(quantiles))
    warns: list[str] = []
    if tuning is not None and not tuning.reached:
        warns.append(f"tilt tuning: no pilot up to theta {THETA_MAX:g} put {MIN_PILOT_EXCEED} requests beyond the level; using theta {theta:g}")
    if lay.n_slots == 0:
        warns.append(
            "no latency draw of this journey can be tilted (constant, empirical, histogram, Weibull, Pareto or mixture samplers): plain sampling"
        )
    for e in ex:
        warns += e.warnings()
    for q in qs:
        if q.at is None:
            warns.append(f"{quantile_name(q.q)}: the weighted histogram never falls to {1 - q.q:.3g}; no estimate")
        else:
            warns += [f"{quantile_name(q.q)}: {w}" for w in q.at.warnings()]
    slots = {k: int(sum(1 for s in lay.kind if s == k)) for k in ("normal", "scale")}
    return TailEstimate(
        theta=float(theta),
        samples=merged.samples,
        blocks=merged.n_blocks,
        pilot_samples=tuning.pilot_samples if tuning else 0,
        tuning=tuning,
        exceed=ex,
        quantiles=qs,
        slots=slots,
        confidence=confidence,
        warnings=tuple(warns),
        wall_seconds=time.perf_counter() - t0,
    )
