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
from ..govern.guard import BOOLEAN_NAMES, NUMERIC_NAMES, names, parse_guard, to_promql
from .derivation import Derivation
from .prometheus import bound_series
from .yamltext import dump

MEANING = {
    "A_minus": "pessimistic journey availability bound (shared fate where it hurts most)",
    "A_plus": "optimistic journey availability (independent components)",
    "width": "A_plus - A_minus: the quantified shared-fate risk",
    "p50_U": "upper bound of the journey p50 latency, seconds",
    "p90_U": "upper bound of the journey p90 latency, seconds",
    "p99_U": "upper bound of the journey p99 latency, seconds",
    "p999_U": "upper bound of the journey p99.9 latency, seconds",
    "conf(delta)": "confidence of the model delta (candidate or discovered model)",
    "no_unresolved_domain_conflict": "true when no failure-domain conflict awaits resolution (series: count of unresolved conflicts)",
}


def action_guard(d: Derivation) -> dict[str, Any]:
    j = d.journey
    g = j.governance
    env = guard_environment(j, d.bounds, d.candidate)
    series = bound_series(j)
    used: list[str] = []
    for a in g.actions:
        if a.guard:
            used.extend(n for n in names(parse_guard(a.guard)) if n not in used)
    bindings = {n: {"meaning": MEANING[n], "series": series[n], "value": env.get(n)} for n in (*NUMERIC_NAMES, *BOOLEAN_NAMES) if n in used}
    by_index = list(d.decision.guards)
    actions = []
    for i, a in enumerate(g.actions):
        entry: dict[str, Any] = {"kind": a.kind, "guard": a.guard}
        if a.guard:
            entry["promql"] = f"vector({to_promql(a.guard, series)})"
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
