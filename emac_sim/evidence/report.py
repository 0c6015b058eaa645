"""Typed evidence results and their JSON form (DESIGN §9 ``evidence``).

Statuses:

- component ``consistent``: the declared availability lies inside the observed interval, or
  below it (the component does better than declared); ``drift``: the declared availability lies
  above the observed interval (it does worse); ``no-data``: no telemetry, no series, no requests
  in the window or NaN (the reason says which).
- journey ``consistent``: the observed interval meets the model's range [A⁻, max(A⁺, shared-fate
  maximum)] computed from the *declared* availabilities; ``inconsistent`` otherwise (the report
  names the drifted components and says whether the model with the *observed* component
  availabilities would explain what users saw); ``no-data`` as above.

Exit code 0 when nothing drifted and the journey is not inconsistent (``no-data`` does not fail,
it is reported with its reason), 1 otherwise.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..core.jsonio import json_safe
from ..units import format_duration
from .estimates import QuantileEstimate

QUANTILES: tuple[tuple[str, float], ...] = (("p50", 0.5), ("p99", 0.99))
INTERVAL_METHOD = "wilson"


def rfc3339(t: float) -> str:
    """Unix seconds → ``2025-06-30T00:00:00Z`` (milliseconds kept when present)."""
    d = datetime.fromtimestamp(t, tz=UTC)
    text = d.isoformat(timespec="milliseconds" if d.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _le(v: float) -> float | str:
    return "+Inf" if math.isinf(v) else v


@dataclass(frozen=True)
class LatencyEvidence:
    """A component's observed latency from its histogram buckets (all requests, successes and failures)."""

    query: str
    status: str
    count: float | None = None
    buckets: tuple[tuple[float, float], ...] = ()
    quantiles: tuple[QuantileEstimate, ...] = ()
    declared: tuple[tuple[str, float], ...] = ()
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "count": self.count}
        declared = dict(self.declared)
        for (key, _), qe in zip(QUANTILES, self.quantiles):
            out[key] = {"observed": qe.estimate, "bucket": list(qe.bucket), "interval": list(qe.interval), "declared": declared.get(key)}
        if not self.quantiles:
            for key, _ in QUANTILES:
                out[key] = {"observed": None, "bucket": None, "interval": None, "declared": declared.get(key)}
        out["buckets"] = [[_le(le), c] for le, c in self.buckets]
        out["resolution"] = "histogram_quantile interpolation; the quantile lies in 'bucket', and in 'interval' at the stated confidence"
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class ComponentEvidence:
    """One component: declared vs observed availability, with counts, interval and queries."""

    id: str
    declared: float
    declared_source: str
    status: str
    observed: float | None = None
    interval: tuple[float, float] | None = None
    good: float | None = None
    total: float | None = None
    queries: tuple[tuple[str, str], ...] = ()
    latency: LatencyEvidence | None = None
    reason: str | None = None

    @property
    def drifted(self) -> bool:
        return self.status == "drift"

    @property
    def has_telemetry(self) -> bool:
        """True when the spec binds this component to any telemetry selector."""
        return bool(self.queries) or self.latency is not None

    def describe(self) -> str:
        """One line: observed vs declared, or why there is no data."""
        if self.observed is None or self.interval is None:
            return f"{self.id}: no data: {self.reason}"
        lo, hi = self.interval
        counts = f"{self.good:.10g} good of {self.total:.10g}"
        text = f"{self.id}: observed {self.observed:.6f} [{lo:.6f}, {hi:.6f}] ({counts}), declared {self.declared:g}"
        if self.drifted:
            return f"{text} lies above the interval: drift; queries: {'; '.join(f'{k}={q}' for k, q in self.queries if k != 'latency')}"
        return f"{text}: consistent"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "declared": self.declared,
            "observed": self.observed,
            "interval": list(self.interval) if self.interval is not None else None,
            "good": self.good,
            "total": self.total,
            "status": self.status,
            "latency": self.latency.to_dict() if self.latency is not None else None,
            "queries": dict(self.queries),
            "declaredSource": self.declared_source,
        }
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class JourneyEvidence:
    """What users saw (the journey's own SLI) held against the model's availability range."""

    status: str
    bounds: tuple[float, float, float]
    observed: float | None = None
    interval: tuple[float, float] | None = None
    good: float | None = None
    total: float | None = None
    latency_metric: str | None = None
    latency: float | None = None
    queries: tuple[tuple[str, str | None], ...] = ()
    counts_from: str | None = None
    drifted: tuple[str, ...] = ()
    observed_model_bounds: tuple[float, float] | None = None
    diagnosis: str | None = None
    reason: str | None = None
    latency_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        pess, indep, upper = self.bounds
        out: dict[str, Any] = {
            "observed": self.observed,
            "interval": list(self.interval) if self.interval is not None else None,
            "good": self.good,
            "total": self.total,
            "p99": self.latency if self.latency_metric == "p99" else None,
            "bounds": {"pessimistic": pess, "independent": indep, "upper": upper},
            "status": self.status,
            "drifted": list(self.drifted),
            "latency": {"metric": self.latency_metric, "observed": self.latency, **({"reason": self.latency_reason} if self.latency_reason else {})},
            "queries": dict(self.queries),
            "countsFrom": self.counts_from,
        }
        if self.observed_model_bounds is not None:
            out["observedModelBounds"] = list(self.observed_model_bounds)
        if self.diagnosis:
            out["diagnosis"] = self.diagnosis
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class EvidenceReport:
    """Everything ``emac evidence`` found for one spec.

    Attributes
    ----------
    spec
        The spec file as given.
    journey_name
        The journey's name.
    source
        The Prometheus base URL (never with credentials).
    window
        Evidence window, seconds.
    at
        Evaluation time, Unix seconds.
    confidence
        Coverage of every interval.
    components
        Per component, in spec order.
    journey
        The journey's own evidence.
    """

    spec: str
    journey_name: str
    source: str
    window: float
    at: float
    confidence: float
    components: tuple[ComponentEvidence, ...]
    journey: JourneyEvidence
    notes: tuple[str, ...] = field(default=())

    @property
    def drifted(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.components if c.drifted)

    @property
    def exit_code(self) -> int:
        """1 when a component drifted or the journey is inconsistent, else 0."""
        return 1 if self.drifted or self.journey.status == "inconsistent" else 0

    def cases(self) -> list[tuple[str, str, str]]:
        """Test cases for a nightly report: ``(name, pass|fail|skip, message)`` for the journey
        (model vs reality) and for every component bound to telemetry (drift fails)."""
        j = self.journey
        pess, indep, upper = j.bounds
        if j.observed is None or j.interval is None:
            journey = ("skip", f"journey: no data: {j.reason}")
        else:
            msg = f"journey: observed {j.observed:.6f} [{j.interval[0]:.6f}, {j.interval[1]:.6f}] vs model [{pess:.8f}, {upper:.8f}]: {j.status}"
            journey = ("fail" if j.status == "inconsistent" else "pass", msg + (f"; {j.diagnosis}" if j.diagnosis else ""))
        out = [("evidence: journey model vs reality", *journey)]
        for c in self.components:
            if c.has_telemetry:
                status = "fail" if c.drifted else "skip" if c.observed is None else "pass"
                out.append((f"evidence: component {c.id}", status, c.describe()))
        return out

    def component(self, cid: str) -> ComponentEvidence:
        for c in self.components:
            if c.id == cid:
                return c
        raise KeyError(cid)

    def to_dict(self, mode: str | None = None) -> dict[str, Any]:
        """The JSON form (DESIGN §9); ``mode`` (``declared`` / ``observed``) is recorded when given."""
        return {
            **({"mode": mode} if mode is not None else {}),
            "source": self.source,
            "spec": self.spec,
            "journeyName": self.journey_name,
            "window": format_duration(self.window),
            "at": rfc3339(self.at),
            "confidence": self.confidence,
            "intervalMethod": INTERVAL_METHOD,
            "components": {c.id: c.to_dict() for c in self.components},
            "journey": self.journey.to_dict(),
            "notes": list(self.notes),
            "exitCode": self.exit_code,
        }

    def digest(self) -> str:
        """sha256 (hex) of the report's canonical JSON: the evidence's entry in provenance."""
        text = json.dumps(json_safe(self.to_dict()), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def provenance_input(self) -> tuple[str, str]:
        """``(name, sha256)`` for provenance ``inputs``: the server, time and window it came from."""
        return f"prometheus {self.source} at {rfc3339(self.at)} over {format_duration(self.window)}", self.digest()


