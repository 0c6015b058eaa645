"""OpenSLO (``openslo/v1``) documents: the journey SLO and the derived component target SLOs.

- ``openslo/datasource.prometheus.yaml``: the Prometheus ``DataSource`` the SLOs refer to;
- ``openslo/slo.<journey>.journey.availability.yaml``: the journey's availability SLO (good/total
  from the spec's SLI queries over the SLO window) with the bounded SLO [A⁻, A⁺] and the
  governance decision as annotations;
- ``openslo/slo.<journey>.<component>.availability.yaml``: per referenced component, the atomic
  target the budgets derive so that A⁻ ≥ objective (the uniform scaling of unavailabilities,
  :mod:`emac_sim.budgets.atomic`), today's target and, when latency is modelled, the component's
  latency budget as annotations. The component's ``telemetry.metrics.availabilityGood/Total``
  selectors are used when the spec has them; otherwise the convention
  ``component_requests_total{component="<id>"[,result="success"]}``.

These files are read back by the spec loader's ``atomicSLORef: openslo:<name>`` resolution, so a
derived target can be adopted by pointing a spec at it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..model.journey import Component
from .derivation import Derivation
from .prometheus import _k8s_name, _ratio_text, sli_queries
from .sloth import prom_duration, render_window
from .yamltext import dump

DATASOURCE_NAME = "prometheus-datasource"


def component_keys(ids: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Component id → the lower-case key used in OpenSLO names and file names, unique.

    Ids that differ only in case or in characters a name cannot hold (``cart`` / ``Cart``), or
    that would take the journey SLO's own key (``journey``), get the first 8 hex digits of the
    id's sha256 appended, so no two SLOs share a name or a file.
    """
    import hashlib

    base = {cid: _k8s_name(cid) for cid in ids}
    taken: dict[str, int] = {"journey": 1}
    for k in base.values():
        taken[k] = taken.get(k, 0) + 1
    return {cid: k if taken[k] == 1 else f"{k}-{hashlib.sha256(cid.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}" for cid, k in base.items()}


def _name(*parts: str) -> str:
    """An RFC 1123 name from parts (OpenSLO metadata.name)."""
    s = re.sub(r"[^a-z0-9.-]+", "-", ".".join(parts).lower()).strip("-.")
    return s[:253]


def _source(query: str) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "metricSourceRef": DATASOURCE_NAME, "spec": {"query": query}}}


def datasource(d: Derivation) -> dict[str, Any]:
    return {
        "apiVersion": "openslo/v1",
        "kind": "DataSource",
        "metadata": {"name": DATASOURCE_NAME},
        "spec": {"type": "Prometheus", "connectionDetails": {"address": d.options.prometheus_address}},
    }


def journey_slo(d: Derivation) -> dict[str, Any] | None:
    """The journey availability SLO, ``None`` without an availability objective."""
    j = d.journey
    obj = j.availability_objective
    if obj is None:
        return None
    good, total = sli_queries(j)
    path = "spec.objectives.availability.sli"
    ann = {
        "emac.dev/bounded-slo": f"[{_ratio_text(d.a_minus)}, {_ratio_text(d.a_plus)}]",
        "emac.dev/a-minus": _ratio_text(d.a_minus),
        "emac.dev/a-plus": _ratio_text(d.a_plus),
        "emac.dev/decision": d.decision.verdict,
        "emac.dev/expression": j.expression,
        "emac.dev/provenance": f"sha256:{d.digest}",
    }
    return {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": _name(j.name, "journey", "availability"), "displayName": f"{j.name} journey availability", "annotations": ann},
        "spec": {
            "description": (
                f"Journey {j.name} = {j.expression}. The model bounds its availability to [A-, A+] = "
                f"[{d.a_minus:.8f}, {d.a_plus:.8f}]; governance decision {d.decision.verdict}."
            ),
            "service": j.name,
            "indicator": {
                "metadata": {"name": _name(j.name, "journey", "success")},
                "spec": {
                    "ratioMetric": {
                        "counter": True,
                        "good": _source(render_window(good, obj.window, j.source, f"{path}.goodEventQuery")),
                        "total": _source(render_window(total, obj.window, j.source, f"{path}.totalEventQuery")),
                    }
                },
            },
            "timeWindow": [{"duration": prom_duration(obj.window), "isRolling": True}],
            "budgetingMethod": "Occurrences",
            "objectives": [{"displayName": f"{j.name} journey availability", "target": obj.target}],
        },
    }


def _component_queries(c: Component, window: str) -> tuple[str, str]:
    extra = dict(c.extra)
    metrics = (extra.get("telemetry") or {}).get("metrics") if isinstance(extra.get("telemetry"), Mapping) else None
    if isinstance(metrics, Mapping) and isinstance(metrics.get("availabilityGood"), str) and isinstance(metrics.get("availabilityTotal"), str):
        good, total = metrics["availabilityGood"].strip(), metrics["availabilityTotal"].strip()
    else:
        good = f'component_requests_total{{component="{c.id}",result="success"}}'
        total = f'component_requests_total{{component="{c.id}"}}'
    return f"sum(increase({good}[{window}]))", f"sum(increase({total}[{window}]))"


def _atomic(d: Derivation) -> Mapping[str, Any]:
    at = (d.budgets or {}).get("atomicTargets") or {}
    return at.get("components") or {}


def _latency_budgets(d: Derivation) -> tuple[str | None, Mapping[str, Any]]:
    lat = (d.budgets or {}).get("latency")
    if not lat:
        return None, {}
    sol = (lat.get("solutions") or {}).get(lat.get("primary")) or {}
    return lat.get("metric"), sol.get("components") or {}


def component_slos(d: Derivation) -> list[dict[str, Any]]:
    """One derived-target SLO per component the journey references, in spec order."""
    j = d.journey
    obj = j.availability_objective
    window = obj.window if obj is not None else j.governance.budget_window
    wtext = prom_duration(window)
    used = set(j.root.refs())
    atomic = _atomic(d)
    metric, lat = _latency_budgets(d)
    method = ((d.budgets or {}).get("atomicTargets") or {}).get("method")
    keys = component_keys(j.component_ids)
    out = []
    for c in j.components:
        if c.id not in used:
            continue
        entry = atomic.get(c.id) or {}
        required = entry.get("uniform")
        target = float(required) if required is not None else c.availability
        ann = {
            "emac.dev/journey": j.name,
            "emac.dev/current-target": _ratio_text(c.availability),
            "emac.dev/current-source": c.availability_source,
            "emac.dev/derived-target": _ratio_text(required) if required is not None else "none (not derived or infeasible)",
        }
        if entry.get("alone") is not None:
            ann["emac.dev/target-if-alone"] = _ratio_text(float(entry["alone"]))
        if method:
            ann["emac.dev/method"] = str(method)
        if metric and c.id in lat and lat[c.id].get("budgetSeconds") is not None:
            ann[f"emac.dev/latency-budget-{metric}-seconds"] = _ratio_text(float(lat[c.id]["budgetSeconds"]))
        ann["emac.dev/provenance"] = f"sha256:{d.digest}"
        good, total = _component_queries(c, wtext)
        why = (
            f"Atomic target for {c.id} derived from journey {j.name} so that A- >= {obj.target:g}"
            if obj is not None and required is not None
            else f"Current atomic target of {c.id} (no derived target)"
        )
        out.append(
            {
                "apiVersion": "openslo/v1",
                "kind": "SLO",
                "metadata": {
                    "name": _name(j.name, keys[c.id], "availability"),
                    "displayName": f"{c.id} availability (for {j.name})",
                    "annotations": ann,
                },
                "spec": {
                    "description": why,
                    "service": c.id,
                    "indicator": {
                        "metadata": {"name": _name(j.name, keys[c.id], "success")},
                        "spec": {"ratioMetric": {"counter": True, "good": _source(good), "total": _source(total)}},
                    },
                    "timeWindow": [{"duration": wtext, "isRolling": True}],
                    "budgetingMethod": "Occurrences",
                    "objectives": [{"target": target}],
                },
            }
        )
    return out


def _short(key: str, limit: int = 80) -> str:
    """A name part short enough for a file name (two parts + suffix stay under 255 bytes)."""
    if len(key) <= limit:
        return key
    import hashlib

    return f"{key[: limit - 9]}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def files(d: Derivation) -> dict[str, str]:
    """Relative path (under ``openslo/``) → YAML text (without header)."""
    j = d.journey
    out = {"openslo/datasource.prometheus.yaml": dump(datasource(d))}
    js = journey_slo(d)
    if js is not None:
        out[f"openslo/slo.{_short(_k8s_name(j.name))}.journey.availability.yaml"] = dump(js)
    keys = component_keys(j.component_ids)
    for doc in component_slos(d):
        cid = doc["spec"]["service"]
        out[f"openslo/slo.{_short(_k8s_name(j.name))}.{_short(keys[cid])}.availability.yaml"] = dump(doc)
    return out
