"""Fan-out study: 1 % slow calls and 100-way fan-out make about 63 % slow requests (issue 7)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emac_sim.cli import app
from emac_sim.errors import SpecError
from emac_sim.studies.fanout import fanout_journey, fanout_study

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_hundred_way_fanout_is_slow_63_percent_of_the_time() -> None:
    """P(request slow) = 1 − 0.99¹⁰⁰ ≈ 0.634 (Dean & Barroso 2013).

    The analytic layer composes the mixture latencies exactly (constant parts far from the
    threshold), so it matches the closed form to rounding. The Monte Carlo share of slow
    requests is a binomial proportion: |p̂ − p| < 5·sqrt(p(1 − p)/n).
    """
    n = 20_000
    res = fanout_study([100], slow_probability=0.01, samples=n, seed=11)
    r = res.frame.to_dicts()[0]
    p = 1 - 0.99**100
    assert r["slow_theory"] == pytest.approx(p, rel=1e-15)
    assert abs(r["slow_analytic"] - p) < 1e-9
    assert abs(r["slow_mc"] - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert r["slow_mc_lo"] <= r["slow_mc"] <= r["slow_mc_hi"]
    # with more than half the requests slow, the median request is as slow as a slow call
    assert r["p50_theory"] == 1.0 and r["p50_analytic"] == pytest.approx(1.0, rel=1e-3)
    assert r["p50_mc_lo"] <= 1.0 <= r["p50_mc_hi"]


def test_fanout_widths_follow_the_closed_form() -> None:
    res = fanout_study([1, 10, 50], slow_probability=0.05, samples=0)
    for r in res.frame.to_dicts():
        assert abs(r["slow_analytic"] - (1 - 0.95 ** r["width"])) < 1e-9
        assert r["slow_mc"] is None
    # the median jumps to the slow level once 1 − 0.95ⁿ > 1/2, i.e. n ≥ 14
    assert [r["p50_theory"] for r in res.frame.to_dicts()] == pytest.approx([0.01, 0.01, 1.0], rel=1e-12)


def test_fanout_journey_is_a_normal_spec() -> None:
    j = fanout_journey(3, {"dist": "constant", "value": 0.01}, deadline=0.2)
    assert j.expression == "Timeout(Parallel(server, server, server), 200ms)"
    with pytest.raises(SpecError, match="threshold"):
        fanout_study([2], threshold=2.0, samples=0)  # the slow part (1 s) lies below the threshold
    with pytest.raises(SpecError, match="slowProbability"):
        fanout_study([2], slow_probability=0.0, samples=0)


def test_fanout_study_file_cli(tmp_path: Path) -> None:
    text = (ROOT / "configs" / "studies" / "fanout.yaml").read_text()
    assert "widths: [1, 2, 5, 10, 20, 50, 100, 200]" in text
    study = tmp_path / "fanout.yaml"
    study.write_text(text.replace("widths: [1, 2, 5, 10, 20, 50, 100, 200]", "widths: [1, 10, 100]"))
    out = tmp_path / "fan"
    res = runner.invoke(app, ["whatif", "--study", str(study), "--samples", "1000", "--out", str(out), "--format", "json"])
    assert res.exit_code == 0, res.stderr
    d = json.loads(res.stdout)
    assert d["study"] == "fan-out" and d["seed"] == 11 and d["samples"] == 1000
    assert [p["width"] for p in d["points"]] == [1, 10, 100]
    for name in ("fanout.parquet", "fanout.csv", "fanout.json", "fanout.png", "fanout.svg"):
        assert (out / name).stat().st_size > 500, name
    assert (out / "fanout.png").stat().st_size > 20_000
