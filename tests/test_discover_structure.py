"""Discovery on real traces (Online Boutique CSV, Zipkin samples) and the inference building blocks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats
from typer.testing import CliRunner

from emac_sim import load_spec
from emac_sim.cli import app
from emac_sim.discover import discover
from emac_sim.discover.calls import Call, TraceCalls, group_journeys
from emac_sim.discover.stats import Evidence, fit_latency, overall_confidence, wilson
from emac_sim.discover.structure import timing_is_exact
from emac_sim.errors import SpecError
from emac_sim.model.journey import Ref
from emac_sim.operators import Repeat, Series

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference"
OB = SHARED / "traces" / "csv" / "online-boutique-2022-08-23-17_00.csv"
ZIPKIN = SHARED / "traces" / "zipkin"
needs_shared = pytest.mark.skipif(not OB.exists() or not ZIPKIN.exists(), reason="shared/reference traces not available")


@needs_shared
def test_online_boutique_home_page_is_13_calls_with_a_repeat(tmp_path):
    # what the traces show, computed independently of discovery: the frontend's direct calls
    # in the traces that list products (the home page), in start order
    df = pl.read_csv(OB, schema_overrides={"StartTimeUnixNano": pl.Int64})
    roots = df.filter(pl.col("ParentID") == "root").select("TraceID", pl.col("SpanID").alias("ParentID"))
    kids = df.join(roots, on=["TraceID", "ParentID"]).sort("TraceID", "StartTimeUnixNano")
    seqs = kids.group_by("TraceID").agg(pl.col("OperationName"))["OperationName"].to_list()
    home = [s for s in seqs if "hipstershop.ProductCatalogService/ListProducts" in s]
    assert home and all(s == home[0] for s in home)
    assert len(home[0]) == 13 and home[0][3:12] == ["hipstershop.CurrencyService/Convert"] * 9

    r = CliRunner().invoke(app, ["discover", str(OB), "--out", str(tmp_path / "d")])
    assert r.exit_code == 0, r.output
    files = sorted(p.name for p in (tmp_path / "d").glob("*.discovered.yaml"))
    assert len(files) >= 5  # home, product, cart, add-to-cart, checkout (and requests making no call)
    j = load_spec(tmp_path / "d" / "frontend-listproducts.discovered.yaml")
    assert j.kind == "DiscoveredJourneyModel" and j.name == "frontend-listproducts"
    root = j.root
    assert isinstance(root, Series) and len(root.steps) == 5
    assert [type(s).__name__ for s in root.steps] == ["Ref", "Ref", "Ref", "Repeat", "Ref"]
    rep = root.steps[3]
    assert isinstance(rep, Repeat) and rep.count == 9 and rep.step == Ref("currencyservice.Convert")
    calls = sum(s.count if isinstance(s, Repeat) else 1 for s in root.steps)
    assert calls == 13
    assert [s.component for s in root.steps if isinstance(s, Ref)] == [
        "currencyservice.GetSupportedCurrencies",
        "productcatalogservice.ListProducts",
        "cartservice.GetCart",
        "adservice",
    ]
    # no status in the CSV: availabilities are unobserved, and the model says so
    assert any(f.startswith("no-status:") for f in j.evidence_flags)
    doc = json.loads(json.dumps(load_yaml(tmp_path / "d" / "frontend-listproducts.discovered.yaml")))
    prov = doc["spec"]["provenance"]
    assert prov["journey"]["identifiedBy"] == "call signature" and prov["journey"]["traces"] == 54
    assert prov["inputs"][0]["format"] == "csv"
    assert doc["spec"]["confidence"]["formula"].startswith("confidence = coverage * agreement * n / (n + 10)")
    lat = j.component("currencyservice.Convert").latency
    assert lat is not None
    emp = doc["spec"]["components"]["currencyservice.Convert"]["provenance"]["latency"]
    assert emp["n"] == 54 * 9 and emp["quantilesSeconds"]["p50"] > 0


def load_yaml(p: Path) -> dict:
    import yaml

    return yaml.safe_load(p.read_text())


@needs_shared
def test_zipkin_samples_load_and_produce_models(tmp_path):
    r = CliRunner().invoke(app, ["discover", str(ZIPKIN), "--out", str(tmp_path / "z"), "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {i["format"] for i in out["inputs"]} == {"zipkin"} and len(out["inputs"]) == 5
    # the folder's LICENSE is no trace: skipped with one warning line
    assert r.stderr.splitlines() == [f"warning: {ZIPKIN / 'LICENSE'}: not a trace file, skipped: " + out["skippedFiles"][0]["reason"]]
    assert out["dataQuality"]["mergedFragments"]["count"] == 84
    assert out["dataQuality"]["skewCorrected"]["count"] >= 2
    names = {j["name"] for j in out["journeys"]}
    assert "get-login-tokenauth" in names  # the 1,041-span smartthings trace
    assert "get" in names  # skew.json
    for jd in out["journeys"]:
        j = load_spec(jd["model"])
        assert j.kind == "DiscoveredJourneyModel" and list(j.root.refs())
        assert any(f.startswith("few-traces:") for f in j.evidence_flags)  # one trace each
    skew = load_spec(next(jd["model"] for jd in out["journeys"] if jd["name"] == "get"))
    assert skew.expression == "serviceb"


@needs_shared
def test_split_none_keeps_one_journey_per_root_operation():
    res = discover([OB], split="none")
    assert [dj.name for dj in res.journeys] == ["hipstershop-frontend-recv"]
    # the page types then show up as a top-level choice of the one journey
    assert res.journeys[0].journey.root.op in ("choice", "optional", "series")


# --------------------------------------------------------------------------- building blocks


def test_wilson_interval_matches_the_formula():
    lo, hi = wilson(0, 10, 0.95)
    assert lo == 0.0 and hi == pytest.approx(0.27753, abs=1e-5)
    lo, hi = wilson(81, 263, 0.95)  # Newcombe (1998), example
    assert (lo, hi) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_confidence_formula():
    ev = Evidence(n=90, coverage=0.5, agreement=0.8)
    assert ev.confidence == pytest.approx(0.5 * 0.8 * 90 / 100)
    assert Evidence(n=0).confidence == 0.0 and Evidence(n=3, fixed=1.0).confidence == 1.0
    assert overall_confidence([0.9, 0.0], 1.0) == pytest.approx((0.9 * 0.01) ** 0.5)


def test_latency_fit_finds_the_family_and_falls_back_to_quantiles():
    rng = np.random.default_rng(11)
    x = rng.lognormal(np.log(0.02), 0.4, 4000)
    f = fit_latency(x)
    assert f.best == "lognormal" and f.chosen_kind == "fit"
    # KS at α = 1e-3 (fixed seed) does not reject the truth for the fitted parameters
    assert f.ks_p is not None and f.ks_p > 1e-3
    assert f.chosen.mu == pytest.approx(np.log(0.02), abs=5 * 0.4 / np.sqrt(4000))
    bimodal = np.concatenate([rng.normal(0.010, 0.0005, 3000), rng.normal(0.200, 0.005, 1000)])
    g = fit_latency(bimodal)
    assert g.chosen_kind == "empirical"
    assert float(g.chosen.ppf(0.5)) == pytest.approx(float(np.quantile(bimodal, 0.5)), rel=0.05)
    assert stats.kstest(bimodal, g.chosen.cdf).statistic < 0.05
    assert fit_latency(np.zeros(5)).chosen is None  # no timing, no latency


def _call(key: str, start: int, end: int, ok: bool = True) -> Call:
    c = Call()
    c.service, c.op, c.key = key, key, key
    c.start, c.end, c.nstart, c.nend = start, end, start, end
    c.ok = c.vok = c.raw_ok = ok
    c.known, c.cut, c.timed = True, False, True
    c.span, c.trace, c.resource, c.attrs = key, "t", "{}", "{}"
    return c


def test_exact_timing_detection():
    seq = [[_call("a", 0, 10), _call("b", 10, 25), _call("c", 25, 26)]]
    assert timing_is_exact(seq)
    gaps = [[_call("a", 0, 10_000), _call("b", 50_000, 60_000), _call("c", 90_000, 91_000)]]
    assert not timing_is_exact(gaps)


def test_journeys_split_by_signature_only_without_optional_pattern():
    def trace(tid: str, ops: list[str]) -> TraceCalls:
        return TraceCalls(tid, "r", "web", "Recv", None, True, 0, 100, [_call(o, i * 10, i * 10 + 5) for i, o in enumerate(ops)])

    home = [trace(f"h{i}", ["list", "ads"]) for i in range(3)]
    cart = [trace(f"c{i}", ["cart", "quote"]) for i in range(3)]
    groups = group_journeys(home + cart)
    assert sorted(g.name for g in groups) == ["web-ads", "web-cart"] and all(g.split_by == "signature" for g in groups)
    # {list} ⊂ {list, ads}: an optional step, not two journeys
    groups = group_journeys(home + [trace("x", ["list"])])
    assert [g.name for g in groups] == ["recv"] and groups[0].split_by is None
    assert len(group_journeys(home + cart, split="none")) == 1
    # an A/B split (same positions, one call substituted) is a choice inside one journey
    ab = [trace(f"a{i}", ["auth", "ranker-v1", "render"]) for i in range(4)] + [trace(f"b{i}", ["auth", "ranker-v2", "render"]) for i in range(2)]
    groups = group_journeys(ab)
    assert len(groups) == 1 and groups[0].split_by is None and len(groups[0].traces) == 6
    assert len(group_journeys(ab, split="signature")) == 2


@needs_shared
def test_journey_option_selects_one_journey():
    res = discover([OB], journey="frontend-listproducts")
    assert [dj.name for dj in res.journeys] == ["frontend-listproducts"]
    with pytest.raises(SpecError, match=r"--journey: no journey named 'nope' \(found: frontend-getads-listrecommendations, "):
        discover([OB], journey="nope")
