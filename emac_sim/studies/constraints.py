"""Constraints for ``--subject-to``: ``p99<=0.4``, ``p999<=1.5s``, ``availability>=0.995``.

A latency constraint bounds a quantile of successful journeys (seconds; durations like ``400ms``
are accepted); an availability constraint bounds journey availability. How a point's value is
obtained (analytic independent value, conservative bound, or Monte Carlo estimate) is chosen by
the caller (``--using``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import SpecError
from ..units import parse_duration

_RE = re.compile(r"^\s*(?P<metric>[A-Za-z][A-Za-z0-9_.]*)\s*(?P<op><=|>=|<|>)\s*(?P<value>\S+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``; metric is ``availability`` or a latency quantile ``pNN``."""

    metric: str
    op: str
    bound: float

    @property
    def quantile(self) -> float:
        """0.99 for p99, 0.999 for p999 (latency constraints only)."""
        return quantile_of(self.metric)

    def holds(self, value: float | None) -> bool:
        """Whether ``value`` satisfies the constraint (``None``/NaN never does; inf only for ``>=``-style
        availability which cannot be infinite)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.op == "<=":
            return value <= self.bound
        if self.op == "<":
            return value < self.bound
        if self.op == ">=":
            return value >= self.bound
        return value > self.bound

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:g}"


def quantile_of(metric: str) -> float:
    """``p99`` → 0.99, ``p999`` → 0.999, ``p50`` → 0.5."""
    digits = metric[1:]
    return float("0." + digits)


def parse_constraint(text: str, source: str = "--subject-to") -> Constraint:
    """Parse one constraint.

    Raises
    ------
    SpecError
        Unknown metric, missing operator or a bound that is not a number/duration.
    """
    m = _RE.match(text)
    if not m:
        raise SpecError(source, "", f"expected METRIC<=VALUE or METRIC>=VALUE (e.g. p99<=0.4), got {text!r}")
    metric = m.group("metric").lower()
    op, raw = m.group("op"), m.group("value")
    if metric == "availability":
        try:
            bound = float(raw)
        except ValueError:
            raise SpecError(source, metric, f"availability bound must be a number, got {raw!r}") from None
        if not 0.0 <= bound <= 1.0:
            raise SpecError(source, metric, f"availability bound must be in [0, 1], got {raw!r}")
        return Constraint(metric, op, bound)
    if not re.fullmatch(r"p\d+", metric) or metric in ("p0",):
        raise SpecError(source, metric, "unknown metric (use availability or a latency quantile such as p50, p99, p999)")
    try:
        bound = parse_duration(raw)
    except ValueError as exc:
        raise SpecError(source, metric, str(exc)) from None
    return Constraint(metric, op, bound)
