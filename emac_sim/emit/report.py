"""``report/derivation.yaml``: the paper's ``DerivationReport`` extended with this run's results.

The paper's keys are kept with the same meaning (journey and operator graph, atomic targets,
failure domains, composition with optimistic / pessimistic assumptions and results, synthetic
SLIs, governance with gate, compiled artifacts and provenance); added under ``spec``: ``bounds``
(the analytic layer's full output), ``monteCarlo``, ``check``, ``budgets``, ``decision``,
``candidate`` (when one was judged), ``evidence`` (Prometheus evidence: source, window, time,
per component the queries, counts, interval and status, and whether the model used the observed
values) and ``provenance`` (tool version, digest, seed, parameters,
command, input sha256s, library versions).
"""

from __future__ import annotations

from typing import Any

from ..model.journey import Node, Ref
from .derivation import Derivation
from .prometheus import bound_series, contributors, record_prefix
from .sloth import prom_duration
from .yamltext import dump

ARTIFACTS = {
    "prometheusRecordingRules": "../prometheus/recording-rules.yaml",
    "prometheusAlerts": "../prometheus/alerts.yaml",
    "prometheusAlertTests": "../prometheus/alerts.test.yaml",
    "prometheusRule": "../prometheus/prometheusrule.yaml",
    "argoAnalysisTemplate": "../argo/analysis-template.yaml",
    "argoRolloutSnippet": "../argo/rollout-snippet.yaml",
    "flaggerMetricTemplate": "../flagger/metric-template.yaml",
    "flaggerCanary": "../flagger/canary.yaml",
    "openSLO": "../openslo/",
    "actionGuard": "../guards/action-guard.yaml",
}


def operator_graph(node: Node) -> Any:
    """The operator tree in the paper's compact form: ``{series: [front, {parallel: [cart, pricing]}, …]}``
    (each operator's ``graph``)."""
    if isinstance(node, Ref):
        return node.component
    return node.graph([operator_graph(c) for c in node.children], prom_duration)  # type: ignore[attr-defined]


def _assumptions(d: Derivation) -> tuple[list[str], list[str], list[str]]:
    """(optimistic, pessimistic, shared domain names)."""
    j = d.journey
    shared = [str(s) for s in d.bounds.availability.pessimistic_shared or []]
    multi = [dom for dom in j.domains if len(dom.members) >= 2]
    optimistic = ["Independence across all components"] + [
        f"Independence across members of domain {dom.name} ({', '.join(dom.members)})" for dom in multi
    ]
    pessimistic = [f"Full correlation inside domain {name}" for name in shared]
    pessimistic += [
        f"Independence inside domain {dom.name} (sharing its fate would not lower availability)" for dom in multi if dom.name not in shared
    ]
    if not pessimistic:
        pessimistic = ["No failure domain is shared by two or more components"]
    return optimistic, pessimistic, shared


def _interpretation(d: Derivation, shared: list[str]) -> list[str]:
    obj = d.journey.availability_objective
    lines = []
    if obj is not None:
        t = f"{obj.target:g}"
        if d.a_minus >= obj.target:
            lines.append(f"Both the optimistic estimate and the pessimistic bound meet {t}.")
        elif d.a_plus >= obj.target:
            lines.append(f"Optimistic estimate meets {t}, pessimistic bound does not.")
        else:
            lines.append(f"Neither the optimistic estimate nor the pessimistic bound meets {t}.")
    if d.width > 0:
        where = f"the {', '.join(shared)} domain{'s' if len(shared) > 1 else ''}" if shared else "shared failure domains"
        lines.append(f"This gap is the quantified 'shared-fate risk' of {where}.")
    else:
        lines.append("No shared-fate hypothesis lowers availability: the bound is tight.")
    return lines


def derivation_report(d: Derivation) -> dict[str, Any]:
    j = d.journey
    g = j.governance
    p = record_prefix(j)
    series = bound_series(j, d.governed.availability_key)
    optimistic, pessimistic, shared = _assumptions(d)
    obj = j.availability_objective
    gov = d.governed
    metric = j.latency_objective.metric if j.latency_objective is not None else "p99"
    lat_value = gov.latency_of(metric)
    lat_note = {
        "upperConfidence": "upper end of the Monte Carlo interval of the journey quantile, seconds",
        "upper": "dependence-free upper bound of the journey quantile, seconds",
    }.get(gov.latency_key, f"{gov.latency_key} value of the journey quantile, seconds")
    contrib = contributors(d)
    meta: dict[str, Any] = {"name": j.name}
    if j.labels:
        meta["labels"] = dict(j.labels)
    guards = [a.guard for a in g.actions if a.guard]
    uses = {"pessimistic": "pessimisticBound", "independent": "optimisticEstimate"}.get(d.decision.availability_bound, d.decision.availability_bound)
    dominant = []
    for name, _kind, value, extra in contrib:
        if name == "shared_fate":
            doms = extra.get("domains")
            dominant.append(f"shared fate in {doms or 'failure domains'} lowers availability by {value:.8f} (A+ - A-)")
        else:
            dominant.append(f"pessimistic availability shortfall of {value:.8f} below objective {obj.target:g}" if obj else f"{name} {value:.8f}")
    spec: dict[str, Any] = {
        "journey": {"name": j.name, "operatorGraph": operator_graph(j.root)},
        "atomicAvailabilityTargets": {c.id: c.availability for c in j.components},
        # where each referenced target came from, with any caveat (a Timeslices target read as request availability)
        "atomicAvailabilitySources": {c.id: c.availability_source for c in j.components if c.availability_source != "inline"},
        "failureDomains": {c.id: list(c.domains) for c in j.components if c.domains},
        "composition": {
            "objectiveAvailabilityTarget": obj.target if obj is not None else None,
            "optimisticAssumptions": optimistic,
            "pessimisticAssumptions": pessimistic,
            "results": {
                "availability": {
                    "optimisticEstimate": d.a_plus,
                    "pessimisticBound": d.a_minus,
                    "boundWidth": d.width,
                    "interpretation": _interpretation(d, shared),
                }
            },
        },
        "syntheticSLIs": {
            "prometheusRuleRef": ARTIFACTS["prometheusRecordingRules"],
            "governedBy": {"model": gov.model, "availability": gov.availability_key, "latency": gov.latency_key},
            "availability": {
                "optimistic": {"record": series["A_plus"], "value": gov.a_plus},
                "pessimistic": {"record": series["A_minus"], "value": gov.a_minus},
                "width": {"record": series["width"], "value": gov.width},
            },
            "latency": {
                f"{metric}UpperBound": {
                    "record": series[f"{metric}_U"] if f"{metric}_U" in series else f"{p}latency_seconds:{metric}_upper_bound",
                    "value": lat_value,
                    "note": lat_note if lat_value is not None else "latency not modelled: no bound recorded",
                }
            },
            "confidence": {
                "modelDelta": {
                    "record": series["conf(delta)"],
                    "value": gov.confidence,
                    "source": d.candidate.source if d.candidate is not None else "no candidate judged: no model delta pending",
                }
            },
            "contributors": [
                {
                    "record": f"{p}contributor{{"
                    + ",".join(f'{k}="{v}"' for k, v in sorted({"contributor": name, "kind": kind, **extra}.items()))
                    + "}",
                    "value": value,
                }
                for name, kind, value, extra in contrib
            ],
        },
        "governance": {
            "conservativeGate": {
                "uses": uses,
                "decision": d.decision.verdict,
                "actionGuard": guards[0] if guards else None,
                "actionGuardCompiledAs": ARTIFACTS["argoAnalysisTemplate"],
            },
            "compiledArtifacts": dict(ARTIFACTS),
            "provenance": {
                "operatorExpression": j.expression,
                "evidenceWindow": prom_duration(j.evidence.evidence_window) if j.evidence.evidence_window else None,
                "confidenceThreshold": g.confidence_threshold,
                "failureDomainAssumption": "; ".join(f"Full correlation inside domain {s}" for s in shared)
                or "Independence (no shared-fate scenario lowers availability)",
                "dominantContributors": dominant,
            },
        },
        "bounds": d.bounds.to_dict(),
        "monteCarlo": d.simulation.to_dict() if d.simulation is not None else None,
        "check": d.check.to_dict() if d.check is not None else None,
        "budgets": d.budgets.to_dict() if d.budgets is not None else None,
        "decision": d.decision.to_dict(),
    }
    if d.evidence is not None:
        spec["evidence"] = d.evidence.to_dict(d.evidence_mode)
    if d.candidate is not None:
        spec["candidate"] = {**d.candidate.to_dict(), **({"bounds": d.candidate_bounds.to_dict()} if d.candidate_bounds is not None else {})}
    spec["provenance"] = d.provenance.to_dict()
    return {"apiVersion": "emac.dev/v1alpha1", "kind": "DerivationReport", "metadata": meta, "spec": spec}


def derivation_report_text(d: Derivation) -> str:
    return dump(derivation_report(d), width=100)
