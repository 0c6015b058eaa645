"""``emac whatif``: what-if sweeps, find-max and fan-out studies from the command line or a study file.

Kept out of ``cli.py`` so that the CLI stays a thin typer layer: here the options are resolved
(study file vs command line), the study runs (:mod:`emac_sim.studies`), its tables and plots are
written as a whole into the output folder, and the result is printed as a table or as one JSON
object.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.jsonio import dumps, print_json
from ..core.seeds import DEFAULT_SEED
from ..errors import SpecError
from ..model.scenario import SCENARIO_NAMES
from ..outdir import check_output_dir, safe_name, staged_output
from ..studies import plots
from ..studies.constraints import parse_constraint
from ..studies.document import SpecDocument
from ..studies.fanout import FanOutResult, fanout_study
from ..studies.grid import Vary, parse_vary
from ..studies.studyfile import FanOutStudy, WhatIfStudy, load_study
from ..studies.whatif import USING, WhatIfResult, find_max, whatif
from .evidence import summary_line

if TYPE_CHECKING:
    from ..evidence.report import EvidenceReport
    from .evidence import EvidenceRequest

DEFAULT_SAMPLES = 20_000
DEFAULT_OUT = Path("whatif-out")  # tables and plots go to whatif-out/<name> without --out (never inside compile's out/)


def _write_study(
    result: WhatIfResult | FanOutResult, out: str | os.PathLike, stem: str, plot: Callable[[Path], list[Path]] | None
) -> dict[str, list[str]]:
    """Write ``<stem>.parquet``, ``<stem>.csv``, ``<stem>.json`` and the plots (PNG + SVG).

    ``out`` is written as a whole (:func:`emac_sim.outdir.staged_output`): a new, empty or
    previous emac-sim output directory. Returns the written paths by kind.
    """
    files: dict[str, list[str]] = {}
    with staged_output(out, "whatif") as stage:
        d = stage.path
        pq, csv, js = d / f"{stem}.parquet", d / f"{stem}.csv", d / f"{stem}.json"
        result.frame.write_parquet(pq)
        result.frame.write_csv(csv)
        js.write_text(dumps(result.to_dict()) + "\n")
        files["table"] = [str(stage.final(p)) for p in (pq, csv, js)]
        if plot is not None:
            files["plots"] = [str(stage.final(p)) for p in plot(d)]
    return files


def write_sweep(result: WhatIfResult, out: str | os.PathLike, stem: str = "whatif") -> dict[str, list[str]]:
    """The sweep's table and its plots (when it has points), written as a whole into ``out``."""
    plot = (lambda d: plots.plot_sweep(result, d, stem)) if result.varies and len(result.frame) else None
    return _write_study(result, out, stem, plot)


def write_fanout(result: FanOutResult, out: str | os.PathLike, stem: str = "fanout") -> dict[str, list[str]]:
    """The fan-out study's table and plots, written as a whole into ``out``."""
    return _write_study(result, out, stem, lambda d: plots.plot_fanout(result, d, stem))


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
    evidence: EvidenceRequest | None = None,
) -> int:
    """Run ``emac whatif``; return the exit code (1 when a find-max finds no feasible value).

    With ``evidence`` (:class:`emac_sim.pipeline.evidence.EvidenceRequest`) the spec's telemetry
    is read first; in ``observed`` mode the sweep starts from the observed values (``--vary``
    applies on top), and the evidence is printed with the result."""
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
        files = write_fanout(fr, fan_out)
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
    if corr not in SCENARIO_NAMES:
        raise SpecError("--correlation", "", f"must be one of {', '.join(SCENARIO_NAMES)}, got {corr!r}")
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
        result.notes.append(summary_line(ev_report, evidence.mode))
        result.inputs = (*result.inputs, ev_report.provenance_input())
    if result is not None:
        files = write_sweep(result, out_dir)
    if as_json:
        obj: dict[str, Any] = result.to_dict() if result is not None else {"spec": shown}
        if fm is not None:
            obj["findMax"] = fm.to_dict()
        obj["files"] = files
        if ev_report is not None:
            obj["evidence"] = ev_report.to_dict(evidence.mode)
        print_json(obj)
    else:
        if result is not None:
            print_sweep(result)
        if fm is not None:
            print(fm.message if fm.maximum is not None else f"find-max: {fm.message}")
        if ev_report is not None and result is None:
            print(summary_line(ev_report, evidence.mode))
        _print_files(files)
    return 1 if fm is not None and fm.maximum is None else 0


def _with_evidence(spec: Path, slo_paths: list[Path], evidence: EvidenceRequest) -> tuple[SpecDocument, EvidenceReport]:
    """The spec as a document (observed values written in for ``observed``) and its evidence."""
    from ..evidence.overlay import observed_document

    doc = SpecDocument.load(spec, slo_paths)
    report = evidence.collect(doc.journey())
    if evidence.mode == "observed":
        doc = dataclasses.replace(doc, doc=observed_document(doc.doc, report))
    return doc, report


def _print_files(files: dict[str, list[str]]) -> None:
    for kind, paths in files.items():
        for p in paths:
            print(f"wrote {kind}: {p}")
