"""Capacity: turn ``capacity`` + ``load.rate`` into latency through queues, with load feedback.

A component that declares ``capacity: {replicas, serviceTime}`` gets its latency from an M/G/c
queue (:mod:`.queueing`): latency = waiting + service. Its arrival rate is the journey's request
rate times the component's **call amplification** (expected calls per journey, counting retries
and hedges, DESIGN §3). Amplification itself depends on latencies where timeouts or hedge delays
decide whether another call is made, so the rates solve a fixed point::

    λ⁽⁰⁾ᵢ = rate · ampᵢ(journey with service times only)
    λ⁽ᵏ⁺¹⁾ᵢ = rate · ampᵢ(journey with latencies from queues at λ⁽ᵏ⁾)

Latency grows with load and amplification grows with latency, so the iteration starting from
the unqueued journey increases monotonically towards the smallest fixed point (or reaches
saturation). It stops when the largest relative change of a rate is below ``tolerance``; the
number of iterations is reported.

**Saturation**: a component with utilisation ≥ 1 has no stationary latency. The study says so
(``saturated``), does not iterate further (rates only grow), and in the derived journey the
saturated component never succeeds (availability 0; its latency is left at the bare service
time only so that failed calls have a duration — callers report journey latency as infinite).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from ..errors import SpecError
from ..model import distributions as D
from ..model.journey import Component, Journey
from .queueing import QueueStats, queue_stats, response_time


@dataclass(frozen=True)
class CapacityResult:
    """The queueing fixed point for one journey at one request rate.

    Attributes
    ----------
    journey
        Derived journey: capacity components carry latency = waiting + service (quantile tables).
    rate
        Journey requests per second.
    queues
        Per capacity component, the queue at the final arrival rate.
    amplification
        Expected calls per journey per component at the fixed point.
    iterations
        Fixed-point iterations performed (each one call-amplification evaluation).
    converged
        Whether the rates settled within ``tolerance`` (False when saturated or out of iterations).
    saturated
        Components with utilisation ≥ 1, in journey order.
    grid_step
        Largest response-time grid step (seconds): the quantile tables' discretisation error.
    """

    journey: Journey
    rate: float
    queues: dict[str, QueueStats]
    amplification: dict[str, float]
    iterations: int
    converged: bool
    saturated: tuple[str, ...]
    grid_step: float = 0.0
    notes: tuple[str, ...] = field(default=())

    @property
    def max_utilisation(self) -> float:
        return max((q.utilisation for q in self.queues.values()), default=0.0)

    def to_dict(self) -> dict:
        return {
            "rate": self.rate,
            "iterations": self.iterations,
            "converged": self.converged,
            "saturated": list(self.saturated),
            "maxUtilisation": self.max_utilisation,
            "gridStepSeconds": self.grid_step,
            "components": {cid: {**q.to_dict(), "callAmplification": self.amplification.get(cid)} for cid, q in self.queues.items()},
            "notes": list(self.notes),
        }


def capacity_components(journey: Journey) -> tuple[Component, ...]:
    """Components that declare ``capacity`` and are called by the journey."""
    used = set(journey.root.refs())
    return tuple(c for c in journey.components if c.capacity is not None and c.id in used)


def _with_latencies(journey: Journey, latencies: dict[str, D.Distribution], failed: frozenset[str] = frozenset()) -> Journey:
    comps = []
    for c in journey.components:
        if c.id in latencies:
            c = dataclasses.replace(c, latency=latencies[c.id])
        if c.id in failed:
            c = dataclasses.replace(c, availability=0.0)
        comps.append(c)
    return dataclasses.replace(journey, components=tuple(comps))


def derive_capacity(
    journey: Journey,
    *,
    rate: float | None = None,
    tolerance: float = 1e-6,
    max_iterations: int = 100,
) -> CapacityResult:
    """Solve the load/latency fixed point and return the derived journey.

    Parameters
    ----------
    journey
        A journey; components with ``capacity`` get queueing latency.
    rate
        Requests per second; default ``journey.load_rate`` (``spec.load.rate``).
    tolerance
        Stop when max_i |λᵢ⁽ᵏ⁺¹⁾ − λᵢ⁽ᵏ⁾| ≤ tolerance·λᵢ⁽ᵏ⁾.
    max_iterations
        Give up (``converged=False``, noted) after this many amplification evaluations.

    Returns
    -------
    CapacityResult
        With ``iterations == 0`` and the journey unchanged when nothing declares capacity.

    Raises
    ------
    SpecError
        Capacity declared but no request rate, or a service time the queue model cannot take
        (infinite variance).

    References
    ----------
    Erlang C and the Allen–Cunneen M/G/c approximation: :mod:`emac_sim.studies.queueing`.
    """
    from ..analytic import call_amplification

    caps = capacity_components(journey)
    if not caps:
        return CapacityResult(journey, rate or journey.load_rate or 0.0, {}, {}, 0, True, ())
    r = journey.load_rate if rate is None else rate
    if r is None:
        ids = ", ".join(c.id for c in caps)
        raise SpecError(journey.source, "spec.load", f"components {ids} declare capacity, so the journey needs load: {{rate: <requests/s>}}")
    if not (r > 0 and math.isfinite(r)):
        raise SpecError(journey.source, "spec.load.rate", f"must be a positive finite rate, got {r!r}")
    notes: list[str] = []
    for c in caps:
        if c.latency is not None:
            notes.append(f"{c.id}: latency comes from its capacity (queue wait + serviceTime); the declared latency is not used")
    services = {c.id: c.capacity.service_time for c in caps}  # type: ignore[union-attr]
    latencies: dict[str, D.Distribution] = dict(services)
    prev: dict[str, float] | None = None
    queues: dict[str, QueueStats] = {}
    amp: dict[str, float] = {}
    step = 0.0
    for it in range(1, max_iterations + 1):
        amp = call_amplification(_with_latencies(journey, latencies))
        lam = {c.id: r * float(amp.get(c.id, 0.0)) for c in caps}
        queues = {}
        for c in caps:
            try:
                queues[c.id] = queue_stats(lam[c.id], c.capacity.replicas, services[c.id])  # type: ignore[union-attr]
            except ValueError as exc:
                raise SpecError(journey.source, f"spec.components.{c.id}.capacity.serviceTime", str(exc)) from None
        saturated = tuple(c.id for c in caps if queues[c.id].saturated)
        if saturated:
            notes.append(
                "saturated (utilisation >= 1): "
                + ", ".join(f"{cid} rho={queues[cid].utilisation:.3g}" for cid in saturated)
                + "; these components never succeed and journey latency is infinite"
            )
            derived = _with_latencies(journey, services, failed=frozenset(saturated))
            return CapacityResult(derived, r, queues, amp, it, False, saturated, step, tuple(notes))
        step = 0.0
        for c in caps:
            resp = response_time(queues[c.id], services[c.id])
            latencies[c.id] = resp.distribution
            step = max(step, resp.grid_step)
        if prev is not None and all(abs(lam[k] - prev[k]) <= tolerance * max(prev[k], 1e-300) for k in lam):
            return CapacityResult(_with_latencies(journey, latencies), r, queues, amp, it, True, (), step, tuple(notes))
        prev = lam
    notes.append(f"load/latency fixed point did not settle within {max_iterations} iterations (tolerance {tolerance:g})")
    return CapacityResult(_with_latencies(journey, latencies), r, queues, amp, max_iterations, False, (), step, tuple(notes))


def saturation_rate(journey: Journey) -> float | None:
    """The request rate at which the first capacity component saturates when amplification stays
    at its service-time-only value: ``min_i cᵢ / (E[Sᵢ] · ampᵢ)`` requests/s. Amplification can only
    grow with load, so the true saturation rate is at most this; ``None`` without capacity."""
    from ..analytic import call_amplification
    from .queueing import service_moments

    caps = capacity_components(journey)
    if not caps:
        return None
    amp = call_amplification(_with_latencies(journey, {c.id: c.capacity.service_time for c in caps}))  # type: ignore[union-attr]
    rates = []
    for c in caps:
        a = float(amp.get(c.id, 0.0))
        if a > 0:
            rates.append(c.capacity.replicas / (service_moments(c.capacity.service_time)[0] * a))  # type: ignore[union-attr]
    return min(rates) if rates else None
