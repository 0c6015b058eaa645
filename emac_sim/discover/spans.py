"""The span table every trace reader produces, and the data-quality ledger.

Schema (one row per span; a polars DataFrame, column order as below):

=============  ========  ===========================================================================
column         dtype     meaning
=============  ========  ===========================================================================
trace_id       String    trace id, lower-case hex where the format uses hex
span_id        String    span id (Zipkin shared server halves get ``<id>~s<n>``, see readers)
parent_id      String    parent span id; null for a root span
service        String    the service that emitted the span (``service.name``, Zipkin
                         ``localEndpoint.serviceName``, Jaeger process, CSV pod → deployment)
operation      String    span name / operation name
kind           String    ``server``, ``client``, ``producer``, ``consumer``, ``internal`` or ``unset``
peer_service   String    the remote service when the span names it (``peer.service``, Zipkin
                         ``remoteEndpoint.serviceName``), else null
start_ns       Int64     start, Unix epoch nanoseconds (null when the span carries no timing)
end_ns         Int64     end, Unix epoch nanoseconds (null when unknown or negative duration)
status         String    ``ok``, ``error`` or ``unset`` (OpenTelemetry status semantics)
attributes     String    span attributes/tags as a JSON object of strings
resource       String    resource attributes (process tags) as a JSON object of strings
source         String    input file the span came from
record         Int64     0-based index of the span in that file (provenance)
=============  ========  ===========================================================================

Readers append rows to a :class:`ColumnBuilder`, which turns every ``batch`` rows into a polars
frame: the Python objects alive at any time are bounded by the batch, not by the export size.

Every span that is dropped or altered on the way in is counted in a :class:`Ledger` (reason →
count, with example ids), which discovery reports next to its results: never silent loss.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

SPAN_SCHEMA: dict[str, pl.DataType] = {
    "trace_id": pl.String(),
    "span_id": pl.String(),
    "parent_id": pl.String(),
    "service": pl.String(),
    "operation": pl.String(),
    "kind": pl.String(),
    "peer_service": pl.String(),
    "start_ns": pl.Int64(),
    "end_ns": pl.Int64(),
    "status": pl.String(),
    "attributes": pl.String(),
    "resource": pl.String(),
    "source": pl.String(),
    "record": pl.Int64(),
}
COLUMNS = tuple(SPAN_SCHEMA)
NS_LIMIT = 9.2e18  # |Unix ns| just under 2**63: beyond it a timestamp is unreadable (year 2262)
KINDS = ("server", "client", "producer", "consumer", "internal", "unset")
STATUSES = ("ok", "error", "unset")

# Ledger reasons, with the sentence a report prints for them.
REASONS: dict[str, str] = {
    "missingIds": "spans without a trace id or span id (dropped)",
    "malformedSpans": "spans whose fields have the wrong JSON types (dropped)",
    "badTimestamps": "spans with an unreadable or out-of-range timestamp or duration (timing dropped)",
    "negativeDuration": "spans ending before they start (timing dropped, span kept)",
    "missingTimestamps": "spans without timing (kept for structure, no latency)",
    "duplicateSpans": "spans repeating an id already seen in the trace (dropped)",
    "mergedFragments": "Zipkin span fragments merged into the span with the same id",
    "sharedSpansSplit": "Zipkin shared (client+server) span ids split into two spans",
    "skewCorrected": "spans shifted to undo clock skew between caller and callee",
    "tracesWithoutRoot": "traces with no root span (read from their orphan spans, as partial traces)",
    "extraRoots": "extra root spans in a trace (each read as a trace of its own)",
    "orphanSpans": "spans whose parent is missing from the trace (each made the root of a partial trace)",
    "cycleSpans": "spans in a cycle of parent links (skipped)",
    "asyncSpans": "asynchronous (producer/consumer) subtrees kept out of the synchronous journey",
    "unassignedCalls": "calls the inferred structure does not place (counted, not modelled)",
}


@dataclass
class Ledger:
    """Counts of spans or traces dropped or altered, per reason, with a few example ids."""

    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, reason: str, n: int = 1, examples: Iterable[str] = ()) -> None:
        if n <= 0:
            return
        assert reason in REASONS, reason
        self.counts[reason] = self.counts.get(reason, 0) + int(n)
        ex = self.examples.setdefault(reason, [])
        for e in examples:
            if len(ex) >= 3:
                break
            if str(e) not in ex:
                ex.append(str(e))

    def merge(self, other: Ledger) -> None:
        for k, n in other.counts.items():
            self.add(k, n, other.examples.get(k, ()))

    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict:
        """``{reason: {"count", "meaning", "examples"}}`` in a fixed order."""
        return {k: {"count": self.counts[k], "meaning": REASONS[k], "examples": list(self.examples.get(k, []))} for k in REASONS if k in self.counts}

    def lines(self) -> list[str]:
        """One human sentence per reason, e.g. ``3 spans whose parent is missing ...``."""
        return [f"{self.counts[k]} {REASONS[k]}" for k in REASONS if k in self.counts]


class ColumnBuilder:
    """Accumulates span rows column-wise and flushes them to polars frames every ``batch`` rows.

    Parameters
    ----------
    source
        File name stored in the ``source`` column.
    batch
        Rows held as Python objects before a flush.
    """

    def __init__(self, source: str, batch: int = 20_000) -> None:
        self.source = source
        self.batch = batch
        self.frames: list[pl.DataFrame] = []
        self.cols: dict[str, list] = {c: [] for c in COLUMNS if c not in ("source", "record")}
        self.n = 0

    def add(
        self,
        trace_id: str | None,
        span_id: str | None,
        parent_id: str | None,
        service: str | None,
        operation: str | None,
        kind: str,
        peer_service: str | None,
        start_ns: int | None,
        end_ns: int | None,
        status: str,
        attributes: dict | None,
        resource: str,
    ) -> None:
        """Append one span; ``resource`` is already JSON text (shared by a process's spans)."""
        c = self.cols
        c["trace_id"].append(trace_id)
        c["span_id"].append(span_id)
        c["parent_id"].append(parent_id)
        c["service"].append(service)
        c["operation"].append(operation)
        c["kind"].append(kind)
        c["peer_service"].append(peer_service)
        c["start_ns"].append(start_ns)
        c["end_ns"].append(end_ns)
        c["status"].append(status)
        c["attributes"].append(json.dumps(attributes, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if attributes else "{}")
        c["resource"].append(resource)
        self.n += 1
        if len(c["trace_id"]) >= self.batch:
            self.flush()

    def set_resource_from(self, first_row: int, resource: str) -> None:
        """Set ``resource`` for rows ``first_row..`` still held in memory (OTLP files may put a
        resource after its spans)."""
        held_from = self.n - len(self.cols["resource"])
        if first_row < held_from:
            # rows already flushed: patch the frames (rare: a resource after >batch spans)
            for i, f in enumerate(self.frames):
                lo = int(f["record"][0])
                hi = lo + f.height
                if hi > first_row:
                    mask = pl.col("record") >= first_row
                    self.frames[i] = f.with_columns(pl.when(mask).then(pl.lit(resource)).otherwise(pl.col("resource")).alias("resource"))
            first_row = held_from
        col = self.cols["resource"]
        for i in range(first_row - held_from, len(col)):
            col[i] = resource

    def flush(self) -> None:
        m = len(self.cols["trace_id"])
        if not m:
            return
        start = self.n - m
        data = dict(self.cols)
        data["source"] = [self.source] * m
        data["record"] = list(range(start, start + m))
        try:
            frame = pl.DataFrame(data, schema=SPAN_SCHEMA)
        except UnicodeEncodeError:  # a lone surrogate ("\\ud800" in the JSON) is no UTF-8 text
            frame = pl.DataFrame({k: _utf8_column(v) if SPAN_SCHEMA[k] == pl.String() else v for k, v in data.items()}, schema=SPAN_SCHEMA)
        self.frames.append(frame)
        self.cols = {c: [] for c in self.cols}

    def frame(self) -> pl.DataFrame:
        """All rows as one frame with :data:`SPAN_SCHEMA`."""
        self.flush()
        if not self.frames:
            return empty_spans()
        out = pl.concat(self.frames, rechunk=False)  # no copy: chunks are merged by the first sort
        self.frames = [out]
        return out


_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8_text(s: str) -> str:
    """``s`` with lone surrogates (valid in JSON escapes, not in UTF-8) replaced by U+FFFD."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", s)
    return s


def _utf8_column(values: list) -> list:
    return [utf8_text(v) if isinstance(v, str) else v for v in values]


def empty_spans() -> pl.DataFrame:
    return pl.DataFrame(schema=SPAN_SCHEMA)


def clean_spans(df: pl.DataFrame, ledger: Ledger) -> pl.DataFrame:
    """Validate a span table: drop rows without ids, null the timing of negative durations,
    drop repeated (trace, span) ids. Every change is counted in ``ledger``.

    Parameters
    ----------
    df
        Frame with :data:`SPAN_SCHEMA`.
    ledger
        Receives the counts.

    Returns
    -------
    polars.DataFrame
        The cleaned frame (same schema), in input order.
    """
    if df.height == 0:
        return df
    no_id = (
        pl.col("trace_id").is_null()
        | (pl.col("trace_id").str.strip_chars() == "")
        | pl.col("span_id").is_null()
        | (pl.col("span_id").str.strip_chars() == "")
    )
    bad = df.filter(no_id)
    if bad.height:
        ex = [f"{r['source']}#{r['record']}" for r in bad.head(3).iter_rows(named=True)]
        ledger.add("missingIds", bad.height, ex)
        df = df.filter(~no_id)
    neg = pl.col("end_ns") < pl.col("start_ns")
    negs = df.filter(neg)
    if negs.height:
        ledger.add("negativeDuration", negs.height, [f"{r['trace_id']}/{r['span_id']}" for r in negs.head(3).iter_rows(named=True)])
        df = df.with_columns(pl.when(neg).then(None).otherwise(pl.col("end_ns")).alias("end_ns"))
    if df.height == 0:
        return df
    no_ts = df.filter(pl.col("start_ns").is_null())
    if no_ts.height:
        ledger.add("missingTimestamps", no_ts.height, [f"{r['trace_id']}/{r['span_id']}" for r in no_ts.head(3).iter_rows(named=True)])
    # repeated ids: hash first (8 bytes a row), then compare the few candidates exactly
    h = df.select(pl.struct("trace_id", "span_id").hash(seed=7).alias("h"))["h"]
    cand = h.is_duplicated()
    dup = pl.Series([False] * df.height, dtype=pl.Boolean)
    if cand.any():
        sub = df.select("trace_id", "span_id").with_row_index("_i").filter(cand)
        again = sub.filter(~pl.struct("trace_id", "span_id").is_first_distinct())["_i"]
        dup = pl.Series(range(df.height)).is_in(again.implode()) if again.len() else dup
    if dup.any():
        dropped = df.filter(dup)
        ledger.add("duplicateSpans", dropped.height, [f"{r['trace_id']}/{r['span_id']}" for r in dropped.head(3).iter_rows(named=True)])
        df = df.filter(~dup)
    return df


# --------------------------------------------------------------------------- field values shared by the readers


def parse_int(raw: Any) -> int | None:
    """An int64 given as a JSON number or a decimal string; None when absent or unreadable."""
    if raw is None or raw is True or raw is False:
        return None
    if type(raw) is int:
        return raw
    if isinstance(raw, str):
        try:
            return int(raw)
        except ValueError:
            pass
    try:
        f = float(raw)
    except (TypeError, ValueError, OverflowError):
        return None
    return int(f) if f == f and f not in (float("inf"), float("-inf")) else None


def tag_status(tags: dict[str, str]) -> str:
    """Status from Jaeger/Zipkin tags: error flag, otel.status_code, HTTP 5xx, gRPC code."""
    err = tags.get("error")
    if err is not None and str(err).lower() not in ("false", "0"):
        return "error"
    otel = str(tags.get("otel.status_code", "")).lower()
    if otel in ("error", "ok"):
        return otel
    for key in ("http.status_code", "http.response.status_code"):
        code = parse_int(tags.get(key))
        if code is not None:
            return "error" if code >= 500 else "ok"
    g = parse_int(tags.get("rpc.grpc.status_code"))
    if g is not None:
        return "ok" if g == 0 else "error"
    return "unset"
