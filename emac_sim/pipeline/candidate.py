"""Candidate judging (DESIGN §7): a candidate model held against the accepted spec's policy.

Candidate models (``--candidate MODEL``: a ``DiscoveredJourneyModel`` or ``JourneyIntent``)
describe what the system *is*; the accepted spec keeps what it *should be* (objectives, policy,
actions). The candidate is judged under the accepted spec's policy with its own bounds
(:class:`emac_sim.govern.CandidateEvidence`: confidence, evidence flags, A⁻, ΔA⁻ and the model
changes listed by :func:`model_changes`); :func:`emac_sim.govern.decide` turns that evidence into
PASS / FAIL / REVIEW.
"""

from __future__ import annotations

from ..analytic.bounds import Bounds
from ..govern.decision import CandidateEvidence
from ..model.journey import Journey


def _domain_members(j: Journey) -> dict[str, tuple[str, ...]]:
    return {d.name: tuple(sorted(d.members)) for d in j.domains if d.members}


def model_changes(accepted: Journey, candidate: Journey, accepted_bounds: Bounds, candidate_bounds: Bounds) -> tuple[str, ...]:
    """Human-readable differences between the accepted and the candidate model.

    Covers the operator expression, components added / removed, availability changes, failure
    domains added / removed / with other members, and the resulting A⁻ and A⁺ changes. The
    order is fixed (expression, components, domains, bounds) so reports are deterministic.
    """
    lines: list[str] = []
    if accepted.expression != candidate.expression:
        lines.append(f"operator: {accepted.expression} -> {candidate.expression}")
    acc_c, cand_c = accepted.availabilities, candidate.availabilities
    for cid in sorted(set(cand_c) - set(acc_c)):
        lines.append(f"component {cid}: added (availability {cand_c[cid]:g})")
    for cid in sorted(set(acc_c) - set(cand_c)):
        lines.append(f"component {cid}: removed")
    for cid in sorted(set(acc_c) & set(cand_c)):
        if acc_c[cid] != cand_c[cid]:
            lines.append(f"component {cid}: availability {acc_c[cid]:g} -> {cand_c[cid]:g}")
    acc_d, cand_d = _domain_members(accepted), _domain_members(candidate)
    for name in sorted(set(cand_d) - set(acc_d)):
        lines.append(f"failure domain {name}: added with members {', '.join(cand_d[name])}")
    for name in sorted(set(acc_d) - set(cand_d)):
        lines.append(f"failure domain {name}: removed (had {', '.join(acc_d[name])})")
    for name in sorted(set(acc_d) & set(cand_d)):
        if acc_d[name] != cand_d[name]:
            lines.append(f"failure domain {name}: members {', '.join(acc_d[name])} -> {', '.join(cand_d[name])}")
    for key, label in (("pessimistic", "A-"), ("independent", "A+")):
        a, c = float(accepted_bounds.availability.value(key)), float(candidate_bounds.availability.value(key))  # type: ignore[arg-type]
        if a != c:
            lines.append(f"{label}: {a:.8f} -> {c:.8f} ({c - a:+.8f})")
    return tuple(lines)


def judge_candidate(accepted: Journey, accepted_bounds: Bounds, candidate: Journey, candidate_bounds: Bounds) -> CandidateEvidence:
    """What governance needs to know about ``candidate``, judged under ``accepted``'s policy.

    Both bounds are the models' analytic bounds, with the Monte Carlo latency intervals attached
    when the policy gates on them (:func:`emac_sim.govern.decision.with_simulated_latency`).
    """
    changes = model_changes(accepted, candidate, accepted_bounds, candidate_bounds)
    return CandidateEvidence.from_models(accepted, accepted_bounds, candidate, candidate_bounds, changes=changes)
