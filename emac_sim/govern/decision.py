"""PASS / FAIL / REVIEW for an accepted model or a candidate model (DESIGN §7).

Accepted model (a spec as written)
    FAIL when the governed availability bound (A⁻ under the default conservative policy) is below
    the objective, or when the governed latency bound of the objective's quantile exceeds its
    threshold; else PASS. ``useBoundsForAutomation.latency: upperConfidence`` (the default) is
    the upper end of the Monte Carlo interval (the dependence-free bound when no simulation is
    attached); ``upper`` / ``dependenceFree`` is the dependence-free bound.

Candidate model (from discovery or ``--candidate``), judged under the accepted spec's policy
    1. REVIEW when its confidence is below ``governance.confidenceThreshold`` (or not stated), or
       when it carries evidence flags;
    2. else FAIL when the candidate's A⁻ is below the objective or its latency bound exceeds the
       threshold;
    3. else REVIEW when |ΔA⁻| = |A⁻(candidate) − A⁻(accepted)| ≥ ``governance.deltaThreshold``
       (a high-impact delta, default 0.001);
    4. else PASS.

This reproduces the paper's canonical report (FAIL: A⁻ = 0.99251449 < 0.995) and its replay
(PASS / FAIL / REVIEW). Each ``governance.actions[].guard`` is evaluated as well
(:func:`emac_sim.govern.guard.evaluate_guard`); guards do not change the verdict.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ..core.quantiles import LATENCY_KEYS
from ..model.journey import Action, Journey
from .guard import NOT_MODELLED, Evaluation, evaluate_guard

if TYPE_CHECKING:
    from ..analytic.bounds import Bounds
    from ..engine.result import Estimate

Verdict = Literal["PASS", "FAIL", "REVIEW"]

#: ``useBoundsForAutomation.availability`` → the availability bound (:meth:`AvailabilityBounds.value`).
AVAILABILITY_BOUND_KEYS = {
    "pessimistic": "pessimistic",
    "lower": "pessimistic",
    "optimistic": "independent",
    "independent": "independent",
    "declared": "declared",
}
#: ``useBoundsForAutomation.latency`` → the quantile's bound (:meth:`QuantileBounds.value`).
LATENCY_BOUND_KEYS = {
    "upperConfidence": "upperConfidence",
    "upper": "upper",
    "dependenceFree": "upper",
    "pessimistic": "upper",
    "independent": "independent",
    "comonotone": "comonotone",
}


def _fmt(x: float) -> str:
    return f"{x:.8f}".rstrip("0").rstrip(".") if abs(x) >= 1e-4 else f"{x:.3g}"


def _fmt_s(x: float) -> str:
    return f"{x:.6g}s"


def availability_bound(journey: Journey, bounds: Bounds) -> tuple[str, float | None]:
    """(name, value) of the availability bound the policy gates on (``pessimistic`` → A⁻).

    ``declared`` falls back to ``pessimistic`` when the declared value is not computable.
    """
    name = journey.governance.availability_bound
    key = AVAILABILITY_BOUND_KEYS.get(name, "pessimistic")
    av = bounds.availability
    value = av.value(key)
    if value is None and key == "declared":
        key, value = "pessimistic", av.pessimistic
    return key, (None if value is None else float(value))


def latency_metric(journey: Journey) -> str:
    """The latency objective's metric (``p99`` when there is none)."""
    return journey.latency_objective.metric if journey.latency_objective is not None else "p99"


def latency_threshold(journey: Journey) -> float | None:
    """Seconds: the latency objective's threshold, else the progressive-delivery gate's p99 cap."""
    if journey.latency_objective is not None:
        return journey.latency_objective.threshold
    if journey.governance.max_p99_latency is not None:
        return journey.governance.max_p99_latency
    return None


def latency_bound(journey: Journey, bounds: Bounds, metric: str | None = None) -> float | None:
    """Seconds: the governed latency bound of ``metric`` (default: the objective's), ``None`` if not modelled."""
    return latency_bounds(journey, bounds)[1].get(metric or latency_metric(journey))


def latency_bounds(journey: Journey, bounds: Bounds) -> tuple[str, dict[str, float]]:
    """(key used, ``{pNN: seconds}``): the governed latency bound of every modelled quantile.

    The key is the policy's (``LATENCY_BOUND_KEYS``), except that ``upperConfidence`` becomes
    ``upper`` (the dependence-free bound) when no Monte Carlo interval is attached.
    """
    key = LATENCY_BOUND_KEYS.get(journey.governance.latency_bound, "upper")
    entries = {q: e for q in LATENCY_KEYS if (e := bounds.quantile(q)) is not None}
    if key == "upperConfidence" and not any(e.upper_confidence is not None for e in entries.values()):
        key = "upper"
    return key, {q: float(v) for q, e in entries.items() if (v := e.value(key)) is not None}


def with_simulated_latency(bounds: Bounds, simulation: Estimate | None) -> Bounds:
    """A copy of ``bounds`` whose latency quantiles also carry ``upper_confidence``
    (``upperConfidence``): the upper end of the Monte Carlo interval of each quantile
    (successful journeys, seconds).

    ``useBoundsForAutomation.latency: upperConfidence`` (the paper's conservative policy) gates on
    this value; ``upper`` gates on the dependence-free (Makarov/Fréchet) bound, which holds under
    any dependence but is much wider.
    """
    if bounds.latency is None or simulation is None or simulation.latency is None:
        return bounds
    quantiles = dict(bounds.latency.quantiles)
    for q in LATENCY_KEYS:
        est = simulation.latency.get(q)
        if q in quantiles and est is not None and est.ci[1] is not None:
            quantiles[q] = dataclasses.replace(quantiles[q], upper_confidence=float(est.ci[1]))
    return bounds.with_latency(quantiles)


def _is_domain_conflict(flag: str) -> bool:
    code = flag.split(":", 1)[0].lower()
    return "domain" in code and "conflict" in code


@dataclass(frozen=True)
class CandidateEvidence:
    """What governance needs to know about a candidate model.

    Attributes
    ----------
    source
        Where the candidate came from (file name).
    confidence
        Overall confidence in [0, 1], ``None`` when the candidate states none.
    evidence_flags
        Problems discovery flagged (``"<code>: <message>"``); any flag forces REVIEW. Flags whose
        code mentions both ``domain`` and ``conflict`` count as unresolved failure-domain conflicts.
    a_minus, a_plus
        The candidate's governed availability bound and its optimistic estimate.
    accepted_a_minus
        The accepted model's governed availability bound.
    latency_upper
        The candidate's governed latency bound of the objective's quantile (seconds) or ``None``.
    latency_bounds
        Upper latency bound per quantile key (``p50`` … ``p999``), seconds.
    changes
        Human-readable model changes (the ModelDelta lines).
    availability_key
        Which availability bound ``a_minus`` is (the policy's, after the ``declared`` fallback).
    """

    source: str
    confidence: float | None
    evidence_flags: tuple[str, ...]
    a_minus: float
    a_plus: float
    accepted_a_minus: float
    latency_upper: float | None = None
    latency_bounds: tuple[tuple[str, float], ...] = ()
    changes: tuple[str, ...] = ()
    availability_key: str = "pessimistic"

    @property
    def delta_a_minus(self) -> float:
        """A⁻(candidate) − A⁻(accepted)."""
        return self.a_minus - self.accepted_a_minus

    @property
    def unresolved_domain_conflicts(self) -> tuple[str, ...]:
        return tuple(f for f in self.evidence_flags if _is_domain_conflict(f))

    @classmethod
    def from_models(
        cls,
        accepted: Journey,
        accepted_bounds: Bounds,
        candidate: Journey,
        candidate_bounds: Bounds,
        *,
        changes: tuple[str, ...] = (),
    ) -> CandidateEvidence:
        """Build the evidence from both models and their analytic bounds (the accepted policy decides the bounds used)."""
        _, acc = availability_bound(accepted, accepted_bounds)
        key, cand = availability_bound(accepted, candidate_bounds)
        if acc is None or cand is None:
            raise ValueError("availability bounds missing")
        _, per_q = latency_bounds(accepted, candidate_bounds)
        return cls(
            source=candidate.source,
            confidence=candidate.confidence,
            evidence_flags=tuple(candidate.evidence_flags),
            a_minus=cand,
            a_plus=float(candidate_bounds.availability.independent),
            accepted_a_minus=acc,
            latency_upper=per_q.get(latency_metric(accepted)),
            latency_bounds=tuple(per_q.items()),
            changes=tuple(changes),
            availability_key=key,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "confidence": self.confidence,
            "evidenceFlags": list(self.evidence_flags),
            "unresolvedDomainConflicts": list(self.unresolved_domain_conflicts),
            "aMinus": self.a_minus,
            "aPlus": self.a_plus,
            "acceptedAMinus": self.accepted_a_minus,
            "deltaAMinus": self.delta_a_minus,
            "latencyUpper": self.latency_upper,
            "changes": list(self.changes),
        }


@dataclass(frozen=True)
class GuardResult:
    """One action's guard, evaluated."""

    action: str
    guard: str | None
    evaluation: Evaluation | None

    @property
    def status(self) -> str:
        """``allowed``, ``blocked``, ``unknown`` or ``unguarded``."""
        return "unguarded" if self.evaluation is None else self.evaluation.status

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"action": self.action, "guard": self.guard, "status": self.status}
        if self.evaluation is not None:
            d["explanation"] = self.evaluation.explanation()
            d["terms"] = [t.to_dict() for t in self.evaluation.terms]
        return d


@dataclass(frozen=True)
class Decision:
    """The governance verdict with every number it rests on.

    ``exit_code`` is what ``emac compile`` returns: 0 for PASS, 1 for FAIL or REVIEW.
    """

    verdict: Verdict
    mode: Literal["accepted", "candidate"]
    reasons: tuple[str, ...]
    availability_bound: str
    a_minus: float | None
    objective: float | None
    latency_metric: str
    latency_upper: float | None
    latency_threshold: float | None
    confidence: float | None = None
    confidence_threshold: float | None = None
    delta_a_minus: float | None = None
    delta_threshold: float | None = None
    evidence_flags: tuple[str, ...] = ()
    guards: tuple[GuardResult, ...] = field(default=())

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict == "PASS" else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "mode": self.mode,
            "reasons": list(self.reasons),
            "availabilityBound": self.availability_bound,
            "aMinus": self.a_minus,
            "objective": self.objective,
            "latencyMetric": self.latency_metric,
            "latencyUpperSeconds": self.latency_upper,
            "latencyThresholdSeconds": self.latency_threshold,
            "confidence": self.confidence,
            "confidenceThreshold": self.confidence_threshold,
            "deltaAMinus": self.delta_a_minus,
            "deltaThreshold": self.delta_threshold,
            "evidenceFlags": list(self.evidence_flags),
            "guards": [g.to_dict() for g in self.guards],
        }


#: ``conf(delta)`` of the accepted model: no model delta is pending, so there is nothing to doubt.
NO_DELTA_CONFIDENCE = 1.0


@dataclass(frozen=True)
class GovernedBounds:
    """The one value of each bound that governance acts on (``useBoundsForAutomation``).

    The decision, the action guards, the recorded Prometheus series and the Argo / Flagger gates
    all read these values, so a gate in the cluster agrees with the decision ``emac compile``
    printed.

    Attributes
    ----------
    model
        ``accepted`` (the spec as written) or ``candidate`` (a candidate model judged under the
        spec's policy: the model automation would act on).
    availability_key
        The availability bound the policy chose (``pessimistic``, ``independent`` or
        ``declared``; ``declared`` falls back to ``pessimistic`` when not computable).
    a_minus, a_plus
        The governed availability bound (``A_minus``) and the optimistic estimate (``A_plus``).
    latency_key
        The latency bound the policy chose (``upperConfidence``: the upper end of the Monte
        Carlo interval; ``upper``: the dependence-free bound; ...).
    latency
        ``(pNN, seconds)`` governed latency bound per modelled quantile.
    confidence
        ``conf(delta)``: the candidate's confidence; :data:`NO_DELTA_CONFIDENCE` for the accepted
        model (no delta pending).
    unresolved_conflicts
        Failure-domain conflicts awaiting resolution (flags of the candidate).
    """

    model: Literal["accepted", "candidate"]
    availability_key: str
    a_minus: float | None
    a_plus: float | None
    latency_key: str
    latency: tuple[tuple[str, float], ...]
    confidence: float | None
    unresolved_conflicts: tuple[str, ...] = ()

    @property
    def width(self) -> float | None:
        return None if self.a_minus is None or self.a_plus is None else self.a_plus - self.a_minus

    def latency_of(self, metric: str) -> float | None:
        return dict(self.latency).get(metric)


def governed_bounds(journey: Journey, bounds: Bounds, candidate: CandidateEvidence | None = None) -> GovernedBounds:
    """The bounds governance acts on: the accepted spec's, or the candidate's when one is judged
    (both under the accepted spec's ``useBoundsForAutomation``)."""
    lkey, _ = latency_bounds(journey, bounds)
    if candidate is not None:
        return GovernedBounds(
            "candidate",
            candidate.availability_key,
            candidate.a_minus,
            candidate.a_plus,
            lkey,
            candidate.latency_bounds,
            candidate.confidence,
            candidate.unresolved_domain_conflicts,
        )
    akey, a_value = availability_bound(journey, bounds)
    _, lat = latency_bounds(journey, bounds)
    a_plus = float(bounds.availability.independent)
    return GovernedBounds("accepted", akey, a_value, a_plus, lkey, tuple(lat.items()), NO_DELTA_CONFIDENCE)


def guard_environment(journey: Journey, bounds: Bounds, candidate: CandidateEvidence | None = None) -> dict[str, Any]:
    """Values of the guard names (see :mod:`emac_sim.govern.guard`), from :func:`governed_bounds`.

    ``A_minus`` is the availability bound the policy governs on, ``pNN_U`` the governed latency
    bounds (:data:`~emac_sim.govern.guard.NOT_MODELLED` when the model has no latency: the
    decision does not gate on latency then, and the guard leaves those comparisons out). With a
    candidate, the values are the candidate's (the model automation would act on),
    ``conf(delta)`` is its confidence and ``no_unresolved_domain_conflict`` is false while it
    carries a domain-conflict flag. Without one no delta is pending: ``conf(delta)`` is 1 and
    there is no conflict to resolve.
    """
    g = governed_bounds(journey, bounds, candidate)
    env: dict[str, Any] = {
        "A_minus": g.a_minus,
        "A_plus": g.a_plus,
        "width": g.width,
        "conf(delta)": g.confidence,
        "no_unresolved_domain_conflict": not g.unresolved_conflicts,
    }
    for q in LATENCY_KEYS:
        env[f"{q}_U"] = g.latency_of(q) if g.latency else NOT_MODELLED
    return env


def evaluate_actions(actions: tuple[Action, ...], env: Mapping[str, float | bool | None]) -> tuple[GuardResult, ...]:
    """Evaluate every action's guard (actions without a guard are ``unguarded``)."""
    return tuple(GuardResult(a.kind, a.guard, evaluate_guard(a.guard, env) if a.guard else None) for a in actions)


def _gates(journey: Journey, a_name: str, a_value: float | None, lat_value: float | None) -> tuple[list[str], list[str]]:
    """(failures, passes) of the objective gates for one model's bounds."""
    fails: list[str] = []
    passes: list[str] = []
    label = {"pessimistic": "A⁻", "independent": "A⁺", "declared": "A(declared)"}.get(a_name, a_name)
    obj = journey.availability_objective
    if obj is not None:
        if a_value is None:
            fails.append(f"{label} is not available")
        elif a_value < obj.target:
            fails.append(f"{label} = {_fmt(a_value)} is below the availability objective {_fmt(obj.target)} ({a_name} bound)")
        else:
            passes.append(f"{label} = {_fmt(a_value)} meets the availability objective {_fmt(obj.target)} ({a_name} bound)")
    threshold = latency_threshold(journey)
    metric = latency_metric(journey)
    if threshold is not None:
        if lat_value is None:
            passes.append(f"latency {metric} not modelled: no latency gate")
        elif lat_value > threshold:
            fails.append(f"latency {metric} bound {_fmt_s(lat_value)} exceeds the threshold {_fmt_s(threshold)}")
        else:
            passes.append(f"latency {metric} bound {_fmt_s(lat_value)} is within the threshold {_fmt_s(threshold)}")
    if obj is None and threshold is None:
        passes.append("the spec sets no objective to gate on")
    return fails, passes


def decide(journey: Journey, bounds: Bounds, *, candidate: CandidateEvidence | None = None) -> Decision:
    """Governance verdict for the accepted ``journey`` or for a ``candidate`` judged under its policy.

    Parameters
    ----------
    journey
        The accepted spec: objectives and policy (thresholds, bounds used, actions).
    bounds
        ``emac_sim.analytic.bounds(journey)`` of the accepted spec.
    candidate
        Evidence about a candidate model (:meth:`CandidateEvidence.from_models`), or ``None``.

    Returns
    -------
    Decision
        Verdict, reasons (one line each, with numbers) and every action's guard result.
    """
    g = journey.governance
    metric = latency_metric(journey)
    threshold = latency_threshold(journey)
    objective = journey.availability_objective.target if journey.availability_objective is not None else None
    env = guard_environment(journey, bounds, candidate)
    guards = evaluate_actions(g.actions, env)
    if candidate is None:
        gb = governed_bounds(journey, bounds)
        a_name, a_value, lat_value = gb.availability_key, gb.a_minus, gb.latency_of(metric)
        fails, passes = _gates(journey, a_name, a_value, lat_value)
        return Decision(
            verdict="FAIL" if fails else "PASS",
            mode="accepted",
            reasons=tuple(fails or passes),
            availability_bound=a_name,
            a_minus=a_value,
            objective=objective,
            latency_metric=metric,
            latency_upper=lat_value,
            latency_threshold=threshold,
            confidence=journey.confidence,
            guards=guards,
        )

    a_name = AVAILABILITY_BOUND_KEYS.get(g.availability_bound, "pessimistic")
    delta = candidate.delta_a_minus
    common = dict(
        mode="candidate",
        availability_bound=a_name,
        a_minus=candidate.a_minus,
        objective=objective,
        latency_metric=metric,
        latency_upper=candidate.latency_upper,
        latency_threshold=threshold,
        confidence=candidate.confidence,
        confidence_threshold=g.confidence_threshold,
        delta_a_minus=delta,
        delta_threshold=g.delta_threshold,
        evidence_flags=candidate.evidence_flags,
        guards=guards,
    )
    review: list[str] = []
    if candidate.confidence is None:
        review.append(f"the candidate states no confidence (policy threshold {g.confidence_threshold:g})")
    elif candidate.confidence < g.confidence_threshold:
        review.append(f"candidate confidence {candidate.confidence:g} is below the threshold {g.confidence_threshold:g}")
    if candidate.evidence_flags:
        review.append("evidence flags: " + "; ".join(candidate.evidence_flags))
    if review:
        return Decision(verdict="REVIEW", reasons=tuple(review), **common)  # type: ignore[arg-type]
    fails, passes = _gates(journey, a_name, candidate.a_minus, candidate.latency_upper)
    if fails:
        return Decision(verdict="FAIL", reasons=tuple(fails + [f"ΔA⁻ = {_signed(delta)} against the accepted model"]), **common)  # type: ignore[arg-type]
    if not math.isnan(delta) and abs(delta) >= g.delta_threshold:
        why = (
            f"high-impact delta: |ΔA⁻| = {abs(delta):.8g} ≥ {g.delta_threshold:g} (A⁻ {_fmt(candidate.accepted_a_minus)} → {_fmt(candidate.a_minus)})"
        )
        return Decision(verdict="REVIEW", reasons=(why, *passes), **common)  # type: ignore[arg-type]
    ok = [
        f"candidate confidence {candidate.confidence:g} ≥ {g.confidence_threshold:g}, no evidence flags",
        *passes,
        f"|ΔA⁻| = {abs(delta):.8g} < {g.delta_threshold:g}",
    ]
    return Decision(verdict="PASS", reasons=tuple(ok), **common)  # type: ignore[arg-type]


def _signed(x: float) -> str:
    return f"{x:+.8f}".rstrip("0").rstrip(".") if x != 0 else "0"
