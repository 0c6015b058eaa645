"""Durations and other units at the edges. Inside the engine everything is seconds."""

from __future__ import annotations

import math
import re
from decimal import Decimal

# exact decimal factors: "800us" must be the double nearest 0.0008, not 800 * 1e-6
_DURATION_UNITS = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "µs": Decimal("1e-6"),
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
    "w": Decimal(604800),
}
DURATION_UNITS: tuple[str, ...] = tuple(_DURATION_UNITS)
"""The units a duration may carry (none means seconds)."""
_DURATION_RE = re.compile(r"^\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµ]+)?\s*$")


def parse_duration(value: object) -> float:
    """Parse ``250ms``, ``1.5s``, ``800us``, ``30d`` or a number of seconds into seconds.

    Parameters
    ----------
    value
        A number (seconds) or a string: a decimal number followed by an optional unit
        (``ns``, ``us``/``µs``, ``ms``, ``s``, ``m``, ``h``, ``d``, ``w``; none means seconds).

    Returns
    -------
    float
        The duration in seconds, finite and non-negative.

    Raises
    ------
    ValueError
        With a one-line message suitable for a :class:`~emac_sim.errors.SpecError`.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 250ms or 1.5s, got {value!r}")
    if isinstance(value, (int, float)):
        try:
            seconds = float(value)
        except OverflowError:
            raise ValueError(f"duration must be finite, got a {len(str(abs(value)))}-digit number") from None
    elif isinstance(value, str):
        m = _DURATION_RE.match(value)
        if not m:
            raise ValueError(f"malformed duration {value!r}: expected a number with a unit (ns, us, ms, s, m, h, d, w)")
        unit = m.group(2) or "s"
        if unit not in _DURATION_UNITS:
            raise ValueError(f"malformed duration {value!r}: unknown unit {unit!r} (use ns, us, ms, s, m, h, d, w)")
        try:
            seconds = float(Decimal(m.group(1)) * _DURATION_UNITS[unit])
        except ArithmeticError:  # decimal exponent overflow
            seconds = math.inf
    else:
        what = "nothing (null)" if value is None else f"a {type(value).__name__}"
        raise ValueError(f"expected a duration like 250ms or 1.5s, got {what}")
    if not math.isfinite(seconds):
        raise ValueError(f"duration must be finite, got {value!r}")
    if seconds < 0:
        raise ValueError(f"duration must be non-negative, got {value!r}")
    return seconds + 0.0  # -0.0 -> 0.0


def format_duration(seconds: float) -> str:
    """Shortest exact Prometheus-style rendering of a window (``5m``, ``1h``, ``30d``)."""
    for unit, factor in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if unit == "w":
            continue  # Prometheus users read 7d more easily than 1w
        q = seconds / factor
        if q >= 1 and abs(q - round(q)) < 1e-9:
            return f"{int(round(q))}{unit}"
    return f"{int(round(seconds * 1000))}ms"
