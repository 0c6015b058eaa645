"""Run every benchmark of issues 8 and 15 and write the report: ``python -m benchmarks.run [--quick] --out FILE``.

``make bench`` writes ``reports/benchmarks.md`` (and ``reports/bench-*.png``) in about 20
minutes on 2 cores, the billion-sample run included when the throughput measured earlier in the
run says it fits; ``make bench-quick`` a subset at small sizes in about 2 minutes, written to the
ignored ``build/bench-quick/`` (timings differ run to run, so a smoke run must not rewrite
tracked files). Every figure is measured in this run, with the load it ran under; ratios are
taken between figures measured side by side. A section that fails, or whose owner's module is
missing, is reported as "not available: <why>" and the run goes on. The report's text is
generated from the numbers (:mod:`benchmarks.report`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import LoadMeter, machine
from . import journeys as J

# --------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Sizes:
    """How much each section measures (see the presets below)."""

    name: str
    repeats: int
    draws_per_loop: int
    hand_samples: int
    numpy_samples: dict[str, int]
    simpy_samples: dict[str, int]
    simpy_engine_samples: dict[str, int]
    accuracy_targets: tuple[float, ...]
    accuracy_samples: dict[str, int]
    threads: tuple[tuple[str, int, bool], ...]  # (journey, samples, details)
    leaves: tuple[int, ...]
    calls_per_point: float
    leaves_details: bool
    empty_cache_leaves: tuple[int, ...]
    bounds_leaves: tuple[int, ...]
    bounds_max_seconds: float
    scaling_samples: tuple[int, ...]
    scaling_repeats: int
    billion: bool
    startup: tuple[int, int] | None
    startup_commands: tuple[str, ...]
    external_quick: bool
    budget_seconds: float
    skip: frozenset[str] = field(default_factory=frozenset)


FULL = Sizes(
    name="full",
    repeats=5,
    draws_per_loop=2_000_000,
    hand_samples=4_000_000,
    numpy_samples={"checkout": 1_000_000, "staged-30": 200_000},
    simpy_samples={"checkout": 6_000, "staged-30": 600},
    simpy_engine_samples={"checkout": 1_000_000, "staged-30": 200_000},
    accuracy_targets=(1e-4, 3e-5, 1e-5),
    accuracy_samples={"engine": 1_000_000, "numpy": 1_000_000, "simpy": 4_000},
    threads=(("checkout", 8_000_000, False), ("checkout", 8_000_000, True), ("staged-30", 1_000_000, False)),
    leaves=(10, 30, 100, 300, 1000),
    calls_per_point=3e7,
    leaves_details=True,
    empty_cache_leaves=(30,),
    bounds_leaves=(10, 30, 100, 300, 1000),
    bounds_max_seconds=30.0,
    scaling_samples=(100_000, 1_000_000, 10_000_000, 100_000_000),
    scaling_repeats=2,
    billion=True,
    startup=(2, 2),
    startup_commands=("simulate", "compile"),
    external_quick=False,
    budget_seconds=1500.0,  # room for the billion-sample point after every other section
)
QUICK = Sizes(
    name="quick",
    repeats=3,
    draws_per_loop=500_000,
    hand_samples=1_000_000,
    numpy_samples={"checkout": 300_000, "staged-30": 50_000},
    simpy_samples={"checkout": 1_000, "staged-30": 150},
    simpy_engine_samples={"checkout": 200_000, "staged-30": 50_000},
    accuracy_targets=(1e-4,),
    accuracy_samples={"engine": 200_000, "numpy": 200_000, "simpy": 1_000},
    threads=(("checkout", 2_000_000, False),),
    leaves=(10, 30),
    calls_per_point=3e6,
    leaves_details=False,
    empty_cache_leaves=(30,),
    bounds_leaves=(10, 30, 100),
    bounds_max_seconds=10.0,
    scaling_samples=(100_000, 1_000_000, 10_000_000),
    scaling_repeats=1,
    billion=False,
    startup=(1, 1),
    startup_commands=("simulate",),
    external_quick=True,
    budget_seconds=150.0,
)
TINY = Sizes(  # for tests of the machinery: seconds, not figures
    name="tiny",
    repeats=1,
    draws_per_loop=20_000,
    hand_samples=20_000,
    numpy_samples={"checkout": 5_000, "staged-30": 1_000},
    simpy_samples={"checkout": 100, "staged-30": 20},
    simpy_engine_samples={"checkout": 5_000, "staged-30": 1_000},
    accuracy_targets=(1e-3,),
    accuracy_samples={"engine": 10_000, "numpy": 10_000, "simpy": 100},
    threads=(("checkout", 20_000, False),),
    leaves=(4, 5),
    calls_per_point=2e4,
    leaves_details=True,
    empty_cache_leaves=(),
    bounds_leaves=(6, 12),
    bounds_max_seconds=10.0,
    scaling_samples=(20_000,),
    scaling_repeats=1,
    billion=False,
    startup=None,
    startup_commands=(),
    external_quick=True,
    budget_seconds=600.0,
)
PRESETS = {s.name: s for s in (FULL, QUICK, TINY)}
SECTIONS = (
    *("draws", "hand", "numpy", "simpy", "accuracy", "threads", "leaves", "bounds"),
    *("analytic", "samples", "startup", "dask", "rare", "cuda", "billion"),
)
BILLION = 1_000_000_000
BILLION_MARGIN_SECONDS = 15.0  # the process start and warm-up before the billion samples run

# --------------------------------------------------------------------------- running


class Runner:
    """Runs sections in order within a time budget, keeping results and errors."""

    def __init__(self, sizes: Sizes, log: Callable[[str], None]) -> None:
        self.sizes = sizes
        self.t0 = time.perf_counter()
        self.results: dict[str, Any] = {}
        self.seconds: dict[str, float] = {}
        self.log = log

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def remaining(self) -> float:
        return self.sizes.budget_seconds - self.elapsed()

    def section(self, name: str, fn: Callable[[], Any]) -> None:
        if name in self.sizes.skip:
            self.results[name] = {"error": "not run (skipped with --skip)"}
            return
        self.log(f"[{self.elapsed():6.1f}s] {name} ...")
        t0 = time.perf_counter()
        try:
            self.results[name] = fn()
        except Exception as err:  # a broken section must not stop the report
            self.results[name] = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc(limit=4)}
            self.log(f"    failed: {type(err).__name__}: {err}")
        self.seconds[name] = time.perf_counter() - t0


def external(name: str, quick: bool) -> dict:
    """``benchmarks.<name>.run(quick)``, or ``{"error": "not available: …"}``."""
    try:
        mod = importlib.import_module(f"benchmarks.{name}")
    except Exception as err:
        return {"error": f"not available: benchmarks/{name}.py cannot be imported ({type(err).__name__}: {err})"}
    fn = getattr(mod, "run", None)
    if not callable(fn):
        return {"error": f"not available: benchmarks/{name}.py has no run(quick)"}
    try:
        with LoadMeter() as meter:
            out = fn(quick)
    except Exception as err:
        return {"error": f"not available: {name}.run({quick}) raised {type(err).__name__}: {err}"}
    if not isinstance(out, dict):
        return {"error": f"not available: {name}.run() returned {type(out).__name__}, not a dict"}
    return {**out, "load": meter.result}


def measure(sizes: Sizes, log: Callable[[str], None] = print) -> Runner:
    """Run every section for ``sizes``; returns the runner holding results and timings."""
    from . import baselines as B
    from . import bench_engine as E
    from . import scaling as S
    from . import startup as U
    from .draws import KINDS, DrawCosts

    r = Runner(sizes, log)
    r.results["machine"] = machine()
    journeys = {"checkout": J.checkout(), "staged-30": J.retry_hedge_30()}
    rep = sizes.repeats
    costs = DrawCosts(sizes.draws_per_loop, min(rep, 3))

    def draws() -> dict:
        with LoadMeter() as meter:
            for kind in KINDS:
                costs.cost(kind)
        return {**costs.to_dict(), "load": meter.result}

    r.section("draws", draws)
    r.section("hand", lambda: E.compare_hand(sizes.hand_samples, rep, costs))
    r.section("numpy", lambda: [_with_draws(B.compare_numpy(journeys[k], n, rep), journeys[k], costs) for k, n in sizes.numpy_samples.items()])
    r.section(
        "simpy",
        lambda: [B.compare_simpy(journeys[k], n, min(rep, 3), sizes.simpy_engine_samples[k]) for k, n in sizes.simpy_samples.items()],
    )
    r.section("accuracy", lambda: S.accuracy_per_cost(list(sizes.accuracy_targets), sizes.accuracy_samples, min(rep, 3)))
    r.section("threads", lambda: S.threads_scaling([(k, journeys[k], n, det) for k, n, det in sizes.threads], min(rep, 3)))
    r.section(
        "leaves",
        lambda: S.leaves_scaling(
            list(sizes.leaves),
            sizes.calls_per_point,
            min(rep, 3),
            details=sizes.leaves_details,
            empty_cache_leaves=sizes.empty_cache_leaves,
            costs=costs,
        ),
    )
    r.section("bounds", lambda: S.bounds_scaling(list(sizes.bounds_leaves), min(rep, 3), sizes.bounds_max_seconds))
    r.section("analytic", lambda: _not_error(external("bench_analytic", sizes.external_quick)))
    r.section("samples", lambda: S.samples_scaling(list(sizes.scaling_samples), sizes.scaling_repeats, timeout=600))
    if sizes.startup is not None:
        r.section("startup", lambda: U.start_times(*sizes.startup, commands=sizes.startup_commands))  # type: ignore[misc]
    else:
        r.results["startup"] = {"error": "not run in this mode"}
    r.section("dask", lambda: _not_error(external("bench_dask", sizes.external_quick)))
    r.section("rare", lambda: _not_error(external("bench_rare", sizes.external_quick)))
    r.section("cuda", lambda: _not_error(external("bench_cuda", sizes.external_quick)))  # "not measured (no GPU)" without one
    if sizes.billion:
        r.section("billion", lambda: _billion(r))
    else:
        r.results["billion"] = {"ran": False, "why": f"not run in {sizes.name} mode"}
    return r


def _with_draws(row: dict, journey: Any, costs: Any) -> dict:
    """``row`` plus the engine's calls and draws per request on ``journey`` and their cost."""
    from .draws import draw_counts

    counts = draw_counts(journey, 20_000)
    return {**row, "engineDraws": counts, "engineDrawNsPerRequest": costs.per_request(counts["perRequest"])}


def _not_error(out: dict) -> dict:
    if "error" in out and len(out) <= 2:
        raise RuntimeError(out["error"].removeprefix("not available: "))
    return out


def billion_plan(samples_rows: list[dict], remaining: float) -> dict:
    """Whether 1e9 samples fit in ``remaining`` seconds at the throughput of the largest size
    measured (same settings, fresh process), with the prediction either way."""
    rows = [x for x in samples_rows if isinstance(x, dict) and "msps" in x]
    if not rows:
        return {"ran": False, "why": "no throughput was measured at smaller sizes to predict its duration"}
    top = max(rows, key=lambda x: x["samples"])
    predicted = BILLION / (top["msps"] * 1e6) + BILLION_MARGIN_SECONDS
    plan = {"predictedSeconds": predicted, "budgetLeftSeconds": max(remaining, 0.0), "fromSamples": top["samples"], "fromMsps": top["msps"]}
    if predicted > remaining:
        return {
            **plan,
            "ran": False,
            "why": f"predicted {predicted:.0f} s at the {top['msps']:.3g} M samples/s measured at {top['samples']:.0e} samples, "
            f"{max(remaining, 0.0):.0f} s of the time budget left",
        }
    return {**plan, "ran": True}


def _billion(r: Runner) -> dict:
    """1e9 samples on 2 threads in a fresh process, only if the measured throughput says it fits."""
    from . import scaling as S

    samples = r.results.get("samples")
    plan = billion_plan(samples if isinstance(samples, list) else [], r.remaining())
    if not plan["ran"]:
        return plan
    row = S.samples_scaling([BILLION], 1, timeout=max(60.0, r.remaining()))[0]
    return {**plan, "row": row}


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m benchmarks.run [--quick] --out FILE [--sizes …] [--skip …] [--note …]``."""
    from .report import plots, report, strip

    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the ~2 minute subset (small sizes)")
    p.add_argument("--out", type=Path, required=True, help="Markdown report to write; plots go beside it")
    p.add_argument("--sizes", choices=sorted(PRESETS), help="size preset (default: full, or quick with --quick)")
    p.add_argument("--skip", default="", help=f"comma-separated sections to skip: {', '.join(SECTIONS)}")
    p.add_argument("--note", default=None, help="a note for the report header")
    p.add_argument("--json", type=Path, default=None, help="also write the raw results as JSON")
    args = p.parse_args(argv)
    preset = PRESETS[args.sizes or ("quick" if args.quick else "full")]
    skip = frozenset(s.strip() for s in args.skip.split(",") if s.strip())
    unknown = skip - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections to skip: {', '.join(sorted(unknown))}")
    sizes = Sizes(**{**preset.__dict__, "skip": skip})

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    r = measure(sizes, log)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    prefix = "bench-" if sizes.name == "full" else f"bench-{sizes.name}-"
    try:
        files = plots(r.results, out.parent, prefix)
    except Exception as err:  # plots are a convenience; the tables carry the numbers
        log(f"plots failed: {type(err).__name__}: {err}")
        files = {}
    text = report(r, argv, args.note, files)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    if args.json is not None:
        args.json.write_text(json.dumps(strip(r.results), indent=1, default=str), encoding="utf-8")
    log(f"wrote {out} ({r.elapsed():.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
