"""JSON encoding of results, in one place: what ``--format json`` prints and what studies write.

JSON has no NaN or infinity: non-finite floats become ``null`` (a quantile beyond the grid, a
ratio of nothing). numpy scalars and arrays become plain Python values, sets sorted lists,
mapping keys strings. The key order of mappings is kept (reports read top-down).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def json_safe(o: Any) -> Any:
    """A copy of ``o`` that :func:`json.dumps` accepts and that holds only finite numbers."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {str(k): json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [json_safe(v) for v in o]
    if isinstance(o, (set, frozenset)):
        return [json_safe(v) for v in sorted(o)]
    if hasattr(o, "tolist") and callable(o.tolist):  # numpy arrays and scalars
        return json_safe(o.tolist())
    return o


def dumps(obj: Any, indent: int | None = 2) -> str:
    """``obj`` as JSON text (through :func:`json_safe`)."""
    return json.dumps(json_safe(obj), indent=indent)


def print_json(obj: Any) -> None:
    """One JSON object on standard output (the ``--format json`` contract)."""
    sys.stdout.write(dumps(obj) + "\n")
    sys.stdout.flush()
