"""The analytic layer (DESIGN §5): exact availability, shared-fate and dependence-free bounds,
latency on grids. No sampling anywhere.

- :mod:`.states` — exact conditioning on the request's domain state (fate groups, shocks,
  gaussian factors);
- :mod:`.availability` — probability algebra, scenarios, the shared-fate range, declared;
- :mod:`.grid` — defective (ok, t) laws on a common grid, independent composition;
- :mod:`.comonotone` — quantile arithmetic (everything slow together);
- :mod:`.dependence_free` — Fréchet / Boole / Makarov / DKW bounds for any dependence;
- :mod:`.bounds` — the ``bounds()`` assembly behind ``emac bounds``.
"""

from .availability import birnbaum_importance, call_amplification, pessimistic_shared, scenario_availability
from .bounds import AvailabilityBounds, Bounds, LatencyBounds, QuantileBounds, bounds
from .latency import latency_quantiles

__all__ = [
    "AvailabilityBounds",
    "Bounds",
    "LatencyBounds",
    "QuantileBounds",
    "birnbaum_importance",
    "bounds",
    "call_amplification",
    "latency_quantiles",
    "pessimistic_shared",
    "scenario_availability",
]
