"""``emac bounds``: the DESIGN §9 JSON contract, the paper's numbers, the text table, bad input."""

from __future__ import annotations

import json
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "checkout.yaml"


def test_paper_numbers_as_json(cli, paper_spec: Path) -> None:
    r = cli("bounds", paper_spec, "--format", "json")
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    a = out["availability"]
    assert round(a["independent"], 8) == 0.99747706
    assert round(a["pessimistic"], 8) == 0.99251449
    assert round(a["shared"], 6) == 0.994005
    assert a["pessimisticShared"] == ["payment-network"]
    lo, hi = a["dependenceFree"]
    assert lo <= a["pessimistic"] <= a["independent"] <= hi
    assert a["sharedFateRange"][0] == a["pessimistic"]
    assert a["declared"] == a["independent"]  # magnitude-free domains: independent as declared
    assert a["scenarioCount"] == 8
    assert out["latency"] is None and out["latencyModelled"] is False
    assert out["expression"] == "Series(front, Parallel(cart, pricing), Race(paya, payb))"


def test_slo_path_gives_the_same_numbers(cli, paper_spec: Path) -> None:
    atomic = paper_spec.parents[1] / "atomic" / "openslo"
    r = cli("bounds", paper_spec, "--slo-path", atomic, "--format", "json")
    assert r.exit_code == 0, r
    assert round(json.loads(r.stdout)["availability"]["independent"], 8) == 0.99747706


def test_latency_contract_as_json(cli) -> None:
    r = cli("bounds", CONFIG, "--format", "json", "--grid-points", "2048")
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    lat = out["latency"]
    for key in ("p50", "p90", "p99", "p999"):
        row = lat[key]
        assert set(row) == {"independent", "comonotone", "lower", "upper"}
        assert row["lower"] <= row["independent"] <= row["upper"]
    assert 0 < lat["discretisationError"] < 0.01
    assert lat["dkwConfidence"] is None  # no histogram leaves
    assert lat["gridPoints"] == 2048
    a = out["availability"]
    assert a["declared"] is not None and "quadrature" in a["declaredMethod"]
    assert a["dependenceFree"][0] <= a["declared"] <= a["dependenceFree"][1]


def test_text_table(cli) -> None:
    r = cli("bounds", CONFIG)
    assert r.exit_code == 0, r
    for text in (
        "availability",
        "independent (A+)",
        "0.99747706",
        "pessimistic (A-)",
        "payment-network",
        "latency of successful journeys",
        "p999",
        "ms",
    ):
        assert text in r.stdout, text


def test_bad_options_are_one_line_errors(cli) -> None:
    r = cli("bounds", CONFIG, "--grid-points", "3")
    assert r.exit_code == 2
    assert r.stderr.strip() == "emac bounds: --grid-points: must be between 16 and 65536, got 3"
    r = cli("bounds", CONFIG, "--grid-points", "20000000")  # issue 13: 2e7 points ran unbounded
    assert r.exit_code == 2
    assert r.stderr.strip() == "emac bounds: --grid-points: must be between 16 and 65536, got 20000000"
    r = cli("bounds", CONFIG, "--confidence", "1.5")
    assert r.exit_code == 2
    assert r.stderr.strip() == "emac bounds: --confidence: must be in (0, 1), got 1.5"


def test_missing_spec_is_a_one_line_error(cli, tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    r = cli("bounds", missing)
    assert r.exit_code == 2
    assert r.stderr.strip() == f"{missing}: file not found"
    assert "Traceback" not in r.stderr
