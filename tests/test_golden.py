"""Every command's JSON on the shipped configs and the paper's spec, held to golden files.

The goldens were recorded before the operator-module refactor (issue 14): the refactor must not
change what any command says. Each case runs the CLI in-process from the repository root with a
fixed seed and small sample counts; paths of temporary output folders are replaced by ``<out>``.
A deliberate change of output is recorded again with ``EMAC_UPDATE_GOLDEN=1 pytest
tests/test_golden.py`` and reviewed in the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emac_sim.cli import app

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "data" / "golden"
PAPER = REPO.parent / "shared" / "reference" / "paper-checkout" / "spec" / "emac.checkout.yaml"
BOUTIQUE = REPO.parent / "shared" / "reference" / "traces" / "csv" / "online-boutique-2022-08-23-17_00.csv"
SPECS = {
    "checkout": "configs/checkout.yaml",
    "search": "configs/search.yaml",
    "login": "configs/login.yaml",
    "capacity": "configs/capacity.yaml",
    "paper": "../shared/reference/paper-checkout/spec/emac.checkout.yaml",
}
SMALL = ["--samples", "2e4", "--seed", "3"]


def _cases() -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for name, spec in SPECS.items():
        out += [
            (f"check-{name}", ["check", spec, "--format", "json"]),
            (f"bounds-{name}", ["bounds", spec, "--format", "json"]),
            (f"simulate-{name}", ["simulate", spec, *SMALL, "--format", "json"]),
            (f"compile-{name}", ["compile", spec, *SMALL, "--out", "<out>", "--format", "json"]),
            (f"validate-{name}", ["validate", spec, *SMALL, "--format", "json"]),
        ]
    rho = "failureDomains.payment-network.rho=0,0.5"
    boutique = "../shared/reference/traces/csv/online-boutique-2022-08-23-17_00.csv"
    out += [
        ("whatif-checkout", ["whatif", SPECS["checkout"], "--vary", rho, "--samples", "5e3", "--out", "<out>"]),
        ("discover-boutique", ["discover", boutique, "--out", "<out>", "--format", "json"]),
    ]
    return out


def _normalise(text: str, out: Path) -> object:
    return json.loads(text.replace(str(out), "<out>"))


@pytest.mark.parametrize(("name", "argv"), _cases(), ids=[n for n, _ in _cases()])
def test_command_json_matches_the_golden_file(name: str, argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if not PAPER.is_file() or not BOUTIQUE.is_file():
        pytest.skip(f"reference inputs not found at {PAPER.parent.parent.parent}")
    monkeypatch.chdir(REPO)
    out = tmp_path / "out"
    args = [str(out) if a == "<out>" else a for a in argv]
    if argv[0] == "whatif":
        args.append("--format")
        args.append("json")
    r = CliRunner().invoke(app, args)
    assert r.exit_code in (0, 1), r.stderr
    got = _normalise(r.stdout, out)
    path = GOLDEN / f"{name}.json"
    if os.environ.get("EMAC_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(path.read_text())
    assert got == want
