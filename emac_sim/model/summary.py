"""A plain-data summary of a journey, as ``emac check`` prints it."""

from __future__ import annotations

from .journey import Journey


def summarize(j: Journey) -> dict:
    """JSON-ready description: journey, expression, components, domains, objectives."""
    comps = {}
    for c in j.components:
        comps[c.id] = {
            "kind": c.kind,
            "availability": c.availability,
            "source": c.availability_source,
            "latency": c.latency.to_spec() if c.latency is not None else None,
            "errorLatency": c.error_latency if isinstance(c.error_latency, str) else c.error_latency.to_spec(),
            "failureDomains": list(c.domains),
        }
    domains = {}
    for d in j.domains:
        entry: dict = {"members": list(d.members), "model": d.model, "kind": d.kind}
        if d.model == "gaussian":
            entry.update(rho=d.rho, latencyRho=d.latency_rho)
        elif d.model == "shock":
            entry["probability"] = d.shock_probability(j.availabilities)
            if d.beta is not None:
                entry["beta"] = d.beta
        domains[d.name] = entry
    objectives: dict = {}
    if j.availability_objective:
        objectives["availability"] = {"target": j.availability_objective.target, "windowSeconds": j.availability_objective.window}
    if j.latency_objective:
        lo = j.latency_objective
        objectives["latency"] = {"metric": lo.metric, "thresholdSeconds": lo.threshold, "windowSeconds": lo.window}
    return {
        "journey": j.name,
        "kind": j.kind,
        "source": j.source,
        "expression": j.expression,
        "components": comps,
        "domains": domains,
        "correlationMatrix": list(j.correlation.components) if j.correlation else None,
        "objectives": objectives,
        "latencyModelled": j.latency_modelled,
        "inputs": [{"file": f, "sha256": h} for f, h in j.inputs],
    }
