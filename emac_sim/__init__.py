"""emac-sim: Emergence-as-Code journey reliability (DESIGN.md).

Public API (each maps one to one onto an ``emac`` command)::

    load_spec(path) -> Journey          # emac check
    bounds(journey) -> Bounds           # emac bounds
    simulate(journey, ...) -> Result    # emac simulate (.estimate: Estimate)
    compile_spec(path, out, ...)        # emac compile
    collect_evidence(journey, client)   # emac evidence
    journey_schema() -> dict            # emac schema
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from . import kernelcache as _kernelcache  # noqa: F401  first: points numba's cache at the shared directory

# isort: split
from . import govern as _govern  # noqa: F401  registers guard checks with the spec loader
from .core.version import __version__
from .errors import SpecError
from .model import Journey
from .spec import dump_spec, journey_schema, load_spec

# heavy layers (numba, scipy grids) load on first use so `emac check` starts fast
_LAZY = {
    "bounds": ("emac_sim.analytic", "bounds"),
    "simulate": ("emac_sim.engine", "simulate"),
    "compile_spec": ("emac_sim.pipeline.compile", "compile_spec"),
    "validate": ("emac_sim.pipeline.validate", "validate_paths"),
    "discover": ("emac_sim.discover", "discover"),
    "collect_evidence": ("emac_sim.evidence", "collect_evidence"),
    "whatif": ("emac_sim.studies", "whatif"),
    "report": ("emac_sim.studies", "report"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod, attr = _LAZY[name]
        return getattr(import_module(mod), attr)
    raise AttributeError(f"module 'emac_sim' has no attribute {name!r}")


__all__ = ["Journey", "SpecError", "__version__", "dump_spec", "journey_schema", "load_spec", *_LAZY]
