"""A two-minute check of the CUDA backend on a GPU machine: ``python benchmarks/cuda_device_check.py``.

Needs only this checkout (``PYTHONPATH=.`` or emac-sim installed) and numba with a working CUDA
driver; no network. It prints the device, then for the checkout journey (``configs/checkout.yaml``):

1. a correctness line: the CUDA estimate of availability with its interval, the analytic exact
   value under the declared correlation, and whether the interval covers it;
2. throughput in journeys/s without and with details, as the marginal rate between two run
   sizes (compile, stream set-up and transfers cancel), and its ratio to the issue's reference
   hand-written kernel (1.5e10 journeys/s on an H100, float32; goal ≥ 0.7);
3. same seed twice → identical counts.

``--samples N`` sets the larger run (default 2e9; the smaller is a third of it). Without a GPU it
says so and exits 2; under ``NUMBA_ENABLE_CUDASIM=1`` it runs small sizes on the simulator
(a functional smoke test: the throughput printed is the simulator's, meaningless for a GPU).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# run as a script, benchmarks/ comes first on the path and its profile.py would shadow the
# standard library's (numba.cuda imports cProfile): put the checkout root there instead
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]

REFERENCE_JPS = 1.5e10
GOAL = 0.7
SEED = 20240601


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=float, default=None, help="journeys of the larger timed run (default 2e9; 3000 on the simulator)")
    args = p.parse_args(argv)
    from numba import config, cuda

    sim = bool(config.ENABLE_CUDASIM)
    if not sim and not cuda.is_available():
        print("cuda_device_check: not measured (no GPU): numba.cuda.is_available() is false", file=sys.stderr)
        return 2
    import emac_sim
    from emac_sim.analytic import scenario_availability
    from emac_sim.analytic.scenarios import resolve_scenario
    from emac_sim.engine import simulate

    if sim:
        print("device: numba CUDA simulator (throughput below is the simulator's, not a GPU's)")
    else:
        name = cuda.get_current_device().name
        print(f"device: {name.decode() if isinstance(name, bytes) else name}")
    journey = emac_sim.load_spec(ROOT / "configs" / "checkout.yaml")
    n2 = int(args.samples or (3000 if sim else 2e9))
    n1 = max(n2 // 3, 1)

    t0 = time.perf_counter()
    first = simulate(journey, samples=min(n1, 10**7), seed=SEED, backend="cuda", details=False)
    print(f"compile + first run: {time.perf_counter() - t0:.1f} s")
    scenario, _ = resolve_scenario(journey, "declared")
    exact = scenario_availability(journey, scenario)
    lo, hi = first.availability_ci()
    covered = exact is None or lo <= exact <= hi
    print(f"availability: {first.availability:.6f} [{lo:.6f}, {hi:.6f}] over {first.samples:,} journeys; exact {exact}; covered: {covered}")

    for details in (False, True):
        m2 = n2 if not details else max(n2 // 4, 3)
        m1 = max(m2 // 3, 1)
        times = []
        for n in (m1, m2):
            t = time.perf_counter()
            simulate(journey, samples=n, seed=SEED, backend="cuda", details=details)
            times.append(time.perf_counter() - t)
        rate = (m2 - m1) / (times[1] - times[0]) if times[1] > times[0] else float("nan")
        print(
            f"details {'on ' if details else 'off'}: {m2:,} journeys in {times[1]:.2f} s; marginal {rate:.3e} journeys/s"
            f" = {rate / REFERENCE_JPS:.3f} of the reference {REFERENCE_JPS:.1e} (goal >= {GOAL})"
        )
    a = simulate(journey, samples=min(n1, 10**6), seed=SEED + 1, backend="cuda", details=True).counts
    b = simulate(journey, samples=min(n1, 10**6), seed=SEED + 1, backend="cuda", details=True).counts
    print(f"same seed, same counts: {a.equals(b)}")
    return 0 if covered and a.equals(b) else 1


if __name__ == "__main__":
    sys.exit(main())
