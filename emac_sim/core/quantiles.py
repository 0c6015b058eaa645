"""The latency quantiles every layer reports (DESIGN §9: ``p50``, ``p90``, ``p99``, ``p999``),
named once: bounds, estimates, checks, governance, rules and tables iterate over these."""

from __future__ import annotations

#: ``(name, probability)`` of each reported quantile, in order.
LATENCY_QUANTILES: tuple[tuple[str, float], ...] = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))
#: The names alone, in order.
LATENCY_KEYS: tuple[str, ...] = tuple(k for k, _ in LATENCY_QUANTILES)
