"""promtool unit tests proving each burn-rate alert fires at its burn rate and stays quiet below it.

For every alert (one per severity) and every window pair ``(factor f, long L, short S)`` in it,
two test groups feed the alert rules synthetic SLI error ratios: an error ratio ``r`` switches on
at t = 0 and each recorded window ratio ramps up as a real rate ratio would,
``ratio_w(t) = r · min(t, w) / w`` (the window fills with errors). With ``B`` the error budget:

- *fires*: ``r = (1 + ε) · f · B`` — the alert must fire by ``t = L`` (when the long window is
  full) and not before the long window has seen enough errors;
- *quiet*: ``r = (1 − ε) · f · B`` — the alert must stay quiet at ``t = L``.

ε = 1 %. Expected states are computed from the same ramp model over *all* windows of the alert
(a lower-burn window may legitimately fire too), at evaluation times chosen so that no condition
sits within 0.2 % of its threshold. promtool evaluates the real rules, so a wrong threshold, window
or label in ``alerts.yaml`` fails the test.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .sloth import SLO, WINDOW_LABEL, BurnWindow, alert_rules, prom_duration, sli_recording_rules
from .yamltext import dump

EPSILON = 0.01
MARGIN = 0.002
MAX_SHIFT_STEPS = 50


def _gcd_seconds(values: list[float]) -> int:
    g = 0
    for v in values:
        g = math.gcd(g, int(round(v)))
    return g


def evaluation_interval(slos: list[SLO]) -> int:
    """Seconds between rule evaluations (and series samples): the largest divisor of every window
    that is at most 5 minutes, so samples land on every window edge and never go stale (5 m lookback)."""
    ws = [w for s in slos for bw in s.windows for w in (bw.short, bw.long)]
    g = _gcd_seconds(ws) if ws else 60
    return next(k for k in range(min(g, 300), 0, -1) if g % k == 0)


@dataclass(frozen=True)
class _Case:
    alert: dict[str, Any]
    window: BurnWindow
    ratio: float
    fires: bool


def _ramp(r: float, w: float, t: float) -> float:
    return r * min(t, w) / w


def _conditions(windows: list[BurnWindow], budget: float, r: float, t: float) -> list[tuple[float, float]]:
    """(value, threshold) of every short/long comparison at time t."""
    out = []
    for bw in windows:
        thr = bw.factor * budget
        out.append((_ramp(r, bw.short, t), thr))
        out.append((_ramp(r, bw.long, t), thr))
    return out


def _fires(windows: list[BurnWindow], budget: float, r: float, t: float) -> bool:
    c = _conditions(windows, budget, r, t)
    return any(c[2 * i][0] > c[2 * i][1] and c[2 * i + 1][0] > c[2 * i + 1][1] for i in range(len(windows)))


def _clear(windows: list[BurnWindow], budget: float, r: float, t: float) -> bool:
    """No comparison within MARGIN (relative) of its threshold at t."""
    return all(abs(v - thr) > MARGIN * thr for v, thr in _conditions(windows, budget, r, t))


def _pick_time(windows: list[BurnWindow], budget: float, r: float, t: float, step: int) -> int:
    t0 = int(round(t / step)) * step
    for k in range(MAX_SHIFT_STEPS):
        for cand in (t0 + k * step, t0 - k * step):
            if cand > 0 and _clear(windows, budget, r, cand):
                return cand
    return t0


def _expand(template: str, labels: Mapping[str, str]) -> str:
    """Expand ``{{$labels.x}}`` / ``{{ $labels.x }}`` as Prometheus does for alert annotations."""

    def repl(m: re.Match[str]) -> str:
        return labels.get(m.group(1), "")

    return re.sub(r"\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", repl, template)


def _series_text(name: str, labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _values(r: float, w: float, step: int, until: int) -> str:
    """Series values every ``step`` from 0 to ``until``: a ramp to ``r`` over ``w`` then flat."""
    n_ramp = int(round(w / step))
    n_total = until // step + 1
    if n_ramp >= n_total - 1:
        return f"0+{_num(r / n_ramp)}x{n_total - 1}"
    return f"0+{_num(r / n_ramp)}x{n_ramp} {_num(r)}x{n_total - n_ramp - 2}"


def _num(v: float) -> str:
    """Positional notation (promtool's series syntax reads ``x`` after a number)."""
    return format(Decimal(repr(float(v))), "f")


def _fmt_minutes(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def test_groups(slo: SLO, alerts: list[dict[str, Any]], interval: int) -> list[tuple[str, dict[str, Any]]]:
    """(comment, promtool test group) pairs for one SLO's alerts."""
    sli_labels = {r["record"]: r["labels"] for r in sli_recording_rules(slo)}
    budget = slo.budget_ratio
    out = []
    for rule in alerts:
        severity = dict(rule["labels"]).get("sloth_severity", "page")
        ws = [w for w in slo.windows if w.severity == severity]
        needed = sorted({w.short for w in ws} | {w.long for w in ws})
        step = interval  # samples at every evaluation: no staleness, exact ramp values at eval times
        for bw in ws:
            for fires in (True, False):
                r = (1 + EPSILON if fires else 1 - EPSILON) * bw.factor * budget
                t_full = _pick_time(ws, budget, r, bw.long, step)
                t_half = _pick_time(ws, budget, r, bw.long / 2, step)
                times = sorted({t_half, t_full}) if fires else [t_full]
                until = max(times) + step
                series = []
                for w in needed:
                    name = slo.metric(w)
                    series.append({"series": _series_text(name, sli_labels[name]), "values": _values(r, w, step, until)})
                alert_labels = {k: v for k, v in sli_labels[slo.metric(needed[0])].items() if k != WINDOW_LABEL}
                full_labels = dict(sorted({**alert_labels, **rule["labels"]}.items()))
                annotations = {k: _expand(v, alert_labels) for k, v in rule.get("annotations", {}).items()}
                checks = []
                for t in times:
                    expected = _fires(ws, budget, r, t)
                    exp = [{"exp_labels": full_labels, **({"exp_annotations": annotations} if annotations else {})}] if expected else []
                    checks.append({"eval_time": _fmt_minutes(t), "alertname": rule["alert"], "exp_alerts": exp})
                verb = "fires by" if fires else "stays quiet at"
                name = (
                    f"{rule['alert']} ({severity}) {verb} {prom_duration(bw.long)} at {1 + EPSILON if fires else 1 - EPSILON:g} x "
                    f"burn rate {bw.factor:g} ({prom_duration(bw.long)}/{prom_duration(bw.short)} windows)"
                )
                comment = f"error ratio {r!r} = {1 + EPSILON if fires else 1 - EPSILON:g} x {bw.factor:g} x {budget!r} from t=0"
                out.append(
                    (
                        comment,
                        {
                            "name": name,
                            "interval": _fmt_minutes(step),
                            "input_series": series,
                            "alert_rule_test": checks,
                        },
                    )
                )
    return out


def alert_tests_text(slo: SLO | None, *, style: str, rule_file: str = "alerts.yaml") -> str:
    """The promtool test file for the alerts of ``slo`` (``tests: []`` without alerts)."""
    from .sloth import Style

    st: Style = "sloth" if style == "sloth" else "emac"
    alerts = alert_rules(slo, style=st) if slo is not None else []
    interval = evaluation_interval([slo]) if slo is not None else 60
    head = dump({"rule_files": [rule_file], "evaluation_interval": _fmt_minutes(interval)})
    groups = test_groups(slo, alerts, interval) if slo is not None and alerts else []
    if not groups:
        return head + "tests: []\n"
    body = "tests:\n"
    for comment, g in groups:
        body += f"# {comment}\n" + dump([g])
    return head + body
