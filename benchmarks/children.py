"""Measurements that must run in a fresh process: ``python -m benchmarks.children TASK PARAMS OUT``.

``PARAMS`` is a JSON object, ``OUT`` the file the JSON result is written to (stdout stays free for
the commands being measured). The kernel cache the process uses is whatever ``EMAC_CACHE_DIR``
says (the parent sets an empty or a prepared one). Tasks:

* ``simulate`` — time to the first result of ``simulate`` on a journey (:func:`benchmarks.journeys.by_name`),
  with the numba compilations it needed, then optionally its cost on one thread: the fixed cost
  of a call (``small`` samples) and the marginal cost per request (``large`` samples), process CPU
  time, medians; for each requested ``details`` setting in turn.
* ``samples`` — throughput and peak memory (``VmHWM``) of ``simulate`` at one sample count.
* ``cli`` — the ``emac`` command run in this process: the seconds to import ``emac_sim.cli`` and
  of the command, and optionally the numba compilations it needed (``record``) or its exclusive
  time by package under cProfile (``profile``).

Each function here is also callable in-process (tests do so at tiny sizes).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import ChildRun, median, peak_rss_mb, run_child

_T_START = time.perf_counter()


def _simulate(journey: Any, samples: int, details: bool, workers: int = 1, seed: int = 1) -> Any:
    from emac_sim.engine import simulate

    return simulate(journey, samples=int(samples), seed=seed, workers=workers, details=details)


def simulate_task(journey: str, first: int, details: list[bool], small: int = 0, large: int = 0, repeats: list[int] | None = None) -> dict:
    """See the module docstring. Per ``details`` value: ``firstSeconds`` (wall), ``firstCpuSeconds``,
    ``compiles`` (:func:`benchmarks.profile.summarise_compiles`) and, when its entry of ``repeats``
    (one per ``details`` value) is > 0, ``fixedSeconds`` (median CPU seconds of a ``small``-sample
    call), ``largeSeconds`` and ``marginalSecondsPerRequest``; or ``error`` when a call raised."""
    from . import journeys as J
    from .profile import compile_events, summarise_compiles

    t0 = time.perf_counter()
    j = J.by_name(journey)
    out: dict = {"journey": journey, "buildSeconds": time.perf_counter() - t0, "importSeconds": t0 - _T_START, "runs": {}}
    for det, reps in zip(details, repeats or [0] * len(details)):
        row: dict = {}
        out["runs"]["on" if det else "off"] = row
        try:
            with compile_events() as events:
                w0, c0 = time.perf_counter(), time.process_time()
                _simulate(j, first, det)
                row["firstSeconds"] = time.perf_counter() - w0
                row["firstCpuSeconds"] = time.process_time() - c0
            row["compiles"] = summarise_compiles(events)
            if reps > 0:
                fixed, big = [], []
                for _ in range(reps):
                    c0 = time.process_time()
                    _simulate(j, small, det)
                    fixed.append(time.process_time() - c0)
                    c0 = time.process_time()
                    _simulate(j, large, det)
                    big.append(time.process_time() - c0)
                row.update(
                    small=small,
                    large=large,
                    repeats=reps,
                    fixedSeconds=median(fixed),
                    largeSeconds=median(big),
                    marginalSecondsPerRequest=max(0.0, median(big) - median(fixed)) / max(1, large - small),
                )
        except Exception as err:  # a journey the engine cannot run is a result to report
            row["error"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".rstrip(": ")
    return out


def samples_task(journey: str, samples: int, repeats: int, workers: int, details: bool) -> dict:
    """Wall seconds of ``repeats`` runs of ``samples`` samples on ``workers`` threads after a
    1e5-sample warm-up, with the peak RSS after the warm-up and at the end (MiB)."""
    from . import journeys as J

    j = J.by_name(journey)
    _simulate(j, 100_000, details, workers)  # load the kernels, start the threads
    warm_rss = peak_rss_mb()
    times = []
    res = None
    for r in range(repeats):
        t0 = time.perf_counter()
        res = _simulate(j, samples, details, workers, seed=1 + r)
        times.append(time.perf_counter() - t0)
    return {"times": times, "warmRssMb": warm_rss, "peakRssMb": peak_rss_mb(), "blocks": res.counts.n_blocks if res is not None else 0}


def cli_task(argv: list[str], profile: bool = False, record: bool = False) -> dict:
    """Run ``emac ARGV`` in this process: seconds to import ``emac_sim.cli`` (the first thing this
    task does), seconds of the command and its exit code; with ``record`` the numba compilations
    it needed, with ``profile`` its exclusive time by package (cProfile). Neither option imports
    anything before the command that the command would not import itself, except numba for
    ``record``."""
    import contextlib
    import io

    from .profile import MARK

    print(MARK, file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    from emac_sim import cli

    imported = time.perf_counter() - t0
    from .profile import compile_events, profile_by_package, summarise_compiles  # already loaded with MARK

    code = 0

    def run() -> None:
        nonlocal code
        sys.argv = ["emac", *argv]
        try:
            cli.main()
        except SystemExit as stop:
            code = int(stop.code or 0) if not isinstance(stop.code, str) else 1

    by_package: dict[str, float] = {}
    events: list[dict] = []
    with contextlib.ExitStack() as stack:
        if record:
            events = stack.enter_context(compile_events())
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        w0 = time.perf_counter()
        if profile:
            _, by_package = profile_by_package(run)
        else:
            run()
        wall = time.perf_counter() - w0
    return {"importSeconds": imported, "mainSeconds": wall, "exit": code, "compiles": summarise_compiles(events), "byPackage": by_package}


def spawn(task: str, params: dict, *, cache: Path | None = None, timeout: float | None = None, flags: tuple[str, ...] = ()) -> tuple[ChildRun, dict]:
    """Run ``task`` with ``params`` in a fresh interpreter (``flags`` before ``-m``), with
    ``EMAC_CACHE_DIR=cache`` when given; returns the child's run (time, CPU, load, output) and
    its result. Raises ``RuntimeError`` with the child's last error line when it fails."""
    env = dict(os.environ)
    if cache is not None:
        env["EMAC_CACHE_DIR"] = str(cache)
    with tempfile.TemporaryDirectory(prefix="emac-bench-child-") as tmp:
        out = Path(tmp) / "result.json"
        child = run_child([sys.executable, *flags, "-m", "benchmarks.children", task, json.dumps(params), str(out)], env=env, timeout=timeout)
        if child.rc != 0 or not out.is_file():
            lines = [x for x in child.stderr.strip().splitlines() if x.strip()] or [f"exit {child.rc}"]
            why = "timed out" if child.rc == -9 else lines[-1]
            raise RuntimeError(f"{task} in a fresh process failed: {why}")
        return child, json.loads(out.read_text(encoding="utf-8"))


TASKS = {"simulate": simulate_task, "samples": samples_task, "cli": cli_task}


def main(argv: list[str]) -> int:
    """``TASK PARAMS OUT``: run ``TASKS[TASK](**json.loads(PARAMS))`` and write its result to ``OUT``."""
    task, params, out = argv
    result = TASKS[task](**json.loads(params))
    Path(out).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
