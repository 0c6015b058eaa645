"""OpenSLO (``openslo/v1``) documents: the journey SLO and the derived component target SLOs.

- ``openslo/datasource.prometheus.yaml``: the Prometheus ``DataSource`` the SLOs refer to;
- ``openslo/slo.<journey>-journey-availability.yaml``: the journey's availability SLO (good/total
  from the spec's SLI queries over the SLO window) with the bounded SLO [A⁻, A⁺] and the
  governance decision as annotations;
- ``openslo/slo.<journey>-<component>-availability.yaml``: per referenced component, the atomic
  target the budgets derive so that A⁻ ≥ objective (the uniform scaling of unavailabilities,
  :mod:`emac_sim.budgets.atomic`), today's target and, when latency is modelled, the component's
  latency budget as annotations. The component's ``telemetry.metrics.availabilityGood/Total``
  selectors are used when the spec has them; otherwise the convention
  ``component_requests_total{component="<id>"[,result="success"]}``.

Every ``metadata.name`` (and indicator name) is an RFC 1123 label, as OpenSLO's validator
requires. These files are read back by the spec loader's ``atomicSLORef: openslo:<name>`` resolution, so a
derived target can be adopted by pointing a spec at it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..model.journey import Component
from .derivation import Derivation
from .prometheus import _ratio_text, sli_queries
from .sloth import prom_duration, render_window
from .yamltext import dump

if TYPE_CHECKING:
    from ..budgets.atomic import AtomicTarget
    from ..budgets.latency import ComponentLatencyBudget

DATASOURCE_NAME = "prometheus-datasource"


#: What OpenSLO's validator accepts as ``metadata.name`` (an RFC 1123 label, at most 63 characters).
NAME_RULE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
NAME_MAX = 63


def _name(*parts: str) -> str:
    """An RFC 1123 label from parts, joined by hyphens (OpenSLO ``metadata.name``).

    Anything but ``[a-z0-9]`` becomes a hyphen; a name that had to be shortened to 63 characters
    ends with 8 hex digits of the sha256 of the parts, so two long names stay distinct.
    """
    raw = "-".join(parts)
    s = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9]+", "-", raw.lower())).strip("-") or "slo"
    if len(s) > NAME_MAX:
        s = s[: NAME_MAX - 9].rstrip("-") + "-" + hashlib.sha256(raw.encode()).hexdigest()[:8]
    return s


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
            "service": _name(j.name),
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


def _atomic(d: Derivation) -> Mapping[str, AtomicTarget]:
    at = d.budgets.atomic_targets if d.budgets is not None else None
    return {t.component: t for t in at.targets} if at is not None else {}


def _latency_budgets(d: Derivation) -> tuple[str | None, Mapping[str, ComponentLatencyBudget]]:
    lat = d.budgets.latency if d.budgets is not None else None
    if lat is None:
        return None, {}
    sol = lat.solution()
    return lat.metric, ({b.component: b for b in sol.components} if sol is not None else {})


def component_slos(d: Derivation) -> list[dict[str, Any]]:
    """One derived-target SLO per component the journey references, in spec order."""
    j = d.journey
    obj = j.availability_objective
    window = obj.window if obj is not None else j.governance.budget_window
    wtext = prom_duration(window)
    used = set(j.root.refs())
    atomic = _atomic(d)
    metric, lat = _latency_budgets(d)
    method = d.budgets.atomic_targets.method if d.budgets is not None and d.budgets.atomic_targets is not None else None
    out = []
    taken = {_name(j.name, "journey", "availability")}
    for c in j.components:
        if c.id not in used:
            continue
        parts: tuple[str, ...] = (j.name, c.id)
        if _name(*parts, "availability") in taken:  # ids that differ only in case or punctuation (cart_v2, cart.v2)
            parts += (hashlib.sha256(c.id.encode()).hexdigest()[:8],)
        name = _name(*parts, "availability")
        taken.add(name)
        entry = atomic.get(c.id)
        required = entry.uniform if entry is not None else None
        target = float(required) if required is not None else c.availability
        ann = {
            "emac.dev/journey": j.name,
            "emac.dev/current-target": _ratio_text(c.availability),
            "emac.dev/current-source": c.availability_source,
            "emac.dev/derived-target": _ratio_text(required) if required is not None else "none (not derived or infeasible)",
        }
        if entry is not None and entry.alone is not None:
            ann["emac.dev/target-if-alone"] = _ratio_text(float(entry.alone))
        if method:
            ann["emac.dev/method"] = str(method)
        if metric and c.id in lat and lat[c.id].budget is not None:
            ann[f"emac.dev/latency-budget-{metric}-seconds"] = _ratio_text(float(lat[c.id].budget))
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
                "metadata": {"name": name, "displayName": f"{c.id} availability (for {j.name})", "annotations": ann},
                "spec": {
                    "description": why,
                    "service": _name(c.id),
                    "indicator": {
                        "metadata": {"name": _name(*parts, "success")},
                        "spec": {"ratioMetric": {"counter": True, "good": _source(good), "total": _source(total)}},
                    },
                    "timeWindow": [{"duration": wtext, "isRolling": True}],
                    "budgetingMethod": "Occurrences",
                    "objectives": [{"target": target}],
                },
            }
        )
    return out


def files(d: Derivation) -> dict[str, str]:
    """Relative path (under ``openslo/``) → YAML text (without header)."""
    out = {"openslo/datasource.prometheus.yaml": dump(datasource(d))}
    js = journey_slo(d)
    if js is not None:
        out[f"openslo/slo.{js['metadata']['name']}.yaml"] = dump(js)
    for doc in component_slos(d):
        out[f"openslo/slo.{doc['metadata']['name']}.yaml"] = dump(doc)
    return out
