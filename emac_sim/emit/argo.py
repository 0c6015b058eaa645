"""Argo Rollouts gate: an ``AnalysisTemplate`` and a canary ``Rollout`` steps snippet.

The template holds up to three kinds of metric:

- the canary's error-budget burn rate over the canary window (successCondition: at most
  ``progressiveDelivery.gate.maxCanaryBurnRate``);
- the canary's latency quantile (at most the latency objective / ``maxP99LatencySeconds``);
- one metric per guarded action: the guard compiled to PromQL over the journey's recorded bound
  series (:func:`emac_sim.govern.to_promql`), successful when it equals 1.

The rollout snippet's ``setWeight`` steps never raise the canary weight by more than
``parameterBounds.maxTrafficStep`` (the smallest over the actions that set one), counting the
final promotion to 100 %.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..errors import SpecError
from .derivation import Derivation
from .prometheus import _k8s_name, _ratio_text, canary_error_ratio_template, guard_query, k8s_metadata, latency_gates, latency_query
from .sloth import prom_duration, render_window
from .yamltext import dump

DEFAULT_MAX_TRAFFIC_STEP = 0.5
FIRST_CANARY_WEIGHT = 10
_SENTINEL = "__emac_canary_matcher__"


def template_name(d: Derivation) -> str:
    return f"emac-{_k8s_name(d.journey.name)}-slo-gate"


def _indent(text: str, n: int) -> str:
    pad = " " * n
    return "\n".join(pad + line if line else line for line in text.splitlines())


def analysis_template(d: Derivation) -> dict[str, Any]:
    """The AnalysisTemplate as a mapping (see the module docstring)."""
    j = d.journey
    o = d.options
    g = j.governance
    jname = _k8s_name(j.name)
    window = prom_duration(o.canary_window)
    args: list[dict[str, Any]] = [{"name": "prometheus-address", "value": o.prometheus_address}]
    metrics: list[dict[str, Any]] = []
    prom = {"address": "{{args.prometheus-address}}"}
    cadence = {"interval": prom_duration(o.analysis_interval), "count": o.analysis_count, "failureLimit": 1}
    if j.availability_objective is not None:
        budget = float(Decimal(1) - Decimal(repr(j.availability_objective.target)))
        args.append({"name": "error-budget", "value": _ratio_text(budget)})
        args.append({"name": "canary-matcher", "value": o.canary_matcher})
        ratio = render_window(canary_error_ratio_template(j, _SENTINEL), o.canary_window, j.source, "spec.objectives.availability.sli")
        query = f"(\n{_indent(ratio, 2)}\n)\n/\n{{{{args.error-budget}}}}\n"
        metrics.append(
            {
                "name": f"{jname}-canary-burn-rate-{window}",
                **cadence,
                "successCondition": f"result[0] <= {_ratio_text(g.max_canary_burn_rate)}",
                "provider": {"prometheus": {**prom, "query": query}},
            }
        )
    for metric, threshold in latency_gates(j):
        if "canary-matcher" not in {a["name"] for a in args}:
            args.append({"name": "canary-matcher", "value": o.canary_matcher})
        metrics.append(
            {
                "name": f"{jname}-canary-latency-{metric}-{window}",
                **cadence,
                "successCondition": f"result[0] <= {_ratio_text(threshold)}",
                "provider": {"prometheus": {**prom, "query": latency_query(j, o.canary_window, _SENTINEL, metric) + "\n"}},
            }
        )
    for i, action in enumerate(g.actions):
        if not action.guard:
            continue
        name = f"{jname}-guard-{_k8s_name(action.kind)}" + (f"-{i}" if sum(a.kind == action.kind for a in g.actions) > 1 else "")
        metrics.append(
            {
                "name": name,
                "failureLimit": 0,
                "successCondition": "result[0] == 1",
                "provider": {"prometheus": {**prom, "query": guard_query(d, action.guard)}},
            }
        )
    for m in metrics:  # the canary matcher is an Argo argument, substituted by Argo at run time
        q = m["provider"]["prometheus"]
        q["query"] = q["query"].replace(_SENTINEL, "{{args.canary-matcher}}")
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": k8s_metadata(d, template_name(d)),
        "spec": {"args": args, "metrics": metrics},
    }


def max_traffic_step(d: Derivation) -> float:
    """The smallest ``parameterBounds.maxTrafficStep`` over the actions (default 0.5)."""
    steps = [v for a in d.journey.governance.actions for k, v in a.parameter_bounds if k == "maxTrafficStep"]
    return min(steps) if steps else DEFAULT_MAX_TRAFFIC_STEP


def canary_weights(max_step: float, first: int = FIRST_CANARY_WEIGHT) -> list[int]:
    """Canary weights (percent) rising by at most ``max_step`` (a fraction) per step, before promotion to 100.

    Starts at ``min(first, step)`` and continues on multiples of the step: 0.5 → [10, 50];
    0.3 → [10, 30, 60, 90]; 1.0 → [10].

    Raises
    ------
    ValueError
        When ``max_step`` is below 1 %, the smallest weight change Argo Rollouts can make.
    """
    step = int(max_step * 100 + 1e-9)
    if step < 1:
        raise ValueError(f"maxTrafficStep {max_step:g} is below 0.01, the smallest canary weight step (1%)")
    weights = [min(first, step)]
    while True:
        nxt = (weights[-1] // step + 1) * step
        if nxt >= 100:
            break
        weights.append(nxt)
    return weights


def step_weights(d: Derivation) -> list[int]:
    """The canary weights of the journey's policy (:func:`canary_weights` of :func:`max_traffic_step`).

    Raises
    ------
    SpecError
        When ``maxTrafficStep`` is below 1 %.
    """
    try:
        return canary_weights(max_traffic_step(d))
    except ValueError as exc:
        raise SpecError(d.journey.source, "spec.governance.actions.parameterBounds.maxTrafficStep", str(exc)) from None


def rollout_snippet(d: Derivation) -> dict[str, Any]:
    """``spec.strategy.canary.steps`` for a Rollout: setWeight, pause, analysis per weight."""
    weights = step_weights(d)
    pause = prom_duration(d.options.canary_window)
    steps: list[dict[str, Any]] = []
    for w in weights:
        steps.append({"setWeight": w})
        steps.append({"pause": {"duration": pause}})
        steps.append({"analysis": {"templates": [{"templateName": template_name(d)}]}})
    return {"spec": {"strategy": {"canary": {"steps": steps}}}}


def analysis_template_text(d: Derivation) -> str:
    return dump(analysis_template(d))


def rollout_snippet_text(d: Derivation) -> str:
    s = max_traffic_step(d)
    note = (
        "# Merge into an Argo Rollouts Rollout (spec.strategy.canary.steps).\n"
        f"# Each setWeight raises the canary weight by at most maxTrafficStep = {s:g} ({int(s * 100 + 1e-9)}%),\n"
        "# including the final promotion to 100%; each weight is held for the canary window, then gated\n"
        f"# by the AnalysisTemplate {template_name(d)}.\n"
    )
    conc = [v for a in d.journey.governance.actions for k, v in a.parameter_bounds if k == "maxConcurrentRollouts"]
    if conc:
        note += f"# maxConcurrentRollouts = {min(conc):g} is not expressible in a Rollout: enforce it in the controller.\n"
    return note + dump(rollout_snippet(d))
