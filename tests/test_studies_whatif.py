"""emac whatif: sweeps with bounds and common-random-number estimates, find-max (issue 7)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from matplotlib import image as mpimg
from scipy import stats
from typer.testing import CliRunner

from emac_sim.cli import app
from emac_sim.studies.constraints import parse_constraint
from emac_sim.studies.grid import parse_vary
from emac_sim.studies.whatif import find_max, whatif

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = ROOT / "configs" / "checkout.yaml"
CAPACITY = ROOT / "configs" / "capacity.yaml"
runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def _check_plot(png: Path, svg: Path) -> None:
    assert png.stat().st_size > 20_000, "PNG looks empty"
    h, w = mpimg.imread(png).shape[:2]
    assert w > 1000 and h > 400
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and svg.stat().st_size > 10_000


def test_rho_sweep_on_checkout(tmp_path: Path) -> None:
    out = tmp_path / "rho"
    code, stdout, stderr = _invoke(
        "whatif", str(CHECKOUT), "--vary", "failureDomains.payment-network.rho=0:1:3", "--samples", "4000", "--seed", "7",
        "--out", str(out), "--format", "json",
    )
    assert code == 0, stderr
    d = json.loads(stdout)
    assert d["seed"] == 7 and d["samples"] == 4000
    assert d["vary"][0]["resolvedPath"] == "spec.failureDomains.rules[2].correlation.rho"
    pts = d["points"]
    assert [p["failureDomains.payment-network.rho"] for p in pts] == [0.0, 0.5, 1.0]
    ind = [p["availability_independent"] for p in pts]
    dec = [p["availability_declared"] for p in pts]
    # independence ignores rho; the declared correlation at rho = 0 is independence, and
    # shared fate lowers this redundant (race) journey as rho grows
    assert ind[0] == ind[1] == ind[2]
    assert dec[0] == pytest.approx(ind[0], abs=1e-12)
    assert dec[0] > dec[1] > dec[2]
    for p in pts:
        assert p["dependence_free_lo"] <= p["shared_fate_lo"] <= p["shared_fate_hi"] <= p["dependence_free_hi"]
        assert p["p99_lower"] <= p["p99_independent"] <= p["p99_upper"]
        # the estimate is a binomial proportion around the declared value (5 standard errors)
        a = p["mc_availability"]
        assert abs(a - p["availability_declared"]) < 5 * math.sqrt(a * (1 - a) / 4000) + 1e-3 * (p["failureDomains.payment-network.rho"] == 1.0)
        assert p["mc_availability_lo"] <= a <= p["mc_availability_hi"]
        assert p["objective_availability"] == 0.995 and p["objective_latency"] == 0.4
    frame = pl.read_parquet(out / "whatif.parquet")
    assert frame.height == 3 and frame["mc_availability"].to_list() == [p["mc_availability"] for p in pts]
    assert pl.read_csv(out / "whatif.csv").height == 3
    assert json.loads((out / "whatif.json").read_text())["points"] == pts
    _check_plot(out / "whatif.png", out / "whatif.svg")


def test_capacity_sweep_reaches_saturation(tmp_path: Path) -> None:
    out = tmp_path / "cap"
    code, stdout, stderr = _invoke(
        "whatif", str(CAPACITY), "--vary", "load.rate=40,100,160", "--samples", "3000", "--seed", "5", "--out", str(out), "--format", "json"
    )
    assert code == 0, stderr
    pts = json.loads(stdout)["points"]
    assert [p["saturated"] for p in pts] == [False, False, True]
    ok = pts[:2]
    # utilisation follows the load; latency grows with it
    assert ok[0]["utilisation_index"] < ok[1]["utilisation_index"] < 1.0
    assert ok[0]["p99_independent"] < ok[1]["p99_independent"]
    assert all(p["capacity_iterations"] >= 2 and p["capacity_converged"] for p in ok)
    # saturation: flagged, no latency number invented (JSON null = infinite), availability 0
    sat = pts[2]
    assert "index" in sat["saturated_components"].split(",")
    assert sat["p99_independent"] is None and sat["mc_p99"] is None
    assert sat["availability_independent"] == 0.0
    frame = pl.read_parquet(out / "whatif.parquet")
    assert math.isinf(frame["p99_independent"][2]) and math.isinf(frame["mc_p99"][2])
    _check_plot(out / "whatif.png", out / "whatif.svg")


def test_common_random_numbers_shrink_differences() -> None:
    """A small change (paya 0.995 → 0.996) simulated with one seed at both points moves the estimate
    by much less than two independent runs differ.

    With common random numbers a sample changes outcome only when paya's failure uniform lies in
    (0.995, 0.996] *and* the race then fails, so Var(Δ̂) ≈ P(flip)/n ≪ 2p(1 − p)/n, the variance of
    the difference of independent runs. Ten seeds give ten CRN differences and five independent
    ones (disjoint seed pairs); an F-test at α = 1e-3 must find the CRN variance smaller.
    """
    n = 5_000
    vary = [parse_vary("components.paya.availability=0.995,0.996")]
    seeds = range(101, 111)
    est = {s: whatif(CHECKOUT, vary, samples=n, seed=s, analytic=False).frame["mc_availability"].to_list() for s in seeds}
    crn = np.array([est[s][1] - est[s][0] for s in seeds])
    ss = list(seeds)
    ind = np.array([est[ss[2 * k]][1] - est[ss[2 * k + 1]][0] for k in range(len(ss) // 2)])
    var_crn, var_ind = crn.var(ddof=1), ind.var(ddof=1)
    crit = stats.f.ppf(1 - 1e-3, len(ind) - 1, len(crn) - 1)
    assert var_ind > crit * var_crn, (var_ind, var_crn, crit)
    # and the CRN differences are all small: a flip needs paya's uniform in a 0.001-wide interval
    assert np.all(np.abs(crn) <= 0.001 + 5 * math.sqrt(0.001 / n))


def test_find_max_load_rate() -> None:
    code, stdout, stderr = _invoke(
        "whatif", str(CAPACITY), "--find-max", "load.rate", "--subject-to", "p99<=400ms", "--tolerance", "0.02", "--format", "json"
    )
    assert code == 0, stderr
    fm = json.loads(stdout)["findMax"]
    assert fm["method"] == "bisection" and fm["using"] == "independent" and fm["subjectTo"] == ["p99<=0.4"]
    lo, hi = fm["maximum"], fm["firstFailing"]
    assert 60 < lo < hi <= lo / (1 - 0.02)
    evals = sorted(fm["evaluations"], key=lambda e: e["value"])
    # every evaluation up to the answer is feasible, every one above is not (the bisection's premise)
    for e in evals:
        assert e["feasible"] == (e["value"] <= lo)
    # p99 grows with load until the queues saturate (then infinite: null in JSON)
    p99 = [math.inf if e["p99"] is None else e["p99"] for e in evals]
    assert all(a <= b for a, b in zip(p99, p99[1:]))
    assert any(e["saturated"] for e in evals)
    # the same search from Python, and its text rendering
    res = find_max(CAPACITY, "load.rate", [parse_constraint("p99<=0.4")], tolerance=0.02)
    assert (res.maximum, res.first_failing) == (lo, hi)
    assert res.message.startswith(f"max load.rate = {lo:.6g} subject to p99<=0.4 (using independent")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([str(CHECKOUT)], "emac whatif: nothing to do"),
        ([str(CHECKOUT), "--vary", "load.rate"], "--vary: load.rate: expected PATH=VALUES"),
        ([str(CHECKOUT), "--vary", "components.paya.availability=0.9,2"], "spec.components.paya.availability: must be a probability in [0, 1]"),
        ([str(CHECKOUT), "--vary", "components.payc.availability=0.9"], "emac whatif: --vary: components.payc.availability: no component 'payc'"),
        ([str(CHECKOUT), "--vary", "load.rate=1:2"], "malformed range '1:2'"),
        ([str(CHECKOUT), "--find-max", "load.rate", "--subject-to", "p99~1"], "--subject-to: expected METRIC<=VALUE"),
        ([str(CHECKOUT), "--find-max", "load.rate"], "--subject-to: give at least one constraint"),
        ([str(CHECKOUT), "--vary", "load.rate=1", "--subject-to", "p99<=1"], "--subject-to: only applies with --find-max"),
        ([str(CHECKOUT), "--vary", "load.rate=1", "--correlation", "weird"], "--correlation: must be one of"),
        ([str(CHECKOUT), "--study", str(ROOT / "configs" / "studies" / "fanout.yaml")], "a FanOutStudy takes no SPEC"),
        ([str(CAPACITY), "--find-max", "load.rate", "--subject-to", "p42x<=1"], "unknown metric"),
    ],
)
def test_bad_input_is_one_line(args: list[str], message: str) -> None:
    code, stdout, stderr = _invoke("whatif", *args, "--samples", "100")
    assert code == 2
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr


def test_whatif_study_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    study = tmp_path / "s.yaml"
    study.write_text(
        "apiVersion: emac.dev/v1alpha1\nkind: WhatIfStudy\nmetadata: {name: hedge}\nspec:\n"
        f"  journey: {CHECKOUT}\n  vary:\n    - {{path: 'operator.steps[2].hedgeDelay', values: [50ms, 400ms]}}\n"
        "  samples: 2000\n  seed: 3\n"
    )
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = _invoke("whatif", "--study", str(study), "--format", "json")
    assert code == 0, stderr
    # without --out the table and plots go to whatif-out/<study name> (never into compile's out/)
    assert (tmp_path / "whatif-out" / "hedge" / "whatif.csv").is_file()
    assert (tmp_path / "whatif-out" / "hedge" / "whatif.png").is_file()
    d = json.loads(stdout)
    assert d["seed"] == 3 and d["samples"] == 2000
    pts = d["points"]
    assert [p["operator.steps[2].hedgeDelay__value"] for p in pts] == [0.05, 0.4]
    # hedging earlier costs more payb calls and buys a lower p99
    assert pts[0]["hedge_rate"] > pts[1]["hedge_rate"]
    assert pts[0]["p99_independent"] < pts[1]["p99_independent"]
