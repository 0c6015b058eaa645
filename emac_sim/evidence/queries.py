"""The PromQL emac-sim sends, built from the spec's telemetry bindings (the paper's keys).

Per component, ``components.<id>.telemetry.metrics`` holds series *selectors*:

- ``availabilityGood`` / ``availabilityTotal``: counters of good and of all requests; asked as
  ``sum(increase(<selector>[<window>]))`` each (so several series, e.g. per status code or per
  pod, are summed, and counter resets are handled by ``increase``);
- ``latencyHistogram``: the ``_bucket`` series of a histogram; asked as
  ``sum by (le) (increase(<selector>[<window>]))``.

For the journey, ``objectives.availability.sli.goodEventQuery`` / ``totalEventQuery`` and
``objectives.latency.evidence.promql`` are complete PromQL expressions, sent as written after
the ``{{ .window }}`` template is replaced by the evidence window. Their values are rates or
increases; event *counts* (for the interval) follow from them only when every range in the query
is the window: ``increase`` gives counts directly and ``rate`` gives counts per second, i.e.
counts / window seconds (Prometheus computes ``increase`` as ``rate`` × range, exactly).
Otherwise the counts are unknown and reported as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError
from ..model.journey import Component, Journey

_TEMPLATE = re.compile(r"\{\{\s*([^}]*?)\s*\}\}")
_RANGE = re.compile(r"\[([^\]]+)\]")
_INCREASE = re.compile(r"(?<![A-Za-z0-9_:])increase\s*\(")
_RATE = re.compile(r"(?<![A-Za-z0-9_:])rate\s*\(")
_METRIC_KEYS = {"good": "availabilityGood", "total": "availabilityTotal", "histogram": "latencyHistogram"}


@dataclass(frozen=True)
class Telemetry:
    """A component's telemetry selectors (``None`` where not declared) and their spec path."""

    component: str
    path: str
    good: str | None = None
    total: str | None = None
    histogram: str | None = None

    def key_path(self, which: str) -> str:
        """Spec path of one selector: ``spec.components.paya.telemetry.metrics.availabilityGood``."""
        return f"{self.path}.{_METRIC_KEYS[which]}"


def component_telemetry(component: Component, file: str) -> Telemetry | None:
    """The selectors under ``telemetry.metrics`` of a component, or ``None`` when it declares none.

    Raises
    ------
    SpecError
        ``telemetry`` or ``telemetry.metrics`` not a mapping, a selector that is not a non-empty
        string, or one of ``availabilityGood`` / ``availabilityTotal`` without the other.
    """
    raw = dict(component.extra).get("telemetry")
    base = f"spec.components.{component.id}.telemetry"
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise SpecError(file, base, f"expected a mapping, got {type(raw).__name__}")
    metrics = raw.get("metrics")
    if metrics is None:
        return None
    path = f"{base}.metrics"
    if not isinstance(metrics, dict):
        raise SpecError(file, path, f"expected a mapping, got {type(metrics).__name__}")
    found: dict[str, str | None] = {}
    for attr, key in _METRIC_KEYS.items():
        v = metrics.get(key)
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise SpecError(file, f"{path}.{key}", f"expected a PromQL series selector (a non-empty string), got {v!r}")
        found[attr] = v.strip() if isinstance(v, str) else None
    if (found["good"] is None) != (found["total"] is None):
        have, missing = ("availabilityGood", "availabilityTotal") if found["good"] is not None else ("availabilityTotal", "availabilityGood")
        raise SpecError(file, f"{path}.{missing}", f"{have} is given without {missing}: both are needed for an availability")
    if all(v is None for v in found.values()):
        return None
    return Telemetry(component.id, path, **found)


def counter_increase(selector: str, window: str) -> str:
    """``sum(increase(<selector>[<window>]))``: events over the window, all series summed."""
    return f"sum(increase({selector}[{window}]))"


def bucket_increase(selector: str, window: str) -> str:
    """``sum by (le) (increase(<selector>[<window>]))``: per-bucket cumulative counts over the window."""
    return f"sum by (le) (increase({selector}[{window}]))"


def render(query: str, window: str, file: str, path: str) -> str:
    """Replace ``{{ .window }}`` by ``window`` (a Prometheus duration); newlines become spaces.

    Raises
    ------
    SpecError
        Any other template variable.
    """

    def sub(m: re.Match) -> str:
        if m.group(1) == ".window":
            return window
        raise SpecError(file, path, f"unknown template variable {{{{ {m.group(1)} }}}} (only {{{{ .window }}}} is filled in)")

    return " ".join(_TEMPLATE.sub(sub, query).split())


def count_scale(query: str, window: str, window_seconds: float) -> float | None:
    """Factor from the query's value to event counts, or ``None`` when it cannot be known.

    ``1`` for a query counting with ``increase`` over the window, ``window_seconds`` for one using
    ``rate`` over the window; ``None`` when a range differs from the window, when both or neither
    function appear.
    """
    ranges = [r.strip() for r in _RANGE.findall(query)]
    if not ranges or any(r != window for r in ranges):
        return None
    inc, rate = bool(_INCREASE.search(query)), bool(_RATE.search(query))
    if inc and not rate:
        return 1.0
    if rate and not inc:
        return window_seconds
    return None


@dataclass(frozen=True)
class JourneyQueries:
    """The journey's SLI and latency queries as sent (``None`` where the spec has none)."""

    good: str | None
    total: str | None
    latency: str | None
    latency_metric: str | None
    scale: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"good": self.good, "total": self.total, "latency": self.latency}


GOOD_PATH = "spec.objectives.availability.sli.goodEventQuery"
TOTAL_PATH = "spec.objectives.availability.sli.totalEventQuery"
LATENCY_PATH = "spec.objectives.latency.evidence.promql"


def journey_queries(journey: Journey, window: str, window_seconds: float) -> JourneyQueries:
    """Render the journey's SLI and latency evidence queries for ``window``.

    Raises
    ------
    SpecError
        A template variable other than ``.window``; a good query without a total query or the
        reverse.
    """
    file = journey.source
    a, lat = journey.availability_objective, journey.latency_objective
    good = render(a.good_query, window, file, GOOD_PATH) if a is not None and a.good_query else None
    total = render(a.total_query, window, file, TOTAL_PATH) if a is not None and a.total_query else None
    if (good is None) != (total is None):
        missing = TOTAL_PATH if good is not None else GOOD_PATH
        raise SpecError(file, missing, "the journey SLI needs both goodEventQuery and totalEventQuery")
    latency = render(lat.promql, window, file, LATENCY_PATH) if lat is not None and lat.promql else None
    scale = None
    if good is not None and total is not None:
        sg, st = count_scale(good, window, window_seconds), count_scale(total, window, window_seconds)
        scale = sg if sg == st else None
    return JourneyQueries(good, total, latency, lat.metric if latency is not None and lat is not None else None, scale)
