"""Candidate models for governance (DESIGN §7): a full spec, or a partial discovery overlay.

A candidate is either a complete model (``JourneyIntent`` or a ``DiscoveredJourneyModel`` with
``operator`` and ``components``, as ``emac discover`` writes) or, as in the paper's
``model_discovery/discovered.checkout.yaml``, a *partial* ``DiscoveredJourneyModel`` that only
reports evidence: topology nodes and edges, redundancy groups, failure-domain memberships
(``failureDomains.inferred|declared[]`` with ``members`` and ``confidence``) and an overall
``confidence``. A partial candidate is read as the accepted journey with that evidence laid over
it:

- every domain the evidence names gets exactly the listed members (components leave domains the
  evidence does not put them in); domains it does not name stay as accepted;
- ``confidence.overall`` becomes the candidate's confidence;
- evidence flags (``code: message``) are raised for components of the accepted journey that have
  no topology node (``missing-evidence``), nodes the journey does not model
  (``unmodelled-component``), and a component the evidence puts in domains whose names conflict
  with the accepted assignment while its confidence is below the policy's threshold
  (``domain-conflict``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..model.journey import Journey
from .dump import journey_to_spec
from .loader import _Ctx, load_spec, parse_document
from .yamlio import load_yaml_documents


def _is_partial(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and doc.get("kind") == "DiscoveredJourneyModel"
        and isinstance(doc.get("spec"), dict)
        and "operator" not in doc["spec"]
    )


def load_candidate(path: str | os.PathLike, accepted: Journey, slo_paths: Iterable[str | os.PathLike] = ()) -> Journey:
    """Load a candidate model to judge against ``accepted``.

    Raises
    ------
    emac_sim.errors.SpecError
        The candidate does not load, or its evidence names components the accepted journey
        does not define.
    """
    shown = str(path)
    docs = [d for d in load_yaml_documents(path, shown) if d is not None]
    if len(docs) != 1 or not _is_partial(docs[0]):
        return load_spec(path, slo_paths=slo_paths)
    ctx = _Ctx(shown)
    spec = docs[0]["spec"]
    ids = set(accepted.component_ids)
    flags: list[str] = []

    nodes = spec.get("topology", {}).get("nodes", []) if isinstance(spec.get("topology"), dict) else []
    node_ids = {str(n.get("id")) for n in nodes if isinstance(n, dict) and "id" in n}
    used = set(accepted.root.refs())
    for cid in sorted(used - node_ids):
        flags.append(f"missing-evidence: no topology node for component {cid!r}")
    for nid in sorted(node_ids - ids):
        flags.append(f"unmodelled-component: topology node {nid!r} is not in the accepted journey")

    membership: dict[str, tuple[list[str], float | None, str]] = {}
    fd = spec.get("failureDomains") or {}
    if not isinstance(fd, dict):
        raise ctx.fail("spec.failureDomains", "expected a mapping with inferred/declared lists")
    for kind in ("inferred", "declared"):
        for i, entry in enumerate(fd.get(kind) or []):
            p = f"spec.failureDomains.{kind}[{i}]"
            e = ctx.mapping(entry, p)
            name = ctx.string(e.get("name"), f"{p}.name")
            members = [str(m) for m in ctx.sequence(e.get("members", []), f"{p}.members")]
            for m in members:
                if m not in ids:
                    raise ctx.fail(f"{p}.members", f"{m!r} is not a component of the accepted journey {accepted.name!r}")
            conf = ctx.probability(e["confidence"], f"{p}.confidence") if "confidence" in e else None
            membership[name] = (members, conf, kind)

    threshold = accepted.governance.confidence_threshold
    doc = journey_to_spec(accepted)
    comps = doc["spec"]["components"]
    for name, (members, conf, _) in membership.items():
        for cid, c in comps.items():
            doms = list(c.get("failureDomains", []))
            if cid in members and name not in doms:
                if conf is not None and conf < threshold:
                    flags.append(f"domain-conflict: {name!r} membership of {cid!r} seen with confidence {conf:g}")
                doms.append(name)
            elif cid not in members and name in doms:
                doms.remove(name)
            if doms:
                c["failureDomains"] = doms
            else:
                c.pop("failureDomains", None)
    rules = doc["spec"].setdefault("failureDomains", {"rules": []})["rules"]
    known = {r["name"] for r in rules}
    for name, (_, conf, kind) in membership.items():
        if name not in known:
            rules.append({"name": name, "kind": kind})
        for r in rules:
            if r["name"] == name and conf is not None:
                r["confidence"] = conf

    conf_doc = spec.get("confidence")
    overall = conf_doc.get("overall") if isinstance(conf_doc, dict) else conf_doc
    doc["kind"] = "DiscoveredJourneyModel"
    doc["metadata"] = {"name": accepted.name, **({"labels": dict(accepted.labels)} if accepted.labels else {})}
    doc["spec"].pop("confidence", None)
    if overall is not None:
        doc["spec"]["confidence"] = {"overall": overall}
    if flags:
        doc["spec"]["evidenceFlags"] = flags
    else:
        doc["spec"].pop("evidenceFlags", None)
    journey = parse_document(ctx, doc)
    import dataclasses
    import hashlib

    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return dataclasses.replace(journey, source=shown, inputs=((shown, digest),))


__all__ = ["load_candidate"]
