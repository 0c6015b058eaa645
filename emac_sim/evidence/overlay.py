"""Evidence into the model (``--evidence observed``): observed values replace declared ones.

A component with an observed availability gets it (its ``availability_source`` says so); one whose
histogram was read gets the observed buckets as its latency distribution (``dist: histogram``,
whose DKW band the analytic layer widens by the bucket counts). Components without data keep their
declared values. What was replaced is decided once, by :func:`replacements`; the two forms below
apply it to a loaded journey (bounds, simulate, compile) or to the YAML document (what-if studies,
whose ``--vary`` values then apply on top of the observed state).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable
from typing import Any

from ..model.distributions import Histogram
from ..model.journey import Journey
from .report import ComponentEvidence, EvidenceReport


@dataclasses.dataclass(frozen=True)
class Replacement:
    """What the observed model uses for one component (``None``: keep the declared value)."""

    availability: float | None
    source: str | None
    latency: Histogram | None


def replacements(evidence: EvidenceReport | Iterable[ComponentEvidence], latency: bool = True) -> dict[str, Replacement]:
    """Per component with data: its observed availability and, with ``latency``, its histogram."""
    comps = evidence.components if isinstance(evidence, EvidenceReport) else tuple(evidence)
    out = {}
    for c in comps:
        a = c.observed if c.observed is not None else None
        src = f"observed: {c.good:.10g} of {c.total:.10g} requests good (Prometheus evidence)" if a is not None else None
        hist = None
        if latency and c.latency is not None and c.latency.status == "ok":
            hist = Histogram(buckets=tuple(c.latency.buckets))
        if a is not None or hist is not None:
            out[c.id] = Replacement(a, src, hist)
    return out


def observed_journey(journey: Journey, evidence: EvidenceReport | Iterable[ComponentEvidence], *, latency: bool = True) -> Journey:
    """``journey`` with observed availabilities (and, with ``latency``, observed histograms)."""
    rep = replacements(evidence, latency)
    comps = []
    for c in journey.components:
        r = rep.get(c.id)
        if r is None:
            comps.append(c)
            continue
        changes: dict[str, Any] = {}
        if r.availability is not None:
            changes.update(availability=r.availability, availability_source=r.source)
        if r.latency is not None:
            changes["latency"] = r.latency
        comps.append(dataclasses.replace(c, **changes))
    return dataclasses.replace(journey, components=tuple(comps))


def observed_document(doc: Any, evidence: EvidenceReport, *, latency: bool = True) -> Any:
    """A copy of the spec's YAML document with the observed values written in (``atomicSLORef``
    dropped where an observed availability replaces it)."""
    out = copy.deepcopy(doc)
    comps = out["spec"]["components"]
    for cid, r in replacements(evidence, latency).items():
        entry = comps[cid]
        if r.availability is not None:
            entry.pop("atomicSLORef", None)
            entry["availability"] = r.availability
        if r.latency is not None:
            entry["latency"] = r.latency.to_spec()
    return out
