"""``emac simulate``: JSON contract, readable output, seeds, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CHECKOUT = CONFIGS / "checkout.yaml"


def test_json_output_follows_the_contract(cli):
    r = cli("simulate", CHECKOUT, "--samples", "2e4", "--seed", "3", "--format", "json")
    assert r.exit_code == 0, r
    d = json.loads(r.stdout)
    assert d["samples"] == 20000 and d["seed"] == 3 and d["correlation"] == "declared"
    lo, hi = d["availability"]["ci"]
    assert lo <= d["availability"]["estimate"] <= hi
    for q in ("p50", "p90", "p99", "p999"):
        est = d["latency"][q]["estimate"]
        assert d["latency"][q]["ci"][0] <= est <= d["latency"][q]["ci"][1]
    assert d["latency"]["p50"]["estimate"] < d["latency"]["p99"]["estimate"]
    assert isinstance(d["tailAmplification"], float)
    again = cli("simulate", CHECKOUT, "--samples", "20000", "--seed", "3", "--format", "json", "--workers", "2")
    assert again.stdout == r.stdout


def test_samples_accept_scientific_and_underscored_forms(cli):
    for text, n in (("1e3", 1000), ("1_500", 1500), ("2.5e3", 2500)):
        d = json.loads(cli("simulate", CHECKOUT, "--samples", text, "--seed", "1", "--format", "json").stdout)
        assert d["samples"] == n


@pytest.mark.parametrize("scenario", ["independent", "shared", "pessimistic"])
def test_scenarios_on_the_paper_spec(cli, paper_spec, scenario):
    r = cli("simulate", paper_spec, "--samples", "1e4", "--seed", "2", "--correlation", scenario, "--format", "json")
    assert r.exit_code == 0, r
    d = json.loads(r.stdout)
    assert d["correlation"] == scenario and d["latency"] is None
    if scenario == "pessimistic":
        assert d["pessimisticShared"] == ["payment-network"]


def test_text_output_and_the_default_seed(cli):
    r = cli("simulate", CHECKOUT, "--samples", "5000")
    assert r.exit_code == 0, r
    assert "availability:" in r.stdout and "seed: 0 " in r.stdout and "(drawn)" not in r.stdout and "p99" in r.stdout
    assert "hedge rate" in r.stdout and "Birnbaum" in r.stdout
    d = json.loads(cli("simulate", CHECKOUT, "--samples", "100", "--format", "json").stdout)
    assert d["seedDrawn"] is False and d["seed"] == 0  # one seed policy: 0 unless --seed says otherwise


def test_target_ci_from_the_command_line(cli):
    d = json.loads(cli("simulate", CHECKOUT, "--samples", "1e6", "--seed", "1", "--target-ci", "0.002", "--format", "json").stdout)
    assert d["samples"] < 1_000_000 and d["targetCi"] == 0.002
    lo, hi = d["availability"]["ci"]
    assert (hi - lo) / 2 <= 0.002


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--samples", "lots"], "emac simulate: --samples: must be a positive whole number such as 100000 or 1e5, got 'lots'"),
        (["--samples", "0"], "emac simulate: --samples: must be a positive whole number such as 100000 or 1e5, got '0'"),
        (["--samples", "1.5"], "emac simulate: --samples: must be a positive whole number such as 100000 or 1e5, got '1.5'"),
        (["--seed", "-4"], "emac simulate: --seed: must be a non-negative integer, got -4"),
        (["--target-ci", "2"], "emac simulate: --target-ci: must be a half-width in (0, 1), got 2"),
        (["--workers", "0"], "emac simulate: --workers: must be at least 1, got 0"),
        (["--confidence", "1.5"], "emac simulate: --confidence: must be in (0, 1), got 1.5"),
    ],
)
def test_bad_options_are_one_line_errors(cli, args, message):
    r = cli("simulate", CHECKOUT, *args)
    assert r.exit_code == 2
    assert r.stderr.strip() == message
    assert r.stdout == ""


def test_unknown_correlation_is_a_usage_error(cli):
    r = cli("simulate", CHECKOUT, "--correlation", "sometimes")
    assert r.exit_code == 2 and "sometimes" in r.stderr


def test_missing_spec_is_a_one_line_error(cli, tmp_path):
    r = cli("simulate", tmp_path / "nope.yaml")
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "nope.yaml" in r.stderr


def test_traces_option(cli, tmp_path):
    out = tmp_path / "traces.json"
    r = cli("simulate", CHECKOUT, "--samples", "200", "--seed", "1", "--traces", out, "--format", "json")
    assert r.exit_code == 0, r
    assert out.is_file() and "traces" in json.loads(r.stdout)
