"""Assemble a ``DiscoveredJourneyModel`` per journey: operator tree, components, domains,
confidence, provenance and evidence flags.

The document is the ``JourneyIntent`` schema (written with
:func:`emac_sim.spec.dump.journey_to_spec`, so ``emac check`` and :func:`emac_sim.load_spec`
read it) plus the discovery keys:

- ``spec.confidence``: ``overall``, ``formula``, ``notes`` and ``fields`` (operator path or
  component field → confidence);
- ``spec.provenance``: generator, inputs (file, format, spans, sha256), the journey's root,
  the data-quality ledger, the observed journey availability, the coverage policy applied, and
  per field the evidence (count, coverage, agreement, values, example ``trace/span`` ids or
  ``file:field``);
- ``spec.topology``: nodes (components with their resource labels) and call edges (probability
  per trace, calls per trace, sync/async);
- ``spec.redundancy``: the redundancy groups (race, parallel any/quorum, fallback, retry);
- ``spec.evidenceFlags``: what a reviewer must look at (governance turns any flag into REVIEW).

Partial traces (rooted at an orphan span, see :func:`~emac_sim.discover.calls.iter_trace_calls`)
are used, flagged (``partial-traces``) and count half in ``traceCoverage``, which scales the
overall confidence.

Components carry ``provenance`` (calls, errors, availability interval, latency quantiles and fits)
and ``confidence``. Availability is the share of calls that did not fail (OpenTelemetry ``unset``
counts as success; a component whose spans carry no status at all is flagged), estimated as the
posterior mean under the Jeffreys prior, (ok + ½)/(n + 1), with a Wilson interval.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..model.journey import Component, Domain, Journey, Node
from .calls import Call, JourneyTraces, _slug, walk_calls
from .domains import EXPLICIT, InferredDomain, Workload, domains_from_traces, match_workload
from .spans import Ledger
from .stats import CONFIDENCE_FORMULA, Evidence, fit_latency, overall_confidence, same_distribution, wilson
from .structure import Inference, INode, Occ, decompose, timing_is_exact, tree_size

MAX_TREE_NODES = 400  # readable: deeper calls are cut (their caller stands for them) above this
MAX_MODEL_NODES = 2000  # wider than this even with every downstream call cut: modelled end to end
DEFAULT_POLICY: dict[str, float] = {"minTraceEdgeCoverage": 0.8, "minTraces": 30}
KNOWN_POLICY_KEYS = ("minTraceEdgeCoverage", "minTraceCoverage", "minTraces", "minSamples")
SKIP_REASONS = ("missingIds", "malformedSpans", "duplicateSpans", "cycleSpans", "badTimestamps", "negativeDuration")


@dataclass
class Options:
    """Discovery options shared by all journeys."""

    confidence: float = 0.95
    policy: dict[str, Any] = field(default_factory=dict)
    workloads: list[Workload] = field(default_factory=list)
    istio: dict = field(default_factory=dict)
    template: Journey | None = None  # accepted spec: objectives/governance copied over


@dataclass
class DiscoveredJourney:
    """One discovered journey: the IR, the YAML document, and what backs it."""

    name: str
    journey: Journey
    document: dict
    fields: dict[str, Evidence]
    flags: list[str]
    notes: list[str]
    traces: int
    overall: float


def _refs(n: INode) -> Iterator[str]:
    if n.op == "ref":
        yield n.params["component"]
    for k in n.kids:
        yield from _refs(k)


def build_journey(jt: JourneyTraces, ledger: Ledger, inputs: list, opts: Options) -> DiscoveredJourney:
    """Infer one journey's model from its traces (see module docs)."""
    traces = jt.traces
    n_tr = len(traces)
    calls_by_key: dict[str, list[Call]] = defaultdict(list)
    services: dict[str, str] = {}
    edges: Counter[tuple[str, str]] = Counter()
    edge_traces: Counter[tuple[str, str]] = Counter()
    entry_name = _slug(jt.root_service)
    for t in traces:
        seen: set[tuple[str, str]] = set()
        for parent, c in walk_calls(t.calls):
            calls_by_key[c.key].append(c)
            services[c.key] = c.service
            e = (parent.key if parent is not None else entry_name, c.key)
            edges[e] += 1
            seen.add(e)
        for e in seen:
            edge_traces[e] += 1
    if entry_name in calls_by_key:
        entry_name = f"{entry_name}-entry"
        edges = Counter({((entry_name if a == _slug(jt.root_service) else a), b): v for (a, b), v in edges.items()})
        edge_traces = Counter({((entry_name if a == _slug(jt.root_service) else a), b): v for (a, b), v in edge_traces.items()})
    exact = timing_is_exact([t.calls for t in traces[:2000]])
    # a component's downstream calls are expanded at every place it is called: deep call trees
    # are cut at a depth that keeps the model readable (the component then stands for its calls)
    for depth in (8, 4, 2, 1, 0):
        inf = Inference(dict(calls_by_key), n_tr, opts.confidence, exact, max_depth=depth)
        occs = [Occ(decompose(t.calls, exact), t.ok, t.trace_id) for t in traces]
        root = inf.sequence(occs)
        if root is None or tree_size(root) <= MAX_TREE_NODES or not inf.expanded:
            break  # (nothing expanded below the top: a smaller depth gives the same tree)
    notes = list(jt.notes) + list(inf.notes)
    if inf.black_box:
        notes.append(
            f"call tree cut at depth {inf.max_depth} to stay under {MAX_TREE_NODES} operators: "
            f"{', '.join(sorted(inf.black_box))} stand for their own downstream calls (availability and latency end to end)"
        )
    flags: list[str] = []
    end_to_end = root is not None and tree_size(root) > MAX_MODEL_NODES
    if end_to_end:
        assert root is not None
        flags.append(
            f"too-wide: the call tree has {tree_size(root)} operators even with downstream calls cut (limit {MAX_MODEL_NODES}): "
            f"the journey is modelled end to end as its entry service {jt.root_service!r} (availability and latency of the root spans)"
        )
        root = None
    # the entry service's own failures: the root failed while every call it made succeeded
    unexplained = [] if end_to_end else [t for t in traces if not t.ok and all(c.vok for c in t.calls)]
    entry_stats: dict | None = None
    if root is None or unexplained:
        ev = Evidence(
            n_tr,
            1.0,
            1.0,
            [t.trace_id for t in (unexplained or traces)[:3]],
            {"unexplainedRootErrors": len(unexplained)},
            what="entry service's own work",
        )
        entry = INode("ref", params={"component": entry_name}, ev=ev)
        root = entry if root is None else INode("series", [entry] + (root.kids if root.op == "series" and root.ev is None else [root]))
        errors = sum(1 for t in traces if not t.ok) if end_to_end else len(unexplained)
        entry_stats = {"n": n_tr, "errors": errors, "known": n_tr, "endToEnd": end_to_end}
        services[entry_name] = jt.root_service
        if unexplained:
            notes.append(f"{len(unexplained)} traces failed in the entry service {jt.root_service!r} itself: modelled as component {entry_name!r}")
    assert root is not None
    split_from: dict[str, str] = {}
    conflicts: list[str] = []
    if opts.istio:
        from .istio import apply_policies

        root, split_from, inotes, iconf = apply_policies(root, services, opts.istio)
        notes.extend(inotes)
        conflicts.extend(iconf)
    keys = list(dict.fromkeys(_refs(root)))
    # ------------------------------------------------------------------ components
    comp_fields: dict[str, Evidence] = {}
    comps: dict[str, dict] = {}
    no_status: list[str] = []
    for key in keys:
        src = split_from.get(key, key)
        if src == entry_name and entry_stats is not None:
            st = _entry_component(entry_name, traces, entry_stats, opts.confidence)
        else:
            st = _component(src, calls_by_key[src], opts.confidence, end_to_end=src in inf.black_box)
        if split_from.get(key):
            st["provenance"]["splitFrom"] = src
        if st["known"] == 0:
            no_status.append(key)
        comps[key] = st
        comp_fields[f"spec.components.{key}.availability"] = st["ev_avail"]
        if st["ev_lat"] is not None:
            comp_fields[f"spec.components.{key}.latency"] = st["ev_lat"]
    # ------------------------------------------------------------------ domains
    domains, labels, dnotes = domains_from_traces({k: calls_by_key[split_from.get(k, k)] for k in keys if split_from.get(k, k) in calls_by_key})
    notes.extend(dnotes)
    key_services = {k: services.get(split_from.get(k, k), k) for k in keys}
    k8s_domains, k8s_notes, k8s_conf, replicas = _kubernetes(keys, key_services, labels, opts.workloads)
    notes.extend(k8s_notes)
    conflicts.extend(k8s_conf)
    domains = _merge_domains(domains, k8s_domains)
    member_of: dict[str, list[str]] = defaultdict(list)
    for d in domains:
        for m in d.members:
            member_of[m].append(d.name)
    # ------------------------------------------------------------------ Journey IR
    components = []
    for key in keys:
        st = comps[key]
        prov = st["provenance"]
        if key in replicas:
            prov["replicas"] = replicas[key]
        extra = (("description", st["description"]), ("provenance", prov), ("confidence", round(st["ev_avail"].confidence, 6)))
        components.append(
            Component(
                id=key,
                availability=st["availability"],
                latency=st["latency"],
                error_latency=st["error_latency"],
                domains=tuple(member_of.get(key, ())),
                kind=st["kind"],
                extra=extra,
            )
        )
    dom_objs = []
    dom_fields: dict[str, Evidence] = {}
    accepted_domains = {d.name: d for d in opts.template.domains} if opts.template is not None else {}
    for i, d in enumerate(domains):
        dprov: dict[str, Any] = {"evidence": d.evidence.to_dict(), "sources": d.provenance}
        magnitude: dict[str, Any] = {}
        acc = accepted_domains.get(d.name)
        if acc is not None and acc.model != "none":
            # traces show who shares a domain, not how strongly: keep the accepted magnitude
            magnitude = {"model": acc.model, "rho": acc.rho, "latency_rho": acc.latency_rho, "probability": acc.probability, "beta": acc.beta}
            dprov["magnitude"] = f"{acc.model} correlation kept from the accepted spec (not observable from traces)"
        dom_objs.append(
            Domain(
                name=d.name,
                members=tuple(d.members),
                kind="inferred",
                confidence=round(d.evidence.confidence, 6),
                description=f"components sharing {d.key}" if d.key != EXPLICIT else "declared on the components' resources",
                extra=(("source", d.source), ("key", d.key), ("provenance", dprov)),
                **magnitude,
            )
        )
        dom_fields[f"spec.failureDomains.rules[{i}]"] = d.evidence
    node: Node = root.build()
    op_fields = root.fields()
    all_fields = {**op_fields, **comp_fields, **dom_fields}
    # ------------------------------------------------------------------ coverage, flags
    # (timing the inner structure does not explain does not matter to an end-to-end model)
    anomalous = 0 if end_to_end else len(inf.anomalous_traces & {t.trace_id for t in traces})
    # a partial trace (rooted at an orphan span) shows the journey from the middle: it counts half
    partial = sum(1 for t in traces if t.partial)
    trace_cov = (n_tr - anomalous - 0.5 * partial) / n_tr if n_tr else 0.0
    total_calls = sum(edges.values())
    model_keys = set(keys) | set(split_from.values())
    covered = total_calls if end_to_end else sum(v for (a, b), v in edges.items() if b in model_keys)
    edge_cov = covered / total_calls if total_calls else 1.0
    policy = dict(DEFAULT_POLICY)
    policy.update(opts.policy)
    for k in opts.policy:
        if k not in KNOWN_POLICY_KEYS:
            notes.append(f"coveragePolicy key {k!r} is not used by discovery")
    min_cov = float(policy.get("minTraceCoverage", policy["minTraceEdgeCoverage"]))
    min_traces = int(policy.get("minSamples", policy["minTraces"]))
    if edge_cov < float(policy["minTraceEdgeCoverage"]):
        flags.append(
            f"low-edge-coverage: call-edge coverage {edge_cov:.3f} is below coveragePolicy.minTraceEdgeCoverage {policy['minTraceEdgeCoverage']}"
        )
    if trace_cov < min_cov:
        flags.append(f"low-trace-coverage: {anomalous} of {n_tr} traces are not explained by the model (coverage {trace_cov:.3f} < {min_cov})")
    elif anomalous:
        notes.append(f"{anomalous} of {n_tr} traces have timing the model does not explain: {dict(inf.anomalies)}")
    if partial:
        flags.append(
            f"partial-traces: {partial} of {n_tr} traces start at a span whose parent is missing from the trace "
            "(exported from the middle, or spans lost): the calls above it are not seen (see provenance.dataQuality.orphanSpans)"
        )
    if n_tr < min_traces:
        flags.append(f"few-traces: only {n_tr} traces for this journey (coverage policy asks for {min_traces})")
    if no_status:
        flags.append(f"no-status: spans carry no status for {', '.join(no_status)}, so their availability was not observed (no error can show)")
    skipped = {k: v for k, v in ledger.counts.items() if k in SKIP_REASONS}
    if skipped:
        flags.append("skipped-spans: " + ", ".join(f"{v} {k}" for k, v in skipped.items()) + " (see provenance.dataQuality)")
    for c in conflicts:
        flags.append(f"unresolved-domain-conflict: {c}")
    if jt.split_by:
        notes.append(f"journey identified by call signature {list(jt.signature)}")
    overall = overall_confidence([e.confidence for e in all_fields.values()], trace_cov)
    # ------------------------------------------------------------------ the document
    name = jt.name
    template = opts.template
    j = Journey(
        name=name,
        root=node,
        components=tuple(components),
        domains=tuple(dom_objs),
        labels=(("emac.dev/discovered", "true"), ("journey", name)),
        kind="DiscoveredJourneyModel",
        confidence=round(overall, 6),
        evidence_flags=tuple(flags),
    )
    if template is not None:
        j = replace(
            j,
            availability_objective=template.availability_objective,
            latency_objective=template.latency_objective,
            governance=template.governance,
            evidence=template.evidence,
            load_rate=template.load_rate,
        )
    from ..spec.dump import journey_to_spec

    doc = journey_to_spec(j)
    spec = doc["spec"]
    ok_roots = sum(1 for t in traces if t.ok)
    lo, hi = wilson(ok_roots, n_tr, opts.confidence)
    spec["confidence"] = {
        "overall": round(overall, 6),
        "formula": CONFIDENCE_FORMULA,
        "notes": sorted(set(notes)),
        "fields": {p: round(e.confidence, 6) for p, e in all_fields.items()},
    }
    spec["topology"] = _topology(entry_name, keys, comps, labels, replicas, edges, edge_traces, n_tr, split_from)
    spec["redundancy"] = _redundancy(root)
    spec["provenance"] = {
        "generator": "emac discover",
        "inputs": [{"file": i.path, "format": i.format, "spans": i.spans, "sha256": i.sha256} for i in inputs],
        "journey": {
            "rootService": jt.root_service,
            "rootOperation": jt.root_operation,
            "route": jt.route,
            "identifiedBy": "call signature" if jt.split_by else ("root operation and route" if jt.route else "root operation"),
            "traces": n_tr,
            "exactTiming": exact,
            **({"partialTraces": partial} if partial else {}),
        },
        "observed": {
            "journeyAvailability": {
                "estimate": ok_roots / n_tr if n_tr else None,
                "interval": [lo, hi],
                "confidence": opts.confidence,
                "traces": n_tr,
            }
        },
        "coverage": {
            "traceCoverage": round(trace_cov, 6),
            "callEdgeCoverage": round(edge_cov, 6),
            "anomalies": dict(inf.anomalies),
            "policy": policy,
        },
        "dataQuality": ledger.to_dict(),
        "fields": {p: e.to_dict() for p, e in all_fields.items()},
    }
    spec["evidenceFlags"] = list(flags)
    return DiscoveredJourney(name, j, doc, all_fields, flags, sorted(set(notes)), n_tr, overall)


def availability_estimate(ok: int, n: int) -> float:
    """Posterior mean under the Jeffreys prior Beta(½, ½): (ok + ½) / (n + 1).

    Unlike ok/n it never claims a component cannot fail because none of its n calls did (with no
    error in n calls it gives 1 − 1/(2(n + 1))); for large n the two agree to O(1/n).
    """
    return (ok + 0.5) / (n + 1.0)


def _durations(calls: list[Call], ok: bool, end_to_end: bool = False) -> np.ndarray:
    out = []
    for c in calls:
        if (c.raw_ok if end_to_end else c.ok) != ok or not c.timed:
            continue
        out.append((c.nend - c.nstart) if c.cut else (c.end - c.start))
    return np.asarray(out, dtype=np.float64) * 1e-9


def _component(key: str, calls: list[Call], conf: float, end_to_end: bool = False) -> dict:
    n = len(calls)
    # a component modelled as a black box keeps the failures of the calls it makes
    errors = sum(1 for c in calls if not (c.raw_ok if end_to_end else c.ok))
    known = sum(1 for c in calls if c.known)
    a = availability_estimate(n - errors, n)
    lo, hi = wilson(n - errors, n, conf)
    ex = [f"{c.trace}/{c.span}" for c in calls[:3]]
    ev_a = Evidence(
        n,
        known / n if n else 0.0,
        1.0,
        ex,
        {"availability": a, "interval": [lo, hi], "calls": n, "errors": errors},
        what="availability (share of calls without error)",
    )
    ok_d = _durations(calls, True, end_to_end)
    fit = fit_latency(ok_d)
    err_d = _durations(calls, False, end_to_end)
    err_lat: Any = "same"
    err_note = None
    if err_d.size >= 20 and ok_d.size >= 20:
        same, p = same_distribution(ok_d, err_d)
        if not same:
            if float(np.max(err_d)) <= 1e-6:
                err_lat = "fast"
            else:
                ef = fit_latency(err_d)
                err_lat = ef.chosen if ef.chosen is not None else "same"
            err_note = {"ksPValueVsSuccess": p, "n": int(err_d.size)}
    ev_l = None
    if fit.chosen is not None:
        agree = 1.0 if fit.chosen_kind == "fit" else 1.0 - (fit.ks_d or 0.0)
        timed = sum(1 for c in calls if c.timed and c.ok)
        ok_n = sum(1 for c in calls if c.ok)
        ev_l = Evidence(
            fit.n, timed / ok_n if ok_n else 0.0, agree, ex, {"quantilesSeconds": fit.quantiles, "best": fit.best}, what="latency of successful calls"
        )
    services = {c.service for c in calls}
    ops = {c.op for c in calls}
    prov: dict[str, Any] = {
        "service": sorted(services)[0] if services else key,
        "operations": sorted(ops)[:5],
        "calls": n,
        "errors": errors,
        "statusKnown": known,
        "availability": {"estimate": a, "interval": [lo, hi], "confidence": conf},
        "latency": fit.to_dict(),
        "examples": ex,
    }
    if err_note:
        prov["errorLatency"] = err_note
    has_server = any(c.nstart != c.start or c.nend != c.end or c.resource != "{}" for c in calls)
    return {
        "availability": a,
        "latency": fit.chosen if fit.chosen_kind in ("fit", "empirical") else None,
        "error_latency": err_lat if fit.chosen is not None else "same",
        "kind": "service" if has_server else "external_dependency",
        "known": known,
        "description": f"discovered: service {prov['service']}" + (f", operation {sorted(ops)[0]}" if len(ops) == 1 else ""),
        "provenance": prov,
        "ev_avail": ev_a,
        "ev_lat": ev_l,
    }


def _entry_component(name: str, traces: list, st: dict, conf: float) -> dict:
    n, errors = st["n"], st["errors"]
    a = availability_estimate(n - errors, n)
    lo, hi = wilson(n - errors, n, conf)
    ex = [t.trace_id for t in traces[:3]]
    ev = Evidence(
        n, 1.0, 1.0, ex, {"availability": a, "interval": [lo, hi], "traces": n, "unexplainedErrors": errors}, what="entry service availability"
    )
    prov: dict[str, Any] = {"calls": n, "errors": errors, "availability": {"estimate": a, "interval": [lo, hi], "confidence": conf}, "examples": ex}
    latency, ev_l = None, None
    if st.get("endToEnd"):
        # the whole journey as one component: its latency is the root spans' duration
        ok_d = np.asarray([t.end - t.start for t in traces if t.ok and t.end is not None and t.end >= t.start], dtype=np.float64) * 1e-9
        fit = fit_latency(ok_d)
        prov["latency"] = fit.to_dict()
        if fit.chosen_kind in ("fit", "empirical"):
            latency = fit.chosen
            agree = 1.0 if fit.chosen_kind == "fit" else 1.0 - (fit.ks_d or 0.0)
            values = {"quantilesSeconds": fit.quantiles, "best": fit.best}
            ev_l = Evidence(fit.n, fit.n / max(n - errors, 1), agree, ex, values, what="journey latency")
    return {
        "availability": a,
        "latency": latency,
        "error_latency": "same",
        "kind": "service",
        "known": n,
        "description": "discovered: the journey end to end (its entry service and every call it makes)"
        if st.get("endToEnd")
        else "discovered: the journey's entry service (its own failures)",
        "provenance": prov,
        "ev_avail": ev,
        "ev_lat": ev_l,
    }


def _kubernetes(
    keys: list[str], services: dict[str, str], labels: dict, loads: list[Workload]
) -> tuple[list[InferredDomain], list[str], list[str], dict]:
    if not loads:
        return [], [], [], {}
    notes: list[str] = []
    conflicts: list[str] = []
    replicas: dict[str, dict] = {}
    zones: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for key in keys:
        w = match_workload(key, services.get(key, key), loads)
        if w is None:
            continue
        if w.replicas is not None:
            replicas[key] = {"replicas": w.replicas, "source": f"{w.file}:{w.replicas_field or 'default 1'}"}
        for kind, vals, fld in (("zone", w.zones, w.zone_field), ("region", w.regions, w.region_field)):
            if not vals:
                continue
            if len(vals) > 1:
                notes.append(f"{key}: {w.kind} {w.name} may run in several {kind}s {vals} ({w.file}:{fld}): not assigned to one")
                continue
            if kind == "zone" and w.spread:
                notes.append(f"{key}: {w.kind} {w.name} is spread over zones ({w.file}:{w.spread})")
                continue
            seen = labels.get(key, {}).get("cloud.availability_zone" if kind == "zone" else "cloud.region")
            if seen and "," not in seen and seen != vals[0]:
                conflicts.append(f"{key} runs in {kind} {seen} in the traces but {w.file}:{fld} says {vals[0]}")
            zones[(kind, vals[0])].append((key, f"{w.file}:{fld}"))
    out = []
    for (kind, v), mem in sorted(zones.items()):
        ev = Evidence(len(mem), 1.0, 1.0, [p for _, p in mem], {"label": kind, "value": v}, what=f"failure domain (Kubernetes {kind})", fixed=1.0)
        out.append(
            InferredDomain(
                f"{kind}/{v}", sorted(m for m, _ in mem), "kubernetes", ZONE_KEY if kind == "zone" else REGION_KEY, ev, [p for _, p in mem]
            )
        )
    return out, notes, conflicts, replicas


ZONE_KEY = "topology.kubernetes.io/zone"
REGION_KEY = "topology.kubernetes.io/region"


def _merge_domains(a: list[InferredDomain], b: list[InferredDomain]) -> list[InferredDomain]:
    by = {d.name: d for d in a}
    for d in b:
        if d.name in by:
            x = by[d.name]
            x.members = sorted(set(x.members) | set(d.members))
            x.source = "traces+kubernetes"
            x.provenance.extend(d.provenance)
        else:
            by[d.name] = d
    return [by[k] for k in sorted(by)]


def _topology(entry: str, keys, comps, labels, replicas, edges, edge_traces, n_tr, split_from) -> dict:
    nodes = [{"id": entry, "type": "entry"}]
    for k in keys:
        lab = {kk: vv for kk, vv in labels.get(split_from.get(k, k), {}).items()}
        node = {"id": k, "type": comps[k]["kind"], "labels": lab}
        if k in replicas:
            node["replicas"] = replicas[k]["replicas"]
        nodes.append(node)
    out_edges = []
    for (a, b), v in sorted(edges.items()):
        out_edges.append(
            {
                "from": a,
                "to": b,
                "callType": "sync",
                "probability": round(edge_traces[(a, b)] / n_tr, 6) if n_tr else 0.0,
                "callsPerTrace": round(v / n_tr, 6) if n_tr else 0.0,
            }
        )
    return {"nodes": nodes, "edges": out_edges}


def _redundancy(root: INode) -> list[dict]:
    out: list[dict] = []
    for path, n in _paths(root, "spec.operator"):
        if n.op in ("race", "fallback") or (n.op == "parallel" and n.params.get("join") in ("any", "quorum")) or n.op == "retry":
            group = sorted(set(_refs(n)))
            entry: dict[str, Any] = {"pattern": n.op if n.op != "parallel" else f"parallel-{n.params['join']}", "group": group, "path": path}
            if n.op == "race":
                entry["semantics"] = "hedged"
                entry["hedgeDelaySeconds"] = n.params.get("hedgeDelay", 0.0)
            if n.op == "parallel" and n.params.get("k"):
                entry["k"] = n.params["k"]
            if n.op == "retry":
                entry["attempts"] = n.params["attempts"]
            out.append(entry)
    return out


def _paths(n: INode, path: str) -> Iterator[tuple[str, INode]]:
    yield path, n
    if n.op == "series":
        names = [f"{path}.steps[{i}]" for i in range(len(n.kids))]
    elif n.op in ("parallel", "race", "fallback"):
        names = [f"{path}.branches[{i}]" for i in range(len(n.kids))]
    elif n.op == "choice":
        names = [f"{path}.branches[{i}].step" for i in range(len(n.kids))]
    else:
        names = [f"{path}.step"] * len(n.kids)
    for k, nm in zip(n.kids, names):
        yield from _paths(k, nm)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
