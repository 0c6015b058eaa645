"""Evidence laid over an accepted model: the paper's replay (arXiv 2602.05458, §replay).

When the accepted model is an ``AcceptedJourneyModel`` (:mod:`emac_sim.spec.accepted`), discovery
does not re-infer the journey from a handful of replayed traces: the candidate is the accepted
model, with what the evidence (traces of any supported format, the paper's trace evidence, and
deployment evidence) says about it laid over it.

- **Edges.** Calls between components observed in the traces are compared with the expected
  edges (the trace evidence's ``expectedEdges``, else the accepted topology): *edge coverage* is
  the share of expected edges seen. Below ``coveragePolicy.minTraceEdgeCoverage`` →
  ``low-edge-coverage``; a call the accepted model does not have → ``unexpected-edge``.
- **Redundancy groups.** Each branch must be seen (a branch without spans → ``missing-evidence``);
  a group that expects overlap (a hedged race) must show its branches overlapping in time where
  both ran (otherwise ``structure-conflict``).
- **Failure domains.** Evidence about a component's domain comes from its spans' attributes
  (``emac.provider_domain``, ``emac.failure_domain``) and from deployment observations. Every
  source votes for the value it names (a span-attribute source with the share of spans naming
  each value, a deployment observation with one vote); *agreement* is the leading value's share
  of the votes. Sources that agree set the component's effective domains to that value; sources
  that disagree are a ``domain-conflict``; a member of a redundancy group with no domain evidence
  is ``missing-evidence``. Conflicting or missing evidence for any member of a redundancy group
  is treated as **possible shared fate** (the paper's rule): the group's members are put in one
  magnitude-free domain ``<group>:possible-shared-fate``, which the pessimistic bound A⁻ counts
  as shared, and the group is flagged. Each group's ``relation`` is then
  ``separate_effective_domains``, ``shared_effective_domain`` or ``possible_shared_fate``.
- **Confidence** (documented formula, written into the model)::

      field factor = coverage × agreement × s(n)
      overall      = accepted overall confidence × geometric mean of the field factors (each ≥ 0.01)

  over the fields *edges* (coverage: expected edges seen; agreement: traces whose redundancy
  groups overlap as expected), each redundancy group (coverage: branches seen) and each group
  member's failure domains (coverage: 1 with evidence, else 0; agreement as above).
  s(n) = 1 when every trace-evidence file says ``sampling.mode: deterministic`` (a replay, not a
  sample), else n/(n + 10) for n traces, as in :mod:`emac_sim.discover.stats`.

The decision is the usual :func:`~emac_sim.discover.delta.model_delta` of the candidate against
the accepted journey: REVIEW on low confidence or any flag, else FAIL when A⁻ misses the
objective, else REVIEW on a high-impact ΔA⁻, else PASS.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

from ..model.journey import Journey
from ..spec.accepted import AcceptedModel, RedundancyGroup
from .calls import TraceCalls, _loads, walk_calls
from .evidence import DeploymentEvidence, TraceEvidenceMeta
from .model import DiscoveredJourney
from .spans import Ledger
from .stats import N0

DOMAIN_ATTRIBUTES = ("emac.provider_domain", "emac.failure_domain")
FLOOR = 0.01
CONFIDENCE_FORMULA = (
    "field factor = coverage * agreement * s(n), s(n) = 1 for a deterministic replay else n / (n + 10); "
    "overall = accepted overall confidence * geometric mean of the field factors (each floored at 0.01)"
)
SEPARATE, SHARED, POSSIBLE = "separate_effective_domains", "shared_effective_domain", "possible_shared_fate"


@dataclass
class DomainEvidence:
    """What the evidence says about one component's failure domain."""

    component: str
    votes: Counter = field(default_factory=Counter)  # value -> weight
    sources: list[dict] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "missing" if not self.votes else ("agreed" if len(self.votes) == 1 else "conflicting")

    @property
    def agreement(self) -> float:
        total = sum(self.votes.values())
        return max(self.votes.values()) / total if total else 0.0

    @property
    def value(self) -> str | None:
        return next(iter(self.votes)) if self.status == "agreed" else None


@dataclass
class _Factor:
    field: str
    coverage: float
    agreement: float
    note: str

    def value(self, s: float) -> float:
        return max(FLOOR, self.coverage * self.agreement * s)


def overlay(
    am: AcceptedModel,
    traces: list[TraceCalls],
    inputs: list,
    ledger: Ledger,
    policy: dict[str, Any],
) -> DiscoveredJourney:
    """The candidate model: ``am`` with the evidence laid over it (module docs).

    Parameters
    ----------
    am
        The accepted model over its intent.
    traces
        Usable traces from every trace input.
    inputs
        :class:`~emac_sim.discover.readers.TraceInput` of every file read (trace evidence
        metadata and deployment evidence are taken from them).
    ledger
        Data quality of the trace inputs.
    policy
        The intent's ``evidence.modelDiscovery.coveragePolicy``.
    """
    acc = am.journey
    comp_of = dict(am.services)
    metas = [i.meta for i in inputs if isinstance(i.meta, TraceEvidenceMeta)]
    deployments = [i.meta for i in inputs if isinstance(i.meta, DeploymentEvidence)]
    flags: list[str] = []
    notes: list[str] = []

    # ------------------------------------------------------------------ edges and groups
    observed: Counter[tuple[str, str]] = Counter()
    seen_components: Counter[str] = Counter()
    domain = {c.id: DomainEvidence(c.id) for c in acc.components}
    attr_values: dict[str, Counter] = defaultdict(Counter)
    attr_examples: dict[str, list[str]] = defaultdict(list)
    overlap_ok = overlap_seen = 0
    overlap_bad: list[str] = []
    for t in traces:
        root = comp_of.get(t.service, t.service)
        in_trace: set[tuple[str, str]] = set()
        by_parent: dict[int, list] = defaultdict(list)
        for parent, c in walk_calls(t.calls):
            src = comp_of.get(parent.service, parent.service) if parent is not None else root
            dst = comp_of.get(c.service, c.service)
            in_trace.add((src, dst))
            seen_components[dst] += 1
            by_parent[id(parent)].append((dst, c))
            attrs = _loads(c.attrs)
            for key in DOMAIN_ATTRIBUTES:
                if attrs.get(key):
                    attr_values[dst][str(attrs[key])] += 1
                    if len(attr_examples[dst]) < 3:
                        attr_examples[dst].append(f"{c.trace}/{c.span}")
        observed.update(in_trace)
        for siblings in by_parent.values():
            for g in am.groups:
                if not g.expected_overlap:
                    continue
                calls = [c for dst, c in siblings if dst in g.members]
                if len({comp_of.get(c.service, c.service) for c in calls}) < 2:
                    continue
                overlap_seen += 1
                if any(a.start < b.end and b.start < a.end for i, a in enumerate(calls) for b in calls[i + 1 :]):
                    overlap_ok += 1
                elif len(overlap_bad) < 3:
                    overlap_bad.append(t.trace_id)
    expected = [e for m in metas for e in m.expected_edges] or list(am.edges)
    expected = list(dict.fromkeys(expected))
    seen_expected = [e for e in expected if observed[e]]
    edge_cov = len(seen_expected) / len(expected) if expected else 1.0
    min_cov = float(policy.get("minTraceEdgeCoverage", 0.8))
    missing_edges = [f"{a} -> {b}" for a, b in expected if not observed[(a, b)]]
    if edge_cov < min_cov:
        flags.append(
            f"low-edge-coverage: {len(seen_expected)} of {len(expected)} expected edges seen (coverage {edge_cov:.3f} < "
            f"coveragePolicy.minTraceEdgeCoverage {min_cov:g}); not seen: {', '.join(missing_edges)}"
        )
    elif missing_edges:
        notes.append(f"expected edges not seen: {', '.join(missing_edges)}")
    known = set(acc.component_ids)
    for a, b in sorted(observed):
        if b not in known and (a, b) not in expected:
            flags.append(f"unexpected-edge: {a} -> {b} is called in {observed[(a, b)]} traces but is not in the accepted model")
    if overlap_seen and overlap_ok < overlap_seen:
        flags.append(
            f"structure-conflict: redundancy branches expected to overlap ran one after the other in {overlap_seen - overlap_ok} of "
            f"{overlap_seen} traces (e.g. {', '.join(overlap_bad)})"
        )

    # ------------------------------------------------------------------ domain evidence
    for cid, vals in attr_values.items():
        if cid not in domain:
            continue
        total = sum(vals.values())
        for v, n in vals.items():
            domain[cid].votes[v] += n / total
        domain[cid].sources.append(
            {"source": "span attributes " + "/".join(DOMAIN_ATTRIBUTES), "values": dict(vals), "examples": attr_examples[cid]}
        )
    for dep in deployments:
        for sid, obs in dep.observations.items():
            cid = comp_of.get(sid, sid)
            if cid not in domain:
                notes.append(f"{dep.path}: services.{sid} is not a component of the accepted model (ignored)")
                continue
            for o in obs:
                domain[cid].votes[o.value] += 1.0
                domain[cid].sources.append({"source": f"deployment {o.signal}", "field": o.field, "value": o.value, "where": o.where})

    # ------------------------------------------------------------------ candidate domains
    new_domains: dict[str, list[str]] = {c.id: list(c.domains) for c in acc.components}
    for cid, ev in domain.items():
        if ev.status == "agreed":
            new_domains[cid] = [ev.value]  # type: ignore[list-item]
        elif ev.status == "conflicting":
            vals = ", ".join(f"{v} ({_who(ev, v)})" for v in ev.votes)
            flags.append(f"domain-conflict: evidence for {cid}'s failure domain disagrees: {vals}")
    relations: dict[str, str] = {}
    factors: list[_Factor] = []
    for g in am.groups:
        unseen = [m for m in g.members if not seen_components[m]]
        if unseen:
            why = "coveragePolicy requires every branch" if _requires_branches(policy) else "a redundancy branch without spans"
            flags.append(f"missing-evidence: redundancy group {g.id}: no spans for branch {', '.join(unseen)} ({why})")
        factors.append(_Factor(f"redundancy.{g.id}", (len(g.members) - len(unseen)) / len(g.members), 1.0, "branches seen"))
        unsure = []
        for m in g.members:
            ev = domain[m]
            if ev.status == "missing":
                flags.append(f"missing-evidence: no failure-domain evidence for {m} (redundancy group {g.id})")
                unsure.append(m)
            elif ev.status == "conflicting":
                unsure.append(m)
            factors.append(_Factor(f"failureDomains.{m}", 0.0 if ev.status == "missing" else 1.0, ev.agreement if ev.votes else 1.0, ev.status))
        if unsure:
            relations[g.id] = POSSIBLE
            hyp = f"{g.id}:possible-shared-fate"
            for m in g.members:
                new_domains[m] = list(dict.fromkeys(new_domains[m] + [hyp]))
            flags.append(
                f"possible-shared-fate: redundancy group {g.id} ({', '.join(g.members)}): failure-domain evidence missing or conflicting for "
                f"{', '.join(unsure)}, so the branches are assumed to share fate (domain {hyp!r})"
            )
        else:
            relations[g.id] = _relation(g, new_domains)
        if g.relation and relations[g.id] != g.relation and relations[g.id] != POSSIBLE:
            notes.append(f"redundancy group {g.id}: the accepted model says {g.relation}, the evidence says {relations[g.id]}")

    partial = sum(1 for t in traces if t.partial)
    if partial:
        flags.append(f"partial-traces: {partial} of {len(traces)} traces start at a span whose parent is missing from the trace")
    factors.insert(0, _Factor("edges", edge_cov, overlap_ok / overlap_seen if overlap_seen else 1.0, "expected edges seen; redundancy overlap"))

    # ------------------------------------------------------------------ confidence
    deterministic = bool(metas) and all(m.sampling_mode == "deterministic" for m in metas)
    n = len({t.trace_id.split(":", 1)[0] for t in traces})
    s = 1.0 if deterministic else n / (n + N0)
    prior = acc.confidence if acc.confidence is not None else 1.0
    overall = prior * math.exp(sum(math.log(f.value(s)) for f in factors) / len(factors)) if traces or deployments else 0.0
    overall = round(overall, 6)
    if not traces:
        flags.append("missing-evidence: no usable trace in the evidence")

    candidate = _candidate(acc, new_domains, overall, flags)
    doc = _document(candidate, am, relations, factors, s, deterministic, domain, inputs, ledger, expected, observed, edge_cov, notes)
    return DiscoveredJourney(acc.name, candidate, doc, {}, flags, sorted(set(notes)), len(traces), overall)


def _who(ev: DomainEvidence, value: str) -> str:
    out = []
    for s in ev.sources:
        if s.get("value") == value or value in (s.get("values") or {}):
            out.append(s["source"])
    return ", ".join(out)


def _requires_branches(policy: dict[str, Any]) -> bool:
    return bool(policy.get("requirePaymentBranchCoverage") or policy.get("requireRedundancyBranchCoverage"))


def _relation(g: RedundancyGroup, domains: dict[str, list[str]]) -> str:
    sets = [set(domains[m]) for m in g.members]
    shared = any(sets[i] & sets[j] for i in range(len(sets)) for j in range(i + 1, len(sets)))
    return SHARED if shared else SEPARATE


def _candidate(acc: Journey, domains: dict[str, list[str]], confidence: float, flags: list[str]) -> Journey:
    from ..spec.dump import journey_to_spec
    from ..spec.loader import _Ctx, parse_document

    doc = journey_to_spec(acc)
    spec = doc["spec"]
    names: list[str] = []
    for cid, c in spec["components"].items():
        if domains.get(cid):
            c["failureDomains"] = domains[cid]
            names.extend(domains[cid])
        else:
            c.pop("failureDomains", None)
    rules = {r["name"]: r for r in (spec.get("failureDomains") or {}).get("rules", [])}
    new = {"kind": "inferred", "description": "failure domain named by the evidence"}
    spec["failureDomains"] = {"rules": [rules.get(n) or {"name": n, **new} for n in dict.fromkeys(names)]}
    doc["kind"] = "DiscoveredJourneyModel"
    spec["confidence"] = {"overall": confidence}
    spec["evidenceFlags"] = list(flags)
    j = parse_document(_Ctx(acc.source), doc)
    return replace(j, source=acc.source, inputs=acc.inputs)


def _document(
    j: Journey,
    am: AcceptedModel,
    relations: dict[str, str],
    factors: list[_Factor],
    s: float,
    deterministic: bool,
    domain: dict[str, DomainEvidence],
    inputs: list,
    ledger: Ledger,
    expected: list[tuple[str, str]],
    observed: Counter,
    edge_cov: float,
    notes: list[str],
) -> dict:
    from ..spec.dump import journey_to_spec

    doc = journey_to_spec(j)
    spec = doc["spec"]
    spec["confidence"] = {
        "overall": j.confidence,
        "formula": CONFIDENCE_FORMULA,
        "notes": sorted(set(notes)),
        "fields": {f.field: round(f.value(s), 6) for f in factors},
    }
    spec["redundancy"] = [
        {"id": g.id, "pattern": g.pattern, "group": list(g.members), "relation": relations[g.id], "acceptedRelation": g.relation} for g in am.groups
    ]
    spec["provenance"] = {
        "generator": "emac discover (evidence over the accepted model)",
        "accepted": am.source,
        "inputs": [{"file": i.path, "format": i.format, "spans": i.spans, "sha256": i.sha256} for i in inputs],
        "sampling": {"deterministic": deterministic, "sampleFactor": round(s, 6)},
        "edges": {
            "expected": [list(e) for e in expected],
            "observed": [{"from": a, "to": b, "traces": n} for (a, b), n in sorted(observed.items())],
            "coverage": round(edge_cov, 6),
        },
        "factors": [{"field": f.field, "coverage": round(f.coverage, 6), "agreement": round(f.agreement, 6), "basis": f.note} for f in factors],
        "domainEvidence": {
            cid: {"status": ev.status, "agreement": round(ev.agreement, 6), "votes": dict(ev.votes), "sources": ev.sources}
            for cid, ev in domain.items()
            if ev.votes or cid in {m for g in am.groups for m in g.members}
        },
        "dataQuality": ledger.to_dict(),
    }
    spec["evidenceFlags"] = list(j.evidence_flags)
    return doc
