"""Merged Monte Carlo results and their JSON form (DESIGN §9, ``emac simulate --format json``).

Definitions (all on the merged integer counts of :class:`emac_sim.engine.blocks.BlockResult`):

* **availability** — successful journeys / journeys, Wilson interval.
* **latency** / **latencyAll** — p50, p90, p99, p99.9 of successful / all journeys from the
  log-bucketed histograms, with order-statistic intervals (:func:`emac_sim.core.intervals.histogram_quantile`);
  ``None`` when the journey has no latency model.
* **tailAmplification** — journey p99 (successful) / the largest p99 among the latency
  distributions of the components the journey calls (DESIGN §6; the component p99 is the
  distribution's exact quantile, not a sample estimate).
* **tailAttribution** — among successful journeys at or above the journey p99 (bucket
  resolution), the share whose *dominant* component is each component; the dominant component
  of a journey is the one whose single call on the critical path took longest (the path that
  determines t: the slowest branch of a parallel-all, the winner of a race, every step of a
  series, every attempt of a retry).
* **birnbaum** — I_B(i) = P(ok | i up) − P(ok | i down) under the simulated scenario: exact
  from the analytic layer where it is computable (``birnbaumMethod: exact``), else estimated
  by Monte Carlo on every ``birnbaumStride``-th journey with one forced-up and one forced-down
  request per component drawn from the block's second stream (``monte-carlo``).
* **hedgeRate** — share of journeys in which some race issued its branch 1 (per race node
  in ``hedgeRates``); ``None`` without races.
* **callAmplification** — mean calls per journey per component.

:class:`SimulationResult` holds the merged counts; :attr:`SimulationResult.estimate` is the typed
:class:`Estimate` derived from them (what the check, studies and reports read), and
:meth:`Estimate.to_dict` its JSON form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ..core.histogram import bucket_index
from ..core.intervals import EstimatedQuantile, histogram_quantile, wilson_interval
from ..core.quantiles import LATENCY_QUANTILES
from ..model.journey import Journey
from .blocks import BlockResult
from .compile import CompiledJourney


def _quantiles_from_dict(d: Mapping[str, Any] | None) -> dict[str, EstimatedQuantile] | None:
    return None if d is None else {k: EstimatedQuantile.from_dict(v) for k, v in d.items()}


@dataclass(frozen=True)
class Estimate:
    """What one Monte Carlo run estimated (DESIGN §6, §9 ``simulate``): typed, frozen.

    Availability is a probability with a Wilson interval at ``confidence``; latency quantiles
    (``p50`` … ``p999``) are seconds, of successful journeys (``latency``) and of all journeys
    (``latency_all``), ``None`` when latency is not modelled. The per-component maps
    (``tail_attribution``, ``birnbaum``, ``call_amplification``, ``hedge_rates``) are ``None``
    when the run recorded no details. :meth:`to_dict` is the JSON of ``emac simulate``.
    """

    journey: str
    expression: str
    samples: int
    seed: int
    correlation: str
    availability: float
    availability_ci: tuple[float, float]
    confidence: float
    failures: int = 0
    seed_drawn: bool = False
    latency: Mapping[str, EstimatedQuantile] | None = None
    latency_all: Mapping[str, EstimatedQuantile] | None = None
    latency_modelled: bool = False
    tail_amplification: float | None = None
    tail_attribution: Mapping[str, float] | None = None
    tail_attribution_threshold: float | None = None
    birnbaum: Mapping[str, float] | None = None
    birnbaum_method: str | None = None
    birnbaum_samples: int = 0
    birnbaum_stride: int = 0
    hedge_rate: float | None = None
    hedge_rates: Mapping[str, float] | None = None
    call_amplification: Mapping[str, float] | None = None
    requested_samples: int = 0
    target_ci: float | None = None
    block_size: int = 0
    blocks: int = 0
    fate_groups: tuple[tuple[str, ...], ...] = ()
    notes: tuple[str, ...] = ()
    pessimistic_shared: tuple[str, ...] | None = None
    backend: str = "cpu"
    importance: Mapping[str, Any] | None = None
    warnings: tuple[str, ...] = ()

    def quantile(self, key: str) -> EstimatedQuantile | None:
        """The successful journeys' quantile ``key`` (``p99`` …), ``None`` when not modelled."""
        return None if self.latency is None else self.latency.get(key)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (DESIGN §9 ``simulate`` plus extras); deterministic."""
        d: dict[str, Any] = {
            "journey": self.journey,
            "expression": self.expression,
            "samples": self.samples,
            "seed": self.seed,
            "seedDrawn": self.seed_drawn,
            "correlation": self.correlation,
            "availability": {"estimate": self.availability, "ci": list(self.availability_ci), "failures": self.failures},
            "latency": _quantiles_to_dict(self.latency),
            "latencyAll": _quantiles_to_dict(self.latency_all),
            "latencyModelled": self.latency_modelled,
            "tailAmplification": self.tail_amplification,
            "tailAttribution": _copy(self.tail_attribution),
            "tailAttributionThreshold": self.tail_attribution_threshold,
            "birnbaum": _copy(self.birnbaum),
            "birnbaumMethod": self.birnbaum_method,
            "birnbaumSamples": self.birnbaum_samples,
            "birnbaumStride": self.birnbaum_stride,
            "hedgeRate": self.hedge_rate,
            "hedgeRates": _copy(self.hedge_rates),
            "callAmplification": _copy(self.call_amplification),
            "requestedSamples": self.requested_samples,
            "targetCi": self.target_ci,
            "blockSize": self.block_size,
            "blocks": self.blocks,
            "confidence": self.confidence,
            "fateGroups": [list(g) for g in self.fate_groups],
            "notes": list(self.notes),
        }
        if self.pessimistic_shared is not None:
            d["pessimisticShared"] = list(self.pessimistic_shared)
        if self.backend != "cpu":  # the default backend's JSON stays as it always was
            d["backend"] = self.backend
        if self.importance is not None:  # --method importance (emac_sim.engine.importance); plain runs add nothing
            info = dict(self.importance)
            for key in ("method", "unavailability", "effectiveSampleSize"):
                d["availability"][key] = info.pop(key)
            d["importance"] = info
            d["warnings"] = list(self.warnings)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Estimate:
        """The inverse of :meth:`to_dict` (missing optional keys take their defaults)."""
        a = d["availability"]
        ps = d.get("pessimisticShared")
        return cls(
            journey=str(d.get("journey", "?")),
            expression=str(d.get("expression", "")),
            samples=int(d["samples"]),
            seed=int(d.get("seed", 0)),
            seed_drawn=bool(d.get("seedDrawn", False)),
            correlation=str(d.get("correlation", "declared")),
            availability=a["estimate"],
            availability_ci=(a["ci"][0], a["ci"][1]),
            failures=int(a.get("failures", 0)),
            confidence=d.get("confidence", 0.95),
            latency=_quantiles_from_dict(d.get("latency")),
            latency_all=_quantiles_from_dict(d.get("latencyAll")),
            latency_modelled=bool(d.get("latencyModelled", d.get("latency") is not None)),
            tail_amplification=d.get("tailAmplification"),
            tail_attribution=d.get("tailAttribution"),
            tail_attribution_threshold=d.get("tailAttributionThreshold"),
            birnbaum=d.get("birnbaum"),
            birnbaum_method=d.get("birnbaumMethod"),
            birnbaum_samples=int(d.get("birnbaumSamples", 0)),
            birnbaum_stride=int(d.get("birnbaumStride", 0)),
            hedge_rate=d.get("hedgeRate"),
            hedge_rates=d.get("hedgeRates"),
            call_amplification=d.get("callAmplification"),
            requested_samples=int(d.get("requestedSamples", d["samples"])),
            target_ci=d.get("targetCi"),
            block_size=int(d.get("blockSize", 0)),
            blocks=int(d.get("blocks", 0)),
            fate_groups=tuple(tuple(g) for g in d.get("fateGroups") or ()),
            notes=tuple(d.get("notes") or ()),
            pessimistic_shared=tuple(ps) if ps is not None else None,
            backend=str(d.get("backend", "cpu")),
            importance=_importance_from_dict(d),
            warnings=tuple(d.get("warnings") or ()),
        )


def _importance_from_dict(d: Mapping[str, Any]) -> dict[str, Any] | None:
    a = d["availability"]
    if a.get("method") != "importance":
        return None
    return {**{k: a[k] for k in ("method", "unavailability", "effectiveSampleSize") if k in a}, **dict(d.get("importance") or {})}


def _quantiles_to_dict(q: Mapping[str, EstimatedQuantile] | None) -> dict[str, Any] | None:
    return None if q is None else {k: v.to_dict() for k, v in q.items()}


def _copy(m: Mapping[str, float] | None) -> dict[str, float] | None:
    return None if m is None else dict(m)


@dataclass
class SimulationResult:
    """The outcome of :func:`emac_sim.engine.simulate`.

    ``counts`` are the merged block counts; everything else is derived from them in
    :attr:`estimate`. ``wall_seconds`` is informational and deliberately not part of the
    estimate (same inputs and seed give the same numbers).
    """

    journey_name: str
    expression: str
    correlation: str
    seed: int
    seed_drawn: bool
    requested_samples: int
    block_size: int
    confidence: float
    target_ci: float | None
    counts: BlockResult
    component_ids: tuple[str, ...]
    referenced: tuple[str, ...]
    race_paths: tuple[str, ...]
    latency_on: bool
    birnbaum_stride: int
    component_p99: dict[str, float]
    pessimistic_shared: tuple[str, ...] | None = None
    fate_groups: tuple[tuple[str, ...], ...] = ()
    notes: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    details: bool = True
    exact_birnbaum: dict[str, float] | None = None
    backend: str = "cpu"

    @property
    def samples(self) -> int:
        return self.counts.samples

    @property
    def availability(self) -> float:
        return self.counts.ok / self.counts.samples if self.counts.samples else float("nan")

    def availability_ci(self) -> tuple[float, float]:
        return wilson_interval(self.counts.ok, self.counts.samples, self.confidence)

    def quantiles(self, successful: bool = True) -> dict[str, EstimatedQuantile] | None:
        """``{"p50": EstimatedQuantile, …}`` in seconds, or None when latency is not modelled."""
        if not self.latency_on:
            return None
        hist = self.counts.hist_ok if successful else self.counts.hist_all
        out = {}
        for name, q in LATENCY_QUANTILES:
            v = histogram_quantile(hist, q, self.confidence)
            out[name] = v if v is not None else EstimatedQuantile(None)
        return out

    def tail_amplification(self) -> float | None:
        if not self.latency_on or not self.component_p99:
            return None
        v = histogram_quantile(self.counts.hist_ok, 0.99, self.confidence)
        top = max(self.component_p99.values())
        if v is None or top <= 0:
            return None
        return float(v.estimate) / top

    def tail_attribution(self) -> tuple[dict[str, float], float | None]:
        """Shares of slow successful journeys per dominant component, and the threshold (s)."""
        if not self.latency_on:
            return {}, None
        v = histogram_quantile(self.counts.hist_ok, 0.99, self.confidence)
        if v is None:
            return {}, None
        b = bucket_index(float(v.estimate))
        slow = self.counts.joint[:, b:].sum(axis=1)
        total = int(slow.sum())
        out: dict[str, float] = {}
        for cid in self.referenced:
            i = self.component_ids.index(cid)
            out[cid] = float(slow[i + 1]) / total if total else 0.0
        if slow[0]:
            out["(none)"] = float(slow[0]) / total
        return out, float(v.estimate)

    def birnbaum(self) -> dict[str, float]:
        if self.exact_birnbaum is not None:
            return {cid: float(self.exact_birnbaum[cid]) for cid in self.referenced}
        n = self.counts.birnbaum_samples
        return {cid: (float(self.counts.birnbaum_sum[self.component_ids.index(cid)]) / n if n else float("nan")) for cid in self.referenced}

    def birnbaum_method(self) -> str | None:
        if self.exact_birnbaum is not None:
            return "exact"
        return "monte-carlo" if self.counts.birnbaum_samples else None

    def call_amplification(self) -> dict[str, float]:
        n = self.counts.samples
        return {cid: float(self.counts.calls[self.component_ids.index(cid)]) / n for cid in self.referenced}

    def hedge_rates(self) -> dict[str, float]:
        n = self.counts.samples
        return {p: float(k) / n for p, k in zip(self.race_paths, self.counts.race_issued)}

    @cached_property
    def estimate(self) -> Estimate:
        """The typed estimate derived from the counts (computed once)."""
        c = self.counts
        lo, hi = self.availability_ci()
        attribution, threshold = self.tail_attribution()
        return Estimate(
            journey=self.journey_name,
            expression=self.expression,
            samples=c.samples,
            seed=self.seed,
            seed_drawn=self.seed_drawn,
            correlation=self.correlation,
            availability=self.availability,
            availability_ci=(lo, hi),
            failures=c.samples - c.ok,
            confidence=self.confidence,
            latency=self.quantiles(True),
            latency_all=self.quantiles(False),
            latency_modelled=self.latency_on,
            tail_amplification=self.tail_amplification(),
            tail_attribution=attribution if self.details else None,
            tail_attribution_threshold=threshold if self.details else None,
            birnbaum=self.birnbaum() if self.details else None,
            birnbaum_method=self.birnbaum_method() if self.details else None,
            birnbaum_samples=c.birnbaum_samples,
            birnbaum_stride=self.birnbaum_stride,
            hedge_rate=(c.hedged / c.samples) if self.details and self.race_paths and c.samples else None,
            hedge_rates=self.hedge_rates() if self.details else None,
            call_amplification=self.call_amplification() if self.details else None,
            requested_samples=self.requested_samples,
            target_ci=self.target_ci,
            block_size=self.block_size,
            blocks=c.n_blocks,
            fate_groups=self.fate_groups,
            notes=tuple(self.notes),
            pessimistic_shared=self.pessimistic_shared,
            backend=self.backend,
        )

    def to_dict(self) -> dict:
        """JSON-ready dictionary (DESIGN §9 ``simulate`` plus extras): :meth:`Estimate.to_dict`."""
        return self.estimate.to_dict()


def component_p99(journey: Journey) -> dict[str, float]:
    """Exact p99 (seconds) of each referenced component's success latency distribution."""
    out = {}
    for cid in dict.fromkeys(journey.root.refs()):
        lat = journey.component(cid).latency
        if lat is not None:
            out[cid] = float(np.asarray(lat.ppf(0.99)))
    return out


def result_from_blocks(
    journey: Journey,
    compiled: CompiledJourney,
    merged: BlockResult,
    *,
    seed: int,
    seed_drawn: bool = False,
    requested_samples: int | None = None,
    block_size: int,
    confidence: float = 0.95,
    target_ci: float | None = None,
    pessimistic_shared: frozenset[str] | None = None,
    notes: list[str] | None = None,
    exact_birnbaum: dict[str, float] | None = None,
) -> SimulationResult:
    """Wrap merged block counts (from any backend) into a :class:`SimulationResult`.

    With ``details`` and no Monte Carlo Birnbaum passes, Birnbaum importance comes from the
    analytic layer (``exact_birnbaum``, computed here when not given).
    """
    if exact_birnbaum is None and compiled.details and compiled.birnbaum_stride == 0:
        from ..analytic import birnbaum_importance

        exact_birnbaum = birnbaum_importance(journey, compiled.scenario)
    return SimulationResult(
        journey_name=journey.name,
        expression=journey.expression,
        correlation=compiled.scenario.name,
        seed=int(seed),
        seed_drawn=seed_drawn,
        requested_samples=int(requested_samples if requested_samples is not None else merged.samples),
        block_size=int(block_size),
        confidence=float(confidence),
        target_ci=target_ci,
        counts=merged,
        component_ids=compiled.component_ids,
        referenced=tuple(dict.fromkeys(journey.root.refs())),
        race_paths=compiled.race_paths,
        latency_on=compiled.latency_on,
        birnbaum_stride=compiled.birnbaum_stride,
        component_p99=component_p99(journey) if compiled.latency_on else {},
        pessimistic_shared=tuple(sorted(pessimistic_shared)) if pessimistic_shared is not None else None,
        fate_groups=compiled.fate_groups,
        notes=list(notes or []),
        details=compiled.details,
        exact_birnbaum=exact_birnbaum,
    )
