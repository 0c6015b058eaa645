"""The evidence package without a server: histogram quantiles, intervals, PromQL built from the
spec, option and credential checks, the OpenMetrics writer. The real-server tests are in
``test_evidence_prometheus.py``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from emac_sim.errors import SpecError
from emac_sim.evidence.client import ENV_CA, ENV_PASSWORD, ENV_TIMEOUT, ENV_TOKEN, ENV_USER, PrometheusClient
from emac_sim.evidence.estimates import availability_interval, bucket_quantile, histogram_quantile
from emac_sim.evidence.openmetrics import Family, Timeline, counter, histogram_increments, histogram_series, spread, write_openmetrics
from emac_sim.evidence.queries import component_telemetry, count_scale, journey_queries, render
from emac_sim.pipeline.evidence import evidence_request, parse_at, parse_window
from emac_sim.spec import load_spec

INF = math.inf


# --------------------------------------------------------------------------- histogram_quantile


def test_bucket_quantile_interpolates_inside_the_bucket_like_prometheus() -> None:
    b = [(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (INF, 100.0)]
    # rank 50 is reached in the first bucket, which starts at 0
    assert bucket_quantile(0.5, b) == pytest.approx(0.1)
    assert bucket_quantile(0.25, b) == pytest.approx(0.05)
    # rank 70: 20 of the 40 in (0.1, 0.5]
    assert bucket_quantile(0.7, b) == pytest.approx(0.3)
    assert bucket_quantile(0.95, b) == pytest.approx(0.75)


def test_bucket_quantile_edge_cases_follow_prometheus() -> None:
    b = [(0.1, 50.0), (0.5, 90.0), (INF, 100.0)]
    assert bucket_quantile(0.99, b) == 0.5  # a rank in the +Inf bucket: the highest finite le
    assert bucket_quantile(-0.1, b) == -INF and bucket_quantile(1.1, b) == INF
    assert math.isnan(bucket_quantile(0.5, [(0.1, 5.0), (0.5, 9.0)]))  # no +Inf bucket
    assert math.isnan(bucket_quantile(0.5, [(INF, 5.0)]))  # fewer than two buckets
    assert math.isnan(bucket_quantile(0.5, [(0.1, 0.0), (INF, 0.0)]))  # no observations
    # unsorted input and a non-monotonic count (scrape skew) are repaired as Prometheus does
    assert bucket_quantile(0.7, [(INF, 100.0), (0.5, 85.0), (0.1, 90.0)]) == bucket_quantile(0.7, [(0.1, 90.0), (0.5, 90.0), (INF, 100.0)])


def test_histogram_quantile_reports_the_bucket_and_an_interval_that_contains_it() -> None:
    b = [(0.1, 5000.0), (0.25, 9800.0), (0.5, 9990.0), (1.0, 10000.0), (INF, 10000.0)]
    q = histogram_quantile(0.99, b)
    assert q is not None
    assert q.bucket == (0.25, 0.5)
    assert q.bucket[0] <= q.estimate <= q.bucket[1]
    assert q.interval[0] <= q.bucket[0] and q.interval[1] >= q.bucket[1]
    assert histogram_quantile(0.99, [(0.1, 0.0), (INF, 0.0)]) is None


def test_quantile_interval_widens_to_infinity_when_the_upper_rank_is_beyond_the_data() -> None:
    q = histogram_quantile(0.99, [(0.1, 5.0), (INF, 10.0)])
    assert q is not None and q.interval[1] == INF


def test_availability_interval_is_wilson_as_scipy_computes_it() -> None:
    lo, hi = availability_interval(990_000, 1_000_000, 0.95)
    ref = stats.binomtest(990_000, 1_000_000).proportion_ci(0.95, method="wilson")
    assert lo == pytest.approx(ref.low, rel=1e-12) and hi == pytest.approx(ref.high, rel=1e-12)


# --------------------------------------------------------------------------- PromQL from the spec


def test_render_fills_the_window_and_rejects_other_template_variables() -> None:
    q = "sum(rate(x{a=\"b\"}[{{ .window }}]))\n / 2"
    assert render(q, "30d", "s.yaml", "spec.p") == 'sum(rate(x{a="b"}[30d])) / 2'
    with pytest.raises(SpecError, match=r"s.yaml: spec.p: unknown template variable \{\{ .foo \}\}"):
        render("rate(x[{{ .foo }}])", "30d", "s.yaml", "spec.p")


@pytest.mark.parametrize(
    ("query", "scale"),
    [
        ("sum(increase(x[30d]))", 1.0),
        ("sum(rate(x[30d]))", 2592000.0),
        ("sum(irate(x[30d]))", None),  # irate is no count
        ("sum(rate(x[5m]))", None),  # a range other than the window
        ("sum(x)", None),  # no range at all
        ("sum(rate(x[30d])) + sum(increase(y[30d]))", None),
    ],
)
def test_count_scale(query: str, scale: float | None) -> None:
    assert count_scale(query, "30d", 2592000.0) == scale


def test_telemetry_of_the_paper_spec(paper_spec: Path) -> None:
    j = load_spec(paper_spec)
    tel = component_telemetry(j.component("paya"), j.source)
    assert tel is not None
    assert tel.good == 'payment_requests_total{provider="paya",result="success"}'
    assert tel.histogram == "paya_request_duration_seconds_bucket"
    assert tel.key_path("total") == "spec.components.paya.telemetry.metrics.availabilityTotal"
    jq = journey_queries(j, "30d", 2592000.0)
    assert jq.good == 'sum(rate(journey_requests_total{journey="checkout",result="success"}[30d]))'
    assert jq.scale == 2592000.0 and jq.latency_metric == "p99"
    assert jq.latency is not None and jq.latency.startswith("histogram_quantile( 0.99,")


def test_telemetry_errors_name_the_path(write_spec) -> None:
    p = write_spec(
        """
        apiVersion: emac.dev/v1alpha1
        kind: JourneyIntent
        metadata: {name: t}
        spec:
          operator: {ref: a}
          components:
            a:
              availability: 0.99
              telemetry: {metrics: {availabilityGood: 'x{r="ok"}'}}
            b:
              availability: 0.99
              telemetry: {metrics: {latencyHistogram: 42}}
        """
    )
    j = load_spec(p)
    with pytest.raises(SpecError) as e:
        component_telemetry(j.component("a"), str(p))
    assert e.value.line() == (
        f"{p}: spec.components.a.telemetry.metrics.availabilityTotal: "
        "availabilityGood is given without availabilityTotal: both are needed for an availability"
    )
    with pytest.raises(SpecError, match=r"spec.components.b.telemetry.metrics.latencyHistogram: expected a PromQL series selector"):
        component_telemetry(j.component("b"), str(p))


# --------------------------------------------------------------------------- options and credentials


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (ENV_TOKEN, ENV_USER, ENV_PASSWORD, ENV_CA, ENV_TIMEOUT):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("127.0.0.1:9090", "expected a URL such as http://127.0.0.1:9090"),
        ("ftp://host", "expected a URL such as http://127.0.0.1:9090"),
        ("http://host:99999", "malformed port"),
        ("http://host/?q=1", "must not carry a query string"),
    ],
)
def test_bad_urls_are_refused(clean_env, url: str, message: str) -> None:
    with pytest.raises(SpecError, match=message) as e:
        PrometheusClient(url)
    assert e.value.line().startswith("<command line>: --prometheus: ")


def test_url_credentials_become_basic_auth_and_are_never_shown(clean_env) -> None:
    c = PrometheusClient("https://alice:pa55word@prom.example:9443/prometheus/")
    assert c.display == "https://prom.example:9443/prometheus" and c.auth == "basic"
    assert c.scrub("failed with pa55word") == "failed with ***"
    with pytest.raises(SpecError) as e:
        PrometheusClient("alice:pa55word@prom.example")
    assert "pa55word" not in e.value.line()


def test_credential_combinations(clean_env, tmp_path: Path) -> None:
    clean_env.setenv(ENV_TOKEN, "t0ken")
    assert PrometheusClient("http://h").auth == "bearer"
    clean_env.setenv(ENV_USER, "bob")
    clean_env.setenv(ENV_PASSWORD, "pw")
    with pytest.raises(SpecError, match="either a bearer token .* or basic auth"):
        PrometheusClient("http://h")
    clean_env.delenv(ENV_TOKEN)
    assert PrometheusClient("http://h").auth == "basic"
    clean_env.delenv(ENV_PASSWORD)
    with pytest.raises(SpecError, match="user given without a password"):
        PrometheusClient("http://h")
    clean_env.delenv(ENV_USER)
    clean_env.setenv(ENV_CA, str(tmp_path / "missing.pem"))
    with pytest.raises(SpecError, match="CA bundle named by EMAC_PROMETHEUS_CA not found"):
        PrometheusClient("https://h")
    clean_env.delenv(ENV_CA)
    clean_env.setenv(ENV_TIMEOUT, "-3")
    with pytest.raises(SpecError, match="<environment>: EMAC_PROMETHEUS_TIMEOUT: must be a positive number"):
        PrometheusClient("http://h")


def test_time_and_window_options() -> None:
    assert parse_at("2025-06-30T00:00:00Z") == 1751241600.0
    assert parse_at("2025-06-30T02:00:00+02:00") == 1751241600.0
    assert parse_at("1751241600") == 1751241600.0
    with pytest.raises(SpecError, match="--at: '2025-06-30T00:00:00' has no time zone"):
        parse_at("2025-06-30T00:00:00")
    with pytest.raises(SpecError, match="--at: expected RFC 3339"):
        parse_at("yesterday")
    assert parse_window("7d") == 7 * 86400.0
    with pytest.raises(SpecError, match="--window: malformed duration"):
        parse_window("seven days")
    with pytest.raises(SpecError, match="--window: must be at least 1ms"):
        parse_window("0s")


def test_evidence_options_need_a_server() -> None:
    assert evidence_request(None) is None
    for args, opt in (({"mode": "observed"}, "--evidence"), ({"window": "7d"}, "--window"), ({"at": "now"}, "--at")):
        with pytest.raises(SpecError) as e:
            evidence_request(None, **args)
        assert e.value.line().startswith(f"<command line>: {opt}: ") and "needs --prometheus URL" in e.value.line()


def test_cli_refuses_evidence_options_without_prometheus(cli, paper_spec: Path) -> None:
    r = cli("bounds", paper_spec, "--evidence", "observed")
    assert r.exit_code == 2, r
    assert r.stderr.strip() == "emac bounds: --evidence: --evidence observed needs --prometheus URL"
    r = cli("evidence", paper_spec)
    assert r.exit_code == 2, r
    assert r.stderr.strip() == "emac evidence: --prometheus: missing: give the URL of the Prometheus server to ask"
    r = cli("evidence", paper_spec, "--prometheus", "http://127.0.0.1:9", "--at", "tomorrow")
    assert r.exit_code == 2, r
    assert r.stderr.strip().startswith("emac evidence: --at: expected RFC 3339")


# --------------------------------------------------------------------------- OpenMetrics writer


def test_spread_and_counters_keep_exact_totals() -> None:
    w = np.array([1.0, 3.0, 0.0, 2.5])
    parts = spread(1001, w)
    assert parts.sum() == 1001 and parts[2] == 0
    c = counter(np.array([5, 7, 11, 13]), reset_at=3)
    assert list(c) == [0, 5, 12, 11, 24]  # restarted before the fourth sample
    # what increase() adds back over the reset gives the truth
    assert c[-1] + c[2] == 5 + 7 + 11 + 13


def test_histogram_increments_hold_the_rounded_cdf_exactly() -> None:
    obs = spread(10_000, np.ones(24))
    inc = histogram_increments(obs, [0.5, 0.9, 1.0])
    assert inc.sum(axis=1).tolist() == [5000, 4000, 1000]
    series = histogram_series(inc)
    assert series[:, -1].tolist() == [5000, 9000, 10000] and (np.diff(series, axis=1) >= 0).all()


def test_openmetrics_text(tmp_path: Path) -> None:
    tl = Timeline(end=7200.0, window=7200.0, step=3600.0)
    fam = Family("x", "counter", "An x.")
    fam.add_counter({"a": "b"}, np.array([0, 4]))
    text = write_openmetrics(tmp_path / "x.om", [fam], tl).read_text()
    assert text == '# HELP x An x.\n# TYPE x counter\nx_total{a="b"} 0 3600\nx_total{a="b"} 4 7200\n# EOF\n'
