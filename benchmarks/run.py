"""Run every benchmark of issue 8 and write the report: ``python -m benchmarks.run [--quick] --out FILE``.

``make bench`` writes ``reports/benchmarks.md`` (and ``reports/bench-*.png``) in under 10
minutes on 2 cores; ``make bench-quick`` a subset at small sizes in about a minute, written to
the ignored ``build/bench-quick/`` (timings differ run to run, so a smoke run must not rewrite
tracked files). Every section is measured in this run: ratios
are taken between figures measured side by side, absolute figures are quoted with the clock
they were measured on. A section that fails, or whose owner's module is missing, is reported as
"not available: <why>" and the run goes on.

Sections: the engine against a hand-written numba kernel (issue 15's checkout, from
``bench_engine``), against vectorised NumPy and against SimPy
(speed and agreement), accuracy per cost, scaling with threads, leaves and samples (with peak
memory), analytic bounds against leaves and for 200 leaves (``bench_analytic``), cold and warm
CLI start, the Dask backend (``bench_dask``), and — in full mode, only when the time budget
allows — a billion samples.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib
import json
import math
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import cpu_count, load_average, machine
from . import journeys as J

# --------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Sizes:
    """How much each section measures (see the presets below)."""

    name: str
    repeats: int
    numpy_samples: dict[str, int]
    simpy_samples: dict[str, int]
    simpy_engine_samples: dict[str, int]
    scaling_samples: tuple[int, ...]
    scaling_repeats: int
    billion: bool
    leaves: tuple[int, ...]
    calls_per_point: float
    threads_samples: dict[str, int]
    bounds_leaves: tuple[int, ...]
    bounds_max_seconds: float
    accuracy_targets: tuple[float, ...]
    accuracy_samples: dict[str, int]
    startup: tuple[int, int] | None
    external_quick: bool
    budget_seconds: float
    skip: frozenset[str] = field(default_factory=frozenset)


FULL = Sizes(
    name="full",
    repeats=5,
    numpy_samples={"checkout": 1_000_000, "staged-30": 200_000},
    simpy_samples={"checkout": 8_000, "staged-30": 800},
    simpy_engine_samples={"checkout": 1_000_000, "staged-30": 200_000},
    scaling_samples=(100_000, 1_000_000, 10_000_000, 100_000_000),
    scaling_repeats=2,
    billion=True,
    leaves=(10, 30, 100, 300, 1000),
    calls_per_point=2e6,
    threads_samples={"checkout": 2_000_000, "staged-30": 200_000},
    bounds_leaves=(10, 30, 100, 300, 1000),
    bounds_max_seconds=30.0,
    accuracy_targets=(1e-4, 3e-5, 1e-5),
    accuracy_samples={"engine": 1_000_000, "numpy": 1_000_000, "simpy": 5_000},
    startup=(2, 2),
    external_quick=False,
    budget_seconds=540.0,
)
QUICK = Sizes(
    name="quick",
    repeats=3,
    numpy_samples={"checkout": 300_000, "staged-30": 50_000},
    simpy_samples={"checkout": 1_000, "staged-30": 150},
    simpy_engine_samples={"checkout": 200_000, "staged-30": 50_000},
    scaling_samples=(100_000, 1_000_000, 10_000_000),
    scaling_repeats=1,
    billion=False,
    leaves=(10, 30, 100),
    calls_per_point=5e5,
    threads_samples={"checkout": 500_000},
    bounds_leaves=(10, 30, 100),
    bounds_max_seconds=10.0,
    accuracy_targets=(1e-4, 3e-5),
    accuracy_samples={"engine": 200_000, "numpy": 200_000, "simpy": 1_000},
    startup=None,
    external_quick=True,
    budget_seconds=120.0,
)
TINY = Sizes(  # for tests of the machinery: seconds, not figures
    name="tiny",
    repeats=1,
    numpy_samples={"checkout": 5_000, "staged-30": 1_000},
    simpy_samples={"checkout": 200, "staged-30": 40},
    simpy_engine_samples={"checkout": 5_000, "staged-30": 1_000},
    scaling_samples=(20_000,),
    scaling_repeats=1,
    billion=False,
    leaves=(6, 12),
    calls_per_point=2e4,
    threads_samples={"checkout": 20_000},
    bounds_leaves=(6, 12),
    bounds_max_seconds=10.0,
    accuracy_targets=(1e-3,),
    accuracy_samples={"engine": 10_000, "numpy": 10_000, "simpy": 100},
    startup=None,
    external_quick=True,
    budget_seconds=300.0,
)
PRESETS = {s.name: s for s in (FULL, QUICK, TINY)}
EXTERNAL = ("bench_engine", "bench_analytic", "bench_dask")
SECTIONS = ("engine", "numpy", "simpy", "accuracy", "threads", "leaves", "bounds", "analytic", "samples", "startup", "dask", "billion")

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
    # numba's on-disk cache pickles the defining module's name: entries written while the owner
    # ran the file as a top-level module (``import bench_engine``) must resolve here too
    sys.modules.setdefault(name, mod)
    fn = getattr(mod, "run", None)
    if not callable(fn):
        return {"error": f"not available: benchmarks/{name}.py has no run(quick)"}
    try:
        out = fn(quick)
    except Exception as err:
        return {"error": f"not available: {name}.run({quick}) raised {type(err).__name__}: {err}"}
    if not isinstance(out, dict):
        return {"error": f"not available: {name}.run() returned {type(out).__name__}, not a dict"}
    return out


def measure(sizes: Sizes, log: Callable[[str], None] = print) -> Runner:
    """Run every section for ``sizes``; returns the runner holding results and timings."""
    from . import baselines as B
    from . import scaling as S
    from . import startup as U

    r = Runner(sizes, log)
    r.results["machine"] = machine()
    checkout, staged = J.checkout(), J.retry_hedge_30()
    journeys = {"checkout": checkout, "staged-30": staged}
    rep = sizes.repeats

    r.section("engine", lambda: _not_error(external("bench_engine", sizes.external_quick)))
    r.section("numpy", lambda: [B.compare_numpy(journeys[k], n, rep) for k, n in sizes.numpy_samples.items()])
    r.section(
        "simpy",
        lambda: [B.compare_simpy(journeys[k], n, min(rep, 3), sizes.simpy_engine_samples[k]) for k, n in sizes.simpy_samples.items()],
    )
    r.section("accuracy", lambda: S.accuracy_per_cost(list(sizes.accuracy_targets), sizes.accuracy_samples, min(rep, 3)))
    r.section("threads", lambda: S.threads_scaling([(k, journeys[k], n) for k, n in sizes.threads_samples.items()], min(rep, 3)))
    r.section("leaves", lambda: S.leaves_scaling(list(sizes.leaves), sizes.calls_per_point, min(rep, 3)))
    r.section("bounds", lambda: S.bounds_scaling(list(sizes.bounds_leaves), min(rep, 3), sizes.bounds_max_seconds))
    r.section("analytic", lambda: _not_error(external("bench_analytic", sizes.external_quick)))
    r.section("samples", lambda: S.samples_scaling(list(sizes.scaling_samples), sizes.scaling_repeats, timeout=300))
    if sizes.startup is not None:
        r.section("startup", lambda: U.start_times(*sizes.startup))
    else:
        r.results["startup"] = {"error": "not run in this mode (quick runs quote bench_engine's cold/warm `emac simulate` instead)"}
    r.section("dask", lambda: _not_error(external("bench_dask", sizes.external_quick)))
    if sizes.billion:
        r.section("billion", lambda: _billion(r))
    return r


def _not_error(out: dict) -> dict:
    if "error" in out and len(out) == 1:
        raise RuntimeError(out["error"].removeprefix("not available: "))
    return out


def _billion(r: Runner) -> dict:
    """1e9 samples in a subprocess, only if the measured throughput says it fits the budget."""
    from . import scaling as S

    rows = [x for x in r.results.get("samples") or [] if isinstance(x, dict) and "msps" in x]
    if not rows:
        return {"ran": False, "why": "no throughput measured at smaller sizes"}
    msps = rows[-1]["msps"]
    predicted = 1e9 / (msps * 1e6) + 5.0
    left = r.remaining() - 15.0
    if predicted > left:
        return {"ran": False, "predictedSeconds": predicted, "budgetLeftSeconds": max(left, 0.0), "why": "does not fit the time budget"}
    row = S.samples_scaling([1_000_000_000], 1, timeout=max(60.0, left))[0]
    return {"ran": True, "predictedSeconds": predicted, "row": row}


# --------------------------------------------------------------------------- targets


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.{digits}g}"


def _met(ok: bool | None) -> str:
    return "—" if ok is None else ("**met**" if ok else "**not met**")


def _ok(res: Any) -> bool:
    return isinstance(res, (dict, list)) and not (isinstance(res, dict) and "error" in res)


FLAT_THROUGHPUT = 1.5  # max/min throughput over sizes ≥ 1e6 for "flat"
FLAT_MEMORY = 1.10  # largest/smallest peak RSS for "flat"
LINEAR = (0.85, 1.15)  # log-log slope of seconds per request against leaves for "linear"
ORDERS = 100.0  # "orders of magnitude": at least 100×


def targets(res: dict) -> list[tuple[str, str, str, str]]:
    """(figure, target, measured, verdict) rows of the summary table."""
    rows: list[tuple[str, str, str, str]] = []
    eng = res.get("engine")
    if _ok(eng) and "throughput" in eng:
        th = eng["throughput"]
        ratio = th.get("ratioEngineToHand")
        rows.append(("Engine vs hand kernel, checkout (time ratio)", "≤ 1.5×", f"{_fmt(ratio)}×", _met(ratio is not None and ratio <= 1.5)))
    else:
        rows.append(("Engine vs hand kernel, checkout (time ratio)", "≤ 1.5×", "not available", "—"))
    for row in res.get("numpy") or [] if _ok(res.get("numpy")) else []:
        goal = 3.0 if row["journey"] == "checkout" else 10.0
        rows.append(
            (
                f"Engine vs vectorised NumPy, {_label(row['journey'])} (speed-up)",
                f"≥ {goal:g}×",
                f"{_fmt(row['speedup'])}×",
                _met(row["speedup"] >= goal),
            )
        )
    if _ok(res.get("numpy")):
        agree = all(row["agreement"]["all"] for row in res["numpy"])
        rows.append(("NumPy agrees with the engine within intervals", "agree", "yes" if agree else "no", _met(agree)))
    for row in res.get("simpy") or [] if _ok(res.get("simpy")) else []:
        rows.append(
            (
                f"Engine vs SimPy, {_label(row['journey'])} (speed-up)",
                f"orders of magnitude (≥ {ORDERS:g}×)",
                f"{_fmt(row['speedup'])}×",
                _met(row["speedup"] >= ORDERS),
            )
        )
    if _ok(res.get("simpy")):
        agree = all(row["agreement"]["all"] for row in res["simpy"])
        rows.append(("SimPy agrees with the engine within intervals", "agree", "yes" if agree else "no", _met(agree)))
    samples = [x for x in res.get("samples") or [] if isinstance(x, dict) and "msps" in x] if _ok(res.get("samples")) else []
    bil = res.get("billion")
    if _ok(bil) and bil.get("ran") and "msps" in bil["row"]:
        samples = samples + [bil["row"]]
    if samples:
        big = [x["msps"] for x in samples if x["samples"] >= 1_000_000] or [x["msps"] for x in samples]
        spread = max(big) / min(big)
        top = max(x["samples"] for x in samples)
        rows.append(
            (
                f"Throughput vs samples (1e6 … {_n(top)})",
                f"flat (max/min ≤ {FLAT_THROUGHPUT:g})",
                f"max/min {_fmt(spread)}",
                _met(spread <= FLAT_THROUGHPUT),
            )
        )
        rss = [x["peakRssMb"] for x in samples]
        growth = max(rss) / min(rss)
        rows.append(
            (
                f"Peak memory vs samples ({_n(samples[0]['samples'])} … {_n(top)})",
                f"flat (max/min ≤ {FLAT_MEMORY:g})",
                f"{_fmt(min(rss), 4)} → {_fmt(max(rss), 4)} MiB",
                _met(growth <= FLAT_MEMORY),
            )
        )
    lv = res.get("leaves")
    if _ok(lv) and len(lv["rows"]) >= 2:
        lo, hi = LINEAR
        span = f"{lv['rows'][0]['leaves']} … {lv['rows'][-1]['leaves']}"
        rows.append(
            (
                f"Time per request vs leaves ({span}), engine defaults",
                f"linear (log-log slope {lo:g} … {hi:g})",
                f"slope {_fmt(lv['slope'])}",
                _met(lo <= lv["slope"] <= hi),
            )
        )
        rows.append(
            (
                f"Time per request vs leaves ({span}), Birnbaum off",
                f"linear (log-log slope {lo:g} … {hi:g})",
                f"slope {_fmt(lv['slopeNoBirnbaum'])}",
                _met(lo <= lv["slopeNoBirnbaum"] <= hi),
            )
        )
    th = res.get("threads")
    if _ok(th):
        for row in th:
            rows.append((f"Threads 1 → 2, {_label(row['journey'])} (speed-up, wall)", "— (no target)", f"{_fmt(row['speedup'])}×", "—"))
    an = res.get("analytic")
    if _ok(an) and "seconds" in an:
        goal = an.get("targetSeconds", 2.0)
        rows.append(
            (f"Analytic bounds, {an.get('leaves', 200)}-leaf journey", f"< {goal:g} s", f"{_fmt(an['seconds'])} s", _met(an["seconds"] < goal))
        )
    return rows


def _n(x: float) -> str:
    """Sample counts as 1e5, 2.5e6 …"""
    mant, exp = f"{x:.1e}".split("e")
    return f"{mant.rstrip('0').rstrip('.')}e{int(exp)}"


def _label(journey: str) -> str:
    return {"checkout": "checkout", "staged-30": "30-leaf retries + hedges"}.get(journey, journey)


# --------------------------------------------------------------------------- plots


def plots(res: dict, out_dir: Path, prefix: str) -> dict[str, str]:
    """Write ``<prefix>leaves.png`` and ``<prefix>samples.png``; returns {figure: file name}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")

    def tidy(ax) -> None:
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)

    files: dict[str, str] = {}
    lv, bd = res.get("leaves"), res.get("bounds")
    if _ok(lv) and lv["rows"]:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        xs = [r["leaves"] for r in lv["rows"]]
        ax = axes[0]
        ax.loglog(xs, [1e6 / r["sps"] for r in lv["rows"]], "o-", label="engine (defaults: Birnbaum importance on a sub-sample)")
        ax.loglog(xs, [1e6 / r["spsNoBirnbaum"] for r in lv["rows"]], "s-", label="engine, Birnbaum off")
        base = 1e6 / lv["rows"][0]["spsNoBirnbaum"]
        ax.loglog(xs, [base * x / xs[0] for x in xs], "k:", label="linear reference")
        ax.set_xlabel("leaves (distinct components in the journey)")
        ax.set_ylabel("µs per request (one thread, CPU time)")
        ax.set_title("Simulation cost vs leaves")
        ax.legend(fontsize=8)
        tidy(ax)
        ax = axes[1]
        if _ok(bd) and bd["rows"]:
            bx = [r["leaves"] for r in bd["rows"]]
            ax.loglog(bx, [r["cpuSeconds"] for r in bd["rows"]], "o-", color="C2", label="bounds() CPU time")
            ax.loglog(bx, [bd["rows"][0]["cpuSeconds"] * x / bx[0] for x in bx], "k:", label="linear reference")
            ax.legend(fontsize=8)
        ax.set_xlabel("leaves")
        ax.set_ylabel("seconds")
        ax.set_title("Analytic bounds time vs leaves")
        tidy(ax)
        fig.tight_layout()
        name = f"{prefix}leaves.png"
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        files["leaves"] = name
    samples = [x for x in res.get("samples") or [] if isinstance(x, dict) and "msps" in x] if _ok(res.get("samples")) else []
    bil = res.get("billion")
    if _ok(bil) and bil.get("ran") and "msps" in bil["row"]:
        samples = samples + [bil["row"]]
    if samples:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        xs = [x["samples"] for x in samples]
        axes[0].semilogx(xs, [x["msps"] for x in samples], "o-")
        axes[0].set_ylim(bottom=0)
        axes[0].set_xlabel("samples per run")
        axes[0].set_ylabel("million samples / s (wall, all CPUs)")
        axes[0].set_title("Throughput vs samples (checkout)")
        axes[0].grid(True, which="both", alpha=0.3)
        axes[1].semilogx(xs, [x["peakRssMb"] for x in samples], "o-", color="C1")
        axes[1].set_ylim(bottom=0)
        axes[1].set_xlabel("samples per run")
        axes[1].set_ylabel("peak RSS of the process (MiB)")
        axes[1].set_title("Peak memory vs samples")
        axes[1].grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        name = f"{prefix}samples.png"
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        files["samples"] = name
    return files


# --------------------------------------------------------------------------- report


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _na(res: Any) -> str | None:
    if res is None:
        return "not available: not run"
    if isinstance(res, dict) and "error" in res:
        msg = str(res["error"])
        return msg if msg.startswith(("not available", "not run")) else f"not available: {msg}"
    return None


def _yes(b: bool) -> str:
    return "yes" if b else "**no**"


def _agree(a: dict) -> str:
    parts = [f"z = {a['availabilityZ']:.2f}"] + [f"{k} {'✓' if v else '✗'}" for k, v in a.items() if k.startswith("p")]
    return ("agree" if a["all"] else "**disagree**") + f" ({', '.join(parts)})"


def report(r: Runner, argv: list[str], note: str | None, plot_files: dict[str, str]) -> str:
    """The Markdown report."""
    res = r.results
    m = res["machine"]
    sizes = r.sizes
    end_load = load_average()
    out: list[str] = []
    cmd = "make bench" if sizes.name == "full" else ("make bench-quick" if sizes.name == "quick" else "python -m benchmarks.run")
    out.append("# emac-sim benchmarks" + ("" if sizes.name == "full" else f" ({sizes.name} subset)"))
    out.append("")
    out.append(f"Generated by `{cmd}` (`python -m benchmarks.run {' '.join(argv)}`); do not edit by hand.")
    out.append("")
    out.append(
        _table(
            ["", ""],
            [
                ["date (UTC)", _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M")],
                ["commit", f"`{m['commit']}`"],
                ["CPU", f"{m['cpu']} — {m['cpus']} CPUs available to the process ({m['logicalCpus']} logical)"],
                ["threads used", f"1 for single-thread comparisons; {cpu_count()} for `simulate` scaling and accuracy runs"],
                ["1-min load average", f"{m['loadAverage']:.2f} at start, {end_load:.2f} at end"],
                ["software", f"Python {m['python']}, NumPy {m['numpy']}, numba {m['numba']}"],
                ["mode / total time", f"{sizes.name}, {r.elapsed():.0f} s"],
            ],
        )
    )
    out.append("")
    if note:
        out.append(f"> **Note.** {note}")
        out.append("")
    busy = max(m["loadAverage"], end_load) > 1.5
    if busy:
        out.append(
            f"> **The machine was busy** (load average up to {max(m['loadAverage'], end_load):.1f} on {m['cpus']} CPUs). "
            "Single-thread comparisons use process CPU time and are little affected; wall-time figures "
            "(threads, samples scaling, start-up, Dask) are pessimistic."
        )
        out.append("")
    out.append(
        "Clocks: comparisons between the engine and a baseline run both single-threaded, interleaved, and "
        "time the process's CPU time (`time.process_time`); multi-threaded and end-to-end figures use wall "
        "time. Every figure is the median of the runs stated (bench_engine reports the best of its repeats, "
        "on thread CPU time)."
    )
    out.append("")

    out.append("## Targets")
    out.append("")
    out.append(_table(["figure", "target", "measured", "verdict"], [list(t) for t in targets(res)]))
    out.append("")
    out.extend(_why(res))

    # ---- 1. hand kernel
    out.append("## 1. Engine vs a hand-specialised numba kernel")
    out.append("")
    out.append(
        "The hand kernel (`bench_engine.checkout_by_hand`) spells issue 15's checkout out in code with the fastest "
        "sampling numba offers (12 ziggurat normals from `np.random.Generator` and 5 `exp` per journey, a log-bucket "
        "histogram). It draws in its own order, so it agrees with the engine in distribution (checked: availability "
        "within 5σ, p99 intervals overlap). One thread; ratio = engine time / hand-kernel time; the engine runs "
        "`simulate(workers=1)` with details off (as validation and sweeps run it) and on (as `emac simulate` does)."
    )
    out.append("")
    eng = res.get("engine")
    if _ok(eng) and "throughput" in eng:
        th = eng["throughput"]
        out.append(
            _table(
                ["journey", "samples", "hand M/s", "engine M/s", "engine, details M/s", "engine/hand time (details off / on)", "agree", "clock"],
                [
                    [
                        str(th.get("journey", "checkout")),
                        f"{th.get('samples', 0):,}",
                        _fmt(th.get("handKernelMsps")),
                        _fmt(th.get("engineMsps")),
                        _fmt(th.get("engineDetailsMsps")),
                        f"{_fmt(th.get('ratioEngineToHand'))}× / {_fmt(th.get('ratioEngineDetailsToHand'))}×",
                        _yes(bool(th.get("agree"))),
                        str(th.get("clock", "best of repeats")),
                    ]
                ],
            )
        )
    if _na(eng):
        out.append(f"\ncheckout (bench_engine): {_na(eng)}")
    out.append("")

    # ---- 2. NumPy
    out.append("## 2. Engine vs vectorised NumPy")
    out.append("")
    out.append(
        "`benchmarks/baselines.py: NumpyJourney` evaluates the operator tree over arrays of requests: every "
        "call, retry attempt and hedge is computed for every request and masked afterwards. Both sides "
        "include their summaries (availability interval, latency quantiles); the engine runs `simulate(workers=1)`."
    )
    out.append("")
    if _na(res.get("numpy")):
        out.append(_na(res.get("numpy")) or "")
    else:
        rows = []
        for row in res["numpy"]:
            rows.append(
                [
                    _label(row["journey"]),
                    f"{row['samples']:,}",
                    _fmt(row["engineMsps"]),
                    _fmt(row["numpyMsps"]),
                    f"{_fmt(row['speedup'])}×",
                    str(row["numpyLeafEvaluationsPerRequest"]),
                    _agree(row["agreement"]),
                ]
            )
        out.append(
            _table(
                ["journey", "samples", "engine M/s", "NumPy M/s", "speed-up", "NumPy leaf evaluations / request", "agreement (99.9 % intervals)"],
                rows,
            )
        )
        out.append("")
        out.append(_estimates_table(res["numpy"], "numpy", "NumPy"))
    out.append("")

    # ---- 3. SimPy
    out.append("## 3. Engine vs a SimPy discrete-event model")
    out.append("")
    out.append(
        "`benchmarks/baselines.py: SimPyJourney`: requests arrive as a Poisson stream; each request and each call "
        "is a SimPy process, fan-out and races are `AllOf` / `AnyOf` conditions, per-try timeouts and deadlines "
        "race a timeout event. Agreement pools the SimPy runs and compares with the engine's last run."
    )
    out.append("")
    if _na(res.get("simpy")):
        out.append(_na(res.get("simpy")) or "")
    else:
        rows = [
            [
                _label(row["journey"]),
                f"{row['repeats']} × {row['samples']:,}",
                f"{row['simpySps']:,.0f}",
                f"{row['engineSps']:,.0f}",
                f"{row['speedup']:,.0f}×",
                _agree(row["agreement"]),
            ]
            for row in res["simpy"]
        ]
        out.append(_table(["journey", "SimPy requests", "SimPy requests/s", "engine requests/s", "speed-up", "agreement (99.9 % intervals)"], rows))
        out.append("")
        out.append(_estimates_table(res["simpy"], "simpy", "SimPy"))
    out.append("")

    # ---- 4. scaling
    out.append("## 4. Scaling")
    out.append("")
    out.append("### 4.1 Throughput and peak memory vs samples")
    out.append("")
    out.append(
        "`simulate(checkout, samples=n)` on every CPU, each size in a fresh subprocess after a 1e5-sample warm-up; "
        "peak RSS is the subprocess's high-water mark (`VmHWM` of /proc/self/status), after the warm-up and at the end."
    )
    out.append("")
    if _na(res.get("samples")):
        out.append(_na(res.get("samples")) or "")
    else:
        srows = list(res["samples"])
        bil = res.get("billion")
        if _ok(bil) and bil.get("ran"):
            srows.append(bil["row"])
        rows = []
        for x in srows:
            if "error" in x:
                rows.append([_n(x["samples"]), "—", "—", "—", "—", "—", f"not available: {x['error']}"])
            else:
                rows.append(
                    [
                        _n(x["samples"]),
                        str(x["repeats"]),
                        _fmt(x["seconds"]),
                        _fmt(x["msps"]),
                        _fmt(x["warmRssMb"], 4),
                        _fmt(x["peakRssMb"], 4),
                        f"load {x['loadAverage']:.1f}",
                    ]
                )
        head = ["samples", "runs", "seconds (median, wall)", "M samples/s", "peak RSS after warm-up MiB", "peak RSS at end MiB", "note"]
        out.append(_table(head, rows))
        if isinstance(bil, dict) and not bil.get("ran", True) and "why" in bil:
            extra = f" (predicted {bil['predictedSeconds']:.0f} s, {bil['budgetLeftSeconds']:.0f} s left)" if "predictedSeconds" in bil else ""
            out.append("")
            out.append(f"1e9 samples: not run — {bil['why']}{extra}.")
        elif r.sizes.name != "full":
            out.append("")
            out.append("This mode stops at the sizes above; the full run goes to 1e8 and to 1e9 when the budget allows.")
    if "samples" in plot_files:
        out.append("")
        out.append(f"![throughput and memory vs samples]({plot_files['samples']})")
    out.append("")

    out.append("### 4.2 Cost vs leaves")
    out.append("")
    lv = res.get("leaves")
    if _na(lv):
        out.append(_na(lv) or "")
    else:
        out.append(
            "Staged journeys (`benchmarks/journeys.py`: a series cycling through a retried call, a fan-out of three "
            "retried shards and a hedged pair of retried replicas) of L leaves; one thread, one block, process CPU time, "
            f"median of {lv['repeats']}. Compile time (`compile_journey`, wall) is apart."
        )
        out.append("")
        rows = [
            [
                str(x["leaves"]),
                f"{x['samples']:,}",
                _fmt(x["callsPerSample"]),
                f"{x['sps']:,.0f}",
                f"{x['spsNoBirnbaum']:,.0f}",
                _fmt(x["nsPerCall"]),
                _fmt(x["nsPerCallNoBirnbaum"]),
                str(x.get("birnbaumStride", "—")),
                _fmt(x["compileSeconds"]),
            ]
            for x in lv["rows"]
        ]
        out.append(
            _table(
                [
                    "leaves",
                    "samples",
                    "calls / request",
                    "requests/s",
                    "requests/s, Birnbaum off",
                    "ns / call",
                    "ns / call, Birnbaum off",
                    "Birnbaum stride (default)",
                    "compile s",
                ],
                rows,
            )
        )
        out.append("")
        out.append(
            f"Log-log slope of seconds per request against leaves: {_fmt(lv['slope'])} with the engine's defaults, "
            f"{_fmt(lv['slopeNoBirnbaum'])} with Birnbaum importance off (1 = linear). Each distinct gamma (or mixture) "
            f"latency distribution costs the compiler {1e3 * lv['gammaTableSeconds']:.0f} ms for its quantile table; the "
            "generated journeys draw gamma profiles from a small catalogue, so compile time stays small."
        )
    out.append("")

    out.append("### 4.3 Analytic bounds vs leaves")
    out.append("")
    bd = res.get("bounds")
    if _na(bd):
        out.append(_na(bd) or "")
    else:
        rows = [[str(x["leaves"]), _fmt(x["cpuSeconds"]), _fmt(x["seconds"]), str(x["repeats"])] for x in bd["rows"]]
        out.append(_table(["leaves", "bounds() CPU s (median)", "wall s", "runs"], rows))
        out.append("")
        out.append(f"Log-log slope of CPU time against leaves: {_fmt(bd['slope'])}.")
        if bd["skipped"]:
            out.append(f" Not run (a smaller journey took over {bd['maxSeconds']:g} s): {', '.join(map(str, bd['skipped']))} leaves.")
    if "leaves" in plot_files:
        out.append("")
        out.append(f"![cost vs leaves]({plot_files['leaves']})")
    out.append("")

    out.append("### 4.4 Threads")
    out.append("")
    th = res.get("threads")
    if _na(th):
        out.append(_na(th) or "")
    else:
        rows = [
            [
                _label(x["journey"]),
                f"{x['samples']:,}",
                _fmt(x["oneThreadMsps"]),
                _fmt(x["twoThreadMsps"]),
                f"{_fmt(x['speedup'])}×",
                _yes(x["identical"]),
                f"{x['loadAverage']:.1f}",
            ]
            for x in th
        ]
        out.append(_table(["journey", "samples", "1 thread M/s", "2 threads M/s", "speed-up", "identical results", "load at start"], rows))
        out.append("")
        out.append("`simulate(workers=1|2)`, wall time, interleaved, medians; the result dictionaries must be identical.")
        if any(x["loadAverage"] > 0.5 * m["cpus"] for x in th):
            out.append(
                "The load average shows other processes competing for the CPUs: a second thread then gains less than an "
                "idle core would give, so these speed-ups understate the engine's scaling."
            )
    out.append("")

    # ---- 5. startup
    out.append("## 5. Cold and warm start")
    out.append("")
    st = res.get("startup")
    if _na(st):
        out.append(_na(st) or "")
        if _ok(eng) and "startup" in eng:
            s = eng["startup"]
            out.append("")
            out.append(
                f"bench_engine (`emac simulate configs/checkout.yaml --samples 1e5`, empty numba cache vs warm): "
                f"cold {_fmt(s.get('coldSeconds'))} s, warm {_fmt(s.get('warmSeconds'))} s (wall)."
            )
    else:
        out.append(
            "Each run a fresh subprocess of the `emac` console script; cold = a new empty kernel cache (`EMAC_CACHE_DIR`) "
            "(every kernel compiles), warm = the cache the cold run filled. Medians."
        )
        out.append("")
        rows = []
        for command in ("simulate", "compile"):
            if command in st:
                s = st[command]
                rows.append(
                    [
                        "`" + " ".join(s["argv"]) + "`",
                        _fmt(s["coldSeconds"]),
                        _fmt(s["coldCpuSeconds"]),
                        _fmt(s["warmSeconds"]),
                        _fmt(s["warmCpuSeconds"]),
                        f"{len(s['runs']['cold'])} / {len(s['runs']['warm'])}",
                    ]
                )
        out.append(_table(["command", "cold wall s", "cold CPU s", "warm wall s", "warm CPU s", "runs cold / warm"], rows))
        out.append("")
        out.append("`emac compile` exits 1 on the checkout by design (governance FAIL: A⁻ = 0.99251449 < 0.995).")
    out.append("")

    # ---- 6. accuracy
    out.append("## 6. Accuracy per cost (four-nines journey)")
    out.append("")
    ac = res.get("accuracy")
    if _na(ac):
        out.append(_na(ac) or "")
    else:
        out.append(f"`{ac['expression']}`; exact availability {ac['exact']:.8f} (analytic). 95 % Wilson intervals.")
        out.append("")
        rows = [
            [
                _n(x["targetHalfWidth"]),
                f"{x['samples']:,}",
                _fmt(x["seconds"]),
                f"{x['estimate']:.8f}",
                f"{x['halfWidth']:.2e}",
                f"{x['halfWidthPerSqrtSecond']:.2e}",
                f"{x['covering']} / {x['runs']}",
            ]
            for x in ac["runs"]
        ]
        out.append(
            _table(
                [
                    "`--target-ci`",
                    "samples used",
                    "seconds (wall, all CPUs)",
                    "estimate",
                    "half-width reached",
                    "half-width × √seconds",
                    "runs whose interval covers the exact value",
                ],
                rows,
            )
        )
        out.append("")
        out.append(
            "Samples and seconds are medians over the runs (each its own seed); estimate and half-width are the last run's. "
            "A 95 % interval misses the exact value in about one run in twenty."
        )
        out.append("")
        rows = [
            [
                name,
                f"{v['samplesPerCpuSecond']:,.0f}",
                f"{v['halfWidthPerCpuSecond']:.2e}",
                _fmt(v["cpuSecondsTo1e-5"]),
            ]
            for name, v in ac["perMethod"].items()
        ]
        out.append(_table(["method (one thread)", "requests / CPU-second", "half-width bought by 1 CPU-second", "CPU-seconds to ±1e-5"], rows))
        out.append("")
        out.append(
            "Half-width per CPU-second is z·√(p(1 − p)/r) at the measured rate r; halving it costs four times the samples, "
            "so the ratio of rates is the ratio of costs at any precision."
        )
    out.append("")

    # ---- 7. dask
    out.append("## 7. Dask: 2 threads vs 2 local workers")
    out.append("")
    dk = res.get("dask")
    if _na(dk):
        out.append(_na(dk) or "")
    else:
        rows = [
            ["samples / blocks / tasks", f"{dk.get('samples', 0):,} / {dk.get('blocks')} / {dk.get('tasks')}"],
            ["2 threads", f"{_fmt(dk.get('threads', {}).get('samplesPerSecond', float('nan')) / 1e6)} M samples/s"],
            ["2 Dask workers (1 thread each)", f"{_fmt(dk.get('dask', {}).get('samplesPerSecond', float('nan')) / 1e6)} M samples/s"],
            ["Dask / threads throughput", _fmt(dk.get("daskOverThreads"))],
            ["overhead per block (default batching)", f"{_fmt(dk.get('overheadPerBlockMs'))} ms"],
            ["overhead per task (one 64-sample block each)", f"{_fmt(dk.get('overheadPerTaskMs'))} ms"],
            ["cluster start + warm-up", f"{_fmt(dk.get('clusterStartSeconds'))} s"],
            ["identical results", _yes(bool(dk.get("identical")))],
            ["repeats", str(dk.get("repeats"))],
        ]
        out.append(_table(["benchmarks/bench_dask.py", ""], rows))
    out.append("")

    # ---- 8. analytic 200 leaves
    out.append("## 8. Analytic bounds for a 200-leaf journey")
    out.append("")
    an = res.get("analytic")
    if _na(an):
        out.append(_na(an) or "")
    else:
        out.append(
            _table(
                ["benchmarks/bench_analytic.py", ""],
                [
                    ["leaves / nodes / sharable domains", f"{an.get('leaves')} / {an.get('nodes')} / {an.get('sharableDomains')}"],
                    ["bounds() seconds", f"{_fmt(an.get('seconds'))} (best of {an.get('runs')})"],
                    ["target", f"< {an.get('targetSeconds')} s: {_met(an.get('withinTarget'))}"],
                ],
            )
        )
    out.append("")

    # ---- 9. bench_engine cross-checks
    out.append("## 9. Engine owner's figures (bench_engine)")
    out.append("")
    if _na(eng):
        out.append(_na(eng) or "")
    else:
        rows = []
        if "scaling" in eng:
            s = eng["scaling"]
            rows.append(
                ["threads 1 → 2 (checkout)", f"{_fmt(s.get('speedup'))}× over {s.get('samples', 0):,} samples, identical: {s.get('identical')}"]
            )
        if "memory" in eng:
            s = eng["memory"]
            rows.append(
                [
                    "peak RSS",
                    f"{_fmt(s.get('peakRssSmallMb'), 4)} MiB at {_n(s.get('smallSamples', 0))}"
                    f" → {_fmt(s.get('peakRssLargeMb'), 4)} MiB at {_n(s.get('largeSamples', 0))} (ru_maxrss of a subprocess: "
                    "Linux carries it across exec, so it includes the parent's size at fork; 4.1 reads VmHWM instead)",
                ]
            )
        if "startup" in eng:
            s = eng["startup"]
            rows.append(["`emac simulate` start", f"cold {_fmt(s.get('coldSeconds'))} s, warm {_fmt(s.get('warmSeconds'))} s"])
        if "throughput" in eng and "paperCheckoutNoLatencyMsps" in eng["throughput"]:
            rows.append(["paper checkout (no latency), engine", f"{_fmt(eng['throughput']['paperCheckoutNoLatencyMsps'])} M samples/s"])
        out.append(_table(["figure", "value"], rows) if rows else "(no further figures)")
    out.append("")

    out.append("## Section times")
    out.append("")
    out.append(_table(["section", "seconds"], [[k, f"{v:.1f}"] for k, v in r.seconds.items()]))
    out.append("")
    out.append("<details><summary>Raw results (JSON)</summary>")
    out.append("")
    out.append("```json")
    out.append(json.dumps(_strip(res), indent=1, default=str))
    out.append("```")
    out.append("")
    out.append("</details>")
    out.append("")
    return "\n".join(out)


def _estimates_table(rows: list[dict], key: str, label: str) -> str:
    body = []
    for row in rows:
        for who, d in (("engine", row["engine"]), (label, row[key])):
            lat = d.get("latency") or {}
            body.append(
                [
                    _label(row["journey"]),
                    who,
                    f"{d['samples']:,}",
                    f"{d['availability']:.6f} [{d['availabilityCi'][0]:.6f}, {d['availabilityCi'][1]:.6f}]",
                ]
                + [(f"{1e3 * lat[q]['estimate']:.1f}" if q in lat else "—") for q in ("p50", "p90", "p99", "p999")]
            )
    return _table(["journey", "route", "requests", "availability [99.9 % interval]", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms"], body)


def _why(res: dict) -> list[str]:
    """Short explanations, driven by the measured numbers, for the targets not met."""
    lines: list[str] = []
    eng, nump, simp, lv = res.get("engine"), res.get("numpy"), res.get("simpy"), res.get("leaves")
    slow = []
    if _ok(eng) and "throughput" in eng and (eng["throughput"].get("ratioEngineToHand") or 0) > 1.5:
        th = eng["throughput"]
        slow.append(f"checkout {_fmt(th.get('engineMsps'))} vs {_fmt(th.get('handKernelMsps'))} M requests/s")
    if slow:
        lines.append(
            "- **Hand kernel** (engine vs hand: "
            + "; ".join(slow)
            + "). Both run straight-line code; the engine reads every parameter from an array (so one kernel serves a "
            "what-if sweep), draws only the calls a request makes, and pays the per-block Python overhead of `simulate`."
        )
    if _ok(nump):
        for row in nump:
            goal = 3.0 if row["journey"] == "checkout" else 10.0
            if row["speedup"] >= goal:
                continue
            np_ns = 1e3 / row["numpyMsps"] / row["numpyLeafEvaluationsPerRequest"]
            eng_ns = 1e3 / row["engineMsps"] / row["engineCallsPerRequest"]
            lines.append(
                f"- **NumPy, {_label(row['journey'])}** ({_fmt(row['speedup'])}×, target {goal:g}×). NumPy evaluates "
                f"{row['numpyLeafEvaluationsPerRequest']} leaves per request (every attempt and hedge, masked afterwards) "
                f"against the engine's {row['engineCallsPerRequest']:.1f} calls, but spends {np_ns:.0f} ns per leaf "
                f"evaluation (array passes of `Generator.lognormal`/`gamma`, `where`, `minimum`) where the engine spends "
                f"{eng_ns:.0f} ns per call: the engine's per-call cost decides the ratio, not NumPy's wasted work."
            )
    if _ok(simp):
        for row in simp:
            if row["speedup"] < ORDERS:
                lines.append(f"- **SimPy, {_label(row['journey'])}**: {row['speedup']:,.0f}×, below {ORDERS:g}×.")
    if _ok(lv) and lv["rows"]:
        lo, hi = LINEAR
        last = lv["rows"][-1]
        if not lo <= lv["slope"] <= hi and lo <= lv["slopeNoBirnbaum"] <= hi:
            lines.append(
                f"- **Leaves.** With Birnbaum importance off the cost per call stays near {_fmt(last['nsPerCallNoBirnbaum'])} ns up "
                f"to {last['leaves']} leaves. With the defaults every {last.get('birnbaumStride', '?')}th request is re-run once per "
                "component it called (forced down, and forced up where a call failed), each re-run a walk of the journey up "
                "to the forced failure: about L/(2·stride) extra requests' worth of work per request, quadratic in L for a fixed stride "
                f"({_fmt(last['sps'] and last['spsNoBirnbaum'] / last['sps'])}× slower than without it at {last['leaves']} leaves)."
            )
    if lines:
        lines.append("")
    return lines


def _strip(obj: Any) -> Any:
    """Results without tracebacks and raw per-run lists (kept short for the report)."""
    if isinstance(obj, dict):
        return {k: _strip(v) for k, v in obj.items() if k not in ("traceback", "seconds_raw")}
    if isinstance(obj, list):
        return [_strip(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    return obj


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m benchmarks.run [--quick] --out FILE [--sizes …] [--skip …] [--note …]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the ~1 minute subset (small sizes)")
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
        args.json.write_text(json.dumps(_strip(r.results), indent=1, default=str), encoding="utf-8")
    log(f"wrote {out} ({r.elapsed():.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
