"""Budgets derived from a consistent model (DESIGN §7): bounded journey SLO, error budget,
atomic targets, latency budgets and burn-rate thresholds."""

from .atomic import AtomicTarget, AtomicTargets, pessimistic_availability, publish_target, required_atomic_targets, with_availabilities
from .derive import Budgets, derive_budgets
from .latency import LatencyBudgets, LatencySolution, latency_budgets, scale_distribution, scale_latency
from .slo import BoundedSLO, BurnRateThreshold, ErrorBudget, allowed_error_ratio, bounded_slo, burn_rate_thresholds, error_budget

__all__ = [
    "AtomicTarget",
    "AtomicTargets",
    "BoundedSLO",
    "Budgets",
    "BurnRateThreshold",
    "ErrorBudget",
    "LatencyBudgets",
    "LatencySolution",
    "allowed_error_ratio",
    "bounded_slo",
    "burn_rate_thresholds",
    "derive_budgets",
    "error_budget",
    "latency_budgets",
    "pessimistic_availability",
    "publish_target",
    "required_atomic_targets",
    "scale_distribution",
    "scale_latency",
    "with_availabilities",
]
