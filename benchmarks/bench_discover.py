"""Benchmark: ``discover`` on one very wide trace against the same spans in many small traces.

Issue 13 measured 26 s for one trace 10⁴ spans wide and more than 120 s for 3·10⁴ and 10⁶ spans,
while 10⁵ traces of 2 spans took 5 s: per-trace work was quadratic. This benchmark writes, for
each size N, one OTLP trace whose root calls N spans (``series``: one after the other;
``parallel``: overlapping fan-out) and, as the baseline measured in the same run, N/2 traces of
a root and one call (N spans in all); it reports seconds and the ratio wide / baseline per size,
which stays flat when the per-trace work is near-linear. ``run(quick)`` returns a JSON-ready
dict; ``python -m benchmarks.bench_discover [--quick]`` prints it.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

T0 = 1_700_000_000_000_000_000


def _resource(service: str, spans: list[dict]) -> dict:
    return {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]}, "scopeSpans": [{"spans": spans}]}


def _span(tid: str, sid: int, parent: int | None, name: str, kind: int, start: int, end: int, peer: str | None = None) -> dict:
    sp = {"traceId": tid, "spanId": f"{sid:016x}", "name": name, "kind": kind, "startTimeUnixNano": str(start), "endTimeUnixNano": str(end)}
    if parent is not None:
        sp["parentSpanId"] = f"{parent:016x}"
    if peer is not None:
        sp["attributes"] = [{"key": "peer.service", "value": {"stringValue": peer}}]
    return sp


def wide_trace(path: Path, n: int, shape: str) -> None:
    """One trace: a root and ``n`` client calls to 3 services with 7 operations."""
    tid = "ab" * 16
    spans = [_span(tid, 1, None, "GET /", 2, T0, T0 + 10**12)]
    for i in range(n):
        s = T0 + (i * 10 if shape == "parallel" else i * 90_000)
        spans.append(_span(tid, i + 2, 1, f"op{i % 7}", 3, s, s + 80_000, peer=f"svc{i % 3}"))
    path.write_text(json.dumps({"resourceSpans": [_resource("front", spans)]}))


def narrow_traces(path: Path, n: int) -> None:
    """``n // 2`` traces of a root and one call (``n`` spans in all)."""
    spans = []
    for k in range(n // 2):
        tid = f"{k + 1:032x}"
        s = T0 + k * 10**7
        spans.append(_span(tid, 1, None, "GET /", 2, s, s + 200_000))
        spans.append(_span(tid, 2, 1, f"op{k % 7}", 3, s + 10_000, s + 90_000, peer=f"svc{k % 3}"))
    path.write_text(json.dumps({"resourceSpans": [_resource("front", spans)]}))


def _time(path: Path, out: Path) -> float:
    from emac_sim.discover import discover

    t = time.perf_counter()
    discover([path], out=out)
    return time.perf_counter() - t


def run(quick: bool = False) -> dict:
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 30_000, 100_000)
    rows = []
    with tempfile.TemporaryDirectory() as td:
        d = Path(td)
        narrow_traces(d / "warm.json", 200)
        _time(d / "warm.json", d / "o")  # imports and caches out of the figures
        for n in sizes:
            narrow_traces(d / "narrow.json", n)
            base = _time(d / "narrow.json", d / "o")
            row = {"spans": n, "manyTracesSeconds": round(base, 3)}
            for shape in ("series", "parallel"):
                wide_trace(d / "wide.json", n, shape)
                sec = _time(d / "wide.json", d / "o")
                row[f"{shape}Seconds"] = round(sec, 3)
                row[f"{shape}Ratio"] = round(sec / base, 2)
            rows.append(row)
    return {"what": "discover: one trace N spans wide vs N/2 traces of 2 spans (same run)", "rows": rows}


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=1))
