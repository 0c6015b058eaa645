"""Flagger ``MetricTemplate`` documents (prometheus provider) for the journey's canary gate.

One template per check, as Flagger evaluates one query per metric: the canary burn rate (the
journey error ratio over ``{{ interval }}`` divided by the error budget), each latency gate, and
each guarded action (the guard compiled to PromQL; 1 when it holds). The thresholds belong in the
Canary resource (``thresholdRange``); the comment block above the documents lists them.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..govern.guard import to_promql
from .derivation import Derivation
from .prometheus import _k8s_label_value, _k8s_name, _ratio_text, bound_series, canary_error_ratio_template, latency_gates, latency_query
from .sloth import replace_window
from .yamltext import dump_all

FLAGGER_INTERVAL = "{{ interval }}"


def _template(d: Derivation, name: str, query: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if d.options.namespace:
        meta["namespace"] = d.options.namespace
    meta["labels"] = {"app.kubernetes.io/managed-by": "emac-sim", "emac.dev/journey": _k8s_label_value(d.journey.name)}
    meta["annotations"] = {"emac.dev/provenance": f"sha256:{d.digest}"}
    return {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "MetricTemplate",
        "metadata": meta,
        "spec": {"provider": {"type": "prometheus", "address": d.options.prometheus_address}, "query": query},
    }


def metric_templates(d: Derivation) -> list[tuple[dict[str, Any], str]]:
    """(MetricTemplate, thresholdRange hint) pairs."""
    j = d.journey
    g = j.governance
    base = f"emac-{_k8s_name(j.name)}"
    out: list[tuple[dict[str, Any], str]] = []
    if j.availability_objective is not None:
        budget = _ratio_text(float(Decimal(1) - Decimal(repr(j.availability_objective.target))))
        ratio = replace_window(canary_error_ratio_template(j, d.options.canary_matcher), FLAGGER_INTERVAL)
        inner = "\n".join("  " + line for line in ratio.splitlines())
        query = f"(\n{inner}\n)\n/\n{budget}\n"
        out.append((_template(d, f"{base}-burn-rate", query), f"thresholdRange: {{max: {_ratio_text(g.max_canary_burn_rate)}}}"))
    for metric, threshold in latency_gates(j):
        q = latency_query(j, FLAGGER_INTERVAL, d.options.canary_matcher, metric)
        out.append((_template(d, f"{base}-latency-{metric}", q + "\n"), f"thresholdRange: {{max: {_ratio_text(threshold)}}}"))
    series = bound_series(j)
    for i, a in enumerate(g.actions):
        if a.guard:
            suffix = f"-{i}" if sum(x.kind == a.kind for x in g.actions) > 1 else ""
            out.append(
                (_template(d, f"{base}-guard-{_k8s_name(a.kind)}{suffix}", f"vector({to_promql(a.guard, series)})\n"), "thresholdRange: {min: 1}")
            )
    return out


def metric_templates_text(d: Derivation) -> str:
    items = metric_templates(d)
    lines = ["# Flagger MetricTemplates for the journey gate. Reference them from a Canary:", "#   analysis:", "#     metrics:"]
    for doc, hint in items:
        name = doc["metadata"]["name"]
        lines += [f"#     - name: {name}", f"#       templateRef: {{name: {name}}}", f"#       {hint}", "#       interval: 1m"]
    return "\n".join(lines) + "\n" + (dump_all([doc for doc, _ in items]) if items else "")
