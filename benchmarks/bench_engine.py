"""Engine benchmarks (issue 4): throughput vs a hand-specialised kernel, thread scaling, memory
flatness and cold/warm start of ``emac simulate``.

``run(quick)`` returns a JSON-ready dict; ``python benchmarks/bench_engine.py [--quick]``
prints it. Timings are best-of-``repeats`` wall times on whatever machine runs them (a shared
machine makes them noisy: compare ratios measured in the same run, not absolute numbers across
runs).

The hand-specialised kernel evaluates ``configs/checkout.yaml`` (front, parallel(cart, pricing),
hedged race(paya, payb) with the declared payment-network factors) with the journey's structure
written out by hand, using the engine's own random stream and samplers. It therefore draws the
same numbers as the engine and must count exactly the same successes; the ratio of the two
times is the cost of interpreting the compiled program plus the engine's extra bookkeeping
(dominant component, call counts, hedge slots, Birnbaum sub-samples).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit

from emac_sim import load_spec
from emac_sim.engine import block_state, compile_journey, run_block, simulate
from emac_sim.kernels.histogram import N_BUCKETS, bucket_index
from emac_sim.kernels.rng import next_uniform
from emac_sim.kernels.samplers import sample_u, sample_z
from emac_sim.kernels.special import ndtri_pq
from emac_sim.model.scenario import named_scenario

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = ROOT / "configs" / "checkout.yaml"


@njit(cache=True, nogil=True)
def checkout_by_hand(n, st, a, zthr, sd_f, load_f, sd_l, load_l, lat, err, kind, par, tab, hedge, hist_ok, hist_all):
    """The checkout journey written out: same draws, same semantics as the interpreter."""
    ok_count = 0
    for _ in range(n):
        u = next_uniform(st)
        w_f = ndtri_pq(u, 1.0 - u)
        u = next_uniform(st)
        w_l = ndtri_pq(u, 1.0 - u)
        # front
        u1 = next_uniform(st)
        u2 = next_uniform(st)
        ok = u1 <= a[0]
        m = lat[0] if ok else err[0]
        t = sample_u(kind, par, m, tab, u2, 1.0 - u2)
        if ok:  # parallel(cart, pricing), join all
            slowest = 0.0
            for c in (1, 2):
                u1 = next_uniform(st)
                u2 = next_uniform(st)
                okc = u1 <= a[c]
                m = lat[c] if okc else err[c]
                tc = sample_u(kind, par, m, tab, u2, 1.0 - u2)
                ok = ok and okc
                if tc > slowest:
                    slowest = tc
            t += slowest
        if ok:  # race(paya, payb) with a hedge delay, gaussian payment-network factors
            best = math.inf
            latest = -1.0
            for j in range(2):
                c = 3 + j
                start = j * hedge
                if j == 1 and not best > start:
                    break
                u1 = next_uniform(st)
                u2 = next_uniform(st)
                okc = load_f[c] * w_f + sd_f[c] * ndtri_pq(u1, 1.0 - u1) <= zthr[c]
                m = lat[c] if okc else err[c]
                fin = start + sample_z(kind, par, m, tab, load_l[c] * w_l + sd_l[c] * ndtri_pq(u2, 1.0 - u2))
                if okc and fin < best:
                    best = fin
                if fin > latest:
                    latest = fin
            if best < math.inf:
                t += best
            else:
                ok = False
                t += latest
        b = bucket_index(t)
        hist_all[b] += 1
        if ok:
            ok_count += 1
            hist_ok[b] += 1
    return ok_count


def _hand_args(compiled):
    arr = compiled.arrays
    return (
        arr["own_a"],
        arr["zthr"],
        arr["sd_f"],
        np.ascontiguousarray(arr["load_f"][:, 0]),
        arr["sd_l"],
        np.ascontiguousarray(arr["load_l"][:, 0]),
        arr["lat_smp"],
        arr["err_smp"],
        arr["smp_kind"],
        arr["smp_par"],
        arr["smp_tab"],
        compiled.race_delays[0],
    )


def _best(fn, repeats: int, clock=time.perf_counter) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(repeats):
        t0 = clock()
        out = fn()
        best = min(best, clock() - t0)
    return best, out


def throughput(n: int, repeats: int) -> dict:
    """Single-thread samples/s of the engine and of the hand kernel on the checkout."""
    j = load_spec(CHECKOUT)
    scen = named_scenario(j, "declared")
    engine = compile_journey(j, scen)
    lean = compile_journey(j, scen, birnbaum_stride=0)
    args = _hand_args(engine)
    hist = (np.zeros(N_BUCKETS, np.int64), np.zeros(N_BUCKETS, np.int64))
    checkout_by_hand(100, block_state(1, 0), *args, *hist)  # compile / load from cache
    run_block(engine, 1, 0, 100)
    # thread CPU time: single-threaded kernels, robust to time-slicing on a shared machine
    clock = time.thread_time
    t_hand, ok_hand = _best(lambda: checkout_by_hand(n, block_state(1, 0), *args, *hist), repeats, clock)
    t_eng, res = _best(lambda: run_block(engine, 1, 0, n), repeats, clock)
    t_lean, res_lean = _best(lambda: run_block(lean, 1, 0, n), repeats, clock)
    paper_spec = ROOT.parent / "shared" / "reference" / "paper-checkout" / "spec" / "emac.checkout.yaml"
    paper = load_spec(paper_spec) if paper_spec.is_file() else None
    out = {
        "samples": n,
        "clock": "thread CPU time, best of repeats",
        "handKernelMsps": n / t_hand / 1e6,
        "engineMsps": n / t_eng / 1e6,
        "engineNoBirnbaumMsps": n / t_lean / 1e6,
        "ratioEngineToHand": t_eng / t_hand,
        "ratioEngineNoBirnbaumToHand": t_lean / t_hand,
        "sameSuccessCount": bool(res.ok == ok_hand == res_lean.ok),
    }
    if paper is not None:
        pc = compile_journey(paper, named_scenario(paper, "independent"))
        run_block(pc, 1, 0, 100)
        t_paper, _ = _best(lambda: run_block(pc, 1, 0, n), repeats, clock)
        out["paperCheckoutNoLatencyMsps"] = n / t_paper / 1e6
    return out


def scaling(n: int, repeats: int) -> dict:
    """Wall time of simulate() with 1 and 2 worker threads (identical results)."""
    j = load_spec(CHECKOUT)
    simulate(j, samples=1000, seed=1)
    t1, r1 = _best(lambda: simulate(j, samples=n, seed=1, workers=1), repeats)
    t2, r2 = _best(lambda: simulate(j, samples=n, seed=1, workers=2), repeats)
    return {
        "samples": n,
        "clock": "wall time, best of repeats (sensitive to other load)",
        "loadAverage": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "oneThreadSeconds": t1,
        "twoThreadSeconds": t2,
        "speedup": t1 / t2,
        "identical": r1.to_dict() == r2.to_dict(),
    }


def _peak_rss_mb(samples: int) -> float:
    code = (
        "import resource\n"
        "from emac_sim import load_spec\n"
        "from emac_sim.engine import simulate\n"
        f"simulate(load_spec({str(CHECKOUT)!r}), samples={samples}, seed=1, workers=2)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024.0


def memory(small: int, large: int) -> dict:
    """Peak RSS of a whole process simulating ``small`` and ``large`` samples."""
    a = _peak_rss_mb(small)
    b = _peak_rss_mb(large)
    return {"smallSamples": small, "largeSamples": large, "peakRssSmallMb": a, "peakRssLargeMb": b, "ratio": b / a}


def start_times() -> dict:
    """``emac simulate configs/checkout.yaml --samples 1e5`` with an empty numba cache, then warm."""
    cmd = [sys.executable, "-m", "emac_sim.cli", "simulate", str(CHECKOUT), "--samples", "1e5", "--seed", "1", "--format", "json"]
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, EMAC_CACHE_DIR=cache)
        out = {}
        for label in ("coldSeconds", "warmSeconds"):
            t0 = time.perf_counter()
            subprocess.run(cmd, env=env, capture_output=True, check=True)
            out[label] = time.perf_counter() - t0
    return out


def run(quick: bool) -> dict:
    """All engine benchmarks; ``quick`` uses small sizes (a few seconds of work)."""
    n = 1_000_000 if quick else 4_000_000
    repeats = 2 if quick else 3
    return {
        "benchmark": "engine",
        "quick": quick,
        "note": "best-of wall times on a shared machine; compare ratios within one run",
        "throughput": throughput(n, repeats),
        "scaling": scaling(2 * n, repeats),
        "memory": memory(1_000_000, 10_000_000 if quick else 100_000_000),
        "startup": start_times(),
    }


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv[1:]), indent=2))
