"""``guards/action-guard.yaml``: the spec's action guards with their bindings, PromQL and current result.

An ``ActionGuard`` document (``emac.dev/v1alpha1``) lists, per governed action, the guard text,
its PromQL compilation over the journey's recorded series (1 when it holds), the action's
parameter bounds, rollback and rate limit, and how the guard evaluates today; ``bindings`` says
what each name means, which series carries it and its current value (``null``: unknown, which
blocks the action).
"""

from __future__ import annotations

from typing import Any

from ..govern.decision import guard_environment
from ..govern.guard import BOOLEAN_NAMES, NOT_MODELLED, NUMERIC_NAMES, names, parse_guard
from .derivation import Derivation
from .prometheus import bound_series, guard_promql
from .yamltext import dump

_AVAILABILITY_MEANING = {
    "pessimistic": "pessimistic journey availability bound (shared fate where it hurts most)",
    "independent": "optimistic journey availability (independent components)",
    "declared": "journey availability under the correlation as declared",
}
_LATENCY_MEANING = {
    "upperConfidence": "upper end of the Monte Carlo interval",
    "upper": "dependence-free upper bound",
    "independent": "value with independent components",
    "comonotone": "value with every duration comonotone",
}


def meanings(d: Derivation) -> dict[str, str]:
    """What each guard name stands for in this derivation (the governed bounds of the policy)."""
    gov = d.governed
    policy = d.journey.governance
    a_what = _AVAILABILITY_MEANING.get(gov.availability_key, gov.availability_key)
    l_what = _LATENCY_MEANING.get(gov.latency_key, gov.latency_key)
    out = {
        "A_minus": f"{a_what}: the bound governance acts on (useBoundsForAutomation.availability: {policy.availability_bound})",
        "A_plus": "optimistic journey availability (independent components)",
        "width": "A_plus - A_minus: the quantified shared-fate risk",
        "conf(delta)": "confidence of the model delta (candidate or discovered model); 1 when no candidate is judged (no delta pending)",
        "no_unresolved_domain_conflict": "true when no failure-domain conflict awaits resolution (series: count of unresolved conflicts)",
    }
    for q, label in (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p999", "p99.9")):
        if gov.latency:
            out[f"{q}_U"] = f"{l_what} of the journey {label} latency, seconds (useBoundsForAutomation.latency: {policy.latency_bound})"
        else:
            out[f"{q}_U"] = f"journey {label} latency bound: not modelled (no latency models), so comparisons on it are left out"
    return out


def action_guard(d: Derivation) -> dict[str, Any]:
    j = d.journey
    g = j.governance
    env = guard_environment(j, d.bounds, d.candidate)
    series = bound_series(j, d.governed.availability_key)
    meaning = meanings(d)
    used: list[str] = []
    for a in g.actions:
        if a.guard:
            used.extend(n for n in names(parse_guard(a.guard)) if n not in used)
    bindings = {
        n: {"meaning": meaning[n], "series": series[n], "value": "not modelled" if env.get(n) is NOT_MODELLED else env.get(n)}
        for n in (*NUMERIC_NAMES, *BOOLEAN_NAMES)
        if n in used
    }
    by_index = list(d.decision.guards)
    actions = []
    for i, a in enumerate(g.actions):
        entry: dict[str, Any] = {"kind": a.kind, "guard": a.guard}
        if a.guard:
            entry["promql"], skipped = guard_promql(d, a.guard)
            if skipped:
                entry["leftOut"] = [f"{t} (not modelled)" for t in skipped]
        if a.parameter_bounds:
            entry["parameterBounds"] = {k: int(v) if float(v).is_integer() and k != "maxTrafficStep" else v for k, v in a.parameter_bounds}
        if a.rollback:
            entry["rollback"] = dict(a.rollback)
        if a.rate_limit:
            entry["rateLimit"] = dict(a.rate_limit)
        if i < len(by_index):
            entry["evaluation"] = {k: v for k, v in by_index[i].to_dict().items() if k not in ("action", "guard")}
        actions.append(entry)
    return {
        "apiVersion": "emac.dev/v1alpha1",
        "kind": "ActionGuard",
        "metadata": {"name": j.name, "labels": dict(j.labels)} if j.labels else {"name": j.name},
        "spec": {
            "journey": j.name,
            "evaluationMode": g.evaluation_mode,
            "useBoundsForAutomation": {"availability": g.availability_bound, "latency": g.latency_bound},
            "semantics": "an action is allowed only when its guard holds with every value known; unknown blocks",
            "bindings": bindings,
            "actions": actions,
            "decision": {"verdict": d.decision.verdict, "mode": d.decision.mode, "reasons": list(d.decision.reasons)},
        },
    }


def action_guard_text(d: Derivation) -> str:
    return dump(action_guard(d))
