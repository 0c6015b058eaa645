"""Journey → EmaC YAML (resolved: inline availabilities, canonical distribution parameters).

``load_spec(dump) == journey`` for every valid journey (tested), which is what lets discovery and
what-if studies write specs that every other command reads.
"""

from __future__ import annotations

import math
from typing import Any

import yaml

from ..model.journey import Domain, Journey, Node, Ref
from .loader import API_VERSION


def node_to_spec(node: Node) -> dict:
    """One operator node as its YAML mapping (each operator's ``dump``)."""
    if isinstance(node, Ref):
        return {"ref": node.component}
    return node.dump(node_to_spec)  # type: ignore[attr-defined]


def journey_to_spec(j: Journey) -> dict:
    """The journey as a ``JourneyIntent`` (or ``DiscoveredJourneyModel``) mapping."""
    spec: dict[str, Any] = {}
    obj: dict[str, Any] = {}
    if j.availability_objective:
        a = j.availability_objective
        obj["availability"] = {"window": a.window, "target": a.target}
        if a.good_query or a.total_query:
            obj["availability"]["sli"] = {k: v for k, v in (("goodEventQuery", a.good_query), ("totalEventQuery", a.total_query)) if v}
    if j.latency_objective:
        lo = j.latency_objective
        obj["latency"] = {"window": lo.window, "objective": {"metric": lo.metric, "threshold": lo.threshold}}
        if lo.promql:
            obj["latency"]["evidence"] = {"promql": lo.promql}
    if obj:
        spec["objectives"] = obj
    spec["operator"] = node_to_spec(j.root)
    comps: dict[str, Any] = {}
    for c in j.components:
        cd: dict[str, Any] = {"kind": c.kind, "availability": c.availability}
        if c.latency is not None:
            cd["latency"] = c.latency.to_spec()
        if c.error_latency != "same":
            cd["errorLatency"] = c.error_latency if isinstance(c.error_latency, str) else c.error_latency.to_spec()
        if c.domains:
            cd["failureDomains"] = list(c.domains)
        if c.capacity is not None:
            cd["capacity"] = {"replicas": c.capacity.replicas, "serviceTime": c.capacity.service_time.to_spec()}
        for k, v in c.extra:
            cd[k] = v
        comps[c.id] = cd
    spec["components"] = comps
    rules = []
    for dom in j.domains[: _explicit_domain_count(j)]:
        r: dict[str, Any] = {"name": dom.name, "kind": dom.kind}
        if dom.description:
            r["description"] = dom.description
        for k, v in dom.extra:
            r[k] = v
        if dom.confidence is not None:
            r["confidence"] = dom.confidence
        listed = tuple(c.id for c in j.components if dom.name in c.domains)
        if tuple(dom.members) != listed:  # members named only by the rule itself
            r["members"] = list(dom.members)
        if dom.model == "gaussian":
            r["correlation"] = {"model": "gaussian", "rho": dom.rho, "latencyRho": dom.latency_rho}
        elif dom.model == "shock":
            r["correlation"] = {"model": "shock", **({"probability": dom.probability} if dom.probability is not None else {"beta": dom.beta})}
        rules.append(r)
    if rules:
        spec["failureDomains"] = {"rules": rules}
    if j.correlation is not None:
        cm: dict[str, Any] = {"components": list(j.correlation.components), "matrix": [list(r) for r in j.correlation.matrix]}
        if j.correlation.latency_matrix is not None:
            cm["latencyMatrix"] = [list(r) for r in j.correlation.latency_matrix]
        spec["correlation"] = cm
    spec["governance"] = _governance_to_spec(j)
    ev = j.evidence
    if ev.discovery_enabled or ev.coverage_policy or ev.discovered_model_ref or ev.evidence_window:
        md: dict[str, Any] = {"enabled": ev.discovery_enabled}
        if ev.evidence_window is not None:
            md["evidenceWindow"] = ev.evidence_window
        if ev.coverage_policy:
            md["coveragePolicy"] = dict(ev.coverage_policy)
        if ev.discovered_model_ref:
            md["discoveredModelRef"] = ev.discovered_model_ref
        spec["evidence"] = {"modelDiscovery": md}
    if j.load_rate is not None:
        spec["load"] = {"rate": j.load_rate}
    if j.confidence is not None:
        spec["confidence"] = {"overall": j.confidence}
    if j.evidence_flags:
        spec["evidenceFlags"] = list(j.evidence_flags)
    meta: dict[str, Any] = {"name": j.name}
    if j.labels:
        meta["labels"] = dict(j.labels)
    return {"apiVersion": API_VERSION, "kind": j.kind, "metadata": meta, "spec": spec}


def _explicit_domain_count(j: Journey) -> int:
    """Domains that need a rule: all but the trailing ones the loader recreates from components.

    The loader lists rule domains first, then domains only named in ``failureDomains`` of
    components (kind ``implicit``); writing a rule for the latter would be noise.
    """

    def recreated(dom: Domain) -> bool:
        listed = tuple(c.id for c in j.components if dom.name in c.domains)
        plain = dom.model == "none" and dom.confidence is None and not dom.description and not dom.extra
        return dom.kind == "implicit" and plain and bool(listed) and tuple(dom.members) == listed

    n = len(j.domains)
    while n > 0 and recreated(j.domains[n - 1]):
        n -= 1
    return n


def _governance_to_spec(j: Journey) -> dict:
    g = j.governance
    d: dict[str, Any] = {
        "evaluationMode": g.evaluation_mode,
        "useBoundsForAutomation": {"availability": g.availability_bound, "latency": g.latency_bound},
        "confidenceThreshold": g.confidence_threshold,
        "deltaThreshold": g.delta_threshold,
    }
    alerts: dict[str, Any] = {"sloBudgetWindow": g.budget_window}
    if g.sloth_compatible:
        alerts["slothCompatible"] = True
    if g.burn_rates_declared:
        pol: dict[str, list] = {}
        for w in g.burn_rates:
            pol.setdefault(w.severity, []).append({"burnRate": w.burn_rate, "longWindow": w.long_window, "shortWindow": w.short_window})
        alerts["burnRatePolicy"] = pol
    d["alerts"] = alerts
    gate: dict[str, Any] = {"maxCanaryBurnRate": g.max_canary_burn_rate}
    if g.max_p99_latency is not None:
        gate["maxP99LatencySeconds"] = g.max_p99_latency
    d["progressiveDelivery"] = {"provider": g.delivery_provider, "gate": gate}
    if g.actions:
        d["actions"] = [
            {
                "kind": a.kind,
                **({"guard": a.guard} if a.guard else {}),
                **({"parameterBounds": dict(a.parameter_bounds)} if a.parameter_bounds else {}),
                **({"rollback": dict(a.rollback)} if a.rollback else {}),
                **({"rateLimit": dict(a.rate_limit)} if a.rate_limit else {}),
            }
            for a in g.actions
        ]
    return d


class _Dumper(yaml.SafeDumper):
    pass


def _float_repr(dumper: yaml.SafeDumper, value: float) -> yaml.Node:
    # repr() round-trips exactly; YAML needs .inf/.nan spelled its way
    if math.isinf(value):
        return dumper.represent_scalar("tag:yaml.org,2002:float", ".inf" if value > 0 else "-.inf")
    if math.isnan(value):
        return dumper.represent_scalar("tag:yaml.org,2002:float", ".nan")
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"  # YAML 1.1 reads 1e-05 as a string, 1.0e-05 as a float
    text = mantissa + e + exponent
    return dumper.represent_scalar("tag:yaml.org,2002:float", text)


_Dumper.add_representer(float, _float_repr)


def dump_yaml(data: Any) -> str:
    """Deterministic YAML text (insertion order kept, exact floats, no aliases)."""
    _Dumper.ignore_aliases = lambda self, data: True  # type: ignore[method-assign]
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def dump_spec(j: Journey) -> str:
    """The journey as EmaC YAML text."""
    return dump_yaml(journey_to_spec(j))
