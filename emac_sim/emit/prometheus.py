"""Prometheus rules for a journey: SLI error ratios, SLO metadata, journey bound SLIs, burn-rate alerts.

Files (plain Prometheus rule files, as promtool and a vanilla Prometheus read them):

- ``prometheus/recording-rules.yaml``: ``slo:sli_error:ratio_rate<w>`` for every window the
  alerts need plus the budget period (Sloth's family and labels: ``sloth_id``, ``sloth_service``,
  ``sloth_slo``, ``sloth_window``, with the journey's labels), the SLO metadata recordings, the
  journey's bound SLIs (``journey:<name>:availability_bound{bound="optimistic|pessimistic"}``,
  ``…_width``, ``journey:<name>:latency_seconds:p99_upper_bound``, model-delta confidence,
  contributors, decision) and the observed latency quantile;
- ``prometheus/alerts.yaml``: one multiwindow multi-burn-rate alert per severity from the
  spec's ``burnRatePolicy`` (SRE Workbook defaults 14.4/6/3/1 over 1h/5m, 6h/30m, 1d/2h, 3d/6h);
- ``prometheus/prometheusrule.yaml``: the same groups as a prometheus-operator ``PrometheusRule``.

The journey SLI is ``1 − good/total`` from ``objectives.availability.sli`` (``{{ .window }}``
rendered per window). Without SLI queries the convention
``journey_requests_total{journey="<name>"[,result="success"]}`` is used, as in the paper.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from ..core.quantiles import LATENCY_KEYS, LATENCY_QUANTILES
from ..errors import SpecError
from ..govern.decision import guard_environment
from ..govern.guard import NOT_MODELLED, left_out, to_promql
from ..model.journey import Journey
from .derivation import Derivation
from .sloth import SLO, AlertMeta, BurnWindow, has_window_placeholder, prom_duration, render_window, replace_window, rule_groups
from .yamltext import dump

_QUANTILE = dict(LATENCY_QUANTILES)


def metric_part(name: str) -> str:
    """``name`` made safe inside a metric name (``[a-zA-Z0-9_]``)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name) or "_"


def label_name(name: str) -> str:
    """``name`` made a valid Prometheus label name (``emac.example`` → ``emac_example``)."""
    s = re.sub(r"[^a-zA-Z0-9_]", "_", name)
    if not s or s[0].isdigit():
        s = "_" + s
    if s.startswith("__"):
        s = "x" + s
    return s


def camel(name: str) -> str:
    """``checkout-v2`` → ``CheckoutV2`` (alert names)."""
    parts = re.split(r"[^a-zA-Z0-9]+", name)
    return "".join(p[:1].upper() + p[1:] for p in parts if p) or "Journey"


def record_prefix(journey: Journey) -> str:
    """``journey:<name>:`` — the namespace of the journey's own recorded series."""
    return f"journey:{metric_part(journey.name)}:"


def journey_labels(journey: Journey) -> dict[str, str]:
    """Labels on every recorded journey series: the spec's metadata labels (sanitised) and ``journey``."""
    labels = {label_name(k): v for k, v in journey.labels}
    labels["journey"] = journey.name
    return dict(sorted(labels.items()))


def _ratio_text(x: float) -> str:
    t = repr(float(x))
    return t[:-2] if t.endswith(".0") else t


# --------------------------------------------------------------------------- the journey SLO


def sli_queries(journey: Journey) -> tuple[str, str]:
    """(good, total) query templates with ``{{ .window }}``.

    Raises
    ------
    SpecError
        Only one of the two queries is given, or a query lacks the ``{{ .window }}`` placeholder.
    """
    obj = journey.availability_objective
    base = "spec.objectives.availability.sli"
    good = obj.good_query if obj else None
    total = obj.total_query if obj else None
    if good is None and total is None:
        sel = f'journey="{journey.name}"'
        return (
            f'sum(rate(journey_requests_total{{{sel},result="success"}}[{{{{ .window }}}}]))',
            f"sum(rate(journey_requests_total{{{sel}}}[{{{{ .window }}}}]))",
        )
    if good is None or total is None:
        missing = "goodEventQuery" if good is None else "totalEventQuery"
        raise SpecError(journey.source, base, f"needs both goodEventQuery and totalEventQuery ({missing} is missing)")
    for key, q in (("goodEventQuery", good), ("totalEventQuery", total)):
        if not has_window_placeholder(q):
            raise SpecError(journey.source, f"{base}.{key}", "has no {{ .window }} placeholder, so burn-rate windows cannot be rendered")
    return good, total


def error_ratio_template(journey: Journey) -> str:
    """``1 − good/total`` as a template over ``{{ .window }}``."""
    good, total = sli_queries(journey)
    return f"1 - (\n  ({good})\n  /\n  ({total})\n)\n"


def canary_error_ratio_template(journey: Journey, matcher: str) -> str:
    """``1 − good/total`` restricted to canary traffic by adding ``matcher`` to every selector."""
    good, total = sli_queries(journey)
    path = "spec.objectives.availability.sli"
    good = add_matcher(good, matcher, journey.source, f"{path}.goodEventQuery")
    total = add_matcher(total, matcher, journey.source, f"{path}.totalEventQuery")
    return f"1 - (\n  ({good})\n  /\n  ({total})\n)"


def journey_slo(d: Derivation) -> SLO | None:
    """The journey's availability SLO in Sloth's terms, ``None`` without an availability objective."""
    j = d.journey
    obj = j.availability_objective
    if obj is None:
        return None
    g = j.governance
    target = Decimal(repr(obj.target))
    windows = tuple(BurnWindow(w.severity, w.burn_rate, w.short_window, w.long_window) for w in g.burn_rates)  # type: ignore[arg-type]
    sloth = d.sloth_compatible
    name = camel(j.name)
    if sloth:
        page = AlertMeta(name=f"{name}ErrorBudgetBurn")
        ticket = AlertMeta(name=f"{name}ErrorBudgetBurn")
    else:
        page = AlertMeta(name=f"{name}ErrorBudgetBurnTooFast", labels=(("severity", "page"),), annotations=_annotations(d, "page", windows))
        ticket = AlertMeta(name=f"{name}ErrorBudgetBurnSustained", labels=(("severity", "ticket"),), annotations=_annotations(d, "ticket", windows))
    return SLO(
        service=j.name,
        name="availability",
        objective=float(target * 100),
        sli=f"({error_ratio_template(j)})" if sloth else error_ratio_template(j),  # Sloth wraps a raw SLI in parentheses
        labels=tuple(journey_labels(j).items()),
        period=g.budget_window,
        windows=windows,
        base_window=min(w.short for w in windows),
        page=page,
        ticket=ticket,
        error_budget=None if sloth else float(Decimal(1) - target),
        source=j.source,
        path="spec.objectives.availability.sli",
    )


def _annotations(d: Derivation, severity: str, windows: tuple[BurnWindow, ...]) -> tuple[tuple[str, str], ...]:
    j = d.journey
    assert j.availability_objective is not None
    budget = _ratio_text(float(Decimal(1) - Decimal(repr(j.availability_objective.target))))
    conds = [f"{w.factor:g} x {budget} over {prom_duration(w.long)} and {prom_duration(w.short)}" for w in windows if w.severity == severity]
    period = prom_duration(j.governance.budget_window)
    what = "too fast" if severity == "page" else "steadily"
    return (
        ("summary", f"{j.name} journey is burning its {period} error budget {what} ({severity})"),
        (
            "description",
            f"The {j.name} journey error ratio exceeds a burn-rate threshold in both windows: {'; or '.join(conds)}. "
            f"Objective {_ratio_text(j.availability_objective.target)} over {period}; bounded SLO [A-, A+] = "
            f"[{d.a_minus:.8f}, {d.a_plus:.8f}].",
        ),
    )


# --------------------------------------------------------------------------- journey bound SLIs


#: ``availability_bound`` label of each availability key of the analytic bounds.
AVAILABILITY_LABELS = {"independent": "optimistic", "pessimistic": "pessimistic", "declared": "declared"}


def bound_series(journey: Journey, availability_key: str = "pessimistic") -> dict[str, str]:
    """PromQL selector of each guard name's recorded series (what :func:`emac_sim.govern.to_promql` reads).

    ``A_minus`` reads the availability bound the policy governs on (``availability_key``, from
    :attr:`Derivation.governed`; ``pessimistic`` under the default conservative policy).
    """
    p = record_prefix(journey)
    out = {
        "A_minus": f'{p}availability_bound{{bound="{AVAILABILITY_LABELS.get(availability_key, availability_key)}"}}',
        "A_plus": f'{p}availability_bound{{bound="optimistic"}}',
        "width": f"{p}availability_bound_width",
        "conf(delta)": f"{p}model_delta:confidence",
        "no_unresolved_domain_conflict": f"{p}domain_conflicts:unresolved",
    }
    for q in LATENCY_KEYS:
        out[f"{q}_U"] = f"{p}latency_seconds:{q}_upper_bound"
    return out


def guard_promql(d: Derivation, guard: str) -> tuple[str, list[str]]:
    """(``vector(<PromQL>)`` that is 1 when ``guard`` holds, the comparisons left out).

    The PromQL reads the recorded bound series (:func:`bound_series`) that :func:`bound_rules`
    writes with the governed values; comparisons on quantities the model does not have (latency
    of a journey without latency models) are left out, as the decision and the guard
    evaluation leave them out.
    """
    series = bound_series(d.journey, d.governed.availability_key)
    env = guard_environment(d.journey, d.bounds, d.candidate)
    omit = {n for n, v in env.items() if v is NOT_MODELLED}
    return f"vector({to_promql(guard, series, omit)})", left_out(guard, omit)


def guard_query(d: Derivation, guard: str) -> str:
    """:func:`guard_promql` as a gate query, each left-out comparison named in a PromQL comment."""
    expr, skipped = guard_promql(d, guard)
    return "".join(f"# left out: {t} (not modelled)\n" for t in skipped) + expr + "\n"


def _rule(record: str, value: float, labels: dict[str, str]) -> dict[str, Any]:
    return {"record": record, "expr": f"vector({_ratio_text(value)})", "labels": dict(sorted(labels.items()))}


def bound_rules(d: Derivation) -> list[dict[str, Any]]:
    """Constant series for the journey's derived numbers (the paper's synthetic SLIs).

    Every series a guard reads (:func:`bound_series`) is recorded with exactly the value the
    decision and the guard evaluation used (:attr:`Derivation.governed`): the availability
    bounds of the governed model, the width ``A_plus − A_minus``, the governed latency bound of
    each quantile (labelled with the bound it is, e.g. ``upperConfidence``), ``conf(delta)``
    and the count of unresolved domain conflicts.
    """
    j = d.journey
    p = record_prefix(j)
    base = journey_labels(j)
    gov = d.governed
    av = d.governed_model_bounds.availability
    values = {"independent": gov.a_plus, "pessimistic": av.pessimistic, "declared": av.declared}
    values[gov.availability_key] = gov.a_minus
    rules = [
        _rule(f"{p}availability_bound", float(values[key]), {**base, "bound": label})
        for key, label in AVAILABILITY_LABELS.items()
        if values.get(key) is not None
    ]
    if gov.width is not None:
        rules.append(_rule(f"{p}availability_bound_width", gov.width, base))
    for q, v in gov.latency:
        rules.append(_rule(f"{p}latency_seconds:{q}_upper_bound", v, {**base, "bound": gov.latency_key}))
    if gov.confidence is not None:
        rules.append(_rule(f"{p}model_delta:confidence", gov.confidence, base))
    if d.candidate is not None:
        rules.append(_rule(f"{p}model_delta:availability_bound_change", d.candidate.delta_a_minus, base))
    rules.append(_rule(f"{p}domain_conflicts:unresolved", float(len(gov.unresolved_conflicts)), base))
    for contributor, kind, value, extra in contributors(d):
        rules.append(_rule(f"{p}contributor", value, {**base, "contributor": contributor, "kind": kind, **extra}))
    rules.append(_rule(f"{p}governance_decision", 1.0, {**base, "decision": d.decision.verdict, "mode": d.decision.mode}))
    return rules


def contributors(d: Derivation) -> list[tuple[str, str, float, dict[str, str]]]:
    """(contributor, kind, value, extra labels): the shared-fate gap A⁺ − A⁻ and the objective shortfall."""
    out: list[tuple[str, str, float, dict[str, str]]] = []
    shared = list(d.bounds.availability.pessimistic_shared or [])
    if d.width > 0:
        extra = {"domains": ",".join(shared)} if shared else {}
        out.append(("shared_fate", "pessimistic_gap", d.width, extra))
    obj = d.journey.availability_objective
    if obj is not None and d.a_minus < obj.target:
        out.append(("objective_violation", "pessimistic_shortfall", obj.target - d.a_minus, {}))
    return out


def latency_rules(d: Derivation) -> list[dict[str, Any]]:
    """The observed journey latency quantile over the canary window (when a latency objective exists)."""
    j = d.journey
    lo = j.latency_objective
    if lo is None:
        return []
    w = d.options.canary_window
    return [{"record": f"{record_prefix(j)}latency_seconds:{lo.metric}_{prom_duration(w)}", "expr": latency_query(j, w), "labels": journey_labels(j)}]


def latency_query(journey: Journey, window: float | str, matcher: str | None = None, metric: str | None = None) -> str:
    """PromQL of a journey latency quantile over ``window``.

    The latency objective's ``evidence.promql`` when ``metric`` is the objective's own, else the
    convention ``histogram_quantile(q, sum(rate(journey_latency_seconds_bucket{journey=…}[w])) by (le))``.
    ``matcher`` is added to every range selector (canary queries). A string ``window`` is put in
    verbatim (Flagger's ``{{ interval }}``).
    """
    lo = journey.latency_objective
    path = "spec.objectives.latency.evidence.promql"
    metric = metric or (lo.metric if lo is not None else "p99")
    if lo is not None and lo.promql and metric == lo.metric:
        template = lo.promql
        if not has_window_placeholder(template):
            raise SpecError(journey.source, path, "has no {{ .window }} placeholder")
    else:
        q = float("0." + metric.lstrip("p")) if metric != "p100" else 1.0
        sel = f'journey="{journey.name}"'
        template = f"histogram_quantile(\n  {q!r},\n  sum(rate(journey_latency_seconds_bucket{{{sel}}}[{{{{ .window }}}}])) by (le)\n)"
    text = template if matcher is None else add_matcher(template, matcher, journey.source, path)
    if isinstance(window, str):
        render_window(text, 60.0, journey.source, path)  # refuses other template actions
        return replace_window(text, window)
    return render_window(text, window, journey.source, path)


def latency_gates(journey: Journey) -> list[tuple[str, float]]:
    """(metric, threshold seconds) the canary must meet: the latency objective and the gate's p99 cap."""
    gates: dict[str, float] = {}
    if journey.latency_objective is not None:
        gates[journey.latency_objective.metric] = journey.latency_objective.threshold
    cap = journey.governance.max_p99_latency
    if cap is not None:
        gates["p99"] = min(cap, gates.get("p99", cap))
    return list(gates.items())


_RANGE_SELECTOR = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)?(?P<labels>\{[^{}]*\})?(?P<range>\s*\[\s*\{\{-?\s*\.window\s*-?\}\}\s*\])")


def add_matcher(template: str, matcher: str, source: str = "<spec>", path: str = "") -> str:
    """Add a label ``matcher`` to every range selector ``metric{…}[{{ .window }}]`` of a query template.

    Raises
    ------
    SpecError
        When the template has no such selector (nothing would select canary traffic).
    """
    count = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal count
        name, labels = m.group("name") or "", m.group("labels")
        if not name and not labels:
            return m.group(0)
        count += 1
        if labels is None:
            return f"{name}{{{matcher}}}{m.group('range')}"
        inner = labels[1:-1].strip().rstrip(",")
        return f"{name}{{{inner + ',' if inner else ''}{matcher}}}{m.group('range')}"

    out = _RANGE_SELECTOR.sub(repl, template)
    if count == 0:
        raise SpecError(source, path, "no range selector like metric{...}[{{ .window }}] to add the canary matcher to")
    return out


# --------------------------------------------------------------------------- files


def recording_groups(d: Derivation) -> list[dict[str, Any]]:
    """SLI + metadata groups (when there is an objective), then the journey bounds group."""
    from ..core.version import __version__

    slo = journey_slo(d)
    groups: list[dict[str, Any]] = []
    if slo is not None:
        style = "sloth" if d.sloth_compatible else "emac"
        version = f"emac-sim-{__version__}" if d.sloth_compatible else None
        groups.extend(g for g in rule_groups(slo, style=style, version=version) if "-alerts-" not in g["name"])
    journey_rules = bound_rules(d) + latency_rules(d)
    groups.append({"name": f"emac-journey-{metric_part(d.journey.name)}", "rules": journey_rules})
    return groups


def alert_groups(d: Derivation) -> list[dict[str, Any]]:
    """The burn-rate alert group (empty list without an availability objective)."""
    slo = journey_slo(d)
    if slo is None:
        return []
    style = "sloth" if d.sloth_compatible else "emac"
    return [g for g in rule_groups(slo, style=style, version=None) if "-alerts-" in g["name"]]


def recording_rules_text(d: Derivation) -> str:
    return dump({"groups": recording_groups(d)})


def alerts_text(d: Derivation) -> str:
    return dump({"groups": alert_groups(d)})


def prometheusrule_text(d: Derivation) -> str:
    """prometheus-operator ``PrometheusRule`` with the recording and alert groups."""
    j = d.journey
    meta = k8s_metadata(d, f"emac-{_k8s_name(j.name)}")
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": meta,
        "spec": {"groups": recording_groups(d) + alert_groups(d)},
    }
    return dump(doc)


def k8s_metadata(d: Derivation, name: str) -> dict[str, Any]:
    """``metadata`` of a generated Kubernetes resource: name, namespace (when set), the
    managed-by and journey labels and the provenance annotation."""
    meta: dict[str, Any] = {"name": name}
    if d.options.namespace:
        meta["namespace"] = d.options.namespace
    meta["labels"] = {"app.kubernetes.io/managed-by": "emac-sim", "emac.dev/journey": _k8s_label_value(d.journey.name)}
    meta["annotations"] = {"emac.dev/provenance": f"sha256:{d.digest}"}
    return meta


def _k8s_name(name: str) -> str:
    """A DNS-1123 subdomain-safe name."""
    s = re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.")
    return s[:200] or "journey"


def _k8s_label_value(v: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", v).strip("-._")
    return s[:63]
