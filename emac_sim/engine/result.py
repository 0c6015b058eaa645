"""Merged Monte Carlo results and their JSON form (DESIGN §9, ``emac simulate --format json``).

Definitions (all on the merged integer counts of :class:`emac_sim.engine.blocks.BlockResult`):

* **availability** — successful journeys / journeys, Wilson interval.
* **latency** / **latencyAll** — p50, p90, p99, p99.9 of successful / all journeys from the
  log-bucketed histograms, with order-statistic intervals (``intervals.histogram_quantile``);
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
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..kernels.histogram import bucket_index
from ..model.journey import Journey
from .blocks import BlockResult
from .compile import CompiledJourney
from .intervals import histogram_quantile, wilson_interval

QUANTILES: tuple[tuple[str, float], ...] = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))


@dataclass
class SimulationResult:
    """The outcome of :func:`emac_sim.engine.simulate`.

    ``counts`` are the merged block counts; everything else is derived in :meth:`to_dict`.
    ``wall_seconds`` is informational and deliberately not part of :meth:`to_dict` (same
    inputs and seed give the same dictionary).
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

    @property
    def samples(self) -> int:
        return self.counts.samples

    @property
    def availability(self) -> float:
        return self.counts.ok / self.counts.samples if self.counts.samples else float("nan")

    def availability_ci(self) -> tuple[float, float]:
        return wilson_interval(self.counts.ok, self.counts.samples, self.confidence)

    def quantiles(self, successful: bool = True) -> dict[str, dict] | None:
        """``{"p50": {"estimate", "ci"}, …}`` in seconds, or None when latency is not modelled."""
        if not self.latency_on:
            return None
        hist = self.counts.hist_ok if successful else self.counts.hist_all
        out = {}
        for name, q in QUANTILES:
            v = histogram_quantile(hist, q, self.confidence)
            out[name] = v if v is not None else {"estimate": None, "ci": [None, None]}
        return out

    def tail_amplification(self) -> float | None:
        if not self.latency_on or not self.component_p99:
            return None
        v = histogram_quantile(self.counts.hist_ok, 0.99, self.confidence)
        top = max(self.component_p99.values())
        if v is None or top <= 0:
            return None
        return float(v["estimate"]) / top

    def tail_attribution(self) -> tuple[dict[str, float], float | None]:
        """Shares of slow successful journeys per dominant component, and the threshold (s)."""
        if not self.latency_on:
            return {}, None
        v = histogram_quantile(self.counts.hist_ok, 0.99, self.confidence)
        if v is None:
            return {}, None
        b = bucket_index(float(v["estimate"]))
        slow = self.counts.joint[:, b:].sum(axis=1)
        total = int(slow.sum())
        out: dict[str, float] = {}
        for cid in self.referenced:
            i = self.component_ids.index(cid)
            out[cid] = float(slow[i + 1]) / total if total else 0.0
        if slow[0]:
            out["(none)"] = float(slow[0]) / total
        return out, float(v["estimate"])

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

    def to_dict(self) -> dict:
        """JSON-ready dictionary (DESIGN §9 ``simulate`` plus extras); deterministic."""
        c = self.counts
        lo, hi = self.availability_ci()
        attribution, threshold = self.tail_attribution()
        d: dict = {
            "journey": self.journey_name,
            "expression": self.expression,
            "samples": c.samples,
            "seed": self.seed,
            "seedDrawn": self.seed_drawn,
            "correlation": self.correlation,
            "availability": {"estimate": self.availability, "ci": [lo, hi], "failures": c.samples - c.ok},
            "latency": self.quantiles(True),
            "latencyAll": self.quantiles(False),
            "latencyModelled": self.latency_on,
            "tailAmplification": self.tail_amplification(),
            "tailAttribution": attribution if self.details else None,
            "tailAttributionThreshold": threshold if self.details else None,
            "birnbaum": self.birnbaum() if self.details else None,
            "birnbaumMethod": self.birnbaum_method() if self.details else None,
            "birnbaumSamples": c.birnbaum_samples,
            "birnbaumStride": self.birnbaum_stride,
            "hedgeRate": (c.hedged / c.samples) if self.details and self.race_paths and c.samples else None,
            "hedgeRates": self.hedge_rates() if self.details else None,
            "callAmplification": self.call_amplification() if self.details else None,
            "requestedSamples": self.requested_samples,
            "targetCi": self.target_ci,
            "blockSize": self.block_size,
            "blocks": c.n_blocks,
            "confidence": self.confidence,
            "fateGroups": [list(g) for g in self.fate_groups],
            "notes": list(self.notes),
        }
        if self.pessimistic_shared is not None:
            d["pessimisticShared"] = list(self.pessimistic_shared)
        return d


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
