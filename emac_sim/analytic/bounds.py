"""``bounds()``: every analytic number for a journey as one typed :class:`Bounds` (DESIGN §5, §9).

:class:`Bounds` is what the analytic layer hands to the check, budgets, governance and the
emitters; :meth:`Bounds.to_dict` is its JSON form (``emac bounds --format json``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.quantiles import LATENCY_KEYS
from ..errors import numeric_layer
from ..model.journey import Journey
from ..model.scenario import Scenario
from .availability import availability_from_states, declared_availability, shared_fate_range
from .dependence_free import BandEvaluator, BandGrid, availability_bounds, conditional_quantile_bounds, has_counted_leaves
from .grid import DEFAULT_GRID_POINTS, latency_matters, sum_depth, support
from .latency import QUANTILE_KEYS, QUANTILES, scenario_quantiles
from .states import state_space


@dataclass(frozen=True)
class AvailabilityBounds:
    """Availability of a journey under every dependence assumption (probabilities).

    Attributes
    ----------
    independent
        All calls independent: the paper's optimistic estimate A⁺.
    declared
        The correlation as written, where computable (else ``None``).
    pessimistic
        A⁻: the lowest availability over the shared-fate scenarios (``None`` when none is
        computable).
    shared_fate_range
        ``(min, max)`` over the shared-fate scenarios, or ``None``.
    dependence_free
        ``(lo, hi)`` that hold for any dependence (Fréchet–Hoeffding / Boole).
    shared
        Every sharable domain fully shared, or ``None``.
    pessimistic_shared
        The domains whose sharing attains A⁻ (sorted), or ``None``.
    scenario_count
        Shared-fate scenarios evaluated.
    declared_method, pessimistic_method
        How ``declared`` and ``pessimistic`` were computed.
    notes
        Human notes on the assumptions.
    """

    independent: float
    declared: float | None = None
    pessimistic: float | None = None
    shared_fate_range: tuple[float, float] | None = None
    dependence_free: tuple[float, float] = (0.0, 1.0)
    shared: float | None = None
    pessimistic_shared: tuple[str, ...] | None = None
    scenario_count: int = 0
    declared_method: str = ""
    pessimistic_method: str = ""
    notes: tuple[str, ...] = ()

    @property
    def pessimistic_set(self) -> frozenset[str] | None:
        """The domains shared in the ``pessimistic`` scenario (``None`` when not computable)."""
        return frozenset(self.pessimistic_shared) if self.pessimistic_shared is not None else None

    def value(self, name: str) -> float | None:
        """The bound called ``name``: ``independent``, ``declared``, ``pessimistic`` or ``shared``."""
        values = {"independent": self.independent, "declared": self.declared, "pessimistic": self.pessimistic, "shared": self.shared}
        if name not in values:
            raise KeyError(name)
        return values[name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "independent": self.independent,
            "declared": self.declared,
            "pessimistic": self.pessimistic,
            "sharedFateRange": list(self.shared_fate_range) if self.shared_fate_range is not None else None,
            "dependenceFree": list(self.dependence_free),
            "shared": self.shared,
            "pessimisticShared": list(self.pessimistic_shared) if self.pessimistic_shared is not None else None,
            "scenarioCount": self.scenario_count,
            "declaredMethod": self.declared_method,
            "pessimisticMethod": self.pessimistic_method,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AvailabilityBounds:
        """The inverse of :meth:`to_dict` (missing optional keys take their defaults)."""
        sfr, df, ps = d.get("sharedFateRange"), d.get("dependenceFree"), d.get("pessimisticShared")
        return cls(
            independent=d["independent"],
            declared=d.get("declared"),
            pessimistic=d.get("pessimistic"),
            shared_fate_range=(sfr[0], sfr[1]) if sfr is not None else None,
            dependence_free=(df[0], df[1]) if df is not None else (0.0, 1.0),
            shared=d.get("shared"),
            pessimistic_shared=tuple(ps) if ps is not None else None,
            scenario_count=int(d.get("scenarioCount", 0)),
            declared_method=str(d.get("declaredMethod", "")),
            pessimistic_method=str(d.get("pessimisticMethod", "")),
            notes=tuple(d.get("notes") or ()),
        )


@dataclass(frozen=True)
class QuantileBounds:
    """One latency quantile of successful journeys (seconds) under each assumption.

    ``lower`` / ``upper`` hold for any dependence; ``upper_confidence`` is not analytic: the
    upper end of a Monte Carlo interval of the same quantile, attached for the governance policy
    ``useBoundsForAutomation.latency: upperConfidence`` (:func:`emac_sim.govern.decision.with_simulated_latency`).
    """

    independent: float | None
    comonotone: float | None
    lower: float | None
    upper: float | None
    upper_confidence: float | None = None

    def value(self, name: str) -> float | None:
        """The bound called ``name`` (``independent``, ``comonotone``, ``lower``, ``upper``, ``upperConfidence``)."""
        values = {
            "independent": self.independent,
            "comonotone": self.comonotone,
            "lower": self.lower,
            "upper": self.upper,
            "upperConfidence": self.upper_confidence,
        }
        if name not in values:
            raise KeyError(name)
        return values[name]

    def to_dict(self) -> dict[str, Any]:
        d = {"independent": self.independent, "comonotone": self.comonotone, "lower": self.lower, "upper": self.upper}
        if self.upper_confidence is not None:
            d["upperConfidence"] = self.upper_confidence
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> QuantileBounds:
        return cls(d.get("independent"), d.get("comonotone"), d.get("lower"), d.get("upper"), d.get("upperConfidence"))


@dataclass(frozen=True)
class LatencyBounds:
    """Latency bounds of successful journeys (seconds) per quantile, with the grids' accuracy.

    Attributes
    ----------
    quantiles
        ``{"p50": QuantileBounds, …}`` in :data:`LATENCY_KEYS` order.
    discretisation_error
        Bound on the independent column's grid error (seconds).
    comonotone_discretisation_error
        The same for the comonotone column.
    dkw_confidence
        Confidence of the DKW band around histogram leaves (``None`` without such leaves).
    grid_step, grid_points, band_points
        The independent grid's step (seconds) and size, and the dependence-free band's points.
    """

    quantiles: Mapping[str, QuantileBounds]
    discretisation_error: float = 0.0
    comonotone_discretisation_error: float = 0.0
    dkw_confidence: float | None = None
    grid_step: float = 0.0
    grid_points: int = 0
    band_points: int = 0

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: q.to_dict() for k, q in self.quantiles.items()}
        d.update(
            {
                "discretisationError": self.discretisation_error,
                "comonotoneDiscretisationError": self.comonotone_discretisation_error,
                "dkwConfidence": self.dkw_confidence,
                "gridStep": self.grid_step,
                "gridPoints": self.grid_points,
                "bandPoints": self.band_points,
            }
        )
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LatencyBounds:
        return cls(
            quantiles={k: QuantileBounds.from_dict(d[k]) for k in LATENCY_KEYS if isinstance(d.get(k), Mapping)},
            discretisation_error=float(d.get("discretisationError") or 0.0),
            comonotone_discretisation_error=float(d.get("comonotoneDiscretisationError") or 0.0),
            dkw_confidence=d.get("dkwConfidence"),
            grid_step=float(d.get("gridStep") or 0.0),
            grid_points=int(d.get("gridPoints") or 0),
            band_points=int(d.get("bandPoints") or 0),
        )


@dataclass(frozen=True)
class Bounds:
    """Every analytic number of one journey: the result of :func:`bounds`.

    ``latency`` is ``None`` when latency is not modelled. :meth:`to_dict` is the JSON of
    ``emac bounds`` (DESIGN §9).
    """

    journey: str
    expression: str
    availability: AvailabilityBounds
    latency: LatencyBounds | None = None
    latency_modelled: bool = field(default=False)

    def quantile(self, key: str) -> QuantileBounds | None:
        """The bounds of quantile ``key`` (``p99`` …), ``None`` when not modelled."""
        return None if self.latency is None else self.latency.quantiles.get(key)

    def with_latency(self, quantiles: Mapping[str, QuantileBounds]) -> Bounds:
        """A copy whose latency quantiles are replaced by ``quantiles`` (same grids)."""
        if self.latency is None:
            return self
        return dataclasses.replace(self, latency=dataclasses.replace(self.latency, quantiles=dict(quantiles)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "journey": self.journey,
            "expression": self.expression,
            "availability": self.availability.to_dict(),
            "latency": self.latency.to_dict() if self.latency is not None else None,
            "latencyModelled": self.latency_modelled,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Bounds:
        """The inverse of :meth:`to_dict` (for bounds written as JSON or built by hand in tests)."""
        lat = d.get("latency")
        return cls(
            journey=str(d.get("journey", "?")),
            expression=str(d.get("expression", "")),
            availability=AvailabilityBounds.from_dict(d["availability"]),
            latency=LatencyBounds.from_dict(lat) if lat is not None else None,
            latency_modelled=bool(d.get("latencyModelled", lat is not None)),
        )


BAND_POINTS = 512
"""Points of the (geometric) dependence-free band grid, halved for large trees (each sum costs O(G²))."""


def _band_points(j: Journey) -> int:
    nodes = sum(1 for _ in j.root.walk())
    return BAND_POINTS if nodes <= 64 else BAND_POINTS // 2


def _fastest(j: Journey) -> float:
    """Half the smallest 0.1 % quantile of any referenced call duration (the band grid's first point)."""
    lows = []
    for cid in set(j.root.refs()):
        c = j.component(cid)
        for d in (c.latency, c.error_distribution()):
            if d is not None:
                v = float(d.ppf(1e-3))
                if v > 0:
                    lows.append(v)
    return 0.5 * min(lows) if lows else 0.0


@numeric_layer("bounds")
def bounds(journey: Journey, *, grid_points: int | None = None, confidence: float = 0.95) -> Bounds:
    """Availability and latency bounds of a journey, exactly (no sampling).

    Parameters
    ----------
    journey
        The journey (``emac_sim.load_spec``).
    grid_points
        Points of the latency grids (default 4096): the independent law's grid is fitted to
        where its mass lies (:func:`~emac_sim.analytic.grid.fitted_grid`), the comonotone one
        spans the sum of the calls' ``1 − 1e-6`` quantiles.
    confidence
        Confidence of the DKW band put around histogram leaves (per leaf).

    Returns
    -------
    Bounds
        ``availability`` (:class:`AvailabilityBounds`: independent, declared, pessimistic,
        shared-fate range, dependence-free range, shared, the pessimistic shared set, how each
        was computed, notes), ``latency`` (:class:`LatencyBounds`, ``None`` when not modelled:
        ``p50``/``p90``/``p99``/``p999`` each with independent, comonotone, lower and upper in
        seconds, the discretisation errors, DKW confidence and grid sizes). ``to_dict()`` gives
        the JSON form (``availability.{independent, declared, pessimistic, sharedFateRange,
        dependenceFree, …}``, ``latency.<pNN>.{independent, comonotone, lower, upper}``).

    Notes
    -----
    ``independent`` is the paper's A⁺, ``pessimistic`` its A⁻ (the minimum over shared-fate
    scenarios), ``dependenceFree`` holds for any dependence between calls. Latency quantiles are
    of successful journeys; ``lower``/``upper`` bound them under any dependence.
    """
    j = journey
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    notes: list[str] = []
    lat_modelled = j.latency_modelled
    lat_matters = latency_matters(j)
    ind_space = state_space(j, Scenario.independent(), grid=True)
    assert ind_space is not None
    independent = availability_from_states(j, ind_space)
    sfr = shared_fate_range(j)
    declared, declared_method = declared_availability(j)

    band = None
    bgrid = None
    if lat_modelled:
        top = support(j.root, j)
        bgrid = BandGrid.geometric(top, _fastest(j), _band_points(j))
        band = BandEvaluator(j, bgrid, confidence).evaluate()
    if lat_matters and band is not None:
        df = [float(band.s.tlo), float(band.s.thi)]
    else:
        lo, hi = availability_bounds(j.root, j.availabilities)
        df = [float(lo), float(hi)]

    if sfr is not None and not sfr.exhaustive:
        notes.append("sharedFateRange / pessimistic come from a non-exhaustive search: " + sfr.method)
    if any(d.model == "shock" for d in j.domains):
        notes.append("shock domains stay as written in every shared-fate scenario")
    if any(d.model == "none" and len(d.members) > 1 for d in j.domains):
        notes.append("magnitude-free domains are a shared-fate hypothesis: independent in declared, covered by sharedFateRange")

    latency = None
    if lat_modelled:
        assert band is not None and bgrid is not None
        ind = scenario_quantiles(j, Scenario.independent(), QUANTILES, grid_points)
        co = scenario_quantiles(j, "comonotone", QUANTILES, grid_points)
        assert ind is not None and co is not None
        (ind_q, ind_step), (co_q, co_step) = ind, co
        bq = conditional_quantile_bounds(band.s, bgrid, QUANTILES)
        depth = sum_depth(j.root) + 1
        counted = has_counted_leaves(j)
        latency = LatencyBounds(
            quantiles={QUANTILE_KEYS[q]: QuantileBounds(ind_q[q], co_q[q], bq[q][0], bq[q][1]) for q in QUANTILES},
            discretisation_error=depth * ind_step / 2.0,
            comonotone_discretisation_error=depth * co_step / 2.0,
            dkw_confidence=confidence if counted else None,
            grid_step=ind_step,
            grid_points=int(grid_points or DEFAULT_GRID_POINTS),
            band_points=bgrid.n,
        )
        if counted:
            notes.append(f"histogram leaves carry a DKW band at confidence {confidence:g} (per leaf) in lower/upper")
        if any(c.latency is not None and c.latency.kind == "empirical" for c in j.components):
            notes.append("empirical quantile lists carry no sample size: used as given (no DKW band)")
        notes.append("comonotone: durations comonotone at every operator, failures independent")
    avail = AvailabilityBounds(
        independent=independent,
        declared=declared,
        pessimistic=sfr.low if sfr else None,
        shared_fate_range=(sfr.low, sfr.high) if sfr else None,
        dependence_free=(df[0], df[1]),
        shared=(sfr.shared_all if sfr and math.isfinite(sfr.shared_all) else None),
        pessimistic_shared=tuple(sorted(sfr.low_set)) if sfr else None,
        scenario_count=sfr.count if sfr else 0,
        declared_method=declared_method,
        pessimistic_method=sfr.method if sfr else "not computable: too many gaussian factors or domain states",
        notes=tuple(notes),
    )
    return Bounds(journey=j.name, expression=j.expression, availability=avail, latency=latency, latency_modelled=lat_modelled)
