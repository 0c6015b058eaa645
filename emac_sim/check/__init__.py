"""Monte Carlo vs analytic bounds: the consistency check that gates budgets and artifacts (DESIGN §7)."""

from .consistency import (
    CHECK_CONFIDENCE,
    HISTOGRAM_REL_ERR,
    CheckItem,
    CheckVerdict,
    availability_reference,
    check_consistency,
)

__all__ = ["CHECK_CONFIDENCE", "HISTOGRAM_REL_ERR", "CheckItem", "CheckVerdict", "availability_reference", "check_consistency"]
