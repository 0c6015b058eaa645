"""Monte Carlo estimates held against analytic bounds (DESIGN §7 "check").

A simulation is *consistent* with the analytic layer when

- its availability interval meets the analytic value for the scenario it simulated: the exact
  value for ``independent``, ``shared`` and ``pessimistic`` (the shared-fate scenario attaining
  A⁻), and for ``declared`` where the analytic layer could compute it; otherwise the
  dependence-free range (DESIGN §7 says [pessimistic, sharedFateRange max], but a gaussian
  domain with 0 < rho < 1 can fall below both shared-fate extremes, so only the
  dependence-free range is valid there);
- its availability interval meets the dependence-free range (Fréchet–Hoeffding / Boole), which
  must hold whatever the scenario;
- every latency quantile interval (successful journeys, seconds) meets the dependence-free band
  ``[lower, upper]`` of that quantile; for the ``independent`` scenario it must also meet the
  exact independent quantile (the analytic grid composition), the natural latency counterpart
  of the exact availability value.

Only a consistent model gets budgets and artifacts. Each comparison is one :class:`CheckItem`
with a human explanation, so a refusal says which number disagreed with which and by how much.

Tolerances (all documented, none tuned):

- availability: the analytic values are exact up to floating point, ``ABS_TOL_EXACT = 1e-12``;
  a ``declared`` value (possibly obtained by quadrature over gaussian domain factors) gets
  ``ABS_TOL_QUADRATURE = 1e-9``, far below any Monte Carlo interval half-width reachable in CI.
- latency: the engine's quantiles come from log-bucketed histograms with relative error at most
  ``HISTOGRAM_REL_ERR = 0.005`` (DESIGN §6), so the interval is widened by that factor on each
  side; the analytic band is widened by its reported ``discretisationError`` (seconds).

The false-refusal rate of one comparison is ``1 − confidence`` of the intervals compared; the
pipeline (:mod:`emac_sim.pipeline.compile`) simulates at ``CHECK_CONFIDENCE = 0.999`` so that a
correct model is refused with probability at most ~1 % over its (≤ 10) comparisons, and, with
the default fixed seed, never flakily: the same inputs give the same verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..core.quantiles import LATENCY_KEYS

if TYPE_CHECKING:
    from ..analytic.bounds import Bounds
    from ..engine.result import Estimate

CHECK_CONFIDENCE = 0.999
ABS_TOL_EXACT = 1e-12
ABS_TOL_QUADRATURE = 1e-9
HISTOGRAM_REL_ERR = 0.005

Status = Literal["pass", "fail", "skip"]


@dataclass(frozen=True)
class CheckItem:
    """One comparison of a Monte Carlo interval with an analytic value or range.

    Attributes
    ----------
    name
        ``availability``, ``availability.dependenceFree``, ``latency.<pNN>`` (band) or
        ``latency.<pNN>.independent`` (exact independent quantile).
    status
        ``pass`` (interval meets the reference), ``fail`` or ``skip`` (nothing to compare).
    estimate
        The Monte Carlo point estimate (probability, or seconds for latency); ``None`` if absent.
    interval
        The Monte Carlo confidence interval ``(lo, hi)`` as compared (latency: widened by the
        histogram error).
    reference
        The analytic reference ``(lo, hi)`` as compared (an exact value is ``(v, v)``), widened
        by the stated tolerance.
    reference_kind
        ``exact``, ``range`` (scenario range) or ``band`` (dependence-free).
    tolerance
        Absolute tolerance applied to the reference (probability or seconds).
    message
        One line a human reads: what was compared and, on failure, by how much it missed.
    """

    name: str
    status: Status
    estimate: float | None
    interval: tuple[float, float] | None
    reference: tuple[float, float] | None
    reference_kind: str
    tolerance: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "estimate": self.estimate,
            "interval": list(self.interval) if self.interval is not None else None,
            "reference": list(self.reference) if self.reference is not None else None,
            "referenceKind": self.reference_kind,
            "tolerance": self.tolerance,
            "message": self.message,
        }


@dataclass(frozen=True)
class CheckVerdict:
    """The check's outcome for one journey and one simulated scenario.

    ``consistent`` is True when no item failed. ``explanation()`` is the text printed when
    budgets and artifacts are refused.
    """

    journey: str
    scenario: str
    confidence: float | None
    samples: int | None
    items: tuple[CheckItem, ...]

    @property
    def consistent(self) -> bool:
        return all(i.status != "fail" for i in self.items)

    @property
    def failures(self) -> tuple[CheckItem, ...]:
        return tuple(i for i in self.items if i.status == "fail")

    def explanation(self) -> str:
        """Multi-line human explanation; starts with the verdict."""
        head = (
            f"check {'passed' if self.consistent else 'FAILED'}: journey {self.journey!r}, scenario {self.scenario!r}, "
            f"{self.samples if self.samples is not None else '?'} samples, intervals at confidence {self.confidence}"
        )
        lines = [head]
        for i in self.items:
            lines.append(f"  [{i.status}] {i.name}: {i.message}")
        if not self.consistent:
            lines.append(
                "  Monte Carlo estimates and analytic bounds disagree: budgets and artifacts are refused. "
                "Either the model hits a bug in one route, or the simulated scenario is not the one the bounds describe."
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "journey": self.journey,
            "scenario": self.scenario,
            "consistent": self.consistent,
            "status": "pass" if self.consistent else "fail",
            "confidence": self.confidence,
            "samples": self.samples,
            "checks": [i.to_dict() for i in self.items],
        }


def _meets(interval: tuple[float, float], ref: tuple[float, float]) -> bool:
    return interval[0] <= ref[1] and ref[0] <= interval[1]


def _gap(interval: tuple[float, float], ref: tuple[float, float]) -> float:
    """Distance between two disjoint intervals (0 when they meet)."""
    return max(ref[0] - interval[1], interval[0] - ref[1], 0.0)


def _fmt_p(x: float) -> str:
    return f"{x:.8f}"


def _fmt_s(x: float) -> str:
    return f"{x * 1e3:.4g}ms"


def availability_reference(bounds: Bounds, scenario: str) -> tuple[tuple[float, float], str, float, str]:
    """The analytic availability reference for a simulated scenario.

    Parameters
    ----------
    bounds
        ``emac_sim.analytic.bounds(journey)``.
    scenario
        The scenario the simulation ran: ``independent``, ``shared``, ``pessimistic`` or
        ``declared``.

    Returns
    -------
    (lo, hi), kind, tolerance, description
        ``kind`` is ``exact`` (``lo == hi``) or ``range``; ``tolerance`` is the absolute
        allowance for the analytic computation (probability).

    Raises
    ------
    ValueError
        For a scenario name the check does not know.
    """
    av = bounds.availability
    if scenario in ("independent", "shared", "pessimistic"):
        v = float(av.value(scenario))  # type: ignore[arg-type]
        return (v, v), "exact", ABS_TOL_EXACT, f"exact {scenario} availability"
    if scenario == "declared":
        v = av.declared
        if v is not None:
            return (float(v), float(v)), "exact", ABS_TOL_QUADRATURE, "exact declared availability"
        # A gaussian domain at 0 < rho < 1 can put the journey below BOTH shared-fate extremes
        # (availability need not be monotone in rho; hypothesis found such journeys and the
        # quadrature agrees), so [pessimistic, sharedFateRange max] is not a valid reference
        # for declared gaussian factors. Only the dependence-free range is.
        lo, hi = (float(x) for x in av.dependence_free)
        return (lo, hi), "range", ABS_TOL_EXACT, "declared availability not computable analytically: dependence-free range"
    raise ValueError(f"unknown scenario {scenario!r}")


def check_consistency(bounds: Bounds, simulation: Estimate, scenario: str | None = None) -> CheckVerdict:
    """Hold a Monte Carlo result against the analytic bounds of the same journey.

    Parameters
    ----------
    bounds
        ``emac_sim.analytic.bounds(journey)``: availability (independent, declared,
        pessimistic, shared, shared-fate and dependence-free ranges), latency quantiles'
        ``lower`` / ``upper`` (seconds, successful journeys) or ``None``, and the grid's
        discretisation error (seconds).
    simulation
        ``SimulationResult.estimate``: samples, correlation, confidence, the availability
        estimate and interval, the latency quantiles' estimates and intervals or ``None``.
        For the ``independent`` scenario the latency items ``latency.<pNN>.independent`` compare
        with the exact independent quantile (± the grid's discretisation error).
    scenario
        The scenario simulated; defaults to ``simulation.correlation``.

    Returns
    -------
    CheckVerdict
        ``consistent`` is False when any comparison fails; the verdict never raises for a
        disagreement (the caller decides to refuse).

    Notes
    -----
    DESIGN §7. The availability interval is whatever the engine reported (Wilson or
    Clopper–Pearson at ``simulation["confidence"]``); run the engine at
    :data:`CHECK_CONFIDENCE` for a false-refusal rate of 1e-3 per comparison.
    """
    scen = scenario or str(simulation.correlation or "declared")
    items: list[CheckItem] = []
    sim_scen = simulation.correlation
    if sim_scen is not None and scenario is not None and sim_scen != scenario:
        items.append(
            CheckItem(
                "scenario",
                "fail",
                None,
                None,
                None,
                "exact",
                0.0,
                f"the simulation ran scenario {sim_scen!r} but is checked against {scenario!r}",
            )
        )

    # ---- availability against the scenario's analytic value or range
    est = float(simulation.availability)
    ci = (float(simulation.availability_ci[0]), float(simulation.availability_ci[1]))
    (lo, hi), kind, tol, what = availability_reference(bounds, scen)
    ref = (lo - tol, hi + tol)
    ref_text = _fmt_p(lo) if kind == "exact" else f"[{_fmt_p(lo)}, {_fmt_p(hi)}]"
    ok = _meets(ci, ref)
    msg = f"estimate {_fmt_p(est)}, interval [{_fmt_p(ci[0])}, {_fmt_p(ci[1])}] {'meets' if ok else 'misses'} {what} {ref_text}"
    if not ok:
        msg += f" by {_gap(ci, ref):.3g}"
    items.append(CheckItem("availability", "pass" if ok else "fail", est, ci, ref, kind, tol, msg))

    # ---- availability against the dependence-free range (must hold for any scenario)
    df = bounds.availability.dependence_free
    dref = (float(df[0]) - ABS_TOL_EXACT, float(df[1]) + ABS_TOL_EXACT)
    ok = _meets(ci, dref)
    msg = f"interval [{_fmt_p(ci[0])}, {_fmt_p(ci[1])}] {'meets' if ok else 'misses'} dependence-free range [{_fmt_p(df[0])}, {_fmt_p(df[1])}]"
    if not ok:
        msg += f" by {_gap(ci, dref):.3g}"
    items.append(CheckItem("availability.dependenceFree", "pass" if ok else "fail", est, ci, dref, "band", ABS_TOL_EXACT, msg))

    # ---- latency quantiles against the dependence-free band
    blat = bounds.latency
    slat = simulation.latency
    if blat is None and slat is None:
        items.append(CheckItem("latency", "skip", None, None, None, "band", 0.0, "latency not modelled"))
    elif slat is None and simulation.importance is not None:
        items.append(CheckItem("latency", "skip", None, None, None, "band", 0.0, "latency not estimated under importance sampling"))
    elif blat is None or slat is None:
        has, lacks = ("analytic layer", "simulation") if slat is None else ("simulation", "analytic layer")
        items.append(CheckItem("latency", "fail", None, None, None, "band", 0.0, f"the {has} models latency but the {lacks} reports none"))
    else:
        disc = float(blat.discretisation_error or 0.0)
        for key in LATENCY_KEYS:
            b, s = blat.quantiles.get(key), slat.get(key)
            name = f"latency.{key}"
            if b is None or s is None or s.estimate is None or b.lower is None or b.upper is None:
                items.append(CheckItem(name, "skip", None, None, None, "band", disc, "no quantile to compare (no successful journeys?)"))
                continue
            q_est = float(s.estimate)
            q_ci = (float(s.ci[0]) / (1.0 + HISTOGRAM_REL_ERR), float(s.ci[1]) * (1.0 + HISTOGRAM_REL_ERR))  # type: ignore[arg-type]
            blo, bhi = float(b.lower), float(b.upper)
            band = (blo - disc, bhi + disc if math.isfinite(bhi) else math.inf)
            ok = _meets(q_ci, band)
            msg = (
                f"estimate {_fmt_s(q_est)}, interval [{_fmt_s(q_ci[0])}, {_fmt_s(q_ci[1])}] {'meets' if ok else 'misses'} "
                f"dependence-free band [{_fmt_s(blo)}, {_fmt_s(bhi) if math.isfinite(bhi) else 'inf'}]"
            )
            if not ok:
                msg += f" by {_fmt_s(_gap(q_ci, band))}"
            items.append(CheckItem(name, "pass" if ok else "fail", q_est, q_ci, band, "band", disc, msg))
            exact = b.independent
            if scen == "independent" and exact is not None and math.isfinite(float(exact)):
                v = float(exact)
                ref = (v - disc, v + disc)
                ok = _meets(q_ci, ref)
                msg = (
                    f"interval [{_fmt_s(q_ci[0])}, {_fmt_s(q_ci[1])}] {'meets' if ok else 'misses'} the exact independent quantile "
                    f"{_fmt_s(v)} (± {_fmt_s(disc)} grid error)"
                )
                if not ok:
                    msg += f" by {_fmt_s(_gap(q_ci, ref))}"
                items.append(CheckItem(f"{name}.independent", "pass" if ok else "fail", q_est, q_ci, ref, "exact", disc, msg))

    conf = simulation.confidence
    samples = simulation.samples
    return CheckVerdict(
        journey=str(bounds.journey),
        scenario=scen,
        confidence=float(conf) if conf is not None else None,
        samples=int(samples) if samples is not None else None,
        items=tuple(items),
    )
