"""Monte Carlo vs analytic bounds: the consistency check that gates budgets and artifacts (DESIGN §7)."""

from .consistency import (
    CHECK_CONFIDENCE,
    HISTOGRAM_REL_ERR,
    CheckItem,
    CheckVerdict,
    availability_reference,
    check_consistency,
)
from .run import DEFAULT_SAMPLES, DEFAULT_SEED, CheckRun, run_check

__all__ = [
    "CHECK_CONFIDENCE",
    "DEFAULT_SAMPLES",
    "DEFAULT_SEED",
    "HISTOGRAM_REL_ERR",
    "CheckItem",
    "CheckRun",
    "CheckVerdict",
    "availability_reference",
    "check_consistency",
    "run_check",
]
