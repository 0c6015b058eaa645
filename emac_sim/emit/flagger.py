"""Flagger resources for the journey's canary gate: ``MetricTemplate`` documents and a ``Canary``.

One template per check, as Flagger evaluates one query per metric: the canary burn rate (the
journey error ratio over ``{{ interval }}`` divided by the error budget), each latency gate, and
each guarded action (the guard compiled to PromQL over the recorded bound series; 1 when it
holds). The ``Canary`` (``flagger/canary.yaml``) references every template with its
``thresholdRange`` and steps the canary weight by at most ``parameterBounds.maxTrafficStep``
(``stepWeights``, as the Argo rollout snippet does); its ``targetRef`` names the Deployment
(:attr:`EmitOptions.canary_target`, default: the journey's name).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .argo import step_weights
from .derivation import Derivation
from .prometheus import _k8s_name, _ratio_text, canary_error_ratio_template, guard_query, k8s_metadata, latency_gates, latency_query
from .sloth import prom_duration, replace_window
from .yamltext import dump, dump_all

FLAGGER_API = "flagger.app/v1beta1"
FLAGGER_INTERVAL = "{{ interval }}"


def _template(d: Derivation, name: str, query: str) -> dict[str, Any]:
    return {
        "apiVersion": FLAGGER_API,
        "kind": "MetricTemplate",
        "metadata": k8s_metadata(d, name),
        "spec": {"provider": {"type": "prometheus", "address": d.options.prometheus_address}, "query": query},
    }


def metric_templates(d: Derivation) -> list[tuple[dict[str, Any], dict[str, float]]]:
    """(MetricTemplate, ``thresholdRange``) pairs: what the Canary's analysis checks."""
    j = d.journey
    g = j.governance
    base = f"emac-{_k8s_name(j.name)}"
    out: list[tuple[dict[str, Any], dict[str, float]]] = []
    if j.availability_objective is not None:
        budget = _ratio_text(float(Decimal(1) - Decimal(repr(j.availability_objective.target))))
        ratio = replace_window(canary_error_ratio_template(j, d.options.canary_matcher), FLAGGER_INTERVAL)
        inner = "\n".join("  " + line for line in ratio.splitlines())
        query = f"(\n{inner}\n)\n/\n{budget}\n"
        out.append((_template(d, f"{base}-burn-rate", query), {"max": g.max_canary_burn_rate}))
    for metric, threshold in latency_gates(j):
        q = latency_query(j, FLAGGER_INTERVAL, d.options.canary_matcher, metric)
        out.append((_template(d, f"{base}-latency-{metric}", q + "\n"), {"max": threshold}))
    for i, a in enumerate(g.actions):
        if a.guard:
            suffix = f"-{i}" if sum(x.kind == a.kind for x in g.actions) > 1 else ""
            out.append((_template(d, f"{base}-guard-{_k8s_name(a.kind)}{suffix}", guard_query(d, a.guard)), {"min": 1}))
    return out


def canary(d: Derivation) -> dict[str, Any]:
    """The Flagger ``Canary`` that runs the journey gate on every rollout of the target."""
    o = d.options
    interval = prom_duration(o.analysis_interval)
    metrics = [
        {"name": doc["metadata"]["name"], "templateRef": {"name": doc["metadata"]["name"]}, "thresholdRange": dict(rng), "interval": interval}
        for doc, rng in metric_templates(d)
    ]
    for m in metrics:
        if o.namespace:
            m["templateRef"]["namespace"] = o.namespace
    return {
        "apiVersion": FLAGGER_API,
        "kind": "Canary",
        "metadata": k8s_metadata(d, f"emac-{_k8s_name(d.journey.name)}"),
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": o.canary_target or _k8s_name(d.journey.name)},
            "service": {"port": o.service_port},
            "analysis": {
                "interval": interval,
                # two failed checks roll back, as the Argo template's failureLimit 1 does; a guard
                # over recorded constants fails every check, so it blocks by the second
                "threshold": 2,
                "stepWeights": step_weights(d),
                "metrics": metrics,
            },
        },
    }


def metric_templates_text(d: Derivation) -> str:
    items = metric_templates(d)
    note = "# Flagger MetricTemplates for the journey gate, referenced with their thresholds by canary.yaml.\n"
    return note + (dump_all([doc for doc, _ in items]) if items else "")


def canary_text(d: Derivation) -> str:
    return dump(canary(d))
