"""Sloth-compatible SLO rules: SLI error ratios per window, SLO metadata, multiwindow alerts.

Two entry points share one rule builder:

- :func:`generate` reads a Sloth ``prometheus/v1`` document and writes the rule groups Sloth's
  ``sloth generate`` writes for it (same group names, records, expressions, labels, alerts and
  float formatting; tested byte for byte against Sloth's golden file);
- :mod:`emac_sim.emit.prometheus` builds an :class:`SLO` from a journey and writes the same
  ``slo:sli_error:ratio_rate<w>`` family (so Sloth dashboards and tooling work) with its own
  group and alert names.

Conventions (Sloth's): an SLO's id is ``<service>-<name>``; every series carries ``sloth_id``,
``sloth_service``, ``sloth_slo`` and, for SLIs, ``sloth_window``; the error budget is
``(100 − objective%)/100``; a burn-rate factor is the share of the budget a window may spend,
scaled to the window: ``factor = budget% · period / 100 / long window`` (SRE Workbook ch. 5:
2 %/1 h → 14.4, 5 %/6 h → 6, 10 %/1 d → 3, 10 %/3 d → 1 over 30 days). The period ratio
(``ratio_rate30d``) averages the shortest SLI over the period (sum_over_time / count_over_time).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from ..errors import SpecError
from ..spec.yamlio import scalar_text
from ..units import parse_duration
from .yamltext import dump

Style = Literal["sloth", "emac"]

SLI_ERROR_METRIC = "slo:sli_error:ratio_rate{window}"
WINDOW_LABEL = "sloth_window"
ID_LABEL, SERVICE_LABEL, SLO_LABEL = "sloth_id", "sloth_service", "sloth_slo"
SEVERITY_LABEL = "sloth_severity"
SLOTH_MODE = "cli-gen-prom"
SLOTH_SPEC = "prometheus/v1"


# --------------------------------------------------------------------------- number and duration text


def go_float(x: float) -> str:
    """``x`` as Go's ``fmt`` prints a float64 with ``%g``/``%v`` (Sloth's templates and ``Sprintf``).

    Shortest round-trip digits (the same digits as Python's ``repr``); exponent form when the
    decimal exponent is below −4 or at least 6 (``strconv.FormatFloat(x, 'g', -1, 64)`` uses a
    fixed precision of 6 for that decision): ``14.4``, ``6``, ``0.0009999999999999432``,
    ``1e-05``, ``1e+06``.
    """
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "+Inf" if x > 0 else "-Inf"
    if x == 0:
        return "0"
    neg, ds, exp10 = _digits(x)
    if exp10 < -4 or exp10 >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        return f"{neg}{mant}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    return neg + _positional(ds, exp10)


def _digits(x: float) -> tuple[str, str, int]:
    """(sign, shortest significant digits, decimal exponent of the first digit)."""
    sign, digits, exponent = Decimal(repr(x)).normalize().as_tuple()
    ds = "".join(map(str, digits))
    return ("-" if sign else ""), ds, len(ds) + int(exponent) - 1


def _positional(ds: str, exp10: int) -> str:
    if exp10 < 0:
        return "0." + "0" * (-exp10 - 1) + ds
    if exp10 + 1 >= len(ds):
        return ds + "0" * (exp10 + 1 - len(ds))
    return ds[: exp10 + 1] + "." + ds[exp10 + 1 :]


def go_float_f(x: float) -> str:
    """``strconv.FormatFloat(x, 'f', -1, 64)``: shortest digits, never an exponent (``99.9``, ``95``)."""
    if x == 0:
        return "0"
    neg, ds, exp10 = _digits(x)
    return neg + _positional(ds, exp10)


def prom_duration(seconds: float) -> str:
    """A duration as Prometheus writes it (``model.Duration.String``): ``5m``, ``1h30m``, ``1d``, ``1w``.

    Years and weeks are used only when they divide exactly (``90d``, not ``12w6d``).
    """
    ms = int(round(seconds * 1000))
    if ms <= 0:
        return "0s"
    out = ""
    for unit, mult, exact in (
        ("y", 365 * 86400_000, True),
        ("w", 7 * 86400_000, True),
        ("d", 86400_000, False),
        ("h", 3600_000, False),
        ("m", 60_000, False),
        ("s", 1000, False),
        ("ms", 1, False),
    ):
        if exact and ms % mult:
            continue
        v = ms // mult
        if v > 0:
            out += f"{v}{unit}"
            ms -= v * mult
    return out


def label_filter(labels: Mapping[str, str]) -> str:
    """``{a="x", b="y"}`` with keys sorted, as Sloth writes selectors."""
    inner = ", ".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# --------------------------------------------------------------------------- the SLO model


@dataclass(frozen=True)
class BurnWindow:
    """One multiwindow condition: error ratio above ``factor × budget`` over both windows (seconds)."""

    severity: Literal["page", "ticket"]
    factor: float
    short: float
    long: float


@dataclass(frozen=True)
class AlertMeta:
    """Name, labels and annotations of one severity's alert (``disabled``: not generated)."""

    name: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()
    disabled: bool = False


@dataclass(frozen=True)
class SLO:
    """An SLO in Sloth's terms.

    Attributes
    ----------
    service, name
        Sloth service and SLO name; the id is ``<service>-<name>``.
    objective
        Objective in percent (99.9).
    sli
        Error-ratio expression template with ``{{.window}}`` placeholders, already assembled
        (events: ``(errors)\\n/\\n(total)\\n``; raw: ``(ratio)``).
    labels
        Labels for every recorded series (merged global and SLO labels).
    period
        SLO period, seconds.
    windows
        Burn-rate conditions, page ones first, each severity's in alerting order.
    base_window
        The SLI window the period ratio averages (Sloth: the page-quick short window).
    page, ticket
        Alert metadata per severity.
    error_budget
        Error budget ratio used in alert thresholds; ``None``: Sloth's ``(100 − objective)/100``.
    """

    service: str
    name: str
    objective: float
    sli: str
    labels: tuple[tuple[str, str], ...]
    period: float
    windows: tuple[BurnWindow, ...]
    base_window: float
    page: AlertMeta = field(default_factory=AlertMeta)
    ticket: AlertMeta = field(default_factory=AlertMeta)
    error_budget: float | None = None
    source: str = "<sloth>"
    path: str = ""

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def id_labels(self) -> dict[str, str]:
        return {ID_LABEL: self.id, SERVICE_LABEL: self.service, SLO_LABEL: self.name}

    @property
    def selector(self) -> str:
        return label_filter(self.id_labels)

    @property
    def budget_ratio(self) -> float:
        return self.error_budget if self.error_budget is not None else (100.0 - self.objective) / 100.0

    def sli_windows(self) -> list[float]:
        """Every window an alert needs, ascending, then the period (unless already there)."""
        ws = sorted({w.short for w in self.windows} | {w.long for w in self.windows})
        return ws + ([self.period] if self.period not in ws else [])

    def metric(self, window: float) -> str:
        return SLI_ERROR_METRIC.format(window=prom_duration(window))


_WINDOW_PLACEHOLDER = re.compile(r"\{\{-?\s*\.window\s*-?\}\}")
_ANY_ACTION = re.compile(r"\{\{.*?\}\}", re.S)


def render_window(template: str, window: float, source: str = "<sloth>", path: str = "") -> str:
    """Replace ``{{.window}}`` (any spacing) with the Prometheus duration of ``window``.

    Raises
    ------
    SpecError
        When the template holds another template action (Sloth renders only ``.window``).
    """
    text = _WINDOW_PLACEHOLDER.sub(prom_duration(window), template)
    other = _ANY_ACTION.search(text)
    if other:
        raise SpecError(source, path, f"unsupported template action {other.group(0)!r} in SLI query (only {{{{ .window }}}} is rendered)")
    return text


def replace_window(template: str, replacement: str) -> str:
    """Replace every ``{{.window}}`` placeholder with ``replacement`` verbatim (e.g. Flagger's ``{{ interval }}``)."""
    return _WINDOW_PLACEHOLDER.sub(lambda _m: replacement, template)


def has_window_placeholder(template: str) -> bool:
    return bool(_WINDOW_PLACEHOLDER.search(template))


# --------------------------------------------------------------------------- rules


def _merge(*maps: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in maps:
        out.update(m)
    return dict(sorted(out.items()))


def sli_recording_rules(slo: SLO) -> list[dict[str, Any]]:
    """``slo:sli_error:ratio_rate<w>`` for every alert window, then the period ratio."""
    rules = []
    for w in slo.sli_windows():
        wstr = prom_duration(w)
        labels = _merge(slo.id_labels, {WINDOW_LABEL: wstr}, dict(slo.labels))
        if w == slo.period and slo.period not in {x.short for x in slo.windows} | {x.long for x in slo.windows}:
            base = slo.metric(slo.base_window)
            expr = f"sum_over_time({base}{slo.selector}[{wstr}])\n/ ignoring ({WINDOW_LABEL})\ncount_over_time({base}{slo.selector}[{wstr}])\n"
        else:
            expr = render_window(slo.sli, w, slo.source, slo.path)
        rules.append({"record": slo.metric(w), "expr": expr, "labels": labels})
    return rules


def meta_recording_rules(slo: SLO, *, version: str | None) -> list[dict[str, Any]]:
    """SLO metadata: objective, error budget, period, current/period burn rates, budget left, info.

    ``version=None`` leaves out ``sloth_slo_info`` (which names a Sloth version and mode).
    """
    labels = _merge(slo.id_labels, dict(slo.labels))
    ratio = slo.objective / 100.0
    sel = slo.selector
    burn = "{metric}{sel}\n/ on({id}, {slo}, {svc}) group_left\nslo:error_budget:ratio{sel}\n"
    on = {"id": ID_LABEL, "slo": SLO_LABEL, "svc": SERVICE_LABEL, "sel": sel}
    rules: list[dict[str, Any]] = [
        {"record": "slo:objective:ratio", "expr": f"vector({go_float(ratio)})", "labels": labels},
        {"record": "slo:error_budget:ratio", "expr": f"vector(1-{go_float(ratio)})", "labels": labels},
        {"record": "slo:time_period:days", "expr": f"vector({go_float(slo.period / 86400.0)})", "labels": labels},
        {"record": "slo:current_burn_rate:ratio", "expr": burn.format(metric=slo.metric(slo.base_window), **on), "labels": labels},
        {"record": "slo:period_burn_rate:ratio", "expr": burn.format(metric=slo.metric(slo.period), **on), "labels": labels},
        {"record": "slo:period_error_budget_remaining:ratio", "expr": f"1 - slo:period_burn_rate:ratio{sel}", "labels": labels},
    ]
    if version is not None:
        info = _merge(
            labels,
            {"sloth_version": version, "sloth_mode": SLOTH_MODE, "sloth_spec": SLOTH_SPEC, "sloth_objective": go_float_f(slo.objective)},
        )
        rules.append({"record": "sloth_slo_info", "expr": "vector(1)", "labels": info})
    return rules


def alert_expression(slo: SLO, windows: list[BurnWindow]) -> str:
    """OR over ``windows`` of (short AND long window error ratio above factor × budget)."""
    budget = go_float(slo.budget_ratio)
    blocks = []
    for w in windows:
        f = go_float(w.factor)
        short = f"max({slo.metric(w.short)}{slo.selector} > ({f} * {budget})) without ({WINDOW_LABEL})"
        long = f"max({slo.metric(w.long)}{slo.selector} > ({f} * {budget})) without ({WINDOW_LABEL})"
        blocks.append(f"(\n    {short}\n    and\n    {long}\n)\n")
    return "or\n".join(blocks)


def _sloth_annotations(severity: str) -> dict[str, str]:
    svc, slo = f"{{{{$labels.{SERVICE_LABEL}}}}}", f"{{{{$labels.{SLO_LABEL}}}}}"
    return {
        "title": f"({severity}) {svc} {slo} SLO error budget burn rate is too fast.",
        "summary": f"{svc} {slo} SLO error budget burn rate is over expected.",
    }


def alert_rules(slo: SLO, *, style: Style = "sloth") -> list[dict[str, Any]]:
    """One alert per enabled severity (page, then ticket).

    ``style="sloth"`` adds Sloth's templated ``title``/``summary`` annotations; ``"emac"`` takes
    the annotations from the :class:`AlertMeta` only.
    """
    rules = []
    for severity, meta in (("page", slo.page), ("ticket", slo.ticket)):
        ws = [w for w in slo.windows if w.severity == severity]
        if meta.disabled or not ws:
            continue
        extra = _sloth_annotations(severity) if style == "sloth" else {}
        rules.append(
            {
                "alert": meta.name,
                "expr": alert_expression(slo, ws),
                "labels": _merge({SEVERITY_LABEL: severity}, dict(meta.labels)),
                "annotations": _merge(extra, dict(meta.annotations)),
            }
        )
    return rules


def rule_groups(slo: SLO, *, style: Style = "sloth", version: str | None = None) -> list[dict[str, Any]]:
    """The SLI, metadata and alert groups of one SLO (the alert group only when it has rules)."""
    prefix = "sloth-slo" if style == "sloth" else "emac-slo"
    groups = [
        {"name": f"{prefix}-sli-recordings-{slo.id}", "rules": sli_recording_rules(slo)},
        {"name": f"{prefix}-meta-recordings-{slo.id}", "rules": meta_recording_rules(slo, version=version)},
    ]
    alerts = alert_rules(slo, style=style)
    if alerts:
        groups.append({"name": f"{prefix}-alerts-{slo.id}", "rules": alerts})
    return groups


# --------------------------------------------------------------------------- Sloth documents

#: Sloth's default "google-30d" alert windows: (severity, budget %, short, long).
GOOGLE_30D: tuple[tuple[str, float, float, float], ...] = (
    ("page", 2.0, 300.0, 3600.0),
    ("page", 5.0, 1800.0, 6 * 3600.0),
    ("ticket", 10.0, 2 * 3600.0, 86400.0),
    ("ticket", 10.0, 6 * 3600.0, 3 * 86400.0),
)


def burn_factor(budget_percent: float, period: float, long_window: float) -> float:
    """Sloth's speed: hours of the period the budget share stands for, divided by the long window's hours."""
    hours_required = budget_percent * (period / 3600.0) / 100.0
    return hours_required / (long_window / 3600.0)


def _windows_from(spec: tuple[tuple[str, float, float, float], ...], period: float) -> tuple[BurnWindow, ...]:
    return tuple(BurnWindow(sev, burn_factor(pct, period, lw), sw, lw) for sev, pct, sw, lw in spec)  # type: ignore[arg-type]


def parse_alert_windows(doc: Mapping[str, Any], source: str = "<windows>") -> tuple[float, tuple[BurnWindow, ...]]:
    """Read a Sloth ``AlertWindows`` document (``sloth.slok.dev/v1``) → (period seconds, windows)."""
    if not isinstance(doc, Mapping) or doc.get("kind") != "AlertWindows":
        raise SpecError(source, "kind", "expected a Sloth AlertWindows document")
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        raise SpecError(source, "spec", "expected a mapping")
    period = _duration(spec.get("sloPeriod"), source, "spec.sloPeriod")
    rows = []
    for sev in ("page", "ticket"):
        for speed in ("quick", "slow"):
            p = f"spec.{sev}.{speed}"
            w = (spec.get(sev) or {}).get(speed) if isinstance(spec.get(sev), Mapping) else None
            if not isinstance(w, Mapping):
                raise SpecError(source, p, "missing window")
            pct = w.get("errorBudgetPercent")
            if isinstance(pct, bool) or not isinstance(pct, (int, float)) or pct <= 0:
                raise SpecError(source, f"{p}.errorBudgetPercent", f"expected a positive number, got {pct!r}")
            rows.append(
                (
                    sev,
                    float(pct),
                    _duration(w.get("shortWindow"), source, f"{p}.shortWindow"),
                    _duration(w.get("longWindow"), source, f"{p}.longWindow"),
                )
            )
    return period, _windows_from(tuple(rows), period)


def _duration(v: Any, source: str, path: str) -> float:
    try:
        s = parse_duration(v)
    except ValueError as exc:
        raise SpecError(source, path, str(exc)) from None
    if s <= 0:
        raise SpecError(source, path, f"must be a positive duration, got {v!r}")
    return s


def _str_map(v: Any, source: str, path: str) -> dict[str, str]:
    if v is None:
        return {}
    if not isinstance(v, Mapping):
        raise SpecError(source, path, "expected a mapping of strings")
    return {scalar_text(k): scalar_text(x) for k, x in v.items()}


def _alert_meta(alerting: Mapping[str, Any], key: str, source: str, path: str) -> AlertMeta:
    sub = alerting.get(key) or {}
    if not isinstance(sub, Mapping):
        raise SpecError(source, f"{path}.{key}", "expected a mapping")
    for k in sub:
        if k not in ("disable", "labels", "annotations"):
            raise SpecError(source, f"{path}.{key}.{k}", f"unknown key {k!r} (allowed: disable, labels, annotations)")
    labels = _merge(_str_map(alerting.get("labels"), source, f"{path}.labels"), _str_map(sub.get("labels"), source, f"{path}.{key}.labels"))
    ann = _merge(
        _str_map(alerting.get("annotations"), source, f"{path}.annotations"), _str_map(sub.get("annotations"), source, f"{path}.{key}.annotations")
    )
    return AlertMeta(
        name=str(alerting.get("name") or ""), labels=tuple(labels.items()), annotations=tuple(ann.items()), disabled=bool(sub.get("disable", False))
    )


def parse_sloth_document(
    doc: Mapping[str, Any],
    *,
    windows: Mapping[str, Any] | None = None,
    source: str = "<sloth>",
) -> list[SLO]:
    """Sloth ``prometheus/v1`` document → one :class:`SLO` per entry of ``slos``.

    Parameters
    ----------
    doc
        The parsed YAML document (``version``, ``service``, ``labels``, ``slos``).
    windows
        A Sloth ``AlertWindows`` document; ``None``: Sloth's default google-30d windows.
    source
        File name for error messages.
    """
    if not isinstance(doc, Mapping):
        raise SpecError(source, "", "expected a Sloth prometheus/v1 mapping")
    if doc.get("version") != SLOTH_SPEC:
        raise SpecError(source, "version", f"expected {SLOTH_SPEC!r}, got {doc.get('version')!r}")
    service = doc.get("service")
    if not isinstance(service, str) or not service:
        raise SpecError(source, "service", "expected a non-empty string")
    global_labels = _str_map(doc.get("labels"), source, "labels")
    if windows is None:
        period = 30 * 86400.0
        bws = _windows_from(GOOGLE_30D, period)
    else:
        period, bws = parse_alert_windows(windows)
    slos = doc.get("slos")
    if not isinstance(slos, list) or not slos:
        raise SpecError(source, "slos", "expected a non-empty list of SLOs")
    out = []
    for i, s in enumerate(slos):
        p = f"slos[{i}]"
        if not isinstance(s, Mapping):
            raise SpecError(source, p, "expected a mapping")
        name = s.get("name")
        if not isinstance(name, str) or not name:
            raise SpecError(source, f"{p}.name", "expected a non-empty string")
        obj = s.get("objective")
        if isinstance(obj, bool) or not isinstance(obj, (int, float)) or not 0 < float(obj) <= 100:
            raise SpecError(source, f"{p}.objective", f"expected a percentage in (0, 100], got {obj!r}")
        sli = s.get("sli")
        if not isinstance(sli, Mapping):
            raise SpecError(source, f"{p}.sli", "expected a mapping with events or raw")
        if "plugin" in sli:
            raise SpecError(source, f"{p}.sli.plugin", "SLI plugins are not supported; use events or raw")
        if "events" in sli:
            ev = sli["events"]
            if not isinstance(ev, Mapping) or not isinstance(ev.get("error_query"), str) or not isinstance(ev.get("total_query"), str):
                raise SpecError(source, f"{p}.sli.events", "needs error_query and total_query strings")
            template = f"({ev['error_query']})\n/\n({ev['total_query']})\n"
        elif "raw" in sli:
            raw = sli["raw"]
            if not isinstance(raw, Mapping) or not isinstance(raw.get("error_ratio_query"), str):
                raise SpecError(source, f"{p}.sli.raw", "needs an error_ratio_query string")
            template = f"({raw['error_ratio_query']})"
        else:
            raise SpecError(source, f"{p}.sli", "needs events or raw")
        alerting = s.get("alerting") or {}
        if not isinstance(alerting, Mapping):
            raise SpecError(source, f"{p}.alerting", "expected a mapping")
        page = _alert_meta(alerting, "page_alert", source, f"{p}.alerting")
        ticket = _alert_meta(alerting, "ticket_alert", source, f"{p}.alerting")
        if not (page.disabled and ticket.disabled) and not page.name:
            raise SpecError(source, f"{p}.alerting.name", "alerts are enabled but have no name")
        labels = _merge(global_labels, _str_map(s.get("labels"), source, f"{p}.labels"))
        out.append(
            SLO(
                service=service,
                name=name,
                objective=float(obj),
                sli=template,
                labels=tuple(labels.items()),
                period=period,
                windows=bws,
                base_window=bws[0].short,
                page=page,
                ticket=ticket,
                source=source,
                path=f"{p}.sli",
            )
        )
    return out


def generate_groups(sloth_doc: Mapping[str, Any], *, windows: Mapping[str, Any] | None = None, version: str, source: str = "<sloth>") -> list[dict]:
    """The rule groups Sloth generates for ``sloth_doc`` (see :func:`generate`)."""
    groups: list[dict] = []
    for slo in parse_sloth_document(sloth_doc, windows=windows, source=source):
        groups.extend(rule_groups(slo, style="sloth", version=version))
    return groups


def generate(sloth_doc: Mapping[str, Any], *, windows: Mapping[str, Any] | None = None, version: str | None = None, source: str = "<sloth>") -> str:
    """Prometheus rule file text (``groups:``) for a Sloth ``prometheus/v1`` document.

    The body is what ``sloth generate`` writes for the same document (without its two-line
    comment header): ``sloth_version`` carries ``version`` (default ``emac-sim-<our version>``).

    Parameters
    ----------
    sloth_doc
        Parsed Sloth document.
    windows
        Optional Sloth ``AlertWindows`` document (default google-30d).
    version
        Value of the ``sloth_version`` label of ``sloth_slo_info``.
    source
        File name for error messages.

    Raises
    ------
    SpecError
        Invalid document (unsupported SLI plugin, missing queries, bad objective...).
    """
    if version is None:
        from ..core.version import __version__

        version = f"emac-sim-{__version__}"
    return dump({"groups": generate_groups(sloth_doc, windows=windows, version=version, source=source)})
