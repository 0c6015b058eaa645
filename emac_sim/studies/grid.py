"""Value lists and ranges for ``--vary PATH=VALUES``, and the grid several of them make.

``VALUES`` is one of

- a list ``a,b,c``: each item is read as a YAML scalar, so ``0.3`` is a number and ``200ms`` a
  duration string that the loader parses like any other spec value;
- a linear range ``lo:hi:n``: ``n`` evenly spaced values from ``lo`` to ``hi`` inclusive;
- a logarithmic range ``log:lo:hi:n``: ``n`` geometrically spaced values (``lo, hi > 0``).

Range ends may be durations (``10ms:400ms:5``); they become seconds. When both ends are whole
numbers written without a decimal point (``1:8:8``), whole values are kept as integers so that
integer fields such as ``replicas`` stay integers.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import yaml

from ..errors import SpecError
from ..units import parse_duration
from .specpath import SpecPath, parse_path

MAX_POINTS = 1_000
"""Most points one sweep evaluates (each one analytic bounds and a Monte Carlo run)."""


@dataclass(frozen=True)
class Vary:
    """One varied spec value: ``path`` and the ``values`` it takes (in order)."""

    path: SpecPath
    values: tuple[Any, ...]

    @property
    def name(self) -> str:
        return self.path.text


def _scalar(token: str) -> Any:
    try:
        v = yaml.safe_load(token)
    except yaml.YAMLError:
        return token
    return v if isinstance(v, (int, float, str, bool)) or v is None else token


def _endpoint(token: str, source: str, path: str) -> tuple[float, bool]:
    """(value in seconds / plain number, written as a whole number)."""
    t = token.strip()
    try:
        v = float(t)
    except ValueError:
        try:
            return parse_duration(t), False
        except ValueError:
            raise SpecError(source, path, f"range end {t!r} is neither a number nor a duration") from None
    if not math.isfinite(v):
        raise SpecError(source, path, f"range end {t!r} must be finite")
    return v, t.lstrip("+-").isdigit()


def parse_values(text: str, source: str = "--vary", path: str = "") -> tuple[Any, ...]:
    """Parse ``a,b,c``, ``lo:hi:n`` or ``log:lo:hi:n`` into a tuple of values.

    Raises
    ------
    SpecError
        Empty lists, malformed ranges, ``n < 1``, non-positive log-range ends.
    """
    t = text.strip()
    if not t:
        raise SpecError(source, path, "no values given (use a,b,c or lo:hi:n or log:lo:hi:n)")
    parts = [p.strip() for p in t.split(":")]
    is_log = parts[0].lower() == "log"
    if is_log or (len(parts) == 3 and "," not in t):
        nums = parts[1:] if is_log else parts
        if len(nums) != 3:
            form = "log:lo:hi:n" if is_log else "lo:hi:n"
            raise SpecError(source, path, f"malformed range {t!r}: expected {form}")
        lo, lo_int = _endpoint(nums[0], source, path)
        hi, hi_int = _endpoint(nums[1], source, path)
        try:
            n = int(nums[2])
        except ValueError:
            raise SpecError(source, path, f"malformed range {t!r}: n must be a whole number, got {nums[2]!r}") from None
        if n < 1:
            raise SpecError(source, path, f"malformed range {t!r}: n must be at least 1")
        if n > MAX_POINTS:
            raise SpecError(source, path, f"range {t!r} has more than {MAX_POINTS} points")
        if is_log:
            if lo <= 0 or hi <= 0:
                raise SpecError(source, path, f"log range {t!r} needs lo > 0 and hi > 0")
            arr = np.geomspace(lo, hi, n) if n > 1 else np.array([lo])
        else:
            arr = np.linspace(lo, hi, n) if n > 1 else np.array([lo])
        vals: list[Any] = []
        for v in arr:
            fv = float(f"{float(v):.12g}")  # 0.30000000000000004 → 0.3
            if lo_int and hi_int and abs(fv - round(fv)) < 1e-9:
                vals.append(int(round(fv)))
            else:
                vals.append(fv)
        return tuple(vals)
    if ":" in t:
        raise SpecError(source, path, f"malformed range {t!r}: expected lo:hi:n or log:lo:hi:n")
    items = [p.strip() for p in t.split(",")]
    if any(not i for i in items):
        raise SpecError(source, path, f"empty item in value list {t!r}")
    return tuple(_scalar(i) for i in items)


def parse_vary(text: str, source: str = "--vary") -> Vary:
    """Parse one ``PATH=VALUES`` option."""
    if "=" not in text:
        raise SpecError(source, text.strip(), "expected PATH=VALUES, e.g. components.paya.availability=0.99:0.9999:20")
    path_text, values_text = text.split("=", 1)
    path = parse_path(path_text, source)
    return Vary(path=path, values=parse_values(values_text, source, path.text))


def grid_points(varies: list[Vary] | tuple[Vary, ...]) -> list[tuple[Any, ...]]:
    """Cartesian product of the values, first ``Vary`` slowest (row-major)."""
    total = math.prod(len(v.values) for v in varies) if varies else 0
    if total > MAX_POINTS:
        raise SpecError("--vary", "", f"the grid has {total} points, more than {MAX_POINTS}")
    seen: set[tuple[str | int, ...]] = set()
    for v in varies:
        if v.path.segments in seen:
            raise SpecError("--vary", v.path.text, "varied twice")
        seen.add(v.path.segments)
    return list(itertools.product(*(v.values for v in varies)))
