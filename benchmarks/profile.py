"""Where the time goes besides the draws: numba compilations, imports, Python code by package.

* :func:`compile_events` — numba compilations (exclusive seconds per function, grouped: generated
  journey kernels, numba's own implementations they call, emac-sim's library functions), from
  numba's event API.
* :func:`import_times` — ``python -X importtime`` self times summed by top-level package.
* :func:`profile_by_package` — cProfile exclusive times summed by package.

Nothing here imports numba or emac-sim at module level, so a process measuring an ``emac``
command's start can load these helpers without changing what the command itself imports.
"""

from __future__ import annotations

import cProfile
import pstats
import sysconfig
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------- compilation


GENERATED = "generated journey kernels"
NUMBA_OWN = "numba's implementations of what they call"


def kernel_group(module: str) -> str:
    """Report group of a compiled function's module: the generated kernels are one group, numba's
    own implementations (``rng.standard_normal`` and the like, compiled for each new caller in
    each process) another, emac-sim's library functions one per module."""
    if module.startswith("emac_kernel_"):
        return GENERATED
    if module == "numba" or module.startswith("numba."):
        return NUMBA_OWN
    return module


@contextmanager
def compile_events() -> Iterator[list[dict]]:
    """Record numba compilations in the block; the yielded list is filled on exit with one entry
    per compiled function: ``module``, ``function``, ``seconds`` (exclusive of the functions its
    compilation compiled in turn) and ``totalSeconds``. Loads from numba's cache are not
    compilations and are not recorded."""
    from numba.core import event

    out: list[dict] = []
    with event.install_recorder("numba:compile") as rec:
        yield out
    stack: list[list] = []  # [start time, nested seconds]; numba compiles under one global lock
    for ts, ev in rec.buffer:
        if ev.is_start:
            stack.append([ts, 0.0])
            continue
        if not stack:  # pragma: no cover - an end without its start
            continue
        t0, nested = stack.pop()
        total = ts - t0
        func = getattr(ev.data.get("dispatcher"), "py_func", None)
        out.append(
            {
                "module": getattr(func, "__module__", "?"),
                "function": getattr(func, "__qualname__", "?"),
                "seconds": max(0.0, total - nested),
                "totalSeconds": total,
            }
        )
        if stack:
            stack[-1][1] += total


def summarise_compiles(events: list[dict]) -> dict:
    """``{group: {"functions": n, "seconds": s}}`` from :func:`compile_events` entries, largest first."""
    groups: dict[str, dict] = {}
    for e in events:
        g = groups.setdefault(kernel_group(e["module"]), {"functions": 0, "seconds": 0.0})
        g["functions"] += 1
        g["seconds"] += e["seconds"]
    return dict(sorted(groups.items(), key=lambda kv: -kv[1]["seconds"]))


# --------------------------------------------------------------------------- imports and Python time


MARK = "emac-bench: the command's imports start here"
"""Written to stderr by :func:`benchmarks.children.cli_task` before it imports ``emac_sim.cli``:
:func:`import_times` counts only the imports after it (not those of the measuring harness)."""


def import_times(stderr: str, after: str | None = MARK) -> dict[str, float]:
    """Seconds of import by top-level package from ``python -X importtime`` output (self times
    summed, so nothing is counted twice), largest first; only the lines after the line ``after``
    when it occurs."""
    lines = stderr.splitlines()
    if after is not None and after in lines:
        lines = lines[lines.index(after) + 1 :]
    out: Counter[str] = Counter()
    for line in lines:
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        try:
            self_us, _cum, name = (x.strip() for x in line[len("import time:") :].split("|"))
            out[name.split(".")[0]] += int(self_us) / 1e6
        except ValueError:
            continue
    return dict(out.most_common())


_STDLIB = sysconfig.get_paths()["stdlib"]
WAITING = "waiting for the worker threads (they run the kernels)"


def _package(filename: str) -> str:
    """Top-level package of a source file (``site-packages/numba/core/x.py`` → ``numba``)."""
    if filename.startswith("<") or filename == "~":
        return "python (builtins, import machinery)"
    parts = Path(filename).parts
    if parts and parts[-1].startswith("k_") and len(parts) > 1 and parts[-2] == "kernels":
        return "generated journey kernels (Python side)"
    for anchor in ("site-packages", "dist-packages"):
        if anchor in parts:
            rest = parts[parts.index(anchor) + 1 :]
            return rest[0].removesuffix(".py") if rest else "?"
    if "emac_sim" in parts:
        return "emac_sim." + parts[parts.index("emac_sim") + 1].removesuffix(".py") if parts[-1] != "emac_sim" else "emac_sim"
    if "benchmarks" in parts:
        return "benchmarks"
    if filename.startswith(_STDLIB):
        if parts[-1] == "threading.py" or "concurrent" in parts:
            return WAITING
        return "python (standard library)"
    return "other"


def profile_by_package(fn: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Run ``fn`` under cProfile; its result and the exclusive seconds spent in each package's
    code (``emac_sim.<module>``, ``numba``, ``numpy``, …; C functions count for the package that
    called them), largest first. cProfile slows Python code down: use the shares, not the sums."""
    prof = cProfile.Profile()
    try:
        out = prof.runcall(fn)
    finally:
        stats = pstats.Stats(prof)
    by: Counter[str] = Counter()
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if filename == "~" and callers:  # a C function: charge it to its first caller's package
            filename = next(iter(callers))[0]
        by[_package(filename)] += tottime
    return out, dict(by.most_common())
