"""The journey IR (DESIGN §3–4): components, domains, distributions, the tree's base and leaf.

The operators (series, parallel, race, …) live one module each in :mod:`emac_sim.operators`.
"""

from . import distributions
from .distributions import Distribution
from .journey import (
    Action,
    AvailabilityObjective,
    BurnRateWindow,
    Capacity,
    Component,
    CorrelationMatrix,
    Domain,
    Evidence,
    Governance,
    Journey,
    LatencyObjective,
)
from .node import Node, Ref

__all__ = [
    "Action",
    "AvailabilityObjective",
    "BurnRateWindow",
    "Capacity",
    "Component",
    "CorrelationMatrix",
    "Distribution",
    "Domain",
    "Evidence",
    "Governance",
    "Journey",
    "LatencyObjective",
    "Node",
    "Ref",
    "distributions",
]
