"""Glue between the ``emac whatif`` / ``emac report`` commands and the study functions.

Kept out of ``cli.py`` so that the CLI stays a thin typer layer: here the options are resolved
(study file vs command line), the study runs, and the result is printed as a table or as one
JSON object.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..outdir import check_output_dir, safe_name
from .constraints import parse_constraint
from .fanout import FanOutResult, fanout_study
from .grid import Vary, parse_vary
from .studyfile import FanOutStudy, WhatIfStudy, load_study
from .whatif import USING, WhatIfResult, _json_safe, find_max, whatif

DEFAULT_SAMPLES = 20_000
DEFAULT_SEED = 0
DEFAULT_OUT = Path("whatif-out")  # tables and plots go to whatif-out/<name> without --out (never inside compile's out/)
SCENARIOS = ("declared", "independent", "shared", "pessimistic")


def _console() -> Any:
    """A console at least 160 columns wide: the study tables stay one line per row."""
    from rich.console import Console

    con = Console(markup=False)  # paths, names and values are user text, never console markup
    return Console(width=160, markup=False) if con.width < 160 else con


def _fmt_p(v: Any) -> str:
    return "–" if v is None else f"{v:.5f}"


def _fmt_s(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and math.isinf(v):
        return "∞"
    return f"{v * 1e3:.1f}ms"


def _fmt_val(v: Any) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def _short_name(path: str, taken: set[str]) -> str:
    """Column header for a varied path: its last segment, or more when that is ambiguous."""
    parts = path.split(".")
    for k in range(1, len(parts) + 1):
        name = ".".join(parts[-k:])
        if name not in taken:
            taken.add(name)
            return name
    return path


def print_sweep(res: WhatIfResult) -> None:
    """Rich table: one line per point (full columns are in the CSV / Parquet / JSON)."""
    from rich.table import Table

    con = _console()
    f = res.frame
    metric = next((m for m in f["objective_latency_metric"].to_list() if m), None) or "p99"
    metric = metric if f"{metric}_independent" in f.columns else "p99"
    t = Table(title=f"what-if: {res.spec} (seed {res.seed}, {res.samples} samples/point, {res.correlation})")
    taken: set[str] = set()
    names = [_short_name(v.path.text, taken) for v in res.varies]
    for n in names:
        t.add_column(n, no_wrap=True)
    cols = ("A⁺ indep", "A declared", "A⁻ pessim", "A Monte Carlo", "95% CI" if res.confidence == 0.95 else f"{res.confidence:.0%} CI",
            f"{metric} indep", f"{metric} upper", f"{metric} MC", f"{metric} MC CI")
    for c in cols:
        t.add_column(c, no_wrap=True, justify="right")
    has_cap = "max_utilisation" in f.columns and f["max_utilisation"].null_count() < len(f)
    if has_cap:
        t.add_column("max util", no_wrap=True, justify="right")
    for r in f.iter_rows(named=True):
        cells = [_fmt_val(r[v.path.text]) for v in res.varies]
        cells += [_fmt_p(r[k]) for k in ("availability_independent", "availability_declared", "availability_pessimistic", "mc_availability")]
        cells.append("–" if r["mc_availability"] is None else f"{_fmt_p(r['mc_availability_lo'])}–{_fmt_p(r['mc_availability_hi'])}")
        cells += [_fmt_s(r[f"{metric}_independent"]), _fmt_s(r[f"{metric}_upper"]), _fmt_s(r[f"mc_{metric}"])]
        m = r[f"mc_{metric}"]
        cells.append("–" if m is None or math.isinf(m) else f"{_fmt_s(r[f'mc_{metric}_lo'])}–{_fmt_s(r[f'mc_{metric}_hi'])}")
        if has_cap:
            u = r["max_utilisation"]
            cells.append("SATURATED" if r["saturated"] else ("–" if u is None else f"{u:.2f}"))
        t.add_row(*cells)
    con.print(t)
    for n, v in zip(names, res.varies):
        if n != v.path.text:
            con.print(f"{n} = {v.path.text}")
    for n in res.notes:
        con.print(f"note: {n}")


def print_fanout(res: FanOutResult) -> None:
    from rich.table import Table

    con = _console()
    t = Table(title=f"fan-out: each call slow with p = {res.slow_probability:g} (slow = > {res.threshold * 1e3:g} ms), seed {res.seed}")
    for col in ("width n", "slow: theory 1-(1-p)^n", "analytic", "Monte Carlo [CI]", "p50 analytic", "p50 MC", "p99 analytic", "p99 MC"):
        t.add_column(col)
    for r in res.frame.iter_rows(named=True):
        mc = r["slow_mc"]
        t.add_row(
            str(r["width"]),
            f"{r['slow_theory']:.4f}",
            "–" if r["slow_analytic"] is None else f"{r['slow_analytic']:.4f}",
            "–" if mc is None else f"{mc:.4f} [{r['slow_mc_lo']:.4f}, {r['slow_mc_hi']:.4f}]",
            _fmt_s(r["p50_analytic"]),
            _fmt_s(r["p50_mc"]),
            _fmt_s(r["p99_analytic"]),
            _fmt_s(r["p99_mc"]),
        )
    con.print(t)


def whatif_command(
    spec: Path | None,
    vary: list[str],
    study: Path | None,
    samples: int | None,
    seed: int | None,
    correlation: str | None,
    confidence: float,
    out: Path | None,
    find_max_path: str | None,
    subject_to: list[str],
    using: str,
    tolerance: float,
    slo_paths: list[Path],
    as_json: bool,
    analytic: bool = True,
    evidence: Any = None,
) -> int:
    """Run ``emac whatif``; return the exit code (1 when a find-max finds no feasible value).

    With ``evidence`` (:class:`emac_sim.evidence.EvidenceRequest`) the spec's telemetry is read
    first; in ``observed`` mode the sweep starts from the observed values (``--vary`` applies on
    top), and the evidence is printed with the result."""
    from ..cli import print_json

    if not 0.0 < confidence < 1.0:
        raise SpecError("--confidence", "", f"must be in (0, 1), got {confidence}")
    varies: list[Vary] = [parse_vary(v) for v in vary]
    fm_path, fm_cons, fm_using, fm_tol = find_max_path, [parse_constraint(c) for c in subject_to], using, tolerance
    st: WhatIfStudy | FanOutStudy | None = load_study(study) if study is not None else None
    if isinstance(st, FanOutStudy):
        if spec is not None or varies or find_max_path:
            raise SpecError(str(study), "", "a FanOutStudy takes no SPEC, --vary or --find-max")
        fan_out = out if out is not None else DEFAULT_OUT / safe_name(st.name)
        check_output_dir(fan_out, "whatif")
        fr = fanout_study(
            st.widths,
            slow_probability=st.slow_probability,
            fast=st.fast,
            slow=st.slow,
            threshold=st.threshold,
            samples=samples if samples is not None else (st.samples if st.samples is not None else DEFAULT_SAMPLES),
            seed=seed if seed is not None else (st.seed if st.seed is not None else DEFAULT_SEED),
            confidence=st.confidence or confidence,
        )
        files = fr.write(fan_out)
        if as_json:
            print_json({**fr.to_dict(), "files": files})
        else:
            print_fanout(fr)
            _print_files(files)
        return 0
    if st is not None:
        if spec is not None:
            raise SpecError(str(study), "", "give either SPEC or --study (the study names its journey)")
        spec = st.journey
        varies = [*st.varies, *varies]
        samples = samples if samples is not None else st.samples
        seed = seed if seed is not None else st.seed
        correlation = correlation or st.correlation
        confidence = st.confidence or confidence
        if st.find_max is not None and find_max_path is None:
            fm_path, fm_cons, fm_using, fm_tol = st.find_max.path, list(st.find_max.constraints), st.find_max.using, st.find_max.tolerance
    if spec is None:
        raise SpecError("emac whatif", "", "give a SPEC (or --study FILE)")
    if not varies and fm_path is None:
        raise SpecError("emac whatif", "", "nothing to do: give --vary PATH=VALUES, --find-max PATH or --study FILE")
    if fm_path is None and subject_to:
        raise SpecError("--subject-to", "", "only applies with --find-max PATH")
    if fm_using not in USING:
        raise SpecError("--using", "", f"must be one of {', '.join(USING)}, got {fm_using!r}")
    corr = correlation or "declared"
    if corr not in SCENARIOS:
        raise SpecError("--correlation", "", f"must be one of {', '.join(SCENARIOS)}, got {corr!r}")
    n = samples if samples is not None else DEFAULT_SAMPLES
    seed = seed if seed is not None else DEFAULT_SEED  # the CLI's one seed policy: 0 unless given
    name = st.name if st is not None else Path(spec).stem
    out_dir = out if out is not None else DEFAULT_OUT / safe_name(name)
    if varies:
        check_output_dir(out_dir, "whatif")  # before the sweep (and before asking for evidence), not after it
    shown = str(spec)
    ev_report = None
    if evidence is not None:
        spec, ev_report = _with_evidence(Path(spec), slo_paths, evidence)
    result: WhatIfResult | None = None
    files: dict[str, list[str]] = {}
    if varies:
        result = whatif(spec, varies, samples=n, seed=seed, correlation=corr, confidence=confidence, slo_paths=slo_paths, analytic=analytic)
        seed = result.seed
    fm = None
    if fm_path is not None:
        fm = find_max(
            spec, fm_path, fm_cons, using=fm_using, tolerance=fm_tol, samples=n, seed=seed, correlation=corr, confidence=confidence,
            slo_paths=slo_paths,
        )
        if result is not None:
            result.find_max = fm
    if result is not None and ev_report is not None:
        from ..evidence.commands import summary_line

        result.notes.append(summary_line(ev_report, evidence.mode))
        result.inputs = (*result.inputs, ev_report.provenance_input())
    if result is not None:
        files = result.write(out_dir)
    if as_json:
        obj: dict[str, Any] = result.to_dict() if result is not None else {"spec": shown}
        if fm is not None:
            obj["findMax"] = fm.to_dict()
        obj["files"] = files
        if ev_report is not None:
            obj["evidence"] = ev_report.to_dict(evidence.mode)
        print_json(_json_safe(obj))
    else:
        if result is not None:
            print_sweep(result)
        if fm is not None:
            print(fm.message if fm.maximum is not None else f"find-max: {fm.message}")
        if ev_report is not None and result is None:
            from ..evidence.commands import summary_line

            print(summary_line(ev_report, evidence.mode))
        _print_files(files)
    return 1 if fm is not None and fm.maximum is None else 0


def _with_evidence(spec: Path, slo_paths: list[Path], evidence: Any) -> tuple[Any, Any]:
    """The spec as a document (observed values written in for ``observed``) and its evidence."""
    from ..evidence.overlay import observed_document
    from .document import SpecDocument

    doc = SpecDocument.load(spec, slo_paths)
    report = evidence.collect(doc.journey())
    if evidence.mode == "observed":
        doc = dataclasses.replace(doc, doc=observed_document(doc.doc, report))
    return doc, report


def _print_files(files: dict[str, list[str]]) -> None:
    for kind, paths in files.items():
        for p in paths:
            print(f"wrote {kind}: {p}")


def report_command(
    spec: Path,
    out: Path,
    samples: int,
    sweep_samples: int,
    seed: int | None,
    correlation: str,
    confidence: float,
    slo_paths: list[Path],
    as_json: bool,
) -> int:
    """Run ``emac report``; print where the report went (or its summary as JSON)."""
    import shlex
    import sys

    from ..cli import print_json
    from .report import report

    if correlation not in SCENARIOS:
        raise SpecError("--correlation", "", f"must be one of {', '.join(SCENARIOS)}, got {correlation!r}")
    if samples < 1:
        raise SpecError("--samples", "", f"must be >= 1, got {samples}")
    if sweep_samples < 0:
        raise SpecError("--sweep-samples", "", f"must be >= 0, got {sweep_samples}")
    if not 0.0 < confidence < 1.0:
        raise SpecError("--confidence", "", f"must be in (0, 1), got {confidence}")
    argv = sys.argv[1:] if sys.argv and Path(sys.argv[0]).name in ("emac", "emac.exe") else ["report", str(spec), "--out", str(out)]
    command = "emac " + " ".join(shlex.quote(a) for a in argv)
    res = report(spec, out, samples=samples, sweep_samples=sweep_samples, seed=seed, correlation=correlation, confidence=confidence,
                 slo_paths=slo_paths, command=command)
    if as_json:
        d = res.to_dict()
        print_json({k: v for k, v in d.items() if k != "summary"} | {"seed": res.summary["seed"]})
    else:
        print(f"wrote {res.markdown}")
        print(f"wrote {res.html}")
        for f in res.figures:
            print(f"wrote figure: {f}")
    return 0
