"""Benchmark: the CUDA backend's throughput on the checkout journey (issue 18).

``run(quick)`` returns a JSON-ready dict (the benchmark runner calls it); as a script it prints
that dict (``python benchmarks/bench_cuda.py [--quick]``). On a machine where
``numba.cuda.is_available()`` (a real GPU; the simulator does not count) it measures, on
``configs/checkout.yaml`` (front, parallel(cart, pricing), hedged race of two payment providers
with a gaussian payment-network domain), the journeys per second of ``simulate(backend="cuda")``
without details (counts and histograms only, as the issue's hand kernel) and with details, as
the *marginal* rate between two runs at the full grid (``(n₂ − n₁)/(t₂ − t₁)``: kernel compile,
stream initialisation and transfers cancel), and compares it with the issue's reference figure:
a hand-written float32 numba.cuda kernel of the same journey at about 1.5e10 journeys/s on an
H100, goal ≥ 0.7 of it. Elsewhere it reports ``not measured (no GPU)``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "checkout.yaml"
SEED = 20240601
REFERENCE_JPS = 1.5e10
"""The issue's hand-written numba.cuda checkout kernel on an H100 (float32, xoroshiro)."""
GOAL = 0.7


def gpu_name() -> str | None:
    """The GPU's name when numba sees a real one (not the simulator), else ``None``."""
    from numba import config, cuda

    if config.ENABLE_CUDASIM or not cuda.is_available():
        return None
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


def marginal_rate(journey: object, n1: int, n2: int, details: bool) -> dict:
    """Journeys/s between runs of ``n1`` and ``n2`` samples (same grid), after a warm-up."""
    from emac_sim.engine import simulate

    simulate(journey, samples=n1 // 100, seed=SEED, backend="cuda", details=details)  # compile
    times = []
    for n in (n1, n2):
        t0 = time.perf_counter()
        res = simulate(journey, samples=n, seed=SEED, backend="cuda", details=details)
        times.append(time.perf_counter() - t0)
    rate = (n2 - n1) / (times[1] - times[0]) if times[1] > times[0] else float("nan")
    return {
        "details": details,
        "samples": [n1, n2],
        "seconds": times,
        "journeysPerSecond": rate,
        "overallJourneysPerSecond": n2 / times[1],
        "availability": res.availability,
    }


def run(quick: bool = False) -> dict:
    """The CUDA section: measured on a real GPU, else ``measured: False`` with the reason."""
    out: dict = {"referenceJourneysPerSecond": REFERENCE_JPS, "goal": GOAL, "journey": "configs/checkout.yaml"}
    try:
        name = gpu_name()
    except Exception as err:  # numba.cuda unusable: same verdict as no GPU
        name = None
        out["cudaError"] = f"{type(err).__name__}: {err}"
    if name is None:
        return {**out, "measured": False, "why": "not measured (no GPU)"}
    import emac_sim

    journey = emac_sim.load_spec(CONFIG)
    n1, n2 = (2 * 10**8, 6 * 10**8) if quick else (10**9, 4 * 10**9)
    off = marginal_rate(journey, n1, n2, details=False)
    on = marginal_rate(journey, n1 // 4, n2 // 4, details=True)
    ratio = off["journeysPerSecond"] / REFERENCE_JPS
    return {
        **out,
        "measured": True,
        "device": name,
        "detailsOff": off,
        "detailsOn": on,
        "ratioToReference": ratio,
        "goalMet": bool(ratio >= GOAL),
        "precision": "float64",
    }


if __name__ == "__main__":
    _here = Path(__file__).resolve().parent  # benchmarks/profile.py must not shadow the standard library's
    sys.path[:] = [str(_here.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _here]
    print(json.dumps(run("--quick" in sys.argv[1:]), indent=2))
