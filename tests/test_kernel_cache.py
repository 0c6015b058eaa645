"""One numba kernel cache for the ``emac`` command, the Python API and the tests, and the one-line
notice when it is cold (issue 12 §1).

Subprocesses are used wherever numba's import-time configuration matters: a fresh interpreter
is the only way to see what ``import emac_sim`` does before numba is imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from emac_sim import kernelcache

REPO = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("EMAC_CACHE_DIR", "NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update({"PYTHONPATH": str(REPO), "HOME": str(tmp_path / "home"), **extra})
    return env


def _python(code: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"HOME": "/home/u"}, "/home/u/.cache/emac-sim"),
        ({"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg"}, "/xdg/emac-sim"),
        ({"HOME": "/home/u", "XDG_CACHE_HOME": "/xdg", "NUMBA_CACHE_DIR": "/numba"}, "/numba"),
        ({"HOME": "/home/u", "NUMBA_CACHE_DIR": "/numba", "EMAC_CACHE_DIR": "/emac"}, "/emac"),
        ({"HOME": "/home/u", "EMAC_CACHE_DIR": ""}, "/home/u/.cache/emac-sim"),
    ],
)
def test_cache_directory_precedence(env: dict[str, str], expected: str) -> None:
    assert kernelcache.resolve_cache_dir(env) == Path(expected)


def test_this_session_compiles_into_the_directory_the_cli_uses() -> None:
    import numba

    assert numba.config.CACHE_DIR == str(kernelcache.cache_dir()) == str(kernelcache.resolve_cache_dir())


@pytest.mark.parametrize("runner", ["Makefile", ".ci/run"])
def test_make_and_ci_leave_the_cache_to_emac_sim(runner: str) -> None:
    # a NUMBA_CACHE_DIR set here would give the tests a cache the `emac` command never reads
    assert "NUMBA_CACHE_DIR" not in (REPO / runner).read_text()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "home/.cache/emac-sim"),
        ({"XDG_CACHE_HOME": "{tmp}/xdg"}, "xdg/emac-sim"),
        ({"EMAC_CACHE_DIR": "{tmp}/emac", "NUMBA_CACHE_DIR": "{tmp}/numba"}, "emac"),
    ],
)
@pytest.mark.parametrize("numba_first", [False, True])
def test_importing_emac_sim_points_numba_at_the_cache(tmp_path: Path, extra: dict[str, str], expected: str, numba_first: bool) -> None:
    env = _env(tmp_path, **{k: v.format(tmp=tmp_path) for k, v in extra.items()})
    first = "import numba\n" if numba_first else ""
    res = _python(first + "import emac_sim, numba\nprint(numba.config.CACHE_DIR)\n", env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(tmp_path / expected)
    assert (tmp_path / expected).is_dir()


def test_cold_cache_is_detected_and_warm_cache_is_not(tmp_path: Path) -> None:
    (tmp_path / "tiny_kernel.py").write_text("from numba import njit\n\n\n@njit(cache=True)\ndef add_one(x):\n    return x + 1\n")
    code = """
        import sys
        from emac_sim import kernelcache
        import tiny_kernel
        print(kernelcache.is_cold(tiny_kernel.add_one))
        print(kernelcache.announce_if_cold(tiny_kernel.add_one))
        tiny_kernel.add_one(1)
        print(kernelcache.is_cold(tiny_kernel.add_one))
        print(kernelcache.announce_if_cold(tiny_kernel.add_one))
    """
    env = _env(tmp_path, EMAC_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=f"{REPO}{os.pathsep}{tmp_path}")
    cold = _python(code, env)
    assert cold.returncode == 0, cold.stderr
    assert cold.stdout.split() == ["True", "True", "False", "False"]
    assert cold.stderr == f"compiling kernel (one time); cached in {tmp_path / 'cache'}\n"
    warm = _python(code, env)
    assert warm.returncode == 0, warm.stderr
    assert warm.stdout.split() == ["False", "False", "False", "False"]
    assert warm.stderr == ""


@pytest.mark.slow
def test_the_cli_announces_a_cold_cache_once(tmp_path: Path) -> None:
    env = _env(tmp_path, EMAC_CACHE_DIR=str(tmp_path / "cache"))
    spec = REPO / "configs" / "checkout.yaml"
    cmd = [sys.executable, "-m", "emac_sim.cli", "simulate", str(spec), "--samples", "2000", "--seed", "0", "--format", "json"]
    cold = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert cold.returncode == 0, cold.stderr
    assert cold.stderr == f"compiling kernel (one time); cached in {tmp_path / 'cache'}\n"
    warm = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert warm.returncode == 0 and warm.stderr == "", warm.stderr
    assert warm.stdout == cold.stdout
