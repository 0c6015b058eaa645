"""CLI conventions every command follows (issue 12 §3): ``--version``; ``-`` reads the spec from
stdin; ``--samples 1e4`` wherever samples are taken; every bad option value is one line
``emac <cmd>: --option: what is wrong`` with exit code 2 and no usage box; one seed policy,
stated in ``--help``; a ``--vary`` path error names the option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emac_sim import __version__
from emac_sim.cli import SEED_HELP, app

REPO = Path(__file__).resolve().parents[1]
CHECKOUT = REPO / "configs" / "checkout.yaml"
VARY = ["--vary", "components.paya.availability=0.99,0.999"]


def test_version(cli) -> None:
    r = cli("--version")
    assert (r.exit_code, r.stdout, r.stderr) == (0, f"emac-sim {__version__}\n", "")


@pytest.mark.parametrize("command", [["check"], ["bounds"], ["simulate", "--samples", "2e3", "--seed", "4"]])
def test_dash_reads_the_spec_from_stdin(command: list[str]) -> None:
    runner = CliRunner()
    from_file = runner.invoke(app, [command[0], str(CHECKOUT), *command[1:], "--format", "json"])
    from_stdin = runner.invoke(app, [command[0], "-", *command[1:], "--format", "json"], input=CHECKOUT.read_text())
    assert from_stdin.exit_code == 0 and from_file.exit_code == 0, from_stdin.stderr
    a, b = json.loads(from_stdin.stdout), json.loads(from_file.stdout)
    if command[0] == "check":
        assert a.pop("source") == "<stdin>" and b.pop("source") == str(CHECKOUT)
        assert [i["sha256"] for i in a.pop("inputs")] == [i["sha256"] for i in b.pop("inputs")]
    assert a == b


def test_dash_with_a_bad_spec_names_stdin() -> None:
    r = CliRunner().invoke(app, ["check", "-"], input="apiVersion: emac.dev/v1alpha1\nkind: JourneyIntent\nmetadata: {name: x}\nspec: {}\n")
    assert r.exit_code == 2 and r.stderr == "<stdin>: spec: missing required key 'operator'\n"


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["simulate", CHECKOUT, "--samples", "1e4"], "samples"),
        (["compile", CHECKOUT, "--out", "{tmp}/c", "--samples", "1e4"], "samples"),
        (["validate", CHECKOUT, "--samples", "1e4"], None),
        (["whatif", CHECKOUT, *VARY, "--samples", "1e3", "--no-bounds", "--out", "{tmp}/w"], "samples"),
        (["report", CHECKOUT, "--out", "{tmp}/r", "--samples", "1e4", "--sweep-samples", "0"], None),
    ],
    ids=["simulate", "compile", "validate", "whatif", "report"],
)
def test_samples_in_1e4_style_everywhere(cli, tmp_path: Path, args: list, key: str | None) -> None:
    r = cli(*[str(a).format(tmp=tmp_path) for a in args], "--format", "json")
    assert r.exit_code in (0, 1), r  # compile's checkout decision is FAIL (exit 1); nothing is bad input
    d = json.loads(r.stdout)
    if key is not None:
        assert d[key] == (1000 if args[0] == "whatif" else 10_000)


CORRELATIONS = "'declared', 'independent', 'shared', 'pessimistic'"
POSITIVE = "must be a positive whole number such as 100000 or 1e5"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["simulate", CHECKOUT, "--correlation", "bogus"], f"emac simulate: --correlation: 'bogus' is not one of {CORRELATIONS}"),
        (["compile", CHECKOUT, "--out", "{tmp}/o", "--correlation", "bogus"], f"emac compile: --correlation: 'bogus' is not one of {CORRELATIONS}"),
        (["validate", CHECKOUT, "--correlation", "bogus"], f"emac validate: --correlation: 'bogus' is not one of {CORRELATIONS}"),
        (["simulate", CHECKOUT, "--samples", "1e400"], f"emac simulate: --samples: {POSITIVE}, got '1e400'"),
        (["compile", CHECKOUT, "--out", "{tmp}/o", "--samples", "nan"], f"emac compile: --samples: {POSITIVE}, got 'nan'"),
        (
            ["whatif", CHECKOUT, *VARY, "--samples", "1e400"],
            "emac whatif: --samples: must be a whole number (0 or more) such as 100000 or 1e5, got '1e400'",
        ),
        (["report", CHECKOUT, "--out", "{tmp}/r", "--samples", "-5"], f"emac report: --samples: {POSITIVE}, got '-5'"),
        (["simulate", CHECKOUT, "--seed", "abc"], "emac simulate: --seed: must be a whole number"),
        (["report", CHECKOUT, "--out", "{tmp}/r", "--seed", "-1"], "emac report: --seed: must be a non-negative integer, got -1"),
        (["simulate", CHECKOUT, "--confidence", "high"], "emac simulate: --confidence: must be a number"),
        (["simulate", CHECKOUT, "--samplez", "3"], "emac simulate: --samplez: no such option (did you mean --samples?)"),
        (["compile", CHECKOUT], "emac compile: --out: is required"),
        (["check"], "emac check: SPEC: is required"),
        (["simulate", CHECKOUT, "--target-ci", "2"], "emac simulate: --target-ci: must be a half-width in (0, 1), got 2"),
        (["discover", CHECKOUT, "--out", "{tmp}/d", "--split", "bogus"], "emac discover: --split: must be auto, signature or none, got 'bogus'"),
        (["whatif", CHECKOUT, *VARY, "--using", "bogus"], "emac whatif: --using: must be one of independent, upper, montecarlo, got 'bogus'"),
        (
            ["whatif", CHECKOUT, "--vary", "components.nope.availability=0.9", "--samples", "0"],
            "emac whatif: --vary: components.nope.availability: no component 'nope' (has: front, cart, pricing, paya, payb)",
        ),
        (
            ["whatif", CHECKOUT, "--vary", "components.paya.availabilty=0.9", "--samples", "0"],
            "emac whatif: --vary: components.paya.availabilty: unknown key 'availabilty' (did you mean 'availability'?)",
        ),
        (["whatif", CHECKOUT, "--vary", "components..x=1"], "emac whatif: --vary: components..x: malformed spec path: empty segment"),
    ],
)
def test_every_bad_option_value_is_one_line_with_exit_2(cli, tmp_path: Path, args: list, line: str) -> None:
    r = cli(*[str(a).format(tmp=tmp_path) for a in args])
    assert (r.exit_code, r.stderr, r.stdout) == (2, line + "\n", "")


@pytest.mark.parametrize("command", ["simulate", "compile", "validate", "whatif", "report"])
def test_one_seed_policy_stated_in_help(cli, command: str) -> None:
    r = cli(command, "--help")
    assert r.exit_code == 0
    assert " ".join(SEED_HELP.split()) in " ".join(r.stdout.replace("│", " ").split())


def test_simulate_defaults_to_seed_0_like_every_command(cli) -> None:
    default = json.loads(cli("simulate", CHECKOUT, "--samples", "2e3", "--format", "json").stdout)
    explicit = json.loads(cli("simulate", CHECKOUT, "--samples", "2e3", "--seed", "0", "--format", "json").stdout)
    assert default["seed"] == 0 and default == explicit
