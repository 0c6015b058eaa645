"""Engine benchmarks (issues 4 and 15): throughput against a hand-specialised kernel, thread
scaling, memory flatness and cold/warm start of ``emac simulate``.

``run(quick)`` returns a JSON-ready dict; ``python benchmarks/bench_engine.py [--quick]``
prints it. Timings are best-of-``repeats`` CPU times on whatever machine runs them (a shared
machine makes them noisy: compare ratios measured in the same run, not absolute numbers across
runs).

The hand-specialised kernel (:func:`checkout_by_hand`) is issue 15's: the paper's checkout with
lognormal latencies and a gaussian payment-network factor at rho 0.5
(:func:`benchmarks.journeys.checkout_lognormal`) written out by hand with the fastest sampling
numba offers: per journey 12 standard normals from ``np.random.Generator`` (PCG64, ziggurat) —
two factors, five failure latents, five latency latents — and 5 ``exp``, plus a log-bucket
latency histogram. It ignores the engine's draw order (it draws every call, hedge or not), so it
agrees with the engine in distribution only: :func:`throughput` checks that its availability
and p99 lie within the engine's intervals.
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
from scipy import special

from emac_sim import load_spec
from emac_sim.core.histogram import N_BUCKETS
from emac_sim.engine import simulate
from emac_sim.kernels.histogram import bucket_index

try:
    from . import journeys as J
except ImportError:  # run as a script
    import journeys as J  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = ROOT / "configs" / "checkout.yaml"


@njit(cache=True, nogil=True, error_model="numpy")
def checkout_by_hand(n, rng, thr, mu, sigma, rho_f, rho_l, hedge, hist_ok, hist_all):
    """``n`` checkout journeys: front, parallel(cart, pricing), race(paya, payb; hedge).

    ``thr`` are the failure thresholds Φ⁻¹(aᵢ), ``mu``/``sigma`` the lognormal parameters of
    the five components in that order; paya and payb load √rho_f on a failure factor and √rho_l
    on a latency factor. Returns the number of successful journeys.
    """
    lf, ef = math.sqrt(rho_f), math.sqrt(1.0 - rho_f)
    ll, el = math.sqrt(rho_l), math.sqrt(1.0 - rho_l)
    ok_count = 0
    for _ in range(n):
        wf = rng.standard_normal()
        wl = rng.standard_normal()
        okf = rng.standard_normal() <= thr[0]
        okc = rng.standard_normal() <= thr[1]
        okp = rng.standard_normal() <= thr[2]
        oka = lf * wf + ef * rng.standard_normal() <= thr[3]
        okb = lf * wf + ef * rng.standard_normal() <= thr[4]
        tf = math.exp(mu[0] + sigma[0] * rng.standard_normal())
        tc = math.exp(mu[1] + sigma[1] * rng.standard_normal())
        tp = math.exp(mu[2] + sigma[2] * rng.standard_normal())
        ta = math.exp(mu[3] + sigma[3] * (ll * wl + el * rng.standard_normal()))
        tb = math.exp(mu[4] + sigma[4] * (ll * wl + el * rng.standard_normal()))
        ok = okf
        t = tf
        if ok:
            ok = okc and okp
            t += max(tc, tp)
            if ok:
                if oka and ta <= hedge:  # answered before the hedge: payb is never asked
                    t += ta
                else:
                    fb = hedge + tb
                    if oka and okb:
                        t += min(ta, fb)
                    elif oka:
                        t += ta
                    elif okb:
                        t += fb
                    else:
                        ok = False
                        t += max(ta, fb)
        b = bucket_index(t)
        hist_all[b] += 1
        if ok:
            ok_count += 1
            hist_ok[b] += 1
    return ok_count


def hand_arguments(journey) -> tuple:
    """The hand kernel's parameters read from :func:`benchmarks.journeys.checkout_lognormal`."""
    order = ("front", "cart", "pricing", "paya", "payb")
    comps = [journey.component(c) for c in order]
    dom = journey.domain("payment-network")
    thr = special.ndtri(np.array([c.availability for c in comps]))
    mu = np.array([c.latency.mu for c in comps])
    sigma = np.array([c.latency.sigma for c in comps])
    race = journey.root.steps[2]  # type: ignore[attr-defined]
    return thr, mu, sigma, dom.rho, dom.latency_rho, race.hedge_delay


def _best(fn, repeats: int, clock=time.perf_counter) -> tuple[float, object]:
    best, out = math.inf, None
    for _ in range(repeats):
        t0 = clock()
        out = fn()
        best = min(best, clock() - t0)
    return best, out


def throughput(n: int, repeats: int) -> dict:
    """Single-thread CPU time of the hand kernel and of ``simulate(workers=1)`` on
    :func:`benchmarks.journeys.checkout_lognormal` (details off, as validation and sweeps run it,
    and on, as ``emac simulate`` runs it), plus the paper checkout without latency."""
    from emac_sim.core.intervals import histogram_quantile

    j = J.checkout_lognormal()
    args = hand_arguments(j)
    hist = (np.zeros(N_BUCKETS, np.int64), np.zeros(N_BUCKETS, np.int64))
    checkout_by_hand(100, np.random.default_rng(0), *args, *hist)  # compile / load from cache
    simulate(j, samples=1000, seed=1, workers=1, details=False)
    simulate(j, samples=1000, seed=1, workers=1)
    clock = time.thread_time  # single-threaded: robust to time-slicing on a shared machine

    def hand():
        h_ok, h_all = np.zeros(N_BUCKETS, np.int64), np.zeros(N_BUCKETS, np.int64)
        ok = checkout_by_hand(n, np.random.default_rng(1), *args, h_ok, h_all)
        return ok, h_ok

    t_hand, (ok_hand, h_ok) = _best(hand, repeats, clock)
    t_eng, res = _best(lambda: simulate(j, samples=n, seed=1, workers=1, details=False), repeats, clock)
    t_det, _ = _best(lambda: simulate(j, samples=n, seed=1, workers=1), repeats, clock)
    lo, hi = res.availability_ci()
    hand_p99 = histogram_quantile(h_ok, 0.99, 0.999)
    eng_p99 = histogram_quantile(res.counts.hist_ok, 0.99, 0.999)
    out = {
        "journey": j.name,
        "samples": n,
        "clock": "thread CPU time, best of repeats",
        "handKernelMsps": n / t_hand / 1e6,
        "engineMsps": n / t_eng / 1e6,
        "engineDetailsMsps": n / t_det / 1e6,
        "ratioEngineToHand": t_eng / t_hand,
        "ratioEngineDetailsToHand": t_det / t_hand,
        "handAvailability": ok_hand / n,
        "engineAvailabilityCi": [lo, hi],
        "agree": bool(
            abs(ok_hand / n - res.availability) <= 5 * math.sqrt(res.availability * (1 - res.availability) * 2 / n)
            and hand_p99 is not None
            and eng_p99 is not None
            and hand_p99.ci[0] <= eng_p99.ci[1] * (1 + 1 / 256)
            and eng_p99.ci[0] * (1 - 1 / 256) <= hand_p99.ci[1]
        ),
    }
    paper_spec = ROOT.parent / "shared" / "reference" / "paper-checkout" / "spec" / "emac.checkout.yaml"
    if paper_spec.is_file():
        paper = load_spec(paper_spec)
        simulate(paper, samples=1000, seed=1, workers=1, details=False, correlation="independent")
        t_paper, _ = _best(lambda: simulate(paper, samples=n, seed=1, workers=1, details=False, correlation="independent"), repeats, clock)
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
    """``emac simulate configs/checkout.yaml --samples 1e5`` with empty caches, then warm."""
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
