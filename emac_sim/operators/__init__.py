"""One module per operator, each holding everything the operator means (docs/architecture.md).

The registry is built by discovery: every module of this package defining an
:class:`~emac_sim.operators.base.Operator` subclass registers it under its spec ``type``, so adding
an operator means adding its module (plus its tests and its row in docs/semantics.md) — nothing
else. ``REGISTRY`` maps a spec ``type`` to its class; the classes are importable from here
(``from emac_sim.operators import Series``).
"""

from __future__ import annotations

import importlib
import pkgutil

from ..model.node import Node, Ref
from .base import RULES, Operator
from .cache import Cache
from .choice import Choice
from .fallback import Fallback
from .optional import Optional
from .parallel import Parallel
from .race import Race
from .repeat import Repeat
from .retry import Backoff, Retry
from .series import Series
from .timeout import Timeout


def _discover() -> dict[str, type[Operator]]:
    found: dict[str, type[Operator]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Operator) and value is not Operator and value.__module__ == module.__name__:
                if value.op in found:
                    raise RuntimeError(f"operator type {value.op!r} defined by {found[value.op].__module__} and {module.__name__}")
                found[value.op] = value
    return found


_DESIGN_ORDER = ("series", "parallel", "race", "fallback", "retry", "timeout", "choice", "optional", "repeat")
"""DESIGN §3's order, the order messages list operators in; operators added later follow."""

_found = _discover()
_order = [o for o in _DESIGN_ORDER if o in _found] + sorted(set(_found) - set(_DESIGN_ORDER))
REGISTRY: dict[str, type[Operator]] = {op: _found[op] for op in _order}
OPERATOR_TYPES: tuple[str, ...] = tuple(REGISTRY)
globals().update({cls.__name__: cls for cls in REGISTRY.values()})  # a new module's class is importable from here too

__all__ = [
    "OPERATOR_TYPES",
    "REGISTRY",
    "RULES",
    "Backoff",
    "Cache",
    "Choice",
    "Fallback",
    "Node",
    "Operator",
    "Optional",
    "Parallel",
    "Race",
    "Ref",
    "Repeat",
    "Retry",
    "Series",
    "Timeout",
]
