"""Cold and warm start of the CLI (issues 8 and 15), each command a fresh subprocess.

``emac simulate configs/checkout.yaml --samples 1e5`` and ``emac compile configs/checkout.yaml
--out <tmp>``: *cold* runs get a new, empty kernel cache (``EMAC_CACHE_DIR``) (every ``@njit(cache=True)``
kernel is compiled), *warm* runs reuse the cache the last cold run filled. Python's own bytecode
cache stays warm in both. Each run reports wall seconds (what a user waits) and CPU seconds
(user + system of the subprocess, less sensitive to other load). ``emac compile`` exits 1 for
the checkout (its governance decision is FAIL: A⁻ is below the objective); that is its
documented result, not an error.

:func:`start_profile` explains the times of one command: imports by package (``python -X
importtime``), the command's own time after imports, by package (cProfile), and the numba
compilations a cold start needs, by function group.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from . import ROOT, median, merge_loads, run_child
from .children import spawn
from .journeys import CHECKOUT
from .profile import import_times

OK_EXIT = {"simulate": (0,), "compile": (0, 1)}


def emac_command() -> list[str]:
    """The installed ``emac`` console script beside this interpreter, else ``python -m emac_sim.cli``."""
    beside = Path(sys.executable).with_name("emac")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("emac")
    return [found] if found else [sys.executable, "-m", "emac_sim.cli"]


def _argv(command: str, work: Path, k: int) -> list[str]:
    spec = str(CHECKOUT.relative_to(ROOT))  # the subprocess runs in the checkout
    if command == "simulate":
        return ["simulate", spec, "--samples", "1e5", "--seed", "1", "--format", "json"]
    return ["compile", spec, "--out", str(work / f"out-{k}")]


def start_times(
    cold_runs: int,
    warm_runs: int,
    commands: tuple[str, ...] = ("simulate", "compile"),
    timeout: float = 300.0,
    profile: tuple[str, ...] = ("simulate",),
) -> dict:
    """Wall and CPU seconds of cold and warm starts of each command (medians).

    Parameters
    ----------
    cold_runs, warm_runs
        Runs of each kind per command (each cold run with its own empty numba cache).
    commands
        Any of ``simulate`` and ``compile``.
    timeout
        Seconds allowed per run.
    profile
        Commands to explain with :func:`start_profile` (after their runs, on their warm cache).

    Returns
    -------
    dict
        Per command: ``coldSeconds``, ``coldCpuSeconds``, ``warmSeconds``, ``warmCpuSeconds``
        (medians), ``coldLoad`` / ``warmLoad``, the individual runs, ``argv`` and ``profile``.
    """
    exe = emac_command()
    out: dict = {"executable": exe[0]}
    with tempfile.TemporaryDirectory(prefix="emac-bench-start-") as tmp:
        work = Path(tmp)
        k = 0
        for command in commands:
            runs: dict[str, list[dict]] = {"cold": [], "warm": []}
            for i in range(max(1, cold_runs)):
                cache = work / f"numba-cache-{command}-{i}"
                cache.mkdir()
                env = dict(os.environ, EMAC_CACHE_DIR=str(cache))
                plan = [("cold", 1)] + ([("warm", warm_runs)] if i == max(1, cold_runs) - 1 else [])
                for kind, count in plan:
                    for _ in range(count):
                        k += 1
                        child = run_child(exe + _argv(command, work, k), env=env, timeout=timeout, cwd=ROOT)
                        if child.rc not in OK_EXIT[command]:
                            tail = (child.stderr.strip().splitlines() or [""])[-1]
                            raise RuntimeError(f"emac {command} exited {child.rc}: {tail}")
                        runs[kind].append({"seconds": child.wall, "cpuSeconds": child.cpu, "exit": child.rc, "load": child.load})
            out[command] = {
                "argv": ["emac"] + _argv(command, Path("<tmp>"), 0),
                "coldSeconds": median([r["seconds"] for r in runs["cold"]]),
                "coldCpuSeconds": median([r["cpuSeconds"] for r in runs["cold"]]),
                "warmSeconds": median([r["seconds"] for r in runs["warm"]]),
                "warmCpuSeconds": median([r["cpuSeconds"] for r in runs["warm"]]),
                "coldLoad": merge_loads([r["load"] for r in runs["cold"]]),
                "warmLoad": merge_loads([r["load"] for r in runs["warm"]]),
                "runs": runs,
            }
            if command in profile:
                out[command]["profile"] = start_profile(_argv(command, work, k + 1), cache, work / f"profile-cold-{command}", timeout)
    return out


def start_profile(argv: list[str], warm_cache: Path, empty_cache: Path, timeout: float = 300.0) -> dict:
    """Where the start of ``emac ARGV`` goes, each view from its own fresh process.

    Returns
    -------
    dict
        ``processSeconds`` (a warm process running the command in-process, wall, start to exit),
        its ``importSeconds`` (``import emac_sim.cli``) and ``mainSeconds`` (the command), the
        rest being interpreter start and exit; ``importByPackage`` (``python -X importtime``
        self times of every import of a second such process from ``import emac_sim.cli`` on, the
        command's own lazy imports included) and ``importShare`` (their sum over that process's
        import and command seconds: the flag slows imports, so use the share); ``warmByPackage`` (the command's exclusive
        time by package under cProfile, a third process: use as shares); ``coldMainSeconds`` and
        ``coldCompiles`` (the command with ``empty_cache``: numba compilations by group).
    """
    warm_child, warm = spawn("cli", {"argv": argv}, cache=warm_cache, timeout=timeout)
    imp_child, imp = spawn("cli", {"argv": argv}, cache=warm_cache, timeout=timeout, flags=("-X", "importtime"))
    _, prof = spawn("cli", {"argv": argv, "profile": True}, cache=warm_cache, timeout=timeout)
    _, cold = spawn("cli", {"argv": argv, "record": True}, cache=empty_cache, timeout=timeout)
    return {
        "processSeconds": warm_child.wall,
        "importSeconds": warm["importSeconds"],
        "mainSeconds": warm["mainSeconds"],
        "importByPackage": import_times(imp_child.stderr),
        "importShare": min(1.0, sum(import_times(imp_child.stderr).values()) / max(1e-9, imp["importSeconds"] + imp["mainSeconds"])),
        "warmByPackage": prof["byPackage"],
        "coldMainSeconds": cold["mainSeconds"],
        "coldCompiles": cold["compiles"],
        "exits": [warm["exit"], imp["exit"], prof["exit"], cold["exit"]],
    }
