"""Trace readers: OTLP JSON, Jaeger JSON, Zipkin v2 JSON and CSV span tables → one span table.

Every reader returns a polars frame with :data:`~emac_sim.discover.spans.SPAN_SCHEMA` and adds
what it had to drop or alter to a :class:`~emac_sim.discover.spans.Ledger`. Units are converted
here, at the edge: all timestamps become Unix nanoseconds.

- **OTLP JSON** (``ExportTraceServiceRequest``, also JSON Lines as the collector's file exporter
  writes): hex ids (base64 ids from generic protobuf-JSON encoders are converted), int64 values as
  strings or numbers, ``kind`` and ``status.code`` as numbers or enum names.
- **Jaeger JSON** (``/api/traces`` or UI export: ``{"data": [trace, ...]}``): parent from the first
  ``CHILD_OF`` reference (``FOLLOWS_FROM`` marks the span asynchronous), microseconds, service
  from ``processes``; ``error=true`` or ``otel.status_code`` give the status.
- **Zipkin v2 JSON** (a list of spans, or a list of traces): microseconds; span fragments without
  timing are merged into the span they belong to, and a shared (client + server) span id is split
  into the client span and a server child ``<id>~s<n>`` that takes over the server's children.
- **CSV** span tables, read lazily with :func:`polars.scan_csv` and a :class:`CsvMapping`
  (detected from the header when not given).
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import SpecError
from .jsonstream import JsonStream, open_text
from .spans import NS_LIMIT, SPAN_SCHEMA, ColumnBuilder, Ledger, clean_spans, empty_spans, parse_int, tag_status

FORMATS = ("otlp", "jaeger", "zipkin", "csv", "emac")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_OTLP_KINDS = {0: "unset", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_KIND_NAMES = {
    "server": "server",
    "client": "client",
    "producer": "producer",
    "consumer": "consumer",
    "internal": "internal",
    "unspecified": "unset",
    "unset": "unset",
}


# --------------------------------------------------------------------------- small converters


_HEXCHARS = "0123456789abcdef"


def _hex_id(raw: Any) -> str | None:
    """Trace/span id as lower-case hex; base64 (16 or 8 bytes) is converted; all-zero is None."""
    if raw is None:
        return None
    s = raw if isinstance(raw, str) else str(raw)
    if not s.strip(_HEXCHARS):  # the common case: already lower-case hex
        return s if s.strip("0") else None
    s = s.strip()
    if not s:
        return None
    if not _HEX.match(s) and len(s) in (12, 24):
        try:
            b = base64.b64decode(s, validate=True)
            if len(b) in (8, 16):
                s = b.hex()
        except (binascii.Error, ValueError):
            pass
    s = s.lower() if _HEX.match(s) else s
    if not s.strip("0"):
        return None
    return s


_I64 = 1 << 63


def _scaled(value: int | None, scale: int) -> int | None:
    """``value × scale`` as Unix nanoseconds, or None when absent or outside the int64 range
    (a timestamp past the year 2262 is a unit mistake or corruption, never a real time)."""
    if value is None:
        return None
    ns = value * scale
    return ns if -_I64 <= ns < _I64 else None


def _timing(start_raw: Any, length_raw: Any, scale: int, length_is_end: bool) -> tuple[int | None, int | None, bool]:
    """(start_ns, end_ns, bad) from a start and a duration (or an end) in units of ``scale`` ns.

    ``bad`` is True when a value is present but unreadable or out of range: the span keeps its
    place in the tree without (part of) its timing, and the ledger counts it.
    """
    s, d = parse_int(start_raw), parse_int(length_raw)
    start = _scaled(s, scale)
    if length_is_end:
        end = _scaled(d, scale)
    else:
        end = None if s is None or d is None else _scaled(s + d, scale)
    bad = (start_raw is not None and start is None) or (length_raw is not None and (d is None or (start is not None and end is None)))
    return start, end, bad


def _kind(raw: Any) -> str:
    if raw is None:
        return "unset"
    if isinstance(raw, int):
        return _OTLP_KINDS.get(raw, "unset")
    s = str(raw).lower()
    if s.isdigit():
        return _OTLP_KINDS.get(int(s), "unset")
    s = s.removeprefix("span_kind_")
    return _KIND_NAMES.get(s, "unset")


def _otlp_status(raw: Any) -> str:
    if not isinstance(raw, dict):
        return "unset"
    code = raw.get("code", 0)
    if not isinstance(code, (int, str)) or isinstance(code, bool):
        return "unset"
    if isinstance(code, str):
        c = code.lower().removeprefix("status_code_")
        if c.isdigit():
            code = int(c)
        else:
            return c if c in ("ok", "error") else "unset"
    return {1: "ok", 2: "error"}.get(code, "unset")


def _any_value(v: Any) -> str:
    """OTLP AnyValue → string (arrays and maps as JSON)."""
    if not isinstance(v, dict):
        return "" if v is None else str(v)
    for k, x in v.items():
        if k in ("stringValue", "string_value"):
            return str(x)
        if k in ("boolValue", "bool_value"):
            return "true" if x in (True, "true") else "false"
        if k in ("intValue", "int_value"):
            return str(parse_int(x))
        if k in ("doubleValue", "double_value"):
            return repr(float(x))
        if k in ("arrayValue", "array_value"):
            return json.dumps([_any_value(y) for y in (x or {}).get("values", [])])
        if k in ("kvlistValue", "kvlist_value"):
            return json.dumps({str(kv.get("key")): _any_value(kv.get("value")) for kv in (x or {}).get("values", [])})
        if k in ("bytesValue", "bytes_value"):
            return str(x)
    return ""


def _otlp_attrs(raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(raw, list):
        for kv in raw:
            if isinstance(kv, dict) and "key" in kv:
                v = kv.get("value")
                sv = v.get("stringValue") if type(v) is dict and len(v) == 1 else None
                if type(sv) is str:
                    out[str(kv["key"])] = sv
                    continue
                try:
                    out[str(kv["key"])] = _any_value(v)
                except (TypeError, ValueError, AttributeError, OverflowError, RecursionError):
                    out[str(kv["key"])] = ""  # a value of the wrong shape: the key is kept, the value is not
    return out


def _json(d: dict) -> str:
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if d else "{}"


#: What a span of the wrong shape raises while it is converted (it is then counted and skipped).
MALFORMED = (TypeError, ValueError, AttributeError, KeyError, OverflowError, RecursionError)


# --------------------------------------------------------------------------- format detection


class NotATrace(SpecError):
    """A file that holds no trace data (a README, a manifest, a YAML spec): skipped in folders."""


_EVIDENCE_SCHEMA = re.compile(r"^schema:[ \t]*[\"']?(emac\.sanity\.(?:trace|deployment)/v1)\b", re.MULTILINE)
SNIFF_CHARS = 1 << 16


def _head(p: Path) -> str:
    """The first characters of a (possibly gzip-compressed) UTF-8 text file."""
    try:
        with open_text(p) as fp:
            return fp.read(SNIFF_CHARS)
    except UnicodeDecodeError:
        raise NotATrace(str(p), "", "not UTF-8 text: cannot detect the trace format") from None
    except gzip.BadGzipFile as exc:
        raise SpecError(str(p), "", f"starts with the gzip magic bytes but is not gzip data ({exc})") from None
    except EOFError:
        raise SpecError(str(p), "", "truncated gzip data") from None
    except OSError as exc:
        raise SpecError(str(p), "", f"cannot read: {exc.strerror or exc}") from None


def detect_format(path: str | Path, csv_mapping: CsvMapping | None = None) -> str:
    """The kind of a file, from its content (a ``.csv``/``.tsv`` name also means CSV).

    Returns
    -------
    str
        A trace format (``otlp``, ``jaeger``, ``zipkin``, ``csv``, ``emac`` for the paper's
        ``emac.sanity.trace/v1`` evidence) or ``deployment`` (``emac.sanity.deployment/v1``).

    Raises
    ------
    NotATrace
        Empty, binary, or text that is none of the above.
    SpecError
        Unreadable (e.g. gzip magic bytes without gzip data).
    """
    p = Path(path)
    head = _head(p)
    text = head.lstrip(" \t\r\n\ufeff")
    if not text:
        raise NotATrace(str(path), "", "empty file: no spans")
    m = _EVIDENCE_SCHEMA.search(head)
    if m is not None:
        return "emac" if m.group(1).endswith("trace/v1") else "deployment"
    if text[0] in "[{":
        if '"resourceSpans"' in head or '"resource_spans"' in head:
            return "otlp"
        if '"traceID"' in head or '"spanID"' in head:
            return "jaeger"
        if '"traceId"' in head:
            return "zipkin"
        raise NotATrace(str(path), "", "cannot detect the trace format: JSON without resourceSpans (OTLP), traceID (Jaeger) or traceId (Zipkin)")
    name = p.name.lower().removesuffix(".gz")
    if name.endswith((".csv", ".tsv")):
        return "csv"
    first = text.split("\n", 1)[0]
    sep = "\t" if first.count("\t") > first.count(",") else ","
    cols = {c.strip().strip('"').lower().replace(" ", "") for c in first.split(sep)}
    wanted = set(_CSV_GUESS["traceId"])
    if csv_mapping is not None and csv_mapping.traceId:
        wanted.add(csv_mapping.traceId.lower().replace(" ", ""))
    if len(cols) > 1 and cols & wanted:
        return "csv"
    raise NotATrace(str(path), "", "cannot detect the trace format: not OTLP, Jaeger or Zipkin JSON, a CSV span table or emac evidence")


# --------------------------------------------------------------------------- OTLP


def read_otlp(path: str | Path, ledger: Ledger, name: str | None = None) -> pl.DataFrame:
    """Read an OTLP JSON export, streaming: one ``ExportTraceServiceRequest`` object, JSON Lines
    of them (the collector's file exporter), or Jaeger api_v3 replies (``{"result": {...}}``)."""
    shown = name or str(path)
    cb = ColumnBuilder(shown)
    with open_text(path) as fp:
        js = JsonStream(fp, shown)
        if js.peek() is None:
            raise SpecError(shown, "", "empty file: no spans")
        while js.peek() is not None:
            if js.peek() != "{":
                raise js.fail(f"expected an OTLP request object, found {js.peek()!r}")
            _otlp_request(js, cb, ledger, top=True)
    return cb.frame()


def _otlp_request(js: JsonStream, cb: ColumnBuilder, ledger: Ledger, top: bool) -> None:
    for key in js.members():
        if key in ("resourceSpans", "resource_spans") and js.peek() == "[":
            for _ in js.items():
                if js.peek() != "{":
                    raise js.fail("expected a resourceSpans object")
                _otlp_resource_spans(js, cb, ledger)
        elif key == "result" and top and js.peek() == "{":  # Jaeger api_v3 (gRPC gateway) reply
            _otlp_request(js, cb, ledger, top=False)
        else:
            js.skip()


def _otlp_resource_spans(js: JsonStream, cb: ColumnBuilder, ledger: Ledger) -> None:
    first = cb.n
    resource = "{}"
    service: str | None = None
    seen_resource = False
    for key in js.members():
        if key == "resource":
            r = js.value()
            attrs = _otlp_attrs(r.get("attributes") if isinstance(r, dict) else None)
            resource = _json(attrs)
            service = attrs.get("service.name")
            seen_resource = True
            if cb.n > first:
                cb.set_resource_from(first, resource)
                _patch_service(cb, first, service)
        elif key in ("scopeSpans", "scope_spans", "instrumentationLibrarySpans", "instrumentation_library_spans") and js.peek() == "[":
            for _ in js.items():
                if js.peek() != "{":
                    js.skip()
                    continue
                for k2 in js.members():
                    if k2 == "spans" and js.peek() == "[":
                        for _ in js.items():
                            at = js.offset()
                            sp = js.value()
                            if not isinstance(sp, dict):
                                raise js.fail(f"expected a span object, found {type(sp).__name__}", at)
                            _otlp_span(sp, cb, resource, service if seen_resource else None, ledger)
                    else:
                        js.skip()
        else:
            js.skip()


def _patch_service(cb: ColumnBuilder, first: int, service: str | None) -> None:
    held_from = cb.n - len(cb.cols["service"])
    col = cb.cols["service"]
    for i in range(max(first - held_from, 0), len(col)):
        if col[i] is None:
            col[i] = service


def _otlp_span(sp: dict, cb: ColumnBuilder, resource: str, service: str | None, ledger: Ledger) -> None:
    # (the hot loop of large exports: values are computed first, so a span of the wrong shape
    # raises before anything of it is added)
    try:
        attrs = _otlp_attrs(sp["attributes"]) if "attributes" in sp else {}
        start, end, bad = _timing(
            sp.get("startTimeUnixNano", sp.get("start_time_unix_nano")), sp.get("endTimeUnixNano", sp.get("end_time_unix_nano")), 1, True
        )
        trace_id = _hex_id(sp.get("traceId", sp.get("trace_id")))
        span_id = _hex_id(sp.get("spanId", sp.get("span_id")))
        parent_id = _hex_id(sp.get("parentSpanId", sp.get("parent_span_id")))
        operation = str(sp.get("name", ""))
        kind = _kind(sp.get("kind"))
        status = _otlp_status(sp.get("status"))
    except MALFORMED:
        ledger.add("malformedSpans", 1, [_example_id(sp.get("spanId"))])
        return
    if bad:
        ledger.add("badTimestamps", 1, [str(span_id)])
    cb.add(trace_id, span_id, parent_id, service, operation, kind, attrs.get("peer.service"), start, end, status, attrs, resource)


def _example_id(raw: Any) -> str:
    return raw[:40] if isinstance(raw, str) else type(raw).__name__


# --------------------------------------------------------------------------- Jaeger


def read_jaeger(path: str | Path, ledger: Ledger, name: str | None = None) -> pl.DataFrame:
    """Read a Jaeger JSON export, one trace at a time: ``{"data": [trace, ...]}`` (``/api/traces``
    and the UI's search export), a single trace object (the UI's "download JSON" of one trace), or
    a list of traces."""
    shown = name or str(path)
    cb = ColumnBuilder(shown)
    with open_text(path) as fp:
        js = JsonStream(fp, shown)
        c = js.peek()
        if c is None:
            raise SpecError(shown, "", "empty file: no spans")
        while js.peek() is not None:
            if js.peek() == "[":
                for _ in js.items():
                    at = js.offset()
                    _jaeger_trace(js.value(), js, at, cb, ledger)
            elif js.peek() == "{":
                at = js.offset()
                single: dict[str, Any] = {}
                for key in js.members():
                    if key == "data" and js.peek() == "[":
                        for _ in js.items():
                            t_at = js.offset()
                            _jaeger_trace(js.value(), js, t_at, cb, ledger)
                    elif key in ("traceID", "spans", "processes"):
                        single[key] = js.value()
                    else:
                        js.skip()
                if "spans" in single:
                    _jaeger_trace(single, js, at, cb, ledger)
            else:
                raise js.fail(f"expected a Jaeger trace object or a list of traces, found {js.peek()!r}")
    return cb.frame()


def _tags(raw: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(raw, list):
        for t in raw:
            if isinstance(t, dict) and "key" in t:
                v = t.get("value")
                out[str(t["key"])] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    elif isinstance(raw, dict):
        out = {str(k): str(v) for k, v in raw.items()}
    return out


def _jaeger_trace(tr: Any, js: JsonStream, at: int, cb: ColumnBuilder, ledger: Ledger) -> None:
    if not isinstance(tr, dict):
        raise js.fail(f"expected a Jaeger trace object, found {type(tr).__name__}", at)
    procs: dict[str, tuple[str | None, str]] = {}
    raw_procs = tr.get("processes")
    for pid, p in (raw_procs.items() if isinstance(raw_procs, dict) else ()):
        if isinstance(p, dict):
            tags = _tags(p.get("tags"))
            svc = p.get("serviceName")
            if svc is not None:
                tags.setdefault("service.name", str(svc))
            procs[str(pid)] = (None if svc is None else str(svc), _json(tags))
    spans = tr.get("spans")
    if spans is None:
        return
    if not isinstance(spans, list):
        raise js.fail(f"expected a list in 'spans', found {type(spans).__name__}", at)
    for sp in spans:
        if not isinstance(sp, dict):
            raise js.fail("expected span objects in 'spans'", at)
        try:
            row, bad = _jaeger_span(sp, tr, procs)
        except MALFORMED:
            ledger.add("malformedSpans", 1, [_example_id(sp.get("spanID"))])
            continue
        if bad:
            ledger.add("badTimestamps", 1, [str(row["span_id"])])
        cb.add(**row)


def _jaeger_span(sp: dict, tr: dict, procs: dict[str, tuple[str | None, str]]) -> tuple[dict, bool]:
    tags = _tags(sp.get("tags"))
    parent = None
    for ref in sp.get("references") or []:
        if isinstance(ref, dict) and ref.get("spanID"):
            if ref.get("refType", "CHILD_OF") == "CHILD_OF":
                parent = ref["spanID"]
                break
            if parent is None:
                parent = ref["spanID"]
                tags["jaeger.follows_from"] = "true"
    if parent is None and sp.get("parentSpanID"):
        parent = sp["parentSpanID"]
    start, end, bad = _timing(sp.get("startTime"), sp.get("duration"), 1000, False)
    pid = sp.get("processID")
    svc, res = procs.get(pid if isinstance(pid, str) else str(pid), (None, "{}"))
    if svc is None and isinstance(sp.get("process"), dict):
        ptags = _tags(sp["process"].get("tags"))
        svc = sp["process"].get("serviceName")
        svc = None if svc is None else str(svc)
        ptags.setdefault("service.name", str(svc))
        res = _json(ptags)
    kind = _kind(tags.get("span.kind"))
    if kind == "unset" and tags.get("jaeger.follows_from") == "true":
        kind = "consumer"
    row = dict(
        trace_id=_hex_id(sp.get("traceID", tr.get("traceID"))),
        span_id=_hex_id(sp.get("spanID")),
        parent_id=_hex_id(parent),
        service=svc,
        operation=str(sp.get("operationName", "")),
        kind=kind,
        peer_service=tags.get("peer.service"),
        start_ns=start,
        end_ns=end,
        status=tag_status(tags),
        attributes=tags,
        resource=res,
    )
    return row, bad


# --------------------------------------------------------------------------- Zipkin


def read_zipkin(path: str | Path, ledger: Ledger, name: str | None = None) -> pl.DataFrame:
    """Read Zipkin v2 JSON, then merge fragments and split shared span ids (see module docs).

    Accepted shapes: a list of spans (``/api/v2/trace/{id}``), a list of traces (lists of spans,
    ``/api/v2/traces``), a single span object, and an object whose list-valued members hold
    spans or traces (``{"spans": [...]}``)."""
    shown = name or str(path)
    cb = ColumnBuilder(shown)
    shared: list[bool] = []
    with open_text(path) as fp:
        js = JsonStream(fp, shown)
        c = js.peek()
        if c is None:
            raise SpecError(shown, "", "empty file: no spans")
        if c == "[":
            _zipkin_list(js, cb, shared, ledger)
        elif c == "{":
            at = js.offset()
            single: dict[str, Any] = {}
            for key in js.members():
                if js.peek() == "[" and key not in ("annotations", "tags"):
                    _zipkin_list(js, cb, shared, ledger)
                else:
                    single[key] = js.value()
            if "traceId" in single or "id" in single:
                _zipkin_span(single, js, at, cb, shared, ledger)
        else:
            raise js.fail("Zipkin v2 JSON must be a list of spans (or of traces), or one span object")
        if js.peek() is not None:
            raise js.fail("unexpected data after the span list")
    df = cb.frame().with_columns(pl.Series("_shared", shared, dtype=pl.Boolean))
    return normalise_zipkin(df, ledger).drop("_shared")


def _zipkin_list(js: JsonStream, cb: ColumnBuilder, shared: list[bool], ledger: Ledger) -> None:
    for _ in js.items():
        if js.peek() == "[":
            for _ in js.items():
                at = js.offset()
                _zipkin_span(js.value(), js, at, cb, shared, ledger)
        else:
            at = js.offset()
            _zipkin_span(js.value(), js, at, cb, shared, ledger)


def _zipkin_span(sp: Any, js: JsonStream, at: int, cb: ColumnBuilder, shared: list[bool], ledger: Ledger) -> None:
    if not isinstance(sp, dict):
        raise js.fail(f"expected a span object, found {type(sp).__name__}", at)
    anns = sp.get("annotations")
    v1_annotations = isinstance(anns, list) and any(isinstance(a, dict) and "endpoint" in a for a in anns)
    if "binaryAnnotations" in sp or ("localEndpoint" not in sp and v1_annotations):
        raise js.fail("Zipkin v1 JSON (annotations with endpoints) is not supported: export Zipkin v2 (/api/v2/traces)", at)
    try:
        local = sp.get("localEndpoint") if isinstance(sp.get("localEndpoint"), dict) else {}
        remote = sp.get("remoteEndpoint") if isinstance(sp.get("remoteEndpoint"), dict) else {}
        tags = _tags(sp.get("tags"))
        start, end, bad = _timing(sp.get("timestamp"), sp.get("duration"), 1000, False)
        res: dict[str, str] = {}
        if local.get("serviceName"):
            res["service.name"] = str(local["serviceName"])
        for k, rk in (("ipv4", "host.ip"), ("ipv6", "host.ip")):
            if local.get(k):
                res[rk] = str(local[k])
        row = dict(
            trace_id=_hex_id(sp.get("traceId")),
            span_id=_hex_id(sp.get("id")),
            parent_id=_hex_id(sp.get("parentId")),
            service=res.get("service.name"),
            operation=str(sp.get("name", "")),
            kind=_kind(sp.get("kind")),
            peer_service=str(remote["serviceName"]) if remote.get("serviceName") else tags.get("peer.service"),
            start_ns=start,
            end_ns=end,
            status=tag_status(tags),
            attributes=tags,
            resource=_json(res),
        )
        is_shared = bool(sp.get("shared"))
    except MALFORMED:
        ledger.add("malformedSpans", 1, [_example_id(sp.get("id"))])
        return
    if bad:
        ledger.add("badTimestamps", 1, [str(row["span_id"])])
    cb.add(**row)
    shared.append(is_shared)


def normalise_zipkin(df: pl.DataFrame, ledger: Ledger) -> pl.DataFrame:
    """Merge timing-less fragments into their span and split shared client/server span ids.

    A fragment is a row with the same (trace, id, service) as another row but no timestamp: it
    is dropped (counted ``mergedFragments``). Remaining rows sharing (trace, id) are the client
    and server halves of one RPC (Zipkin's ``shared``): the client half keeps the id; each server
    half becomes ``<id>~s<n>``, a child of the client half, and adopts the children of the id that
    run in its own service (counted ``sharedSpansSplit``).
    """
    if df.height == 0:
        return df
    key = ("trace_id", "span_id", "service")
    grp = pl.len().over(key)
    has_ts = pl.col("start_ns").is_not_null().sum().over(key)
    frag = (grp > 1) & pl.col("start_ns").is_null() & (has_ts > 0)
    n_frag = df.filter(frag).height
    if n_frag:
        ex = df.filter(frag).head(3)
        ledger.add("mergedFragments", n_frag, [f"{a}/{b}" for a, b in zip(ex["trace_id"], ex["span_id"])])
        df = df.filter(~frag)
    dups = df.filter(pl.len().over("trace_id", "span_id") > 1).filter(pl.col("trace_id").is_not_null() & pl.col("span_id").is_not_null())
    if dups.height == 0:
        return df
    new_ids: dict[int, tuple[str, str | None]] = {}  # record -> (span_id, parent_id)
    adopt: dict[tuple[str, str, str | None], str] = {}  # (trace, old id, service) -> new parent id
    split = 0
    examples = []
    for (tid, sid), g in dups.group_by("trace_id", "span_id", maintain_order=True):
        rows = list(g.iter_rows(named=True))
        # client-ish halves first, then by record order
        rows.sort(key=lambda r: (0 if (r["kind"] in ("client", "producer") and not r["_shared"]) else 1, r["record"]))
        keep = rows[0]
        client_kept = keep["kind"] in ("client", "producer") or (not keep["_shared"] and keep["kind"] == "unset")
        for n, r in enumerate(rows[1:], start=1):
            nid = f"{sid}~s{n}"
            new_ids[r["record"]] = (nid, sid if client_kept else keep["parent_id"])
            adopt.setdefault((tid, sid, r["service"]), nid)
            split += 1
            if len(examples) < 3:
                examples.append(f"{tid}/{sid}")
    ledger.add("sharedSpansSplit", split, examples)
    if not new_ids:
        return df
    recs = list(new_ids)
    remap = pl.DataFrame(
        {"record": recs, "_nid": [new_ids[r][0] for r in recs], "_npar": [new_ids[r][1] for r in recs]},
        schema={"record": pl.Int64, "_nid": pl.String, "_npar": pl.String},
    )
    ad = pl.DataFrame(
        {
            "trace_id": [k[0] for k in adopt],
            "parent_id": [k[1] for k in adopt],
            "service": [k[2] for k in adopt],
            "_adopt": list(adopt.values()),
        },
        schema={"trace_id": pl.String, "parent_id": pl.String, "service": pl.String, "_adopt": pl.String},
    )
    df = df.join(remap, on="record", how="left")
    df = df.join(ad, on=["trace_id", "parent_id", "service"], how="left", nulls_equal=True)
    # a split server half must not adopt itself; the client half never adopts
    adopt_ok = pl.col("_adopt").is_not_null() & pl.col("_nid").is_null() & ~pl.col("kind").is_in(["client", "producer"])
    df = df.with_columns(
        pl.coalesce("_nid", "span_id").alias("span_id"),
        pl.when(pl.col("_nid").is_not_null())
        .then(pl.col("_npar"))
        .when(adopt_ok)
        .then(pl.col("_adopt"))
        .otherwise(pl.col("parent_id"))
        .alias("parent_id"),
    ).drop("_nid", "_npar", "_adopt")
    return df.sort("record")


# --------------------------------------------------------------------------- CSV


_UNIT_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}


@dataclass(frozen=True)
class CsvMapping:
    """Which CSV column holds what, and in which units.

    Attributes
    ----------
    traceId, spanId, parentId, operation
        Column names (required: traceId, spanId; parentId may be missing for flat tables).
    service
        Column with the service name; or ``pod`` with a Kubernetes pod name from which the
        deployment (service) is derived by dropping the ReplicaSet hash and pod suffix
        (``frontend-579b9bff58-t2dbm`` → ``frontend``) or a StatefulSet ordinal.
    start, end, duration
        Timing columns; ``end`` or ``duration`` is needed. Units ``ns``/``us``/``ms``/``s`` in
        ``startUnit`` (etc.); ``None`` means: from the column name (``...Nano``, ``..._us``,
        ``..._ms``), else from the magnitude of the first start value (Unix epoch).
    status, kind, peerService
        Optional columns.
    rootValues
        Parent values meaning "no parent" (besides empty and all-zero ids).
    """

    traceId: str | None = None
    spanId: str | None = None
    parentId: str | None = None
    service: str | None = None
    pod: str | None = None
    operation: str | None = None
    start: str | None = None
    end: str | None = None
    duration: str | None = None
    status: str | None = None
    kind: str | None = None
    peerService: str | None = None
    startUnit: str | None = None
    endUnit: str | None = None
    durationUnit: str | None = None
    rootValues: tuple[str, ...] = ("root", "null", "none", "-", "nan")

    @classmethod
    def parse(cls, text: str, where: str = "--csv-map") -> CsvMapping:
        """Parse ``traceId=TraceID,spanId=SpanID,startUnit=ns`` (the CLI form)."""
        names = {f.name for f in fields(cls)}
        kw: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            if "=" not in part:
                raise SpecError(where, part, "expected key=value")
            k, v = (x.strip() for x in part.split("=", 1))
            if k not in names:
                raise SpecError(where, "", f"unknown CSV mapping key {k!r} (one of {', '.join(sorted(names))})")
            if k.endswith("Unit") and v not in _UNIT_NS:
                raise SpecError(where, k, f"unit must be one of ns, us, ms, s, got {v!r}")
            kw[k] = tuple(x.strip() for x in v.split("|")) if k == "rootValues" else v
        return cls(**kw)


_CSV_GUESS: dict[str, tuple[str, ...]] = {
    "traceId": ("traceid", "trace_id", "trace"),
    "spanId": ("spanid", "span_id", "span", "id"),
    "parentId": ("parentid", "parent_id", "parentspanid", "parent_span_id", "parent"),
    "service": ("service", "servicename", "service_name", "service.name", "servicename"),
    "pod": ("podname", "pod", "pod_name", "k8s.pod.name"),
    "operation": ("operationname", "operation", "operation_name", "spanname", "span_name", "name", "endpoint"),
    "start": ("starttimeunixnano", "start_time_unix_nano", "start_ns", "starttime", "start_time", "timestamp", "start", "start_us", "start_ms"),
    "end": ("endtimeunixnano", "end_time_unix_nano", "end_ns", "endtime", "end_time", "end", "end_us", "end_ms"),
    "duration": ("duration", "duration_us", "duration_ns", "duration_ms", "elapsed", "latency"),
    "status": ("status", "statuscode", "status_code", "error", "iserror", "is_error"),
    "kind": ("kind", "spankind", "span_kind"),
    "peerService": ("peerservice", "peer_service", "peer.service", "callee", "dm"),
}


def _unit_from_name(col: str) -> str | None:
    c = col.lower()
    if "nano" in c or c.endswith(("_ns", "(ns)")):
        return "ns"
    if "micro" in c or c.endswith(("_us", "(us)", "_µs")):
        return "us"
    if "milli" in c or c.endswith(("_ms", "(ms)")):
        return "ms"
    if c.endswith(("_s", "(s)", "seconds", "_sec")):
        return "s"
    return None


def _unit_from_epoch(v: float) -> str:
    """Unit of a Unix-epoch timestamp from its magnitude (years 1973–2286)."""
    v = abs(v)
    if v >= 1e17:
        return "ns"
    if v >= 1e14:
        return "us"
    if v >= 1e11:
        return "ms"
    return "s"


def resolve_csv_mapping(columns: Iterable[str], given: CsvMapping | None, shown: str) -> CsvMapping:
    """Fill the mapping's missing columns from the header (case-insensitive common names)."""
    cols = list(columns)
    low = {c.lower().replace(" ", ""): c for c in cols}
    kw: dict[str, Any] = {}
    for f in fields(CsvMapping):
        if f.name in _CSV_GUESS:
            val = getattr(given, f.name) if given is not None else None
            if val is not None:
                if val not in cols:
                    raise SpecError(shown, f.name, f"CSV mapping names column {val!r}, which the header lacks (columns: {', '.join(cols)})")
                kw[f.name] = val
                continue
            for cand in _CSV_GUESS[f.name]:
                if cand in low and low[cand] not in kw.values():
                    kw[f.name] = low[cand]
                    break
        elif given is not None:
            kw[f.name] = getattr(given, f.name)
    if "service" in kw and "pod" in kw and (given is None or given.service is None):
        del kw["pod"]
    m = CsvMapping(**kw)
    for req in ("traceId", "spanId"):
        if getattr(m, req) is None:
            raise SpecError(shown, "header", f"no {req} column found (columns: {', '.join(cols)}); pass --csv-map {req}=COLUMN")
    if m.start is None:
        raise SpecError(shown, "header", f"no start-time column found (columns: {', '.join(cols)}); pass --csv-map start=COLUMN")
    if m.end is None and m.duration is None:
        raise SpecError(shown, "header", "no end-time or duration column found; pass --csv-map end=COLUMN or duration=COLUMN")
    return m


POD_SUFFIX = (r"-[a-z0-9]{6,10}-[a-z0-9]{5}$", r"-[0-9]+$")


def pod_to_service(expr: pl.Expr) -> pl.Expr:
    """Deployment name from a pod name: drop ``-<replicaset hash>-<5 chars>`` or ``-<ordinal>``."""
    e = expr.str.replace(POD_SUFFIX[0], "")
    return pl.when(e != expr).then(e).otherwise(expr.str.replace(POD_SUFFIX[1], ""))


def read_csv(path: str | Path, ledger: Ledger, mapping: CsvMapping | None = None, name: str | None = None) -> pl.DataFrame:
    """Read a CSV span table lazily (:func:`polars.scan_csv`) with a column mapping.

    Parameters
    ----------
    path
        CSV (or TSV) file with a header row.
    ledger
        Receives counts of unreadable values.
    mapping
        Column mapping; missing entries are detected from the header.
    """
    shown = name or str(path)
    sep = "\t" if str(path).lower().removesuffix(".gz").endswith(".tsv") else ","
    try:
        lf = pl.scan_csv(path, separator=sep, infer_schema=False, quote_char='"', truncate_ragged_lines=False)
        header = lf.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SpecError(shown, "", f"cannot read CSV: {str(exc).splitlines()[0]}") from None
    if not header:
        raise SpecError(shown, "", "empty CSV: no header")
    m = resolve_csv_mapping(header, mapping, shown)
    try:
        probe = lf.select(pl.col(m.start)).drop_nulls().head(1).collect()
    except pl.exceptions.PolarsError as exc:
        raise SpecError(shown, "", f"cannot read CSV: {str(exc).splitlines()[0]}") from None
    if probe.height == 0:
        raise SpecError(shown, "", "CSV has no rows")
    try:
        first_start = float(probe.item())
    except ValueError:
        raise SpecError(shown, m.start, f"start time {probe.item()!r} is not a number") from None
    su = m.startUnit or _unit_from_name(m.start) or _unit_from_epoch(first_start)
    eu = m.endUnit or (_unit_from_name(m.end) if m.end else None) or su
    du = m.durationUnit or (_unit_from_name(m.duration) if m.duration else None) or su

    def num(col: str, unit: str) -> pl.Expr:
        # integers stay exact (ns epochs do not fit a float); decimals go through float; values
        # beyond the int64 nanosecond range (year 2262) are unreadable, not wrapped around
        txt = pl.col(col).str.strip_chars()
        as_float = txt.cast(pl.Float64, strict=False) * _UNIT_NS[unit]
        as_int = txt.cast(pl.Int64, strict=False)
        return (
            pl.when(~(as_float.abs() < NS_LIMIT))
            .then(None)
            .when(as_int.is_not_null())
            .then(as_int * _UNIT_NS[unit])
            .otherwise(as_float.round(0).cast(pl.Int64, strict=False))
        )

    def strcol(col: str | None) -> pl.Expr:
        return pl.col(col).str.strip_chars() if col else pl.lit(None, dtype=pl.String)

    def ident(col: str | None) -> pl.Expr:
        if not col:
            return pl.lit(None, dtype=pl.String)
        e = pl.col(col).str.strip_chars()
        is_root = e.is_null() | (e == "") | e.str.to_lowercase().is_in(list(m.rootValues)) | e.str.contains(r"^0+$")
        return pl.when(is_root).then(None).otherwise(e.str.to_lowercase())

    start = num(m.start, su)
    if m.end:
        end = num(m.end, eu)
    else:
        dur = num(m.duration, du)  # type: ignore[arg-type]
        end = pl.when((start.cast(pl.Float64) + dur.cast(pl.Float64)).abs() < NS_LIMIT).then(start + dur).otherwise(None)
    if m.service:
        service = strcol(m.service)
    elif m.pod:
        service = pod_to_service(strcol(m.pod))
    else:
        service = pl.lit(None, dtype=pl.String)
    if m.pod:
        res = pl.struct(strcol(m.pod).alias("k8s.pod.name"), service.alias("service.name")).struct.json_encode()
    else:
        res = pl.struct(service.alias("service.name")).struct.json_encode()
    status = _csv_status(m)
    kind = strcol(m.kind).str.to_lowercase().str.replace("^span_kind_", "") if m.kind else pl.lit("unset")
    out = lf.with_row_index("record").select(
        ident(m.traceId).alias("trace_id"),
        ident(m.spanId).alias("span_id"),
        ident(m.parentId).alias("parent_id"),
        service.alias("service"),
        (strcol(m.operation) if m.operation else pl.lit("")).fill_null("").alias("operation"),
        pl.when(kind.is_in(list(_KIND_NAMES))).then(kind.replace(_KIND_NAMES)).otherwise(pl.lit("unset")).alias("kind"),
        strcol(m.peerService).alias("peer_service"),
        start.alias("start_ns"),
        end.alias("end_ns"),
        status.alias("status"),
        pl.lit("{}").alias("attributes"),
        pl.when(service.is_null()).then(pl.lit("{}")).otherwise(res).alias("resource"),
        pl.lit(shown).alias("source"),
        pl.col("record").cast(pl.Int64),
    )
    try:
        df = out.collect(engine="streaming")
    except pl.exceptions.PolarsError as exc:
        raise SpecError(shown, "", f"cannot read CSV: {str(exc).splitlines()[0]}") from None
    df = df.cast(SPAN_SCHEMA)  # type: ignore[arg-type]
    # values present but unreadable as numbers, or out of range
    def given(col: str | None) -> pl.Expr:
        return pl.col(col).is_not_null() & (pl.col(col).str.strip_chars() != "") if col else pl.lit(False)

    try:
        flags = lf.select(given(m.start).alias("s"), given(m.end or m.duration).alias("e")).collect()
    except pl.exceptions.PolarsError as exc:
        raise SpecError(shown, "", f"cannot read CSV: {str(exc).splitlines()[0]}") from None
    sn, en = df["start_ns"].is_null(), df["end_ns"].is_null()
    raw_bad = ((flags["s"] & sn) | (flags["e"] & en & ~sn)).sum()
    if raw_bad:
        ledger.add("badTimestamps", int(raw_bad))
    return df


def _csv_status(m: CsvMapping) -> pl.Expr:
    if not m.status:
        return pl.lit("unset")
    e = pl.col(m.status).str.strip_chars().str.to_lowercase().str.replace("^status_code_", "")
    as_int = e.cast(pl.Int64, strict=False)
    boolean = m.status.lower() in ("error", "iserror", "is_error")
    if boolean:
        return (
            pl.when(e.is_in(["true", "1", "yes", "error"]))
            .then(pl.lit("error"))
            .when(e.is_in(["false", "0", "no"]))
            .then(pl.lit("ok"))
            .otherwise(pl.lit("unset"))
        )
    return (
        pl.when(e.is_in(["error", "err", "fail", "failed", "false"]))
        .then(pl.lit("error"))
        .when(e.is_in(["ok", "success", "true"]))
        .then(pl.lit("ok"))
        .when(as_int.is_between(100, 599))
        .then(pl.when(as_int >= 500).then(pl.lit("error")).otherwise(pl.lit("ok")))
        .when(as_int == 2)
        .then(pl.lit("error"))
        .when(as_int == 1)
        .then(pl.lit("ok"))
        .otherwise(pl.lit("unset"))
    )


# --------------------------------------------------------------------------- entry point


@dataclass
class TraceInput:
    """One input file as read: its format, span count and sha256 (and what else it said)."""

    path: str
    format: str
    spans: int
    sha256: str
    meta: Any = None  # TraceEvidenceMeta (emac trace evidence), DeploymentEvidence, or the manifest


@dataclass(frozen=True)
class SkippedFile:
    """A file of a folder that was not read: not a trace, or a broken trace."""

    path: str
    reason: str
    broken: bool

    def line(self) -> str:
        what = "broken trace file" if self.broken else "not a trace file"
        return f"{self.path}: {what}, skipped: {self.reason}"


def _expand(paths: Iterable[str | Path]) -> list[tuple[Path, bool]]:
    """Files to read, each with whether the user named it (True) or a folder holds it (False).

    Folders are walked recursively in name order (symbolic links to folders are not followed);
    hidden files and folders and our own trace manifests are left out.
    """
    import os
    import stat

    from .manifest import is_manifest

    out: list[tuple[Path, bool]] = []
    seen: set[str] = set()

    def add(p: Path, named: bool) -> None:
        key = os.path.realpath(p)
        if key not in seen:
            seen.add(key)
            out.append((p, named))

    for raw in paths:
        p = Path(raw)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise SpecError(str(p), "", "no such file") from None
        except OSError as exc:
            raise SpecError(str(p), "", f"cannot read: {exc.strerror or exc}") from None
        if stat.S_ISDIR(st.st_mode):
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for nm in sorted(names):
                    q = Path(root) / nm
                    if not nm.startswith(".") and not is_manifest(q):
                        add(q, False)
        elif stat.S_ISREG(st.st_mode):
            add(p, True)
        else:
            raise SpecError(str(p), "", "not a regular file (a device, pipe or socket): name a trace file or a folder")
    return out


def read_spans(
    paths: Iterable[str | Path],
    fmt: str = "auto",
    csv_mapping: CsvMapping | None = None,
    ledger: Ledger | None = None,
    strict: bool = False,
    skipped: list[SkippedFile] | None = None,
) -> tuple[pl.DataFrame, Ledger, list[TraceInput]]:
    """Read trace files of any supported format into one cleaned span table.

    Parameters
    ----------
    paths
        Trace files, or folders (walked recursively). A file named here must be readable; a file
        found in a folder that is not a trace (a README, a spec) or is a broken trace is skipped
        and listed in ``skipped``, unless ``strict``.
    fmt
        ``auto`` (detect per file from its content) or one of ``otlp``, ``jaeger``, ``zipkin``,
        ``csv``, ``emac`` (the paper's trace evidence). Deployment evidence
        (``emac.sanity.deployment/v1``) is always recognised and returned as an input with
        format ``deployment``.
    csv_mapping
        Column mapping for CSV inputs.
    strict
        Make every skipped file an error.
    skipped
        Receives the files that were skipped, with the reason.

    Returns
    -------
    (spans, ledger, inputs)
        The span table (:data:`~emac_sim.discover.spans.SPAN_SCHEMA`), the data-quality ledger,
        and per-file metadata.

    Raises
    ------
    SpecError
        Unreadable or malformed input, as one line.
    """
    ledger = ledger if ledger is not None else Ledger()
    skipped = skipped if skipped is not None else []
    if fmt not in ("auto", *FORMATS):
        raise SpecError("--trace-format", "", f"unknown trace format {fmt!r} (auto, {', '.join(FORMATS)})")
    files = _expand(paths)
    if not files:
        raise SpecError(", ".join(map(str, paths)) or "<traces>", "", "no trace files given (the folder is empty)")
    frames = []
    inputs = []
    for f, named in files:
        local = Ledger()
        try:
            df, inp = _read_one(f, fmt, csv_mapping, local)
        except SpecError as err:
            if named or strict:
                raise
            skipped.append(SkippedFile(str(f), err.message if not err.path else f"{err.path}: {err.message}", not isinstance(err, NotATrace)))
            continue
        ledger.merge(local)
        inputs.append(inp)
        if df is not None:
            frames.append(df)
    df = pl.concat(frames, rechunk=False) if frames else empty_spans()
    return clean_spans(df, ledger), ledger, inputs


def _read_one(f: Path, fmt: str, csv_mapping: CsvMapping | None, ledger: Ledger) -> tuple[pl.DataFrame | None, TraceInput]:
    """Read one file (any error is a SpecError naming it)."""
    from .evidence import read_deployment_evidence, read_trace_evidence
    from .manifest import check_manifest, file_digest

    shown = str(f)
    if not f.is_file():  # a pipe or device in a folder would block or never end
        raise NotATrace(shown, "", "not a regular file (a device, pipe or socket)")
    try:
        size, digest = file_digest(f)
    except OSError as exc:
        raise SpecError(shown, "", f"cannot read: {exc.strerror or exc}") from None
    meta: Any = check_manifest(f, size, digest, shown)  # first: a file cut short may look like anything
    if fmt == "auto":
        kind = detect_format(f, csv_mapping)
    else:  # forced: only the paper's deployment evidence is still told apart
        try:
            kind = detect_format(f, csv_mapping)
        except NotATrace:
            kind = fmt
        kind = kind if kind == "deployment" else fmt
    try:
        if kind == "deployment":
            return None, TraceInput(shown, kind, 0, digest, read_deployment_evidence(f, shown))
        if kind == "emac":
            df, meta = read_trace_evidence(f, ledger, shown)
        elif kind == "otlp":
            df = read_otlp(f, ledger, shown)
        elif kind == "jaeger":
            df = read_jaeger(f, ledger, shown)
        elif kind == "zipkin":
            df = read_zipkin(f, ledger, shown)
        else:
            df = read_csv(f, ledger, csv_mapping, shown)
    except RecursionError:
        raise SpecError(shown, "", "JSON nested too deeply to be a trace export") from None
    except (OSError, EOFError) as exc:  # gzip data that ends early or is not gzip
        raise SpecError(shown, "", f"cannot read: {exc}") from None
    if df.height == 0 and not ledger.counts:
        raise SpecError(shown, "", f"no spans in this {kind} file")
    return df, TraceInput(shown, kind, df.height, digest, meta)
