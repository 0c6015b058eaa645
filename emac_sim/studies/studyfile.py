"""Study files: repeatable what-if studies kept in Git (``configs/studies/*.yaml``).

``kind: WhatIfStudy`` says what ``emac whatif SPEC --vary ...`` says on the command line::

    apiVersion: emac.dev/v1alpha1
    kind: WhatIfStudy
    metadata: {name: payment-network-correlation}
    spec:
      journey: ../checkout.yaml          # relative to this file
      vary:
        - path: failureDomains.payment-network.rho
          values: "0:1:11"               # or a list: [0, 0.5, 1]
      samples: 50000
      seed: 7
      correlation: declared
      findMax:                           # optional
        path: load.rate
        subjectTo: ["p99<=0.4"]
        using: independent               # independent | upper | montecarlo
        tolerance: 0.001

``kind: FanOutStudy`` runs :func:`emac_sim.studies.fanout.fanout_study`::

    spec:
      slowProbability: 0.01
      fast: {dist: constant, value: 10ms}
      slow: {dist: constant, value: 1s}
      threshold: 200ms
      widths: [1, 2, 5, 10, 20, 50, 100]
      samples: 20000
      seed: 11

Unknown keys are errors with the path, like everywhere else.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..model.scenario import SCENARIO_NAMES
from ..spec.loader import API_VERSION
from ..spec.yamlio import load_yaml_documents
from ..units import parse_duration
from .constraints import Constraint, parse_constraint
from .grid import MAX_POINTS, Vary, parse_values
from .specpath import parse_path
from .whatif import USING

KINDS = ("WhatIfStudy", "FanOutStudy")


@dataclass(frozen=True)
class FindMaxSpec:
    path: str
    constraints: tuple[Constraint, ...]
    using: str = "independent"
    tolerance: float = 1e-3


@dataclass(frozen=True)
class WhatIfStudy:
    """A parsed ``WhatIfStudy`` document; ``journey`` is resolved relative to the study file."""

    name: str
    journey: Path
    varies: tuple[Vary, ...] = ()
    samples: int | None = None
    seed: int | None = None
    correlation: str | None = None
    confidence: float | None = None
    find_max: FindMaxSpec | None = None
    source: str = ""


@dataclass(frozen=True)
class FanOutStudy:
    """A parsed ``FanOutStudy`` document (latencies as spec mappings, threshold in seconds)."""

    name: str
    widths: tuple[int, ...]
    slow_probability: float = 0.01
    fast: dict = field(default_factory=lambda: {"dist": "constant", "value": 0.01})
    slow: dict = field(default_factory=lambda: {"dist": "constant", "value": 1.0})
    threshold: float = 0.2
    samples: int | None = None
    seed: int | None = None
    confidence: float | None = None
    source: str = ""


def _keys(f: str, d: dict, allowed: tuple[str, ...], path: str, required: tuple[str, ...] = ()) -> None:
    for k in d:
        if k not in allowed:
            hint = difflib.get_close_matches(str(k), allowed, n=1, cutoff=0.6)
            dym = f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(allowed)})"
            raise SpecError(f, f"{path}.{k}" if path else str(k), f"unknown key {k!r}{dym}")
    for k in required:
        if k not in d:
            raise SpecError(f, path, f"missing required key {k!r}")


def _int(f: str, v: Any, path: str, lo: int, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo:
        raise SpecError(f, path, f"must be a whole number >= {lo}, got {v!r}")
    if hi is not None and v > hi:
        raise SpecError(f, path, f"must be at most {hi:,}, got {v!r}")
    return v


def _prob(f: str, v: Any, path: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 < float(v) < 1.0:
        raise SpecError(f, path, f"must be a number in (0, 1), got {v!r}")
    return float(v)


def _mapping(f: str, v: Any, path: str) -> dict:
    if not isinstance(v, dict):
        raise SpecError(f, path, "expected a mapping")
    return v


MAX_FANOUT_WIDTH = 10_000
"""Widest fan-out a FanOutStudy evaluates (the analytic and Monte Carlo cost grow with it)."""


def load_study(path: str | Path) -> WhatIfStudy | FanOutStudy:
    """Read and validate a study file.

    Raises
    ------
    SpecError
        Any problem, naming the file and the path inside it.
    """
    f = str(path)
    docs = [d for d in load_yaml_documents(path, f) if d is not None]
    if len(docs) != 1:
        raise SpecError(f, "", f"expected one YAML document, found {len(docs)}")
    doc = _mapping(f, docs[0], "")
    _keys(f, doc, ("apiVersion", "kind", "metadata", "spec"), "", required=("kind", "spec"))
    if doc.get("apiVersion", API_VERSION) != API_VERSION:
        raise SpecError(f, "apiVersion", f"expected {API_VERSION!r}, got {doc.get('apiVersion')!r}")
    kind = doc["kind"]
    if kind not in KINDS:
        raise SpecError(f, "kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
    meta = _mapping(f, doc.get("metadata") or {}, "metadata")
    name = str(meta.get("name") or Path(f).stem)
    spec = _mapping(f, doc["spec"], "spec")
    common = {}
    if "samples" in spec:
        common["samples"] = _int(f, spec["samples"], "spec.samples", 0)
    if "seed" in spec:
        common["seed"] = _int(f, spec["seed"], "spec.seed", 0)
    if "confidence" in spec:
        common["confidence"] = _prob(f, spec["confidence"], "spec.confidence")
    if kind == "FanOutStudy":
        _keys(f, spec, ("slowProbability", "fast", "slow", "threshold", "widths", "samples", "seed", "confidence"), "spec", required=("widths",))
        widths = spec["widths"]
        if not isinstance(widths, list) or not widths:
            raise SpecError(f, "spec.widths", "expected a non-empty list of whole numbers")
        if len(widths) > MAX_POINTS:
            raise SpecError(f, "spec.widths", f"{len(widths)} widths, more than {MAX_POINTS:,} points")
        ws = tuple(_int(f, w, f"spec.widths[{i}]", 1, MAX_FANOUT_WIDTH) for i, w in enumerate(widths))
        kw: dict[str, Any] = {}
        if "slowProbability" in spec:
            kw["slow_probability"] = _prob(f, spec["slowProbability"], "spec.slowProbability")
        for key in ("fast", "slow"):
            if key in spec:
                kw[key] = _mapping(f, spec[key], f"spec.{key}")
        if "threshold" in spec:
            try:
                kw["threshold"] = parse_duration(spec["threshold"])
            except ValueError as exc:
                raise SpecError(f, "spec.threshold", str(exc)) from None
        return FanOutStudy(name=name, widths=ws, source=f, **kw, **common)
    _keys(f, spec, ("journey", "vary", "samples", "seed", "correlation", "confidence", "findMax"), "spec", required=("journey",))
    if not isinstance(spec["journey"], str):
        raise SpecError(f, "spec.journey", "expected the path of a JourneyIntent file")
    journey = (Path(f).parent / spec["journey"]).resolve()
    if not journey.is_file():
        raise SpecError(f, "spec.journey", f"file not found: {spec['journey']}")
    varies: list[Vary] = []
    raw_vary = spec.get("vary") or []
    if not isinstance(raw_vary, list):
        raise SpecError(f, "spec.vary", "expected a list of {path, values}")
    for i, item in enumerate(raw_vary):
        p = f"spec.vary[{i}]"
        m = _mapping(f, item, p)
        _keys(f, m, ("path", "values"), p, required=("path", "values"))
        sp = parse_path(str(m["path"]), f)
        vals = m["values"]
        if isinstance(vals, list):
            if not vals:
                raise SpecError(f, f"{p}.values", "must not be empty")
            values = tuple(vals)
        else:
            values = parse_values(str(vals), f, f"{p}.values")
        varies.append(Vary(sp, values))
    corr = spec.get("correlation")
    if corr is not None and corr not in SCENARIO_NAMES:
        raise SpecError(f, "spec.correlation", f"expected one of {', '.join(SCENARIO_NAMES)}, got {corr!r}")
    fm = None
    if "findMax" in spec:
        p = "spec.findMax"
        m = _mapping(f, spec["findMax"], p)
        _keys(f, m, ("path", "subjectTo", "using", "tolerance"), p, required=("path", "subjectTo"))
        st = m["subjectTo"]
        st = [st] if isinstance(st, str) else st
        if not isinstance(st, list) or not st:
            raise SpecError(f, f"{p}.subjectTo", "expected a constraint or a list of constraints (e.g. p99<=0.4)")
        cons = tuple(parse_constraint(str(c), f) for c in st)
        using = m.get("using", "independent")
        if using not in USING:
            raise SpecError(f, f"{p}.using", f"expected one of {', '.join(USING)}, got {using!r}")
        tol = m.get("tolerance", 1e-3)
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
            raise SpecError(f, f"{p}.tolerance", f"must be in (0, 1), got {tol!r}")
        parse_path(str(m["path"]), f)
        fm = FindMaxSpec(str(m["path"]), cons, using, float(tol))
    if not varies and fm is None:
        raise SpecError(f, "spec", "a WhatIfStudy needs vary and/or findMax")
    return WhatIfStudy(name=name, journey=journey, varies=tuple(varies), correlation=corr, find_max=fm, source=f, **common)
