"""The named scenarios of ``--correlation``, resolved in one place (DESIGN §4 "Named scenarios").

``independent``, ``declared`` and ``shared`` follow from the spec alone
(:func:`emac_sim.model.scenario.named_scenario`); ``pessimistic`` shares the domains whose full
sharing attains the analytic pessimistic bound A⁻, which only the analytic layer knows. Callers
that already hold the bounds pass that set (:attr:`AvailabilityBounds.pessimistic_set
<emac_sim.analytic.bounds.AvailabilityBounds.pessimistic_set>`) instead of searching again.
"""

from __future__ import annotations

from ..model.journey import Journey
from ..model.scenario import SCENARIO_NAMES, Scenario, named_scenario
from .availability import pessimistic_shared as minimising_set


def resolve_scenario(journey: Journey, name: str, pessimistic_shared: frozenset[str] | None = None) -> tuple[Scenario, frozenset[str] | None]:
    """The scenario ``--correlation name`` means for ``journey``, and the pessimistic shared set.

    Parameters
    ----------
    journey
        The journey.
    name
        ``declared``, ``independent``, ``shared`` or ``pessimistic``.
    pessimistic_shared
        For ``pessimistic``: the domains to share, when already known; found by
        :func:`emac_sim.analytic.pessimistic_shared` otherwise. Ignored for other names.

    Returns
    -------
    (Scenario, frozenset or None)
        The scenario, and the shared set used (``None`` unless ``name`` is ``pessimistic``).

    Raises
    ------
    ValueError
        An unknown name, or ``pessimistic`` for a journey where no shared-fate scenario is
        computable.
    """
    if name not in SCENARIO_NAMES:
        raise ValueError(f"unknown correlation scenario {name!r} (one of {', '.join(SCENARIO_NAMES)})")
    if name != "pessimistic":
        return named_scenario(journey, name), None
    shared = frozenset(pessimistic_shared) if pessimistic_shared is not None else minimising_set(journey)
    return named_scenario(journey, name, shared), shared
