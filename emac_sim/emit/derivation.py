"""What the emitters need, in one frozen object: :class:`Derivation` (filled by ``emac compile``).

Every member is a typed result (their ``to_dict()`` is what the derivation report writes):

``bounds``
    :class:`emac_sim.analytic.bounds.Bounds` (latency quantiles may carry the Monte Carlo
    ``upper_confidence``, :func:`emac_sim.govern.with_simulated_latency`).
``simulation``
    :class:`emac_sim.engine.result.Estimate` or ``None`` (no Monte Carlo run).
``check``
    :class:`emac_sim.check.CheckVerdict` or ``None``.
``budgets``
    :class:`emac_sim.budgets.Budgets` or ``None``; emitters tolerate ``None`` members.
``decision``
    :class:`emac_sim.govern.Decision`.
``candidate``
    :class:`emac_sim.govern.CandidateEvidence` when a candidate model was judged.
``evidence``
    :class:`emac_sim.evidence.EvidenceReport` when Prometheus evidence was read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.provenance import Provenance
from ..govern.decision import CandidateEvidence, Decision, GovernedBounds, governed_bounds
from ..model.journey import Journey

if TYPE_CHECKING:
    from ..analytic.bounds import Bounds
    from ..budgets import Budgets
    from ..check import CheckVerdict
    from ..engine.result import Estimate
    from ..evidence.report import EvidenceReport

DEFAULT_PROMETHEUS_ADDRESS = "http://prometheus.monitoring.svc:9090"


@dataclass(frozen=True)
class EmitOptions:
    """Deployment details the spec does not carry.

    Attributes
    ----------
    prometheus_address
        Prometheus URL for Argo / Flagger / OpenSLO data sources.
    namespace
        Kubernetes namespace for generated resources (``None``: leave unset).
    canary_matcher
        Label matcher that selects canary traffic in the journey SLI (added to every selector of
        the canary queries), e.g. ``rollout="canary"``.
    canary_window
        Window of the canary gate queries, seconds.
    analysis_interval, analysis_count
        Argo metric ``interval`` (seconds) and ``count``.
    sloth_compatible
        Rule naming: ``None`` follows ``governance.alerts.slothCompatible``; ``True`` writes the
        groups exactly as Sloth would for the journey SLO.
    canary_target
        Name of the Deployment the Flagger ``Canary`` rolls out (``None``: the journey's name).
    service_port
        Port of the Flagger ``Canary``'s service.
    """

    prometheus_address: str = DEFAULT_PROMETHEUS_ADDRESS
    namespace: str | None = None
    canary_matcher: str = 'rollout="canary"'
    canary_window: float = 300.0
    analysis_interval: float = 60.0
    analysis_count: int = 5
    sloth_compatible: bool | None = None
    canary_target: str | None = None
    service_port: int = 80


@dataclass(frozen=True)
class Derivation:
    """Everything ``emit_all`` writes artifacts from (see the module docstring for the types).

    Attributes
    ----------
    journey
        The accepted journey (objectives, policy, actions).
    bounds
        Analytic bounds of the accepted journey.
    budgets
        Budgets, or ``None`` when not derived.
    decision
        The governance decision.
    provenance
        Version, seed, parameters, command, input sha256s, library versions.
    simulation
        The Monte Carlo estimate, or ``None``.
    check
        Monte Carlo vs bounds verdict, or ``None``.
    candidate
        The candidate model's evidence when one was judged.
    candidate_bounds
        Analytic bounds of the candidate model, if any.
    options
        Deployment details (Prometheus address, canary selector, ...).
    evidence
        The Prometheus evidence report when the derivation read one.
    evidence_mode
        ``observed`` when the evidence replaced the declared values, else ``declared``.
    """

    journey: Journey
    bounds: Bounds
    budgets: Budgets | None
    decision: Decision
    provenance: Provenance
    simulation: Estimate | None = None
    check: CheckVerdict | None = None
    candidate: CandidateEvidence | None = None
    candidate_bounds: Bounds | None = None
    options: EmitOptions = field(default_factory=EmitOptions)
    evidence: EvidenceReport | None = None
    evidence_mode: str = "declared"

    # -- conveniences the emitters share

    @property
    def a_plus(self) -> float:
        """A⁺: availability with independent components (the paper's optimistic estimate)."""
        return float(self.bounds.availability.independent)

    @property
    def a_minus(self) -> float:
        """A⁻: the pessimistic shared-fate bound."""
        return float(self.bounds.availability.pessimistic)  # type: ignore[arg-type]

    @property
    def width(self) -> float:
        return self.a_plus - self.a_minus

    @property
    def digest(self) -> str:
        return self.provenance.digest()

    @property
    def sloth_compatible(self) -> bool:
        o = self.options.sloth_compatible
        return self.journey.governance.sloth_compatible if o is None else o

    @property
    def governed(self) -> GovernedBounds:
        """The one value of each bound the decision, the guards, the recorded series and the
        Argo / Flagger gates use (:func:`emac_sim.govern.governed_bounds`)."""
        return governed_bounds(self.journey, self.bounds, self.candidate)

    @property
    def governed_model_bounds(self) -> Bounds:
        """Analytic bounds of the model governance acts on: the candidate's when one is judged."""
        if self.candidate is not None and self.candidate_bounds is not None:
            return self.candidate_bounds
        return self.bounds
