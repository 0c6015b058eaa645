"""promtool unit tests proving each burn-rate alert fires at its burn rate and stays quiet below it.

For every alert (one per severity) and every window pair ``(factor f, long L, short S)`` in it,
three test groups feed the alert rules synthetic SLI error ratios. The journey's error ratio
``e(t)`` is piecewise constant from t = 0 (no errors before), and each recorded window ratio is
what a rate ratio over that window sees, ``ratio_w(t) = (1/w) ∫_{t−w}^{t} e``. With ``B`` the
error budget and ε = 1 %:

- *fires*: ``e = (1 + ε)·f·B`` — quiet while the long window is half full, firing by ``t = L``;
- *quiet*: ``e = (1 − ε)·f·B`` — still quiet at ``t = L``;
- *resets*: ``e = (1 + ε)·f·B`` until the alert has fired, then ``(1 − ε)·f·B`` — quiet one short
  window later although the long window is still above the threshold (the short window's job);
- *gated*: a burst at ``2·f·B`` fills the short window while the long window averages
  ``(1 − ε)·f·B`` — quiet (the long window's job).

Expected states are computed from the same model over *all* windows of the alert (a lower-burn
window may legitimately fire too) at evaluation times where no comparison sits within 0.2 % of
its threshold. promtool evaluates the real rules, so a threshold off by 1 % in either window, a
wrong window or a wrong label in ``alerts.yaml`` fails the tests. Rules are evaluated on a coarse
grid (the evaluation times' greatest common divisor) while series are sampled at most every
5 minutes, so long windows stay cheap to test.

When the journey's SLI is plain ``sum(rate(counter{…}[{{ .window }}]))`` ratios (the
``journey_requests_total`` convention), the *fires* and *quiet* cases are also run from the raw
counters (:class:`Counters`): ``recording-rules.yaml`` computes every window's error ratio and
the alerts read those, so the recording rules are tested too. The counters carry a steady
``N`` requests per sample with no errors for a warm-up as long as the longest window, then the
case's error ratio; an error ratio over a window is then exactly the mean of ``e`` over it
(Prometheus 2 rate() over an inclusive range whose ends are samples; counters are sampled at
most every half of the shortest window, so every range holds at least two samples).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .sloth import SLO, WINDOW_LABEL, BurnWindow, Style, alert_rules, prom_duration, sli_recording_rules
from .yamltext import dump

EPSILON = 0.01
MARGIN = 0.002
MAX_SHIFTS = 40
LOOKBACK = 300  # Prometheus' default staleness lookback, seconds

Segments = list[tuple[int, float]]  # (start second, error ratio from then on)


def _gcd(values: list[int]) -> int:
    g = 0
    for v in values:
        g = math.gcd(g, int(v))
    return g


def sample_step(slo: SLO) -> int:
    """Seconds between series samples: the largest divisor of every window that is at most 5 minutes."""
    g = _gcd([int(round(w)) for bw in slo.windows for w in (bw.short, bw.long)]) or 60
    return next(k for k in range(min(g, LOOKBACK), 0, -1) if g % k == 0)


def window_ratio(w: float, t: float, segments: Segments) -> float:
    """Error ratio a window of ``w`` seconds sees at ``t`` (the mean of e over [t − w, t], e = 0 before 0)."""
    lo = max(t - w, 0.0)
    total = 0.0
    for i, (start, rate) in enumerate(segments):
        end = segments[i + 1][0] if i + 1 < len(segments) else math.inf
        a, b = max(start, lo), min(end, t)
        if b > a:
            total += rate * (b - a)
    return total / w


def _conditions(ws: list[BurnWindow], budget: float, segments: Segments, t: float) -> list[tuple[float, float]]:
    out = []
    for bw in ws:
        thr = bw.factor * budget
        out += [(window_ratio(bw.short, t, segments), thr), (window_ratio(bw.long, t, segments), thr)]
    return out


def fires(ws: list[BurnWindow], budget: float, segments: Segments, t: float) -> bool:
    """Expected alert state at ``t``: some window pair has both ratios above its threshold."""
    c = _conditions(ws, budget, segments, t)
    return any(c[2 * i][0] > c[2 * i][1] and c[2 * i + 1][0] > c[2 * i + 1][1] for i in range(len(ws)))


def _clear(ws: list[BurnWindow], budget: float, segments: Segments, t: float) -> bool:
    return all(abs(v - thr) > MARGIN * thr for v, thr in _conditions(ws, budget, segments, t))


def _on_grid(ws: list[BurnWindow], budget: float, segments: Segments, t: float, grid: int) -> int:
    """The grid time at or after ``t`` (searching forward, then back) where the expectation is unambiguous."""
    t0 = int(math.ceil(t / grid)) * grid
    for k in range(MAX_SHIFTS):
        for cand in (t0 + k * grid, t0 - k * grid):
            if cand > 0 and _clear(ws, budget, segments, cand):
                return cand
    return t0


def _num(v: float) -> str:
    """Positional notation (promtool's series syntax reads ``x`` right after a number)."""
    text = format(Decimal(repr(float(v))), "f")
    return "0" if text in ("0", "-0", "0.0", "-0.0") else text


def series_values(w: float, segments: Segments, step: int, until: int) -> str:
    """promtool expanding notation for ``ratio_w`` sampled every ``step`` from 0 to ``until``.

    ``ratio_w`` is piecewise linear with breaks where a segment starts or leaves the window; each
    linear piece becomes ``a+bxn`` (or ``a-bxn``).
    """
    breaks = {0, until}
    for start, _ in segments:
        for b in (start, start + w):
            if 0 < b < until:
                breaks.add(int(round(b)))
    pts = sorted(breaks)
    parts = []
    first = True
    for a, b in zip(pts, pts[1:]):
        n = (b - a) // step
        va, vb = window_ratio(w, a, segments), window_ratio(w, b, segments)
        slope = (vb - va) / n
        if first:
            start_v, count = va, n
        else:
            start_v, count = va + slope, n - 1
        first = False
        if count < 0:
            continue
        sign = "+" if slope >= 0 else "-"
        parts.append(f"{_num(start_v)}{sign}{_num(abs(slope))}x{count}")
    return " ".join(parts)


def _expand(template: str, labels: Mapping[str, str]) -> str:
    """Expand ``{{$labels.x}}`` / ``{{ $labels.x }}`` as Prometheus does for alert annotations."""
    return re.sub(r"\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)


def _series_name(name: str, labels: Mapping[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _duration(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def _cases(slo: SLO, ws: list[BurnWindow], bw: BurnWindow, grid: int, step: int) -> list[tuple[str, Segments, list[int]]]:
    """(kind, segments, evaluation times) for one window pair."""
    budget = slo.budget_ratio
    hi, lo = (1 + EPSILON) * bw.factor * budget, (1 - EPSILON) * bw.factor * budget
    up: Segments = [(0, hi)]
    down: Segments = [(0, lo)]
    t_full = _on_grid(ws, budget, up, bw.long, grid)
    cases = [
        ("fires", up, sorted({_on_grid(ws, budget, up, bw.long / 2, grid), t_full})),
        ("quiet", down, [_on_grid(ws, budget, down, bw.long, grid)]),
    ]
    # reset: drop at T (on the sample grid) so that T + S lands on the evaluation grid, T ≥ t_full
    drop = t_full
    while (drop + int(bw.short)) % grid:
        drop += step
    reset: Segments = [(0, hi), (drop, lo)]
    before = _on_grid(ws, budget, reset, drop, grid) if drop % grid == 0 else t_full
    cases.append(("resets", reset, sorted({before, drop + int(bw.short)})))
    # long-window gate: a burst at 2·f·B fills the short window while the long window, evaluated
    # when it is exactly full, averages (1 − ε)·f·B
    burst_at = int(round(bw.long - bw.short))
    base = ((1 - EPSILON) * bw.long - 2 * bw.short) / (bw.long - bw.short) * bw.factor * budget if bw.long > bw.short else 0.0
    if base >= 0 and burst_at > 0 and int(bw.long) % grid == 0:
        gate: Segments = [(0, base), (burst_at, 2 * bw.factor * budget)]
        cases.append(("gated", gate, [int(bw.long)]))
    return cases


def _describe(kind: str, rule: dict[str, Any], severity: str, bw: BurnWindow, segments: Segments, budget: float) -> tuple[str, str]:
    win = f"burn rate {bw.factor:g} ({prom_duration(bw.long)}/{prom_duration(bw.short)} windows)"
    if kind == "fires":
        name = f"{rule['alert']} ({severity}) fires by {prom_duration(bw.long)} at {1 + EPSILON:g} x {win}"
    elif kind == "quiet":
        name = f"{rule['alert']} ({severity}) stays quiet at {prom_duration(bw.long)} at {1 - EPSILON:g} x {win}"
    elif kind == "resets":
        name = f"{rule['alert']} ({severity}) resets within {prom_duration(bw.short)} once the burn drops to {1 - EPSILON:g} x {win}"
    else:
        name = f"{rule['alert']} ({severity}) stays quiet while the long window averages {1 - EPSILON:g} x {win}"
    steps = "; ".join(f"from t={_duration(s)}: error ratio {_num(r)}" for s, r in segments)
    return name, f"{steps} (error budget {_num(budget)})"


def test_groups(slo: SLO, alerts: list[dict[str, Any]], grid: int) -> list[tuple[str, dict[str, Any]]]:
    """(comment, promtool test group) pairs for one SLO's alerts, evaluated every ``grid`` seconds."""
    sli_labels = {r["record"]: r["labels"] for r in sli_recording_rules(slo)}
    budget = slo.budget_ratio
    step = sample_step(slo)
    out = []
    for rule in alerts:
        severity = dict(rule["labels"]).get("sloth_severity", "page")
        ws = [w for w in slo.windows if w.severity == severity]
        needed = sorted({w.short for w in ws} | {w.long for w in ws})
        alert_labels = {k: v for k, v in sli_labels[slo.metric(needed[0])].items() if k != WINDOW_LABEL}
        full_labels = dict(sorted({**alert_labels, **rule["labels"]}.items()))
        annotations = {k: _expand(v, alert_labels) for k, v in rule.get("annotations", {}).items()}
        for bw in ws:
            for kind, segments, times in _cases(slo, ws, bw, grid, step):
                until = max(times) + step
                series = [
                    {"series": _series_name(slo.metric(w), sli_labels[slo.metric(w)]), "values": series_values(w, segments, step, until)}
                    for w in needed
                ]
                checks = []
                for t in times:
                    exp = (
                        [{"exp_labels": full_labels, **({"exp_annotations": annotations} if annotations else {})}]
                        if fires(ws, budget, segments, t)
                        else []
                    )
                    checks.append({"eval_time": _duration(t), "alertname": rule["alert"], "exp_alerts": exp})
                name, comment = _describe(kind, rule, severity, bw, segments, budget)
                out.append((comment, {"name": name, "interval": _duration(step), "input_series": series, "alert_rule_test": checks}))
    return out


# --------------------------------------------------------------------------- raw counters

_SUM_RATE = re.compile(
    r"^\s*sum\s*\(\s*rate\s*\(\s*(?P<metric>[a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(?P<labels>[^{}]*)\})?"
    r"\s*\[\s*\{\{-?\s*\.window\s*-?\}\}\s*\]\s*\)\s*\)\s*$"
)
_EQ_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$')
EVENTS_PER_SAMPLE = 1000  # requests counted per counter sample


def _selector(query: str) -> tuple[str, dict[str, str]] | None:
    """(metric, equality matchers) of ``sum(rate(metric{a="x",...}[{{ .window }}]))``, else None."""
    m = _SUM_RATE.match(query)
    if m is None:
        return None
    labels: dict[str, str] = {}
    for part in (m.group("labels") or "").split(","):
        if not part.strip():
            continue
        lm = _EQ_MATCHER.match(part)
        if lm is None:
            return None  # regex or negative matchers: no single series to write
        labels[lm.group(1)] = lm.group(2)
    return m.group("metric"), labels


@dataclass(frozen=True)
class Counters:
    """The raw counters behind a good/total SLI: ``good`` counts successful requests; ``other``
    counts the failed ones (``other_counts="errors"``, when the total selector also matches the
    good series) or every request (``other_counts="total"``)."""

    good: tuple[str, tuple[tuple[str, str], ...]]
    other: tuple[str, tuple[tuple[str, str], ...]]
    other_counts: str

    @classmethod
    def from_sli(cls, good_query: str, total_query: str) -> Counters | None:
        """Counters for ``sum(rate(good[w])) / sum(rate(total[w]))`` queries with equality matchers;
        ``None`` when the SLI is not of that form (the tests then start from the recorded ratios)."""
        good, total = _selector(good_query), _selector(total_query)
        if good is None or total is None:
            return None
        (gm, gl), (tm, tl) = good, total
        if gm != tm:
            return cls((gm, tuple(sorted(gl.items()))), (tm, tuple(sorted(tl.items()))), "total")
        extra = {k: v for k, v in gl.items() if tl.get(k) != v}
        if any(k in tl for k in extra) or not extra:
            return None  # the total does not include the good requests, or cannot tell them apart
        bad = {**gl, **{k: ("error" if v != "error" else "ok") for k, v in extra.items()}}
        return cls((gm, tuple(sorted(gl.items()))), (gm, tuple(sorted(bad.items()))), "errors")


def counter_values(segments: Segments, step: int, until: int, rate: float) -> str:
    """promtool expanding notation of a counter growing ``rate(e)·N`` per sample of ``step`` s,
    ``e`` the segments' error ratio, from 0 at t = 0 to ``until``."""
    bounds = [s for s, _ in segments] + [until]
    parts, value = [], 0.0
    for i, (start, e) in enumerate(segments):
        n = (min(bounds[i + 1], until) - start) // step
        inc = rate(e) * EVENTS_PER_SAMPLE
        if i == 0:
            parts.append(f"{_num(value)}+{_num(inc)}x{n}")
        elif n > 0:
            parts.append(f"{_num(value + inc)}+{_num(inc)}x{n - 1}")
        value += inc * n
    return " ".join(parts)


def counter_groups(slo: SLO, alerts: list[dict[str, Any]], grid: int, counters: Counters) -> list[tuple[str, dict[str, Any]]]:
    """(comment, promtool test group) pairs: each window pair fires, and stays quiet just below,
    when the error ratio comes from the raw counters through the recording rules.

    The counters feed every window at once, so the expected alerts are those of every severity
    that shares the tested alert's name (Sloth names page and ticket alerts alike), and the
    warm-up covers all their windows.
    """
    sli_labels = {r["record"]: r["labels"] for r in sli_recording_rules(slo)}
    budget = slo.budget_ratio
    other = (lambda e: e) if counters.other_counts == "errors" else (lambda e: 1.0)
    base_step = sample_step(slo)

    def severity(rule: dict[str, Any]) -> str:
        return dict(rule["labels"]).get("sloth_severity", "page")

    def expected(rule: dict[str, Any]) -> dict[str, Any]:
        ws = [w for w in slo.windows if w.severity == severity(rule)]
        alert_labels = {k: v for k, v in sli_labels[slo.metric(ws[0].short)].items() if k != WINDOW_LABEL}
        annotations = {k: _expand(v, alert_labels) for k, v in rule.get("annotations", {}).items()}
        return {"exp_labels": dict(sorted({**alert_labels, **rule["labels"]}.items())), **({"exp_annotations": annotations} if annotations else {})}

    out = []
    for rule in alerts:
        same = [r for r in alerts if r["alert"] == rule["alert"]]
        windows = {severity(r): [w for w in slo.windows if w.severity == severity(r)] for r in same}
        every = [w for ws in windows.values() for w in ws]
        step = next(k for k in range(min(base_step, int(min(w.short for w in every)) // 2), 0, -1) if base_step % k == 0)
        warm = -(-int(max(w.long for w in every)) // grid) * grid  # no errors for the longest window

        def firing(segments: Segments, t: int, same=same, windows=windows) -> list[dict[str, Any]]:
            return [expected(r) for r in same if fires(windows[severity(r)], budget, segments, t)]

        for bw in windows[severity(rule)]:
            for kind, e in (("fires", (1 + EPSILON) * bw.factor * budget), ("quiet", (1 - EPSILON) * bw.factor * budget)):
                segments: Segments = [(0, 0.0), (warm, e)]
                t = _on_grid(every, budget, segments, warm + bw.long, grid)
                times = [t]
                if kind == "fires":
                    # the long window's ratio crosses its threshold at warm + L/(1 + ε): quiet at half
                    # and at the last grid time before that, so a recording rule over a shorter window
                    # than it says (which would fire early) fails, as one over a longer window fails at t
                    before = int((warm + bw.long / (1 + EPSILON)) // grid) * grid
                    while before > warm and not _clear(every, budget, segments, before):
                        before -= grid
                    half = _on_grid(every, budget, segments, warm + bw.long / 2, grid)
                    times = sorted({half, t} | ({before} if before > warm else set()))
                series = [
                    {"series": _series_name(name, dict(labels)), "values": counter_values(segments, step, t + step, rate)}
                    for (name, labels), rate in ((counters.good, lambda x: 1.0 - x), (counters.other, other))
                ]
                win = f"burn rate {bw.factor:g} ({prom_duration(bw.long)}/{prom_duration(bw.short)} windows)"
                verb = "fires" if kind == "fires" else "stays quiet"
                name = f"{rule['alert']} ({severity(rule)}) {verb} from raw counters at {1 + EPSILON if kind == 'fires' else 1 - EPSILON:g} x {win}"
                comment = (
                    f"{counters.good[0]}: {EVENTS_PER_SAMPLE} requests per {_duration(step)}, no errors until t={_duration(warm)}, "
                    f"then error ratio {_num(e)} (error budget {_num(budget)}); recording-rules.yaml computes the window ratios"
                )
                group = {"name": name, "interval": _duration(step), "input_series": series}
                group["alert_rule_test"] = [{"eval_time": _duration(x), "alertname": rule["alert"], "exp_alerts": firing(segments, x)} for x in times]
                out.append((comment, group))
    return out


def evaluation_grid(slo: SLO) -> int:
    """Seconds between rule evaluations: the gcd of the natural evaluation times (L/2 and L of every
    window pair), a multiple of the sample step."""
    step = sample_step(slo)
    times = [int(round(t)) for bw in slo.windows for t in (bw.long / 2, bw.long)]
    g = _gcd([t - t % step for t in times if t >= step]) or step
    return max(step, g - g % step)


def alert_tests_text(
    slo: SLO | None,
    *,
    style: Style,
    rule_file: str = "alerts.yaml",
    counters: Counters | None = None,
    recording_file: str = "recording-rules.yaml",
    group_order: tuple[str, ...] = (),
) -> str:
    """The promtool test file for the alerts of ``slo`` (``tests: []`` without alerts).

    With ``counters``, ``recording_file`` is loaded too and the raw-counter cases are added;
    ``group_order`` names every rule group, recording groups first (promtool evaluates groups
    in this order at each step, so the alerts read the ratios recorded at the same instant).
    """
    alerts = alert_rules(slo, style=style) if slo is not None else []
    grid = evaluation_grid(slo) if slo is not None else 60
    files = [recording_file, rule_file] if counters is not None else [rule_file]
    head_doc: dict[str, Any] = {"rule_files": files, "evaluation_interval": _duration(grid)}
    if counters is not None and group_order:
        head_doc["group_eval_order"] = list(group_order)
    head = dump(head_doc)
    groups = test_groups(slo, alerts, grid) if slo is not None and alerts else []
    if slo is not None and alerts and counters is not None:
        groups += counter_groups(slo, alerts, grid, counters)
    if not groups:
        return head + "tests: []\n"
    body = "tests:\n"
    for comment, g in groups:
        body += f"# {comment}\n" + dump([g])
    return head + body
