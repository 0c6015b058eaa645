"""The ``emac`` command line: a thin typer layer over the public API (DESIGN §9).

Exit codes: 0 ok; 1 a check or gate fell short; 2 bad input (one line ``FILE: PATH: what``).
``--format json`` prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import typer

from .errors import SpecError, SpecWarning

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Emergence-as-Code: journey reliability you can compute.")


@app.callback()
def _root() -> None:
    """Emergence-as-Code: journey reliability you can compute."""


class Format(str, Enum):
    text = "text"
    json = "json"


SloPath = typer.Option(None, "--slo-path", help="Directory (or file) with OpenSLO / Sloth SLO documents; repeatable.")
WorkersOpt = typer.Option(None, "--workers", help="Threads, or dask-local processes (default: the CPUs); results do not depend on it.")
FormatOpt = typer.Option(Format.text, "--format", help="text (tables) or json (one object on stdout).")


def fail_input(err: SpecError) -> None:
    """Bad input: one line on stderr, exit code 2, no traceback."""
    typer.echo(err.line(), err=True)
    raise typer.Exit(2)


def _warn_line(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    typer.echo(f"warning: {message}", err=True)


def run_guarded(fn: Callable[[], int | None]) -> None:
    """Run a command body; SpecError → exit 2; return value → exit code.

    Input warnings (:class:`~emac_sim.errors.SpecWarning`) print as one line each; library
    warnings (numpy's RuntimeWarning and the like) are not the user's to act on and stay quiet."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("always", SpecWarning)
            warnings.showwarning = _warn_line
            code = fn()
    except SpecError as err:
        fail_input(err)
        return
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    if code:
        raise typer.Exit(code)


def print_json(obj: Any) -> None:
    """One JSON object on stdout (NaN/inf rendered as null)."""
    typer.echo(json.dumps(_json_safe(obj), indent=2, sort_keys=False))


def _json_safe(o: Any) -> Any:
    if isinstance(o, float):
        return o if o == o and o not in (float("inf"), float("-inf")) else None
    if isinstance(o, dict):
        return {str(k): _json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_json_safe(v) for v in o]
    if hasattr(o, "item") and callable(o.item):  # numpy scalars
        return _json_safe(o.item())
    return o


def check_run_options(seed: int | None, workers: int | None) -> None:
    """Refuse a negative ``--seed`` or a ``--workers`` below 1 (one line, exit 2)."""
    if seed is not None and seed < 0:
        raise SpecError("<command line>", "--seed", f"must be a non-negative integer, got {seed}")
    if workers is not None and workers < 1:
        raise SpecError("<command line>", "--workers", f"must be at least 1, got {workers}")


def load(spec: Path, slo_path: list[Path] | None) -> Any:
    from .spec import load_spec

    return load_spec(spec, slo_paths=slo_path or ())


# --------------------------------------------------------------------------- check


@app.command()
def check(spec: Path = typer.Argument(..., help="EmaC spec (JourneyIntent YAML)."), slo_path: list[Path] = SloPath, fmt: Format = FormatOpt) -> None:
    """Validate a spec and print the journey, components, domains and objectives."""

    def body() -> int:
        from .model.summary import summarize

        j = load(spec, slo_path)
        s = summarize(j)
        if fmt is Format.json:
            print_json(s)
            return 0
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        con = Console()
        con.print(f"[bold]{escape(j.name)}[/bold] ({j.kind}) from {escape(str(spec))}", soft_wrap=True)
        con.print(f"journey: {escape(s['expression'])}", soft_wrap=True)
        t = Table(title="components")
        for col in ("id", "availability", "source", "latency", "failure domains"):
            t.add_column(col, overflow="fold")
        for cid, c in s["components"].items():
            lat = j.component(cid).latency
            t.add_row(
                escape(cid),
                f"{c['availability']:.10g}",
                escape(c["source"].split(" (", 1)[0]),  # the file is listed below the table
                lat.describe() if lat else "not modelled",
                escape(", ".join(c["failureDomains"])),
            )
        con.print(t)
        slo_files = [f for f, _ in j.inputs[1:]]
        if slo_files:
            con.print("atomic SLOs read from:")
            for f in slo_files:
                con.print(f"  {escape(f)}", soft_wrap=True, highlight=False)
        if s["domains"]:
            t = Table(title="failure domains")
            for col in ("domain", "members", "correlation"):
                t.add_column(col, overflow="fold")
            for name, d in s["domains"].items():
                if d["model"] == "none":
                    corr = "shared-fate hypothesis (no magnitude)"
                elif d["model"] == "gaussian":
                    corr = f"gaussian rho={d['rho']:g} latencyRho={d['latencyRho']:g}"
                else:
                    corr = f"shock q={d['probability']:.3g}" + (f" (beta={d['beta']:g})" if "beta" in d else "")
                t.add_row(escape(name), escape(", ".join(d["members"])), corr)
            con.print(t)
        if s["correlationMatrix"]:
            con.print(f"explicit correlation matrix over: {escape(', '.join(s['correlationMatrix']))}", soft_wrap=True)
        o = s["objectives"]
        if "availability" in o:
            con.print(f"objective: availability >= {o['availability']['target']:g} over {o['availability']['windowSeconds'] / 86400:g}d")
        if "latency" in o:
            con.print(f"objective: {o['latency']['metric']} <= {o['latency']['thresholdSeconds']:g}s")
        if not o:
            con.print("objectives: none declared")
        return 0

    run_guarded(body)


# --------------------------------------------------------------------------- bounds
# (section owned by the bounds command; keep edits inside it)


def _fmt_seconds(v: float | None) -> str:
    if v is None or v != v:
        return "n/a"
    if v == float("inf"):
        return "beyond grid"
    return f"{v * 1e3:.1f} ms" if v < 1 else f"{v:.3f} s"


@app.command("bounds")
def bounds_cmd(
    spec: Path = typer.Argument(..., help="EmaC spec (JourneyIntent YAML)."),
    slo_path: list[Path] = SloPath,
    fmt: Format = FormatOpt,
    grid_points: int | None = typer.Option(None, "--grid-points", help="Points of the latency grid (default 4096, at most 65536)."),
    confidence: float = typer.Option(0.95, "--confidence", help="Confidence of the DKW band around histogram leaves."),
) -> None:
    """Exact availability and latency bounds: independent, declared, shared-fate range, dependence-free."""

    def body() -> int:
        from .analytic.grid import MAX_GRID_POINTS

        if grid_points is not None and not 16 <= grid_points <= MAX_GRID_POINTS:
            raise SpecError("<command line>", "--grid-points", f"must be between 16 and {MAX_GRID_POINTS}, got {grid_points}")
        if not 0 < confidence < 1:
            raise SpecError("<command line>", "--confidence", f"must be in (0, 1), got {confidence:g}")
        from .analytic import bounds

        j = load(spec, slo_path)
        b = bounds(j, grid_points=grid_points, confidence=confidence)
        if fmt is Format.json:
            print_json(b)
            return 0
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        con = Console(markup=False)  # ids and names are user text, never console markup
        a = b["availability"]
        con.print(Text.assemble((b["journey"], "bold"), f": {b['expression']}"))

        def num(v: float | None) -> str:
            return "not computable" if v is None else f"{v:.8f}"

        t = Table(title="availability")
        for col in ("bound", "value", "how"):
            t.add_column(col)
        shared = ", ".join(a["pessimisticShared"] or []) or "none"
        t.add_row("independent (A+)", num(a["independent"]), "all calls independent")
        t.add_row("declared", num(a["declared"]), a["declaredMethod"])
        t.add_row("pessimistic (A-)", num(a["pessimistic"]), f"shared: {shared}")
        t.add_row("shared", num(a["shared"]), "every sharable domain fully shared")
        sfr, df = a["sharedFateRange"], a["dependenceFree"]
        t.add_row("shared-fate range", f"[{num(sfr[0])}, {num(sfr[1])}]" if sfr else "not computable", a["pessimisticMethod"])
        t.add_row("dependence-free", f"[{num(df[0])}, {num(df[1])}]", "any dependence (Frechet / Boole)")
        con.print(t)
        lat = b["latency"]
        if lat is None:
            con.print("latency: not modelled")
        else:
            t = Table(title="latency of successful journeys")
            for col in ("quantile", "independent", "comonotone", "lower", "upper"):
                t.add_column(col, justify="right")
            for key in ("p50", "p90", "p99", "p999"):
                row = lat[key]
                t.add_row(key, *(_fmt_seconds(row[c]) for c in ("independent", "comonotone", "lower", "upper")))
            con.print(t)
            extra = f"; DKW band at {lat['dkwConfidence']:g} per histogram leaf" if lat["dkwConfidence"] is not None else ""
            con.print(f"grid step {_fmt_seconds(lat['gridStep'])}, discretisation error <= {_fmt_seconds(lat['discretisationError'])}{extra}")
        for note in a["notes"]:
            con.print(f"note: {note}")
        return 0

    run_guarded(body)



# --------------------------------------------------------------------------- simulate
# (section owned by the simulate command; keep edits inside it)


class Correlation(str, Enum):
    declared = "declared"
    independent = "independent"
    shared = "shared"
    pessimistic = "pessimistic"


def parse_samples(text: str, option: str = "--samples") -> int:
    """``100000``, ``1e5``, ``1_000_000`` or ``2.5e6`` → int; anything else is a SpecError."""
    try:
        value = float(str(text).replace("_", ""))
    except ValueError:
        value = float("nan")
    if not (value >= 1 and value == int(value) and value < 2**63):
        raise SpecError("<command line>", option, f"must be a positive whole number such as 100000 or 1e5, got {text!r}")
    return int(value)


SchedulerOpt = typer.Option(
    "threads",
    "--scheduler",
    help="Where the Monte Carlo runs: threads (default, embedded), dask-local (a local Dask cluster of --workers processes) "
    "or tcp://HOST:PORT (an existing Dask scheduler). Results do not depend on it.",
)


@app.command("simulate")
def simulate_cmd(
    spec: Path = typer.Argument(..., help="EmaC spec (JourneyIntent YAML)."),
    samples: str = typer.Option("1e5", "--samples", "-n", help="Journeys to simulate (1e5 style accepted); the cap with --target-ci."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (non-negative); omitted: drawn, printed and recorded."),
    correlation: Correlation = typer.Option(Correlation.declared, "--correlation", help="Scenario: declared, independent, shared or pessimistic."),
    target_ci: float | None = typer.Option(None, "--target-ci", help="Stop once the availability interval half-width is at most this."),
    workers: int | None = WorkersOpt,
    scheduler: str = SchedulerOpt,
    confidence: float = typer.Option(0.95, "--confidence", help="Coverage of the intervals."),
    traces: Path | None = typer.Option(None, "--traces", help="Also write the simulated requests as OTLP JSON traces to this file."),
    slo_path: list[Path] = SloPath,
    fmt: Format = FormatOpt,
) -> None:
    """Monte Carlo estimate of availability and latency with confidence intervals."""

    def body() -> int:
        n = parse_samples(samples)
        check_run_options(seed, workers)
        if target_ci is not None and not 0 < target_ci < 1:
            raise SpecError("<command line>", "--target-ci", f"must be a half-width in (0, 1), got {target_ci:g}")
        if not 0 < confidence < 1:
            raise SpecError("<command line>", "--confidence", f"must be in (0, 1), got {confidence:g}")
        writer = None
        if traces is not None:
            try:
                from .discover.synth import write_otlp_traces as writer
            except ImportError:
                msg = "trace writing needs emac_sim.discover.synth.write_otlp_traces, which is not available"
                raise SpecError("<command line>", "--traces", msg) from None
        from .engine import simulate
        from .engine.dask_backend import scheduler_session

        j = load(spec, slo_path)
        with scheduler_session(scheduler, workers):
            try:
                res = simulate(
                    j,
                    samples=n,
                    seed=seed,
                    correlation=correlation.value,
                    target_ci=target_ci,
                    workers=workers,
                    progress=fmt is Format.text,
                    confidence=confidence,
                )
            except (ValueError, RuntimeError) as err:
                raise SpecError(str(spec), "", str(err)) from None
        out = res.to_dict()
        if writer is not None:
            out["traces"] = writer(j, traces, n, res.seed, correlation.value)
        if fmt is Format.json:
            print_json(out)
            return 0
        from rich.console import Console

        from .engine.present import print_result

        con = Console(markup=False)  # ids and names are user text, never console markup
        print_result(res, con)
        if writer is not None:
            con.print(f"traces: wrote {n:,} simulated requests to {traces}")
        return 0

    run_guarded(body)


# --------------------------------------------------------------------------- compile
# (section owned by the compile command; keep edits inside it)


@app.command("compile")
def compile_cmd(
    spec: Path = typer.Argument(..., help="The accepted EmaC spec (JourneyIntent YAML)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory for the artifacts (new, empty, or a previous emac-sim output)."),
    samples: str = typer.Option("2e5", "--samples", "-n", help="Monte Carlo samples for the check (1e5 style accepted)."),
    seed: int = typer.Option(0, "--seed", help="Root seed; fixed default 0 so the same inputs give the same bytes (recorded in the report)."),
    correlation: Correlation = typer.Option(Correlation.declared, "--correlation", help="Scenario simulated and checked."),
    candidate: Path = typer.Option(None, "--candidate", help="Candidate model (DiscoveredJourneyModel or JourneyIntent) to judge against SPEC."),
    workers: int | None = WorkersOpt,
    scheduler: str = SchedulerOpt,
    slo_path: list[Path] = SloPath,
    fmt: Format = FormatOpt,
) -> None:
    """Bounds, Monte Carlo, check, budgets, governance decision and artifacts. Exit 0 PASS, 1 FAIL/REVIEW/refused, 2 bad input."""

    def body() -> int:
        n = parse_samples(samples)
        check_run_options(seed, workers)
        from .emit.compile import compile_spec
        from .engine.dask_backend import scheduler_session

        with scheduler_session(scheduler, workers):
            res = compile_spec(
                spec, out, samples=n, seed=seed, correlation=correlation.value, candidate=candidate, slo_paths=slo_path or (), workers=workers
            )
        if fmt is Format.json:
            print_json(res.to_dict())
            return res.exit_code
        _print_compile(res)
        return res.exit_code

    run_guarded(body)


def _print_compile(res: Any) -> None:
    av = res.bounds["availability"]
    j = res.journey
    typer.echo(f"{j.name}: {j.expression}")
    obj = j.availability_objective
    typer.echo(
        f"availability  A+ {av['independent']:.8f}  A- {av['pessimistic']:.8f}  bound width {av['independent'] - av['pessimistic']:.8f}"
        + (f"  objective {obj.target:g}" if obj else "")
    )
    runs = [("accepted", res.check)] + ([("candidate", res.candidate_check)] if res.candidate_check is not None else [])
    for label, run in runs:
        sim, v = run.simulation, run.verdict
        a = sim["availability"]
        typer.echo(
            f"monte carlo   {label}: {sim['correlation']}, {sim['samples']:,} samples, seed {sim['seed']}: "
            f"{a['estimate']:.6f} [{a['ci'][0]:.6f}, {a['ci'][1]:.6f}] at {sim['confidence']:g}; check {'pass' if v.consistent else 'FAILED'}"
        )
    if res.refused:
        typer.echo(res.explanation())
        typer.echo("REFUSED: no budgets or artifacts written")
        return
    b = res.budgets
    if b.error_budget is not None:
        eb = b.error_budget
        typer.echo(
            f"error budget  {eb.minutes:.6g} min per {eb.window_seconds / 86400:g}d; "
            f"burn rate at A- {eb.burn_rate_lower:.3f}, at A+ {eb.burn_rate_upper:.3f}"
        )
    if b.atomic_targets is not None and b.atomic_targets.feasible:
        t = b.atomic_targets
        targets = ", ".join(f"{x.component} {x.uniform}" for x in t.targets)
        typer.echo(f"targets       for A- >= {t.objective:g} (unavailabilities x {t.scale:.4f}): {targets}")
    if b.latency is not None:
        sol = b.latency.solution()
        if sol is not None and sol.factor is not None:
            typer.echo(f"latency       {b.latency.metric} <= {b.latency.threshold:g}s ({sol.bound} bound): component latencies x {sol.factor:.4f}")
    if res.candidate is not None:
        c = res.candidate
        typer.echo(f"candidate     {c.source}: confidence {c.confidence}, A- {c.a_minus:.8f}, delta A- {c.delta_a_minus:+.8f}")
        for line in c.changes:
            typer.echo(f"              {line}")
    d = res.decision
    typer.echo(f"decision      {d.verdict}")
    for r in d.reasons:
        typer.echo(f"              {r}")
    typer.echo(f"artifacts     {len(res.written)} files in {res.out_dir}")



# --------------------------------------------------------------------------- validate
# (section owned by the validate command; keep edits inside it)


@app.command()
def validate(
    paths: list[Path] = typer.Argument(..., help="Spec files and/or directories (searched for kind: JourneyIntent)."),
    samples: str = typer.Option("2e5", "--samples", "-n", help="Monte Carlo samples per spec and scenario (1e5 style accepted)."),
    seed: int = typer.Option(0, "--seed", help="Root seed (fixed default: nightly runs are reproducible)."),
    correlation: list[Correlation] = typer.Option(
        [Correlation.declared], "--correlation", help="Scenario(s) to simulate and check; repeatable (declared, independent, shared, pessimistic)."
    ),
    junit: Path = typer.Option(None, "--junit", help="Also write JUnit XML test results to this file."),
    workers: int | None = WorkersOpt,
    scheduler: str = SchedulerOpt,
    slo_path: list[Path] = SloPath,
    fmt: Format = FormatOpt,
) -> None:
    """Check every spec: bounds, Monte Carlo and their agreement. Exit 0 all pass, 1 a check failed, 2 bad input."""

    def body() -> int:
        from .emit.validate import validate_paths, write_bytes_atomic

        n = parse_samples(samples)
        check_run_options(seed, workers)
        if junit is not None:
            from .outdir import check_output_file

            check_output_file(junit, "--junit")  # before the work, not after it
        scenarios = tuple(dict.fromkeys(c.value for c in correlation))
        from .engine.dask_backend import scheduler_session

        with scheduler_session(scheduler, workers):
            report = validate_paths(paths, samples=n, seed=seed, scenarios=scenarios, slo_paths=slo_path or (), workers=workers)
        if junit is not None:
            write_bytes_atomic(junit, report.junit_xml())
        for s in report.specs:
            if s.error is not None:
                typer.echo(s.error, err=True)
        if fmt is Format.json:
            print_json(report.to_dict())
            return report.exit_code
        for s in report.specs:
            if s.error is not None:
                typer.echo(f"ERROR {s.file}: does not load")
                continue
            k = sum(1 for r in s.runs for i in r.verdict.items if i.status != "skip")
            typer.echo(f"{s.status.upper():5} {s.file} ({s.journey}): {k} checks")
            for r in s.runs:
                if not r.verdict.consistent:
                    typer.echo(r.verdict.explanation())
        c = report.counts()
        typer.echo(
            f"{c['specs']} spec(s): {c['passed']} passed, {c['failed']} failed, {c['errors']} error(s); "
            f"{c['checks']} checks, {c['checkFailures']} failed ({n} samples, seed {seed})"
        )
        return report.exit_code

    run_guarded(body)


# --------------------------------------------------------------------------- discover
# (section owned by the discover command; keep edits inside it)


_TRACE_FORMATS = ("auto", "otlp", "jaeger", "zipkin", "csv")


@app.command("discover")
def discover_cmd(
    traces: list[Path] = typer.Argument(..., help="Trace files or directories: OTLP JSON, Jaeger JSON, Zipkin v2 JSON or CSV span tables."),
    out: Path = typer.Option(..., "--out", help="Directory for <journey>.discovered.yaml (and <journey>.delta.yaml with --accepted)."),
    formats: list[str] = typer.Option(
        [],
        "--format",
        help="Trace format (auto, otlp, jaeger, zipkin, csv) and/or output format (text, json); repeatable: --format zipkin --format json.",
    ),
    k8s: Path | None = typer.Option(None, "--k8s", help="Kubernetes manifests (zone labels, node affinity, replicas)."),
    istio: Path | None = typer.Option(None, "--istio", help="Istio VirtualService / DestinationRule manifests (weights, retries, timeouts)."),
    accepted: Path | None = typer.Option(
        None, "--accepted", help="The last accepted spec: write a ModelDelta with the effect on A- and the governance decision."
    ),
    journey: str | None = typer.Option(None, "--journey", help="Keep only this journey (with --accepted: the journey to compare)."),
    csv_map: str | None = typer.Option(
        None, "--csv-map", help="CSV column mapping, e.g. traceId=TraceID,spanId=SpanID,pod=PodName,start=StartTimeUnixNano,end=EndTimeUnixNano."
    ),
    split: str = typer.Option(
        "auto", "--split", help="Journeys: by root operation (none), also by call signature when the root has no route (auto), or always (signature)."
    ),
    confidence: float = typer.Option(0.95, "--confidence", help="Coverage of the reported intervals (Wilson)."),
) -> None:
    """Discover journey models from traces and traffic configuration, with provenance and confidence."""

    def body() -> int:
        trace_fmt, out_fmt = "auto", Format.text
        for f in formats:
            v = f.lower()
            if v in _TRACE_FORMATS:
                trace_fmt = v
            elif v in ("text", "json"):
                out_fmt = Format(v)
            else:
                raise SpecError("<command line>", "--format", f"unknown format {f!r} (trace: {', '.join(_TRACE_FORMATS)}; output: text, json)")
        from .discover import discover

        res = discover(
            traces,
            out=out,
            fmt=trace_fmt,
            k8s=k8s,
            istio=istio,
            accepted=accepted,
            journey=journey,
            csv_mapping=csv_map,
            split=split,
            confidence=confidence,
        )
        summary = res.to_dict()
        code = 0
        for d in res.deltas.values():
            gov = d["spec"].get("governance")
            if gov is not None and gov.get("verdict") != "PASS":
                code = 1
        if out_fmt is Format.json:
            print_json(summary)
            return code
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        con = Console(markup=False)  # journey names come from traces: user text, never console markup
        con.print(f"read {summary['spans']:,} spans in {summary['traces']:,} usable traces from {len(summary['inputs'])} file(s)")
        for line in res.ledger.lines():
            con.print(f"  data quality: {line}")
        t = Table(title="discovered journeys")
        for col in ("journey", "traces", "confidence", "flags", "model"):
            t.add_column(col)
        for jd in summary["journeys"]:
            t.add_row(jd["name"], f"{jd['traces']:,}", f"{jd['confidence']:.3f}", str(len(jd["evidenceFlags"])), jd["model"] or "")
        con.print(t)
        for jd in summary["journeys"]:
            con.print(Text.assemble((jd["name"], "bold"), f": {jd['expression']}"))
            for fl in jd["evidenceFlags"]:
                con.print(f"  flag: {fl}")
            if "delta" in jd:
                dd = jd["delta"]
                eff = dd.get("predictedEffect") or {}
                am = eff.get("aMinus")
                gov = dd.get("governance") or {}
                line = f"  delta: {dd['changes']} change(s)"
                if am:
                    line += f", A- {am['accepted']:.8f} -> {am['candidate']:.8f} ({am['delta']:+.2e})"
                if gov:
                    line += f", governance {gov.get('verdict')}"
                con.print(line + (f" ({dd['file']})" if dd.get("file") else ""))
        for n in summary["notes"]:
            con.print(f"note: {n}")
        return code

    run_guarded(body)


# --------------------------------------------------------------------------- whatif
# (section owned by the whatif command; keep edits inside it)


@app.command("whatif")
def whatif_cmd(
    spec: Path = typer.Argument(None, help="EmaC spec (JourneyIntent YAML); omit with --study."),
    vary: list[str] = typer.Option(
        None,
        "--vary",
        help="PATH=VALUES, e.g. components.paya.availability=0.99:0.9999:20 (a,b,c; lo:hi:n; log:lo:hi:n); repeat for a grid.",
    ),
    study: Path = typer.Option(None, "--study", help="Study file (kind WhatIfStudy or FanOutStudy), e.g. configs/studies/fanout.yaml."),
    samples: int = typer.Option(None, "--samples", help="Monte Carlo samples per point (default 20000; 0 = analytic only)."),
    seed: int = typer.Option(None, "--seed", help="One seed for every point (common random numbers); drawn and printed when omitted."),
    correlation: str = typer.Option(None, "--correlation", help="Scenario simulated: declared (default), independent, shared, pessimistic."),
    confidence: float = typer.Option(0.95, "--confidence", help="Confidence level of the intervals."),
    out: Path = typer.Option(None, "--out", help="Directory for the table (Parquet, CSV, JSON) and plots (PNG, SVG); default whatif-out/<name>."),
    find_max: str = typer.Option(None, "--find-max", help="Find the largest value of this path (e.g. load.rate) meeting --subject-to."),
    subject_to: list[str] = typer.Option(None, "--subject-to", help="Constraint such as p99<=0.4 or availability>=0.995; repeatable."),
    using: str = typer.Option(
        "independent", "--using", help="find-max metric: independent (analytic, default), upper (conservative bound), montecarlo."
    ),
    tolerance: float = typer.Option(1e-3, "--tolerance", help="find-max relative bracket width."),
    no_bounds: bool = typer.Option(False, "--no-bounds", help="Skip the analytic bounds at each point (Monte Carlo only)."),
    workers: int = typer.Option(None, "--workers", help="Worker processes of --scheduler dask-local (default: available CPUs)."),
    scheduler: str = SchedulerOpt,
    slo_path: list[Path] = SloPath,
    fmt: Format = FormatOpt,
) -> None:
    """What-if sweeps: bounds and common-random-number estimates over a grid of spec values."""

    def body() -> int:
        from .engine.dask_backend import scheduler_session
        from .studies.commands import whatif_command

        with scheduler_session(scheduler, workers):
            return whatif_command(
                spec, vary or [], study, samples, seed, correlation, confidence, out, find_max, subject_to or [], using, tolerance, slo_path or [],
                fmt is Format.json, analytic=not no_bounds,
            )

    run_guarded(body)


# --------------------------------------------------------------------------- report
# (section owned by the report command; keep edits inside it)


@app.command("report")
def report_cmd(
    spec: Path = typer.Argument(..., help="EmaC spec (JourneyIntent YAML)."),
    out: Path = typer.Option(..., "--out", help="Directory for report.md, report.html and figures/."),
    samples: int = typer.Option(100_000, "--samples", help="Monte Carlo samples of the main estimate."),
    sweep_samples: int = typer.Option(20_000, "--sweep-samples", help="Samples per point of the fan-out and trade-off sweeps (0: analytic only)."),
    seed: int = typer.Option(1, "--seed", help="One seed for every simulation (common random numbers)."),
    correlation: str = typer.Option("declared", "--correlation", help="Scenario simulated: declared, independent, shared, pessimistic."),
    confidence: float = typer.Option(0.95, "--confidence", help="Confidence level of the intervals."),
    slo_path: list[Path] = SloPath,
    fmt: Format = FormatOpt,
) -> None:
    """Tail-amplification report: latency CCDF, availability intervals, attribution, fan-out, trade-offs."""

    def body() -> int:
        from .studies.commands import report_command

        return report_command(spec, out, samples, sweep_samples, seed, correlation, confidence, slo_path or [], fmt is Format.json)

    run_guarded(body)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except SpecError as err:  # raised outside a command body (should not happen)
        print(err.line(), file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
