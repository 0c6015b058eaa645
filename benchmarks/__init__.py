"""Benchmarks of emac-sim (issues 8 and 15): ``python -m benchmarks.run [--quick] --out reports/benchmarks.md``.

Modules: :mod:`benchmarks.journeys` (what is simulated), :mod:`benchmarks.baselines` (the
vectorised NumPy and SimPy baselines and the comparisons against them),
:mod:`benchmarks.bench_engine` (issue 15's hand-specialised checkout kernel and the comparison
against it), :mod:`benchmarks.scaling` (samples, leaves, threads, memory, analytic bounds, accuracy
per cost), :mod:`benchmarks.startup` (cold and warm CLI start), :mod:`benchmarks.profile` (what
the time is spent on: draws, compilation, imports), :mod:`benchmarks.children` (the measurements
that run in a fresh process), :mod:`benchmarks.run` (orchestration) and :mod:`benchmarks.report`
(the Markdown report); ``bench_analytic`` and ``bench_dask`` are the analytic and Dask owners'
benchmarks, each exposing ``run(quick) -> dict``.

This module holds the measuring helpers they share. Clocks: single-threaded comparisons use the
process's CPU time (``time.process_time``: every thread of the process, so a library that
spreads work over helper threads is charged in full), which a busy shared machine inflates far
less than wall time; anything multi-threaded or end-to-end uses wall time. Every figure carries
the load it was measured under (:class:`LoadMeter`): the 1-minute load average when it started
and the CPU that *other* processes used while it ran.
"""

from __future__ import annotations

import math
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


QUIET_OTHERS_CORES = 0.2
"""A measurement counts as taken on a quiet machine when other processes used at most this many
CPUs (on average over the measurement) and the hypervisor stole at most this much too."""

_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _machine_cpu_seconds() -> tuple[float, float] | None:
    """(busy, stolen) CPU seconds of the whole machine since boot, from /proc/stat (None elsewhere)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:  # pragma: no cover - non-Linux
        return None
    ticks = [int(x) for x in fields[1:9]] + [0] * 8
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks[:8]
    return (user + nice + system + irq + softirq) / _CLK_TCK, steal / _CLK_TCK


def _own_cpu_seconds() -> float:
    """CPU seconds of this process (every thread) and of its reaped children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class LoadMeter:
    """Context manager recording the load a measurement ran under.

    On exit, :attr:`result` holds ``load1`` (the 1-minute load average at entry: it includes this
    process), ``seconds`` (wall), ``ownCores`` (CPUs this process and the children it reaped used,
    on average), ``othersCores`` (CPUs every *other* process used: the machine's busy time from
    /proc/stat minus ours) and ``stealCores`` (time the hypervisor gave to other guests);
    ``quiet`` says whether others and steal stayed within :data:`QUIET_OTHERS_CORES`.
    """

    def __enter__(self) -> LoadMeter:
        self.result: dict = {}
        self._load1 = load_average()
        self._t0 = time.perf_counter()
        self._machine0 = _machine_cpu_seconds()
        self._own0 = _own_cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = max(time.perf_counter() - self._t0, 1e-9)
        own = _own_cpu_seconds() - self._own0
        machine1 = _machine_cpu_seconds()
        out = {"load1": self._load1, "seconds": wall, "ownCores": own / wall, "othersCores": math.nan, "stealCores": math.nan}
        if self._machine0 is not None and machine1 is not None:
            busy, steal = machine1[0] - self._machine0[0], machine1[1] - self._machine0[1]
            out["othersCores"] = max(0.0, busy - own) / wall
            out["stealCores"] = max(0.0, steal) / wall
        out["quiet"] = bool(out["othersCores"] <= QUIET_OTHERS_CORES and out["stealCores"] <= QUIET_OTHERS_CORES)
        self.result = out


def merge_loads(loads: list[dict]) -> dict:
    """One load record for several measurements: the highest load average, others' and stolen
    CPUs averaged over the total wall time, quiet only if every part was."""
    loads = [x for x in loads if x]
    if not loads:
        return {}
    wall = sum(x["seconds"] for x in loads)

    def avg(key: str) -> float:
        return sum(x[key] * x["seconds"] for x in loads) / wall

    return {
        "load1": max(x["load1"] for x in loads),
        "seconds": wall,
        "ownCores": avg("ownCores"),
        "othersCores": avg("othersCores"),
        "stealCores": avg("stealCores"),
        "quiet": all(x["quiet"] for x in loads),
    }


def threads_per_core() -> int | None:
    """Hardware threads per core among the CPUs this process may run on (sysfs), None if unknown."""
    most = 0
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return None
    for cpu in cpus:
        try:
            text = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list").read_text().strip()
        except OSError:
            return None
        count = 0
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            count += int(hi) - int(lo) + 1 if hi else 1
        most = max(most, count)
    return most or None


def machine() -> dict:
    """CPU model, CPUs, threads per core, load average, library versions and the git commit."""
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
        "threadsPerCore": threads_per_core(),
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
    load: dict


def run_child(cmd: list[str], env: dict[str, str] | None = None, timeout: float | None = None, cwd: Path = ROOT) -> ChildRun:
    """Run ``cmd`` and time it; CPU time comes from ``os.wait4`` (this child's own rusage), the
    load it ran under from :class:`LoadMeter`.

    Output goes to temporary files, so a chatty child cannot block on a full pipe. On timeout the
    child is killed and ``rc`` is -9. Memory is not taken from the rusage: Linux carries
    ``ru_maxrss`` across ``execve``, so a child forked from a large parent reports the parent's
    size; children that matter print :func:`peak_rss_mb` themselves.
    """
    import tempfile

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, LoadMeter() as meter:
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
        stdout, stderr = out.read(), err.read()
    return ChildRun(proc.returncode, wall, usage.ru_utime + usage.ru_stime, stdout, stderr, meter.result)


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
