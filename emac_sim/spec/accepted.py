"""The paper's ``AcceptedJourneyModel`` (``apiVersion: emac.sanity/v1``), read unchanged.

The replay fixtures of arXiv 2602.05458 keep the last accepted model of a journey in this form::

    spec:
      operatorGraph: {expression, root: <operator tree, EmaC syntax; a node may carry an id>}
      topology: {nodes: [{id, type}], edges: [{from, to, callType}]}
      redundancy: [{id, pattern, group: [a, b], semantics, expectedOverlap}]
      failureDomains: {effective: {component: [domain, ...]}, <groupId>Relation: ...}
      confidence: {overall, fields: {...}, basis: [...]}

It carries no availabilities, objectives or policy: those come from the journey's intent (the
``JourneyIntent`` spec, ``--spec``). :func:`load_accepted_model` lays the accepted structure and
effective failure domains over the intent: the operator tree is the accepted one, every component
belongs to exactly its ``effective`` domains (magnitude-free: hypotheses of shared fate, as in the
paper), and availabilities, latency, objectives, governance and evidence policy are the intent's.
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..model.journey import Journey
from .dump import journey_to_spec
from .loader import _Ctx, parse_document, parse_operator
from .yamlio import load_yaml_documents

API_VERSION = "emac.sanity/v1"
KIND = "AcceptedJourneyModel"


@dataclass(frozen=True)
class RedundancyGroup:
    """A redundancy group of the accepted model (``spec.redundancy[]``)."""

    id: str
    pattern: str
    members: tuple[str, ...]
    semantics: str | None = None
    expected_overlap: bool | None = None
    relation: str | None = None  # as the accepted model states it (e.g. separate_effective_domains)


@dataclass(frozen=True)
class AcceptedModel:
    """An ``AcceptedJourneyModel`` laid over its intent."""

    journey: Journey
    source: str
    groups: tuple[RedundancyGroup, ...]
    edges: tuple[tuple[str, str], ...]
    field_confidence: dict[str, float] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)  # span service name -> component id


def is_accepted_model(path: str | os.PathLike) -> bool:
    """True when ``path`` holds one YAML document of kind ``AcceptedJourneyModel``."""
    try:
        head = Path(path).read_text(encoding="utf-8", errors="replace")[: 1 << 16]
    except OSError:
        return False
    return re.search(r"^kind:[ \t]*[\"']?AcceptedJourneyModel\b", head, re.MULTILINE) is not None


def _operator(raw: Any) -> Any:
    """The accepted operator tree in EmaC syntax (a node's ``id`` becomes its ``name``)."""
    if isinstance(raw, dict):
        out = {k: _operator(v) for k, v in raw.items() if k != "id"}
        if "id" in raw and "name" not in raw:
            out["name"] = str(raw["id"])
        return out
    if isinstance(raw, list):
        return [_operator(x) for x in raw]
    return raw


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def load_accepted_model(path: str | os.PathLike, intent: Journey | None) -> AcceptedModel:
    """Read an ``AcceptedJourneyModel`` and lay it over ``intent`` (module docs).

    Parameters
    ----------
    path
        The accepted model file.
    intent
        The journey's ``JourneyIntent`` (``--spec``): availabilities, objectives, policy.

    Raises
    ------
    SpecError
        Malformed model, a component the intent does not define, or no intent given.
    """
    shown = str(path)
    docs = [d for d in load_yaml_documents(path, shown) if d is not None]
    if len(docs) != 1:
        raise SpecError(shown, "", f"expected one {KIND} document, found {len(docs)}")
    ctx = _Ctx(shown)
    doc = ctx.mapping(docs[0], "", "a mapping at the top level")
    if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
        raise ctx.fail("kind", f"expected apiVersion {API_VERSION} and kind {KIND}, got {doc.get('apiVersion')!r} {doc.get('kind')!r}")
    if intent is None:
        raise SpecError(shown, "", f"an {KIND} carries no availabilities, objectives or policy: pass the journey's intent with --spec SPEC")
    meta = ctx.mapping(doc.get("metadata"), "metadata")
    name = ctx.string(meta.get("name"), "metadata.name")
    spec = ctx.mapping(doc.get("spec"), "spec")
    graph = ctx.mapping(spec.get("operatorGraph"), "spec.operatorGraph")
    if "root" not in graph:
        raise ctx.fail("spec.operatorGraph", "needs 'root' (the operator tree)")
    root = _operator(graph["root"])

    base = journey_to_spec(intent)
    comps: dict[str, dict] = base["spec"]["components"]
    parse_operator(ctx, root, "spec.operatorGraph.root", comps)  # paths name the accepted file

    fd = ctx.mapping(spec.get("failureDomains") or {}, "spec.failureDomains")
    effective = ctx.mapping(fd.get("effective") or {}, "spec.failureDomains.effective")
    names: list[str] = []
    for cid, doms in effective.items():
        p = f"spec.failureDomains.effective.{cid}"
        if cid not in comps:
            raise ctx.fail(p, f"{cid!r} is not a component of the intent {intent.name!r}")
        for i, d in enumerate(ctx.sequence(doms, p)):
            names.append(ctx.string(d, f"{p}[{i}]"))
    relations = {_norm(k[: -len("Relation")]): str(v) for k, v in fd.items() if k.endswith("Relation")}

    groups = []
    for i, g in enumerate(ctx.sequence(spec.get("redundancy") or [], "spec.redundancy")):
        p = f"spec.redundancy[{i}]"
        g = ctx.mapping(g, p)
        gid = str(g.get("id") or f"group-{i}")
        members = tuple(ctx.string(m, f"{p}.group[{k}]") for k, m in enumerate(ctx.sequence(g.get("group"), f"{p}.group", nonempty=True)))
        for k, m in enumerate(members):
            if m not in comps:
                raise ctx.fail(f"{p}.group[{k}]", f"{m!r} is not a component of the intent {intent.name!r}")
        overlap = g.get("expectedOverlap")
        groups.append(
            RedundancyGroup(
                gid,
                str(g.get("pattern") or "redundancy"),
                members,
                None if g.get("semantics") is None else str(g["semantics"]),
                overlap if isinstance(overlap, bool) else None,
                relations.get(_norm(gid)),
            )
        )
    topo = spec.get("topology") if isinstance(spec.get("topology"), dict) else {}
    edges = []
    for i, e in enumerate(ctx.sequence(topo.get("edges") or [], "spec.topology.edges")):
        e = ctx.mapping(e, f"spec.topology.edges[{i}]")
        edges.append((str(e.get("from")), str(e.get("to"))))
    conf = spec.get("confidence") if isinstance(spec.get("confidence"), dict) else {}
    fields = {str(k): float(v) for k, v in (conf.get("fields") or {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    out = copy.deepcopy(base)
    out["kind"] = "JourneyIntent"
    labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
    out["metadata"] = {"name": name, **({"labels": {str(k): str(v) for k, v in labels.items()}} if labels else {})}
    s = out["spec"]
    s["operator"] = root
    for cid, c in s["components"].items():
        doms = [str(d) for d in effective.get(cid) or []]
        if doms:
            c["failureDomains"] = doms
        else:
            c.pop("failureDomains", None)
    s["failureDomains"] = {
        "rules": [{"name": n, "kind": "declared", "description": f"effective domain of the accepted model {name}"} for n in dict.fromkeys(names)]
    }
    s.pop("correlation", None)  # a matrix over the intent's domains does not carry over
    overall = conf.get("overall")
    if isinstance(overall, (int, float)) and not isinstance(overall, bool):
        s["confidence"] = {"overall": ctx.probability(overall, "spec.confidence.overall")}
    else:
        s.pop("confidence", None)
    s.pop("evidenceFlags", None)
    journey = parse_document(ctx, out)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    journey = replace(journey, source=shown, inputs=((shown, digest), *intent.inputs))
    services = {}
    for c in journey.components:
        tele = dict(c.extra).get("telemetry")
        svc = ((tele or {}).get("span") or {}).get("service") if isinstance(tele, dict) else None
        services[str(svc) if svc else c.id] = c.id
        services.setdefault(c.id, c.id)
    return AcceptedModel(journey, shown, tuple(groups), tuple(edges), fields, services)
