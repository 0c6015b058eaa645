"""Hypothesis strategies for random *valid* journeys, for property tests across the project.

Usage (from any test module; pytest puts ``tests/`` on ``sys.path``)::

    from hypothesis import given
    from strategies import journeys

    @given(journeys(max_depth=2, latency="always"))
    def test_something(j): ...

Everything generated is exactly what :func:`emac_sim.load_spec` would build from some YAML:
``load_spec_text(dump_spec(j)) == j`` (tested in ``test_spec_roundtrip.py``). Sizes are modest
by default (at most 6 components, depth 3, 3 branches per operator) so that exact analytic
routes and reference simulators stay cheap.

Strategies
----------
- :func:`durations` — seconds, positive, within a realistic range.
- :func:`distributions` — every latency distribution kind (DESIGN §3 table).
- :func:`operator_trees` — operator trees over given component ids, every operator.
- :func:`journeys` — whole journeys: tree, components (availability, optional latency and error
  latency), failure domains (magnitude-free, gaussian, shock), explicit correlation matrix,
  objectives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from typing import Literal

import numpy as np
from hypothesis import strategies as st

from emac_sim.model import distributions as D
from emac_sim.model.journey import AvailabilityObjective, Capacity, Component, CorrelationMatrix, Domain, Journey, LatencyObjective, Node, Ref
from emac_sim.operators import OPERATOR_TYPES, Backoff, Cache, Choice, Fallback, Optional, Parallel, Race, Repeat, Retry, Series, Timeout

LatencyMode = Literal["always", "never", "maybe", "mixed"]

# --------------------------------------------------------------------------- numbers


@cache
def durations(min_s: float = 1e-4, max_s: float = 2.0) -> st.SearchStrategy[float]:
    """Durations in seconds in ``[min_s, max_s]``, log-uniform-ish, plus a few round values."""
    lo, hi = math.log10(min_s), math.log10(max_s)
    round_values = [v for v in (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0) if min_s <= v <= max_s]
    logs = st.floats(lo, hi, allow_nan=False, allow_infinity=False).map(lambda e: min(max(10.0**e, min_s), max_s))
    return st.one_of(st.sampled_from(round_values), logs) if round_values else logs


@cache
def availabilities(min_a: float = 0.5) -> st.SearchStrategy[float]:
    """Availabilities in ``[min_a, 1]``: typical SLO values, 1.0, and arbitrary floats."""
    typical = [a for a in (0.9, 0.99, 0.995, 0.999, 0.9995, 0.9999, 1.0) if a >= min_a]
    return st.one_of(st.sampled_from(typical), st.floats(min_a, 1.0, allow_nan=False))


@cache
def probabilities() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]), st.floats(0.0, 1.0, allow_nan=False))


# --------------------------------------------------------------------------- distributions

SIMPLE_KINDS: tuple[str, ...] = tuple(k for k in D.DISTRIBUTION_KINDS if k != "mixture")


_QUANTILE_LEVELS = st.sets(
    st.one_of(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0]), st.floats(0.0, 1.0)), min_size=1, max_size=5
)
_COUNTS = st.integers(0, 500)


@st.composite
def _empirical(draw: st.DrawFn) -> D.Empirical:
    probs = sorted(draw(_QUANTILE_LEVELS))
    x = draw(durations(1e-4, 0.05))
    xs = []
    for _ in probs:
        xs.append(x)
        x = x + draw(st.one_of(st.just(0.0), durations(1e-4, 0.2)))
    return D.Empirical(quantiles=tuple(zip(probs, xs)))


@st.composite
def _histogram(draw: st.DrawFn) -> D.Histogram:
    n = draw(st.integers(1, 5))
    le = draw(durations(1e-3, 0.05))
    count = 0.0
    buckets = []
    for _ in range(n):
        count += float(draw(_COUNTS))
        buckets.append((le, count))
        le = le + draw(durations(1e-3, 0.5))
    total = count + float(draw(st.integers(0 if count > 0 else 1, 50)))
    buckets.append((math.inf, total))
    return D.Histogram(buckets=tuple(buckets))


@cache
def _simple(kind: str) -> st.SearchStrategy[D.Distribution]:
    if kind == "lognormal":
        by_params = st.builds(D.LogNormal, mu=st.floats(-7.0, 0.0), sigma=st.floats(0.0, 1.5))
        by_quantiles = st.tuples(durations(1e-3, 0.5), st.floats(1.0, 20.0)).map(lambda t: D.LogNormal.from_quantiles(t[0], t[0] * t[1]))
        return st.one_of(by_params, by_quantiles)
    if kind == "gamma":
        return st.builds(D.Gamma, shape=st.floats(0.3, 20.0), scale=durations(1e-4, 0.5))
    if kind == "weibull":
        return st.builds(D.Weibull, shape=st.floats(0.5, 5.0), scale=durations(1e-3, 0.5))
    if kind == "exponential":
        return st.builds(D.Exponential, mean_s=durations(1e-3, 0.5))
    if kind == "pareto":
        return st.builds(D.Pareto, scale=durations(1e-3, 0.1), alpha=st.floats(1.2, 5.0))
    if kind == "constant":
        return st.builds(D.Constant, value=st.one_of(st.just(0.0), durations(1e-3, 0.5)))
    if kind == "empirical":
        return _empirical()
    if kind == "histogram":
        return _histogram()
    raise ValueError(f"not a simple distribution kind: {kind}")


_WEIGHT = st.floats(0.01, 1.0)


@st.composite
def _mixture(draw: st.DrawFn, parts_strategy: st.SearchStrategy[D.Distribution]) -> D.Mixture:
    parts = draw(st.lists(parts_strategy, min_size=2, max_size=3))
    raw = [draw(_WEIGHT) for _ in parts]
    total = math.fsum(raw)
    weights = [w / total for w in raw]  # sums to 1 within 1e-15: the loader keeps them as written
    return D.Mixture(components=tuple(zip(weights, parts)))


def distributions(kinds: Sequence[str] = D.DISTRIBUTION_KINDS) -> st.SearchStrategy[D.Distribution]:
    """Latency distributions (seconds) of the given kinds (default: all, mixtures of simple kinds)."""
    return _distributions(tuple(kinds))


@cache
def _distributions(kinds: tuple[str, ...]) -> st.SearchStrategy[D.Distribution]:
    simple = [k for k in kinds if k != "mixture"] or list(SIMPLE_KINDS)
    options = [_simple(k) for k in simple]
    if "mixture" in kinds:
        options.append(_mixture(st.one_of(*options)))
    return st.one_of(*options)


# --------------------------------------------------------------------------- operators


def operator_trees(
    component_ids: Sequence[str],
    max_depth: int = 3,
    max_branches: int = 3,
    operators: Sequence[str] = OPERATOR_TYPES,
) -> st.SearchStrategy[Node]:
    """Operator trees whose leaves reference ``component_ids`` (repeats allowed).

    ``operators`` restricts the inner node types (``ref`` leaves are always possible); depth 0
    is a single ``Ref``.
    """
    return _operator_trees(tuple(component_ids), max_depth, max_branches, tuple(operators))


@cache
def _operator_trees(component_ids: tuple[str, ...], max_depth: int, max_branches: int, operators: tuple[str, ...]) -> st.SearchStrategy[Node]:
    leaf = st.sampled_from(list(component_ids)).map(lambda c: Ref(component=c))
    if max_depth <= 0 or not operators:
        return leaf
    child = _operator_trees(component_ids, max_depth - 1, max_branches, operators)
    kids = st.lists(child, min_size=1, max_size=max_branches).map(tuple)
    makers = {
        "series": st.builds(Series, steps=kids),
        "parallel": _parallel(kids),
        "race": st.builds(Race, branches=kids, hedge_delay=st.one_of(st.just(0.0), durations(1e-3, 0.2))),
        "fallback": st.builds(Fallback, branches=kids),
        "retry": st.builds(
            Retry,
            step=child,
            attempts=st.integers(1, 4),
            per_try_timeout=st.one_of(st.none(), durations(1e-3, 1.0)),
            backoff=_backoffs(),
        ),
        "timeout": st.builds(Timeout, step=child, deadline=durations(1e-3, 2.0)),
        "choice": _choice(kids),
        "optional": st.builds(Optional, step=child, probability=probabilities()),
        "repeat": st.builds(Repeat, step=child, count=st.integers(1, 3)),
        "cache": st.builds(Cache, component=st.sampled_from(list(component_ids)), hit_ratio=probabilities(), step=child),
    }
    unknown = set(operators) - set(makers)
    if unknown:
        raise ValueError(f"unknown operators {sorted(unknown)}")
    return st.one_of(leaf, *(makers[o] for o in operators))


_JOINS = st.sampled_from(["all", "any", "quorum"])
_UNIT = st.floats(0.0, 1.0)
_CHOICE_WEIGHT = st.one_of(st.just(0.0), st.sampled_from([1.0, 9.0, 50.0]), st.floats(0.0, 100.0))


@st.composite
def _parallel(draw: st.DrawFn, kids: st.SearchStrategy[tuple[Node, ...]]) -> Parallel:
    branches = draw(kids)
    join = draw(_JOINS)
    if join != "quorum":
        return Parallel(branches=branches, join=join)
    k = 1 + min(int(draw(_UNIT) * len(branches)), len(branches) - 1)
    return Parallel(branches=branches, join="quorum", k=k)


@st.composite
def _choice(draw: st.DrawFn, kids: st.SearchStrategy[tuple[Node, ...]]) -> Choice:
    branches = draw(kids)
    weights = [draw(_CHOICE_WEIGHT) for _ in branches]
    if sum(weights) <= 0:
        weights[-1] = 1.0
    return Choice(branches=branches, weights=tuple(weights))


@cache
def _backoffs() -> st.SearchStrategy[Backoff]:
    return st.one_of(
        st.just(Backoff()),
        st.builds(Backoff, initial=durations(1e-3, 0.2), multiplier=st.sampled_from([1.0, 1.5, 2.0]), max=st.one_of(st.none(), durations(1e-2, 1.0))),
    )


# --------------------------------------------------------------------------- journeys


@st.composite
def journeys(
    draw: st.DrawFn,
    *,
    max_components: int = 6,
    max_depth: int = 3,
    max_branches: int = 3,
    operators: Sequence[str] = OPERATOR_TYPES,
    latency: LatencyMode = "maybe",
    distribution_kinds: Sequence[str] = D.DISTRIBUTION_KINDS,
    domains: bool = True,
    correlation_matrix: bool = True,
    objectives: bool = True,
    capacity: bool = False,
    min_availability: float = 0.5,
) -> Journey:
    """Random valid journeys.

    Parameters
    ----------
    max_components, max_depth, max_branches, operators
        Size and shape of the operator tree (see :func:`operator_trees`).
    latency
        ``"always"``: every component has a latency distribution (``latency_modelled`` is True);
        ``"never"``: none has; ``"mixed"``: each component independently; ``"maybe"`` (default):
        one of the three per journey.
    distribution_kinds
        Latency distribution kinds to draw from.
    domains
        Failure domains: magnitude-free (the paper's form), gaussian (``rho``, ``latencyRho``,
        Σrho ≤ 1 per component) and shock (``probability`` or ``beta``), plus trailing implicit ones.
    correlation_matrix
        Sometimes an explicit PSD correlation matrix over components outside gaussian domains.
    objectives
        Sometimes an availability objective and a p99 latency objective.
    capacity
        Sometimes a queueing capacity on components.
    min_availability
        Lower end of component availabilities.
    """
    n = draw(st.integers(1, max_components))
    ids = [f"c{i}" for i in range(n)]
    root = draw(operator_trees(ids, max_depth, max_branches, operators))
    used = set(root.refs())
    ids = [c for c in ids if c in used]

    mode = latency if latency != "maybe" else draw(st.sampled_from(["always", "never", "mixed"]))
    avail = {c: draw(availabilities(min_availability)) for c in ids}

    # failure domains: rules first (declared/inferred), then implicit ones named only by components
    member_sets: list[tuple[str, list[str]]] = []
    rules: list[dict] = []
    if domains:
        n_rules = draw(st.integers(0, 3))
        models = [draw(st.sampled_from(["none", "gaussian", "shock"])) for _ in range(n_rules)]
        n_gauss = max(1, models.count("gaussian"))
        # each q <= (1 - a_i)/S keeps prod(1 - q) >= a_i for a member of all S shock domains
        n_shock = max(1, models.count("shock"))
        for i, model in enumerate(models):
            members = [c for c in ids if draw(st.booleans())] or [draw(st.sampled_from(ids))]
            name = f"d{i}"
            member_sets.append((name, members))
            rule: dict = {"name": name, "model": model, "kind": draw(st.sampled_from(["declared", "inferred"]))}
            if draw(st.booleans()):
                rule["confidence"] = draw(probabilities())
            if model == "gaussian":
                # each rho <= 1/G keeps Σrho <= 1 for any component whatever its domains
                rule["rho"] = draw(_UNIT) / n_gauss
                rule["latency_rho"] = draw(_UNIT) / n_gauss
            elif model == "shock":
                if draw(st.booleans()):
                    room = min(1.0 - avail[m] for m in members)
                    rule["probability"] = draw(_UNIT) * room / n_shock
                else:
                    rule["beta"] = draw(probabilities()) / n_shock
            rules.append(rule)
        for j in range(draw(st.integers(0, 1))):
            members = [c for c in ids if draw(st.booleans())] or [draw(st.sampled_from(ids))]
            member_sets.append((f"implicit{j}", members))

    comp_domains = {c: tuple(name for name, members in member_sets if c in members) for c in ids}

    def component(c: str) -> Component:
        has_latency = mode == "always" or (mode == "mixed" and draw(st.booleans()))
        lat = draw(distributions(distribution_kinds)) if has_latency else None
        err: object = "same"
        if lat is not None:
            err = draw(_error_latencies(tuple(distribution_kinds)))
        cap = None
        if capacity and draw(st.booleans()):
            cap = Capacity(replicas=draw(st.integers(1, 8)), service_time=draw(distributions(("exponential", "gamma", "constant"))))
        return Component(
            id=c,
            availability=avail[c],
            latency=lat,
            error_latency=err,  # type: ignore[arg-type]
            domains=comp_domains[c],
            kind=draw(st.sampled_from(["service", "external_dependency", "datastore"])),
            capacity=cap,
        )

    components = tuple(component(c) for c in ids)
    doms = []
    for (name, members), rule in zip(member_sets, rules):
        doms.append(
            Domain(
                name=name,
                members=tuple(members),
                model=rule["model"],
                rho=rule.get("rho", 0.0),
                latency_rho=rule.get("latency_rho", 0.0),
                probability=rule.get("probability"),
                beta=rule.get("beta"),
                kind=rule["kind"],
                confidence=rule.get("confidence"),
            )
        )
    for name, members in member_sets[len(rules) :]:
        doms.append(Domain(name=name, members=tuple(members), kind="implicit"))

    corr = None
    if correlation_matrix:
        in_gauss = {m for d in doms if d.model == "gaussian" and (d.rho > 0 or d.latency_rho > 0) for m in d.members}
        free = [c for c in ids if c not in in_gauss]
        if len(free) >= 2 and draw(st.booleans()):
            chosen = draw(st.lists(st.sampled_from(free), min_size=2, max_size=min(4, len(free)), unique=True))
            corr = CorrelationMatrix(
                components=tuple(chosen),
                matrix=draw(_correlation_matrices(len(chosen))),
                latency_matrix=draw(st.one_of(st.none(), _correlation_matrices(len(chosen)))),
            )

    avail_obj = lat_obj = None
    if objectives and draw(st.booleans()):
        avail_obj = AvailabilityObjective(target=draw(st.sampled_from([0.9, 0.99, 0.995, 0.999])), window=30 * 86400.0)
        if mode == "always":
            lat_obj = LatencyObjective(threshold=draw(durations(0.01, 5.0)), metric="p99", window=30 * 86400.0)

    return Journey(
        name=f"random-{n}",
        root=root,
        components=components,
        domains=tuple(doms),
        correlation=corr,
        availability_objective=avail_obj,
        latency_objective=lat_obj,
    )


@cache
def _error_latencies(kinds: tuple[str, ...]) -> st.SearchStrategy[object]:
    return st.one_of(st.just("same"), st.just("fast"), _distributions(kinds))


@st.composite
def _correlation_matrices(draw: st.DrawFn, n: int) -> tuple[tuple[float, ...], ...]:
    """R = B Bᵀ off the diagonal, 1 on it, rows of B with norm ≤ 0.95: PSD by construction
    (R = B Bᵀ + diag(1 − |bᵢ|²)), exactly symmetric, entries in [−0.95, 0.95]."""
    k = draw(st.integers(1, 2))
    b = np.array(draw(st.lists(st.lists(st.floats(-1.0, 1.0), min_size=k, max_size=k), min_size=n, max_size=n)))
    norms = np.linalg.norm(b, axis=1, keepdims=True)
    b = np.where(norms > 0.95, b * (0.95 / np.maximum(norms, 1e-300)), b)
    r = [[1.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i):
            r[i][j] = r[j][i] = float(np.dot(b[i], b[j]))
    return tuple(tuple(row) for row in r)
