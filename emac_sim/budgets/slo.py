"""Bounded journey SLO, error budget and burn-rate thresholds: closed-form budget arithmetic.

References: the paper's DerivationReport (bounded journey SLO [A⁻, A⁺]); Beyer et al., *The Site
Reliability Workbook*, ch. 5 "Alerting on SLOs" (error budget, burn rate, multiwindow alerts).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from ..model.journey import BurnRateWindow

SLOStatus = Literal["met", "at-risk", "violated", "no-objective"]


def _dec(x: float) -> Decimal:
    """The decimal a float was written as (``repr`` round-trips), so 1 − 0.995 is exactly 0.005."""
    return Decimal(repr(float(x)))


def allowed_error_ratio(objective: float) -> float:
    """1 − objective, computed in decimal (0.995 → 0.005 exactly, not 0.0050000000000000044)."""
    return float(1 - _dec(objective))


@dataclass(frozen=True)
class BoundedSLO:
    """The journey SLO as an interval: what the model guarantees and what it hopes for.

    Attributes
    ----------
    objective
        The availability target (probability), ``None`` when the spec sets none.
    lower
        A⁻, the pessimistic bound (lowest availability over the shared-fate scenarios).
    upper
        A⁺, the independent (optimistic) estimate.
    status
        ``met`` (A⁻ ≥ objective: met under every modelled shared-fate scenario), ``at-risk``
        (A⁺ ≥ objective > A⁻: met only if the shared-fate hypotheses are false), ``violated``
        (A⁺ < objective) or ``no-objective``.
    """

    objective: float | None
    lower: float
    upper: float
    status: SLOStatus

    @property
    def width(self) -> float:
        """A⁺ − A⁻: the quantified shared-fate risk."""
        return self.upper - self.lower

    @property
    def shortfall(self) -> float | None:
        """objective − A⁻ when positive (how far the pessimistic bound misses), else 0."""
        if self.objective is None:
            return None
        return max(self.objective - self.lower, 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "lower": self.lower,
            "upper": self.upper,
            "width": self.width,
            "shortfall": self.shortfall,
            "status": self.status,
        }


def bounded_slo(lower: float, upper: float, objective: float | None) -> BoundedSLO:
    """Classify the objective against the bound [A⁻, A⁺].

    Parameters
    ----------
    lower, upper
        A⁻ and A⁺ (probabilities, ``lower <= upper`` up to rounding).
    objective
        Availability target in (0, 1), or ``None``.
    """
    if objective is None:
        status: SLOStatus = "no-objective"
    elif lower >= objective:
        status = "met"
    elif upper >= objective:
        status = "at-risk"
    else:
        status = "violated"
    return BoundedSLO(objective=objective, lower=float(lower), upper=float(upper), status=status)


@dataclass(frozen=True)
class ErrorBudget:
    """Error budget of an availability objective over its window.

    Attributes
    ----------
    objective
        Target success ratio.
    window_seconds
        SLO window (seconds).
    allowed_error_ratio
        1 − objective.
    minutes
        Budget as time of total outage per window: (1 − objective) · window / 60
        (0.995 over 30 d → 216 min).
    burn_rate_lower, burn_rate_upper
        Long-run burn rate implied by A⁻ and A⁺: (1 − A)/(1 − objective). Above 1 the budget
        runs out before the window ends.
    expected_minutes_lower, expected_minutes_upper
        Expected bad minutes per window at A⁻ and A⁺: (1 − A) · window / 60.
    """

    objective: float
    window_seconds: float
    allowed_error_ratio: float
    minutes: float
    burn_rate_lower: float
    burn_rate_upper: float
    expected_minutes_lower: float
    expected_minutes_upper: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "windowSeconds": self.window_seconds,
            "allowedErrorRatio": self.allowed_error_ratio,
            "minutes": self.minutes,
            "burnRateAtLower": self.burn_rate_lower,
            "burnRateAtUpper": self.burn_rate_upper,
            "expectedBadMinutesAtLower": self.expected_minutes_lower,
            "expectedBadMinutesAtUpper": self.expected_minutes_upper,
        }


def error_budget(objective: float, window_seconds: float, lower: float, upper: float) -> ErrorBudget:
    """Error budget minutes per window and the burn rates A⁻ and A⁺ imply.

    Parameters
    ----------
    objective
        Availability target in (0, 1).
    window_seconds
        SLO window in seconds (30 d = 2 592 000 s).
    lower, upper
        A⁻ and A⁺.

    Examples
    --------
    >>> round(error_budget(0.995, 30 * 86400, 0.99, 0.999).minutes, 6)
    216.0
    """
    if not 0.0 < objective < 1.0:
        raise ValueError(f"objective must be in (0, 1), got {objective!r}")
    allowed = allowed_error_ratio(objective)
    minutes = float((1 - _dec(objective)) * _dec(window_seconds) / 60)
    return ErrorBudget(
        objective=objective,
        window_seconds=window_seconds,
        allowed_error_ratio=allowed,
        minutes=minutes,
        burn_rate_lower=(1.0 - lower) / allowed,
        burn_rate_upper=(1.0 - upper) / allowed,
        expected_minutes_lower=(1.0 - lower) * window_seconds / 60.0,
        expected_minutes_upper=(1.0 - upper) * window_seconds / 60.0,
    )


@dataclass(frozen=True)
class BurnRateThreshold:
    """One multiwindow burn-rate alert condition.

    Attributes
    ----------
    severity
        ``page`` or ``ticket``.
    burn_rate
        Factor over the sustainable error rate.
    long_window_seconds, short_window_seconds
        Both windows must exceed the threshold for the alert to fire.
    error_ratio_threshold
        burn_rate · (1 − objective): the error ratio the alert expression compares with.
    budget_consumed
        Fraction of the window's budget spent when the long window fires:
        burn_rate · long_window / budget_window (14.4 · 1 h / 30 d = 2 %).
    time_to_exhaustion_seconds
        budget_window / burn_rate: how long the whole budget lasts at this burn rate.
    """

    severity: str
    burn_rate: float
    long_window_seconds: float
    short_window_seconds: float
    error_ratio_threshold: float
    budget_consumed: float
    time_to_exhaustion_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "burnRate": self.burn_rate,
            "longWindowSeconds": self.long_window_seconds,
            "shortWindowSeconds": self.short_window_seconds,
            "errorRatioThreshold": self.error_ratio_threshold,
            "budgetConsumed": self.budget_consumed,
            "timeToExhaustionSeconds": self.time_to_exhaustion_seconds,
        }


def burn_rate_thresholds(objective: float, windows: tuple[BurnRateWindow, ...], budget_window_seconds: float) -> tuple[BurnRateThreshold, ...]:
    """Error-ratio thresholds of the multiwindow multi-burn-rate alerts.

    Parameters
    ----------
    objective
        Availability target in (0, 1).
    windows
        The policy's windows (``governance.burn_rates``; SRE-workbook defaults when undeclared).
    budget_window_seconds
        The budget period the burn rate refers to (``sloBudgetWindow``, seconds).
    """
    allowed = 1 - _dec(objective)
    return tuple(
        BurnRateThreshold(
            severity=w.severity,
            burn_rate=w.burn_rate,
            long_window_seconds=w.long_window,
            short_window_seconds=w.short_window,
            error_ratio_threshold=float(_dec(w.burn_rate) * allowed),
            budget_consumed=w.burn_rate * w.long_window / budget_window_seconds,
            time_to_exhaustion_seconds=budget_window_seconds / w.burn_rate,
        )
        for w in windows
    )
