"""Latency tails by exponential tilting (issue 18): P(T > t) and the far quantiles of a journey.

A p99.999 needs about 4·10⁷ plain requests for ±10 % on its exceedance probability. Here the
*slow* calls are drawn from tilted laws instead (:mod:`emac_sim.engine.codegen`,
``KernelOptions.tilt``), all driven by one tilt θ ≥ 0. A *tiltable site* is

* a lognormal call: its underlying normal x ~ N(θ, 1) instead of N(0, 1) (density ratio
  ℓ = exp(θx − θ²/2)): its median moves to the nominal law's Φ(θ) quantile;
* an exponential or gamma call (shape a): its scale multiplied by k(θ) = Q_a(Φ(θ)) / Q_a(½)
  (Q_a the standard gamma quantile) — the exponential tilt of the law (density ∝ e^{sx}·f(x),
  s = (1 − 1/k)/scale) — which moves its median to the nominal Φ(θ) quantile too;
* a latency-correlation normal: a latency factor shifted by θ times its members' mean loading, a
  member's own noise by θ times its own standard deviation (a member's latent moves by about θ),
  whatever the member's sampler.

Constant, empirical, histogram, Weibull, Pareto and mixture samplers are **not** tilted
(ratio 1), nor are the draws of choices, caches and optional steps; failures keep their nominal
laws too (``--method importance`` without ``--exceed``/``--tail`` biases failures).

**The proposal is a mixture** over which sites are tilted in a request: none (probability π₀, the
defensive part), one site k alone (π_k), or all of them (π_all). Tilting every call of a long
series or of a fork by one θ costs a likelihood-ratio variance that grows with the number of
calls, while a far latency is usually one slow call (or, for light tails, all a little slower): the
mixture covers both. A request's exact weight is the nominal path density over the mixture's,

    w = 1 / (π₀ + Σ_k π_k·ℓ_k + π_all·Π_k ℓ_k) ≤ 1/π₀,

ℓ_k the product over the draws of site k of its tilted-to-nominal density ratio (1 when site k
is not reached). The kernel adds w, w², w⁴, max w and a count into the log bucket of the
request's latency T (:mod:`emac_sim.core.histogram`; *all* requests, successful and failed, with
the latency the journey reports) and into one row per requested threshold.

**Estimates.** For a threshold t, P̂(T > t) = Σ w·1{T > t} / n with the CLT interval
P̂ ± z·s/√n, s² = (Σ w²·1{T > t} − n·P̂²)/(n − 1): unbiased for any tilt and mixture. At bucket
edges the same sums come from the histogram's suffix sums, so P(T ≥ e) is estimated at every edge
e at once. The quantile of level q is the smallest bucket edge e with P̂(T ≥ e) ≤ 1 − q, and its
interval inverts the pointwise intervals: from the largest edge whose interval lies wholly above
1 − q to the smallest edge whose interval lies wholly at or below it. These are
**bucket-resolution** values: a bucket spans at most 1/128 (0.78 %) of its lower edge (its
midpoint is within 0.39 % of every value in it), so a quantile is known only to within a bucket
even with infinite samples, and the interval is at least one bucket wide.

**Tuning** (pilot blocks on their own streams, ``STREAM_TILT``): for quantiles, the level t is
first the pilot's own estimate of the farthest requested quantile, at the first θ of the grid
0, ½, 1, … :data:`THETA_MAX` whose pilot reaches it with :data:`MIN_PILOT_EXCEED` requests beyond.
Then, with the default mixture (π₀ = :data:`PI0`, π_all = :data:`PI_ALL`, the rest split evenly
over the sites), θ runs up the grid and the one of least pilot relative variance of the
estimator of P(T > t) is kept (among pilots with at least :data:`MIN_PILOT_EXCEED` requests
beyond t; the search stops once :data:`STOP_SHARE` of a pilot lies beyond t). Finally
:data:`CE_ITERATIONS` cross-entropy (EM) updates set the mixture weights to the weighted
responsibilities of each component over the pilot requests beyond t (smoothed, π₀ ≥
:data:`PI0_MIN`). When both a threshold and quantiles are asked, each gets its own tuned run.

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
PI0 = 0.1
PI_ALL = 0.2
PI0_MIN = 0.05
CE_ITERATIONS = 2
CE_SMOOTHING = 0.7
MIN_TARGET_EXCEED = 100
"""Exceeding requests needed before ``target_rel`` may stop a run."""
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


def default_mixture(lay: TiltLayout) -> np.ndarray:
    """π₀, π_1…π_S, π_all: :data:`PI0`, the rest split evenly over the sites, :data:`PI_ALL` for
    all of them together (0 with fewer than two sites, where it would repeat a single site)."""
    s = lay.n_slots
    out = np.zeros(s + 2)
    if s == 0:
        out[0] = 1.0
        return out
    out[0] = PI0
    out[s + 1] = PI_ALL if s > 1 else 0.0
    out[1 : s + 1] = (1.0 - out[0] - out[s + 1]) / s
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
    Σw²·F, requests; ``resp`` Σ w·r_c over the requests beyond the first threshold."""

    hist: np.ndarray
    xs: np.ndarray
    sums: np.ndarray
    resp: np.ndarray
    first_block: int = 0
    n_blocks: int = 0

    @staticmethod
    def empty(n_thr: int, n_mix: int, first_block: int = 0) -> TailBlock:
        return TailBlock(np.zeros((H.N_BUCKETS, TILT_STATS)), np.zeros((n_thr, TILT_STATS)), np.zeros(5), np.zeros(n_mix), first_block, 0)

    def merge(self, other: TailBlock) -> TailBlock:
        """Sum of two results; ``other`` must cover the blocks right after ``self``."""
        if self.n_blocks and other.n_blocks and other.first_block != self.first_block + self.n_blocks:
            raise ValueError(f"blocks merged out of order: {self.first_block}+{self.n_blocks} then {other.first_block}")
        h, x = self.hist + other.hist, self.xs + other.xs
        h[:, 3] = np.maximum(self.hist[:, 3], other.hist[:, 3])
        x[:, 3] = np.maximum(self.xs[:, 3], other.xs[:, 3])
        first = self.first_block if self.n_blocks else other.first_block
        return TailBlock(h, x, self.sums + other.sums, self.resp + other.resp, first, self.n_blocks + other.n_blocks)

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
    src: KernelSource, tilt: np.ndarray, mixp: np.ndarray, thr: np.ndarray, seed: int, key: tuple[int, ...], size: int, first_block: int = 0
) -> TailBlock:
    """``size`` requests under the tilt vector ``tilt`` and mixture weights ``mixp`` with the
    stream ``SeedSequence(seed, spawn_key=key)``."""
    mod = load_module(src.source)
    thr = np.asarray(thr, dtype=np.float64).reshape(-1)
    res = TailBlock.empty(len(thr), len(mixp), first_block)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))
    mod.sample_block(int(size), rng, src.fp, src.ip, src.tab, tilt, np.asarray(mixp, dtype=np.float64), thr, res.hist, res.xs, res.sums, res.resp)
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
    """What the pilot chose: tilt θ, mixture weights, the level it tuned for, and how."""

    theta: float
    mixture: np.ndarray
    level: float | None
    pilot_samples: int
    pilot_share: float
    pilot_rel_variance: float | None
    reached: bool


def _pilot_quantile(res: TailBlock, p_target: float) -> tuple[float, float] | None:
    """The pilot's estimate of the level-``p_target`` quantile edge, if enough of it lies beyond."""
    es = res.edge_sums()
    ok = np.nonzero((np.arange(H.N_BUCKETS) >= 2) & (es[:, 0] / res.samples <= p_target))[0]
    if ok.size == 0 or es[int(ok[0]), 4] < MIN_PILOT_EXCEED:
        return None
    return float(H.bucket_edges()[0][int(ok[0])]), float(es[int(ok[0]), 4])


def tune_tilt(src: KernelSource, seed: int, exceed: float | None, p_target: float | None, run: int = 0, pilot_size: int = PILOT_SIZE) -> TiltTuning:
    """The tilt θ and mixture weights for P(T > ``exceed``), or for the quantile of exceedance
    level ``p_target`` (see the module docstring); ``run`` separates the pilot streams of two tuned
    runs of one seed."""
    lay = src.tilt
    assert lay is not None
    mix = default_mixture(lay)
    grid = [i * THETA_STEP for i in range(int(round(THETA_MAX / THETA_STEP)) + 1)]
    used, pilot = 0, 0

    def one(theta: float, m: np.ndarray, thr: np.ndarray) -> TailBlock:
        nonlocal used, pilot
        res = run_tail_block(src, tilt_vector(lay, theta), m, thr, seed, stream_key(pilot, STREAM_TILT, 1 + run), pilot_size)
        used += pilot_size
        pilot += 1
        return res

    level = exceed
    if level is None:
        assert p_target is not None
        for theta in grid:
            found = _pilot_quantile(one(theta, mix, np.zeros(0)), p_target)
            if found is not None:
                level = found[0]
                break
    if level is None:
        return TiltTuning(THETA_MAX, mix, None, used, 0.0, None, False)
    thr = np.array([level])
    best: tuple[float, float, float] | None = None  # (rel var, θ, share)
    last_share = 0.0
    for theta in grid:
        row = one(theta, mix, thr).xs[0]
        share = float(row[4]) / pilot_size
        last_share = share
        m1, m2 = float(row[0]) / pilot_size, float(row[1]) / pilot_size
        rv = (m2 / (m1 * m1) - 1.0) if m1 > 0 else None
        if row[4] >= MIN_PILOT_EXCEED and rv is not None:
            if best is None or rv < best[0]:
                best = (rv, theta, share)
            elif rv > 4.0 * best[0]:
                break  # well past the optimum
        if share >= STOP_SHARE:
            break
    if best is None:
        return TiltTuning(THETA_MAX, mix, level, used, last_share, None, False)
    rv, theta, share = best
    for _ in range(CE_ITERATIONS):
        resp = one(theta, mix, thr).resp
        tot = float(resp.sum())
        if not tot > 0:
            break
        new = resp / tot
        if lay.n_slots < 2:
            new[-1] = 0.0
        new[0] = max(new[0], PI0_MIN)
        mix = CE_SMOOTHING * new / new.sum() + (1.0 - CE_SMOOTHING) * mix
        mix = mix / mix.sum()
    return TiltTuning(theta, mix, level, used, share, rv, True)


# --------------------------------------------------------------------------- run


@dataclass(frozen=True)
class TailRun:
    """One tuned tilted run: its target, tilt, mixture and merged sums."""

    target: str
    theta: float
    mixture: np.ndarray
    tuning: TiltTuning | None
    merged: TailBlock

    def to_dict(self) -> dict[str, Any]:
        t = self.tuning
        m = self.mixture
        return {
            "target": self.target,
            "theta": self.theta,
            "mixture": {"none": float(m[0]), "oneSite": float(m[1:-1].sum()), "allSites": float(m[-1])},
            "samples": self.merged.samples,
            "blocks": self.merged.n_blocks,
            "pilotSamples": t.pilot_samples if t else 0,
            "pilotLevelSeconds": t.level if t else None,
            "pilotShareBeyond": t.pilot_share if t else None,
            "pilotRelVariance": t.pilot_rel_variance if t else None,
        }


@dataclass(frozen=True)
class TailEstimate:
    """Tail estimates: ``exceed`` per requested threshold, ``quantiles`` per requested level, the
    tuned runs behind them and the diagnostics."""

    runs: tuple[TailRun, ...]
    exceed: tuple[Exceedance, ...]
    quantiles: tuple[TailQuantile, ...]
    slots: dict[str, int]
    confidence: float
    warnings: tuple[str, ...]
    wall_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "exponential tilting of the slow calls' latency: a mixture over which calls are tilted, exact likelihood ratios",
            "population": "all requests, successful and failed",
            "tiltableSites": self.slots,
            "untilted": "constant, empirical, histogram, Weibull, Pareto and mixture samplers (unless latency-factor members); failures",
            "confidence": self.confidence,
            "exceedance": [e.to_dict() for e in self.exceed],
            "quantiles": [q.to_dict() for q in self.quantiles],
            "runs": [r.to_dict() for r in self.runs],
            "warnings": list(self.warnings),
        }


def _tail_run(
    src: KernelSource, seed: int, samples: int, workers: int, block_size: int, exceed: float | None, p_target: float | None,
    run: int, theta: float | None, mixture: np.ndarray | None, target: str, target_rel: float | None = None, confidence: float = 0.95,
) -> TailRun:  # fmt: skip
    lay = src.tilt
    assert lay is not None
    tuning = None
    if theta is None:
        tuning = tune_tilt(src, seed, exceed, p_target, run)
        theta, mix = tuning.theta, tuning.mixture
    else:
        mix = default_mixture(lay) if mixture is None else np.asarray(mixture, dtype=np.float64)
    vec = tilt_vector(lay, theta)
    thr = np.array([exceed] if exceed is not None else [], dtype=np.float64)
    sizes = plan_blocks(int(samples), block_size)

    def one(b: int) -> TailBlock:
        key = stream_key(b, STREAM_TILT) if run == 0 else stream_key(b, STREAM_TILT, 0, run)
        return run_tail_block(src, vec, mix, thr, seed, key, sizes[b], first_block=b)

    load_module(src.source)
    merged = TailBlock.empty(len(thr), len(mix))
    blocks = _ordered(one, len(sizes), min(max(workers, 1), len(sizes)))  # type: ignore[arg-type]
    for res in blocks:
        merged = merged.merge(res)  # type: ignore[arg-type]
        if target_rel is not None and len(thr) and merged.xs[0, 4] >= MIN_TARGET_EXCEED:
            e = exceedance(merged.xs[0], merged.samples, float(thr[0]), confidence)
            if e.probability > 0 and (e.ci[1] - e.ci[0]) / 2 <= target_rel * e.probability:
                blocks.close()  # type: ignore[attr-defined]
                break
    return TailRun(target, float(theta), mix, tuning, merged)


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
    mixture: np.ndarray | None = None,
    block_size: int = TAIL_BLOCK_SIZE,
    target_rel: float | None = None,
) -> TailEstimate:
    """Tail estimates of ``journey``'s latency under ``scenario`` by exponential tilting.

    Parameters
    ----------
    journey, scenario
        The journey and the resolved correlation scenario.
    samples
        Requests of each estimation run (one for ``exceed``, one for ``quantiles``; the pilots'
        come on top).
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
    theta, mixture
        Use this tilt (and these mixture weights, default :func:`default_mixture`) instead of
        tuning (tests, diagnostics).
    target_rel
        Stop the threshold's run at the first block boundary (in index order) where the interval
        of P(T > exceed) has a half-width of at most this share of the estimate (after at least
        :data:`MIN_TARGET_EXCEED` exceeding requests); ``samples`` is then the cap.

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
    common = (src, seed, samples, workers, block_size)
    runs: list[TailRun] = []
    warns: list[str] = []
    ex: tuple[Exceedance, ...] = ()
    qs: tuple[TailQuantile, ...] = ()
    if exceed is not None:
        r = _tail_run(*common, exceed, None, 0, theta, mixture, f"P(T > {exceed:.6g}s)", target_rel, confidence)
        runs.append(r)
        ex = (exceedance(r.merged.xs[0], max(r.merged.samples, 1), float(exceed), confidence),)
    if quantiles:
        top = max(quantiles)
        r = _tail_run(*common, None, 1.0 - top, 1, theta, mixture, quantile_name(top))
        runs.append(r)
        qs = tuple(tail_quantile(r.merged, q, confidence) for q in sorted(quantiles))
    for r in runs:
        if r.tuning is not None and not r.tuning.reached:
            warns.append(f"tilt tuning for {r.target}: no pilot up to theta {THETA_MAX:g} put {MIN_PILOT_EXCEED} requests beyond the level")
    if lay.n_slots == 0:
        warns.append("no latency draw of this journey can be tilted (constant, empirical, histogram, Weibull, Pareto or mixture samplers)")
    for e in ex:
        warns += e.warnings()
    for q in qs:
        if q.at is None:
            warns.append(f"{quantile_name(q.q)}: the weighted histogram never falls to {1 - q.q:.3g}; no estimate")
        else:
            warns += [f"{quantile_name(q.q)}: {w}" for w in q.at.warnings()]
    slots = {k: int(sum(1 for s in lay.kind if s == k)) for k in ("normal", "scale")}
    return TailEstimate(
        runs=tuple(runs),
        exceed=ex,
        quantiles=qs,
        slots=slots,
        confidence=confidence,
        warnings=tuple(warns),
        wall_seconds=time.perf_counter() - t0,
    )
