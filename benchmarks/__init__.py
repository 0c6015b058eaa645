"""Benchmarks of emac-sim (issue 8): ``python -m benchmarks.run [--quick] --out reports/benchmarks.md``.

Modules: :mod:`benchmarks.journeys` (what is simulated), :mod:`benchmarks.baselines` (the
vectorised NumPy, SimPy and hand-written numba baselines and the comparisons against them),
:mod:`benchmarks.scaling` (samples, leaves, threads, memory, analytic bounds, accuracy per cost),
:mod:`benchmarks.startup` (cold and warm CLI start), :mod:`benchmarks.run` (the report);
``bench_engine``, ``bench_analytic`` and ``bench_dask`` are the engine, analytic and Dask owners'
benchmarks, each exposing ``run(quick) -> dict``.

This module holds the measuring helpers they share. Clocks: single-threaded comparisons use the
process's CPU time (``time.process_time``: every thread of the process, so a library that
spreads work over helper threads is charged in full), which a busy shared machine inflates far
less than wall time; anything multi-threaded or end-to-end uses wall time (and reports the load
average next to it). Every figure is the median of several runs.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

CLOCKS: dict[str, Callable[[], float]] = {"cpu": time.process_time, "wall": time.perf_counter}


def timed(fn: Callable[[], Any], repeats: int, clock: str = "cpu") -> tuple[list[float], Any]:
    """Run ``fn`` ``repeats`` times; return the seconds of each run on ``clock`` and the last result."""
    tick = CLOCKS[clock]
    times: list[float] = []
    out = None
    for _ in range(max(1, int(repeats))):
        t0 = tick()
        out = fn()
        times.append(tick() - t0)
    return times, out


def median(values: list[float]) -> float:
    """Median of a non-empty list (``nan`` when empty)."""
    return float(statistics.median(values)) if values else float("nan")


def cpu_count() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    """``model name`` from /proc/cpuinfo (else what ``platform`` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> float:
    """1-minute load average."""
    try:
        return float(os.getloadavg()[0])
    except OSError:  # pragma: no cover
        return float("nan")


def machine() -> dict:
    """CPU model, CPUs, load average, library versions and the git commit of the checkout."""
    import numba
    import numpy

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "cpu": cpu_model(),
        "cpus": cpu_count(),
        "logicalCpus": os.cpu_count(),
        "loadAverage": load_average(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "commit": commit or "unknown",
    }


@dataclass
class ChildRun:
    """One finished subprocess: exit code, wall seconds and CPU seconds (user + system, all its
    threads), with its captured output."""

    rc: int
    wall: float
    cpu: float
    stdout: str
    stderr: str


def run_child(cmd: list[str], env: dict[str, str] | None = None, timeout: float | None = None, cwd: Path = ROOT) -> ChildRun:
    """Run ``cmd`` and time it; CPU time comes from ``os.wait4`` (this child's own rusage).

    Output goes to temporary files, so a chatty child cannot block on a full pipe. On timeout the
    child is killed and ``rc`` is -9. Memory is not taken from the rusage: Linux carries
    ``ru_maxrss`` across ``execve``, so a child forked from a large parent reports the parent's
    size; children that matter print :func:`peak_rss_mb` themselves.
    """
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; keep Popen from waiting again
        out.seek(0)
        err.seek(0)
        return ChildRun(proc.returncode, wall, usage.ru_utime + usage.ru_stime, out.read(), err.read())


def peak_rss_mb() -> float:
    """Peak resident set size of the running program (MiB): ``VmHWM`` of /proc/self/status.

    ``getrusage(RUSAGE_SELF).ru_maxrss`` is not used because Linux keeps it across ``execve``:
    a subprocess started from a large parent would report the parent's size. Falls back to
    ``ru_maxrss`` where /proc is missing.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:  # pragma: no cover - non-Linux
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
