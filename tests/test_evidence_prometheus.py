"""Evidence from a real Prometheus (Debian's ``prometheus`` 2.42 in CI), started once per session.

The fixture writes OpenMetrics counters and histogram buckets with known truth, backfills them
with ``promtool tsdb create-blocks-from openmetrics`` into a ``tmp_path`` storage directory,
starts ``prometheus`` on a free loopback port with its own configuration (no scrape jobs) and
waits for ``/-/ready``. Two data sets share the 30 days ending 2025-06-30T00:00:00Z:

- the paper's checkout with its own selectors (:mod:`emac_sim.evidence.demo`): exact counts,
  paya succeeds 99.0 % (declared 0.995), the others as declared, the journey 99.3 %;
- a ``shop`` journey written here: binomial counts drawn with a fixed seed for ``web`` and
  ``db``, a component whose selectors match nothing, one whose counter never moves, journeys
  consistent / outside the model / explained by a drift, a journey counted on two instances and an
  idle latency histogram.

A second server (TLS with a self-signed certificate and basic auth) and a bearer-token proxy in
front of the first check the credentials paths.
"""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import requests
import yaml
from scipy import special, stats

from emac_sim.evidence import PrometheusClient, collect_evidence
from emac_sim.evidence.client import ENV_CA, ENV_PASSWORD, ENV_TIMEOUT, ENV_TOKEN, ENV_USER
from emac_sim.evidence.demo import BUCKETS, CHECKOUT_AT, CHECKOUT_END, CheckoutTruth, checkout_families, checkout_timeline
from emac_sim.evidence.localprom import LocalPrometheus, backfill, binaries, free_port
from emac_sim.evidence.openmetrics import Family, counter, histogram_increments, histogram_series, spread, write_openmetrics
from emac_sim.spec import load_spec

PROMETHEUS, PROMTOOL = binaries()
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None, reason="prometheus and promtool not installed (CI installs Debian's prometheus package)"
)

AT = CHECKOUT_AT
PAPER_A_PLUS = 0.99747706
PAPER_A_MINUS = 0.99251449
SEED = 20250630
ENV_NAMES = (ENV_TOKEN, ENV_USER, ENV_PASSWORD, ENV_CA, ENV_TIMEOUT)

# ----------------------------------------------------------------------------- the shop data set


@dataclass(frozen=True)
class Shop:
    """Truth and counts of the shop data set."""

    web_p: float = 0.999
    db_p: float = 0.9995
    web_n: int = 200_000
    db_n: int = 300_000
    web_good: int = 0
    db_good: int = 0
    web_latency: tuple[float, float] = (0.040, 0.180)  # lognormal (p50, p99), seconds
    journeys: tuple[tuple[str, int, int], ...] = ()  # (label, good, total)

    def web_quantile(self, q: float) -> float:
        p50, p99 = self.web_latency
        sigma = (math.log(p99) - math.log(p50)) / float(special.ndtri(0.99))
        return math.exp(math.log(p50) + sigma * float(special.ndtri(q)))


def shop_truth() -> Shop:
    rng = np.random.default_rng(SEED)
    s = Shop()
    web_good, db_good = int(rng.binomial(s.web_n, s.web_p)), int(rng.binomial(s.db_n, s.db_p))
    # what the observed components make of the journey (search and cache have no data: declared)
    explained = (web_good / s.web_n) * (db_good / s.db_n) * (1 - 0.01 * 0.001)
    journeys = (("shop", 497_000, 500_000), ("shop-broken", 97_000, 100_000), ("shop-true", round(500_000 * explained), 500_000))
    return Shop(web_good=web_good, db_good=db_good, journeys=journeys)


def shop_families(s: Shop, tl) -> list[Family]:
    traffic = tl.diurnal()
    req = Family("shop_requests", "counter", "Shop requests by service and result.")
    for svc, n, good in (("web", s.web_n, s.web_good), ("db", s.db_n, s.db_good)):
        req.add_counter({"service": svc, "result": "ok"}, counter(spread(good, traffic)))
        req.add_counter({"service": svc, "result": "error"}, counter(spread(n - good, traffic)))
    req.add_counter({"service": "cache", "result": "ok"}, counter(np.zeros(tl.n - 1, dtype=np.int64)))  # never moves
    jr = Family("shop_journeys", "counter", "Shop journeys by result.")
    for label, good, total in s.journeys:
        jr.add_counter({"journey": label, "result": "ok"}, counter(spread(good, traffic)))
        jr.add_counter({"journey": label, "result": "error"}, counter(spread(total - good, traffic)))
    for inst in ("a", "b"):  # one journey counted by two instances: an unaggregated query sees two series
        jr.add_counter({"instance": inst, "journey": "multi", "result": "ok"}, counter(spread(1000, traffic)))
    lat = Family("shop_request_seconds", "histogram", "Shop request latency.")
    p50, p99 = s.web_latency
    sigma = (math.log(p99) - math.log(p50)) / float(special.ndtri(0.99))
    with np.errstate(divide="ignore"):
        cdf = special.ndtr((np.log(np.array(BUCKETS)) - math.log(p50)) / sigma)
    web_obs = spread(s.web_n, traffic)
    lat.add_histogram({"service": "web"}, BUCKETS, histogram_series(histogram_increments(web_obs, cdf)), counter(web_obs) * 0.05)
    idle = np.zeros((len(BUCKETS), tl.n), dtype=np.int64)
    lat.add_histogram({"service": "idle"}, BUCKETS, idle, idle[0] * 0.0)
    return [req, jr, lat]


SHOP_SPEC = """\
apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {{name: shop}}
spec:
  objectives:
    availability:
      window: 30d
      target: 0.99
      sli:
        goodEventQuery: {good}
        totalEventQuery: 'sum(rate(shop_journeys_total{{journey="{journey}"}}[{{{{ .window }}}}]))'
    latency:
      objective: {{metric: p99, threshold: 0.5}}
      evidence:
        promql: 'histogram_quantile(0.99, sum by (le) (rate(shop_request_seconds_bucket{{service="{lat}"}}[{{{{ .window }}}}])))'
  operator:
    type: series
    steps:
      - ref: web
      - ref: db
      - type: fallback
        branches: [{{ref: search}}, {{ref: cache}}]
  components:
    web:
      availability: {web}
      telemetry:
        metrics:
          availabilityGood: '{web_good}'
          availabilityTotal: 'shop_requests_total{{service="web"}}'
          latencyHistogram: 'shop_request_seconds_bucket{{service="web"}}'
    db:
      availability: 0.995
      telemetry:
        metrics:
          availabilityGood: '{db_good}'
          availabilityTotal: 'shop_requests_total{{service="db"}}'
    search:
      availability: 0.99
      telemetry:
        metrics:
          availabilityGood: 'shop_requests_total{{service="search",result="ok"}}'
          availabilityTotal: 'shop_requests_total{{service="search"}}'
    cache:
      availability: 0.999
      telemetry:
        metrics:
          availabilityGood: 'shop_requests_total{{service="cache",result="ok"}}'
          availabilityTotal: 'shop_requests_total{{service="cache"}}'
"""


def shop_spec(
    write_spec,
    journey: str = "shop",
    web: float = 0.999,
    good: str | None = None,
    lat: str = "web",
    web_good: str = 'shop_requests_total{service="web",result="ok"}',
    db_good: str = 'shop_requests_total{service="db",result="ok"}',
    name: str = "shop.yaml",
) -> Path:
    good = good or f"'sum(rate(shop_journeys_total{{journey=\"{journey}\",result=\"ok\"}}[{{{{ .window }}}}]))'"
    p = write_spec("", name=name)
    p.write_text(SHOP_SPEC.format(journey=journey, web=web, good=good, lat=lat, web_good=web_good, db_good=db_good), encoding="utf-8")
    return p


# ----------------------------------------------------------------------------- servers


@dataclass
class Served:
    url: str
    storage_seconds: float
    startup_seconds: float
    shop: Shop
    data: Path


@pytest.fixture(scope="session")
def prometheus_data(tmp_path_factory) -> tuple[Path, Shop]:
    base = tmp_path_factory.mktemp("prometheus-data")
    tl = checkout_timeline()
    shop = shop_truth()
    data = write_openmetrics(base / "evidence.om", [*checkout_families(CheckoutTruth(), tl), *shop_families(shop, tl)], tl)
    return data, shop


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory, prometheus_data) -> Iterator[Served]:
    """The plain server over both data sets (started once; stopped at the end of the session)."""
    import time

    data, shop = prometheus_data
    base = tmp_path_factory.mktemp("prometheus")
    t0 = time.monotonic()
    backfill(data, base / "tsdb", PROMTOOL)
    t1 = time.monotonic()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        server = LocalPrometheus(base / "tsdb", base / "run", binary=PROMETHEUS)
        server.start()
        try:
            yield Served(server.url, t1 - t0, server.startup_seconds or 0.0, shop, data)
        finally:
            server.stop()


@pytest.fixture(autouse=True)
def _no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start without the user's EMAC_PROMETHEUS_* variables or proxies for loopback."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def _json(r) -> dict:
    return json.loads(r.stdout)


def _one_line_error(r, *parts: str) -> str:
    assert r.exit_code == 2, r
    err = r.stderr.strip()
    assert "\n" not in err and "Traceback" not in err and r.stdout == "", r
    for p in parts:
        assert p in err, (p, err)
    return err


# ----------------------------------------------------------------------------- acceptance


def test_acceptance_paper_spec_evidence(cli, paper_spec: Path, prometheus: Served) -> None:
    truth = CheckoutTruth()
    r = cli("evidence", paper_spec, "--prometheus", prometheus.url, "--at", AT, "--format", "json")
    assert r.exit_code == 1, r  # paya drifted
    d = _json(r)
    assert d["source"] == prometheus.url and d["window"] == "30d" and d["at"] == AT and d["intervalMethod"] == "wilson"
    comps = d["components"]
    assert list(comps) == ["front", "cart", "pricing", "paya", "payb"]
    for cid, c in comps.items():
        assert abs(c["observed"] - truth.availability[cid]) <= 2e-4, cid
        assert c["good"] == truth.good(cid) and c["total"] == truth.requests[cid]  # exact counts: nothing extrapolated
        lo, hi = c["interval"]
        assert lo < c["observed"] < hi
        ref = stats.binomtest(truth.good(cid), truth.requests[cid]).proportion_ci(0.95, method="wilson")
        assert lo == pytest.approx(ref.low, rel=1e-9) and hi == pytest.approx(ref.high, rel=1e-9)
    assert comps["paya"]["declared"] == 0.995 and comps["paya"]["status"] == "drift"
    assert comps["paya"]["interval"][1] < 0.995
    assert {cid: c["status"] for cid, c in comps.items() if cid != "paya"} == dict.fromkeys(("front", "cart", "pricing", "payb"), "consistent")
    assert comps["paya"]["queries"] == {
        "good": 'sum(increase(payment_requests_total{provider="paya",result="success"}[30d]))',
        "total": 'sum(increase(payment_requests_total{provider="paya"}[30d]))',
        "latency": "sum by (le) (increase(paya_request_duration_seconds_bucket[30d]))",
    }
    j = d["journey"]
    assert j["status"] == "consistent" and j["drifted"] == ["paya"]
    assert abs(j["observed"] - 0.993) <= 2e-4
    assert round(j["bounds"]["pessimistic"], 8) == PAPER_A_MINUS and round(j["bounds"]["independent"], 8) == PAPER_A_PLUS
    assert PAPER_A_MINUS <= j["observed"] <= PAPER_A_PLUS
    # counts from rate() over the window x the window's seconds
    assert j["good"] == pytest.approx(993_000, rel=1e-9) and j["total"] == pytest.approx(1_000_000, rel=1e-9)
    assert j["countsFrom"] == "rate over the window x 2.592e+06 s"
    assert j["p99"] == pytest.approx(j["latency"]["observed"]) and 0.3 <= j["p99"] <= 0.4  # the journey's p99 bucket


def test_acceptance_text_output(cli, paper_spec: Path, prometheus: Served) -> None:
    r = cli("evidence", paper_spec, "--prometheus", prometheus.url, "--at", AT)
    assert r.exit_code == 1, r
    assert "paya      │ 0.995    │ 0.990000 │" in r.stdout
    assert "drift: paya observed 0.990000 < declared 0.995" in r.stdout
    assert "journey: observed 0.993000" in r.stdout and ": consistent;" in r.stdout


def test_compile_with_observed_evidence_uses_and_records_it(cli, paper_spec: Path, prometheus: Served, tmp_path: Path) -> None:
    truth = CheckoutTruth()
    out = tmp_path / "out"
    args = ("--prometheus", prometheus.url, "--at", AT, "--samples", "20000")
    r = cli("compile", paper_spec, "--out", out, "--evidence", "observed", *args)
    assert r.exit_code == 1, r  # FAIL, as the paper (A⁻ below 0.995)
    assert "observed values used in the model" in r.stdout
    text = (out / "report" / "derivation.yaml").read_text(encoding="utf-8")
    rep = yaml.safe_load(text)["spec"]
    assert rep["atomicAvailabilityTargets"] == pytest.approx(truth.availability, abs=1e-12)
    ev = rep["evidence"]
    assert ev["mode"] == "observed" and ev["source"] == prometheus.url and ev["window"] == "30d" and ev["at"] == AT
    paya = ev["components"]["paya"]
    assert (paya["good"], paya["total"], paya["status"]) == (990_000, 1_000_000, "drift")
    assert paya["queries"]["good"] == 'sum(increase(payment_requests_total{provider="paya",result="success"}[30d]))'
    prov = rep["provenance"]
    assert prov["parameters"]["prometheus"] == prometheus.url and prov["parameters"]["evidence"] == "observed"
    assert prov["parameters"]["evidenceAt"] == AT and prov["parameters"]["evidenceWindow"] == "30d"
    assert f"--prometheus {prometheus.url} --evidence observed --at {AT}" in prov["command"]
    assert any(i["file"] == f"prometheus {prometheus.url} at {AT} over 30d" for i in rep["provenance"]["inputs"])
    # A⁺ from the observed availabilities (closed form of Series(front, Parallel(cart, pricing), Race(paya, payb)))
    a = truth.availability
    a_plus = a["front"] * a["cart"] * a["pricing"] * (1 - (1 - a["paya"]) * (1 - a["payb"]))
    assert rep["composition"]["results"]["availability"]["optimisticEstimate"] == pytest.approx(a_plus, abs=1e-12)
    # the observed histograms are the components' latency models now
    assert rep["bounds"]["latencyModelled"] is True

    # same inputs, same bytes; declared mode keeps the declared numbers and still records the evidence
    again = tmp_path / "again"
    assert cli("compile", paper_spec, "--out", again, "--evidence", "observed", *args).exit_code == 1
    assert (again / "report" / "derivation.yaml").read_text(encoding="utf-8") == text
    declared = tmp_path / "declared"
    assert cli("compile", paper_spec, "--out", declared, *args).exit_code == 1
    rd = yaml.safe_load((declared / "report" / "derivation.yaml").read_text(encoding="utf-8"))["spec"]
    assert rd["atomicAvailabilityTargets"]["paya"] == 0.995 and rd["evidence"]["mode"] == "declared"
    assert rd["evidence"]["components"]["paya"]["status"] == "drift"


# ----------------------------------------------------------------------------- estimates against truth


def test_histogram_quantiles_match_prometheus_and_hold_the_truth(paper_spec: Path, prometheus: Served) -> None:
    truth = CheckoutTruth()
    j = load_spec(paper_spec)
    with PrometheusClient(prometheus.url) as client:
        rep = collect_evidence(j, client, at=CHECKOUT_END)
        for c in rep.components:
            lat = c.latency
            assert lat is not None and lat.status == "ok" and lat.count == truth.requests[c.id]
            for (key, q), est in zip((("p50", 0.5), ("p99", 0.99)), lat.quantiles):
                # two routes to one number: our interpolation and Prometheus' own histogram_quantile
                promql = f"histogram_quantile({q}, {lat.query})"
                (sample,) = client.query(promql, CHECKOUT_END)
                assert est.estimate == pytest.approx(sample.value, rel=1e-12), (c.id, key)
                # the true quantile lies in the reported bucket (the resolution) and interval
                true_q = truth.quantile(c.id, q)
                assert est.bucket[0] <= true_q <= est.bucket[1], (c.id, key, true_q, est)
                assert est.interval[0] <= true_q <= est.interval[1]


def test_binomial_counts_are_recovered_within_their_intervals(write_spec, prometheus: Served) -> None:
    s = prometheus.shop
    j = load_spec(shop_spec(write_spec))
    with PrometheusClient(prometheus.url) as client:
        rep = collect_evidence(j, client, at=CHECKOUT_END, confidence=0.999)
    for cid, n, good, p in (("web", s.web_n, s.web_good, s.web_p), ("db", s.db_n, s.db_good, s.db_p)):
        c = rep.component(cid)
        assert (c.good, c.total) == (good, n)
        assert abs(c.observed - p) < 5 * math.sqrt(p * (1 - p) / n)  # theory, not a tuned tolerance
        assert c.interval[0] <= p <= c.interval[1]  # the 99.9 % Wilson interval holds the truth
    assert rep.component("db").status == "consistent"  # better than declared is no drift
    assert rep.component("web").latency.quantiles[1].bucket[0] <= s.web_quantile(0.99) <= rep.component("web").latency.quantiles[1].bucket[1]


def test_no_data_is_reported_never_invented(cli, write_spec, prometheus: Served) -> None:
    r = cli("evidence", shop_spec(write_spec, lat="idle"), "--prometheus", prometheus.url, "--at", AT, "--format", "json")
    assert r.exit_code == 0, r  # nothing drifted, the journey is consistent; no-data does not fail
    d = _json(r)
    search, cache = d["components"]["search"], d["components"]["cache"]
    assert search["status"] == "no-data" and search["observed"] is None and search["reason"] == "availabilityTotal: no series in the window"
    assert cache["status"] == "no-data" and cache["total"] == 0 and "total 0" in cache["reason"]
    j = d["journey"]
    assert j["status"] == "consistent" and j["observed"] == pytest.approx(0.994)
    assert j["p99"] is None and j["latency"]["reason"] == "the query returned NaN"  # an idle histogram


# ----------------------------------------------------------------------------- journey judged


def test_a_journey_outside_its_bounds_is_flagged(cli, write_spec, prometheus: Served) -> None:
    r = cli("evidence", shop_spec(write_spec, journey="shop-broken"), "--prometheus", prometheus.url, "--at", AT, "--format", "json")
    assert r.exit_code == 1, r
    j = _json(r)["journey"]
    assert j["status"] == "inconsistent" and j["drifted"] == []
    assert j["interval"][1] < j["bounds"]["pessimistic"]
    assert "no component drifted" in j["diagnosis"] and "does not cover what users saw either" in j["diagnosis"]


def test_a_drift_that_explains_the_journey_is_named(cli, write_spec, prometheus: Served) -> None:
    p = shop_spec(write_spec, journey="shop-true", web=0.9999)  # web declared better than it is
    r = cli("evidence", p, "--prometheus", prometheus.url, "--at", AT, "--format", "json")
    assert r.exit_code == 1, r
    d = _json(r)
    assert d["components"]["web"]["status"] == "drift"
    j = d["journey"]
    assert j["status"] == "inconsistent" and j["drifted"] == ["web"]
    lo, hi = j["observedModelBounds"]
    assert j["interval"][0] <= hi and lo <= j["interval"][1]
    assert "drifted: web" in j["diagnosis"] and "the declared component numbers are wrong" in j["diagnosis"]


def test_validate_adds_model_vs_reality_cases_to_junit(cli, paper_spec: Path, write_spec, prometheus: Served, tmp_path: Path) -> None:
    broken = shop_spec(write_spec, journey="shop-broken", name="broken/shop.yaml")
    junit = tmp_path / "nightly.xml"
    r = cli("validate", paper_spec, broken, "--samples", "20000", "--prometheus", prometheus.url, "--at", AT, "--junit", junit, "--format", "json")
    assert r.exit_code == 1, r
    d = _json(r)
    assert [s["status"] for s in d["specs"]] == ["fail", "fail"]
    assert d["specs"][0]["evidence"]["components"]["paya"]["status"] == "drift"
    cases = {}
    for suite in ET.parse(junit).getroot():
        for case in suite:
            kind = next((ch.tag for ch in case if ch.tag in ("failure", "error", "skipped")), "pass")
            cases[(suite.get("name"), case.get("name"))] = kind
    paper, shop = str(paper_spec), str(broken)
    assert cases[(paper, "evidence: journey model vs reality")] == "pass"
    assert cases[(paper, "evidence: component paya")] == "failure"
    assert cases[(paper, "evidence: component front")] == "pass"
    assert cases[(shop, "evidence: journey model vs reality")] == "failure"
    assert cases[(shop, "evidence: component search")] == "skipped"  # no data
    assert d["summary"]["checkFailures"] == 2


# ----------------------------------------------------------------------------- evidence into other commands


def test_bounds_simulate_and_whatif_use_observed_values(cli, paper_spec: Path, prometheus: Served, tmp_path: Path) -> None:
    a = CheckoutTruth().availability
    ev = ("--prometheus", prometheus.url, "--at", AT, "--evidence", "observed")

    def a_plus(payb: float) -> float:
        return a["front"] * a["cart"] * a["pricing"] * (1 - (1 - a["paya"]) * (1 - payb))

    r = cli("bounds", paper_spec, *ev, "--format", "json")
    assert r.exit_code == 0, r
    b = _json(r)
    assert b["availability"]["independent"] == pytest.approx(a_plus(a["payb"]), abs=1e-12)
    assert b["evidence"]["mode"] == "observed" and b["latencyModelled"] is True

    r = cli("simulate", paper_spec, *ev, "--samples", "50000", "--seed", "7", "--format", "json")
    assert r.exit_code == 0, r
    sim = _json(r)
    p, n = a_plus(a["payb"]), 50_000
    assert abs(sim["availability"]["estimate"] - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert sim["evidence"]["components"]["paya"]["observed"] == pytest.approx(0.99)

    vary = ("--vary", "components.payb.availability=0.99,0.999")
    r = cli("whatif", paper_spec, *ev, *vary, "--samples", "0", "--out", tmp_path / "w", "--format", "json")
    assert r.exit_code == 0, r
    w = _json(r)
    got = [pt["availability_independent"] for pt in w["points"]]
    assert got == pytest.approx([a_plus(0.99), a_plus(0.999)], abs=1e-12)
    assert w["evidence"]["mode"] == "observed"
    assert any("observed values used in the model" in n for n in w["notes"])


# ----------------------------------------------------------------------------- bad answers


def test_unreachable_server(cli, paper_spec: Path) -> None:
    r = cli("evidence", paper_spec, "--prometheus", f"http://127.0.0.1:{free_port()}", "--at", AT)
    _one_line_error(
        r,
        "spec.components.front.telemetry.metrics.availabilityGood: cannot reach http://127.0.0.1:",
        "Connection refused; query: sum(increase(http_requests_total{",
    )


def test_a_query_error_names_the_component_and_the_query(cli, write_spec, prometheus: Served) -> None:
    p = shop_spec(write_spec, db_good='shop_requests_total{service="db"')
    r = cli("evidence", p, "--prometheus", prometheus.url, "--at", AT)
    query = 'query: sum(increase(shop_requests_total{service="db"[30d]))'
    _one_line_error(r, f"{p}: spec.components.db.telemetry.metrics.availabilityGood: bad_data:", query)


def test_several_series_where_one_was_expected(cli, write_spec, prometheus: Served) -> None:
    p = shop_spec(write_spec, good="'rate(shop_journeys_total{journey=\"multi\",result=\"ok\"}[{{ .window }}])'")
    r = cli("evidence", p, "--prometheus", prometheus.url, "--at", AT)
    _one_line_error(r, "spec.objectives.availability.sli.goodEventQuery: returned 2 series where one was expected", 'instance="a"', "sum(...)")


def test_good_above_total_is_refused(cli, write_spec, prometheus: Served) -> None:
    p = shop_spec(write_spec, web_good='shop_requests_total{service=~"web|db"}')
    r = cli("evidence", p, "--prometheus", prometheus.url, "--at", AT)
    _one_line_error(r, "spec.components.web.telemetry.metrics.availabilityGood: good events (", "must select a subset of availabilityTotal")


def test_http_errors_and_non_prometheus_answers(cli, paper_spec: Path, prometheus: Served) -> None:
    r = cli("evidence", paper_spec, "--prometheus", prometheus.url + "/not/here", "--at", AT)
    _one_line_error(r, "HTTP 404 Not Found; query:")


def test_a_server_that_never_answers_times_out(cli, paper_spec: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:  # accepts connections, never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        monkeypatch.setenv(ENV_TIMEOUT, "0.5")
        r = cli("evidence", paper_spec, "--prometheus", f"http://127.0.0.1:{silent.getsockname()[1]}", "--at", AT)
    _one_line_error(r, "no answer from http://127.0.0.1:", "within 0.5 s (EMAC_PROMETHEUS_TIMEOUT)")


# ----------------------------------------------------------------------------- credentials and TLS

BASIC_USER, BASIC_PASSWORD = "emac", "test"
# bcrypt of "test" (the example of Prometheus' web configuration documentation)
BASIC_HASH = "$2b$12$hNf2lSsxfm0.i4a.1kVpSOVyBCfIB51VRjgBUyv6kdnyTlgWj81Ay"


@pytest.fixture(scope="session")
def secured(tmp_path_factory, prometheus_data) -> Iterator[tuple[str, Path]]:
    """A second server behind TLS (self-signed certificate for 127.0.0.1) and basic auth."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed: cannot make a certificate for the TLS server")
    base = tmp_path_factory.mktemp("prometheus-tls")
    cert, key = base / "cert.pem", base / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    web = base / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\nbasic_auth_users:\n  {BASIC_USER}: {BASIC_HASH}\n", encoding="utf-8")
    data, _ = prometheus_data
    backfill(data, base / "tsdb", PROMTOOL)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        server = LocalPrometheus(
            base / "tsdb", base / "run", binary=PROMETHEUS, web_config=web, scheme="https",
            ready_options={"verify": str(cert), "auth": (BASIC_USER, BASIC_PASSWORD)},
        )  # fmt: skip
        server.start()
        try:
            yield server.url, cert
        finally:
            server.stop()


def test_tls_is_verified_and_basic_auth_is_sent(cli, paper_spec: Path, secured, monkeypatch: pytest.MonkeyPatch) -> None:
    url, cert = secured
    r = cli("evidence", paper_spec, "--prometheus", url, "--at", AT)
    _one_line_error(r, "TLS verification failed (certificate verify failed", "give the server's CA in EMAC_PROMETHEUS_CA")
    monkeypatch.setenv(ENV_CA, str(cert))
    r = cli("evidence", paper_spec, "--prometheus", url, "--at", AT)
    _one_line_error(r, "HTTP 401 Unauthorized: check the credentials")
    monkeypatch.setenv(ENV_USER, BASIC_USER)
    monkeypatch.setenv(ENV_PASSWORD, BASIC_PASSWORD)
    r = cli("evidence", paper_spec, "--prometheus", url, "--at", AT, "--format", "json")
    assert r.exit_code == 1, r  # paya's drift: the data came through
    assert _json(r)["components"]["paya"]["observed"] == pytest.approx(0.99)
    assert f":{BASIC_PASSWORD}" not in r.stdout + r.stderr


def test_credentials_in_the_url_are_used_and_never_printed(cli, paper_spec: Path, secured, monkeypatch: pytest.MonkeyPatch) -> None:
    url, cert = secured
    monkeypatch.setenv(ENV_CA, str(cert))
    host = url.split("://", 1)[1]
    r = cli("evidence", paper_spec, "--prometheus", f"https://{BASIC_USER}:{BASIC_PASSWORD}@{host}", "--at", AT, "--format", "json")
    assert r.exit_code == 1, r
    assert _json(r)["source"] == url
    wrong = "Wr0ng-Secret"
    r = cli("evidence", paper_spec, "--prometheus", f"https://{BASIC_USER}:{wrong}@{host}", "--at", AT)
    err = _one_line_error(r, "HTTP 401 Unauthorized")
    assert wrong not in err


class _BearerProxy(BaseHTTPRequestHandler):
    """A loopback auth proxy in front of the real server: forwards only with the right bearer token."""

    upstream = ""
    token = ""

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self.send_response(401)
            self.end_headers()
            self.wfile.write(b"missing or wrong bearer token\n")
            return
        up = requests.post(self.upstream + self.path, data=body, headers={"Content-Type": self.headers["Content-Type"]}, timeout=30)
        self.send_response(up.status_code)
        self.send_header("Content-Type", up.headers.get("Content-Type", "application/json"))
        self.end_headers()
        self.wfile.write(up.content)

    def log_message(self, *args: object) -> None:
        pass


def test_bearer_token_from_the_environment(cli, paper_spec: Path, prometheus: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "s3cret-t0ken-value"
    handler = type("Proxy", (_BearerProxy,), {"upstream": prometheus.url, "token": token})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{proxy.server_address[1]}"
    try:
        r = cli("evidence", paper_spec, "--prometheus", url, "--at", AT)
        _one_line_error(r, "HTTP 401 Unauthorized: check the credentials (EMAC_PROMETHEUS_TOKEN")
        monkeypatch.setenv(ENV_TOKEN, "wrong-" + token)
        err = _one_line_error(cli("evidence", paper_spec, "--prometheus", url, "--at", AT), "HTTP 401")
        assert token not in err
        monkeypatch.setenv(ENV_TOKEN, token)
        r = cli("evidence", paper_spec, "--prometheus", url, "--at", AT, "--format", "json")
        assert r.exit_code == 1, r
        assert _json(r)["components"]["paya"]["status"] == "drift"
        assert token not in r.stdout + r.stderr
    finally:
        proxy.shutdown()
        proxy.server_close()
