"""Hostile trace input (issue 13): every input the fuzzing pass crashed on, with the exact value.

Each is either counted and skipped (the run goes on and says so in ``dataQuality``) or refused
with one line and exit code 2. Also: ``simulate --traces`` writes atomically with a manifest that
discovery checks, and the per-trace algorithms that had quadratic cost agree with their direct
definitions.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emac_sim.cli import app
from emac_sim.discover import discover, read_spans
from emac_sim.discover.calls import Call
from emac_sim.discover.structure import EXACT_NS, _causal_branches, _comparability_branches
from emac_sim.model.groups import connected_groups

T0_US = 1_700_000_000_000_000


def _zipkin(path: Path, spans: list[dict]) -> Path:
    path.write_text(json.dumps(spans))
    return path


def _zspan(i: int, parent: int | None = None, **kw) -> dict:
    sp = {"traceId": "a" * 16, "id": f"{i:016x}", "name": f"op{i % 4}", "timestamp": T0_US + i, "duration": 1000}
    sp["localEndpoint"] = {"serviceName": f"s{i % 3}"}
    if parent is not None:
        sp["parentId"] = f"{parent:016x}"
    sp.update(kw)
    return sp


def _otlp(by_service: dict[str, list[dict]]) -> dict:
    """An OTLP export request with one resource per service."""
    def resource(svc: str) -> dict:
        return {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]}

    return {"resourceSpans": [{"resource": resource(svc), "scopeSpans": [{"spans": spans}]} for svc, spans in by_service.items()]}


def _run(*args: object) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, [str(a) for a in args])
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize(
    ("where", "span"),
    [
        ("zipkin timestamp 1e16 µs", {"timestamp": 10**16}),
        ("zipkin duration 1e300", {"duration": 1e300}),
        ("zipkin timestamp -1e16 µs", {"timestamp": -(10**16)}),
        ("zipkin duration as a list", {"duration": [5]}),
    ],
)
def test_zipkin_timing_out_of_range_is_counted_and_the_span_kept(tmp_path: Path, where: str, span: dict) -> None:
    p = _zipkin(tmp_path / "z.json", [_zspan(1, **span), _zspan(2, 1)])
    df, ledger, _ = read_spans([p])
    assert df.height == 2, where
    assert ledger.counts == {"badTimestamps": 1, **({"missingTimestamps": 1} if "timestamp" in span else {})}
    res = discover([p], out=tmp_path / "out")
    assert res.journeys and res.ledger.counts["badTimestamps"] == 1


def test_jaeger_and_otlp_timestamps_beyond_int64_ns(tmp_path: Path) -> None:
    span = {"traceID": "ab", "spanID": "01", "operationName": "x", "startTime": 10**17, "duration": 5, "processID": "p1"}
    jaeger = {"data": [{"traceID": "ab", "spans": [span], "processes": {"p1": {"serviceName": "a"}}}]}
    (tmp_path / "j.json").write_text(json.dumps(jaeger))
    df, ledger, _ = read_spans([tmp_path / "j.json"])
    assert df["start_ns"].to_list() == [None] and ledger.counts["badTimestamps"] == 1
    span = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "x", "startTimeUnixNano": "1", "endTimeUnixNano": "99999999999999999999999"}
    span["status"] = {"code": [1]}
    (tmp_path / "o.json").write_text(json.dumps(_otlp({"a": [span]})))
    df, ledger, _ = read_spans([tmp_path / "o.json"])
    row = df.row(0, named=True)
    assert (row["start_ns"], row["end_ns"], row["status"]) == (1, None, "unset")  # status.code [1] is no status
    assert ledger.counts == {"badTimestamps": 1}
    csv = tmp_path / "s.csv"
    csv.write_text("traceId,spanId,parentId,service,start_us,duration_us\nt1,s1,,a,1e16,5\nt1,s2,s1,b,1700000000000000,1e300\n")
    df, ledger, _ = read_spans([csv])
    assert df["start_ns"].to_list() == [None, 1_700_000_000_000_000_000] and df["end_ns"].to_list() == [None, None]
    assert ledger.counts["badTimestamps"] == 2


def test_every_span_id_null_is_one_line(tmp_path: Path) -> None:
    p = _zipkin(tmp_path / "z.json", [{"traceId": None, "id": None, "name": "x", "timestamp": T0_US, "duration": 5}] * 3)
    code, out, err = _run("discover", p, "--out", tmp_path / "out")
    assert code == 2 and err == f"{p}: no usable spans: 3 spans without a trace id or span id (dropped)\n"


def test_lone_surrogates_are_replaced(tmp_path: Path) -> None:
    p = tmp_path / "s.json"
    p.write_text('[{"traceId":"aaaaaaaaaaaaaaaa","id":"0000000000000001","name":"\\ud800","timestamp":1700000000000000,"duration":5,'
                 '"localEndpoint":{"serviceName":"\\ud800x"},"tags":{"http.route":"/\\udfff"}}]')  # fmt: skip
    code, out, err = _run("discover", p, "--out", tmp_path / "out", "--format", "json")
    assert code == 0, err
    (j,) = json.loads(out)["journeys"]
    assert Path(j["model"]).read_text(encoding="utf-8")  # written as UTF-8
    df, _, _ = read_spans([p])
    assert df.row(0, named=True)["service"] == "\ufffdx"


def test_gzip_magic_without_gzip_data_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "fake.json"
    p.write_bytes(b"\x1f\x8bnot gzip at all")
    code, _, err = _run("discover", p, "--out", tmp_path / "out")
    assert code == 2
    assert err.startswith(f"{p}: starts with the gzip magic bytes but is not gzip data (") and err.count("\n") == 1


def test_a_parent_chain_600_spans_deep(tmp_path: Path) -> None:
    spans = [_zspan(1, duration=100_000)] + [_zspan(i, i - 1, timestamp=T0_US + i, duration=100_000 - i) for i in range(2, 602)]
    p = _zipkin(tmp_path / "deep.json", spans)
    code, out, err = _run("discover", p, "--out", tmp_path / "out", "--format", "json")
    assert code == 0, err
    (j,) = json.loads(out)["journeys"]
    assert j["components"]  # modelled, with the depth cut noted (calls 600 deep are no readable model)
    assert json.loads(out)["dataQuality"] == {}


def test_json_nested_too_deeply(tmp_path: Path) -> None:
    p = tmp_path / "deep.json"
    p.write_text('[{"traceId": "01", "id": "02", "tags": ' + "[" * 100_000 + "]" * 100_000 + "}]")
    code, _, err = _run("discover", p, "--out", tmp_path / "out")
    assert code == 2 and "nested too deeply" in err and err.count("\n") == 1


# --------------------------------------------------------------------------- simulate --traces


@pytest.mark.parametrize("target", ["folder", "/proc/version"])
def test_traces_pointing_at_a_folder_or_a_special_file(paper_spec: Path, tmp_path: Path, target: str) -> None:
    where = tmp_path if target == "folder" else Path(target)
    if target != "folder" and not where.exists():
        pytest.skip("no /proc here")
    code, out, err = _run("simulate", paper_spec, "--samples", "200", "--seed", "1", "--traces", where)
    assert code == 2 and err.count("\n") == 1 and err.startswith(f"{where}: ")
    assert out == ""  # refused before the run


def test_traces_carry_a_manifest_that_discovery_checks(paper_spec: Path, tmp_path: Path) -> None:
    traces = tmp_path / "t" / "traces.jsonl"
    code, out, err = _run("simulate", paper_spec, "--samples", "1200", "--seed", "3", "--traces", traces, "--format", "json")
    assert code == 0, err
    man = json.loads((tmp_path / "t" / "traces.jsonl.manifest.json").read_text())
    assert (man["kind"], man["file"], man["traces"], man["bytes"]) == ("EmacTraceManifest", "traces.jsonl", 1200, traces.stat().st_size)
    assert sorted(p.name for p in traces.parent.iterdir()) == ["traces.jsonl", "traces.jsonl.manifest.json"]  # no temporary left
    res = discover([traces.parent])  # the manifest in the folder is ours: read silently, not a skipped file
    assert res.traces == 1200 and res.skipped == [] and res.inputs[0].meta["traces"] == 1200
    # cut at a line boundary: still valid JSON Lines, but no longer what was written
    lines = traces.read_text().splitlines(keepends=True)
    traces.write_text("".join(lines[:-1]))
    code, _, err = _run("discover", traces, "--out", tmp_path / "out")
    assert code == 2
    assert err == (
        f"{traces}: does not match its manifest traces.jsonl.manifest.json: {traces.stat().st_size} bytes here, {man['bytes']} bytes "
        f"holding 1200 traces ({man['spans']} spans) when written: the file was cut short after it was written\n"
    )
    code, _, err = _run("discover", traces.parent, "--out", tmp_path / "out")  # in a folder: skipped with a warning
    assert code == 2 and "broken trace file, skipped: does not match its manifest" in err


def test_a_killed_trace_writer_leaves_no_truncated_file(paper_spec: Path, tmp_path: Path) -> None:
    traces = tmp_path / "traces.jsonl"
    traces.write_text("previous run\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "emac_sim.cli", "simulate", str(paper_spec), "--samples", "4000", "--seed", "1", "--traces", str(traces)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:  # wait until the writer is writing
            tmp = [p for p in tmp_path.iterdir() if p.name.startswith(".traces.jsonl.") and p.stat().st_size > 0]
            if tmp:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed mid-write"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert traces.read_text() == "previous run\n"  # the old file, whole; never a truncated new one
    assert not (tmp_path / "traces.jsonl.manifest.json").exists()


# --------------------------------------------------------------------------- linear-time pieces


def _calls(intervals: list[tuple[int, int]], keys: list[str] | None = None, oks: list[bool] | None = None) -> list[Call]:
    out = []
    for i, (s, e) in enumerate(sorted(intervals)):
        c = Call()
        c.start, c.end, c.key, c.vok = s, e, (keys[i] if keys else "k"), (oks[i] if oks else True)
        out.append(c)
    return out


@pytest.mark.parametrize("seed", range(60))
def test_comparability_branches_match_the_pairwise_definition(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(2, 40)
    iv = []
    for _ in range(n):
        s = rng.randint(0, 100)
        iv.append((s, s + rng.choice([0, 0, rng.randint(0, 60)])))
    g = _calls(iv)
    direct = connected_groups(n, lambda i, j: g[i].end <= g[j].start or g[j].end <= g[i].start)
    assert [[id(c) for c in grp] for grp in _comparability_branches(g)] == [[id(g[i]) for i in grp] for grp in direct]


def _causal_direct(g: list[Call]) -> list[list[Call]]:
    """The definition, in O(n²): the latest earlier end within EXACT_NS of the start, else the last
    earlier failed call of the same component that ended before."""
    t0, branch_of, branches = g[0].start, [], []
    for i, c in enumerate(g):
        pred = None
        if c.start - t0 > EXACT_NS:
            for j in range(i):
                p = g[j]
                if abs(c.start - p.end) <= EXACT_NS and (pred is None or p.end > g[pred].end):
                    pred = j
            if pred is None:
                pred = next((j for j in range(i - 1, -1, -1) if g[j].key == c.key and not g[j].vok and g[j].end <= c.start), None)
        if pred is None:
            branch_of.append(len(branches))
            branches.append([c])
        else:
            branch_of.append(branch_of[pred])
            branches[branch_of[pred]].append(c)
    return branches


@pytest.mark.parametrize("seed", range(60))
def test_causal_branches_match_the_direct_definition(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(2, 40)
    iv = [(s := rng.choice([0, 10, 20, 25, 30, 40, 50]) * 10, s + rng.choice([0, 5, 10, 20]) * 10 + rng.choice([0, 0, 3, 30])) for _ in range(n)]
    g = _calls(iv, [rng.choice("ab") for _ in range(n)], [rng.random() < 0.7 for _ in range(n)])
    assert [[id(c) for c in b] for b in _causal_branches(g)] == [[id(c) for c in b] for b in _causal_direct(g)]


def test_a_fan_out_too_wide_to_review_is_modelled_end_to_end(tmp_path: Path) -> None:
    n = 3000
    t0 = 1_700_000_000_000_000_000
    root = {"traceId": "ab" * 16, "spanId": f"{1:016x}", "name": "GET /", "kind": 2, "startTimeUnixNano": str(t0), "endTimeUnixNano": str(t0 + 10**9)}
    kids = [
        {"traceId": "ab" * 16, "spanId": f"{i + 2:016x}", "parentSpanId": f"{1:016x}", "name": f"op{i}", "kind": 3,
         "startTimeUnixNano": str(t0 + 1000 * i), "endTimeUnixNano": str(t0 + 1000 * i + 500_000_000),
         "attributes": [{"key": "peer.service", "value": {"stringValue": f"shard{i}"}}]}
        for i in range(n)
    ]  # fmt: skip
    (tmp_path / "wide.json").write_text(json.dumps(_otlp({"front": [root, *kids]})))
    res = discover([tmp_path / "wide.json"], out=tmp_path / "out")
    (dj,) = res.journeys
    assert dj.journey.expression == "front"
    assert any(f.startswith("too-wide: the call tree has 3001 operators") for f in dj.flags)
    assert dj.journey.component("front").latency is not None  # the root spans' own duration


def test_an_operation_name_thousands_of_characters_long(tmp_path: Path) -> None:
    """(found by the trace fuzz suite: the journey's name, and the file named after it, was 3,000 characters)"""
    p = _zipkin(tmp_path / "z.json", [_zspan(1, name="a" * 3000), _zspan(2, 1), _zspan(3, name="a" * 2999 + "b")])
    res = discover([p], out=tmp_path / "out")
    names = sorted(dj.name for dj in res.journeys)
    assert len(names) == 2 and all(len(n) == 80 and n.startswith("a" * 71 + "-") for n in names) and names[0] != names[1]
    assert all(Path(f).is_file() for f in res.files.values())
