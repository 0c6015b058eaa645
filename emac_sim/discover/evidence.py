"""The paper's replay evidence formats (arXiv 2602.05458, replay fixtures), read unchanged.

- **Trace evidence** (``schema: emac.sanity.trace/v1``, YAML): ``spans[]`` with ``trace_id``,
  ``span_id``, ``parent_span_id``, ``service``, ``operation``, ``start_ms``, ``duration_ms`` and
  ``attributes`` (``emac.redundancy_group``, ``emac.branch``, ``emac.provider_domain``; an
  optional ``status``/``kind`` per span), plus ``expectedEdges`` (``[caller, callee]`` pairs),
  ``scenario`` and ``sampling`` (``mode``, ``sampledTraces``). The spans become rows of the
  common span table (:data:`~emac_sim.discover.spans.SPAN_SCHEMA`; milliseconds → ns); the rest
  is kept as :class:`TraceEvidenceMeta`.
- **Deployment evidence** (``schema: emac.sanity.deployment/v1``, YAML):
  ``services.<id>.domain_observations[]`` with ``field`` (what was looked at), ``value`` (the
  failure domain it names) and ``signal`` (who says so: a mesh label, provider metadata, ...).

Malformed documents are one-line :class:`~emac_sim.errors.SpecError` naming the path inside the
file; a span of the wrong shape is counted (``malformedSpans``) and skipped, as in every reader.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import SpecError
from .spans import NS_LIMIT, ColumnBuilder, Ledger, tag_status

TRACE_SCHEMA = "emac.sanity.trace/v1"
DEPLOYMENT_SCHEMA = "emac.sanity.deployment/v1"
_MS_NS = 1_000_000


@dataclass(frozen=True)
class TraceEvidenceMeta:
    """What a trace-evidence file says besides its spans."""

    scenario: str | None = None
    sampling_mode: str | None = None
    sampled_traces: int | None = None
    expected_edges: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Observation:
    """One observation of a component's failure domain, with where it was read."""

    component: str
    value: str
    signal: str
    field: str
    where: str


@dataclass
class DeploymentEvidence:
    """Domain observations per component (``emac.sanity.deployment/v1``)."""

    path: str
    scenario: str | None = None
    observations: dict[str, list[Observation]] = field(default_factory=dict)


def _load(path: str | Path, shown: str, schema: str) -> dict:
    from ..spec.yamlio import load_yaml_documents

    try:
        docs = [d for d in load_yaml_documents(path, shown) if d is not None]
    except RecursionError:
        raise SpecError(shown, "", "YAML nested too deeply") from None
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise SpecError(shown, "", f"expected one {schema} mapping, found {len(docs)} document(s)")
    doc = docs[0]
    if doc.get("schema") != schema:
        raise SpecError(shown, "schema", f"expected {schema!r}, got {doc.get('schema')!r}")
    return doc


def _ms_to_ns(v: Any) -> int | None:
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    ns = v * _MS_NS
    return int(round(ns)) if math.isfinite(ns) and abs(ns) < NS_LIMIT else None


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


def read_trace_evidence(path: str | Path, ledger: Ledger, name: str | None = None) -> tuple[pl.DataFrame, TraceEvidenceMeta]:
    """Read an ``emac.sanity.trace/v1`` file into the span table (see module docs)."""
    shown = name or str(path)
    doc = _load(path, shown, TRACE_SCHEMA)
    spans = doc.get("spans")
    if not isinstance(spans, list):
        raise SpecError(shown, "spans", f"expected a list of spans, got {type(spans).__name__}")
    edges = doc.get("expectedEdges") or []
    if not isinstance(edges, list) or not all(isinstance(e, list) and len(e) == 2 for e in edges):
        raise SpecError(shown, "expectedEdges", "expected a list of [caller, callee] pairs")
    sampling = doc.get("sampling") if isinstance(doc.get("sampling"), dict) else {}
    n_sampled = sampling.get("sampledTraces")
    meta = TraceEvidenceMeta(
        scenario=_text(doc.get("scenario")),
        sampling_mode=_text(sampling.get("mode")),
        sampled_traces=n_sampled if isinstance(n_sampled, int) and not isinstance(n_sampled, bool) else None,
        expected_edges=tuple((str(a), str(b)) for a, b in edges),
    )
    cb = ColumnBuilder(shown)
    for i, sp in enumerate(spans):
        if not isinstance(sp, dict):
            ledger.add("malformedSpans", 1, [f"{shown}:spans[{i}]"])
            continue
        attrs = sp.get("attributes") or {}
        if not isinstance(attrs, dict):
            ledger.add("malformedSpans", 1, [f"{shown}:spans[{i}]"])
            continue
        tags = {str(k): ("true" if v else "false") if isinstance(v, bool) else str(v) for k, v in attrs.items()}
        if sp.get("status") is not None:
            tags.setdefault("otel.status_code", str(sp["status"]).lower())
        start = _ms_to_ns(sp.get("start_ms"))
        dur = _ms_to_ns(sp.get("duration_ms"))
        end = None if start is None or dur is None or abs(start + dur) >= NS_LIMIT else start + dur
        if (sp.get("start_ms") is not None and start is None) or (sp.get("duration_ms") is not None and dur is None):
            ledger.add("badTimestamps", 1, [f"{shown}:spans[{i}]"])
        service = _text(sp.get("service"))
        kind = str(sp.get("kind") or "unset").lower()
        cb.add(
            trace_id=_text(sp.get("trace_id")),
            span_id=_text(sp.get("span_id")),
            parent_id=_text(sp.get("parent_span_id")),
            service=service,
            operation=str(sp.get("operation") or ""),
            kind=kind if kind in ("server", "client", "producer", "consumer", "internal") else "unset",
            peer_service=_text(tags.get("peer.service")),
            start_ns=start,
            end_ns=end,
            status=tag_status(tags),
            attributes=tags,
            resource='{"service.name":' + _json_str(service) + "}" if service is not None else "{}",
        )
    return cb.frame(), meta


def _json_str(s: str) -> str:
    import json

    return json.dumps(s, ensure_ascii=False)


def read_deployment_evidence(path: str | Path, name: str | None = None) -> DeploymentEvidence:
    """Read an ``emac.sanity.deployment/v1`` file (see module docs)."""
    shown = name or str(path)
    doc = _load(path, shown, DEPLOYMENT_SCHEMA)
    services = doc.get("services") or {}
    if not isinstance(services, dict):
        raise SpecError(shown, "services", f"expected a mapping of service id to observations, got {type(services).__name__}")
    out = DeploymentEvidence(shown, _text(doc.get("scenario")))
    for sid, entry in services.items():
        comp = str(sid)
        p = f"services.{comp}"
        if entry is None:
            entry = {}
        if not isinstance(entry, dict):
            raise SpecError(shown, p, f"expected a mapping, got {type(entry).__name__}")
        obs = entry.get("domain_observations") or []
        if not isinstance(obs, list):
            raise SpecError(shown, f"{p}.domain_observations", f"expected a list, got {type(obs).__name__}")
        got: list[Observation] = []
        for i, o in enumerate(obs):
            q = f"{p}.domain_observations[{i}]"
            if not isinstance(o, dict) or o.get("value") in (None, ""):
                raise SpecError(shown, q, "expected a mapping with field, value and signal")
            got.append(Observation(comp, str(o["value"]), str(o.get("signal") or "unspecified"), str(o.get("field") or ""), f"{shown}:{q}"))
        out.observations[comp] = got
    return out
