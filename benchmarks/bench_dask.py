"""Benchmark: the Dask backend with 2 local worker processes vs the thread backend with 2 threads.

``run(quick)`` returns a JSON-ready dict (the benchmark runner calls it); as a script it prints
that dict (``python benchmarks/bench_dask.py [--quick]``). Figures, all on the checkout journey
(``configs/checkout.yaml``, declared correlation, default 65,536-sample blocks):

- ``threads.samplesPerSecond`` / ``dask.samplesPerSecond``: median throughput of the same run
  (same seed; the results are checked to be identical) on 2 threads and on a
  ``distributed.LocalCluster`` of 2 single-threaded worker processes on loopback, after a
  warm-up run that loads the numba kernels in every worker;
- ``overheadPerBlockMs``: (dask wall time − threads wall time) / blocks for that run: what the
  cluster costs per block at the default batching (several blocks per task);
- ``overheadPerTaskMs``: wall time / tasks for tasks of one 64-sample block each (compute
  negligible, 2 workers): the fixed cost of one task, i.e. of one block when not batched;
- ``clusterStartSeconds``: starting the cluster and warming its workers (paid once per
  ``--scheduler dask-local`` command).

Timings are medians of several repeats (1 in quick mode).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "checkout.yaml"
SEED = 20240601


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def run(quick: bool = False) -> dict:
    """Throughput on 2 threads vs 2 local Dask workers, and the per-block / per-task overhead."""
    import distributed

    import emac_sim
    from emac_sim.engine import BlockResult, compile_journey, plan_blocks, simulate
    from emac_sim.engine import dask_backend as db
    from emac_sim.model.scenario import named_scenario

    samples = 1_000_000 if quick else 8_000_000
    repeats = 1 if quick else 3
    tiny_tasks = 200 if quick else 1000
    journey = emac_sim.load_spec(CONFIG)
    simulate(journey, samples=1000, seed=SEED, workers=2)  # load the kernels here first

    t_threads, res_threads = _median_time(lambda: simulate(journey, samples=samples, seed=SEED, workers=2), repeats)

    t0 = time.perf_counter()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=":0", silence_logs=logging.ERROR
        ) as cluster,
        distributed.Client(cluster, set_as_default=False) as client,
    ):
        client.wait_for_workers(2)
        simulate(journey, samples=200_000, seed=SEED, client=client, block_size=16384)  # warm both workers
        start = time.perf_counter() - t0
        t_dask, res_dask = _median_time(lambda: simulate(journey, samples=samples, seed=SEED, client=client), repeats)

        compiled = compile_journey(journey, named_scenario(journey, "declared", None))
        sizes = plan_blocks(64 * tiny_tasks, 64)

        def tiny() -> BlockResult:
            merged = BlockResult.empty(compiled)
            for r in db.iter_blocks(client, compiled, SEED, sizes, blocks_per_task=1):
                merged = merged.merge(r)
            return merged

        t_tiny, _ = _median_time(tiny, repeats)
        slots = db.worker_slots(client)

    blocks = res_threads.counts.n_blocks
    n_tasks = len(db.plan_tasks(blocks, res_threads.block_size, slots))
    import dask

    return {
        "journey": str(CONFIG.name),
        "samples": samples,
        "blockSize": res_threads.block_size,
        "blocks": blocks,
        "tasks": n_tasks,
        "repeats": repeats,
        "identical": res_threads.to_dict() == res_dask.to_dict(),
        "threads": {"workers": 2, "seconds": t_threads, "samplesPerSecond": samples / t_threads},
        "dask": {"workers": 2, "threadsPerWorker": 1, "seconds": t_dask, "samplesPerSecond": samples / t_dask},
        "daskOverThreads": t_threads / t_dask,
        "overheadPerBlockMs": 1e3 * (t_dask - t_threads) / blocks,
        "overheadPerTaskMs": 1e3 * t_tiny / tiny_tasks,
        "tinyTasks": tiny_tasks,
        "clusterStartSeconds": start,
        "machine": {"cpu": _cpu_model(), "cpus": len(os.sched_getaffinity(0)), "python": platform.python_version()},
        "versions": {"dask": dask.__version__, "distributed": distributed.__version__},
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))
