"""Synthetic OTLP traces from a journey spec (for round-trip tests of discovery).

Requests come from the reference simulator (:func:`emac_sim.reference.simulate_requests`): the
same outcomes and durations as the engine for the same seed. Each request becomes one trace,
written the way an instrumented gateway and its services would report it:

- a root ``SERVER`` span for the journey (service ``<journey>``, span name ``<journey>``,
  ``http.route`` ``/<journey>``), status ERROR when the request failed;
- per call, a ``CLIENT`` span in the gateway (``peer.service`` = component) covering what the
  caller waited for, and a ``SERVER`` span in the component (``service.name`` = component id)
  with the call's own duration and outcome.

The caller stops waiting before a call ends when a ``race``/``parallel any``/``quorum`` has
already decided (the losers are cancelled), when a ``timeout`` deadline passes, or when a retry's
``perTryTimeout`` expires: the client span then ends at that instant with status ERROR
(``CANCELLED`` / ``DEADLINE_EXCEEDED``) while the server span keeps its natural end. Calls the
simulator records after their caller had already stopped waiting (later steps of a cancelled
branch) were never sent and are left out (counted). These instants come from replaying the
operator tree over the recorded calls; the replay reproduces every request's (ok, t) exactly,
which is checked.

Resource attributes: ``service.name``; ``emac.failure_domains`` (the component's domain names);
and for domains declared with a Kubernetes topology ``key``, the matching OpenTelemetry resource
key (``cloud.availability_zone``, ``cloud.region``, ``host.name``) set to the domain name.

The file is OTLP/JSON Lines (one ``ExportTraceServiceRequest`` per line, as the OpenTelemetry
collector's file exporter writes), gzip-compressed when the name ends in ``.gz``. It is written
atomically (a temporary file renamed into place) with a sidecar manifest recording its size,
sha256 and trace and span counts (:mod:`emac_sim.discover.manifest`), which discovery checks.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from ..errors import SpecError
from ..model.journey import Journey, Node, Ref
from .manifest import manifest_document, manifest_path

BASE_NS = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z
TOPOLOGY_KEYS = {
    "topology.kubernetes.io/zone": "cloud.availability_zone",
    "failure-domain.beta.kubernetes.io/zone": "cloud.availability_zone",
    "topology.kubernetes.io/region": "cloud.region",
    "kubernetes.io/hostname": "host.name",
}
BATCH_REQUESTS = 500
EPS_S = 1e-9  # instants closer than 1 ns are the same (float rounding of start + t)


class ReplayMismatch(RuntimeError):
    """The recorded calls do not replay to the simulator's outcome (a bug, not bad input)."""


class _Replay:
    """Re-evaluates the operator tree over one request's recorded calls (docs/semantics.md)."""

    def __init__(self, journey: Journey, calls: list, stats: dict[str, Counter]) -> None:
        self.j = journey
        self.calls = calls
        self.i = 0
        self.cut = [math.inf] * len(calls)
        self.why = [""] * len(calls)
        self.stats = stats

    def cut_calls(self, idx: list[int], at: float, why: str) -> None:
        """The caller stopped waiting for calls ``idx`` at ``at`` (``why``: CANCELLED, DEADLINE_EXCEEDED)."""
        for k in idx:
            if at < self.cut[k]:
                self.cut[k] = at
                self.why[k] = why

    def next_under(self, prefix: str) -> bool:
        """Whether the next recorded call was made under the node at ``prefix``."""
        if self.i >= len(self.calls):
            return False
        p = self.calls[self.i].path
        return p == prefix or p.startswith(prefix + ".")

    def run(self, node: Node, path: str, start: float) -> tuple[bool, float, list[int]]:
        """Replay ``node`` over the next recorded calls: ``(ok, t, indices of its calls)``; the
        operators replay through their own rule (``replay`` in :mod:`emac_sim.operators`)."""
        if isinstance(node, Ref):
            if self.i >= len(self.calls):
                raise ReplayMismatch(f"{path}: expected a call of {node.component}, records exhausted")
            rec = self.calls[self.i]
            if rec.component != node.component or abs(rec.start - start) > 1e-9 * max(1.0, abs(start)):
                raise ReplayMismatch(f"{path}: expected {node.component} at {start!r}, record has {rec.component} at {rec.start!r}")
            self.i += 1
            return rec.ok, rec.end - rec.start, [self.i - 1]
        return node.replay(self, path, start)  # type: ignore[attr-defined]


def can_be_empty(node: Node) -> bool:
    """Whether a subtree can run without making any call (only through skipped optional steps)."""
    if isinstance(node, Ref):
        return False
    return node.can_be_empty([can_be_empty(c) for c in node.children])  # type: ignore[attr-defined]


def _attr(key: str, value: object) -> dict:
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": str(v)} for v in value]}}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _resources(journey: Journey, root_service: str) -> dict[str, list[dict]]:
    out = {root_service: [_attr("service.name", root_service)]}
    by_name = {d.name: d for d in journey.domains}
    for c in journey.components:
        attrs = [_attr("service.name", c.id)]
        if c.domains:
            attrs.append(_attr("emac.failure_domains", list(c.domains)))
        for dn in c.domains:
            key = dict(by_name[dn].extra).get("key") if dn in by_name else None
            if key in TOPOLOGY_KEYS:
                attrs.append(_attr(TOPOLOGY_KEYS[str(key)], dn))
        out[c.id] = attrs
    return out


def write_otlp_traces(journey: Journey, path: str | Path, samples: int, seed: int | None, correlation: str = "declared") -> dict:
    """Simulate ``samples`` requests and write them as OTLP JSON traces.

    Parameters
    ----------
    journey
        The journey to simulate.
    path
        Output file (OTLP/JSON Lines; gzip when it ends in ``.gz``).
    samples
        Number of requests (traces).
    seed
        Seed for the simulator and for trace/span ids; ``None`` draws one (recorded).
    correlation
        Scenario: ``declared``, ``independent``, ``shared`` or ``pessimistic``.

    Returns
    -------
    dict
        ``{"path", "journey", "requests", "spans", "seed", "correlation", "availability",
        "notIssued", "operators": {operator path: {event: count}}}``; ``operators`` counts what
        each operator did (hedges issued, retries, timeouts fired, branches taken, ...), which
        says which parts of the tree the traces can reveal.
    """
    from ..core.seeds import draw_seed
    from ..reference import simulate_requests

    if samples < 1:
        raise ValueError("samples must be >= 1")
    if seed is None:
        seed = draw_seed()
    reqs = simulate_requests(journey, samples, seed, correlation)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 0x7EAC])))
    root_service = journey.name if journey.name not in journey.component_ids else f"{journey.name}-entry"
    resources = _resources(journey, root_service)
    stats: dict[str, Counter] = defaultdict(Counter)
    out = check_traces_path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if out.name.endswith(".gz") else open
    n_spans = 0
    not_issued = 0
    ok_count = 0
    spacing_ns = int(round(1e9 / journey.load_rate)) if journey.load_rate else 10_000_000
    route = _attr("http.route", f"/{journey.name}")  # the journey's entry point, as HTTP servers record it
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        fp = opener(tmp, "wt", encoding="utf-8")  # type: ignore[operator]
    except OSError as exc:
        raise SpecError(str(path), "", f"cannot create a file in {out.parent}: {exc.strerror or exc}") from None
    try:
        with fp:
            for b0 in range(0, samples, BATCH_REQUESTS):
                by_service: dict[str, list[dict]] = defaultdict(list)
                for i in range(b0, min(samples, b0 + BATCH_REQUESTS)):
                    req = reqs[i]
                    rp = _Replay(journey, req.calls, stats)
                    ok, t, _ = rp.run(journey.root, "root", 0.0)
                    if rp.i != len(req.calls) or ok != req.ok or abs(t - req.t) > 1e-9 * max(1.0, abs(req.t)):
                        got = f"replay gives ({ok}, {t!r}), simulator ({req.ok}, {req.t!r}), {rp.i}/{len(req.calls)} calls"
                        raise ReplayMismatch(f"request {i}: {got}")
                    ok_count += req.ok
                    base = BASE_NS + i * spacing_ns
                    ids = rng.integers(0, 2**63, size=2 + 2 * len(req.calls), dtype=np.int64)
                    trace_id = f"{int(ids[0]):016x}{int(ids[1]):016x}"
                    root_id = f"{int(ids[0]) ^ int(ids[1]):016x}"
                    why = "journey failed" if not req.ok else None
                    root_span = _span(trace_id, root_id, None, journey.name, 2, base, base + _ns(req.t), req.ok, why)
                    root_span["attributes"] = [route]
                    by_service[root_service].append(root_span)
                    for k, call in enumerate(req.calls):
                        cut = rp.cut[k]
                        if cut <= call.start + EPS_S and cut < call.end - EPS_S:
                            not_issued += 1
                            continue
                        cid, sid = f"{int(ids[2 + 2 * k]):016x}", f"{int(ids[3 + 2 * k]):016x}"
                        # the call that decided a race ends at the decision instant: not cancelled
                        cancelled = cut < call.end - EPS_S
                        c_end = cut if cancelled else call.end
                        c_ok = call.ok and not cancelled
                        msg = rp.why[k] if cancelled else (None if call.ok else "call failed")
                        client = _span(trace_id, cid, root_id, call.component, 3, base + _ns(call.start), base + _ns(c_end), c_ok, msg)
                        client["attributes"] = [_attr("peer.service", call.component)]
                        by_service[root_service].append(client)
                        by_service[call.component].append(
                            _span(
                                trace_id,
                                sid,
                                cid,
                                call.component,
                                2,
                                base + _ns(call.start),
                                base + _ns(call.end),
                                call.ok,
                                None if call.ok else "call failed",
                            )
                        )
                        n_spans += 2
                    n_spans += 1
                doc = {
                    "resourceSpans": [
                        {"resource": {"attributes": resources[svc]}, "scopeSpans": [{"scope": {"name": "emac-sim.synth"}, "spans": spans}]}
                        for svc, spans in by_service.items()
                    ]
                }
                fp.write(json.dumps(doc, separators=(",", ":")))
                fp.write("\n")
        # the manifest first, then the traces: a run killed in between leaves a manifest that the
        # old file (or no file) does not match, which discovery reports
        man = manifest_document(tmp, samples, n_spans)
        man["file"] = out.name
        _atomic_json(manifest_path(out), man)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return {
        "path": str(out),
        "manifest": str(manifest_path(out)),
        "journey": journey.name,
        "requests": samples,
        "spans": n_spans,
        "seed": seed,
        "correlation": correlation,
        "availability": ok_count / samples,
        "notIssued": not_issued,
        "operators": {p: dict(sorted(c.items())) for p, c in sorted(stats.items()) if c},
    }


def check_traces_path(path: str | Path) -> Path:
    """The ``--traces`` file, checked before any work: a new file or an existing regular file in a
    folder that exists or can be made; anything else is a one-line :class:`SpecError`."""
    out = Path(path)
    shown = str(path)
    if out.is_dir():
        raise SpecError(shown, "", "is a folder: --traces needs a file name, e.g. traces.jsonl")
    if out.exists() and not out.is_file():
        raise SpecError(shown, "", "is not a regular file (a device, pipe or socket): --traces needs a file name")
    if out.exists() and not os.access(out, os.W_OK):
        raise SpecError(shown, "", "is not writable")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise SpecError(shown, "", f"{parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SpecError(shown, "", f"cannot write in {parent}")
    return out


def _atomic_json(path: Path, doc: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SpecError(str(path), "", f"cannot write the trace manifest: {exc.strerror or exc}") from None


def _ns(seconds: float) -> int:
    return int(round(seconds * 1e9))


def _span(trace_id: str, span_id: str, parent: str | None, name: str, kind: int, start: int, end: int, ok: bool, message: str | None) -> dict:
    sp: dict = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(end),
        "status": {"code": 1} if ok else {"code": 2, "message": message or "error"},
    }
    if parent is not None:
        sp["parentSpanId"] = parent
    return sp
