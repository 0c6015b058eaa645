"""Governance (DESIGN §7): PASS / FAIL / REVIEW and action guards.

Importing this package registers :func:`~emac_sim.govern.guard.validate_guard` with the spec
loader, so a spec with a malformed ``governance.actions[].guard`` is refused when it is loaded.
"""

from __future__ import annotations

from ..spec.loader import register_guard_validator
from .decision import (
    CandidateEvidence,
    Decision,
    GovernedBounds,
    GuardResult,
    availability_bound,
    decide,
    evaluate_actions,
    governed_bounds,
    guard_environment,
    latency_bound,
    latency_metric,
    latency_threshold,
)
from .guard import BOOLEAN_NAMES, NUMERIC_NAMES, Evaluation, GuardSyntaxError, evaluate_guard, parse_guard, to_promql, validate_guard

register_guard_validator(validate_guard)

__all__ = [
    "BOOLEAN_NAMES",
    "NUMERIC_NAMES",
    "CandidateEvidence",
    "Decision",
    "Evaluation",
    "GovernedBounds",
    "GuardResult",
    "GuardSyntaxError",
    "availability_bound",
    "decide",
    "evaluate_actions",
    "evaluate_guard",
    "governed_bounds",
    "guard_environment",
    "latency_bound",
    "latency_metric",
    "latency_threshold",
    "parse_guard",
    "to_promql",
    "validate_guard",
]
