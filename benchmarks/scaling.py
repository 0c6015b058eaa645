"""How the engine's cost scales: with samples, leaves and threads; its memory; analytic bounds
time with leaves; and accuracy per cost on a four-nines journey (issue 8).

* :func:`samples_scaling` — ``simulate`` of the checkout at 1e5 … 1e9 samples, each size in a
  fresh subprocess (all CPUs, wall time): throughput, and the subprocess's peak RSS (``VmHWM``,
  :func:`benchmarks.peak_rss_mb`) after a 1e5-sample warm-up and at the end (flat when the
  engine streams blocks).
* :func:`leaves_scaling` — one thread, process CPU time, staged journeys of 10 … 1,000 leaves:
  kernel throughput with and without Birnbaum importance, calls per request, ns per call,
  compile time; the log-log slope of seconds per request against leaves (1 = linear).
* :func:`threads_scaling` — ``simulate`` with 1 and 2 worker threads (wall time, identical
  results required).
* :func:`bounds_scaling` — ``emac_sim.analytic.bounds`` on the same staged journeys.
* :func:`accuracy_per_cost` — interval half-width bought per second on a journey of about four
  nines: ``simulate(target_ci=…)`` runs, and for the engine, NumPy and SimPy the half-width one
  CPU-second buys, ``z·sqrt(p(1 − p)/(r·1 s))`` at their measured throughput ``r``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time

import numpy as np

from emac_sim.engine import compile_journey, run_block, simulate
from emac_sim.model.scenario import named_scenario

from . import cpu_count, load_average, median, run_child, timed
from . import journeys as J

_CHILD = """
import json, sys, time
from benchmarks import peak_rss_mb
from emac_sim import load_spec
from emac_sim.engine import simulate
path, n, reps, workers = sys.argv[1], int(float(sys.argv[2])), int(sys.argv[3]), int(sys.argv[4])
j = load_spec(path)
simulate(j, samples=100_000, seed=1, workers=workers)  # load the kernels, start the threads
warm_rss = peak_rss_mb()
times = []
for r in range(reps):
    t0 = time.perf_counter()
    res = simulate(j, samples=n, seed=1 + r, workers=workers)
    times.append(time.perf_counter() - t0)
print(json.dumps({"times": times, "warmRssMb": warm_rss, "peakRssMb": peak_rss_mb(), "blocks": res.counts.n_blocks}))
"""


def samples_scaling(sizes: list[int], repeats: int, workers: int | None = None, timeout: float | None = None) -> list[dict]:
    """Throughput and peak memory of ``simulate(checkout, samples=n)`` for each ``n``.

    Parameters
    ----------
    sizes
        Sample counts; each runs in its own subprocess (``repeats`` times after a 1e5 warm-up;
        sizes ≥ 1e8 once).
    repeats
        Runs per size (median of their wall times).
    workers
        Threads (default: every CPU).
    timeout
        Seconds allowed per subprocess.

    Returns
    -------
    list of dict
        ``samples, repeats, seconds (median, wall), msps, peakRssMb, warmRssMb, loadAverage``.
    """
    workers = workers or cpu_count()
    rows = []
    for n in sizes:
        reps = 1 if n >= 100_000_000 else repeats
        load = load_average()
        child = run_child([sys.executable, "-c", _CHILD, str(J.CHECKOUT), str(int(n)), str(reps), str(workers)], timeout=timeout)
        if child.rc != 0:
            rows.append({"samples": int(n), "error": (child.stderr.strip().splitlines() or [f"exit {child.rc}"])[-1]})
            continue
        out = json.loads(child.stdout.strip().splitlines()[-1])
        sec = median(out["times"])
        rows.append(
            {
                "samples": int(n),
                "repeats": reps,
                "workers": workers,
                "seconds": sec,
                "msps": n / sec / 1e6,
                "peakRssMb": out["peakRssMb"],
                "warmRssMb": out["warmRssMb"],
                "loadAverage": load,
                "times": out["times"],
            }
        )
    return rows


def gamma_table_seconds(repeats: int = 3) -> float:
    """Seconds the engine's compiler spends on one distinct gamma distribution's quantile table
    (median of ``repeats`` tables of different shapes)."""
    from emac_sim.model.distributions import Gamma
    from emac_sim.model.quantiles import quantile_table

    times = []
    for k in range(max(1, repeats)):
        dist = Gamma.from_mean_cv(0.005 + 0.001 * k, 0.6 + 0.05 * k)
        t0 = time.perf_counter()
        quantile_table(dist)
        times.append(time.perf_counter() - t0)
    return median(times)


def loglog_slope(x: list[float], y: list[float]) -> float:
    """Least-squares slope of ln y against ln x (``nan`` with fewer than two points)."""
    if len(x) < 2:
        return math.nan
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def leaves_scaling(leaves: list[int], calls_per_point: float, repeats: int, seed: int = 1) -> dict:
    """Single-thread kernel throughput on staged journeys of ``leaves`` leaves.

    Each point simulates ``max(500, calls_per_point / L)`` requests in one block, with the
    engine's default Birnbaum sub-sampling and without it, interleaved ``repeats`` times
    (process CPU time, medians). Compile time (``compile_journey``, wall) is reported apart.

    Returns
    -------
    dict
        ``rows`` (one per L) and ``slope`` / ``slopeNoBirnbaum``: the log-log slope of seconds per
        request against L.
    """
    rows = []
    for L in leaves:
        j = J.staged_journey(L)
        t0 = time.perf_counter()
        compiled = compile_journey(j, named_scenario(j, "declared"))
        compile_s = time.perf_counter() - t0
        lean = dataclasses.replace(compiled, birnbaum_stride=0)
        n = max(500, int(calls_per_point / L))
        run_block(compiled, seed, 0, 16)
        run_block(lean, seed, 0, 16)
        t_def: list[float] = []
        t_lean: list[float] = []
        res = None
        for _ in range(repeats):
            t, res = timed(lambda c=compiled, n=n: run_block(c, seed, 0, n), 1, "cpu")
            t_def += t
            t, _ = timed(lambda c=lean, n=n: run_block(c, seed, 0, n), 1, "cpu")
            t_lean += t
        calls = float(res.calls.sum()) / n  # type: ignore[union-attr]
        rows.append(
            {
                "leaves": L,
                "samples": n,
                "compileSeconds": compile_s,
                "birnbaumStride": compiled.birnbaum_stride,
                "callsPerSample": calls,
                "sps": n / median(t_def),
                "spsNoBirnbaum": n / median(t_lean),
                "nsPerCall": 1e9 * median(t_def) / (n * calls),
                "nsPerCallNoBirnbaum": 1e9 * median(t_lean) / (n * calls),
            }
        )
    xs = [r["leaves"] for r in rows]
    return {
        "rows": rows,
        "repeats": repeats,
        "clock": "process CPU time, median of interleaved repeats",
        "slope": loglog_slope(xs, [1.0 / r["sps"] for r in rows]),
        "slopeNoBirnbaum": loglog_slope(xs, [1.0 / r["spsNoBirnbaum"] for r in rows]),
        "gammaTableSeconds": gamma_table_seconds(),
    }


def threads_scaling(cases: list[tuple[str, object, int]], repeats: int, seed: int = 1) -> list[dict]:
    """``simulate`` on 1 and on 2 worker threads (wall time, interleaved, medians).

    Parameters
    ----------
    cases
        ``(label, journey, samples)`` triples.
    repeats
        Runs per thread count.
    """
    rows = []
    for label, journey, n in cases:
        simulate(journey, samples=1000, seed=seed, workers=2)  # type: ignore[arg-type]
        times: dict[int, list[float]] = {1: [], 2: []}
        dicts: dict[int, dict] = {}
        load = load_average()
        for _ in range(repeats):
            for w in (1, 2):
                t, res = timed(lambda w=w, j=journey, n=n: simulate(j, samples=n, seed=seed, workers=w), 1, "wall")  # type: ignore[arg-type]
                times[w] += t
                dicts[w] = res.to_dict()
        rows.append(
            {
                "journey": label,
                "samples": n,
                "repeats": repeats,
                "oneThreadMsps": n / median(times[1]) / 1e6,
                "twoThreadMsps": n / median(times[2]) / 1e6,
                "speedup": median(times[1]) / median(times[2]),
                "identical": dicts[1] == dicts[2],
                "loadAverage": load,
                "seconds": {str(k): v for k, v in times.items()},
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
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            bounds(j)
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            if wall[-1] > max_seconds:
                stop = True
            if wall[-1] > repeat_below:
                break
        rows.append({"leaves": L, "seconds": median(wall), "cpuSeconds": median(cpu), "repeats": len(wall)})
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
        Samples per throughput run of ``engine``, ``numpy`` and ``simpy`` (one thread, thread CPU
        time, medians of ``repeats``).
    repeats
        Runs per throughput figure and per target.

    Returns
    -------
    dict
        ``exact`` availability, ``runs`` (one per target) and ``perMethod``: throughput, the
        half-width one CPU-second buys and the CPU-seconds to reach ±1e-5 (95 %).
    """
    from emac_sim.analytic import bounds

    from .baselines import EngineRunner, NumpyJourney, SimPyJourney

    j = J.four_nines()
    exact = float(bounds(j).availability.independent)  # no failure domains: every scenario agrees
    z = 1.959963984540054
    var = exact * (1.0 - exact)
    simulate(j, samples=1000, seed=seed)
    runs = []
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
    engine = EngineRunner(j)
    nb = NumpyJourney(j)
    sp = SimPyJourney(j)
    nb.run(1000, seed)
    sp.outcomes(50, seed)
    makers = {  # each with its summary (interval and quantiles)
        "engine": lambda n, s: engine.run(n, s),
        "numpy": lambda n, s: nb.run(n, s),
        "simpy": lambda n, s: sp.run(n, s),
    }
    per = {}
    for name, fn in makers.items():
        n = int(throughput_samples[name])
        times, _ = timed(lambda fn=fn, n=n: fn(n, seed), repeats, "cpu")
        rate = n / median(times)
        per[name] = {
            "samples": n,
            "samplesPerCpuSecond": rate,
            "halfWidthPerCpuSecond": z * math.sqrt(var / rate),
            "cpuSecondsTo1e-5": z * z * var / 1e-10 / rate,
        }
    return {"journey": j.name, "expression": j.expression, "exact": exact, "confidence": 0.95, "runs": runs, "perMethod": per, "repeats": repeats}
