"""Atomic availability targets that make the pessimistic journey bound meet its objective.

Two answers, both solved exactly against the analytic layer (no sampling):

- **uniform**: every referenced component's unavailability ``uᵢ = 1 − aᵢ`` is multiplied by one
  common factor ``s`` and ``s`` is the largest value with A⁻(s) ≥ objective. It
  spreads the effort in proportion to today's unavailability and always has a solution when a
  journey of perfect components meets the objective. ``s < 1`` means tighten, ``s > 1`` means
  there is slack to give away.
- **alone**: for each component, the lowest availability it alone would need, the others fixed
  (aᵢ ∈ [0, 1]); ``None`` when no availability of that component alone suffices.

Both are roots of the continuous, monotone A⁻(x) − objective, found with Brent's method
(bracketed, superlinear: about ten A⁻ evaluations each) and then moved onto the satisfying side.

A⁻ is the analytic ``pessimistic`` bound: the lowest availability over the shared-fate scenarios
(DESIGN §5), recomputed for every trial value. Root finding is valid because availability is
non-decreasing in each aᵢ under every scenario for coherent journeys (every operator except a
timeout around calls whose *failure* is faster than success), hence so is the minimum over
scenarios; the result is re-verified at the published (rounded) targets either way.

Published targets are rounded *up*: the unavailability is floored to :data:`SIGNIFICANT_DIGITS`
significant digits (0.000678549 → 0.000678, target 0.999322), so A⁻ at the published targets is
at least the objective whenever the exact solution is.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..model.journey import Journey
from ..model.scenario import Scenario

SIGNIFICANT_DIGITS = 3
ROOT_TOL = 1e-12


def pessimistic_availability(journey: Journey) -> float:
    """A⁻ of a journey: exact availability under the shared-fate scenario attaining the minimum.

    Uses :func:`emac_sim.analytic.pessimistic_shared` to find the minimising set and
    :func:`emac_sim.analytic.scenario_availability` to evaluate it (DESIGN §5).
    """
    from ..analytic import pessimistic_shared, scenario_availability

    shared = pessimistic_shared(journey)
    value = scenario_availability(journey, Scenario.shared_fate(shared, "pessimistic"))
    if value is None:  # pragma: no cover - shared-fate scenarios are always computable
        raise RuntimeError(f"analytic layer could not evaluate the pessimistic scenario of {journey.name!r}")
    return float(value)


def with_availabilities(journey: Journey, availabilities: dict[str, float]) -> Journey:
    """A copy of ``journey`` with some components' availabilities replaced (probabilities)."""
    comps = tuple(
        dataclasses.replace(c, availability=float(availabilities[c.id])) if c.id in availabilities else c for c in journey.components
    )
    return dataclasses.replace(journey, components=comps)


def publish_target(availability: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    """Round an availability target up by flooring its unavailability to ``digits`` significant digits.

    >>> publish_target(0.999321451)
    0.999322
    >>> publish_target(1.0)
    1.0
    """
    u = 1.0 - availability
    if u <= 0.0:
        return 1.0
    exp = math.floor(math.log10(u)) - (digits - 1)
    scale = 10.0**exp
    u_floor = math.floor(u / scale + 1e-9) * scale
    return float(round(1.0 - u_floor, max(-exp, 0) + 1))


@dataclass(frozen=True)
class AtomicTarget:
    """Targets for one component (probabilities).

    ``uniform``: its target under the common scaling; ``alone``: the lowest availability that
    would meet the objective if only this component changed (``None``: impossible alone).
    """

    component: str
    current: float
    uniform: float | None
    alone: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"component": self.component, "current": self.current, "uniform": self.uniform, "alone": self.alone}


@dataclass(frozen=True)
class AtomicTargets:
    """Required atomic availability targets so that A⁻ ≥ objective.

    Attributes
    ----------
    objective
        The availability objective.
    current_lower
        A⁻ with today's availabilities.
    scale
        The common factor ``s`` on unavailabilities (``None`` when infeasible).
    achieved_lower
        A⁻ recomputed at the published uniform targets (``None`` when infeasible).
    targets
        One entry per component referenced by the journey, in spec order.
    evaluations
        Number of A⁻ evaluations spent.
    note
        Why the uniform answer is missing, when it is.
    """

    objective: float
    current_lower: float
    scale: float | None
    achieved_lower: float | None
    targets: tuple[AtomicTarget, ...]
    evaluations: int
    note: str = ""

    method = "uniform scaling of unavailabilities (Brent root of A⁻ − objective); per component alone with others fixed (Brent)"

    @property
    def feasible(self) -> bool:
        return self.scale is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "method": self.method,
            "currentLower": self.current_lower,
            "scale": self.scale,
            "achievedLower": self.achieved_lower,
            "feasible": self.feasible,
            "note": self.note,
            "components": {t.component: {"current": t.current, "uniform": t.uniform, "alone": t.alone} for t in self.targets},
        }


def _crossing(g: Callable[[float], float], lo: float, hi: float, tol: float, satisfied_at_lo: bool) -> float:
    """A point within ``tol`` of where the monotone, continuous ``g`` crosses 0 on [lo, hi], on the
    side where ``g >= 0`` (the side of ``lo`` when ``satisfied_at_lo``, else of ``hi``).

    Brent's method finds the crossing in a handful of evaluations; the result is then stepped
    (doubling steps from ``tol``) until ``g >= 0`` holds there, so the answer always satisfies.
    """
    from scipy.optimize import brentq

    x = float(brentq(g, lo, hi, xtol=tol, rtol=8.9e-16))
    step = tol
    for _ in range(80):
        if g(x) >= 0:
            return x
        x = max(x - step, lo) if satisfied_at_lo else min(x + step, hi)
        step *= 2.0
    return lo if satisfied_at_lo else hi  # pragma: no cover - g(lo or hi) >= 0 by the caller's bracket


def required_atomic_targets(journey: Journey, objective: float, lower: float | None = None, tol: float = ROOT_TOL) -> AtomicTargets:
    """Solve for the atomic availability targets that make A⁻ ≥ ``objective``.

    Parameters
    ----------
    journey
        The journey (components' availabilities are today's targets).
    objective
        Journey availability objective in (0, 1).
    lower
        A⁻ at today's availabilities if already known (saves one evaluation).
    tol
        Root tolerance: absolute on each ``aᵢ``, relative to its bracket on ``s``.

    Returns
    -------
    AtomicTargets
        See the module docstring for the two methods.
    """
    evals = 0

    def a_minus(avail: dict[str, float]) -> float:
        nonlocal evals
        evals += 1
        return pessimistic_availability(with_availabilities(journey, avail))

    used = set(journey.root.refs())
    comps = [c for c in journey.components if c.id in used]
    current = {c.id: c.availability for c in comps}
    cur_lower = float(lower) if lower is not None else a_minus({})

    # -- uniform scaling of unavailabilities
    unavail = {cid: 1.0 - a for cid, a in current.items()}
    umax = max(unavail.values(), default=0.0)
    scale: float | None
    uniform: dict[str, float | None]
    note = ""

    def scaled(s: float) -> dict[str, float]:
        return {cid: min(max(1.0 - s * u, 0.0), 1.0) for cid, u in unavail.items()}

    if umax <= 0.0:
        scale = 1.0 if cur_lower >= objective else None
        note = "" if scale is not None else "every component is at availability 1 yet timeouts keep A⁻ below the objective"
        uniform = {cid: (1.0 if scale is not None else None) for cid in current}
    elif a_minus(scaled(0.0)) < objective:
        scale = None
        note = "even with every component at availability 1 the journey's A⁻ stays below the objective (timeouts on latency)"
        uniform = {cid: None for cid in current}
    else:
        s_max = 1.0 / umax
        if a_minus(scaled(s_max)) >= objective:
            scale = s_max
        else:
            scale = _crossing(lambda s: a_minus(scaled(s)) - objective, 0.0, s_max, tol * s_max, satisfied_at_lo=True)
        uniform = {cid: publish_target(a) for cid, a in scaled(scale).items()}

    achieved = a_minus({k: v for k, v in uniform.items() if v is not None}) if scale is not None else None

    # -- each component alone, the others at today's values
    alone: dict[str, float | None] = {}
    for cid in current:
        if a_minus({cid: 1.0}) < objective:
            alone[cid] = None
        elif a_minus({cid: 0.0}) >= objective:
            alone[cid] = 0.0
        else:
            alone[cid] = publish_target(_crossing(lambda a, cid=cid: a_minus({cid: a}) - objective, 0.0, 1.0, tol, satisfied_at_lo=False))

    targets = tuple(AtomicTarget(cid, current[cid], uniform[cid], alone[cid]) for cid in current)
    return AtomicTargets(
        objective=objective,
        current_lower=cur_lower,
        scale=scale,
        achieved_lower=achieved,
        targets=targets,
        evaluations=evals,
        note=note,
    )
