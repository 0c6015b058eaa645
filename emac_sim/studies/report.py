"""The tail-amplification report: ``emac report SPEC --out DIR`` (DESIGN §1 "platform teams").

One run computes, for the journey as written (capacity components through their queues):

1. the analytic bounds and a Monte Carlo estimate under the chosen scenario;
2. **latency CCDF** on log axes: Monte Carlo P(T > t) of successful journeys with a pointwise
   Wilson band, against the analytic independent and comonotone curves and the
   dependence-free band;
3. **availability intervals**: dependence-free ⊇ shared-fate range ∋ estimate, objective marked;
4. **tail attribution** per component (share of journeys above the p99 each component dominates)
   beside Birnbaum importance;
5. **tail amplification against fan-out width** for each component's own latency
   distribution: share of requests with at least one call above the component's p99, and
   p99(max of n) / p99(one call), analytic curves and Monte Carlo points;
6. **trade-offs** (p99 against extra load): the hedge delay of every race; the per-try timeout
   of every retry (or, when the journey has none, a hypothetical ``retry(2, perTryTimeout τ)``
   around the component that dominates the tail, labelled as such).

It writes ``report.md`` (figures as files under ``figures/``), ``report.json`` (every number
shown) and ``report.html``, which is self-contained: every figure is embedded as a base64 SVG data URI. Both documents are
rendered by the Jinja templates under ``templates/`` (package data) from one list of blocks. Sweeps use common random
numbers (one seed), so the trade-off curves are smooth. The same inputs and seed give the same
bytes (no timestamps; SVG ids are salted deterministically).
"""

from __future__ import annotations

import base64
import functools
import html
import math
import os
import platform
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
from markupsafe import Markup

from ..core.jsonio import dumps
from ..core.provenance import input_records, library_versions, tool_name
from ..core.seeds import DEFAULT_SEED, resolve_seed
from ..model.journey import Journey
from ..spec.limits import MAX_LATENCY, MIN_LATENCY
from .capacity import CapacityResult, capacity_components, derive_capacity
from .document import SpecDocument
from .specpath import operator_nodes, parse_path, set_value
from .whatif import CRN_BLOCK_SIZE, LATENCY_KEYS

FANOUT_WIDTHS = (1, 2, 5, 10, 20, 50, 100)
FANOUT_MC_WIDTHS = (1, 10, 100)
#: Libraries whose versions the report's provenance lists.
REPORT_LIBRARIES = ("numpy", "scipy", "numba", "polars", "matplotlib")


@dataclass
class ReportResult:
    """Paths written and the numbers shown."""

    out_dir: Path
    markdown: Path
    html: Path
    figures: list[Path]
    summary: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "outDir": str(self.out_dir),
            "markdown": str(self.markdown),
            "html": str(self.html),
            "figures": [str(p) for p in self.figures],
            "summary": self.summary,
        }


# --------------------------------------------------------------------------- computations


def _simulate(journey: Journey, samples: int, seed: int, correlation: str, confidence: float, pessimistic: frozenset[str] | None = None):
    from ..engine import simulate

    return simulate(
        journey,
        samples=samples,
        seed=seed,
        correlation=correlation,
        confidence=confidence,
        pessimistic_shared=pessimistic,
        block_size=CRN_BLOCK_SIZE,
    )


def mc_ccdf(counts_hist: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Empirical P(T > t) at histogram bucket upper edges with pointwise Wilson intervals.

    Returns ``(t seconds, ccdf, lo, hi)`` restricted to finite edges where at least one sample
    lies above (the CCDF is exact at bucket edges: no within-bucket interpolation).
    """
    from ..core.histogram import bucket_edges
    from ..core.intervals import wilson_interval

    hist = np.asarray(counts_hist, dtype=np.int64)
    n = int(hist.sum())
    _, hi_edge = bucket_edges()
    above = n - np.cumsum(hist)
    # the CCDF only changes at buckets that hold samples: keep those (with samples above them)
    idx = np.nonzero(np.isfinite(hi_edge) & (hist > 0) & (above > 0) & (hi_edge > 0))[0]
    t = hi_edge[idx]
    k = above[idx]
    p = k / n
    ci = np.array([wilson_interval(int(x), n, confidence) for x in k]).reshape(-1, 2)
    return t, p, ci[:, 0], ci[:, 1]


def _analytic_curve(journey: Journey, scenario: str, qs: np.ndarray) -> np.ndarray | None:
    """Quantiles (seconds) of successful journeys at ``qs`` from the analytic layer, or None."""
    from .. import analytic

    try:
        out = analytic.latency_quantiles(journey, scenario, qs=tuple(float(q) for q in qs))
    except (ValueError, KeyError, TypeError, NotImplementedError):
        return None
    if out is None:
        return None
    return np.array([out.get(float(q), np.nan) if out.get(float(q)) is not None else np.nan for q in qs], dtype=float)


def _fanout_component_study(journey: Journey, seed: int, samples: int, confidence: float) -> dict[str, dict]:
    """Per component with latency: analytic amplification curve and Monte Carlo points."""
    from ..engine import simulate
    from ..spec.dump import journey_to_spec
    from .fanout import fanout_journey

    out: dict[str, dict] = {}
    for cid in dict.fromkeys(journey.root.refs()):
        dist = journey.component(cid).latency
        if dist is None:
            continue
        p99 = float(dist.ppf(0.99))
        if not p99 > 0:  # an instantaneous call (constant 0) has no tail to amplify
            continue
        widths = np.array(FANOUT_WIDTHS, dtype=float)
        curve = np.array([float(dist.ppf(0.99 ** (1.0 / n))) for n in widths]) / p99
        lat_spec = journey_to_spec(journey)["spec"]["components"][cid]["latency"]
        mc = []
        if samples > 0:
            for n in FANOUT_MC_WIDTHS:
                jf = fanout_journey(n, lat_spec)
                res = simulate(jf, samples=samples, seed=seed, correlation="independent", confidence=confidence, block_size=CRN_BLOCK_SIZE)
                q = res.estimate.quantile("p99")
                est = q.estimate if q is not None else None
                slow, slo, shi = _share_above(res.counts.hist_ok, p99, confidence)
                mc.append({"width": n, "p99": est, "amplification": None if est is None else est / p99, "slow": slow, "slowLo": slo, "slowHi": shi})
        out[cid] = {"p99": p99, "widths": list(FANOUT_WIDTHS), "amplification": curve.tolist(), "mc": mc}
    return out


def _share_above(hist: np.ndarray, x: float, confidence: float) -> tuple[float, float, float]:
    """Share of samples above ``x`` (counted from the bucket after the one holding x) ± Wilson."""
    from ..core.histogram import bucket_index
    from ..core.intervals import wilson_interval

    n = int(hist.sum())
    if n == 0:
        return math.nan, math.nan, math.nan
    k = int(hist[bucket_index(x) + 1 :].sum())
    lo, hi = wilson_interval(k, n, confidence)
    return k / n, lo, hi


def _tradeoff_points(doc: SpecDocument, base: Any, path: str, key: str, values: list[Any], *, samples: int, seed: int,
                     correlation: str, confidence: float, baseline_doc: Any | None = None) -> dict:
    """Sweep ``path.key`` over ``values``: analytic p99/availability/calls and Monte Carlo p99/calls."""
    from .. import analytic

    sp = parse_path(f"{path}.{key}")
    pts = []
    base_calls = None
    if baseline_doc is not None:
        jb = _capacity(doc.journey(baseline_doc)).journey
        base_calls = float(sum(analytic.call_amplification(jb).values()))
    for v in values:
        j = _capacity(doc.journey(set_value(base, sp, v, doc.shown))).journey
        b = analytic.bounds(j, confidence=confidence)
        amp = analytic.call_amplification(j)
        qb = b.quantile("p99")
        row: dict[str, Any] = {
            "value": float(v),
            "p99": qb.independent if qb is not None else None,
            "availability": b.availability.independent,
            "calls": float(sum(amp.values())),
        }
        if samples > 0:
            e = _simulate(j, samples, seed, correlation, confidence).estimate
            p = e.quantile("p99")
            p_est, (p_lo, p_hi) = (p.estimate, p.ci) if p is not None else (None, (None, None))
            row.update(mcP99=p_est, mcP99Lo=p_lo, mcP99Hi=p_hi)
            row["mcCalls"] = float(sum((e.call_amplification or {}).values()))
            row["hedgeRate"] = e.hedge_rate
        pts.append(row)
    ref = base_calls if base_calls is not None else min(p["calls"] for p in pts)
    for p in pts:
        p["extraLoad"] = p["calls"] / ref - 1.0
        if "mcCalls" in p:
            p["mcExtraLoad"] = p["mcCalls"] / ref - 1.0
    return {"path": f"{path}.{key}", "points": pts, "baselineCalls": ref, "correlation": correlation}


def _capacity(journey: Journey) -> CapacityResult:
    if capacity_components(journey):
        return derive_capacity(journey)
    return CapacityResult(journey, journey.load_rate or 0.0, {}, {}, 0, True, ())


def _nice(x: float) -> float:
    """Round to two significant digits (a setting someone would write: 110 ms, 0.32 s)."""
    if x <= 0:
        return 0.0
    e = math.floor(math.log10(x)) - 1
    return round(round(x / 10**e) * 10**e, 9)


def _setting_grid(values: Iterable[float], current: float | None = None) -> list[float]:
    """Nice, sorted, distinct settings; values within 8 % of a kept one (or of current) are dropped."""
    out: list[float] = [] if current is None else [round(current, 9)]
    for v in sorted(_nice(float(x)) for x in values):
        if all(abs(v - k) > 0.08 * max(v, k) for k in out) or (v == 0 and 0.0 not in out):
            out.append(v)
    return sorted(out)


def _quantile_grid(dist: Any, qs: Iterable[float], current: float | None = None) -> list[float]:
    return _setting_grid((float(dist.ppf(q)) for q in qs), current)


def _durations(values: Iterable[float], zero_ok: bool) -> list[float]:
    """The settings a spec accepts as a delay (0 when ``zero_ok``) or timeout: [1 ns, 1 day]."""
    return [v for v in values if (zero_ok and v == 0.0) or MIN_LATENCY <= v <= MAX_LATENCY]


def _hedge_studies(doc: SpecDocument, journey: Journey, **kw: Any) -> list[dict]:
    out = []
    for path, node in operator_nodes(doc.doc):
        if node.get("type") != "race":
            continue
        branches = node.get("branches") or []
        if len(branches) < 2:
            continue
        j_node = _node_at(journey, path)
        first = getattr(j_node, "branches", [None])[0]
        dist = journey.component(first.component).latency if first is not None and hasattr(first, "component") else None
        current = getattr(j_node, "hedge_delay", 0.0)
        if dist is not None:
            values = _setting_grid([0.0, *(float(dist.ppf(q)) for q in (0.5, 0.75, 0.9, 0.99, 0.999))], current)
        else:
            values = _setting_grid(np.linspace(0, max(current * 2, 0.5), 8), current)
        values = _durations(values, zero_ok=True)
        # baseline: no hedge (the later branches only after a failure), i.e. an unreachable delay:
        # the longest a spec accepts (1 day)
        baseline = doc.with_values([(parse_path(f"{path}.hedgeDelay"), MAX_LATENCY)])
        res = _tradeoff_points(doc, doc.doc, path, "hedgeDelay", values, baseline_doc=baseline, **kw)
        res.update(kind="hedge", current=current, hypothetical=False, label=f"hedge delay of Race at {path}")
        out.append(res)
    return out


def _node_at(journey: Journey, path: str) -> Any:
    """The journey node at an operator path such as ``operator.steps[2].branches[1]``."""
    node: Any = journey.root
    segs = parse_path(path).segments[1:]
    i = 0
    while i < len(segs):
        if segs[i] in ("steps", "branches"):
            node = node.children[segs[i + 1]]
            i += 2
        else:  # "step"
            node = node.step
            i += 1
    return node


def _timeout_studies(doc: SpecDocument, journey: Journey, attribution: dict[str, float], **kw: Any) -> list[dict]:
    out = []
    for path, node in operator_nodes(doc.doc):
        if node.get("type") != "retry" or "perTryTimeout" not in node:
            continue
        j_node = _node_at(journey, path)
        step = j_node.step
        dist = journey.component(step.component).latency if hasattr(step, "component") else None
        current = j_node.per_try_timeout
        if dist is not None:
            values = _quantile_grid(dist, (0.5, 0.75, 0.9, 0.95, 0.99, 0.999), current)
        else:
            values = _setting_grid(np.linspace(current / 4, current * 2, 7), current)
        values = _durations(values, zero_ok=False)
        baseline = doc.with_values([(parse_path(f"{path}.attempts"), 1)])
        res = _tradeoff_points(doc, doc.doc, path, "perTryTimeout", values, baseline_doc=baseline, **kw)
        res.update(kind="retry", current=current, hypothetical=False, label=f"per-try timeout of Retry at {path} ({j_node.attempts} attempts)")
        out.append(res)
    if out:
        return out
    # no retry in the journey: what if the component that dominates the tail got retry(2, perTryTimeout)?
    ranked = sorted((v, k) for k, v in attribution.items() if k in journey.component_ids)
    candidates = [k for _, k in reversed(ranked)] + list(dict.fromkeys(journey.root.refs()))
    for cid in candidates:
        dist = journey.component(cid).latency
        ref_path = next((p for p, n in operator_nodes(doc.doc) if n.get("ref") == cid), None)
        if dist is None or ref_path is None or not _durations([float(dist.ppf(0.99))], zero_ok=False):
            continue
        retry = {"type": "retry", "attempts": 2, "perTryTimeout": float(dist.ppf(0.99)), "step": {"ref": cid}}
        wrapped = doc.with_values([(parse_path(ref_path), retry)])
        values = _durations(_quantile_grid(dist, (0.5, 0.75, 0.9, 0.95, 0.99, 0.999)), zero_ok=False)
        res = _tradeoff_points(doc, wrapped, ref_path, "perTryTimeout", values, baseline_doc=doc.doc, **kw)
        res.update(kind="retry", current=None, hypothetical=True, component=cid,
                   label=f"hypothetical Retry({cid}, 2 attempts, perTryTimeout τ) at {ref_path}")
        return [res]
    return []


# --------------------------------------------------------------------------- the report


def report(
    spec: str | os.PathLike,
    out: str | os.PathLike,
    *,
    samples: int = 100_000,
    sweep_samples: int = 20_000,
    seed: int | None = DEFAULT_SEED,
    correlation: str = "declared",
    confidence: float = 0.95,
    slo_paths: Iterable[str | os.PathLike] = (),
    command: str | None = None,
) -> ReportResult:
    """Compute everything and write ``report.md``, ``report.html`` and ``figures/`` under ``out``.

    Parameters
    ----------
    spec
        JourneyIntent file.
    out
        Output directory (created).
    samples
        Monte Carlo samples of the main estimate.
    sweep_samples
        Samples per point of the fan-out and trade-off sweeps (0: analytic only).
    seed
        One seed for every simulation (common random numbers); ``None`` draws one.
    correlation
        Scenario of the Monte Carlo runs.
    command
        Command line recorded in the provenance section.

    Returns
    -------
    ReportResult

    Raises
    ------
    SpecError
        Bad input, or an unusable ``out`` (checked before the work; the directory is written as
        a whole, :mod:`emac_sim.outdir`).
    """
    from ..outdir import check_output_dir, staged_output

    od = check_output_dir(out, "report")
    with staged_output(od, "report") as stage:
        res = _write_report(stage.path, spec, out, samples, sweep_samples, seed, correlation, confidence, slo_paths, command)
        return ReportResult(Path(out), stage.final(res.markdown), stage.final(res.html), [stage.final(f) for f in res.figures], res.summary)


def _write_report(
    out_dir: Path,
    spec: str | os.PathLike,
    out: str | os.PathLike,
    samples: int,
    sweep_samples: int,
    seed: int | None,
    correlation: str,
    confidence: float,
    slo_paths: Iterable[str | os.PathLike],
    command: str | None,
) -> ReportResult:
    """Compute everything and write it into ``out_dir`` (the staged directory)."""
    from .. import analytic
    from . import reportfigs as figs

    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    use_seed, _ = resolve_seed(seed)
    doc = SpecDocument.load(spec, slo_paths)
    j0 = doc.journey()
    cap = _capacity(j0)
    j = cap.journey
    bounds = analytic.bounds(j, confidence=confidence)
    sim = _simulate(j, samples, use_seed, correlation, confidence, bounds.availability.pessimistic_set)
    b, s = bounds.to_dict(), sim.to_dict()  # rendered as report.md / report.html / report.json
    kw = dict(samples=sweep_samples, seed=use_seed, correlation=correlation, confidence=confidence)

    figures: list[Path] = []
    captions: list[tuple[str, str, str]] = []  # (stem, title, caption)

    # 1. latency CCDF
    ccdf: dict[str, Any] = {"modelled": bool(j.latency_modelled)}
    if j.latency_modelled:
        deepest = min(4.5, max(3.0, math.log10(max(samples, 10)) - 0.5))  # as deep as the Monte Carlo tail reaches
        qs = np.concatenate([np.linspace(0.02, 0.45, 12), 1.0 - np.logspace(-0.3, -deepest, 60)])
        ccdf["qs"] = qs
        ccdf["independent"] = _analytic_curve(j, "independent", qs)
        ccdf["comonotone"] = _analytic_curve(j, "comonotone", qs)
        ccdf["bands"] = {k: b["latency"][k] for k in LATENCY_KEYS if b.get("latency") and k in b["latency"]}
        ccdf["mc"] = mc_ccdf(sim.counts.hist_ok, confidence)
        figures += figs.fig_ccdf(ccdf, j, s, fig_dir)
        captions.append(("latency_ccdf", "Journey latency CCDF",
                         f"P(T > t) of successful journeys on log axes. Monte Carlo ({correlation}, {s['samples']:,} samples) with a pointwise "
                         f"{confidence:.0%} Wilson band; analytic independent and comonotone curves; dependence-free band at p50/p90/p99/p99.9."))
    # 2. availability intervals
    figures += figs.fig_availability(b, s, j, fig_dir)
    captions.append(("availability_intervals", "Availability intervals",
                     "Dependence-free bounds contain the shared-fate range, which contains the Monte Carlo estimate (with its interval); "
                     "the objective is the red line."))
    # 3. tail attribution + Birnbaum importance
    birn = analytic.birnbaum_importance(j)
    figures += figs.fig_attribution(s, birn, fig_dir)
    captions.append(("tail_attribution", "Tail attribution and importance",
                     "Left: share of journeys above the journey p99 whose slowest critical-path call was each component (Monte Carlo). "
                     "Right: Birnbaum importance ∂A/∂aᵢ (analytic, independent)."))
    # 4. fan-out
    fan = _fanout_component_study(j, use_seed, sweep_samples, confidence) if j.latency_modelled else {}
    if fan:
        figures += figs.fig_fanout(fan, s, fig_dir)
        captions.append(("fanout_amplification", "Tail amplification against fan-out width",
                         "A request waiting for n parallel calls to one component: share of requests with at least one call above the "
                         "component's p99 (theory 1 − 0.99ⁿ) and p99(max of n) / p99(one call) = F⁻¹(0.99^{1/n}) / F⁻¹(0.99)."))
    # 5. trade-offs
    attribution = {k: v for k, v in (s.get("tailAttribution") or {}).items()}
    hedges = _hedge_studies(doc, j, **kw) if j.latency_modelled else []
    retries = _timeout_studies(doc, j, attribution, **kw) if j.latency_modelled else []
    if hedges or retries:
        figures += figs.fig_tradeoffs(hedges, retries, j, fig_dir)
        captions.append(("tradeoffs", "Hedge-delay and timeout trade-offs",
                         "Journey p99 against extra calls per journey (relative to no hedging / no retry). Lines: analytic (independent); "
                         "points: Monte Carlo with interval; labels give the hedge delay or per-try timeout."))

    summary = _summary(j, b, s, cap, hedges, retries, fan, use_seed, samples, sweep_samples, correlation, confidence)
    provenance = {
        "tool": tool_name(),
        "python": sys.version.split()[0],
        "platform": platform.platform(terse=True),
        "command": command or f"emac report {spec} --out {out}",
        "seed": use_seed,
        "samples": samples,
        "sweepSamples": sweep_samples,
        "blockSize": CRN_BLOCK_SIZE,
        "inputs": input_records(j0.inputs),
        "libraries": dict(library_versions(REPORT_LIBRARIES, missing=None)),
    }
    summary["provenance"] = provenance
    blocks = _blocks(j, b, s, cap, summary, captions, hedges, retries)
    md = out_dir / "report.md"
    md.write_text(_markdown(blocks))
    htm = out_dir / "report.html"
    htm.write_text(_html(blocks, fig_dir, j.name))
    # every number behind the report, machine-readable (inf/NaN as null)
    (out_dir / "report.json").write_text(dumps(summary, indent=1) + "\n")
    return ReportResult(out_dir, md, htm, figures, summary)


def _summary(j: Journey, b: dict, s: dict, cap: CapacityResult, hedges: list, retries: list, fan: dict, seed: int, samples: int,
             sweep_samples: int, correlation: str, confidence: float) -> dict:
    return {
        "journey": j.name,
        "expression": j.expression,
        "seed": seed,
        "samples": samples,
        "correlation": correlation,
        "confidence": confidence,
        "bounds": b,
        "simulation": s,
        "capacity": cap.to_dict() if cap.queues else None,
        "fanout": fan,
        "hedge": hedges,
        "retry": retries,
    }


# --------------------------------------------------------------------------- documents

Block = tuple[str, Any]


def _p(v: Any, digits: int = 6) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}f}"


def _ms(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if math.isinf(v):
        return "∞"
    return f"{v * 1e3:.1f} ms"


def _blocks(j: Journey, b: dict, s: dict, cap: CapacityResult, summary: dict, captions: list, hedges: list, retries: list) -> list[Block]:
    av = b["availability"]
    ao, lo = j.availability_objective, j.latency_objective
    est, ci = s["availability"]["estimate"], s["availability"]["ci"]
    out: list[Block] = [("h1", f"Tail-amplification report: {j.name}")]
    out.append(("p", f"Journey `{j.expression}` from `{j.source}`."))
    objs = []
    if ao:
        objs.append(f"availability ≥ {ao.target:g}")
    if lo:
        objs.append(f"{lo.metric} ≤ {lo.threshold * 1e3:g} ms")
    verdict = []
    if ao:
        a_minus = av.get("pessimistic")
        verdict.append(
            f"A⁻ = {_p(a_minus)} {'meets' if a_minus is not None and a_minus >= ao.target else 'misses'} the availability objective; "
            f"the Monte Carlo estimate ({s['correlation']}) is {_p(est)} [{_p(ci[0])}, {_p(ci[1])}]."
        )
    lat = b.get("latency")
    if lo and lat and lo.metric in lat:
        up = lat[lo.metric]["upper"]
        mc = ((s.get("latency") or {}).get(lo.metric) or {}).get("estimate")
        verdict.append(
            f"{lo.metric}: independent {_ms(lat[lo.metric]['independent'])}, dependence-free upper bound {_ms(up)} "
            f"({'within' if up is not None and up <= lo.threshold else 'beyond'} the {lo.threshold * 1e3:g} ms objective); "
            f"Monte Carlo {_ms(mc)}."
        )
    out.append(("p", f"Objectives: {', '.join(objs) if objs else 'none declared'}. " + " ".join(verdict)))
    if s.get("tailAmplification") is not None:
        out.append(("p", f"Tail amplification (journey p99 / largest component p99): {s['tailAmplification']:.2f}×."))

    out.append(("h2", "Availability"))
    rows = [
        ["independent (A⁺)", _p(av.get("independent"))],
        ["declared correlation", _p(av.get("declared"))],
        ["pessimistic shared fate (A⁻)", _p(av.get("pessimistic"))],
        ["shared-fate range", f"[{_p(av['sharedFateRange'][0])}, {_p(av['sharedFateRange'][1])}]"],
        ["dependence-free", f"[{_p(av['dependenceFree'][0])}, {_p(av['dependenceFree'][1])}]"],
        [f"Monte Carlo ({s['correlation']}, {s['samples']:,} samples)", f"{_p(est)} [{_p(ci[0])}, {_p(ci[1])}]"],
    ]
    if ao:
        rows.append(["objective", f"{ao.target:g}"])
    out.append(("table", (["quantity", "value"], rows)))
    if lat:
        out.append(("h2", "Latency of successful journeys"))
        rows = []
        for k in LATENCY_KEYS:
            if k not in lat:
                continue
            m = ((s.get("latency") or {}).get(k)) or {}
            mci = m.get("ci") or [None, None]
            rows.append([k, _ms(lat[k]["independent"]), _ms(lat[k]["comonotone"]), f"[{_ms(lat[k]['lower'])}, {_ms(lat[k]['upper'])}]",
                         f"{_ms(m.get('estimate'))} [{_ms(mci[0])}, {_ms(mci[1])}]"])
        out.append(("table", (["quantile", "independent", "comonotone", "dependence-free", f"Monte Carlo ({s['correlation']})"], rows)))
    if cap.queues:
        out.append(("h2", "Capacity"))
        out.append(("p", f"At {cap.rate:g} requests/s the load/latency fixed point took {cap.iterations} iteration(s)"
                         f" ({'converged' if cap.converged else 'not converged'}). Latency of these components = queue wait + service time."))
        rows = [[cid, f"{q.arrival_rate:.3g}", str(q.servers), f"{q.utilisation:.3f}", f"{q.wait_probability:.3f}",
                 _ms(q.mean_wait), q.model] for cid, q in cap.queues.items()]
        out.append(("table", (["component", "calls/s", "replicas", "utilisation", "P(wait)", "mean wait", "model"], rows)))
        for n in cap.notes:
            out.append(("p", f"Note: {n}"))
    out.append(("h2", "Figures"))
    for stem, title, caption in captions:
        out.append(("figure", (stem, title, caption)))
    fan = summary.get("fanout") or {}
    at100 = {cid: m for cid, f in fan.items() for m in f["mc"] if m["width"] == 100 and m.get("slow") is not None}
    if at100:
        shares = ", ".join(f"{cid} {m['slow']:.1%}" for cid, m in at100.items())
        out.append(("p", f"Fan-out: a request waiting for 100 parallel calls hits at least one call above that component's p99 "
                         f"with probability 1 − 0.99¹⁰⁰ = {1 - 0.99**100:.1%}; Monte Carlo per component: {shares}."))
    for st in hedges + retries:
        best = _best_point(st, lo.threshold if lo else None)
        if best:
            out.append(("p", best))
    notes = list(s.get("notes") or [])
    if notes:
        out.append(("h2", "Notes"))
        out.append(("list", notes))
    prov = summary["provenance"]
    out.append(("h2", "Provenance"))
    rows = [["tool", prov["tool"]], ["command", f"`{prov['command']}`"], ["seed", str(prov["seed"])],
            ["samples", f"{prov['samples']:,} (sweeps: {prov['sweepSamples']:,} per point, block size {prov['blockSize']})"],
            ["python", prov["python"]], ["libraries", ", ".join(f"{k} {v}" for k, v in prov["libraries"].items())]]
    rows += [[f"input {i['file']}", f"sha256 {i['sha256']}"] for i in prov["inputs"]]
    out.append(("table", (["", ""], rows)))
    return out


def _best_point(st: dict, threshold: float | None) -> str | None:
    pts = [p for p in st["points"] if p.get("p99") is not None]
    if not pts:
        return None
    what = "hedge delay" if st["kind"] == "hedge" else "per-try timeout"
    text = f"{st['label'][0].upper()}{st['label'][1:]}: "
    if threshold is not None:
        ok = [p for p in pts if p["p99"] <= threshold]
        if ok:
            p = min(ok, key=lambda p: p["extraLoad"])
            return text + (f"the cheapest {what} meeting p99 ≤ {threshold * 1e3:g} ms (analytic, independent) is "
                           f"{p['value'] * 1e3:g} ms: p99 {_ms(p['p99'])} at {p['extraLoad']:+.1%} calls.")
        p = min(pts, key=lambda p: p["p99"])
        return text + f"no swept {what} meets p99 ≤ {threshold * 1e3:g} ms; the lowest p99 is {_ms(p['p99'])} at {p['value'] * 1e3:g} ms."
    p = min(pts, key=lambda p: p["p99"])
    return text + f"lowest p99 {_ms(p['p99'])} at {what} {p['value'] * 1e3:g} ms ({p['extraLoad']:+.1%} calls)."


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|")


def _inline(text: str) -> Markup:
    """Escape (as :func:`html.escape`), then render `code` spans."""
    parts = html.escape(text).split("`")
    return Markup("".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)))


@functools.cache
def _templates() -> jinja2.Environment:
    """The report's templates (package data under ``templates/``); HTML ones autoescape."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("emac_sim.studies", "templates"),
        autoescape=lambda name: name is not None and name.endswith(".html.j2"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(cell=_md_cell, inline=_inline, text=lambda t: Markup(html.escape(str(t))))
    return env


def _markdown(blocks: list[Block]) -> str:
    return _templates().get_template("report.md.j2").render(blocks=blocks)


def _html(blocks: list[Block], fig_dir: Path, name: str) -> str:
    svg = {v[0]: base64.b64encode((fig_dir / f"{v[0]}.svg").read_bytes()).decode("ascii") for kind, v in blocks if kind == "figure"}
    return _templates().get_template("report.html.j2").render(blocks=blocks, svg=svg, name=name)


__all__ = ["ReportResult", "mc_ccdf", "report"]
