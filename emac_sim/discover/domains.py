"""Failure domains from trace resource attributes and Kubernetes manifests.

From traces: a component belongs to domain ``<kind>/<value>`` when at least 95 % of its calls ran
with that value of one of these resource attributes:

=========================  =========  ====================================================
attribute                  kind       note
=========================  =========  ====================================================
cloud.availability_zone    zone       also ``k8s.zone``, ``zone``
cloud.region               region     also ``region``
host.name, k8s.node.name   host       also ``host.ip`` (Zipkin ``localEndpoint.ipv4``)
cloud.provider             cloud
k8s.cluster.name           cluster
emac.failure_domains       (name)     explicit names (written by the synthetic trace writer)
=========================  =========  ====================================================

A component spread over several values (replicas in several zones) is *not* put in any of them:
spreading is what protects it. Domains derived from standard attributes are kept when they have
at least two members (one member shares fate with nobody); explicit ones always. A standard
domain with the same members as an explicit one is folded into it.

From Kubernetes manifests (``--k8s DIR``): Deployments, StatefulSets, DaemonSets, ReplicaSets and
Pods matched to components by name or ``app``/``app.kubernetes.io/name`` label; the zone and
region come from ``nodeSelector``, required node affinity with one value, or the Node a Pod is
bound to; ``topologySpreadConstraints`` over zones mark the workload as spread; ``spec.replicas``
is recorded. Each value carries ``file:field`` provenance. A zone from the manifests that
contradicts the zone seen in traces is a *domain conflict* (an evidence flag).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..spec.yamlio import MAX_FILE_BYTES, load_yaml_text, read_input_bytes
from .calls import Call
from .stats import Evidence

ATTRIBUTE_KINDS: dict[str, str] = {
    "cloud.availability_zone": "zone",
    "k8s.zone": "zone",
    "zone": "zone",
    "cloud.region": "region",
    "region": "region",
    "host.name": "host",
    "k8s.node.name": "host",
    "host.ip": "host",
    "cloud.provider": "cloud",
    "k8s.cluster.name": "cluster",
}
EXPLICIT = "emac.failure_domains"
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
REGION_LABELS = ("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region")
SHARE = 0.95


@dataclass
class InferredDomain:
    """A failure domain proposed by discovery."""

    name: str
    members: list[str]
    source: str  # "traces" or "kubernetes" or "traces+kubernetes"
    key: str
    evidence: Evidence
    provenance: list[str] = field(default_factory=list)


def _explicit_names(v: str) -> list[str]:
    v = v.strip()
    if v.startswith("["):
        try:
            arr = json.loads(v)
            return [str(x) for x in arr]
        except ValueError:
            pass
    return [x.strip() for x in v.split(",") if x.strip()]


def domains_from_traces(calls_by_key: dict[str, list[Call]]) -> tuple[list[InferredDomain], dict[str, dict[str, str]], list[str]]:
    """Domains from resource attributes.

    Returns
    -------
    (domains, labels, notes)
        ``labels``: per component, the dominant value of each attribute seen (for topology).
    """
    cache: dict[str, dict] = {}
    per_comp: dict[str, Counter] = {}
    explicit: dict[str, Counter] = {}
    examples: dict[tuple[str, str], list[str]] = defaultdict(list)
    labels: dict[str, dict[str, str]] = {}
    notes: list[str] = []
    for key, calls in calls_by_key.items():
        cnt: Counter = Counter()
        exp: Counter = Counter()
        by_res: dict[str, list[Call]] = defaultdict(list)
        for c in calls:
            by_res[c.resource].append(c)
        for res, cs in by_res.items():
            r = cache.get(res)
            if r is None:
                try:
                    r = json.loads(res) if res else {}
                except ValueError:
                    r = {}
                cache[res] = r = r if isinstance(r, dict) else {}
            ex = [f"{c.trace}/{c.span}" for c in cs[:3]]
            for attr in ATTRIBUTE_KINDS:
                v = r.get(attr)
                if v:
                    cnt[(attr, str(v))] += len(cs)
                    examples[(attr, str(v))].extend(ex[: 3 - len(examples[(attr, str(v))])])
            if r.get(EXPLICIT):
                for nm in _explicit_names(str(r[EXPLICIT])):
                    exp[nm] += len(cs)
                    examples[(EXPLICIT, nm)].extend(ex[: 3 - len(examples[(EXPLICIT, nm)])])
        per_comp[key] = cnt
        explicit[key] = exp
        lab = {}
        by_attr: dict[str, Counter] = defaultdict(Counter)
        for (attr, v), n in cnt.items():
            by_attr[attr][v] += n
        for attr, vs in by_attr.items():
            v, n = vs.most_common(1)[0]
            lab[attr] = v if n >= SHARE * len(calls) else ",".join(sorted(vs))
            if len(vs) > 1 and n < SHARE * len(calls):
                notes.append(f"{key} runs in several {ATTRIBUTE_KINDS[attr]}s ({', '.join(sorted(vs))}): not assigned to one")
        labels[key] = lab
    members: dict[tuple[str, str], list[tuple[str, float, float, int]]] = defaultdict(list)
    for key, cnt in per_comp.items():
        n = len(calls_by_key[key])
        by_attr = defaultdict(Counter)
        for (attr, v), k in cnt.items():
            by_attr[attr][v] += k
        for attr, vs in by_attr.items():
            v, k = vs.most_common(1)[0]
            tot = sum(vs.values())
            if k >= SHARE * tot:
                members[(attr, v)].append((key, k / tot, tot / n, n))
    out: list[InferredDomain] = []
    for key, exp in explicit.items():
        n = len(calls_by_key[key])
        for nm, k in exp.items():
            if k >= SHARE * n:
                members[(EXPLICIT, nm)].append((key, k / n, 1.0, n))
    for (attr, v), mem in sorted(members.items()):
        if attr != EXPLICIT and len(mem) < 2:
            continue
        name = v if attr == EXPLICIT else f"{ATTRIBUTE_KINDS[attr]}/{v}"
        ev = Evidence(
            min(m[3] for m in mem),
            min(m[2] for m in mem),
            min(m[1] for m in mem),
            examples[(attr, v)],
            {"attribute": attr, "value": v, "members": {m[0]: round(m[1], 6) for m in mem}},
            what="failure domain (shared resource attribute)",
        )
        out.append(InferredDomain(name, sorted(m[0] for m in mem), "traces", attr, ev, [f"resource attribute {attr}={v}"]))
    # fold standard-attribute domains into explicit ones with the same members
    explicit_sets = {frozenset(d.members): d for d in out if d.key == EXPLICIT}
    kept = []
    for d in out:
        twin = explicit_sets.get(frozenset(d.members))
        if d.key != EXPLICIT and twin is not None:
            twin.provenance.append(f"same members as resource attribute {d.key}={d.evidence.values['value']}")
            continue
        kept.append(d)
    return kept, labels, sorted(set(notes))


# --------------------------------------------------------------------------- kubernetes


@dataclass
class Workload:
    name: str
    file: str
    kind: str
    replicas: int | None = None
    replicas_field: str | None = None
    zones: list[str] = field(default_factory=list)
    zone_field: str | None = None
    regions: list[str] = field(default_factory=list)
    region_field: str | None = None
    spread: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    node: str | None = None


def _docs(path: Path) -> list[tuple[str, Any]]:
    if not path.exists():
        raise SpecError(str(path), "", "no such file or directory")
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in (".yaml", ".yml", ".json") and p.is_file()) if path.is_dir() else [path]
    if not files:
        raise SpecError(str(path), "", "no YAML or JSON manifests found")
    out = []
    for f in files:
        data = read_input_bytes(f, str(f), MAX_FILE_BYTES)  # no FIFOs or devices, bounded size
        try:
            text = data.decode("utf-8")
            docs = load_yaml_text(text, str(f)) if f.suffix.lower() != ".json" else [json.loads(text)]
        except SpecError as exc:  # YAML syntax, duplicate keys, alias bombs: one line with the line number
            raise SpecError(str(f), exc.path, f"invalid manifest: {exc.message}") from None
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise SpecError(str(f), "", f"invalid manifest: {(str(exc).splitlines() or ['nested too deeply'])[0]}") from None
        for d in docs:
            if isinstance(d, dict) and d.get("kind") == "List" and isinstance(d.get("items"), list):
                out.extend((str(f), x) for x in d["items"])
            elif d is not None:
                out.append((str(f), d))
    return out


def _affinity_values(pod_spec: dict, labels: tuple[str, ...]) -> tuple[list[str], str | None]:
    sel = pod_spec.get("nodeSelector") or {}
    for lab in labels:
        if lab in sel:
            return [str(sel[lab])], f"nodeSelector[{lab}]"
    terms = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms"
    ) or []
    for ti, term in enumerate(terms):
        for ei, ex in enumerate((term or {}).get("matchExpressions") or []):
            if ex.get("key") in labels and ex.get("operator") == "In":
                return [
                    str(v) for v in ex.get("values") or []
                ], f"affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[{ti}].matchExpressions[{ei}]"
    return [], None


def read_kubernetes(path: str | Path) -> tuple[list[Workload], dict[str, dict[str, str]]]:
    """Workloads (with zone/region/replicas and provenance) and Node labels from manifests."""
    docs = _docs(Path(path))
    nodes: dict[str, dict[str, str]] = {}
    loads: list[Workload] = []
    for f, d in docs:
        if not isinstance(d, dict):
            continue
        kind = d.get("kind")
        meta = d.get("metadata") or {}
        name = meta.get("name")
        if not name:
            continue
        if kind == "Node":
            nodes[str(name)] = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
            continue
        spec = d.get("spec") or {}
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
            tmpl = spec.get("template") or {}
            pod = tmpl.get("spec") or {}
            labels = {str(k): str(v) for k, v in ((tmpl.get("metadata") or {}).get("labels") or meta.get("labels") or {}).items()}
            prefix = "spec.template.spec."
            replicas = spec.get("replicas", 1 if kind != "DaemonSet" else None)
            rfield = "spec.replicas" if "replicas" in spec else None
        elif kind == "Pod":
            pod = spec
            labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
            prefix = "spec."
            replicas, rfield = 1, None
        else:
            continue
        w = Workload(str(name), f, str(kind), int(replicas) if isinstance(replicas, int) else None, rfield, labels=labels)
        w.zones, zf = _affinity_values(pod, ZONE_LABELS)
        w.zone_field = f"{prefix}{zf}" if zf else None
        w.regions, rf = _affinity_values(pod, REGION_LABELS)
        w.region_field = f"{prefix}{rf}" if rf else None
        for i, tsc in enumerate(pod.get("topologySpreadConstraints") or []):
            if (tsc or {}).get("topologyKey") in ZONE_LABELS:
                w.spread = f"{prefix}topologySpreadConstraints[{i}]"
        w.node = pod.get("nodeName")
        loads.append(w)
    for w in loads:
        if w.node and w.node in nodes and not w.zones:
            nl = nodes[w.node]
            for lab in ZONE_LABELS:
                if lab in nl:
                    w.zones, w.zone_field = [nl[lab]], f"spec.nodeName → Node {w.node} label {lab}"
            for lab in REGION_LABELS:
                if lab in nl:
                    w.regions, w.region_field = [nl[lab]], f"spec.nodeName → Node {w.node} label {lab}"
    return loads, nodes


def match_workload(component: str, service: str, loads: list[Workload]) -> Workload | None:
    """The workload of a component: same name as its service, or an ``app`` label naming it."""
    for w in loads:
        if w.name == service:
            return w
    for w in loads:
        for lab in ("app.kubernetes.io/name", "app", "k8s-app", "service"):
            if w.labels.get(lab) == service:
                return w
    for w in loads:
        if w.name == component:
            return w
    return None
