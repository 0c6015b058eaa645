"""What-if sweeps: change spec values over a grid, get bounds and estimates at every point.

Each point of the grid is a changed copy of the spec document (:mod:`.specpath`), validated by the
normal loader, passed through the capacity model when components declare ``capacity``
(:mod:`.capacity`), then given

- the analytic bounds (:func:`emac_sim.analytic.bounds`): availability independent / declared /
  pessimistic, shared-fate range, dependence-free interval; latency quantiles independent,
  comonotone and the dependence-free band;
- a Monte Carlo estimate (:func:`emac_sim.engine.simulate`) with its confidence interval.

Common random numbers
---------------------
Every point is simulated with the **same seed**. The engine derives its block streams from that
seed alone (``SeedSequence(seed).spawn``), so sample *k* at every point sees the same uniforms
(up to stream shifts inside a block, kept short by :data:`CRN_BLOCK_SIZE`); they are mapped to
outcomes by inverse transforms (a call fails when its uniform exceeds the
availability, takes ``ppf(V)`` seconds). A small parameter change therefore flips only the
samples whose uniforms fall between the old and the new threshold: for availability ``a → a + δ``
the estimate moves by at most the share of samples whose failure uniform lies in ``(a, a+δ]``
(order ``δ``, variance ``≈ δ/n``), whereas two independent runs differ by noise of variance
``2p(1−p)/n``. Differences and slopes between points are then mostly signal, curves are smooth,
and bisection over Monte Carlo values sees a (nearly) monotone function. The intervals printed at
each point are still the marginal intervals of that point.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from ..core.provenance import input_records, tool_name
from ..core.quantiles import LATENCY_KEYS
from ..core.seeds import resolve_seed
from ..errors import SpecError
from ..model.journey import Journey
from ..units import parse_duration
from .capacity import CapacityResult, capacity_components, derive_capacity, saturation_rate
from .constraints import Constraint
from .document import SpecDocument
from .grid import Vary, grid_points
from .specpath import SpecPath, parse_path, resolved_path

if TYPE_CHECKING:
    from ..analytic.bounds import Bounds
    from ..engine.result import Estimate

#: samples per engine block in studies. The engine draws a request's uniforms from its block's
#: stream in call order, so a sample that makes a different number of calls at two points (a
#: hedge issued at one and not the other, a series cut short by a failure) shifts the stream for
#: the rest of its block. Small blocks re-align the streams every CRN_BLOCK_SIZE samples. Measured
#: on configs/checkout.yaml, paya availability 0.995 → 0.996, 20k samples: the variance of the
#: estimated difference is ~240× below that of independent seeds with 64-sample blocks, ~25× with
#: the engine's default blocks; the cost is ~4× the default simulation time.
CRN_BLOCK_SIZE = 64
USING = ("independent", "upper", "montecarlo")
INTEGER_KEYS = frozenset({"replicas", "attempts", "count", "k"})
MAX_DOUBLINGS = 20  # bracket search: at most 2^20 times the starting value (or 2^-20 of it)

CRN_NOTE = (
    "common random numbers: every point uses the same seed, so sample k sees the same uniforms at every point; "
    "differences between points are driven by the parameter change, not by independent noise"
)


def numeric(value: Any) -> float | None:
    """A varied value as a number for plotting: numbers as is, durations in seconds, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            return None
    return None


@dataclass
class PointEvaluation:
    """Everything computed at one point: the analytic bounds (``None`` when skipped), the Monte
    Carlo estimate (``None`` without samples) and the capacity fixed point (when declared)."""

    journey: Journey
    bounds: Bounds | None
    simulation: Estimate | None
    capacity: CapacityResult | None

    @property
    def saturated(self) -> bool:
        return bool(self.capacity and self.capacity.saturated)


def evaluate(
    journey: Journey,
    *,
    samples: int,
    seed: int,
    correlation: str = "declared",
    confidence: float = 0.95,
    capacity_tolerance: float = 1e-6,
    analytic: bool = True,
) -> PointEvaluation:
    """Capacity fixed point (when declared), analytic bounds and a Monte Carlo estimate.

    ``samples = 0`` skips the Monte Carlo run; ``analytic=False`` skips the bounds (their
    columns are then null). With a saturated component the latency bounds and estimates are
    reported as infinite by :func:`row` (the derived journey keeps finite placeholders so that
    availability can still be computed).
    """
    from ..analytic import bounds

    cap = derive_capacity(journey, tolerance=capacity_tolerance) if capacity_components(journey) else None
    j = cap.journey if cap is not None else journey
    b = bounds(j, confidence=confidence) if analytic else None
    sim = None
    if samples > 0:
        from ..engine import simulate

        pess = b.availability.pessimistic_set if b is not None else None
        sim = simulate(
            j, samples=samples, seed=seed, correlation=correlation, confidence=confidence, pessimistic_shared=pess, block_size=CRN_BLOCK_SIZE
        ).estimate
    return PointEvaluation(j, b, sim, cap)


def _f(v: Any) -> float | None:
    if v is None:
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def row(ev: PointEvaluation) -> dict[str, Any]:
    """Flat table row for one evaluated point (availability dimensionless, latency seconds)."""
    b, s = ev.bounds, ev.simulation
    av = b.availability if b is not None else None
    sfr = (av.shared_fate_range if av is not None else None) or (None, None)
    dfr = av.dependence_free if av is not None else (None, None)
    ci = s.availability_ci if s is not None else (None, None)
    out: dict[str, Any] = {
        "availability_independent": _f(av.independent) if av is not None else None,
        "availability_declared": _f(av.declared) if av is not None else None,
        "availability_pessimistic": _f(av.pessimistic) if av is not None else None,
        "shared_fate_lo": _f(sfr[0]),
        "shared_fate_hi": _f(sfr[1]),
        "dependence_free_lo": _f(dfr[0]),
        "dependence_free_hi": _f(dfr[1]),
        "mc_availability": _f(s.availability) if s is not None else None,
        "mc_availability_lo": _f(ci[0]),
        "mc_availability_hi": _f(ci[1]),
    }
    inf = math.inf if ev.saturated else None
    for k in LATENCY_KEYS:
        qb = b.quantile(k) if b is not None else None
        for part in ("independent", "comonotone", "lower", "upper"):
            out[f"{k}_{part}"] = inf if ev.saturated else (_f(qb.value(part)) if qb is not None else None)
        est = s.quantile(k) if s is not None else None
        qci = est.ci if est is not None else (None, None)
        out[f"mc_{k}"] = inf if ev.saturated else (_f(est.estimate) if est is not None else None)
        out[f"mc_{k}_lo"] = inf if ev.saturated else _f(qci[0])
        out[f"mc_{k}_hi"] = inf if ev.saturated else _f(qci[1])
    out["tail_amplification"] = None if ev.saturated or s is None else _f(s.tail_amplification)
    out["hedge_rate"] = _f(s.hedge_rate) if s is not None else None
    cap = ev.capacity
    out["saturated"] = ev.saturated
    out["saturated_components"] = ",".join(cap.saturated) if cap else ""
    out["max_utilisation"] = cap.max_utilisation if cap else None
    out["capacity_iterations"] = cap.iterations if cap else None
    out["capacity_converged"] = cap.converged if cap else None
    if cap:
        for cid, q in cap.queues.items():
            out[f"utilisation_{cid}"] = q.utilisation
            out[f"arrival_rate_{cid}"] = q.arrival_rate
    return out


def _objective_columns(j: Journey) -> dict[str, Any]:
    ao, lo = j.availability_objective, j.latency_objective
    return {
        "objective_availability": ao.target if ao else None,
        "objective_latency_metric": lo.metric if lo else None,
        "objective_latency": lo.threshold if lo else None,
    }


@dataclass
class WhatIfResult:
    """A finished sweep: the table plus what is needed to reproduce and plot it."""

    frame: pl.DataFrame
    spec: str
    varies: tuple[Vary, ...]
    resolved: dict[str, str]
    samples: int
    seed: int
    correlation: str
    confidence: float
    notes: list[str] = field(default_factory=list)
    find_max: FindMaxResult | None = None
    inputs: tuple[tuple[str, str], ...] = ()

    def meta(self) -> dict:
        return {
            "spec": self.spec,
            "vary": [{"path": v.path.text, "resolvedPath": self.resolved.get(v.path.text), "values": list(v.values)} for v in self.varies],
            "samples": self.samples,
            "seed": self.seed,
            "correlation": self.correlation,
            "confidence": self.confidence,
            "commonRandomNumbers": CRN_NOTE,
            "blockSize": CRN_BLOCK_SIZE,
            "notes": list(self.notes),
            "provenance": {"tool": tool_name(), "inputs": input_records(self.inputs)},
        }

    def to_dict(self) -> dict:
        out = {**self.meta(), "points": self.frame.to_dicts()}
        if self.find_max is not None:
            out["findMax"] = self.find_max.to_dict()
        return out


def whatif(
    spec: str | os.PathLike | SpecDocument,
    varies: Sequence[Vary],
    *,
    samples: int = 50_000,
    seed: int | None = None,
    correlation: str = "declared",
    confidence: float = 0.95,
    slo_paths: Iterable[str | os.PathLike] = (),
    progress: Callable[[int, int], None] | None = None,
    analytic: bool = True,
) -> WhatIfResult:
    """Evaluate the spec at every point of the grid the ``varies`` make.

    Parameters
    ----------
    spec
        Spec file (or an already loaded :class:`SpecDocument`).
    varies
        Varied paths and their values; several make a grid (first slowest).
    samples
        Monte Carlo samples per point; 0 for analytic only.
    seed
        One seed for all points (common random numbers); ``None`` draws one and records it.
    correlation
        Scenario simulated (``declared``, ``independent``, ``shared``, ``pessimistic``).
    confidence
        Confidence level of the Monte Carlo intervals and of DKW bands.
    progress
        Called as ``progress(done, total)`` after each point.
    analytic
        ``False`` skips the analytic bounds (Monte Carlo-only sweeps of large grids).

    Returns
    -------
    WhatIfResult
        ``frame`` has one row per point: the varied values (as given and as numbers,
        ``<path>__value`` in seconds for durations), bounds, estimates, capacity state.

    Raises
    ------
    SpecError
        A path that does not fit the spec, or a value the loader rejects (its one-line message
        names the file and the path).
    """
    doc = spec if isinstance(spec, SpecDocument) else SpecDocument.load(spec, slo_paths)
    if samples < 0:
        raise SpecError("--samples", "", f"must be >= 0, got {samples}")
    if samples == 0 and not analytic:
        raise SpecError("--samples", "", "nothing to compute: no Monte Carlo samples and no analytic bounds")
    varies = tuple(varies)
    points = grid_points(varies)
    resolved = {v.path.text: resolved_path(doc.doc, v.path, doc.shown) for v in varies}
    use_seed, _ = resolve_seed(seed)
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    # validate every point before computing any: a bad value fails fast with its path
    try:
        journeys = [doc.journey(doc.with_values(zip((v.path for v in varies), values))) for values in points]
    except SpecError as err:
        # a mistyped last key of a --vary path is only found by the loader: name the option, not the spec
        typo = next((v.path for v in varies if resolved[v.path.text] == err.path and err.message.startswith("unknown key")), None)
        if typo is None or not typo.source.startswith("--"):
            raise
        raise SpecError(typo.source, typo.text, err.message) from None
    from ..engine.dask_backend import map_points  # points become tasks when a Dask client is active

    evaluations = map_points(
        evaluate, journeys, samples=samples, seed=use_seed, correlation=correlation, confidence=confidence, analytic=analytic
    )
    for i, (values, j, ev) in enumerate(zip(points, journeys, evaluations)):
        r: dict[str, Any] = {"point": i}
        for v, val in zip(varies, values):
            r[v.path.text] = str(val) if not isinstance(val, (int, float)) or isinstance(val, bool) else float(val)
            r[f"{v.path.text}__value"] = numeric(val)
        r.update(row(ev))
        r.update(_objective_columns(j))
        r.update({"samples": samples, "seed": use_seed, "correlation": correlation})
        rows.append(r)
        if ev.capacity is not None:
            notes.extend(n for n in ev.capacity.notes if n not in notes and not n.startswith("saturated"))
        if progress is not None:
            progress(i + 1, len(points))
    frame = pl.DataFrame(rows, infer_schema_length=None, nan_to_null=False)
    inputs = journeys[0].inputs if journeys else ((doc.shown, doc.sha256),)
    return WhatIfResult(frame, doc.shown, varies, resolved, samples, use_seed, correlation, confidence, notes, inputs=inputs)


# --------------------------------------------------------------------------- find the maximum


@dataclass
class FindMaxResult:
    """Largest value of ``path`` that meets every constraint (bisection)."""

    path: str
    maximum: float | None
    first_failing: float | None
    using: str
    tolerance: float
    constraints: tuple[Constraint, ...]
    evaluations: list[dict[str, Any]]
    message: str

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "maximum": self.maximum,
            "firstFailing": self.first_failing,
            "using": self.using,
            "method": "bisection",
            "relativeTolerance": self.tolerance,
            "subjectTo": [str(c) for c in self.constraints],
            "evaluations": self.evaluations,
            "message": self.message,
        }


def _metric_value(ev: PointEvaluation, c: Constraint, using: str) -> float | None:
    """The value of ``c.metric`` at an evaluated point under the ``using`` rule."""
    b, s = ev.bounds, ev.simulation
    if c.metric == "availability":
        if using == "independent":
            return _f(b.availability.independent) if b is not None else None
        if using == "upper":  # the conservative side: the pessimistic availability A⁻
            return _f(b.availability.pessimistic) if b is not None else None
        return _f(s.availability) if s is not None else None
    if ev.saturated:
        return math.inf
    if using == "montecarlo":
        q = s.quantile(c.metric) if s is not None else None
        est = q.estimate if q is not None else None
        return math.inf if est is None else _f(est)
    if using == "upper":
        if c.metric not in LATENCY_KEYS:
            raise SpecError("--subject-to", c.metric, f"--using upper knows {', '.join(LATENCY_KEYS)} only")
        qb = b.quantile(c.metric) if b is not None else None
        v = qb.upper if qb is not None else None
        return math.inf if v is None else _f(v)
    if c.metric in LATENCY_KEYS:
        qb = b.quantile(c.metric) if b is not None else None
        v = qb.independent if qb is not None else None
    else:
        from ..analytic import latency_quantiles

        qs = latency_quantiles(ev.journey, "independent", qs=(c.quantile,))
        v = None if qs is None else qs.get(c.quantile)
    return math.inf if v is None else _f(v)


def find_max(
    spec: str | os.PathLike | SpecDocument,
    path: str | SpecPath,
    constraints: Sequence[Constraint],
    *,
    using: str = "independent",
    tolerance: float = 1e-3,
    samples: int = 50_000,
    seed: int | None = None,
    correlation: str = "declared",
    confidence: float = 0.95,
    max_steps: int = 200,
    slo_paths: Iterable[str | os.PathLike] = (),
) -> FindMaxResult:
    """Largest value of ``path`` (e.g. ``load.rate``) for which every constraint holds.

    The constraint is assumed to hold below some threshold value and to fail above it (true for
    latency quantiles against load once queues are modelled). The search brackets the threshold
    (starting from the spec's own value, doubling or halving; with capacity the first
    saturation rate caps the bracket) and bisects until ``hi − lo ≤ tolerance·hi`` (whole
    numbers: ``hi − lo ≤ 1``).

    Parameters
    ----------
    using
        ``independent``: analytic quantile/availability under independence (exact, deterministic;
        the default). ``upper``: the conservative analytic side (dependence-free latency upper
        bound, pessimistic availability A⁻). ``montecarlo``: the Monte Carlo estimate with the same
        seed at every step (common random numbers keep it monotone in practice).
    tolerance
        Relative width of the final bracket.

    Returns
    -------
    FindMaxResult
        ``maximum`` (last value meeting the constraints) and ``first_failing``; every evaluation
        with its metric values.
    """
    if using not in USING:
        raise SpecError("--using", "", f"must be one of {', '.join(USING)}, got {using!r}")
    if not constraints:
        raise SpecError("--subject-to", "", "give at least one constraint, e.g. p99<=0.4")
    if not 0 < tolerance < 1:
        raise SpecError("--tolerance", "", f"must be in (0, 1), got {tolerance!r}")
    doc = spec if isinstance(spec, SpecDocument) else SpecDocument.load(spec, slo_paths)
    sp = parse_path(path, "--find-max") if isinstance(path, str) else path
    base = doc.value(sp)
    start = numeric(base) if base is not None else None
    # whole-number fields of the spec (the loader insists): bisect on integers there only
    integer = sp.segments[-1] in INTEGER_KEYS
    if start is None or start <= 0:
        start = 1.0
    use_seed, _ = resolve_seed(seed)
    sims = samples if using == "montecarlo" else 0
    evaluations: list[dict[str, Any]] = []
    cache: dict[float, bool] = {}

    def feasible(x: float) -> bool:
        x = float(round(x)) if integer else x
        if x in cache:
            return cache[x]
        value: Any = int(x) if integer else x
        j = doc.journey(doc.with_values([(sp, value)]))
        ev = evaluate(j, samples=sims, seed=use_seed, correlation=correlation, confidence=confidence)
        vals = {c.metric: _metric_value(ev, c, using) for c in constraints}
        ok = all(c.holds(vals[c.metric]) for c in constraints)
        evaluations.append({"value": x, "feasible": ok, "saturated": ev.saturated, **vals})
        cache[x] = ok
        return ok

    lo: float | None = None
    hi: float | None = None
    if feasible(start):
        lo = start
        cap_hi = None
        if sp.segments == ("load", "rate"):
            j0 = doc.journey()
            cap_hi = saturation_rate(j0)
        if cap_hi is not None and cap_hi > lo:
            hi = cap_hi
            if feasible(hi):
                lo, hi = hi, None
        x = lo
        doublings = 0
        while hi is None and len(evaluations) < max_steps and doublings < MAX_DOUBLINGS:
            doublings += 1
            x *= 2.0
            if feasible(x):
                lo = x
            else:
                hi = x
        if hi is None:
            msg = f"constraints still hold at {lo:g} ({doublings} doublings); no maximum found: they may not tighten as {sp.text} grows"
            return FindMaxResult(sp.text, None, None, using, tolerance, tuple(constraints), evaluations, msg)
    else:
        hi = start
        x = start
        while lo is None and len(evaluations) < max_steps and x > start * 2.0**-MAX_DOUBLINGS:
            x /= 2.0
            if integer and x < 1:
                break
            if feasible(x):
                lo = x
            else:
                hi = x
        if lo is None:
            return FindMaxResult(sp.text, None, hi, using, tolerance, tuple(constraints), evaluations, f"constraints fail even at {hi:g}")
    while len(evaluations) < max_steps:
        if integer and hi - lo <= 1:
            break
        if not integer and hi - lo <= tolerance * hi:
            break
        mid = math.floor((lo + hi) / 2) if integer else 0.5 * (lo + hi)
        if feasible(mid):
            lo = mid
        else:
            hi = mid
    msg = f"max {sp.text} = {lo:.6g} subject to {', '.join(map(str, constraints))} (using {using}; bracket [{lo:.6g}, {hi:.6g}])"
    return FindMaxResult(sp.text, lo, hi, using, tolerance, tuple(constraints), evaluations, msg)
