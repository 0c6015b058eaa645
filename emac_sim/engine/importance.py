"""Importance sampling for rare journey failures (issue 18): failure biasing tuned by cross-entropy.

A journey with unavailability U ≈ 5e-7 needs about 1.5e9 plain samples for ±10 % at 95 %.
Here every random quantity that decides a failure is drawn from a *biased* law instead
(:mod:`emac_sim.engine.codegen`, ``KernelOptions.importance``):

* a component's own failure: probability qᵢ instead of pᵢ = 1 − a′ᵢ;
* a gaussian failure factor W_k and a factor member's own noise εᵢ: the defensive mixture
  (1 − β)·N(0, 1) + β·N(μ, 1) instead of N(0, 1) (its ratio is at most 1 / (1 − β), so failures
  that the shift does not explain keep bounded weights);
* a fate group's uniform: mass q_g on its failure region [c_g, 1) instead of 1 − c_g;
* a shock domain: probability q_s instead of p_s,

and each request carries its exact likelihood ratio w = Π (nominal density / biased density)
over the draws it made (a product over a random number of draws is still exact: the ratio of
path probabilities of a sequential process). The estimator of U is the weighted mean

    Û = (1/n) Σ_j w_j F_j,   F_j = 1 when request j failed,

unbiased for any biasing that gives positive probability wherever the nominal law does. Its
interval is the CLT one: Û ± z·s/√n with s² = (Σ w²F − n Û²)/(n − 1); availability is 1 − Û.

**Tuning.** The biasing starts from the one-parameter family qᵢ = pᵢᵗ (factor and noise shifts
reaching the same marginal failure probabilities, split by least norm, with mixture weight
β = 1/2; group and shock masses alike), with t the first of :data:`START_LEVELS` at which at least :data:`START_FAILURE_SHARE` of
a pilot block fails. :data:`CE_ITERATIONS` cross-entropy iterations follow (Rubinstein & Kroese,
*The Cross-Entropy Method*, 2004, §3): on a pilot block under the current biasing, each
parameter becomes its weighted maximum-likelihood value over the failed requests — qᵢ = Σ w F ·
(own failures of i) / Σ w F · (calls of i); for a gaussian mixture the EM step with r the
shifted part's responsibility, β = Σ w F r / Σ w F (per draw) and μ = Σ w F r x / Σ w F r; q_g
and q_s the weighted share of failed requests in the region / with the
shock — smoothed (:data:`CE_SMOOTHING`) and clipped (qᵢ ∈ [pᵢ, :data:`Q_MAX`], shifts within
±:data:`SHIFT_MAX`, β ≤ :data:`BETA_MAX`): the biasing never makes a failure less likely than nominal, and no single
draw's ratio can explode. Weights themselves are never clipped (that would bias Û). Pilot blocks
draw from their own streams (``emac_sim.core.seeds.STREAM_PILOT``), independent of the
estimation blocks, so the tuned biasing is a fixed function of the seed and Û stays unbiased
given it.

**Effective sample size.** Reported as Kish's (Σ w F)² / Σ w² F over the failed requests'
weights (``effectiveSampleSize``: about how many equally weighted failures the estimate rests
on); Kish's (Σ w)² / Σ w² over all requests is ``essAll``. The *equivalent plain samples*
Û(1 − Û)/s.e.² say how many plain samples would give the same precision.

**Degeneracy diagnostic.** A warning (stderr and ``warnings`` in the JSON) when the failure ESS
is below :data:`MIN_ESS`, when one request holds more than :data:`MAX_WEIGHT_SHARE` of Σ w F,
or when the variance estimate itself is unreliable (estimated relative standard error of s²,
from the fourth moment, above :data:`MAX_VARIANCE_REL_ERROR`): in those cases the CLT interval
cannot be trusted.

**Latency** is not estimated under importance sampling (the requests are drawn to fail); the
latency keys are ``null`` and a note says to run ``--method plain`` for latency.

**Early stopping** (``target_rel``): after each block in index order, stop when the interval's
half-width is at most ``target_rel`` × Û and at least :data:`MIN_FAILURES` failed requests have
been seen, so the stopping point does not depend on scheduling. Block sums are floating-point
sums in a fixed order, merged in block order: the same seed gives the same bytes for any number
of workers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
from scipy import special

from ..core.seeds import STREAM_MAIN, STREAM_PILOT, stream_key
from ..model.journey import Journey
from ..model.scenario import Scenario
from .blocks import BlockResult, plan_blocks
from .codegen import IS_SUMS, BiasLayout, KernelOptions, KernelSource, generate
from .compile import CompiledJourney, compiled_from
from .kernelstore import load_module
from .result import Estimate, SimulationResult

METHODS = ("plain", "importance", "auto")
IS_BLOCK_SIZE = 8192
"""Requests per importance block (part of the stream contract of ``--method importance``)."""
PILOT_SIZE = 8192
"""Requests per pilot block (start level search and each cross-entropy iteration)."""
START_LEVELS = (1.0, 0.8, 0.6, 0.45, 0.35, 0.27, 0.2, 0.15, 0.1, 0.07, 0.05)
START_FAILURE_SHARE = 0.1
CE_ITERATIONS = 4
CE_SMOOTHING = 0.7
Q_MAX = 0.9
SHIFT_MAX = 8.0
BETA_MAX = 0.9
START_BETA = 0.5
MIN_FAILURES = 100
"""Failed requests needed before ``target_rel`` may stop a run."""
MIN_ESS = 30.0
MAX_WEIGHT_SHARE = 0.5
MAX_VARIANCE_REL_ERROR = 1.0
AUTO_MIN_FAILURES = 100
"""``method='auto'`` picks importance sampling when fewer failures than this are expected."""


# --------------------------------------------------------------------------- biasing


@dataclass(frozen=True)
class Biasing:
    """Biased laws: ``q`` own failure probability per component (used for ``uniform`` sites),
    ``nu``/``nb`` own-noise shift and mixture weight per component (``factor`` sites),
    ``mu``/``mb`` shift and mixture weight per failure factor, ``qg`` failure-region mass per
    fate group, ``qs`` probability per shock domain."""

    q: np.ndarray
    nu: np.ndarray
    mu: np.ndarray
    qg: np.ndarray
    qs: np.ndarray
    nb: np.ndarray
    mb: np.ndarray

    @staticmethod
    def nominal(lay: BiasLayout) -> Biasing:
        """No biasing at all (every weight is 1)."""
        return Biasing(
            q=1.0 - lay.own_a,
            nu=np.zeros(lay.n_components),
            mu=np.zeros(lay.n_factors),
            qg=1.0 - lay.group_c,
            qs=lay.shock_p.copy(),
            nb=np.zeros(lay.n_components),
            mb=np.zeros(lay.n_factors),
        )

    @staticmethod
    def level(lay: BiasLayout, t: float) -> Biasing:
        """The start family: every nominal failure probability p raised to pᵗ (0 < t ≤ 1).

        Factor members get the latent mean shift δᵢ = Φ⁻¹(a′ᵢ) − Φ⁻¹(1 − pᵢᵗ) that reaches
        that marginal, split between their factors and own noise by least norm (the factor
        shift is the mean over its members).
        """
        nom = Biasing.nominal(lay)
        q = _raise(nom.q, t)
        delta = np.where(np.array([k == "factor" for k in lay.kind]), lay.zthr - special.ndtri(1.0 - q), 0.0)
        mu = np.zeros(lay.n_factors)
        for k in range(lay.n_factors):
            members = lay.loadings[:, k] != 0
            if members.any():
                mu[k] = float(np.mean(delta[members] * lay.loadings[members, k]))
        with np.errstate(divide="ignore", invalid="ignore"):
            nu = np.where(lay.own_sd > 0, (delta - lay.loadings @ mu) / lay.own_sd, 0.0)
        nb = np.where(np.abs(nu) > 0, START_BETA, 0.0)
        mb = np.where(np.abs(mu) > 0, START_BETA, 0.0)
        return Biasing(q=q, nu=nu, mu=mu, qg=_raise(nom.qg, t), qs=_raise(nom.qs, t), nb=nb, mb=mb).clipped(lay)

    def clipped(self, lay: BiasLayout) -> Biasing:
        """Failure probabilities in [nominal, :data:`Q_MAX`] (never below nominal), shifts within
        ±:data:`SHIFT_MAX`."""
        nom = Biasing.nominal(lay)

        def clip_q(v: np.ndarray, p: np.ndarray) -> np.ndarray:
            return np.where(p > 0, np.clip(v, p, np.maximum(p, Q_MAX)), p)

        return Biasing(
            q=clip_q(self.q, nom.q),
            nu=np.clip(np.nan_to_num(self.nu), -SHIFT_MAX, SHIFT_MAX),
            mu=np.clip(np.nan_to_num(self.mu), -SHIFT_MAX, SHIFT_MAX),
            qg=clip_q(self.qg, nom.qg),
            qs=clip_q(self.qs, nom.qs),
            nb=np.clip(np.nan_to_num(self.nb), 0.0, BETA_MAX),
            mb=np.clip(np.nan_to_num(self.mb), 0.0, BETA_MAX),
        )

    def vector(self, lay: BiasLayout) -> np.ndarray:
        """The kernel's ``bias`` array (layout :class:`emac_sim.engine.codegen.BiasLayout`)."""
        c = lay.n_components
        b = np.zeros(max(lay.bias_size, 1))
        a = lay.own_a
        uni = np.array([k == "uniform" for k in lay.kind])
        q = np.where(uni, self.q, 1.0 - a)
        b[0:c] = 1.0 - q
        b[c : 2 * c] = _log_ratio(a, 1.0 - q)
        b[2 * c : 3 * c] = _log_ratio(1.0 - a, q)
        fac = np.array([k == "factor" for k in lay.kind])
        b[3 * c : 4 * c] = np.where(fac, self.nu, 0.0)
        b[4 * c : 5 * c] = np.where(fac, self.nb, 0.0)
        m, mb = lay.off("mu"), lay.off("mb")
        b[m : m + lay.n_factors] = self.mu
        b[mb : mb + lay.n_factors] = self.mb
        for k in range(lay.n_groups):
            o, cg, qg = lay.off("grp") + 6 * k, float(lay.group_c[k]), float(self.qg[k])
            b[o : o + 6] = [1.0 - qg, cg / (1.0 - qg), _log_ratio(cg, 1.0 - qg), cg, (1.0 - cg) / qg if qg > 0 else 0.0, _log_ratio(1.0 - cg, qg)]
        for k in range(lay.n_shocks):
            o, p, qs = lay.off("shk") + 3 * k, float(lay.shock_p[k]), float(self.qs[k])
            b[o : o + 3] = [qs, _log_ratio(p, qs), _log_ratio(1.0 - p, 1.0 - qs)]
        return b

    def smoothed(self, new: Biasing, alpha: float) -> Biasing:
        def mix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            return alpha * b + (1.0 - alpha) * a

        parts = ("q", "nu", "mu", "qg", "qs", "nb", "mb")
        return Biasing(*(mix(getattr(self, k), getattr(new, k)) for k in parts))

    def to_dict(self, compiled: CompiledJourney, lay: BiasLayout) -> dict[str, Any]:
        """JSON of the biasing: per component the nominal and biased failure probability (own
        draws) or own-noise shift, per factor its shift, per group and shock the masses."""
        comps: dict[str, Any] = {}
        used = set(compiled.journey.root.refs())
        for i, cid in enumerate(compiled.component_ids):
            if cid not in used:
                continue
            if lay.kind[i] == "uniform":
                comps[cid] = {"nominal": float(1.0 - lay.own_a[i]), "biased": float(self.q[i])}
            elif lay.kind[i] == "factor":
                comps[cid] = {"noiseShift": float(self.nu[i]), "noiseShiftWeight": float(self.nb[i])}
            else:
                comps[cid] = {"fateGroup": True}
        return {
            "components": comps,
            "factorShifts": [{"shift": float(v), "weight": float(b)} for v, b in zip(self.mu, self.mb)],
            "fateGroups": [
                {"members": list(g), "nominal": float(1.0 - lay.group_c[k]), "biased": float(self.qg[k])} for k, g in enumerate(compiled.fate_groups)
            ],
            "shocks": {n: {"nominal": float(lay.shock_p[k]), "biased": float(self.qs[k])} for k, n in enumerate(compiled.shock_names)},
        }


def _raise(p: np.ndarray, t: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(p > 0, np.power(np.clip(p, 1e-300, 1.0), t), 0.0)


def _log_ratio(num: Any, den: Any) -> Any:
    """log(num / den), 0 where either side is 0 (an impossible branch: never taken)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where((num > 0) & (den > 0), np.log(np.where(num > 0, num, 1.0)) - np.log(np.where(den > 0, den, 1.0)), 0.0)
    return out if out.ndim else float(out)


# --------------------------------------------------------------------------- blocks


@dataclass
class ImportanceBlock:
    """Weighted sums of one importance block (or of several merged in block order).

    ``sums``: Σw, Σw², Σw·F, Σw²·F, failed requests, max w·F, requests, Σw⁴·F
    (:data:`emac_sim.engine.codegen.IS_SUMS`); ``ce``: Σ w·F·(per-request statistics) for the
    cross-entropy update (layout ``BiasLayout.ce``).
    """

    sums: np.ndarray
    ce: np.ndarray
    first_block: int = 0
    n_blocks: int = 0

    @staticmethod
    def empty(lay: BiasLayout, first_block: int = 0) -> ImportanceBlock:
        return ImportanceBlock(np.zeros(IS_SUMS), np.zeros(max(lay.ce_size, 1)), first_block, 0)

    def merge(self, other: ImportanceBlock) -> ImportanceBlock:
        """Sum of two results; ``other`` must cover the blocks right after ``self`` (the order of
        floating-point additions is part of the reproducibility contract)."""
        if self.n_blocks and other.n_blocks and other.first_block != self.first_block + self.n_blocks:
            raise ValueError(f"blocks merged out of order: {self.first_block}+{self.n_blocks} then {other.first_block}")
        s = self.sums + other.sums
        s[5] = max(self.sums[5], other.sums[5])
        return ImportanceBlock(s, self.ce + other.ce, self.first_block if self.n_blocks else other.first_block, self.n_blocks + other.n_blocks)

    @property
    def samples(self) -> int:
        return int(self.sums[6])

    @property
    def failures(self) -> int:
        return int(self.sums[4])


def compile_importance(journey: Journey, scenario: Scenario) -> tuple[CompiledJourney, BiasLayout]:
    """The importance kernel of ``journey`` under ``scenario`` (no details, trace or Birnbaum)."""
    src = generate(journey, scenario, KernelOptions(importance=True))
    assert src.bias is not None
    compiled = compiled_from(journey, scenario, src, birnbaum_stride=0, latency_on=False)
    return compiled, src.bias


def run_importance_block(src: KernelSource, bias: np.ndarray, seed: int, key: tuple[int, ...], size: int, first_block: int = 0) -> ImportanceBlock:
    """Evaluate ``size`` requests under the biasing ``bias`` with the stream
    ``SeedSequence(seed, spawn_key=key)``."""
    assert src.bias is not None
    mod = load_module(src.source)
    res = ImportanceBlock.empty(src.bias, first_block)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))
    mod.sample_block(int(size), rng, src.fp, src.ip, src.tab, bias, res.sums, res.ce)
    res.n_blocks = 1
    return res


def _ordered(fn: Callable[[int], ImportanceBlock], count: int, workers: int) -> Iterator[ImportanceBlock]:
    """``fn(0), fn(1), …`` in index order on ``workers`` threads (at most ``2·workers`` ahead)."""
    if workers <= 1 or count <= 1:
        for b in range(count):
            yield fn(b)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emac-is") as pool:
        pending: dict[int, Future] = {}
        nxt = 0
        try:
            for b in range(count):
                while nxt < count and nxt < b + 2 * workers:
                    pending[nxt] = pool.submit(fn, nxt)
                    nxt += 1
                yield pending.pop(b).result()
        finally:
            for f in pending.values():
                f.cancel()


# --------------------------------------------------------------------------- cross-entropy tuning


@dataclass(frozen=True)
class Tuning:
    """The biasing the pilot chose and how: start level ``t``, iterations, pilot requests."""

    biasing: Biasing
    start_level: float
    iterations: int
    pilot_samples: int
    pilot_failure_share: float


def ce_update(cur: Biasing, res: ImportanceBlock, lay: BiasLayout) -> Biasing | None:
    """The weighted maximum-likelihood biasing over the failed requests of ``res`` (``None``
    when no request failed)."""
    wf = float(res.sums[2])
    if res.failures == 0 or wf <= 0:
        return None
    ce = res.ce
    calls, fails, er, erx = (ce[lay.ce(k) : lay.ce(k) + lay.n_components] for k in ("calls", "fails", "er", "erx"))
    wr, wrx = (ce[lay.ce(k) : lay.ce(k) + lay.n_factors] for k in ("wr", "wrx"))
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(calls > 0, fails / calls, cur.q)
        nb = np.where(calls > 0, er / calls, cur.nb)
        nu = np.where(er > 0, erx / er, cur.nu)
        mu = np.where(wr > 0, wrx / wr, cur.mu)
    mb = wr / wf
    qg = ce[lay.ce("grp") : lay.ce("grp") + lay.n_groups] / wf
    qs = ce[lay.ce("shk") : lay.ce("shk") + lay.n_shocks] / wf
    return Biasing(q, nu, mu, qg, qs, nb, mb)


def tune(src: KernelSource, seed: int, *, iterations: int = CE_ITERATIONS, pilot_size: int = PILOT_SIZE) -> Tuning:
    """Choose the biasing for ``src`` by a start-level search and cross-entropy iterations on
    pilot blocks drawn from ``seed``'s pilot streams (see the module docstring)."""
    lay = src.bias
    assert lay is not None
    used = 0
    cur = Biasing.nominal(lay)
    level, share = START_LEVELS[-1], 0.0
    for i, t in enumerate(START_LEVELS):
        cur = Biasing.level(lay, t)
        res = run_importance_block(src, cur.vector(lay), seed, stream_key(0, STREAM_PILOT, 0, i), pilot_size)
        used += pilot_size
        level, share = t, res.failures / pilot_size
        if share >= START_FAILURE_SHARE:
            break
    done = 0
    for it in range(iterations):
        res = run_importance_block(src, cur.vector(lay), seed, stream_key(0, STREAM_PILOT, 1 + it), pilot_size)
        used += pilot_size
        new = ce_update(cur, res, lay)
        if new is None:
            break
        cur = cur.smoothed(new, CE_SMOOTHING).clipped(lay)
        done += 1
    return Tuning(cur, level, done, used, share)


# --------------------------------------------------------------------------- estimate


@dataclass(frozen=True)
class WeightedEstimate:
    """The weighted estimator of unavailability on merged sums (see the module docstring)."""

    samples: int
    failures: int
    unavailability: float
    std_error: float
    ci: tuple[float, float]
    ess_failure: float
    ess_all: float
    max_weight_share: float
    mean_weight: float
    variance_rel_error: float | None
    confidence: float

    @property
    def half_width(self) -> float:
        return 0.5 * (self.ci[1] - self.ci[0]) if self.ci[0] > 0 else self.ci[1] - self.unavailability

    def warnings(self) -> list[str]:
        """The weight-degeneracy diagnostic: why the interval may not be trusted (empty: none)."""
        out = []
        bad = "the interval cannot be trusted"
        if self.failures == 0:
            return ["importance sampling saw no failure: the estimate 0 and its interval cannot be trusted"]
        if self.ess_failure < MIN_ESS:
            out.append(f"weight degeneracy: effective sample size of the failures {self.ess_failure:.1f} < {MIN_ESS:g}; {bad}")
        if self.max_weight_share > MAX_WEIGHT_SHARE:
            out.append(f"weight degeneracy: one request holds {self.max_weight_share:.0%} of the weighted failures; {bad}")
        if self.variance_rel_error is not None and self.variance_rel_error > MAX_VARIANCE_REL_ERROR:
            out.append(
                f"weight degeneracy: the variance estimate's relative error is {self.variance_rel_error:.2f} > {MAX_VARIANCE_REL_ERROR:g}; {bad}"
            )
        return out


def weighted_estimate(res: ImportanceBlock, confidence: float = 0.95) -> WeightedEstimate:
    """Û = Σ w F / n, its CLT interval at ``confidence``, the effective sample sizes and the
    degeneracy statistics of merged importance sums ``res``."""
    s = res.sums
    n = max(res.samples, 1)
    sw, sw2, swf, sw2f, maxwf, sw4f = float(s[0]), float(s[1]), float(s[2]), float(s[3]), float(s[5]), float(s[7])
    u = swf / n
    var = max(sw2f - n * u * u, 0.0) / (n - 1) if n > 1 else float("inf")
    se = math.sqrt(var / n)
    z = float(special.ndtri(0.5 + confidence / 2.0))
    lo, hi = max(0.0, u - z * se), min(1.0, u + z * se)
    m2, m4 = sw2f / n, sw4f / n
    vre = math.sqrt(max(m4 - m2 * m2, 0.0) / n) / m2 if m2 > 0 else None
    return WeightedEstimate(
        samples=res.samples,
        failures=res.failures,
        unavailability=u,
        std_error=se,
        ci=(lo, hi),
        ess_failure=(swf * swf / sw2f) if sw2f > 0 else 0.0,
        ess_all=(sw * sw / sw2) if sw2 > 0 else 0.0,
        max_weight_share=(maxwf / swf) if swf > 0 else 0.0,
        mean_weight=sw / n,
        variance_rel_error=vre,
        confidence=confidence,
    )


# --------------------------------------------------------------------------- result


@dataclass
class ImportanceResult(SimulationResult):
    """A :class:`SimulationResult` whose availability comes from the weighted estimator.

    ``counts`` holds the raw request and failure counts of the biased run (no latency);
    ``weighted`` the estimator, ``tuning`` the biasing used.
    """

    weighted: WeightedEstimate | None = None
    tuning_info: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    tail: Any = None
    """The latency-tail estimate (``emac_sim.engine.tails.TailEstimate``) when asked for."""

    def to_dict(self) -> dict:
        d = super().to_dict()
        if self.tail is not None:
            d["tail"] = self.tail.to_dict()
        return d

    @property
    def availability(self) -> float:
        assert self.weighted is not None
        return 1.0 - self.weighted.unavailability

    def availability_ci(self) -> tuple[float, float]:
        assert self.weighted is not None
        lo, hi = self.weighted.ci
        return 1.0 - hi, 1.0 - lo

    @cached_property
    def estimate(self) -> Estimate:
        assert self.weighted is not None
        base = SimulationResult.estimate.func(self)  # type: ignore[attr-defined]
        w = self.weighted
        info = {
            "method": "importance",
            "unavailability": {"estimate": w.unavailability, "ci": list(w.ci), "stdError": w.std_error},
            "effectiveSampleSize": w.ess_failure,
            "effectiveSampleSizeDefinition": "Kish (sum w F)^2 / sum w^2 F over the failed requests' likelihood-ratio weights",
            "essAll": w.ess_all,
            "maxWeightShare": w.max_weight_share,
            "meanWeight": w.mean_weight,
            "varianceRelError": w.variance_rel_error,
            "equivalentPlainSamples": (w.unavailability * (1.0 - w.unavailability) / w.std_error**2) if w.std_error > 0 else None,
            **self.tuning_info,
        }
        return replace(base, importance=info, warnings=tuple(self.warnings))


def simulate_importance(
    journey: Journey,
    scenario: Scenario,
    *,
    samples: int,
    seed: int,
    seed_drawn: bool = False,
    target_rel: float | None = None,
    workers: int = 1,
    confidence: float = 0.95,
    pessimistic_shared: frozenset[str] | None = None,
    notes: list[str] | None = None,
    block_size: int = IS_BLOCK_SIZE,
    biasing: Biasing | None = None,
) -> ImportanceResult:
    """Importance-sampling estimate of ``journey``'s availability under ``scenario``.

    Parameters
    ----------
    journey, scenario
        The journey and the resolved correlation scenario.
    samples
        Requests of the estimation run (the cap with ``target_rel``); the pilot's requests come
        on top (reported as ``pilotSamples``).
    seed
        The run's seed: the pilot draws from its :data:`~emac_sim.core.seeds.STREAM_PILOT`
        streams, the estimation blocks from their main streams.
    target_rel
        Stop at the first block boundary where the interval half-width is at most this share of
        Û (after at least :data:`MIN_FAILURES` failed requests).
    workers
        Threads; results do not depend on it.
    confidence
        Coverage of the interval.
    biasing
        Use this biasing instead of tuning one (tests, diagnostics).

    Returns
    -------
    ImportanceResult
    """
    t0 = time.perf_counter()
    compiled, lay = compile_importance(journey, scenario)
    src = compiled.kernel
    notes = list(notes or [])
    if biasing is None:
        tuning = tune(src, seed)
        biasing = tuning.biasing
        tinfo: dict[str, Any] = {
            "pilotSamples": tuning.pilot_samples,
            "ceIterations": tuning.iterations,
            "startLevel": tuning.start_level,
            "pilotFailureShare": tuning.pilot_failure_share,
        }
    else:
        tinfo = {"pilotSamples": 0, "ceIterations": 0, "startLevel": None, "pilotFailureShare": None}
    bias = biasing.vector(lay)
    tinfo["biasing"] = biasing.to_dict(compiled, lay)
    sizes = plan_blocks(int(samples), block_size)

    def one(b: int) -> ImportanceBlock:
        return run_importance_block(src, bias, seed, stream_key(b, STREAM_MAIN), sizes[b], first_block=b)

    load_module(src.source)  # compile (or load) once before threads start
    merged = ImportanceBlock.empty(lay)
    reached = False
    blocks = _ordered(one, len(sizes), min(max(workers, 1), len(sizes)))
    for res in blocks:
        merged = merged.merge(res)
        if target_rel is not None and merged.failures >= MIN_FAILURES:
            w = weighted_estimate(merged, confidence)
            if w.unavailability > 0 and w.half_width <= target_rel * w.unavailability:
                reached = True
                blocks.close()  # type: ignore[attr-defined]
                break
    w = weighted_estimate(merged, confidence)
    tinfo["targetRel"] = target_rel
    if target_rel is not None:
        tinfo["targetReached"] = reached
        rel = w.half_width / w.unavailability if w.unavailability > 0 else float("inf")
        if reached:
            notes.append(f"target relative half-width {target_rel:g} reached after {merged.samples} samples ({merged.n_blocks} blocks; {rel:.3g})")
        else:
            notes.append(f"target relative half-width {target_rel:g} not reached within {merged.samples} samples ({rel:.3g})")
    notes.append("latency is not estimated under importance sampling (requests are drawn to fail); run --method plain for latency")
    counts = BlockResult.empty(compiled)
    counts.samples, counts.ok, counts.n_blocks = merged.samples, merged.samples - merged.failures, merged.n_blocks
    result = ImportanceResult(
        journey_name=journey.name,
        expression=journey.expression,
        correlation=scenario.name,
        seed=int(seed),
        seed_drawn=seed_drawn,
        requested_samples=int(samples),
        block_size=int(block_size),
        confidence=float(confidence),
        target_ci=None,
        counts=counts,
        component_ids=compiled.component_ids,
        referenced=tuple(dict.fromkeys(journey.root.refs())),
        race_paths=compiled.race_paths,
        latency_on=False,
        birnbaum_stride=0,
        component_p99={},
        pessimistic_shared=tuple(sorted(pessimistic_shared)) if pessimistic_shared is not None else None,
        fate_groups=compiled.fate_groups,
        notes=notes,
        details=False,
        weighted=w,
        tuning_info=tinfo,
        warnings=w.warnings(),
    )
    result.wall_seconds = time.perf_counter() - t0
    return result


def expected_failures(journey: Journey, scenario: Scenario, samples: int) -> tuple[float, str]:
    """Failures a plain run of ``samples`` would expect: from the scenario's exact availability
    where the analytic layer computes it, else from the independent availability."""
    from ..analytic.availability import independent_availability, scenario_availability

    a = scenario_availability(journey, scenario)
    how = "exact"
    if a is None:
        a, how = independent_availability(journey), "independent"
    return samples * (1.0 - a), how
