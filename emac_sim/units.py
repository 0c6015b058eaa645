"""Durations and other units at the edges. Inside the engine everything is seconds."""

from __future__ import annotations

import math
import re

_DURATION_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_DURATION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zµ]+)?\s*$")


def parse_duration(value: object) -> float:
    """Parse ``250ms``, ``1.5s``, ``800us``, ``30d`` or a number of seconds into seconds.

    Raises
    ------
    ValueError
        With a message suitable for a :class:`~emac_sim.errors.SpecError`.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 250ms or 1.5s, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        m = _DURATION_RE.match(value)
        if not m:
            raise ValueError(f"malformed duration {value!r}: expected a number with a unit (ns, us, ms, s, m, h, d, w)")
        unit = m.group(2) or "s"
        if unit not in _DURATION_UNITS:
            raise ValueError(f"malformed duration {value!r}: unknown unit {unit!r} (use ns, us, ms, s, m, h, d, w)")
        seconds = float(m.group(1)) * _DURATION_UNITS[unit]
    else:
        raise ValueError(f"expected a duration like 250ms or 1.5s, got {type(value).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"duration must be finite and non-negative, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Shortest exact Prometheus-style rendering of a window (``5m``, ``1h``, ``30d``)."""
    for unit, factor in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if unit == "w":
            continue  # Prometheus users read 7d more easily than 1w
        q = seconds / factor
        if q >= 1 and abs(q - round(q)) < 1e-9:
            return f"{int(round(q))}{unit}"
    return f"{int(round(seconds * 1000))}ms"
