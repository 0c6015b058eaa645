"""Every export form of the supported trace formats, detected by content; folders of mixed files.

The fixtures in ``data/discover/forms`` hold the same two checkout traces (shop → cart, then shop →
payments) written the way each tool exports them: an OTLP ``ExportTraceServiceRequest``, the
collector's file exporter (JSON Lines), a Jaeger api_v3 reply, Jaeger's ``/api/traces`` reply,
the UI's single-trace download and a bare list of traces, Zipkin v2 span and trace lists and a
single span, a CSV span table and the paper's trace evidence.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emac_sim.cli import app
from emac_sim.discover import discover, read_spans
from emac_sim.discover.readers import NotATrace, detect_format
from emac_sim.errors import SpecError

FORMS = Path(__file__).parent / "data" / "discover" / "forms"
DATA = Path(__file__).parent / "data" / "discover"
TRUNCATED = "character 699: truncated JSON: file ends inside a value"  # data/discover/malformed/truncated.otlp.json

# file -> (detected format, traces, spans)
CASES = {
    "otlp_request.json": ("otlp", 2, 10),
    "otlp_collector.jsonl": ("otlp", 2, 10),
    "jaeger_api_v3.json": ("otlp", 2, 10),
    "jaeger_api_traces.json": ("jaeger", 2, 10),
    "jaeger_ui_download.json": ("jaeger", 1, 5),
    "jaeger_trace_list.json": ("jaeger", 2, 10),
    "zipkin_span_list.json": ("zipkin", 2, 10),
    "zipkin_trace_list.json": ("zipkin", 2, 10),
    "span_table.csv": ("csv", 2, 10),
    "trace_evidence.yaml": ("emac", 2, 6),
}


def _core(path: Path) -> set[tuple]:
    df, _, _ = read_spans([path])
    return set(df.select("trace_id", "span_id", "parent_id", "service", "start_ns", "end_ns").iter_rows())


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_export_form_reads_to_the_same_journey(name: str) -> None:
    fmt, n_traces, n_spans = CASES[name]
    path = FORMS / name
    assert detect_format(path) == fmt
    res = discover([path])
    assert [i.format for i in res.inputs] == [fmt] and res.spans == n_spans and res.traces == n_traces
    (dj,) = res.journeys
    assert dj.journey.expression == "Series(cart, payments)"
    assert dj.traces == n_traces
    assert res.ledger.counts == {}
    if fmt != "emac":  # every span, with its ids, parent, service and timing, as the OTLP request has it
        reference = _core(FORMS / "otlp_request.json")
        got = _core(path)
        assert got == reference if n_traces == 2 else got < reference


def test_a_single_zipkin_span_is_a_partial_trace() -> None:
    res = discover([FORMS / "zipkin_single_span.json"])
    assert res.inputs[0].format == "zipkin" and res.spans == 1
    (dj,) = res.journeys
    assert (dj.name, dj.journey.expression) == ("charge", "payments")
    assert res.ledger.counts == {"orphanSpans": 1, "tracesWithoutRoot": 1}
    assert any(f.startswith("partial-traces:") for f in dj.flags)


def test_a_zipkin_span_list_inside_an_object(tmp_path: Path) -> None:
    spans = json.loads((FORMS / "zipkin_span_list.json").read_text())
    (tmp_path / "wrapped.json").write_text(json.dumps({"spans": spans, "exportedBy": "a script"}))
    res = discover([tmp_path / "wrapped.json"])
    assert res.inputs[0].format == "zipkin" and res.spans == 10
    assert [dj.journey.expression for dj in res.journeys] == ["Series(cart, payments)"]


def test_the_format_comes_from_the_content_not_the_name(tmp_path: Path) -> None:
    for src, dst, fmt in (
        ("jaeger_ui_download.json", "trace.txt", "jaeger"),
        ("zipkin_span_list.json", "export", "zipkin"),
        ("otlp_collector.jsonl", "spans.json", "otlp"),
        ("span_table.csv", "spans.dat", "csv"),
        ("trace_evidence.yaml", "evidence.txt", "emac"),
    ):
        shutil.copy(FORMS / src, tmp_path / dst)
        assert detect_format(tmp_path / dst) == fmt, dst
    (tmp_path / "spec.yaml").write_text("apiVersion: emac.dev/v1alpha1\nkind: JourneyIntent\nmetadata: {name: x}\n")
    with pytest.raises(NotATrace, match="cannot detect the trace format"):
        detect_format(tmp_path / "spec.yaml")  # a YAML file is not read as a CSV


def test_trace_format_forces_one_reader(tmp_path: Path) -> None:
    res = discover([FORMS / "zipkin_span_list.json"], fmt="zipkin")
    assert res.inputs[0].format == "zipkin"
    with pytest.raises(SpecError, match=r"otlp_request\.json: no usable spans: 3 spans without a trace id or span id \(dropped\)"):
        discover([FORMS / "otlp_request.json"], fmt="zipkin")


def _mixed_folder(root: Path) -> Path:
    (root / "sub" / "deeper").mkdir(parents=True)
    shutil.copy(FORMS / "jaeger_api_traces.json", root / "jaeger.json")
    # the same traces under other ids: a second night's export
    text = (FORMS / "otlp_collector.jsonl").read_text().replace('"traceId":"4bf9', '"traceId":"5bf9').replace('"traceId":"0af7', '"traceId":"1af7')
    (root / "sub" / "deeper" / "collector.jsonl").write_text(text)
    (root / "README.md").write_text("# traces exported last night\n")
    (root / "sub" / "spec.yaml").write_text("apiVersion: emac.dev/v1alpha1\nkind: JourneyIntent\nmetadata: {name: x}\n")
    (root / "notes.json").write_text('{"exported": "2024-04-25"}')
    shutil.copy(DATA / "malformed" / "truncated.otlp.json", root / "sub" / "broken.json")
    (root / ".hidden").write_text("not looked at")
    return root


def test_a_folder_of_mixed_files_gives_journeys_and_one_warning_per_skipped_file(tmp_path: Path) -> None:
    folder = _mixed_folder(tmp_path / "in")
    r = CliRunner().invoke(app, ["discover", str(folder), "--out", str(tmp_path / "out"), "--format", "json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert sorted(Path(i["file"]).name for i in out["inputs"]) == ["collector.jsonl", "jaeger.json"]
    (j,) = out["journeys"]
    assert j["name"] == "checkout" and j["traces"] == 4 and j["expression"] == "Series(cart, payments)"
    warnings = r.stderr.splitlines()
    assert warnings == [
        f"warning: {folder / 'README.md'}: not a trace file, skipped: cannot detect the trace format: "
        "not OTLP, Jaeger or Zipkin JSON, a CSV span table or emac evidence",
        f"warning: {folder / 'notes.json'}: not a trace file, skipped: cannot detect the trace format: "
        "JSON without resourceSpans (OTLP), traceID (Jaeger) or traceId (Zipkin)",
        f"warning: {folder / 'sub' / 'broken.json'}: broken trace file, skipped: {TRUNCATED}",
        f"warning: {folder / 'sub' / 'spec.yaml'}: not a trace file, skipped: cannot detect the trace format: "
        "not OTLP, Jaeger or Zipkin JSON, a CSV span table or emac evidence",
    ]
    assert [(Path(s["file"]).name, s["broken"]) for s in out["skippedFiles"]] == [
        ("README.md", False),
        ("notes.json", False),
        ("broken.json", True),
        ("spec.yaml", False),
    ]


def test_strict_makes_a_skipped_file_an_error(tmp_path: Path) -> None:
    folder = _mixed_folder(tmp_path / "in")
    r = CliRunner().invoke(app, ["discover", str(folder), "--out", str(tmp_path / "out"), "--strict"])
    assert r.exit_code == 2
    assert r.output == f"{folder / 'README.md'}: cannot detect the trace format: not OTLP, Jaeger or Zipkin JSON, a CSV span table or emac evidence\n"
    (folder / "README.md").unlink()
    (folder / "notes.json").unlink()
    (folder / "sub" / "spec.yaml").unlink()
    r = CliRunner().invoke(app, ["discover", str(folder), "--out", str(tmp_path / "out"), "--strict"])
    assert r.exit_code == 2 and r.output == f"{folder / 'sub' / 'broken.json'}: {TRUNCATED}\n"
    assert not (tmp_path / "out").exists()


def test_nothing_usable_in_a_folder_spells_out_every_reason(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "README").write_text("nothing here\n")
    shutil.copy(DATA / "malformed" / "syntax.otlp.json", tmp_path / "in" / "syntax.json")
    r = CliRunner().invoke(app, ["discover", str(tmp_path / "in"), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2
    lines = r.output.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{tmp_path / 'in'}: no usable spans: {tmp_path / 'in' / 'README'}: not a trace file, skipped: ")
    assert f"{tmp_path / 'in' / 'syntax.json'}: broken trace file, skipped: character" in lines[0]
    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(app, ["discover", str(tmp_path / "empty"), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2 and r.output == f"{tmp_path / 'empty'}: no trace files given (the folder is empty)\n"


def test_a_named_file_that_is_no_trace_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello\n")
    r = CliRunner().invoke(app, ["discover", str(p), "--out", str(tmp_path / "out")])
    assert r.exit_code == 2
    assert r.output == f"{p}: cannot detect the trace format: not OTLP, Jaeger or Zipkin JSON, a CSV span table or emac evidence\n"


def test_a_pipe_in_a_folder_is_skipped_not_read(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    shutil.copy(FORMS / "otlp_request.json", tmp_path / "in" / "t.json")
    os.mkfifo(tmp_path / "in" / "pipe")
    res = discover([tmp_path / "in"])
    assert [(Path(s.path).name, s.reason) for s in res.skipped] == [("pipe", "not a regular file (a device, pipe or socket)")]
    with pytest.raises(SpecError, match=r"pipe: not a regular file \(a device, pipe or socket\): name a trace file or a folder"):
        discover([tmp_path / "in" / "pipe"])
