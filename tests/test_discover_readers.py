"""Trace readers: OTLP, Jaeger, Zipkin, CSV into one span table; streaming; malformed inputs."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from emac_sim import load_spec
from emac_sim.cli import app
from emac_sim.discover import CsvMapping, discover, read_spans
from emac_sim.discover.calls import iter_trace_calls
from emac_sim.discover.jsonstream import JsonStream
from emac_sim.discover.spans import SPAN_SCHEMA, Ledger
from emac_sim.errors import SpecError

DATA = Path(__file__).parent / "data" / "discover"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference"
OB = SHARED / "traces" / "csv" / "online-boutique-2022-08-23-17_00.csv"
ZIPKIN = SHARED / "traces" / "zipkin"


def _rows(df: pl.DataFrame) -> dict[str, dict]:
    return {r["span_id"]: r for r in df.iter_rows(named=True)}


def test_otlp_ids_int64_strings_status_and_kinds():
    df, ledger, inputs = read_spans([DATA / "otlp_small.json"])
    assert df.schema == pl.Schema(SPAN_SCHEMA)
    assert inputs[0].format == "otlp" and inputs[0].spans == 3
    rows = _rows(df)
    root = rows["eee19b7ec3c1b174"]
    assert root["trace_id"] == "5b8efff798038103d269b633813fc60c"  # upper-case hex normalised
    assert root["parent_id"] is None and root["service"] == "frontend" and root["kind"] == "server"
    assert root["start_ns"] == 1544712660000000000 and root["end_ns"] == 1544712660100000000  # string int64
    assert root["status"] == "unset"
    assert json.loads(root["resource"])["cloud.availability_zone"] == "eu-west-1a"
    assert json.loads(root["attributes"]) == {"http.response.status_code": "200", "http.route": "/cart"}
    client = rows["eee19b7ec3c1b175"]
    assert client["kind"] == "client" and client["status"] == "error" and client["peer_service"] == "cart"
    assert client["start_ns"] == 1544712660010000000  # JSON number int64
    assert json.loads(client["attributes"])["retry"] == "false"
    # base64 ids (generic protobuf JSON) become the same hex ids
    server = rows["eee19b7ec3c1b176"]
    assert server["trace_id"] == root["trace_id"] and server["parent_id"] == "eee19b7ec3c1b175"
    assert server["status"] == "ok" and server["service"] == "cart"
    assert ledger.total() == 0


def test_jaeger_references_processes_and_microseconds():
    df, ledger, _ = read_spans([DATA / "jaeger_small.json"])
    rows = _rows(df)
    assert rows["0000000000000001"]["parent_id"] is None
    charge = rows["0000000000000002"]
    assert charge["parent_id"] == "0000000000000001" and charge["service"] == "payments"
    assert charge["start_ns"] == 1700000000010000000 and charge["end_ns"] == 1700000000060000000
    assert charge["status"] == "error" and charge["kind"] == "server"
    assert json.loads(charge["resource"]) == {"hostname": "pay-0", "service.name": "payments"}
    audit = rows["0000000000000003"]
    assert audit["parent_id"] == "0000000000000001" and audit["kind"] == "consumer"  # FOLLOWS_FROM: asynchronous
    traces = list(iter_trace_calls(df, ledger))
    assert len(traces) == 1 and traces[0].route == "/checkout"
    assert [c.service for c in traces[0].calls] == ["payments"]
    assert ledger.counts["asyncSpans"] == 1


def test_csv_generic_mapping_detected_and_explicit():
    df, ledger, inputs = read_spans([DATA / "spans_generic.csv"])
    rows = _rows(df)
    assert inputs[0].format == "csv"
    assert rows["s1"]["parent_id"] is None and rows["s1"]["service"] == "gateway"
    assert rows["s3"]["start_ns"] == 1700000000055 * 1_000_000 and rows["s3"]["end_ns"] == (1700000000055 + 50) * 1_000_000
    assert rows["s3"]["status"] == "error" and rows["s2"]["status"] == "ok"
    explicit = CsvMapping.parse(
        "traceId=trace,spanId=span,parentId=parent,service=service,operation=name,start=start_ms,duration=duration_ms,startUnit=ms,durationUnit=ms"
    )
    df2, _, _ = read_spans([DATA / "spans_generic.csv"], csv_mapping=explicit)
    assert df2.drop("record").equals(df.drop("record"))


def test_csv_mapping_errors_are_one_line():
    with pytest.raises(SpecError, match="unknown CSV mapping key 'traceID'"):
        CsvMapping.parse("traceID=x")
    with pytest.raises(SpecError, match="unit must be one of ns, us, ms, s"):
        CsvMapping.parse("startUnit=minutes")
    with pytest.raises(SpecError, match=r"no traceId column found .*pass --csv-map traceId=COLUMN"):
        read_spans([DATA / "malformed" / "no_ids.csv"])
    with pytest.raises(SpecError, match="names column 'nope'"):
        read_spans([DATA / "spans_generic.csv"], csv_mapping=CsvMapping(traceId="nope"))


@pytest.mark.skipif(not OB.exists(), reason="shared/reference traces not available")
def test_csv_online_boutique_pods_roots_and_units():
    df, ledger, _ = read_spans([OB])
    assert df.height == 22969
    first = df.row(0, named=True)
    # ParentID "root" is no parent; pod frontend-579b9bff58-t2dbm is the frontend deployment
    assert first["parent_id"] is None and first["service"] == "frontend"
    assert first["start_ns"] == 1661273974730641486 and first["end_ns"] == 1661273975415194516
    assert json.loads(first["resource"])["k8s.pod.name"] == "frontend-579b9bff58-t2dbm"
    assert set(df["service"].unique()) == {
        "frontend",
        "currencyservice",
        "productcatalogservice",
        "cartservice",
        "adservice",
        "recommendationservice",
        "shippingservice",
        "checkoutservice",
        "paymentservice",
        "emailservice",
    }
    # duration column (µs) agrees with the ns timestamps
    raw = pl.read_csv(OB, columns=["Duration"])["Duration"]
    assert ((df["end_ns"] - df["start_ns"]) // 1000 - raw).abs().max() <= 1
    assert ledger.total() == 0


@pytest.mark.skipif(not ZIPKIN.exists(), reason="shared/reference traces not available")
def test_zipkin_fragments_shared_spans_and_skew():
    df, ledger, _ = read_spans([ZIPKIN / "smartthings-mobile-web-install.json"])
    raw = json.loads((ZIPKIN / "smartthings-mobile-web-install.json").read_text())
    assert len(raw) == 1041
    # 84 timing-less fragments merged; every remaining span id unique within the trace
    assert ledger.counts["mergedFragments"] == 84
    assert df.height == 1041 - 84
    assert df.select(pl.struct("trace_id", "span_id").is_unique().all()).item()
    assert ledger.counts["sharedSpansSplit"] == 294
    # skew.json: serviceb's clock runs 65 ms behind; after correction its server span sits inside the client span
    df, ledger, _ = read_spans([ZIPKIN / "skew.json"])
    traces = list(iter_trace_calls(df, ledger))
    (call,) = traces[0].calls
    assert call.service == "serviceb" and call.start <= call.nstart and call.nend <= call.end
    assert ledger.counts["skewCorrected"] == 2  # the server half and its local child


def test_streaming_reader_matches_any_chunk_size():
    text = (DATA / "otlp_small.json").read_text()
    whole = json.loads(text)

    def walk(chunk: int) -> list:
        js = JsonStream(io.StringIO(text), "x", chunk=chunk)
        spans = []
        for key in js.members():
            assert key == "resourceSpans"
            for _ in js.items():
                for k in js.members():
                    if k == "scopeSpans":
                        for _ in js.items():
                            for k2 in js.members():
                                if k2 == "spans":
                                    for _ in js.items():
                                        spans.append(js.value())
                                else:
                                    js.skip()
                    else:
                        js.skip()
        return spans

    expected = [s for rs in whole["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    for chunk in (1, 3, 7, 64, 1 << 20):
        assert walk(chunk) == expected


def test_otlp_json_lines_and_gzip(tmp_path):
    lines = (DATA / "otlp_small.json").read_text().replace("\n", "")
    p = tmp_path / "t.jsonl.gz"
    with gzip.open(p, "wt") as fp:
        fp.write(lines + "\n" + lines + "\n")
    df, ledger, _ = read_spans([p])
    assert df.height == 3  # the repeated request's spans are duplicates of the first
    assert ledger.counts["duplicateSpans"] == 3


# --------------------------------------------------------------------------- malformed inputs


def test_truncated_json_is_one_line_error():
    with pytest.raises(SpecError) as e:
        read_spans([DATA / "malformed" / "truncated.otlp.json"])
    assert "truncated JSON" in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith(str(DATA / "malformed" / "truncated.otlp.json") + ": character ")


def test_json_syntax_error_names_the_offset():
    with pytest.raises(SpecError, match=r"syntax\.otlp\.json: character \d+: invalid JSON: Expecting property name"):
        read_spans([DATA / "malformed" / "syntax.otlp.json"])


def test_missing_ids_are_counted_not_lost():
    df, ledger, _ = read_spans([DATA / "malformed" / "missing_ids.zipkin.json"])
    assert df.height == 2
    assert ledger.counts["missingIds"] == 2
    assert ledger.to_dict()["missingIds"]["examples"]


def test_negative_durations_keep_the_span_without_timing():
    df, ledger, _ = read_spans([DATA / "malformed" / "negative.jaeger.json"])
    assert ledger.counts["negativeDuration"] == 1
    row = _rows(df)["02"]
    assert row["end_ns"] is None and row["start_ns"] is not None
    (tc,) = list(iter_trace_calls(df, ledger))
    assert [c.op for c in tc.calls] == ["q1", "q2"] and not tc.calls[0].timed


def test_cycles_and_orphans_are_counted():
    df, ledger, _ = read_spans([DATA / "malformed" / "cycle.zipkin.json"])
    traces = list(iter_trace_calls(df, ledger))
    assert ledger.counts["cycleSpans"] == 3  # the 3 <-> 4 loop and the self-parent 5
    assert [c.op for c in traces[0].calls] == ["ok"]
    df, ledger, _ = read_spans([DATA / "malformed" / "orphans.otlp.json"])
    traces = list(iter_trace_calls(df, ledger))
    # orphans become roots of partial traces (as Jaeger's UI shows them), never dropped
    assert [(t.trace_id, t.operation, t.partial) for t in traces] == [
        ("000000000000000000000000000000dd", "get /", False),
        ("000000000000000000000000000000dd:0000000000000002", "lost parent", True),
        ("000000000000000000000000000000ee", "no root", True),
    ]
    assert [c.op for c in traces[1].calls] == []  # 'lost grandparent' runs in the same service: folded in
    assert ledger.counts["orphanSpans"] == 2  # the two spans whose parent is missing
    examples = ledger.to_dict()["orphanSpans"]["examples"]
    assert examples == ["000000000000000000000000000000dd/0000000000000002", "000000000000000000000000000000ee/0000000000000004"]
    assert ledger.counts["tracesWithoutRoot"] == 1


def test_empty_and_unknown_inputs(tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("  \n")
    with pytest.raises(SpecError, match="empty file: no spans"):
        read_spans([empty])
    odd = tmp_path / "odd.json"
    odd.write_text('{"hello": 1}')
    with pytest.raises(SpecError, match="cannot detect the trace format"):
        read_spans([odd])
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"[\xff\xfe\x00]")
    with pytest.raises(SpecError, match="not UTF-8"):
        read_spans([binary])
    with pytest.raises(SpecError, match="CSV has no rows"):
        read_spans([DATA / "malformed" / "header_only.csv"], csv_mapping=CsvMapping(start="span", end="span"))
    with pytest.raises(SpecError, match="no such file"):
        read_spans([tmp_path / "missing.json"])
    with pytest.raises(SpecError, match="unknown trace format"):
        read_spans([empty], fmt="xml")


def test_malformed_files_through_the_cli(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["discover", str(DATA / "malformed" / "truncated.otlp.json"), "--out", str(tmp_path)])
    assert r.exit_code == 2
    assert "truncated JSON" in r.output and len(r.output.strip().splitlines()) == 1
    # broken but usable files: a model, with every skip counted in the output
    r = runner.invoke(app, ["discover", str(DATA / "malformed" / "cycle.zipkin.json"), "--out", str(tmp_path), "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["dataQuality"]["cycleSpans"]["count"] == 3
    (j,) = out["journeys"]
    assert any(f.startswith("skipped-spans:") and "3 cycleSpans" in f for f in j["evidenceFlags"])
    args = ["discover", str(DATA / "malformed" / "missing_ids.zipkin.json"), "--out", str(tmp_path), "--trace-format", "zipkin", "--format", "json"]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["dataQuality"]["missingIds"]["count"] == 2
    # --format is the output only; a trace format there is pointed to --trace-format
    r = runner.invoke(app, ["discover", str(DATA / "otlp_small.json"), "--out", str(tmp_path), "--format", "yaml"])
    assert r.exit_code == 2 and r.output == "emac discover: --format: unknown output format 'yaml' (text, json)\n"
    r = runner.invoke(app, ["discover", str(DATA / "otlp_small.json"), "--out", str(tmp_path), "--format", "zipkin"])
    assert r.exit_code == 2 and r.output.endswith("for the trace format use --trace-format zipkin\n")
    r = runner.invoke(app, ["discover", str(DATA / "otlp_small.json"), "--out", str(tmp_path), "--trace-format", "xml"])
    assert r.exit_code == 2 and "--trace-format: unknown trace format 'xml'" in r.output


def test_zipkin_v1_is_refused_clearly(tmp_path):
    v1 = [{"traceId": "01", "id": "02", "name": "get", "annotations": [{"timestamp": 1, "value": "sr", "endpoint": {"serviceName": "a"}}]}]
    p = tmp_path / "v1.json"
    p.write_text(json.dumps(v1))
    with pytest.raises(SpecError, match=r"v1\.json: character 1: Zipkin v1 JSON .* is not supported: export Zipkin v2"):
        read_spans([p])


def test_a_trace_exported_from_the_middle_is_a_flagged_partial_journey(tmp_path):
    p = tmp_path / "middle.json"
    base = {"traceId": "01", "timestamp": 1_700_000_000_000_000, "duration": 900, "kind": "SERVER", "localEndpoint": {"serviceName": "cart"}}
    spans = [
        {**base, "id": "02", "parentId": "03", "name": "get /cart"},  # its caller was not exported
        {**base, "id": "04", "parentId": "02", "name": "select", "kind": "CLIENT", "remoteEndpoint": {"serviceName": "db"}, "duration": 300},
    ]
    p.write_text(json.dumps(spans))
    res = discover([p])
    (dj,) = res.journeys
    assert dj.journey.expression == "db"
    assert res.ledger.counts == {"orphanSpans": 1, "tracesWithoutRoot": 1}
    assert res.to_dict()["dataQuality"]["orphanSpans"]["examples"] == ["01/02"]
    assert any(f.startswith("partial-traces: 1 of 1 traces") for f in dj.flags)
    assert dj.document["spec"]["provenance"]["journey"]["partialTraces"] == 1
    assert dj.document["spec"]["provenance"]["coverage"]["traceCoverage"] == 0.5  # a partial trace counts half


def test_no_usable_trace_is_an_error_with_its_reasons(tmp_path):
    p = tmp_path / "loop.json"
    base = {"traceId": "01", "name": "x", "timestamp": 1, "duration": 1, "localEndpoint": {"serviceName": "a"}}
    p.write_text(json.dumps([{**base, "id": "02", "parentId": "03"}, {**base, "id": "03", "parentId": "02"}]))
    with pytest.raises(SpecError, match=r"no usable trace: 2 spans in a cycle of parent links \(skipped\)$"):
        discover([p])
    q = tmp_path / "noids.json"
    q.write_text(json.dumps([{"traceId": None, "id": None, "name": "x", "timestamp": 1, "duration": 5}] * 3))
    with pytest.raises(SpecError, match=r"no usable spans: 3 spans without a trace id or span id \(dropped\)$"):
        discover([q])


def test_ledger_lines_are_sentences():
    led = Ledger()
    led.add("orphanSpans", 2, ["t/1", "t/1", "t/2"])
    assert led.lines() == ["2 spans whose parent is missing from the trace (each made the root of a partial trace)"]
    assert led.to_dict()["orphanSpans"]["examples"] == ["t/1", "t/2"]


def _random_zipkin(rng) -> list[dict]:
    """Broken-on-purpose Zipkin spans: missing/looping/dangling parents, missing or negative
    timing, duplicates, shared ids, errors."""
    spans = []
    for _ in range(rng.randint(1, 10)):
        tid = f"{rng.getrandbits(64):016x}"
        n = rng.randint(1, 12)
        ids = [f"{rng.getrandbits(64):016x}" for _ in range(n)]
        base = 1_700_000_000_000_000 + rng.randint(0, 10**9)
        for i in range(n):
            sp = {"traceId": tid, "id": ids[i], "name": rng.choice(["get", "post", "q"]), "localEndpoint": {"serviceName": rng.choice("abcde")}}
            if i > 0:
                r = rng.random()
                sp["parentId"] = ids[rng.randrange(i)] if r < 0.8 else (ids[rng.randrange(n)] if r < 0.93 else "ffffffffffffffff")
            if rng.random() < 0.93:
                sp["timestamp"] = base + rng.randint(0, 10**6)
                if rng.random() < 0.93:
                    sp["duration"] = rng.randint(-10, 500_000)
            if rng.random() < 0.5:
                sp["kind"] = rng.choice(["CLIENT", "SERVER", "PRODUCER", "CONSUMER"])
            if rng.random() < 0.2:
                sp["tags"] = {"error": "true"}
            if rng.random() < 0.1:
                sp["shared"] = True
            if rng.random() < 0.05:
                del sp["id"]
            spans.append(sp)
            if rng.random() < 0.05:
                spans.append(dict(sp))
    return spans


@pytest.mark.parametrize("seed", range(40))
def test_random_broken_traces_never_crash_and_every_span_is_accounted(seed, tmp_path):
    import random

    spans = _random_zipkin(random.Random(seed))
    p = tmp_path / "z.json"
    p.write_text(json.dumps(spans))
    df, ledger, _ = read_spans([p])
    c = ledger.counts
    assert len(spans) == df.height + c.get("missingIds", 0) + c.get("duplicateSpans", 0) + c.get("mergedFragments", 0)
    try:
        res = discover([p], out=tmp_path / "out")
    except SpecError as e:  # only "nothing usable", said in one line
        assert "no usable" in str(e) and "\n" not in str(e)
        return
    for dj in res.journeys:
        assert load_spec(res.files[dj.name]).kind == "DiscoveredJourneyModel"
