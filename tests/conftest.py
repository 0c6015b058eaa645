"""Shared fixtures for the whole suite.

- ``reference_dir``: ``../shared/reference`` beside the clone (skips the test when absent).
- ``paper_spec``: the paper's checkout spec inside it.
- ``configs_dir`` / ``config_paths``: the example configs shipped in ``configs/``.
- ``write_spec``: writes YAML text to a file under ``tmp_path`` and returns its path.
- ``cli``: runs ``emac ...`` in-process with typer's CliRunner (stdout and stderr kept apart).

Two session-wide guarantees: tests write only under pytest's temporary directories (the session
fails, naming the files, when the work tree gained or changed files), and property tests draw the
same examples whichever modules happen to be imported before them (see
:func:`pin_hypothesis_constants`).
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
CONFIGS = REPO / "configs"

# files that tools (not tests) keep in the work tree; all of them are git-ignored
_TOOL_CACHES = ("__pycache__", ".pytest_cache", ".ruff_cache", ".numba_cache")
_WORK_TREE = pytest.StashKey[set[str] | None]()
_WORK_TREE_CHANGES = pytest.StashKey[list[str]]()


def config_files() -> list[Path]:
    """Every example config (``configs/*.yaml``), sorted; usable in ``parametrize``."""
    return sorted(CONFIGS.glob("*.yaml"))


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/reference`` (CI puts shared/ beside the clone); skip when it is absent."""
    if not REFERENCE.is_dir():
        pytest.skip(f"reference inputs not found at {REFERENCE}")
    return REFERENCE


@pytest.fixture(scope="session")
def paper_spec(reference_dir: Path) -> Path:
    """The paper's ``emac.checkout.yaml`` (OpenSLO refs resolved from ``../atomic/openslo``)."""
    p = reference_dir / "paper-checkout" / "spec" / "emac.checkout.yaml"
    if not p.is_file():
        pytest.skip(f"paper spec not found at {p}")
    return p


@pytest.fixture(scope="session")
def configs_dir() -> Path:
    return CONFIGS


@pytest.fixture(scope="session")
def config_paths() -> list[Path]:
    return config_files()


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """``write_spec(text, name="spec.yaml")``: dedent ``text``, write it under ``tmp_path``, return the path."""

    def write(text: str, name: str = "spec.yaml") -> Path:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text), encoding="utf-8")
        return p

    return write


class CliResult:
    """What one in-process ``emac`` run produced."""

    def __init__(self, result) -> None:  # click.testing.Result
        self.exit_code: int = result.exit_code
        self.stdout: str = result.stdout
        self.stderr: str = result.stderr
        self.exception: BaseException | None = result.exception
        self._result = result

    def __repr__(self) -> str:
        return f"CliResult(exit_code={self.exit_code}, stderr={self.stderr!r}, stdout={self.stdout[:500]!r})"


@pytest.fixture
def cli() -> Callable[..., CliResult]:
    """``cli("check", path, "--format", "json")`` → :class:`CliResult` (never raises)."""
    from emac_sim.cli import app

    runner = CliRunner()

    def run(*args: object) -> CliResult:
        return CliResult(runner.invoke(app, [str(a) for a in args], catch_exceptions=True))

    return run


# Property tests draw the same examples on every run (STYLE: fixed seeds, never "rerun on
# failure"); set HYPOTHESIS_PROFILE=explore locally to search new examples.
settings.register_profile("emac", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "emac"))


def pin_hypothesis_constants() -> bool:
    """Keep the literals of imported modules out of hypothesis' draws.

    Hypothesis (6.131+) mixes numbers and strings found in the source of every imported local
    module into the values it draws, and freezes that pool per strategy at its first use. A
    derandomized test therefore drew different examples depending on which modules the tests
    before it had imported (``make verify`` and ``make test-all`` saw different journeys than
    the test file alone). Hypothesis offers no setting for this, so the pool is pinned empty:
    draws then depend only on the test and its seed. Returns False when this hypothesis version
    has no such pool (nothing to pin).
    """
    try:
        from hypothesis.internal.conjecture import providers
        from hypothesis.internal.constants_ast import Constants
    except ImportError:
        return False
    if not hasattr(providers, "_get_local_constants"):
        return False
    empty = Constants()
    providers._get_local_constants = lambda: empty
    return True


pin_hypothesis_constants()


@pytest.fixture(scope="session", autouse=True)
def _hypothesis_storage(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Hypothesis' caches go under pytest's temporary directory, not ``.hypothesis/`` in the work tree."""
    set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))


@pytest.fixture(scope="session", autouse=True)
def _quiet_compile_notice() -> None:
    """The in-process CLI tests compare stderr byte for byte; the one-time "compiling kernel"
    notice is tested in subprocesses (``test_kernel_cache.py``)."""
    from emac_sim import kernelcache

    kernelcache.mark_announced()


def _work_tree_state() -> set[str] | None:
    """``git status`` entries (untracked and ignored files included), tool caches left out;
    ``None`` outside a git work tree."""
    try:
        res = subprocess.run(
            ["git", "status", "--porcelain=v1", "-z", "--ignored", "--untracked-files=all"], cwd=REPO, capture_output=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if res.returncode != 0:
        return None
    entries = {e for e in res.stdout.decode("utf-8", "replace").split("\0") if len(e) > 3}
    return {e for e in entries if not any(part in _TOOL_CACHES for part in Path(e[3:]).parts)}


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_WORK_TREE] = _work_tree_state()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when tests left files in the work tree (they write only under tmp_path)."""
    before = session.config.stash.get(_WORK_TREE, None)
    after = _work_tree_state() if before is not None else None
    if before is None or after is None:
        return
    new = sorted(after - before)
    if new:
        session.config.stash[_WORK_TREE_CHANGES] = new
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    new = config.stash.get(_WORK_TREE_CHANGES, [])
    if new:
        terminalreporter.write_sep("=", "tests changed the work tree (write under tmp_path instead)", red=True)
        for e in new[:20]:
            terminalreporter.write_line(e)
