"""EmaC spec documents → validated, frozen :class:`~emac_sim.model.Journey` (DESIGN §3–4, §9).

Every problem is a :class:`~emac_sim.errors.SpecError` naming the file, the path inside the
document (``spec.operator.steps[2].branches[1]``) and what is wrong. Unknown keys are errors with a
did-you-mean; defaults are filled in here and nowhere else. The keys each mapping accepts and
requires, and the values of enumerated keys, come from the document's JSON Schema
(:mod:`emac_sim.spec.schema`); the checks a schema cannot express are written here.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SpecError, SpecWarning
from ..model import distributions as D
from ..model.journey import (
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
    Node,
    Ref,
)
from ..operators import OPERATOR_TYPES, REGISTRY
from ..units import parse_duration
from . import limits as L
from . import schema as S
from .atomic import TIMESLICES_NOTE, AtomicSLOIndex
from .yamlio import display_path, load_yaml_documents, load_yaml_text, scalar_text

API_VERSION = S.API_VERSION
KINDS = S.enum("document", "kind")
#: ``spec.components.<id>.kind`` values (the paper's service and external_dependency, and the usual tiers).
COMPONENT_KINDS = S.enum("component", "kind")
#: ``dist`` values, in the order messages list them.
DIST_KINDS = S.enum("distribution", "dist")
#: A bare latency number at least this large (seconds) is probably milliseconds.
SUSPICIOUS_BARE_SECONDS = 10.0


@dataclass
class _Ctx:
    """Validation context: which file we are reading (and, while a component's latency models are
    read, every duration written in them: ``(path, raw value)``)."""

    file: str
    durations: list[tuple[str, Any]] | None = None

    def fail(self, path: str, message: str) -> SpecError:
        return SpecError(self.file, path, message)

    def warn(self, path: str, message: str) -> None:
        """A :class:`SpecWarning`: the spec loads, but probably not as meant."""
        warnings.warn(SpecWarning(self.file, path, message), stacklevel=3)

    def mapping(self, value: Any, path: str, what: str = "a mapping") -> dict:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected {what}, got {_typename(value)}")
        return value

    def sequence(self, value: Any, path: str, nonempty: bool = False) -> list:
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {_typename(value)}")
        if nonempty and not value:
            raise self.fail(path, "must not be empty")
        return value

    def keys(self, d: dict, allowed: Iterable[str], path: str, required: Iterable[str] = ()) -> None:
        allowed = tuple(allowed)
        for k in d:
            if not isinstance(k, str) or k not in allowed:
                hint = difflib.get_close_matches(str(k), allowed, n=1, cutoff=0.6)
                dym = f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(allowed)})"
                raise self.fail(_join(path, str(k)), f"unknown key {k!r}{dym}")
        for k in required:
            if k not in d:
                raise self.fail(path, f"missing required key {k!r}")

    def fields(self, d: dict, path: str, definition: str, *at: str) -> None:
        """:meth:`keys` with the keys the schema's ``definition`` (then ``at``) allows and requires."""
        self.keys(d, S.allowed(definition, *at), path, required=S.required(definition, *at))

    def number(
        self,
        value: Any,
        path: str,
        lo: float | None = None,
        hi: float | None = None,
        lo_open: bool = False,
        integer: bool = False,
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    raise self.fail(path, f"expected a number, got {value!r}") from None
            else:
                raise self.fail(path, f"expected a number, got {_typename(value)}")
        try:
            v = float(value)
        except OverflowError:
            raise self.fail(path, f"must be a finite number, got a {len(str(abs(value)))}-digit number") from None
        if not math.isfinite(v):
            raise self.fail(path, f"must be a finite number, got {value!r}")
        if integer and v != int(v):
            raise self.fail(path, f"must be a whole number, got {value!r}")
        if lo is not None and (v < lo or (lo_open and v == lo)):
            bound = f"> {lo:g}" if lo_open else f">= {lo:g}"
            raise self.fail(path, f"must be {bound}, got {value!r}")
        if hi is not None and v > hi:
            raise self.fail(path, f"must be <= {hi:g}, got {value!r}")
        return v

    def probability(self, value: Any, path: str) -> float:
        if isinstance(value, float) and math.isnan(value):
            raise self.fail(path, "must be a probability in [0, 1], got NaN")
        v = self.number(value, path)
        if not 0.0 <= v <= 1.0:
            raise self.fail(path, f"must be a probability in [0, 1], got {value!r}")
        return v

    def duration(self, value: Any, path: str, positive: bool = False) -> float:
        if self.durations is not None:
            self.durations.append((path, value))
        try:
            v = parse_duration(value)
        except ValueError as exc:
            raise self.fail(path, str(exc)) from None
        if positive and v <= 0:
            raise self.fail(path, f"must be a positive duration, got {value!r}")
        return v

    def latency(self, value: Any, path: str, zero_ok: bool = False) -> float:
        """A duration that is a latency, timeout or delay: 0 (when ``zero_ok``) or within
        [:data:`~.limits.MIN_LATENCY`, :data:`~.limits.MAX_LATENCY`] (1 ns to 1 day)."""
        v = self.duration(value, path, positive=not zero_ok)
        if v == 0.0 and zero_ok:
            return v
        if not L.MIN_LATENCY <= v <= L.MAX_LATENCY:
            low = "0 or " if zero_ok else ""
            raise self.fail(path, f"must be {low}between 1ns and 1d (a physically meaningful latency), got {value!r}")
        return v

    def window(self, value: Any, path: str) -> float:
        """A positive time window of at most :data:`~.limits.MAX_WINDOW` (366 days)."""
        v = self.duration(value, path, positive=True)
        if v > L.MAX_WINDOW:
            raise self.fail(path, f"must be at most 366d, got {value!r}")
        return v

    def in_range(self, value: Any, path: str, lo: float, hi: float, what: str) -> float:
        """A number within [lo, hi] (documented sane bounds of ``what``)."""
        v = self.number(value, path)
        if not lo <= v <= hi:
            raise self.fail(path, f"{what} must be between {lo:g} and {hi:g}, got {value!r}")
        return v

    def scalar_items(self, value: Any, path: str) -> tuple[tuple[str, str | float | int | bool], ...]:
        """A flat mapping of strings to scalars (kept hashable in the frozen model)."""
        d = self.mapping(value, path)
        for k, v in d.items():
            if not isinstance(k, str):
                raise self.fail(path, f"keys must be strings, got {_typename(k)}")
            if not isinstance(v, (str, int, float, bool)):
                raise self.fail(_join(path, k), f"expected a string, number or boolean, got {_typename(v)}")
        return tuple(d.items())

    def string(self, value: Any, path: str) -> str:
        if isinstance(value, str) and not value.strip():
            raise self.fail(path, "must not be empty")
        if not isinstance(value, str):
            raise self.fail(path, f"expected a non-empty string, got {_typename(value)}")
        return value


def _typename(v: Any) -> str:
    if v is None:
        return "nothing (null)"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(v), type(v).__name__
    )


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


# --------------------------------------------------------------------------- distributions

def parse_distribution(ctx: _Ctx, raw: Any, path: str, depth: int = 0) -> D.Distribution:
    """Parse a ``{dist: …}`` mapping (DESIGN §3 table) into a distribution.

    Every parameter is held to the ranges of :mod:`emac_sim.spec.limits` (latencies within
    [1 ns, 1 day], cv, shapes and tail indices within documented bounds)."""
    if depth > L.MAX_MIXTURE_DEPTH:
        raise ctx.fail(path, f"mixtures nested more than {L.MAX_MIXTURE_DEPTH} levels deep")
    d = ctx.mapping(raw, path)
    if "dist" not in d:
        raise ctx.fail(path, f"missing required key 'dist' (one of {', '.join(DIST_KINDS)})")
    kind = d["dist"]
    if not isinstance(kind, str) or kind not in DIST_KINDS:
        hint = difflib.get_close_matches(str(kind), DIST_KINDS, n=1)
        dym = f" (did you mean {hint[0]!r}?)" if hint else f" (one of {', '.join(DIST_KINDS)})"
        raise ctx.fail(_join(path, "dist"), f"unknown distribution {kind!r}{dym}")
    ctx.keys(d, S.allowed(f"dist.{kind}"), path)

    def dur(key: str, positive: bool = True) -> float:
        if key not in d:
            raise ctx.fail(path, f"{kind} needs {key!r}")
        return ctx.latency(d[key], _join(path, key), zero_ok=not positive)

    def pos(key: str, bounds: tuple[float, float]) -> float:
        if key not in d:
            raise ctx.fail(path, f"{kind} needs {key!r}")
        return ctx.in_range(d[key], _join(path, key), *bounds, what=f"{kind} {key}")

    def one_of(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
        has_a, has_b = any(k in d for k in a), any(k in d for k in b)
        if has_a and has_b:
            raise ctx.fail(path, f"{kind}: give {' + '.join(a)} or {' + '.join(b)}, not both")
        if not has_a and not has_b:
            raise ctx.fail(path, f"{kind} needs {' + '.join(a)} or {' + '.join(b)}")
        return a if has_a else b

    if kind == "lognormal":
        if one_of(("p50", "p99"), ("mu", "sigma")) == ("p50", "p99"):
            p50, p99 = dur("p50"), dur("p99")
            if p99 < p50:
                raise ctx.fail(_join(path, "p99"), f"p99 ({p99:g}s) is below p50 ({p50:g}s)")
            ln = D.LogNormal.from_quantiles(p50, p99)
            if ln.sigma > L.MAX_SIGMA:
                raise ctx.fail(_join(path, "p99"), f"p99 / p50 = {p99 / p50:.3g} implies sigma {ln.sigma:.3g} > {L.MAX_SIGMA:g} (at most about 1e5)")
            return ln
        if "mu" not in d:
            raise ctx.fail(path, "lognormal needs 'mu'")
        if "sigma" not in d:
            raise ctx.fail(path, "lognormal needs 'sigma'")
        mu = ctx.in_range(d["mu"], _join(path, "mu"), *L.MU_RANGE, "lognormal mu (ln of the median in seconds: 1ns to 1d)")
        return D.LogNormal(mu=mu, sigma=ctx.in_range(d["sigma"], _join(path, "sigma"), 0.0, L.MAX_SIGMA, "lognormal sigma"))
    if kind == "gamma":
        if one_of(("mean", "cv"), ("shape", "scale")) == ("mean", "cv"):
            return D.Gamma.from_mean_cv(dur("mean"), pos("cv", L.CV_RANGE))
        # the physical quantity is the mean shape * scale (what mean + cv is dumped as must load again)
        shape = pos("shape", L.GAMMA_SHAPE_RANGE)
        if "scale" not in d:
            raise ctx.fail(path, "gamma needs 'scale'")
        g = D.Gamma(shape=shape, scale=ctx.duration(d["scale"], _join(path, "scale"), positive=True))
        if not L.MIN_LATENCY * (1 - 1e-9) <= g.mean() <= L.MAX_LATENCY * (1 + 1e-9):
            raise ctx.fail(path, f"gamma mean shape * scale = {g.mean():.3g}s is not between 1ns and 1d")
        return g
    if kind == "weibull":
        return D.Weibull(shape=pos("shape", L.WEIBULL_SHAPE_RANGE), scale=dur("scale"))
    if kind == "exponential":
        return D.Exponential(mean_s=dur("mean"))
    if kind == "pareto":
        return D.Pareto(scale=dur("scale"), alpha=pos("alpha", L.PARETO_ALPHA_RANGE))
    if kind == "constant":
        return D.Constant(value=dur("value", positive=False))
    if kind == "empirical":
        qpath = _join(path, "quantiles")
        if "quantiles" not in d:
            raise ctx.fail(path, "empirical needs 'quantiles'")
        q = ctx.mapping(d["quantiles"], qpath, "a mapping probability: duration")
        if not q:
            raise ctx.fail(qpath, "must not be empty")
        pts = []
        for p, x in q.items():
            pp = ctx.probability(p, f"{qpath}[{p}]")
            pts.append((pp, ctx.latency(x, f"{qpath}[{p}]", zero_ok=True)))
        pts.sort()
        for (p0, x0), (p1, x1) in zip(pts, pts[1:]):
            if x1 < x0:
                raise ctx.fail(qpath, f"quantiles must not decrease: q{p1:g} = {x1:g}s is below q{p0:g} = {x0:g}s")
        return D.Empirical(quantiles=tuple(pts))
    if kind == "histogram":
        bpath = _join(path, "buckets")
        if "buckets" not in d:
            raise ctx.fail(path, "histogram needs 'buckets'")
        rows = ctx.sequence(d["buckets"], bpath, nonempty=True)
        buckets: list[tuple[float, float]] = []
        for i, row in enumerate(rows):
            rp = f"{bpath}[{i}]"
            if not isinstance(row, list) or len(row) != 2:
                raise ctx.fail(rp, "expected [le, cumulative count]")
            le = math.inf if str(row[0]).strip() in ("+Inf", "Inf", "inf", "+inf") else ctx.latency(row[0], rp, zero_ok=True)
            count = ctx.number(row[1], rp, lo=0.0)
            if buckets and (le <= buckets[-1][0]):
                raise ctx.fail(rp, "bucket bounds must increase")
            if buckets and count < buckets[-1][1]:
                raise ctx.fail(rp, "cumulative counts must not decrease")
            buckets.append((le, count))
        if not math.isinf(buckets[-1][0]):
            raise ctx.fail(bpath, "the last bucket must be +Inf")
        if buckets[-1][1] <= 0:
            raise ctx.fail(bpath, "histogram has no observations")
        if len(buckets) < 2:
            raise ctx.fail(bpath, "needs at least one finite bucket before +Inf")
        return D.Histogram(buckets=tuple(buckets))
    # mixture
    cpath = _join(path, "components")
    if "components" not in d:
        raise ctx.fail(path, "mixture needs 'components'")
    items = ctx.sequence(d["components"], cpath, nonempty=True)
    parts: list[tuple[float, D.Distribution]] = []
    for i, item in enumerate(items):
        ip = f"{cpath}[{i}]"
        m = ctx.mapping(item, ip)
        ctx.fields(m, ip, "mixtureComponent")
        w = ctx.number(m["weight"], _join(ip, "weight"), lo=0.0)
        inner = m["dist"] if isinstance(m["dist"], dict) else {"dist": m["dist"]}
        parts.append((w, parse_distribution(ctx, inner, _join(ip, "dist"), depth + 1)))
    biggest = max(w for w, _ in parts)
    if biggest <= 0:
        raise ctx.fail(cpath, "mixture weights are all zero")
    scaled = math.fsum(w / biggest for w, _ in parts)  # scaled first: weights near 1e308 must not overflow the sum
    if abs(scaled * biggest - 1.0) > 1e-12:  # weights already summing to 1 are kept as written, so dump -> load is exact
        parts = [((w / biggest) / scaled, dist) for w, dist in parts]
    return D.Mixture(components=tuple(parts))


# --------------------------------------------------------------------------- operators

MAX_OPERATOR_DEPTH = 64


class OperatorParser:
    """What an operator's ``parse`` works with (:mod:`emac_sim.operators.base`): the node's
    mapping ``d`` at ``path``, the loader's value checks, and child parsing."""

    def __init__(self, ctx: _Ctx, d: dict, path: str, op: str, components: dict[str, Any], depth: int) -> None:
        self.ctx = ctx
        self.d = d
        self.path = path
        self.op = op
        self.components = components
        self.depth = depth
        self.fail = ctx.fail
        self.number = ctx.number
        self.probability = ctx.probability
        self.latency = ctx.latency
        self.in_range = ctx.in_range
        self.keys = ctx.keys
        self.mapping = ctx.mapping
        self.sequence = ctx.sequence
        self.join = _join

    def at(self, key: str) -> str:
        """The path of ``key`` in this node's mapping."""
        return _join(self.path, key)

    def need(self, key: str) -> Any:
        """The value of a required key (``<op> needs 'key'`` when missing)."""
        if key not in self.d:
            raise self.ctx.fail(self.path, f"{self.op} needs {key!r}")
        return self.d[key]

    def node(self, raw: Any, path: str) -> Node:
        """Parse any node one level below this one."""
        return parse_operator(self.ctx, raw, path, self.components, self.depth + 1)

    def child(self, key: str) -> Node:
        return self.node(self.need(key), self.at(key))

    def children(self, key: str) -> tuple[Node, ...]:
        items = self.ctx.sequence(self.need(key), self.at(key))
        if not items:
            raise self.ctx.fail(self.at(key), f"{self.op} has empty {key}")
        return tuple(self.node(b, f"{self.path}.{key}[{i}]") for i, b in enumerate(items))

    def component(self, cid: Any, path: str) -> str:
        """A component id that must be defined (with a did-you-mean)."""
        return _component_ref(self.ctx, cid, path, self.components)


def _component_ref(ctx: _Ctx, cid: Any, path: str, components: dict[str, Any]) -> str:
    if not isinstance(cid, str) or cid not in components:
        known = difflib.get_close_matches(str(cid), list(components), n=1)
        dym = f" (did you mean {known[0]!r}?)" if known else ""
        raise ctx.fail(path, f"ref to undefined component {cid!r}{dym}")
    return cid


def parse_operator(ctx: _Ctx, raw: Any, path: str, components: dict[str, Any], depth: int = 0) -> Node:
    """Parse an operator node (a ``ref`` leaf, or an operator of :data:`~emac_sim.operators.REGISTRY`);
    ``components`` holds the defined component ids."""
    if depth > MAX_OPERATOR_DEPTH:
        raise ctx.fail(path, f"operators nested more than {MAX_OPERATOR_DEPTH} levels deep")
    d = ctx.mapping(raw, path, "an operator mapping (with 'type' or 'ref')")
    if "ref" in d and "type" not in d:
        ctx.keys(d, S.allowed("ref"), path)
        return Ref(component=_component_ref(ctx, d["ref"], _join(path, "ref"), components))
    if "type" not in d:
        raise ctx.fail(path, "operator needs 'type' (one of " + ", ".join(OPERATOR_TYPES) + ") or 'ref'")
    op = d["type"]
    if not isinstance(op, str):
        raise ctx.fail(_join(path, "type"), f"expected an operator name (one of {', '.join(OPERATOR_TYPES)}), got {_typename(op)}")
    if op == "ref":
        ctx.fields(d, path, "operator.ref")
        return parse_operator(ctx, {"ref": d["component"]}, path, components, depth)
    cls = REGISTRY.get(op)
    if cls is None:
        hint = difflib.get_close_matches(str(op), OPERATOR_TYPES, n=1)
        dym = f" (did you mean {hint[0]!r}?)" if hint else f" (one of {', '.join(OPERATOR_TYPES)})"
        raise ctx.fail(_join(path, "type"), f"unknown operator type {op!r}{dym}")
    ctx.keys(d, S.allowed(f"operator.{op}"), path)
    return cls.parse(OperatorParser(ctx, d, path, op, components, depth), d, path)


# --------------------------------------------------------------------------- the document

def load_spec(path: str | os.PathLike, slo_paths: Iterable[str | os.PathLike] = ()) -> Journey:
    """Load, resolve and validate an EmaC spec.

    Parameters
    ----------
    path
        A ``JourneyIntent`` (or ``DiscoveredJourneyModel``) YAML file.
    slo_paths
        Extra directories (or files) holding OpenSLO ``SLO`` / Sloth ``prometheus/v1`` documents
        for ``atomicSLORef``. The spec's own directory and ``../atomic/openslo`` and
        ``../atomic/sloth`` beside it are always searched.

    Returns
    -------
    Journey
        The validated journey; ``journey.source`` is ``path`` as given and ``journey.inputs``
        lists ``(file, sha256)`` of the spec and of every SLO file an ``atomicSLORef`` used.

    Raises
    ------
    SpecError
        Any problem, as one line ``FILE: PATH: what is wrong``.
    """
    shown = str(path)
    docs = load_yaml_documents(path, shown)
    here = Path(os.path.abspath(path)).parent  # as the user spelt it: a symlinked folder stays in messages
    journey = _load_docs(shown, docs, here, slo_paths)
    index_inputs = journey.inputs
    inputs = ((shown, _sha256(Path(path))), *index_inputs)
    return _replace(journey, inputs=inputs)


def load_spec_text(
    text: str,
    source: str = "<spec>",
    slo_paths: Iterable[str | os.PathLike] = (),
    base_dir: str | os.PathLike | None = None,
) -> Journey:
    """Like :func:`load_spec`, from YAML text (e.g. the output of :func:`~emac_sim.spec.dump_spec`).

    Parameters
    ----------
    text
        The YAML document.
    source
        Name used for the file in error messages and ``journey.source``.
    slo_paths
        As for :func:`load_spec`.
    base_dir
        Directory treated as the spec's own for ``atomicSLORef`` look-ups (default: none, so
        only ``slo_paths`` are searched).
    """
    docs = load_yaml_text(text, source)
    journey = _load_docs(source, docs, Path(os.path.abspath(base_dir)) if base_dir is not None else None, slo_paths)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return _replace(journey, inputs=((source, digest), *journey.inputs))


def _load_docs(shown: str, docs: list[Any], here: Path | None, slo_paths: Iterable[str | os.PathLike]) -> Journey:
    ctx = _Ctx(shown)
    docs = [d for d in docs if d is not None]
    if not docs:
        raise ctx.fail("", "empty document: expected a JourneyIntent mapping")
    if len(docs) > 1:
        raise ctx.fail("", f"expected one YAML document, found {len(docs)}")
    slo_paths = [Path(p) for p in slo_paths]
    for p in slo_paths:
        if not p.exists():
            raise SpecError(str(p), "", "SLO path not found (given with --slo-path)")
    search = [here, here.parent / "atomic" / "openslo", here.parent / "atomic" / "sloth"] if here is not None else []
    index = AtomicSLOIndex([*search, *slo_paths], display=shown)
    try:
        journey = parse_document(ctx, docs[0], index)
    except RecursionError:
        raise ctx.fail("", "document nested too deeply") from None
    skipped = index.skipped()
    if skipped:
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        warnings.warn(SpecWarning(shown, "", f"skipped unreadable SLO files beside it: {'; '.join(skipped[:3])}{more}"), stacklevel=3)
    inputs = tuple((display_path(f), _sha256(f)) for f in index.used_files())
    return _replace(journey, source=shown, inputs=inputs)


def _replace(obj: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(obj, **changes)


def _sha256(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def parse_document(ctx: _Ctx, doc: Any, index: AtomicSLOIndex | None = None) -> Journey:
    """Validate one parsed YAML document into a :class:`Journey`."""
    top = S.allowed("document")
    doc = ctx.mapping(doc, "", f"a mapping at the top level ({', '.join(top)})")
    ctx.keys(doc, top, "")
    if doc.get("apiVersion") != API_VERSION:
        raise ctx.fail("apiVersion", f"expected {API_VERSION!r}, got {doc.get('apiVersion')!r}")
    kind = doc.get("kind")
    if kind not in KINDS:
        raise ctx.fail("kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
    meta = ctx.mapping(doc.get("metadata"), "metadata")
    ctx.fields(meta, "metadata", "metadata")
    name = ctx.string(meta["name"], "metadata.name")
    labels = tuple(sorted((scalar_text(k), scalar_text(v)) for k, v in ctx.mapping(meta.get("labels") or {}, "metadata.labels").items()))
    spec = ctx.mapping(doc.get("spec"), "spec")
    ctx.fields(spec, "spec", "spec")

    raw_components = ctx.mapping(spec["components"], "spec.components")
    if not raw_components:
        raise ctx.fail("spec.components", "no components defined")
    for cid in raw_components:
        if not isinstance(cid, str) or not cid:
            text = str(cid).lower() if isinstance(cid, bool) else str(cid)
            what = "an empty string" if cid == "" else f"{text}, which YAML reads as {_typename(cid)} (quote it: \"{text}\")"
            raise ctx.fail(f"spec.components.{text}", f"component ids must be non-empty strings, got {what}")
    root = parse_operator(ctx, spec["operator"], "spec.operator", raw_components)

    domain_rules = _parse_domain_rules(ctx, spec.get("failureDomains"))
    components = tuple(
        _parse_component(ctx, cid, raw, f"spec.components.{cid}", index) for cid, raw in raw_components.items()
    )
    domains = _build_domains(ctx, components, domain_rules)
    _check_rho_sums(ctx, components, domains)
    correlation = _parse_correlation(ctx, spec.get("correlation"), components, domains)
    avail_obj, lat_obj = _parse_objectives(ctx, spec.get("objectives"))
    governance = _parse_governance(ctx, spec.get("governance"))
    evidence = _parse_evidence(ctx, spec.get("evidence"))
    load_rate = None
    if "load" in spec:
        load = ctx.mapping(spec["load"], "spec.load")
        ctx.fields(load, "spec.load", "load")
        load_rate = ctx.number(load["rate"], "spec.load.rate", lo=0.0, lo_open=True, hi=L.MAX_LOAD_RATE)
    confidence = None
    if "confidence" in spec:
        c = spec["confidence"]
        if isinstance(c, dict):
            ctx.fields(c, "spec.confidence", "confidence")
            c = c.get("overall")
        confidence = ctx.probability(c, "spec.confidence.overall") if c is not None else None
    flags = tuple(str(f) for f in ctx.sequence(spec.get("evidenceFlags", []), "spec.evidenceFlags"))
    _check_calls(ctx, root, {c.id: c.availability for c in components})
    return Journey(
        name=name,
        root=root,
        components=components,
        domains=domains,
        correlation=correlation,
        availability_objective=avail_obj,
        latency_objective=lat_obj,
        governance=governance,
        evidence=evidence,
        load_rate=load_rate,
        labels=labels,
        kind=kind,
        confidence=confidence,
        evidence_flags=flags,
    )


def _check_calls(ctx: _Ctx, root: Node, availability: dict[str, float]) -> None:
    """Refuse journeys whose worst case costs more calls per request than the limit
    (:func:`emac_sim.spec.limits.max_calls`): the engine would never finish them."""
    count = L.call_count(root, availability)
    limit = L.max_calls()
    if count.worst > limit:
        raise ctx.fail(
            "spec.operator",
            f"up to {count.worst:.3g} calls per journey (expected {count.expected:.3g}), more than the limit of {limit:,} "
            "(nested retries and repeats multiply; set EMAC_MAX_CALLS to raise the limit)",
        )


def _parse_component(ctx: _Ctx, cid: Any, raw: Any, path: str, index: AtomicSLOIndex | None) -> Component:
    if not isinstance(cid, str) or not cid:
        raise ctx.fail(path, "component ids must be non-empty strings")
    d = ctx.mapping(raw, path)
    ctx.keys(d, S.allowed("component"), path)
    has_inline, has_ref = "availability" in d, "atomicSLORef" in d
    if has_inline and has_ref:
        raise ctx.fail(path, "give availability or atomicSLORef, not both")
    if has_inline:
        availability = ctx.probability(d["availability"], _join(path, "availability"))
        source = "inline"
    elif has_ref:
        ref = ctx.string(d["atomicSLORef"], _join(path, "atomicSLORef"))
        if index is None:
            raise ctx.fail(_join(path, "atomicSLORef"), f"cannot resolve {ref!r}: no SLO search path")
        try:
            availability, source = index.resolve(ref)
        except LookupError as exc:
            raise ctx.fail(_join(path, "atomicSLORef"), str(exc)) from None
        if not 0.0 <= availability <= 1.0 or math.isnan(availability):
            raise ctx.fail(_join(path, "atomicSLORef"), f"{ref} resolves to target {availability!r}, outside [0, 1]")
        if TIMESLICES_NOTE in source:
            what = f"{ref} is a Timeslices SLO: its target {availability:g} counts good time slices, used here as request availability"
            ctx.warn(_join(path, "atomicSLORef"), what)
    else:
        raise ctx.fail(path, "component needs availability or atomicSLORef")
    kind = d.get("kind", "service")
    if kind not in COMPONENT_KINDS:
        hint = difflib.get_close_matches(str(kind), COMPONENT_KINDS, n=1)
        dym = f" (did you mean {hint[0]!r}?)" if hint else f" (one of {', '.join(COMPONENT_KINDS)})"
        raise ctx.fail(_join(path, "kind"), f"unknown component kind {kind!r}{dym}")
    ctx.durations = []
    latency = parse_distribution(ctx, d["latency"], _join(path, "latency")) if "latency" in d else None
    err: Any = "same"
    if "errorLatency" in d:
        e = d["errorLatency"]
        if e in S.ERROR_LATENCY:
            err = e
        elif isinstance(e, dict):
            err = parse_distribution(ctx, e, _join(path, "errorLatency"))
        else:
            raise ctx.fail(_join(path, "errorLatency"), f"expected same, fast or a distribution, got {e!r}")
    _warn_bare_latencies(ctx, ctx.durations)
    ctx.durations = None
    dpath = _join(path, "failureDomains")
    domains = tuple(ctx.string(x, f"{dpath}[{i}]") for i, x in enumerate(ctx.sequence(d.get("failureDomains", []), dpath)))
    if len(set(domains)) != len(domains):
        raise ctx.fail(_join(path, "failureDomains"), "lists a domain twice")
    capacity = None
    if "capacity" in d:
        cp = _join(path, "capacity")
        c = ctx.mapping(d["capacity"], cp)
        ctx.fields(c, cp, "capacity")
        capacity = Capacity(
            replicas=int(ctx.number(c["replicas"], _join(cp, "replicas"), lo=1, hi=L.MAX_REPLICAS, integer=True)),
            service_time=parse_distribution(ctx, c["serviceTime"], _join(cp, "serviceTime")),
        )
    extra = tuple((k, d[k]) for k in ("telemetry", "description", "provenance", "confidence") if k in d)
    return Component(
        id=cid,
        availability=availability,
        latency=latency,
        error_latency=err,
        domains=domains,
        kind=kind,
        capacity=capacity,
        availability_source=source,
        extra=extra,
    )


def _warn_bare_latencies(ctx: _Ctx, durations: list[tuple[str, Any]]) -> None:
    """Warn about bare latency numbers that are probably milliseconds: at least
    :data:`SUSPICIOUS_BARE_SECONDS`, or written beside durations that carry a unit."""
    bare = [(p, v) for p, v in durations if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0]
    mixed = len(bare) < len(durations) and any(isinstance(v, str) for _, v in durations)
    for p, v in bare:
        if v >= SUSPICIOUS_BARE_SECONDS:
            ctx.warn(p, f"bare number {v:g} is read as {v:g} seconds (did you mean {v:g}ms?)")
        elif mixed:
            ctx.warn(p, f"bare number {v:g} is read as {v:g} seconds, beside latencies written with units (did you mean {v:g}ms?)")


@dataclass
class _Rule:
    name: str
    path: str
    kind: str
    model: str
    rho: float
    latency_rho: float
    probability: float | None
    beta: float | None
    members: tuple[str, ...]
    confidence: float | None
    description: str
    extra: tuple[tuple[str, Any], ...]


def _parse_domain_rules(ctx: _Ctx, raw: Any) -> list[_Rule]:
    if raw is None:
        return []
    d = ctx.mapping(raw, "spec.failureDomains")
    ctx.fields(d, "spec.failureDomains", "failureDomains")
    rules: list[_Rule] = []
    seen: set[str] = set()
    for i, r in enumerate(ctx.sequence(d.get("rules", []), "spec.failureDomains.rules")):
        p = f"spec.failureDomains.rules[{i}]"
        m = ctx.mapping(r, p)
        ctx.fields(m, p, "domainRule")
        name = ctx.string(m["name"], _join(p, "name"))
        if name in seen:
            raise ctx.fail(_join(p, "name"), f"domain {name!r} defined twice")
        seen.add(name)
        model, rho, lrho, prob, beta = "none", 0.0, 0.0, None, None
        if "correlation" in m:
            cp = _join(p, "correlation")
            c = ctx.mapping(m["correlation"], cp)
            ctx.fields(c, cp, "domainCorrelation")
            model = c.get("model", "gaussian")
            if model == "gaussian":
                ctx.fields(c, cp, "gaussianCorrelation")
                rho = ctx.number(c.get("rho", 0.0), _join(cp, "rho"), lo=0.0, hi=1.0)
                lrho = ctx.number(c.get("latencyRho", 0.0), _join(cp, "latencyRho"), lo=0.0, hi=1.0)
                if "rho" not in c and "latencyRho" not in c:
                    raise ctx.fail(cp, "gaussian correlation needs rho and/or latencyRho")
            elif model == "shock":
                ctx.fields(c, cp, "shockCorrelation")
                if ("probability" in c) == ("beta" in c):
                    raise ctx.fail(cp, "shock correlation needs exactly one of probability or beta")
                if "probability" in c:
                    prob = ctx.probability(c["probability"], _join(cp, "probability"))
                else:
                    beta = ctx.probability(c["beta"], _join(cp, "beta"))
            else:
                models = S.enum("domainCorrelation", "model")
                raise ctx.fail(_join(cp, "model"), f"correlation model must be {' or '.join(models)}, got {model!r}")
        mp = _join(p, "members")
        members = tuple(ctx.string(x, f"{mp}[{j}]") for j, x in enumerate(ctx.sequence(m.get("members", []), mp)))
        conf = ctx.probability(m["confidence"], _join(p, "confidence")) if "confidence" in m else None
        extra = tuple((k, m[k]) for k in ("source", "key", "provenance") if k in m)
        rules.append(
            _Rule(name, p, str(m.get("kind", "declared")), model, rho, lrho, prob, beta, members, conf, str(m.get("description", "")), extra)
        )
    return rules


def _build_domains(ctx: _Ctx, components: tuple[Component, ...], rules: list[_Rule]) -> tuple[Domain, ...]:
    ids = {c.id for c in components}
    by_name = {r.name: r for r in rules}
    members: dict[str, list[str]] = {r.name: [] for r in rules}
    for c in components:
        for dname in c.domains:
            members.setdefault(dname, []).append(c.id)
    for r in rules:
        for m in r.members:
            if m not in ids:
                raise ctx.fail(_join(r.path, "members"), f"member {m!r} is not a defined component")
            if m not in members[r.name]:
                members[r.name].append(m)
    avail = {c.id: c.availability for c in components}
    out = []
    for name, mem in members.items():
        r = by_name.get(name)
        if r is None:
            out.append(Domain(name=name, members=tuple(mem), kind="implicit"))
            continue
        dom = Domain(
            name=name,
            members=tuple(mem),
            model=r.model,  # type: ignore[arg-type]
            rho=r.rho,
            latency_rho=r.latency_rho,
            probability=r.probability,
            beta=r.beta,
            kind=r.kind,
            confidence=r.confidence,
            description=r.description,
            extra=r.extra,
        )
        if dom.model == "shock" and mem:
            q = dom.shock_probability(avail)
            worst = min(avail[m] for m in mem)
            if q > 1.0 - worst + 1e-15:
                raise ctx.fail(
                    _join(r.path, "correlation.probability"),
                    f"shock probability {q:g} exceeds 1 - availability of a member ({1 - worst:g}): marginals cannot be kept",
                )
        out.append(dom)
    # several shock domains on one component: their outages alone must leave room for a_i
    q_of = {d.name: d.shock_probability(avail) for d in out if d.model == "shock" and d.members}
    for c in components:
        shocks_of = [n for n in c.domains if n in q_of]
        if len(shocks_of) < 2:
            continue
        keep = math.prod(1.0 - q_of[n] for n in shocks_of)
        if keep < c.availability - 1e-15:
            raise ctx.fail(
                f"spec.components.{c.id}.failureDomains",
                f"shock domains {', '.join(shocks_of)} together fail it with probability {1 - keep:.6g}, "
                f"more than its unavailability {1 - c.availability:.6g}: its availability cannot be kept",
            )
    return tuple(out)


def _check_rho_sums(ctx: _Ctx, components: tuple[Component, ...], domains: tuple[Domain, ...]) -> None:
    by = {d.name: d for d in domains}
    for c in components:
        for attr, label in (("rho", "rho"), ("latency_rho", "latencyRho")):
            total = sum(getattr(by[n], attr) for n in c.domains if by[n].model == "gaussian")
            if total > 1.0 + 1e-12:
                names = ", ".join(n for n in c.domains if by[n].model == "gaussian")
                raise ctx.fail(
                    f"spec.components.{c.id}.failureDomains",
                    f"sum of {label} over its domains ({names}) is {total:g} > 1",
                )


def _parse_matrix(ctx: _Ctx, raw: Any, path: str, n: int) -> tuple[tuple[float, ...], ...]:
    rows = ctx.sequence(raw, path)
    if len(rows) != n:
        raise ctx.fail(path, f"expected {n} rows (one per component), got {len(rows)}")
    m = np.zeros((n, n))
    for i, row in enumerate(rows):
        r = ctx.sequence(row, f"{path}[{i}]")
        if len(r) != n:
            raise ctx.fail(f"{path}[{i}]", f"expected {n} entries, got {len(r)}")
        for j, v in enumerate(r):
            m[i, j] = ctx.number(v, f"{path}[{i}][{j}]", lo=-1.0, hi=1.0)
    for i in range(n):
        if m[i, i] != 1.0:
            raise ctx.fail(f"{path}[{i}][{i}]", f"diagonal must be 1, got {m[i, i]:g}")
        for j in range(i):
            if abs(m[i, j] - m[j, i]) > 1e-12:
                raise ctx.fail(f"{path}[{i}][{j}]", f"matrix is not symmetric: [{i}][{j}] = {m[i, j]:g} but [{j}][{i}] = {m[j, i]:g}")
    smallest = float(np.linalg.eigvalsh(m).min())
    if smallest < -1e-10:
        raise ctx.fail(path, f"matrix is not positive semidefinite (smallest eigenvalue {smallest:.6g})")
    return tuple(tuple(float(v) for v in row) for row in m)


def _parse_correlation(ctx: _Ctx, raw: Any, components: tuple[Component, ...], domains: tuple[Domain, ...]) -> CorrelationMatrix | None:
    if raw is None:
        return None
    p = "spec.correlation"
    d = ctx.mapping(raw, p)
    ctx.fields(d, p, "correlation")
    names = tuple(str(x) for x in ctx.sequence(d["components"], _join(p, "components"), nonempty=True))
    ids = {c.id for c in components}
    for i, nm in enumerate(names):
        if nm not in ids:
            raise ctx.fail(f"{p}.components[{i}]", f"{nm!r} is not a defined component")
    if len(set(names)) != len(names):
        raise ctx.fail(_join(p, "components"), "lists a component twice")
    gauss = {m for dom in domains if dom.model == "gaussian" and (dom.rho > 0 or dom.latency_rho > 0) for m in dom.members}
    both = sorted(gauss & set(names))
    if both:
        raise ctx.fail(_join(p, "components"), f"{both[0]!r} is also in a gaussian failure domain; use one form of correlation")
    matrix = _parse_matrix(ctx, d["matrix"], _join(p, "matrix"), len(names))
    lat = _parse_matrix(ctx, d["latencyMatrix"], _join(p, "latencyMatrix"), len(names)) if "latencyMatrix" in d else None
    return CorrelationMatrix(components=names, matrix=matrix, latency_matrix=lat)


def _parse_objectives(ctx: _Ctx, raw: Any) -> tuple[AvailabilityObjective | None, LatencyObjective | None]:
    if raw is None:
        return None, None
    p = "spec.objectives"
    d = ctx.mapping(raw, p)
    ctx.fields(d, p, "objectives")
    avail = lat = None
    if "availability" in d:
        ap = _join(p, "availability")
        a = ctx.mapping(d["availability"], ap)
        ctx.fields(a, ap, "availabilityObjective")
        good = total = None
        if "sli" in a:
            s = ctx.mapping(a["sli"], _join(ap, "sli"))
            ctx.fields(s, _join(ap, "sli"), "availabilityObjective", "sli")
            good, total = s.get("goodEventQuery"), s.get("totalEventQuery")
        target = ctx.probability(a["target"], _join(ap, "target"))
        if target >= 1.0:
            raise ctx.fail(_join(ap, "target"), "target must be below 1 (a target of 1 leaves no error budget)")
        if target <= 0.0:
            raise ctx.fail(_join(ap, "target"), "target must be above 0 (an objective must be in (0, 1))")
        avail = AvailabilityObjective(
            target=target,
            window=ctx.window(a.get("window", "30d"), _join(ap, "window")),
            good_query=_strip(good),
            total_query=_strip(total),
        )
    if "latency" in d:
        lp = _join(p, "latency")
        latd = ctx.mapping(d["latency"], lp)
        ctx.fields(latd, lp, "latencyObjective")
        o = ctx.mapping(latd["objective"], _join(lp, "objective"))
        ctx.fields(o, _join(lp, "objective"), "latencyObjective", "objective")
        metric = str(o.get("metric", "p99"))
        if not (metric.startswith("p") and metric[1:].isdigit()):
            raise ctx.fail(_join(lp, "objective.metric"), f"metric must look like p50, p99 or p999, got {metric!r}")
        promql = None
        if "evidence" in latd:
            e = ctx.mapping(latd["evidence"], _join(lp, "evidence"))
            ctx.fields(e, _join(lp, "evidence"), "latencyObjective", "evidence")
            promql = _strip(e.get("promql"))
        lat = LatencyObjective(
            threshold=ctx.latency(o["threshold"], _join(lp, "objective.threshold")),
            metric=metric,
            window=ctx.window(latd.get("window", "30d"), _join(lp, "window")),
            promql=promql,
        )
    return avail, lat


def _strip(s: Any) -> str | None:
    return s.strip() if isinstance(s, str) else None


def _parse_governance(ctx: _Ctx, raw: Any) -> Governance:
    if raw is None:
        return Governance()
    p = "spec.governance"
    d = ctx.mapping(raw, p)
    ctx.fields(d, p, "governance")
    kw: dict[str, Any] = {}
    if "evaluationMode" in d:
        kw["evaluation_mode"] = str(d["evaluationMode"])
    if "useBoundsForAutomation" in d:
        u = ctx.mapping(d["useBoundsForAutomation"], _join(p, "useBoundsForAutomation"))
        ctx.fields(u, _join(p, "useBoundsForAutomation"), "governance", "useBoundsForAutomation")
        kw["availability_bound"] = str(u.get("availability", "pessimistic"))
        kw["latency_bound"] = str(u.get("latency", "upperConfidence"))
    if "alerts" in d:
        ap = _join(p, "alerts")
        a = ctx.mapping(d["alerts"], ap)
        ctx.fields(a, ap, "alerts")
        if "sloBudgetWindow" in a:
            kw["budget_window"] = ctx.window(a["sloBudgetWindow"], _join(ap, "sloBudgetWindow"))
        if "slothCompatible" in a:
            kw["sloth_compatible"] = bool(a["slothCompatible"])
        if "burnRatePolicy" in a:
            bp = _join(ap, "burnRatePolicy")
            b = ctx.mapping(a["burnRatePolicy"], bp)
            ctx.fields(b, bp, "alerts", "burnRatePolicy")
            windows = []
            for sev in ("page", "ticket"):
                for i, w in enumerate(ctx.sequence(b.get(sev, []), _join(bp, sev))):
                    wp = f"{bp}.{sev}[{i}]"
                    wm = ctx.mapping(w, wp)
                    ctx.fields(wm, wp, "burnRateWindow")
                    lw = ctx.window(wm["longWindow"], _join(wp, "longWindow"))
                    sw = ctx.window(wm["shortWindow"], _join(wp, "shortWindow"))
                    if sw >= lw:
                        raise ctx.fail(_join(wp, "shortWindow"), "short window must be shorter than the long window")
                    windows.append(
                        BurnRateWindow(sev, ctx.number(wm["burnRate"], _join(wp, "burnRate"), lo=0.0, lo_open=True), lw, sw)
                    )
            if not windows:
                raise ctx.fail(bp, "declares no burn-rate windows")
            kw["burn_rates"] = tuple(windows)
            kw["burn_rates_declared"] = True
    if "progressiveDelivery" in d:
        pp = _join(p, "progressiveDelivery")
        pd = ctx.mapping(d["progressiveDelivery"], pp)
        ctx.fields(pd, pp, "governance", "progressiveDelivery")
        kw["delivery_provider"] = str(pd.get("provider", "argo-rollouts"))
        if "gate" in pd:
            gp = _join(pp, "gate")
            g = ctx.mapping(pd["gate"], gp)
            ctx.fields(g, gp, "governance", "progressiveDelivery", "gate")
            if "maxCanaryBurnRate" in g:
                kw["max_canary_burn_rate"] = ctx.number(g["maxCanaryBurnRate"], _join(gp, "maxCanaryBurnRate"), lo=0.0, lo_open=True)
            if "maxP99LatencySeconds" in g:
                kw["max_p99_latency"] = ctx.latency(g["maxP99LatencySeconds"], _join(gp, "maxP99LatencySeconds"))
    if "confidenceThreshold" in d:
        kw["confidence_threshold"] = ctx.probability(d["confidenceThreshold"], _join(p, "confidenceThreshold"))
    if "deltaThreshold" in d:
        kw["delta_threshold"] = ctx.probability(d["deltaThreshold"], _join(p, "deltaThreshold"))
    actions = []
    for i, a in enumerate(ctx.sequence(d.get("actions", []), _join(p, "actions"))):
        ap = f"{p}.actions[{i}]"
        am = ctx.mapping(a, ap)
        ctx.fields(am, ap, "action")
        bounds = []
        for k, v in ctx.mapping(am.get("parameterBounds", {}), _join(ap, "parameterBounds")).items():
            bounds.append((str(k), ctx.number(v, _join(ap, f"parameterBounds.{k}"))))
        guard = am.get("guard")
        if guard is not None:
            guard = ctx.string(guard, _join(ap, "guard"))
            _validate_guard(ctx, guard, _join(ap, "guard"))
        if "maxTrafficStep" in dict(bounds) and not 0 < dict(bounds)["maxTrafficStep"] <= 1:
            raise ctx.fail(_join(ap, "parameterBounds.maxTrafficStep"), "must be in (0, 1]")
        actions.append(
            Action(
                kind=str(am["kind"]),
                guard=guard,
                parameter_bounds=tuple(bounds),
                rollback=ctx.scalar_items(am.get("rollback", {}), _join(ap, "rollback")),
                rate_limit=ctx.scalar_items(am.get("rateLimit", {}), _join(ap, "rateLimit")),
            )
        )
    kw["actions"] = tuple(actions)
    return Governance(**kw)


_guard_validator: Callable[[str], None] | None = None


def register_guard_validator(fn: Callable[[str], None]) -> None:
    """Let the governance layer check guard syntax at load time (it raises ValueError)."""
    global _guard_validator
    _guard_validator = fn


def _validate_guard(ctx: _Ctx, guard: str, path: str) -> None:
    if _guard_validator is None:
        return
    try:
        _guard_validator(guard)
    except ValueError as exc:
        raise ctx.fail(path, f"invalid guard expression: {exc}") from None
    except RecursionError:
        raise ctx.fail(path, "invalid guard expression: nested too deeply (expected a condition such as A_minus >= 0.995)") from None


def _parse_evidence(ctx: _Ctx, raw: Any) -> Evidence:
    if raw is None:
        return Evidence()
    p = "spec.evidence"
    d = ctx.mapping(raw, p)
    ctx.fields(d, p, "evidence")
    if "modelDiscovery" not in d:
        return Evidence()
    mp = _join(p, "modelDiscovery")
    m = ctx.mapping(d["modelDiscovery"], mp)
    ctx.fields(m, mp, "modelDiscovery")
    window = ctx.window(m["evidenceWindow"], _join(mp, "evidenceWindow")) if "evidenceWindow" in m else None
    policy = ctx.mapping(m.get("coveragePolicy", {}), _join(mp, "coveragePolicy"))
    return Evidence(
        discovery_enabled=bool(m.get("enabled", False)),
        evidence_window=window,
        coverage_policy=tuple(sorted(ctx.scalar_items(policy, _join(mp, "coveragePolicy")))),
        discovered_model_ref=ctx.string(m["discoveredModelRef"], _join(mp, "discoveredModelRef")) if "discoveredModelRef" in m else None,
    )
