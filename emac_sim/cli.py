"""The ``emac`` command line: a thin typer layer over the public API (DESIGN §9).

Exit codes: 0 ok; 1 a check or gate fell short; 2 bad input (one line ``FILE: PATH: what``).
``--format json`` prints exactly one JSON object on stdout.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.2x vendors its own click
    from typer._click import exceptions as clickx
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover - older typer on the click package
    import click.exceptions as clickx  # type: ignore[no-redef]
    from click import get_current_context  # type: ignore[no-redef]

from .core.jsonio import print_json
from .core.seeds import DEFAULT_SEED
from .errors import SpecError, SpecWarning

COMMAND_LINE = "<command line>"  # the "file" of a SpecError about an option; shown as "emac <command>"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def usage_error_line(err: Any) -> str:
    """A click usage error as ``emac <command>: --option: what is wrong`` (no usage box)."""
    where = err.ctx.command_path if err.ctx is not None else "emac"
    if isinstance(err, clickx.NoSuchOption):
        hint = f" (did you mean {' or '.join(sorted(err.possibilities))}?)" if err.possibilities else ""
        return f"{where}: {err.option_name}: no such option{hint}"
    if isinstance(err, clickx.BadParameter) and err.param is not None:
        p = err.param
        name = p.opts[0] if getattr(p, "param_type_name", "") == "option" and p.opts else str(p.name).upper()
        what = "is required" if isinstance(err, clickx.MissingParameter) else _one_line(err.message).removeprefix("Value error, ").rstrip(".")
        for typed, plain in (("Input should be a valid integer", "must be a whole number"), ("Input should be a valid number", "must be a number")):
            if what.startswith(typed):
                what = plain
        return f"{where}: {name}: {what}"
    return f"{where}: {_one_line(err.format_message()).rstrip('.')}"


class _OneLineErrors(TyperGroup):
    """Bad options and arguments give one line and exit code 2, like every other bad input."""

    def main(
        self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None, standalone_mode: bool = True, **extra: Any
    ) -> Any:
        try:
            # the command is "emac" however it was started (console script, python -m, a test runner)
            rv = super().main(args=args, prog_name="emac", complete_var=complete_var, standalone_mode=False, **extra)
        except clickx.NoArgsIsHelpError as err:
            if not standalone_mode:
                raise
            typer.echo(err.ctx.get_help() if err.ctx is not None else "", err=True)
            sys.exit(2)
        except clickx.UsageError as err:
            if not standalone_mode:
                raise
            typer.echo(usage_error_line(err), err=True)
            sys.exit(2)
        except typer.Abort:
            if not standalone_mode:
                raise
            typer.echo("aborted", err=True)
            sys.exit(1)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(cls=_OneLineErrors, add_completion=False, no_args_is_help=True, help="Emergence-as-Code: journey reliability you can compute.")


def _version(value: bool) -> None:
    if value:
        from . import __version__

        typer.echo(f"emac-sim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the emac-sim version and exit."),
) -> None:
    """Emergence-as-Code: journey reliability you can compute."""


class Format(str, Enum):
    text = "text"
    json = "json"


SEED_HELP = (
    f"Random seed, a non-negative integer; default {DEFAULT_SEED} in every command, so the same inputs give the same numbers "
    "and bytes. The seed used is printed and recorded."
)
SloPath = typer.Option(None, "--slo-path", help="Directory (or file) with OpenSLO / Sloth SLO documents; repeatable.")
WorkersOpt = typer.Option(None, "--workers", help="Threads, or dask-local processes (default: the CPUs); results do not depend on it.")
FormatOpt = typer.Option(Format.text, "--format", help="text (tables) or json (one object on stdout).")


class EvidenceMode(str, Enum):
    declared = "declared"
    observed = "observed"


PrometheusOpt = typer.Option(
    None,
    "--prometheus",
    help="Prometheus URL to read evidence from (bearer token: EMAC_PROMETHEUS_TOKEN; basic auth: EMAC_PROMETHEUS_USER and "
    "EMAC_PROMETHEUS_PASSWORD; CA bundle: EMAC_PROMETHEUS_CA; timeout: EMAC_PROMETHEUS_TIMEOUT).",
)
EvidenceOpt = typer.Option(
    EvidenceMode.declared,
    "--evidence",
    help="With --prometheus: declared (model as declared, evidence reported) or observed (observed values in the model).",
)
WindowOpt = typer.Option(None, "--window", help="Evidence window, e.g. 30d (default: the availability objective's window).")
AtOpt = typer.Option(None, "--at", help="Read the evidence at this time: RFC 3339 (2025-06-30T00:00:00Z), Unix seconds or now (default).")


def _command() -> str:
    ctx = get_current_context(silent=True)
    return ctx.command_path if ctx is not None else "emac"


def input_error_line(err: SpecError) -> str:
    """One line for bad input: ``FILE: PATH: what`` for a file, ``emac <command>: --option: what``
    for an option (raised as ``SpecError("<command line>", "--option", …)`` or ``SpecError("--option", …)``)."""
    if err.file == COMMAND_LINE:
        return f"{_command()}: {err.line().removeprefix(COMMAND_LINE + ': ')}"
    if err.file.startswith("--"):
        return f"{_command()}: {err.line()}"
    return err.line()


def fail_input(err: SpecError) -> None:
    """Bad input: one line on stderr, exit code 2, no traceback."""
    typer.echo(input_error_line(err), err=True)
    raise typer.Exit(2)


def run_guarded(fn: Callable[[], int | None]) -> None:
    """Run a command body; SpecError → exit 2; return value → exit code.

    Input warnings (:class:`~emac_sim.errors.SpecWarning`) print as they come, one line each on
    stderr (each line once); library warnings (numpy's RuntimeWarning and the like) are not the
    user's to act on and stay quiet."""
    shown: set[str] = set()

    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        text = message.line() if isinstance(message, SpecWarning) else f"warning: {message}"
        if text not in shown:
            shown.add(text)
            typer.echo(text, err=True)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("always", SpecWarning)
            warnings.showwarning = show
            code = fn()
    except SpecError as err:
        fail_input(err)
        return
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    if code:
        raise typer.Exit(code)


def check_run_options(seed: int | None, workers: int | None) -> None:
    """Refuse a negative ``--seed`` or a ``--workers`` below 1 (one line, exit 2)."""
    if seed is not None and seed < 0:
        raise SpecError(COMMAND_LINE, "--seed", f"must be a non-negative integer, got {seed}")
    if workers is not None and workers < 1:
        raise SpecError("<command line>", "--workers", f"must be at least 1, got {workers}")


def load(spec: Path, slo_path: list[Path] | None) -> Any:
    """Load ``spec``; ``-`` reads it from standard input (atomicSLORefs resolve against the current
    directory and ``--slo-path``)."""
    from .spec import load_spec, load_spec_text

    if str(spec) == "-":
        return load_spec_text(sys.stdin.read(), source="<stdin>", slo_paths=slo_path or (), base_dir=Path.cwd())
    return load_spec(spec, slo_paths=slo_path or ())


# --------------------------------------------------------------------------- check


@app.command()
def check(
    spec: Path = typer.Argument(..., help="EmaC spec (JourneyIntent YAML); - reads it from stdin."),
    slo_path: list[Path] = SloPath,
    fmt: Format = FormatOpt,
) -> None:
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
    spec: Path = typer.Argument(..., help="EmaC spec (JourneyIntent YAML); - reads it from stdin."),
    slo_path: list[Path] = SloPath,
    fmt: Format = FormatOpt,
    grid_points: int | None = typer.Option(None, "--grid-points", help="Points of the latency grid (default 4096, at most 65536)."),
    confidence: float = typer.Option(0.95, "--confidence", help="Confidence of the DKW band around histogram leaves."),
    prometheus: str | None = PrometheusOpt,
    evidence: EvidenceMode = EvidenceOpt,
    window: str | None = WindowOpt,
    at: str | None = AtOpt,
) -> None:
    """Exact availability and latency bounds: independent, declared, shared-fate range, dependence-free."""

    def body() -> int:
        from .analytic.grid import MAX_GRID_POINTS

        if grid_points is not None and not 16 <= grid_points <= MAX_GRID_POINTS:
            raise SpecError("<command line>", "--grid-points", f"must be between 16 and {MAX_GRID_POINTS}, got {grid_points}")
        if not 0 < confidence < 1:
            raise SpecError("<command line>", "--confidence", f"must be in (0, 1), got {confidence:g}")
        from .analytic import bounds
        from .pipeline.evidence import evidence_request, summary_line, with_evidence

        j, ev = with_evidence(load(spec, slo_path), evidence_request(prometheus, evidence.value, window, at))
        b = bounds(j, grid_points=grid_points, confidence=confidence)
        if fmt is Format.json:
            out = b.to_dict()
            if ev is not None:
                out["evidence"] = ev.to_dict(evidence.value)
            print_json(out)
            return 0
        from rich.console import Console
        from rich.table import Table
        from rich.text import Text

        con = Console(markup=False)  # ids and names are user text, never console markup
        a = b.availability
        con.print(Text.assemble((b.journey, "bold"), f": {b.expression}"))

        def num(v: float | None) -> str:
            return "not computable" if v is None else f"{v:.8f}"

        t = Table(title="availability")
        for col in ("bound", "value", "how"):
            t.add_column(col)
        shared = ", ".join(a.pessimistic_shared or []) or "none"
        t.add_row("independent (A+)", num(a.independent), "all calls independent")
        t.add_row("declared", num(a.declared), a.declared_method)
        t.add_row("pessimistic (A-)", num(a.pessimistic), f"shared: {shared}")
        t.add_row("shared", num(a.shared), "every sharable domain fully shared")
        sfr, df = a.shared_fate_range, a.dependence_free
        t.add_row("shared-fate range", f"[{num(sfr[0])}, {num(sfr[1])}]" if sfr else "not computable", a.pessimistic_method)
        t.add_row("dependence-free", f"[{num(df[0])}, {num(df[1])}]", "any dependence (Frechet / Boole)")
        con.print(t)
        lat = b.latency
        if lat is None:
            con.print("latency: not modelled")
        else:
            t = Table(title="latency of successful journeys")
            for col in ("quantile", "independent", "comonotone", "lower", "upper"):
                t.add_column(col, justify="right")
            for key, row in lat.quantiles.items():
                t.add_row(key, *(_fmt_seconds(v) for v in (row.independent, row.comonotone, row.lower, row.upper)))
            con.print(t)
            extra = f"; DKW band at {lat.dkw_confidence:g} per histogram leaf" if lat.dkw_confidence is not None else ""
            con.print(f"grid step {_fmt_seconds(lat.grid_step)}, discretisation error <= {_fmt_seconds(lat.discretisation_error)}{extra}")
        for note in a.notes:
            con.print(f"note: {note}")
        if ev is not None:
            con.print(summary_line(ev, evidence.value), soft_wrap=True, highlight=False)
        return 0

    run_guarded(body)



# --------------------------------------------------------------------------- simulate
# (section owned by the simulate command; keep edits inside it)


class Correlation(str, Enum):
    declared = "declared"
    independent = "independent"
    shared = "shared"
    pessimistic = "pessimistic"


class Backend(str, Enum):
    cpu = "cpu"
    cuda = "cuda"


def check_backend(backend: Backend, scheduler: str, method: str = "plain", target_rel: float | None = None) -> None:
    """Refuse ``--backend cuda`` where it cannot run (no GPU and no simulator), beside a Dask
    ``--scheduler`` or with importance sampling (one line, exit 2), before any input is read."""
    if backend is not Backend.cuda:
        return
    if scheduler != "threads":
        raise SpecError(COMMAND_LINE, "--backend", f"cuda runs on one GPU and cannot be combined with --scheduler {scheduler}")
    if method != "plain" or target_rel is not None:
        raise SpecError(COMMAND_LINE, "--backend", "cuda runs plain Monte Carlo only: --method importance/auto and --target-rel need --backend cpu")
    from .engine.cuda import cuda_problem

    problem = cuda_problem()
    if problem is not None:
        raise SpecError(COMMAND_LINE, "--backend", f"cuda: {problem}")


def parse_samples(text: str, option: str = "--samples", minimum: int = 1) -> int:
    """``100000``, ``1e5``, ``1_000_000`` or ``2.5e6`` → int; anything else is a SpecError.

    ``minimum=0`` also accepts 0 (analytic only, where a command allows it).
    """
    try:
        value = float(str(text).replace("_", ""))
    except ValueError:
        value = float("nan")
    if not (minimum <= value < 2**63 and value == int(value)):  # NaN and infinities fail here
        what = "a positive whole number" if minimum >= 1 else "a whole number (0 or more)"
        raise SpecError(COMMAND_LINE, option, f"must be {what} such as 100000 or 1e5, got {text!r}")
    return int(value)


TAIL_QUANTILES = (0.9999, 0.99999)
"""The levels ``--tail`` reports."""


def parse_exceed(text: str | None) -> float | None:
    """``--exceed``: a positive duration (``2s``, ``750ms``; none means seconds), or ``None``."""
    if text is None:
        return None
    from .units import parse_duration

    try:
        value = parse_duration(text)
    except ValueError as err:
        raise SpecError(COMMAND_LINE, "--exceed", str(err)) from None
    if not 0 < value < float("inf"):
        raise SpecError(COMMAND_LINE, "--exceed", f"must be a positive duration such as 2s, got {text!r}")
    return value


class Method(str, Enum):
    plain = "plain"
    importance = "importance"
    auto = "auto"


MethodOpt = typer.Option(
    Method.plain,
    "--method",
    help="Monte Carlo method: plain, importance (failure biasing tuned by cross-entropy, exact likelihood ratios; availability only) "
    "or auto (importance when fewer than 100 failures are expected in --samples).",
)


SchedulerOpt = typer.Option(
    "threads",
    "--scheduler",
    help="Where the Monte Carlo runs: threads (default, embedded), dask-local (a local Dask cluster of --workers processes) "
    "or tcp://HOST:PORT (an existing Dask scheduler). Results do not depend on it.",
)


@app.command("simulate")
def simulate_cmd(
    spec: Path = typer.Argument(..., help="EmaC spec (JourneyIntent YAML); - reads it from stdin."),
    samples: str = typer.Option("1e5", "--samples", "-n", help="Journeys to simulate (1e5 style accepted); the cap with --target-ci."),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help=SEED_HELP),
    correlation: Correlation = typer.Option(Correlation.declared, "--correlation", help="Scenario: declared, independent, shared or pessimistic."),
    target_ci: float | None = typer.Option(None, "--target-ci", help="Stop once the availability interval half-width is at most this."),
    method: Method = MethodOpt,
    target_rel: float | None = typer.Option(
        None, "--target-rel", help="Stop once the unavailability interval half-width is at most this share of the estimate (e.g. 0.1)."
    ),
    exceed: str | None = typer.Option(
        None, "--exceed", help="With --method importance: also estimate P(latency > this duration, e.g. 2s) by exponential tilting."
    ),
    tail: bool = typer.Option(
        False, "--tail", help="With --method importance: also estimate p99.99 and p99.999 of the latency by exponential tilting."
    ),
    workers: int | None = WorkersOpt,
    scheduler: str = SchedulerOpt,
    backend: Backend = typer.Option(
        Backend.cpu,
        "--backend",
        help="cpu (default: threads or --scheduler) or cuda (one GPU; numba's simulator with NUMBA_ENABLE_CUDASIM=1). See docs/cuda.md.",
    ),
    confidence: float = typer.Option(0.95, "--confidence", help="Coverage of the intervals."),
    traces: Path | None = typer.Option(None, "--traces", help="Also write the simulated requests as OTLP JSON traces to this file."),
    slo_path: list[Path] = SloPath,
    fmt: Format = FormatOpt,
    prometheus: str | None = PrometheusOpt,
    evidence: EvidenceMode = EvidenceOpt,
    window: str | None = WindowOpt,
    at: str | None = AtOpt,
) -> None:
    """Monte Carlo estimate of availability and latency with confidence intervals."""

    def body() -> int:
        n = parse_samples(samples)
        check_run_options(seed, workers)
        check_backend(backend, scheduler, method.value, target_rel)
        if target_ci is not None and not 0 < target_ci < 1:
            raise SpecError("<command line>", "--target-ci", f"must be a half-width in (0, 1), got {target_ci:g}")
        if target_rel is not None and not 0 < target_rel < 1:
            raise SpecError("<command line>", "--target-rel", f"must be a relative half-width in (0, 1), got {target_rel:g}")
        if not 0 < confidence < 1:
            raise SpecError("<command line>", "--confidence", f"must be in (0, 1), got {confidence:g}")
        exceed_s = parse_exceed(exceed)
        for opt, given in (("--exceed", exceed is not None), ("--tail", tail)):
            if given and method is not Method.importance:
                raise SpecError(COMMAND_LINE, opt, "latency tails need --method importance")
        writer = None
        if traces is not None:
            from .discover.synth import check_traces_path
            from .discover.synth import write_otlp_traces as writer

            check_traces_path(traces)  # before the run: a folder or a device is refused at once
        from .engine import simulate
        from .engine.dask_backend import scheduler_session
        from .pipeline.evidence import evidence_request, summary_line, with_evidence

        j, ev = with_evidence(load(spec, slo_path), evidence_request(prometheus, evidence.value, window, at))
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
                    backend=backend.value,
                    method=method.value,
                    target_rel=target_rel,
                    exceed=exceed_s,
                    tail_quantiles=TAIL_QUANTILES if tail else (),
                )
            except SpecError:
                raise
            except (ValueError, RuntimeError) as err:
                raise SpecError(str(spec), "", str(err)) from None
        out = res.to_dict()
        for line in out.get("warnings", ()):
            typer.echo(f"warning: {line}", err=True)
        if writer is not None:
            out["traces"] = writer(j, traces, n, res.seed, correlation.value)
        if ev is not None:
            out["evidence"] = ev.to_dict(evidence.value)
        if fmt is Format.json:
            print_json(out)
            return 0
        from rich.console import Console

        from .engine.present import print_result

        con = Console(markup=False)  # ids and names are user text, never console markup
        print_result(res, con)
        if writer is not None:
            con.print(f"traces: wrote {n:,} simulated requests to {traces}")
        if ev is not None:
            con.print(summary_line(ev, evidence.value), soft_wrap=True, highlight=False)
        return 0

    run_guarded(body)


# --------------------------------------------------------------------------- compile
# (section owned by the compile command; keep edits inside it)


@app.command("compile")
def compile_cmd(
    spec: Path = typer.Argument(..., help="The accepted EmaC spec (JourneyIntent YAML)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output directory for the artifacts (new, empty, or a previous emac-sim output)."),
    samples: str = typer.Option("2e5", "--samples", "-n", help="Monte Carlo samples for the check (1e5 style accepted)."),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help=SEED_HELP),
    correlation: Correlation = typer.Option(Correlation.declared, "--correlation", help="Scenario simulated and checked."),
    candidate: Path = typer.Option(None, "--candidate", help="Candidate model (DiscoveredJourneyModel or JourneyIntent) to judge against SPEC."),
    method: Method = MethodOpt,
    workers: int | None = WorkersOpt,
    scheduler: str = SchedulerOpt,
    slo_path: list[Path] = SloPath,
    fmt: Format = FormatOpt,
    prometheus: str | None = PrometheusOpt,
    evidence: EvidenceMode = EvidenceOpt,
    window: str | None = WindowOpt,
    at: str | None = AtOpt,
) -> None:
    """Bounds, Monte Carlo, check, budgets, governance decision and artifacts. Exit 0 PASS, 1 FAIL/REVIEW/refused, 2 bad input."""

    def body() -> int:
        n = parse_samples(samples)
        check_run_options(seed, workers)
        from .engine.dask_backend import scheduler_session
        from .pipeline.compile import compile_spec
        from .pipeline.evidence import evidence_request

        request = evidence_request(prometheus, evidence.value, window, at)
        with scheduler_session(scheduler, workers):
            res = compile_spec(
                spec, out, samples=n, seed=seed, correlation=correlation.value, candidate=candidate, slo_paths=slo_path or (), workers=workers,
                evidence_request=request, method=method.value,
            )
        if fmt is Format.json:
            print_json(res.to_dict())
            return res.exit_code
        _print_compile(res)
        return res.exit_code

    run_guarded(body)


def _print_compile(res: Any) -> None:
    av = res.bounds.availability
    j = res.journey
    typer.echo(f"{j.name}: {j.expression}")
    if res.evidence is not None:
        from .pipeline.evidence import summary_line

        typer.echo(summary_line(res.evidence, res.evidence_mode))
    obj = j.availability_objective
    typer.echo(
        f"availability  A+ {av.independent:.8f}  A- {av.pessimistic:.8f}  bound width {av.independent - av.pessimistic:.8f}"
        + (f"  objective {obj.target:g}" if obj else "")
    )
    runs = [("accepted", res.check)] + ([("candidate", res.candidate_check)] if res.candidate_check is not None else [])
    for label, run in runs:
        sim, v = run.simulation, run.verdict
        lo, hi = sim.availability_ci
        typer.echo(
            f"monte carlo   {label}: {sim.correlation}, {sim.samples:,} samples, seed {sim.seed}: "
            f"{sim.availability:.6f} [{lo:.6f}, {hi:.6f}] at {sim.confidence:g}; check {'pass' if v.consistent else 'FAILED'}"
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
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help=SEED_HELP),
    correlation: list[Correlation] = typer.Option(
        [Correlation.declared], "--correlation", help="Scenario(s) to simulate and check; repeatable (declared, independent, shared, pessimistic)."
    ),
    junit: Path = typer.Option(None, "--junit", help="Also write JUnit XML test results to this file."),
    method: Method = MethodOpt,
    workers: int | None = WorkersOpt,
    scheduler: str = SchedulerOpt,
    slo_path: list[Path] = SloPath,
    fmt: Format = FormatOpt,
    prometheus: str | None = typer.Option(
        None, "--prometheus", help="Also hold each journey and component against this Prometheus (see emac evidence)."
    ),
    window: str | None = WindowOpt,
    at: str | None = AtOpt,
) -> None:
    """Check every spec: bounds, Monte Carlo and their agreement. Exit 0 all pass, 1 a check failed, 2 bad input."""

    def body() -> int:
        from .pipeline.evidence import evidence_request
        from .pipeline.validate import validate_paths, write_bytes_atomic

        n = parse_samples(samples)
        check_run_options(seed, workers)
        if junit is not None:
            from .outdir import check_output_file

            check_output_file(junit, "--junit")  # before the work, not after it
        scenarios = tuple(dict.fromkeys(c.value for c in correlation))
        request = evidence_request(prometheus, "declared", window, at)
        from .engine.dask_backend import scheduler_session

        with scheduler_session(scheduler, workers):
            report = validate_paths(
                paths, samples=n, seed=seed, scenarios=scenarios, slo_paths=slo_path or (), workers=workers, evidence=request, method=method.value
            )
        if junit is not None:
            write_bytes_atomic(junit, report.junit_xml())
        for s in report.specs:
            for err_line in (s.error, s.evidence_error):
                if err_line is not None:
                    typer.echo(err_line, err=True)
        if fmt is Format.json:
            print_json(report.to_dict())
            return report.exit_code
        for s in report.specs:
            if s.error is not None:
                typer.echo(f"ERROR {s.file}: does not load")
                continue
            k = sum(1 for r in s.runs for i in r.verdict.items if i.status != "skip") + sum(1 for _, st, _ in s.evidence_cases() if st != "skip")
            typer.echo(f"{s.status.upper():5} {s.file} ({s.journey}): {k} checks")
            for r in s.runs:
                if not r.verdict.consistent:
                    typer.echo(r.verdict.explanation())
            for line in s.evidence_failures():
                typer.echo(line)
        c = report.counts()
        typer.echo(
            f"{c['specs']} spec(s): {c['passed']} passed, {c['failed']} failed, {c['errors']} error(s); "
            f"{c['checks']} checks, {c['checkFailures']} failed ({n} samples, seed {seed})"
        )
        return report.exit_code

    run_guarded(body)


# --------------------------------------------------------------------------- discover
# (section owned by the discover command; keep edits inside it)


_TRACE_FORMATS = ("auto", "otlp", "jaeger", "zipkin", "csv", "emac")


@app.command("discover")
def discover_cmd(
    traces: list[Path] = typer.Argument(
        ...,
        help="Trace files or folders (recursive): OTLP JSON, Jaeger JSON, Zipkin v2 JSON, CSV span tables, and the paper's trace and "
        "deployment evidence (emac.sanity.trace/v1, emac.sanity.deployment/v1). The format is detected from each file's content.",
    ),
    out: Path = typer.Option(..., "--out", help="Directory for <journey>.discovered.yaml (and <journey>.delta.yaml with --accepted)."),
    fmt: str = typer.Option("text", "--format", help="Output: text (tables) or json (one object on stdout)."),
    trace_format: str = typer.Option(
        "auto", "--trace-format", help="Read every trace file as this format: auto (detect), otlp, jaeger, zipkin, csv, emac."
    ),
    k8s: Path | None = typer.Option(None, "--k8s", help="Kubernetes manifests (zone labels, node affinity, replicas)."),
    istio: Path | None = typer.Option(None, "--istio", help="Istio VirtualService / DestinationRule manifests (weights, retries, timeouts)."),
    accepted: Path | None = typer.Option(
        None,
        "--accepted",
        help="The last accepted model (a spec, or the paper's AcceptedJourneyModel): write a ModelDelta with the effect on A- "
        "and the decision.",
    ),
    spec: Path | None = typer.Option(
        None, "--spec", help="The journey's intent (JourneyIntent: objectives, atomic SLOs, policy) when the accepted model carries none."
    ),
    journey: str | None = typer.Option(None, "--journey", help="Keep only this journey (with --accepted: the journey to compare)."),
    csv_map: str | None = typer.Option(
        None, "--csv-map", help="CSV column mapping, e.g. traceId=TraceID,spanId=SpanID,pod=PodName,start=StartTimeUnixNano,end=EndTimeUnixNano."
    ),
    split: str = typer.Option(
        "auto", "--split", help="Journeys: by root operation (none), also by call signature when the root has no route (auto), or always (signature)."
    ),
    confidence: float = typer.Option(0.95, "--confidence", help="Coverage of the reported intervals (Wilson)."),
    strict: bool = typer.Option(
        False, "--strict", help="A file in a folder that is not a trace, or a broken trace file, is an error (default: skipped with a warning)."
    ),
) -> None:
    """Discover journey models from traces and traffic configuration, with provenance and confidence."""

    def body() -> int:
        out_fmt = fmt.lower()
        if out_fmt not in ("text", "json"):
            hint = f"; for the trace format use --trace-format {out_fmt}" if out_fmt in _TRACE_FORMATS else ""
            raise SpecError("<command line>", "--format", f"unknown output format {fmt!r} (text, json){hint}")
        if trace_format.lower() not in _TRACE_FORMATS:
            raise SpecError("<command line>", "--trace-format", f"unknown trace format {trace_format!r} ({', '.join(_TRACE_FORMATS)})")
        from .discover import discover

        res = discover(
            traces,
            out=out,
            fmt=trace_format.lower(),
            k8s=k8s,
            istio=istio,
            accepted=accepted,
            spec=spec,
            journey=journey,
            csv_mapping=csv_map,
            split=split,
            confidence=confidence,
            strict=strict,
        )
        for f in res.skipped:
            typer.echo(f"warning: {f.line()}", err=True)
        summary = res.to_dict()
        code = 0
        for d in res.deltas.values():
            gov = d["spec"].get("governance")
            if gov is not None and gov.get("verdict") != "PASS":
                code = 1
        if out_fmt == "json":
            print_json(summary)
            return code
        from rich.console import Console
        from rich.markup import escape
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
            t.add_row(escape(jd["name"]), f"{jd['traces']:,}", f"{jd['confidence']:.3f}", str(len(jd["evidenceFlags"])), escape(jd["model"] or ""))
        con.print(t)
        for jd in summary["journeys"]:
            con.print(Text.assemble((jd["name"], "bold"), f": {jd['expression']}"))
            for fl in jd["evidenceFlags"]:
                con.print(f"  flag: {escape(fl)}")
            if "delta" in jd:
                dd = jd["delta"]
                eff = dd.get("predictedEffect") or {}
                am = eff.get("aMinus")
                line = f"  delta: {dd['changes']} change(s)"
                if am:
                    line += f", A- {am['accepted']:.8f} -> {am['candidate']:.8f} ({am['delta']:+.2e})"
                if dd.get("decision"):
                    line += f", governance {dd['decision']}"
                con.print(escape(line + (f" ({dd['file']})" if dd.get("file") else "")))
                for g in dd.get("redundancyGroups", []):
                    con.print(escape(f"  redundancy group {g['id']} ({', '.join(g['group'])}): {g['relation']}"))
        for n in summary["notes"]:
            con.print(f"note: {escape(n)}")
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
    samples: str = typer.Option(None, "--samples", help="Monte Carlo samples per point (1e4 style accepted; default 20000; 0 = analytic only)."),
    seed: int = typer.Option(
        None, "--seed", help=SEED_HELP + " One seed for every point (common random numbers); a --study file's seed applies when given."
    ),
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
    prometheus: str | None = PrometheusOpt,
    evidence: EvidenceMode = EvidenceOpt,
    window: str | None = WindowOpt,
    at: str | None = AtOpt,
) -> None:
    """What-if sweeps: bounds and common-random-number estimates over a grid of spec values."""

    def body() -> int:
        from .engine.dask_backend import scheduler_session
        from .pipeline.evidence import evidence_request
        from .pipeline.whatif import whatif_command

        n = parse_samples(samples, minimum=0) if samples is not None else None
        check_run_options(seed, None)
        request = evidence_request(prometheus, evidence.value, window, at)
        with scheduler_session(scheduler, workers):
            return whatif_command(
                spec, vary or [], study, n, seed, correlation, confidence, out, find_max, subject_to or [], using, tolerance, slo_path or [],
                fmt is Format.json, analytic=not no_bounds, evidence=request,
            )

    run_guarded(body)


# --------------------------------------------------------------------------- evidence
# (section owned by the evidence command; keep edits inside it)


@app.command("evidence")
def evidence_cmd(
    spec: Path = typer.Argument(..., help="EmaC spec (JourneyIntent YAML) with telemetry selectors and SLI queries."),
    prometheus: str | None = PrometheusOpt,
    window: str | None = WindowOpt,
    at: str | None = AtOpt,
    slo_path: list[Path] = SloPath,
    fmt: Format = FormatOpt,
) -> None:
    """Observed availability and latency from Prometheus against the spec. Exit 0 consistent, 1 drift or inconsistent, 2 bad input or unreachable."""

    def body() -> int:
        from .pipeline.evidence import evidence_command, evidence_request

        if prometheus is None:
            raise SpecError("<command line>", "--prometheus", "missing: give the URL of the Prometheus server to ask")
        request = evidence_request(prometheus, "declared", window, at)
        assert request is not None
        return evidence_command(spec, request, slo_path or [], fmt is Format.json)

    run_guarded(body)


# --------------------------------------------------------------------------- report
# (section owned by the report command; keep edits inside it)


@app.command("report")
def report_cmd(
    spec: Path = typer.Argument(..., help="EmaC spec (JourneyIntent YAML)."),
    out: Path = typer.Option(..., "--out", help="Directory for report.md, report.html and figures/."),
    samples: str = typer.Option("1e5", "--samples", help="Monte Carlo samples of the main estimate (1e5 style accepted)."),
    sweep_samples: str = typer.Option(
        "2e4", "--sweep-samples", help="Samples per point of the fan-out and trade-off sweeps (1e4 style accepted; 0: analytic only)."
    ),
    seed: int = typer.Option(DEFAULT_SEED, "--seed", help=SEED_HELP + " One seed for every simulation (common random numbers)."),
    correlation: str = typer.Option("declared", "--correlation", help="Scenario simulated: declared, independent, shared, pessimistic."),
    confidence: float = typer.Option(0.95, "--confidence", help="Confidence level of the intervals."),
    slo_path: list[Path] = SloPath,
    fmt: Format = FormatOpt,
) -> None:
    """Tail-amplification report: latency CCDF, availability intervals, attribution, fan-out, trade-offs."""

    def body() -> int:
        from .pipeline.report import report_command

        n, sweep = parse_samples(samples), parse_samples(sweep_samples, "--sweep-samples", minimum=0)
        check_run_options(seed, None)
        return report_command(spec, out, n, sweep, seed, correlation, confidence, slo_path or [], fmt is Format.json)

    run_guarded(body)


# --------------------------------------------------------------------------- schema


@app.command("schema")
def schema_cmd(
    out: Path | None = typer.Option(None, "--out", help="Write the schema to this file (atomically) instead of stdout."),
) -> None:
    """Print the JSON Schema of a JourneyIntent spec (for editors: yaml-language-server's $schema)."""

    def body() -> int:
        from .spec.schema import schema_text

        text = schema_text()
        if out is None:
            sys.stdout.write(text)
            return 0
        from .outdir import check_output_file
        from .pipeline.validate import write_bytes_atomic

        check_output_file(out, "--out")
        write_bytes_atomic(out, text.encode("utf-8"))
        return 0

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
