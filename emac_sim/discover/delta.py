"""``ModelDelta``: what discovery changes against the last accepted model, its predicted effect
on A⁻, and the governance decision (DESIGN §7–8).

Typed changes (``spec.changes[]``, each with ``type``, what changed, accepted and candidate
values, and whether the evidence contradicts the accepted value):

- ``edgeAdded`` / ``edgeRemoved``: a component called in one model and not the other;
- ``branchProbability``: a ``choice`` weight or ``optional`` probability; ``significant`` when
  the accepted value lies outside the candidate's interval;
- ``redundancyGroup``: a race / parallel any / quorum / fallback / retry group added, removed
  or with other parameters (hedge delay, k, attempts);
- ``failureDomainAssignment``: a component joins or leaves a failure domain;
- ``latencyShift``: a component's p50 or p99 moves by more than 10 %;
- ``availabilityChange``: the accepted availability lies outside the candidate's interval;
- ``operatorChange``: the operator expression differs.

The predicted effect compares :func:`emac_sim.analytic.bounds` of both models (A⁻ is the
pessimistic bound). The decision is :func:`emac_sim.govern.decide` for the candidate under the
accepted policy.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..model.journey import Journey, Node

LATENCY_SHIFT = 0.10


def _nodes(n: Node) -> Iterator[Node]:
    yield from n.walk()


def _refset(n: Node) -> frozenset[str]:
    return frozenset(n.refs())


def _groups(j: Journey) -> dict[tuple[str, frozenset], dict]:
    """Redundancy groups (each operator's ``redundancy``) keyed by kind and the components below."""
    out = {}
    for n in _nodes(j.root):
        group = None if n.is_leaf else n.redundancy()  # type: ignore[attr-defined]
        if group is not None:
            kind, params = group
            out[(kind, _refset(n))] = params
    return out


def _choices(j: Journey) -> list[tuple[str, frozenset, float]]:
    """(kind, branch refs, probability) for every choice branch and optional step."""
    out = []
    for n in _nodes(j.root):
        if not n.is_leaf:
            out += [(kind, _refset(b), p) for kind, b, p in n.branch_probabilities()]  # type: ignore[attr-defined]
    return out


def _field_interval(doc: dict, kind: str, refs: frozenset, journey: Journey) -> list[float] | None:
    """The candidate's interval for a choice branch or optional step (from provenance.fields)."""
    fields = ((doc.get("spec") or {}).get("provenance") or {}).get("fields") or {}
    for path, node in _ir_paths(journey.root, "spec.operator"):
        splits = [] if node.is_leaf else node.branch_probabilities()  # type: ignore[attr-defined]
        for i, (k, b, _) in enumerate(splits):
            if k == kind and _refset(b) == refs:
                v = (fields.get(path) or {}).get("values") or {}
                if kind == "optional":
                    return v.get("interval")
                iv = v.get("intervals")
                return iv[i] if iv and i < len(iv) else None
    return None


def _ir_paths(n: Node, path: str) -> Iterator[tuple[str, Node]]:
    """Nodes with their paths in the YAML document (each operator's ``spec_children``)."""
    yield path, n
    if not n.is_leaf:
        for name, c in n.spec_children():  # type: ignore[attr-defined]
            yield from _ir_paths(c, f"{path}.{name}")


def diff(accepted: Journey, candidate: Journey, candidate_doc: dict) -> list[dict]:
    """Typed changes from ``accepted`` to ``candidate`` (module docs)."""
    changes: list[dict] = []
    a_refs, c_refs = set(accepted.root.refs()), set(candidate.root.refs())
    entry = accepted.name
    for comp in sorted(c_refs - a_refs):
        changes.append({"type": "edgeAdded", "from": entry, "to": comp})
    for comp in sorted(a_refs - c_refs):
        changes.append({"type": "edgeRemoved", "from": entry, "to": comp})
    if accepted.expression != candidate.expression:
        changes.append({"type": "operatorChange", "accepted": accepted.expression, "candidate": candidate.expression})
    # branch probabilities
    cand_choices = _choices(candidate)
    for kind, refs, p in _choices(accepted):
        match = next((x for x in cand_choices if x[0] == kind and x[1] == refs), None)
        if match is None:
            continue
        iv = _field_interval(candidate_doc, kind, refs, candidate)
        if abs(match[2] - p) > 1e-12:
            ch = {"type": "branchProbability", "operator": kind, "branch": sorted(refs), "accepted": p, "candidate": match[2]}
            if iv:
                ch["interval"] = iv
                ch["significant"] = not (iv[0] <= p <= iv[1])
            changes.append(ch)
    # redundancy groups
    ga, gc = _groups(accepted), _groups(candidate)
    for key in sorted(set(ga) | set(gc), key=lambda k: (k[0], sorted(k[1]))):
        pat, refs = key
        if key not in gc:
            changes.append({"type": "redundancyGroup", "change": "removed", "pattern": pat, "group": sorted(refs), "accepted": ga[key]})
        elif key not in ga:
            changes.append({"type": "redundancyGroup", "change": "added", "pattern": pat, "group": sorted(refs), "candidate": gc[key]})
        elif ga[key] != gc[key]:
            changes.append(
                {"type": "redundancyGroup", "change": "parameters", "pattern": pat, "group": sorted(refs), "accepted": ga[key], "candidate": gc[key]}
            )
    # per component: domains, latency, availability
    cand_comps = {c.id: c for c in candidate.components}
    for c in accepted.components:
        d = cand_comps.get(c.id)
        if d is None:
            continue
        added, removed = sorted(set(d.domains) - set(c.domains)), sorted(set(c.domains) - set(d.domains))
        if added or removed:
            changes.append({"type": "failureDomainAssignment", "component": c.id, "added": added, "removed": removed})
        if c.latency is not None and d.latency is not None:
            qa = [float(v) for v in c.latency.ppf(np.array([0.5, 0.99]))]
            qc = [float(v) for v in d.latency.ppf(np.array([0.5, 0.99]))]
            rel = [(b - a) / a if a > 0 else 0.0 for a, b in zip(qa, qc)]
            if max(abs(r) for r in rel) > LATENCY_SHIFT:
                changes.append(
                    {
                        "type": "latencyShift",
                        "component": c.id,
                        "p50Seconds": {"accepted": qa[0], "candidate": qc[0], "relative": rel[0]},
                        "p99Seconds": {"accepted": qa[1], "candidate": qc[1], "relative": rel[1]},
                    }
                )
        prov = dict(d.extra).get("provenance") or {}
        iv = ((prov.get("availability") or {}).get("interval")) if isinstance(prov, dict) else None
        if iv and not (iv[0] <= c.availability <= iv[1]):
            changes.append({"type": "availabilityChange", "component": c.id, "accepted": c.availability, "candidate": d.availability, "interval": iv})
    return changes


def _line(ch: dict) -> str:
    t = ch["type"]
    if t in ("edgeAdded", "edgeRemoved"):
        return f"{t}: {ch['from']} -> {ch['to']}"
    if t == "operatorChange":
        return f"operatorChange: {ch['accepted']} -> {ch['candidate']}"
    if t == "branchProbability":
        return f"branchProbability: {ch['operator']} {ch['branch']} {ch['accepted']:.4g} -> {ch['candidate']:.4g}"
    if t == "redundancyGroup":
        return f"redundancyGroup {ch['change']}: {ch['pattern']} {ch['group']}"
    if t == "failureDomainAssignment":
        return f"failureDomainAssignment: {ch['component']} +{ch['added']} -{ch['removed']}"
    if t == "latencyShift":
        return f"latencyShift: {ch['component']} p99 {ch['p99Seconds']['relative']:+.1%}"
    return f"{t}: {ch.get('component', '')} {ch.get('accepted')} -> {ch.get('candidate')}"


def model_delta(accepted: Journey, discovered: Any, accepted_path: str) -> dict:
    """The ``ModelDelta`` document for a discovered journey against the accepted spec.

    Parameters
    ----------
    accepted
        The accepted spec (``JourneyIntent``).
    discovered
        A :class:`~emac_sim.discover.model.DiscoveredJourney`.
    accepted_path
        Where the accepted spec was read from (provenance).
    """
    cand: Journey = discovered.journey
    changes = diff(accepted, cand, discovered.document)
    from ..analytic import bounds
    from ..govern import CandidateEvidence, decide

    notes: list[str] = []
    b_acc = bounds(accepted)
    b_cand = bounds(cand)
    aa, ac = b_acc.availability, b_cand.availability
    effect: dict = {
        "aMinus": {"accepted": aa.pessimistic, "candidate": ac.pessimistic, "delta": ac.pessimistic - aa.pessimistic},
        "aPlus": {"accepted": aa.independent, "candidate": ac.independent, "delta": ac.independent - aa.independent},
    }
    if accepted.availability_objective is not None:
        t = accepted.availability_objective.target
        effect["objective"] = t
        effect["candidateMeetsObjective"] = ac.pessimistic >= t
    ev = CandidateEvidence.from_models(accepted, b_acc, cand, b_cand, changes=tuple(_line(c) for c in changes))
    governance = decide(accepted, b_acc, candidate=ev).to_dict()
    return {
        "apiVersion": "emac.dev/v1alpha1",
        "kind": "ModelDelta",
        "metadata": {"name": f"{cand.name}-delta", "labels": {"journey": cand.name}},
        "spec": {
            "journey": cand.name,
            "accepted": accepted_path,
            "candidateConfidence": cand.confidence,
            "evidenceFlags": list(cand.evidence_flags),
            "changes": changes,
            "predictedEffect": effect,
            "governance": governance,
            "notes": notes,
        },
    }
