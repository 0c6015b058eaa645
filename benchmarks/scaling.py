"""How the engine's cost scales: with samples, leaves and threads; its memory; analytic bounds
time with leaves; and accuracy per cost on a four-nines journey (issues 8 and 15).

* :func:`samples_scaling` — ``simulate`` of the checkout at 1e5 … 1e9 samples on 2 threads, each
  size in a fresh process (wall time): throughput, and the process's peak RSS (``VmHWM``) after
  a 1e5-sample warm-up and at the end (flat when the engine streams blocks).
* :func:`leaves_scaling` — staged journeys of 10 … 1,000 leaves, each in fresh processes: the
  compile time of a never-seen structure (time to first result with a cold cache minus the same
  with the kernel cached), the fixed cost of a ``simulate`` call and the marginal cost per
  request and per call on one thread (details off, and on where asked).
* :func:`threads_scaling` — ``simulate`` with 1 and 2 worker threads (wall and CPU time,
  identical results required), with the load it ran under.
* :func:`bounds_scaling` — ``emac_sim.analytic.bounds`` on the same staged journeys.
* :func:`accuracy_per_cost` — interval half-width bought per second on a journey of about four
  nines: ``simulate(target_ci=…)`` runs, and for the engine, NumPy and SimPy the half-width one
  CPU-second buys, ``z·sqrt(p(1 − p)/(r·1 s))`` at their measured throughput ``r``.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from emac_sim.engine import simulate

from . import LoadMeter, median, timed
from . import journeys as J
from .children import spawn
from .draws import DrawCosts, draw_counts


def samples_scaling(sizes: list[int], repeats: int, workers: int = 2, details: bool = False, timeout: float | None = None) -> list[dict]:
    """Throughput and peak memory of ``simulate(checkout, samples=n)`` for each ``n``.

    Parameters
    ----------
    sizes
        Sample counts; each runs in its own process (``repeats`` times after a 1e5 warm-up;
        sizes ≥ 1e8 once).
    repeats
        Runs per size (median of their wall times).
    workers
        Threads.
    details
        ``simulate(details=...)``.
    timeout
        Seconds allowed per process.

    Returns
    -------
    list of dict
        ``samples, repeats, workers, seconds (median, wall), msps, peakRssMb, warmRssMb, load``,
        or ``samples, error``.
    """
    rows = []
    for n in sizes:
        reps = 1 if n >= 100_000_000 else repeats
        params = {"journey": "checkout", "samples": int(n), "repeats": reps, "workers": workers, "details": details}
        try:
            child, out = spawn("samples", params, timeout=timeout)
        except RuntimeError as err:
            rows.append({"samples": int(n), "error": str(err)})
            continue
        sec = median(out["times"])
        rows.append(
            {
                "samples": int(n),
                "repeats": reps,
                "workers": workers,
                "details": details,
                "seconds": sec,
                "msps": n / sec / 1e6,
                "peakRssMb": out["peakRssMb"],
                "warmRssMb": out["warmRssMb"],
                "blocks": out["blocks"],
                "times": out["times"],
                "load": child.load,
            }
        )
    return rows


def loglog_slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of ln y against ln x (``nan`` with fewer than two points)."""
    if len(x) < 2:
        return math.nan
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


FIRST_SAMPLES = 1000  # the "first result" of a structure: a small run, compile-dominated
SMALL_SAMPLES = 64  # a call of simulate that costs only its fixed part


def leaves_scaling(
    leaves: list[int],
    calls_per_point: float,
    repeats: int,
    *,
    details: bool = False,
    empty_cache_leaves: tuple[int, ...] = (30,),
    costs: DrawCosts | None = None,
    counted_calls: float = 1e5,
    timeout: float | None = 900.0,
) -> dict:
    """Compile and run cost of staged journeys of ``leaves`` leaves, each measured in fresh processes.

    For each L, in a kernel cache that holds emac-sim's library functions but no journey of this
    structure (a copy of one filled by :func:`benchmarks.journeys.helper_warmup`):

    1. a process times its first result (``FIRST_SAMPLES`` samples, details off) and records the
       numba compilations it needed;
    2. a second process, the kernel now cached, times the same first result (the difference is
       the compile time of the structure), then on one thread, ``repeats`` times, a
       ``SMALL_SAMPLES`` call (the fixed cost of a call: code generation, result) and a call of
       ``calls_per_point / L`` requests (process CPU time; the marginal cost per request is the
       difference of the medians over the difference of the sample counts); with ``details``
       the same once with details on (its kernel compiled there, its fixed cost including the
       exact Birnbaum importance of the analytic layer);
    3. for L in ``empty_cache_leaves``, a process with an empty cache times its first result (what
       a first-time user waits, the library functions compiled too).

    Calls and draws per request come from :func:`benchmarks.profile.draw_counts` over
    ``counted_calls / L`` requests; with ``costs``, the ns per call that the draws alone cost.

    Returns
    -------
    dict
        ``rows`` (one per L), ``slope`` (log-log slope of the marginal seconds per request against
        L; 1 = linear), ``compileSlope``, ``helpers`` (the preparation run) and ``clock``.
    """
    rows = []
    with tempfile.TemporaryDirectory(prefix="emac-bench-leaves-") as tmp:
        helpers = Path(tmp) / "helpers"
        prep_child, prep = spawn(
            "simulate", {"journey": "helper-warmup", "first": FIRST_SAMPLES, "details": [False, True]}, cache=helpers, timeout=timeout
        )
        for L in leaves:
            name = f"staged-{L}"
            row: dict = {"leaves": L}
            rows.append(row)
            try:
                cache = Path(tmp) / name
                shutil.copytree(helpers, cache)
                cold_child, cold = spawn("simulate", {"journey": name, "first": FIRST_SAMPLES, "details": [False]}, cache=cache, timeout=timeout)
                large = max(4 * SMALL_SAMPLES, int(calls_per_point / L))
                params = {"journey": name, "first": FIRST_SAMPLES, "details": [False, True] if details else [False]}
                params |= {"small": SMALL_SAMPLES, "large": large, "repeats": [repeats, 1]}  # details on: one run
                warm_child, warm = spawn("simulate", params, cache=cache, timeout=timeout)
                counts = draw_counts(J.staged_journey(L), max(20, int(counted_calls / L)))
                row.update(_leaves_row(cold["runs"]["off"], warm["runs"], counts, costs))
                row["sourceLines"] = source_lines(J.staged_journey(L))
                row["load"] = warm_child.load
                row["coldLoad"] = cold_child.load
                if L in empty_cache_leaves:
                    empty = Path(tmp) / f"{name}-empty"
                    child, first = spawn("simulate", {"journey": name, "first": FIRST_SAMPLES, "details": [False]}, cache=empty, timeout=timeout)
                    run = first["runs"]["off"]
                    row["emptyCache"] = {"firstSeconds": run.get("firstSeconds"), "compiles": run.get("compiles", {}), "load": child.load}
                    if "error" in run:
                        row["emptyCache"]["error"] = run["error"]
            except RuntimeError as err:
                row["error"] = str(err)
    ok = [r for r in rows if "nsPerCall" in r]
    xs = [r["leaves"] for r in ok]
    return {
        "rows": rows,
        "repeats": repeats,
        "callsPerPoint": calls_per_point,
        "firstSamples": FIRST_SAMPLES,
        "smallSamples": SMALL_SAMPLES,
        "clock": "first results: wall time; costs: process CPU time on one thread, medians",
        "slope": loglog_slope(xs, [r["secondsPerRequest"] for r in ok]),
        "compileSlope": loglog_slope(xs, [max(r["compileSeconds"], 1e-3) for r in ok]),
        "helpers": {"seconds": prep_child.wall, "compiles": {k: r.get("compiles", {}) for k, r in prep["runs"].items()}, "load": prep_child.load},
    }


def source_lines(journey: J.Journey) -> int | None:
    """Lines of the kernel source the engine generates for ``journey`` (details off), or None if
    the engine no longer exposes it as ``compile_journey(...).kernel.source``."""
    from emac_sim.engine import compile_journey
    from emac_sim.model.scenario import named_scenario

    source = getattr(getattr(compile_journey(journey, named_scenario(journey, "declared"), details=False), "kernel", None), "source", None)
    return source.count("\n") + 1 if isinstance(source, str) else None


def _leaves_row(cold: dict, warm: dict, counts: dict, costs: DrawCosts | None) -> dict:
    """One row of :func:`leaves_scaling` from its children's results."""
    calls = counts["callsPerRequest"]
    off = warm["off"]
    row: dict = {"callsPerRequest": calls, "draws": counts}
    if "error" in cold or "error" in off:
        row["error"] = cold.get("error") or off.get("error")
        return row
    per_request = off["marginalSecondsPerRequest"]
    if per_request <= 0:
        row["error"] = f"a run of {off['large']:,} requests was not measurably slower than one of {off['small']} (raise calls per point)"
        return row
    row |= {
        "coldFirstSeconds": cold["firstSeconds"],
        "warmFirstSeconds": off["firstSeconds"],
        "compileSeconds": max(0.0, cold["firstSeconds"] - off["firstSeconds"]),
        "compiles": cold["compiles"],
        "samples": off["large"],
        "fixedSeconds": off["fixedSeconds"],
        "secondsPerRequest": per_request,
        "requestsPerSecond": 1.0 / per_request,
        "nsPerCall": 1e9 * per_request / calls,
    }
    if costs is not None:
        row["drawNsPerCall"] = costs.per_request(counts["perRequest"]) / calls
    on = warm.get("on")
    if on is not None:
        if "error" in on or on["marginalSecondsPerRequest"] <= 0:
            row["details"] = {"error": on.get("error", "not measurably slower than the fixed cost")}
        else:
            row["details"] = {
                "compileSeconds": sum(g["seconds"] for g in on["compiles"].values()),
                "fixedSeconds": on["fixedSeconds"],
                "secondsPerRequest": on["marginalSecondsPerRequest"],
                "nsPerCall": 1e9 * on["marginalSecondsPerRequest"] / calls,
            }
    return row


def threads_scaling(cases: list[tuple[str, object, int, bool]], repeats: int, seed: int = 1) -> list[dict]:
    """``simulate`` on 1 and on 2 worker threads (wall and process CPU time, interleaved, medians).

    Parameters
    ----------
    cases
        ``(label, journey, samples, details)``.
    repeats
        Runs per thread count.

    Returns
    -------
    list of dict
        Per case: throughputs, ``speedup`` (1-thread wall / 2-thread wall), ``cpuRatio``
        (2-thread CPU / 1-thread CPU: above 1 the threads slow each other down),
        ``busyCores`` (2-thread CPU / wall: below 2 a thread waits), ``identical`` and ``load``.
    """
    rows = []
    for label, journey, n, details in cases:
        simulate(journey, samples=1000, seed=seed, workers=2, details=details)  # type: ignore[arg-type]
        wall: dict[int, list[float]] = {1: [], 2: []}
        cpu: dict[int, list[float]] = {1: [], 2: []}
        dicts: dict[int, dict] = {}
        with LoadMeter() as meter:
            for _ in range(repeats):
                for w in (1, 2):
                    w0, c0 = time.perf_counter(), time.process_time()
                    res = simulate(journey, samples=n, seed=seed, workers=w, details=details)  # type: ignore[arg-type]
                    wall[w].append(time.perf_counter() - w0)
                    cpu[w].append(time.process_time() - c0)
                    dicts[w] = res.to_dict()
        rows.append(
            {
                "journey": label,
                "details": details,
                "samples": n,
                "repeats": repeats,
                "oneThreadMsps": n / median(wall[1]) / 1e6,
                "twoThreadMsps": n / median(wall[2]) / 1e6,
                "speedup": median(wall[1]) / median(wall[2]),
                "cpuRatio": median(cpu[2]) / median(cpu[1]),
                "busyCores": median(cpu[2]) / median(wall[2]),
                "identical": dicts[1] == dicts[2],
                "load": meter.result,
                "seconds": {str(k): v for k, v in wall.items()},
            }
        )
    return rows


def bounds_scaling(leaves: list[int], repeats: int, max_seconds: float, repeat_below: float = 3.0) -> dict:
    """``bounds()`` time (wall and process CPU, medians) on staged journeys of ``leaves`` leaves.

    Points are repeated ``repeats`` times while a run takes under ``repeat_below`` seconds; a
    point that takes longer than ``max_seconds`` ends the sweep (larger journeys are reported
    as skipped).
    """
    from emac_sim.analytic import bounds

    bounds(J.staged_journey(6))  # load the analytic kernels
    rows = []
    skipped = []
    stop = False
    for L in leaves:
        if stop:
            skipped.append(L)
            continue
        j = J.staged_journey(L)
        wall: list[float] = []
        cpu: list[float] = []
        with LoadMeter() as meter:
            for _ in range(repeats):
                t0, c0 = time.perf_counter(), time.process_time()
                bounds(j)
                wall.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                if wall[-1] > max_seconds:
                    stop = True
                if wall[-1] > repeat_below:
                    break
        rows.append({"leaves": L, "seconds": median(wall), "cpuSeconds": median(cpu), "repeats": len(wall), "load": meter.result})
    xs = [r["leaves"] for r in rows]
    return {
        "rows": rows,
        "skipped": skipped,
        "maxSeconds": max_seconds,
        "slope": loglog_slope(xs, [r["cpuSeconds"] for r in rows]),
    }


def accuracy_per_cost(targets: list[float], throughput_samples: dict[str, int], repeats: int, seed: int = 7) -> dict:
    """Interval half-width per unit of compute on :func:`benchmarks.journeys.four_nines`.

    Parameters
    ----------
    targets
        Half-widths for ``simulate(target_ci=h)`` runs on every CPU (wall time): samples used,
        seconds, achieved half-width, and whether the interval covers the exact availability.
    throughput_samples
        Samples per throughput run of ``engine`` (``simulate(workers=1, details=False)``),
        ``numpy`` and ``simpy`` (one thread, process CPU time, medians of ``repeats``).
    repeats
        Runs per throughput figure and per target.

    Returns
    -------
    dict
        ``exact`` availability, ``runs`` (one per target) and ``perMethod``: throughput, the
        half-width one CPU-second buys and the CPU-seconds to reach ±1e-5 (95 %).
    """
    from emac_sim.analytic import bounds

    from .baselines import NumpyJourney, SimPyJourney, engine_run

    j = J.four_nines()
    exact = float(bounds(j).availability.independent)  # no failure domains: every scenario agrees
    z = 1.959963984540054
    var = exact * (1.0 - exact)
    simulate(j, samples=1000, seed=seed)
    runs = []
    with LoadMeter() as meter:
        for h in targets:
            cap = int(8 * z * z * var / (h * h)) + 65536
            times: list[float] = []
            used: list[int] = []
            covering = 0
            d: dict = {}
            for r in range(repeats):
                t, res = timed(lambda r=r, cap=cap, h=h: simulate(j, samples=cap, seed=seed + r, target_ci=h), 1, "wall")
                times += t
                d = res.to_dict()
                lo, hi = d["availability"]["ci"]
                covering += int(lo <= exact <= hi)
                used.append(d["samples"])
            lo, hi = d["availability"]["ci"]
            runs.append(
                {
                    "targetHalfWidth": h,
                    "samples": int(median([float(u) for u in used])),
                    "seconds": median(times),
                    "halfWidth": (hi - lo) / 2.0,
                    "halfWidthPerSqrtSecond": (hi - lo) / 2.0 * math.sqrt(median(times)),
                    "covering": covering,
                    "runs": repeats,
                    "estimate": d["availability"]["estimate"],
                }
            )
    runs_load = meter.result
    nb = NumpyJourney(j)
    sp = SimPyJourney(j)
    engine_run(j, 1000, seed)
    nb.run(1000, seed)
    sp.outcomes(50, seed)
    makers = {  # each with its summary (interval and quantiles)
        "engine": lambda n, s: engine_run(j, n, s),
        "numpy": lambda n, s: nb.run(n, s),
        "simpy": lambda n, s: sp.run(n, s),
    }
    per = {}
    for name, fn in makers.items():
        n = int(throughput_samples[name])
        with LoadMeter() as m:
            times, _ = timed(lambda fn=fn, n=n: fn(n, seed), repeats, "cpu")
        rate = n / median(times)
        per[name] = {
            "load": m.result,
            "samples": n,
            "samplesPerCpuSecond": rate,
            "halfWidthPerCpuSecond": z * math.sqrt(var / rate),
            "cpuSecondsTo1e-5": z * z * var / 1e-10 / rate,
        }
    return {
        "journey": j.name,
        "expression": j.expression,
        "exact": exact,
        "confidence": 0.95,
        "runs": runs,
        "runsLoad": runs_load,
        "perMethod": per,
        "repeats": repeats,
    }
