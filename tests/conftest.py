"""Shared fixtures for the whole suite.

- ``reference_dir``: ``../shared/reference`` beside the clone (skips the test when absent).
- ``paper_spec``: the paper's checkout spec inside it.
- ``configs_dir`` / ``config_paths``: the example configs shipped in ``configs/``.
- ``write_spec``: writes YAML text to a file under ``tmp_path`` and returns its path.
- ``cli``: runs ``emac ...`` in-process with typer's CliRunner (stdout and stderr kept apart).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"
CONFIGS = REPO / "configs"

os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".numba_cache"))


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
