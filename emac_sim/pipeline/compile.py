"""``emac compile``: spec → bounds → Monte Carlo → check → budgets → decision → artifacts (DESIGN §7).

The pipeline, for the accepted spec (and, with ``candidate``, for a candidate model too):

1. analytic bounds (:func:`emac_sim.analytic.bounds`);
2. a Monte Carlo estimate of the ``correlation`` scenario at the check's confidence
   (:func:`emac_sim.check.run_check`; default 200 000 samples, fixed seed 0, so the same inputs
   give the same bytes; the seed used is recorded in the report's provenance);
3. the check: if any estimate disagrees with its bounds, nothing is written and the result is
   ``REFUSED`` (exit code 1) with the explanation;
4. budgets of the accepted spec (:func:`emac_sim.budgets.derive_budgets`);
5. the governance decision (:func:`emac_sim.govern.decide`): PASS / FAIL / REVIEW;
6. every artifact, written atomically into ``out`` (:func:`emac_sim.emit.emit_all`) whatever
   the decision: a FAIL is worth reviewing.

Candidate models (``--candidate MODEL``) are judged under the accepted spec's policy
(:mod:`emac_sim.pipeline.candidate`). Both models are simulated and checked; the artifacts stay
those of the accepted spec, with the candidate's evaluation in the derivation report, until the
candidate is accepted (written as the spec).
"""

from __future__ import annotations

import dataclasses
import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..analytic.bounds import Bounds
from ..budgets import Budgets, derive_budgets
from ..check import CHECK_CONFIDENCE, DEFAULT_SAMPLES, CheckRun, run_check
from ..core.provenance import Provenance
from ..core.seeds import DEFAULT_SEED
from ..emit import EmitOptions, emit_all
from ..emit.derivation import Derivation
from ..errors import SpecError
from ..govern.decision import CandidateEvidence, Decision, decide, with_simulated_latency
from ..model.journey import Journey
from ..model.scenario import SCENARIO_NAMES
from ..outdir import check_output_dir
from .candidate import judge_candidate

if TYPE_CHECKING:
    from ..evidence.report import EvidenceReport
    from .evidence import EvidenceRequest


@dataclass(frozen=True)
class CompileResult:
    """What one ``compile_spec`` call produced.

    Attributes
    ----------
    journey
        The accepted journey.
    bounds
        Its analytic bounds.
    check
        The accepted journey's check run (bounds, simulation, verdict).
    candidate_check
        The candidate's check run, when a candidate was given.
    budgets
        Budgets of the accepted journey (``None`` when the check refused).
    decision
        :class:`emac_sim.govern.Decision` (``None`` when the check refused).
    candidate
        :class:`emac_sim.govern.CandidateEvidence` when a candidate was judged.
    out_dir
        Output directory.
    written
        Files written, relative to ``out_dir`` (empty when refused).
    evidence
        :class:`emac_sim.evidence.EvidenceReport` when compiled with ``--prometheus``.
    evidence_mode
        ``observed`` when the evidence replaced the declared values, else ``declared``.
    """

    journey: Journey
    bounds: Bounds
    check: CheckRun
    candidate_check: CheckRun | None
    budgets: Budgets | None
    decision: Decision | None
    candidate: CandidateEvidence | None
    out_dir: Path
    written: tuple[str, ...]
    samples: int
    correlation: str
    evidence: EvidenceReport | None = None
    evidence_mode: str = "declared"

    @property
    def refused(self) -> bool:
        """True when a check failed: no budgets, no decision, no artifacts."""
        return self.decision is None

    @property
    def status(self) -> str:
        """``PASS``, ``FAIL``, ``REVIEW`` or ``REFUSED``."""
        return "REFUSED" if self.decision is None else str(self.decision.verdict)

    @property
    def exit_code(self) -> int:
        """0 for PASS; 1 for FAIL, REVIEW or a refused check."""
        return 1 if self.decision is None else int(self.decision.exit_code)

    @property
    def seed(self) -> int:
        """The Monte Carlo seed actually used."""
        return self.check.simulation.seed

    def explanation(self) -> str:
        """Why the check refused (all failing comparisons), or an empty string."""
        runs = [self.check] + ([self.candidate_check] if self.candidate_check is not None else [])
        return "\n".join(r.verdict.explanation() for r in runs if not r.verdict.consistent)

    def to_dict(self) -> dict[str, Any]:
        av = self.bounds.availability
        out: dict[str, Any] = {
            "command": "compile",
            "journey": self.journey.name,
            "expression": self.journey.expression,
            "status": self.status,
            "exitCode": self.exit_code,
            "availability": {
                "aPlus": av.independent,
                "aMinus": av.pessimistic,
                "boundWidth": float(av.independent) - float(av.pessimistic),  # type: ignore[arg-type]
                "objective": self.journey.availability_objective.target if self.journey.availability_objective else None,
            },
            "samples": self.samples,
            "seed": self.seed,
            "correlation": self.correlation,
            "check": self.check.verdict.to_dict(),
            "simulation": self.check.simulation.to_dict(),
            "decision": self.decision.to_dict() if self.decision is not None else None,
            "budgets": self.budgets.to_dict() if self.budgets is not None else None,
            "outDir": str(self.out_dir),
            "artifacts": list(self.written),
        }
        if self.candidate_check is not None:
            out["candidateCheck"] = self.candidate_check.verdict.to_dict()
        if self.candidate is not None:
            out["candidate"] = self.candidate.to_dict()
        if self.refused:
            out["explanation"] = self.explanation()
        if self.evidence is not None:
            out["evidence"] = self.evidence.to_dict(self.evidence_mode)
        return out


def with_capacity(j: Journey) -> tuple[Journey, str | None]:
    """The journey compile judges when components declare ``capacity``, and why it cannot.

    Capacity components get their latency from M/G/c queues at ``spec.load.rate`` (the same
    load/latency fixed point as ``emac whatif`` and ``emac report``,
    :func:`emac_sim.studies.capacity.derive_capacity`). A saturated queue (utilisation ≥ 1)
    has no stationary latency: the journey is returned as written, with the reason, and the
    decision cannot be PASS (:func:`_saturated`).
    """
    from ..studies.capacity import capacity_components, derive_capacity

    if not capacity_components(j):
        return j, None
    cap = derive_capacity(j)
    if cap.saturated:
        detail = ", ".join(f"{cid} utilisation {cap.queues[cid].utilisation:.3g}" for cid in cap.saturated)
        return j, f"saturated at load.rate {cap.rate:g}/s ({detail} >= 1): the queue grows without bound, so latency has no stationary value"
    return dataclasses.replace(cap.journey, source=j.source, inputs=j.inputs), None


def _saturated(decision: Decision, j: Journey, why: str) -> Decision:
    """A saturated journey fails its latency objective, or needs review when it declares none."""
    if j.latency_objective is not None:
        reason = f"latency objective {j.latency_objective.metric} <= {j.latency_objective.threshold:g}s fails: {why}"
        return dataclasses.replace(decision, verdict="FAIL", reasons=(reason, *decision.reasons))
    verdict = decision.verdict if decision.verdict == "FAIL" else "REVIEW"
    return dataclasses.replace(decision, verdict=verdict, reasons=(f"review: {why}", *decision.reasons))


def command_line(
    spec: str | os.PathLike,
    *,
    samples: int,
    seed: int | None,
    correlation: str,
    candidate: str | os.PathLike | None,
    slo_paths: Sequence[str | os.PathLike] = (),
    extra: Sequence[str] = (),
) -> str:
    """The canonical command recorded in provenance; the output directory is written ``OUT``
    so the same inputs give the same bytes wherever they are compiled to."""
    parts = ["emac", "compile", str(spec), "--out", "OUT", "--samples", str(samples)]
    if seed is not None:
        parts += ["--seed", str(seed)]
    parts += ["--correlation", correlation]
    if candidate is not None:
        parts += ["--candidate", str(candidate)]
    for p in slo_paths:
        parts += ["--slo-path", str(p)]
    return shlex.join([*parts, *extra])


def compile_spec(
    spec: str | os.PathLike,
    out: str | os.PathLike,
    *,
    samples: int = DEFAULT_SAMPLES,
    seed: int | None = DEFAULT_SEED,
    correlation: str = "declared",
    candidate: str | os.PathLike | None = None,
    slo_paths: Sequence[str | os.PathLike] = (),
    workers: int | None = None,
    options: EmitOptions | None = None,
    evidence_request: EvidenceRequest | None = None,
    method: str = "plain",
) -> CompileResult:
    """Compile a spec into budgets, a governance decision and reviewable artifacts.

    Parameters
    ----------
    spec
        The accepted ``JourneyIntent``.
    out
        Output directory (created; an existing one must be empty or a previous emac-sim output).
    samples
        Monte Carlo samples per checked model.
    seed
        Root seed; default 0 (fixed: same inputs → identical bytes). ``None`` draws a seed,
        which is recorded in the report's provenance.
    correlation
        Scenario to simulate and check (``declared``, ``independent``, ``shared``,
        ``pessimistic``).
    candidate
        A candidate model (``DiscoveredJourneyModel`` or ``JourneyIntent``) to judge against
        ``spec`` (DESIGN §7).
    slo_paths
        Extra OpenSLO / Sloth directories for ``atomicSLORef``.
    workers
        Engine threads (results do not depend on it).
    options
        :class:`emac_sim.emit.EmitOptions` (Prometheus address, canary selector, ...).
    evidence_request
        :class:`emac_sim.pipeline.evidence.EvidenceRequest`: read the spec's telemetry from Prometheus; its
        report (and provenance: URL, queries, window, time, counts) goes into the derivation
        report, and with ``mode="observed"`` the observed values replace the declared ones.
    method
        Monte Carlo method of the checks: ``plain``, ``importance`` or ``auto``
        (:func:`emac_sim.engine.simulate`; recorded in the provenance when not ``plain``).

    Returns
    -------
    CompileResult
        ``status`` PASS / FAIL / REVIEW with artifacts written, or REFUSED (check failed,
        nothing written); ``exit_code`` 0 for PASS, else 1.

    Raises
    ------
    SpecError
        Bad input: a spec or candidate that does not load, an unknown scenario, an output
        directory holding foreign files.
    """
    from ..analytic import bounds as analytic_bounds  # looked up at call time: tests inject faults here
    from ..spec import load_spec
    from ..spec.candidate import load_candidate

    if correlation not in SCENARIO_NAMES:
        raise SpecError("--correlation", "", f"unknown scenario {correlation!r} (one of {', '.join(SCENARIO_NAMES)})")
    check_output_dir(out, "compile")  # an unusable --out is refused before the work, not after it
    accepted = load_spec(spec, slo_paths=slo_paths)
    ev_report, ev = None, evidence_request
    if ev is not None:
        accepted, ev_report = ev.apply(accepted)
    accepted, saturation = with_capacity(accepted)
    cand_journey = load_candidate(candidate, accepted, slo_paths=slo_paths) if candidate is not None else None

    b_acc = analytic_bounds(accepted)
    run_acc = run_check(accepted, samples=samples, seed=seed, correlation=correlation, bounds=b_acc, workers=workers, method=method)
    used_seed = run_acc.simulation.seed
    run_cand = None
    b_cand = None
    if cand_journey is not None:
        b_cand = analytic_bounds(cand_journey)
        run_cand = run_check(cand_journey, samples=samples, seed=used_seed, correlation=correlation, bounds=b_cand, workers=workers, method=method)

    out_dir = Path(out)
    ev_fields: dict[str, Any] = {"evidence": ev_report, "evidence_mode": ev.mode} if ev is not None else {}
    if not run_acc.verdict.consistent or (run_cand is not None and not run_cand.verdict.consistent):
        return CompileResult(accepted, b_acc, run_acc, run_cand, None, None, None, out_dir, (), samples, correlation, **ev_fields)

    # the conservative latency gate (upperConfidence) reads the Monte Carlo interval of each model
    b_acc = with_simulated_latency(b_acc, run_acc.simulation)
    if run_cand is not None and b_cand is not None:
        b_cand = with_simulated_latency(b_cand, run_cand.simulation)
    evidence = judge_candidate(accepted, b_acc, cand_journey, b_cand) if cand_journey is not None and b_cand is not None else None
    budgets = derive_budgets(accepted, b_acc)
    decision = decide(accepted, b_acc, candidate=evidence)
    if saturation is not None:
        decision = _saturated(decision, accepted, saturation)
    params: dict[str, Any] = {"samples": samples, "correlation": correlation, "checkConfidence": CHECK_CONFIDENCE}
    if candidate is not None:
        params["candidate"] = str(candidate)
    if method != "plain":
        params["method"] = method
    extra_inputs = tuple(cand_journey.inputs) if cand_journey is not None else ()
    if ev is not None and ev_report is not None:
        params.update(ev.parameters(ev_report))
        extra_inputs += (ev_report.provenance_input(),)
    provenance = Provenance.collect(
        accepted,
        seed=used_seed,
        parameters=params,
        command=command_line(
            spec, samples=samples, seed=used_seed, correlation=correlation, candidate=candidate, slo_paths=slo_paths,
            extra=(*(ev.arguments() if ev is not None else ()), *(("--method", method) if method != "plain" else ())),
        ),
        extra_inputs=extra_inputs,
    )
    derivation = Derivation(
        journey=accepted,
        bounds=b_acc,
        budgets=budgets,
        decision=decision,
        provenance=provenance,
        simulation=run_acc.simulation,
        check=run_acc.verdict,
        candidate=evidence,
        candidate_bounds=b_cand,
        options=options if options is not None else EmitOptions(),
        evidence=ev_report if ev is not None else None,
        evidence_mode=ev.mode if ev is not None else "declared",
    )
    paths = emit_all(derivation, out_dir)
    written = tuple(Path(p).relative_to(out_dir).as_posix() for p in paths)
    return CompileResult(accepted, b_acc, run_acc, run_cand, budgets, decision, evidence, out_dir, written, samples, correlation, **ev_fields)
