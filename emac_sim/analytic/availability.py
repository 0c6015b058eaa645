"""Exact journey availability under independence and under correlation scenarios (DESIGN §5).

Given the request's domain state every call is independent (:mod:`.states`), so availability is
``Σ_states weight · A_indep(per-call availabilities of the state)``. ``A_indep`` is plain
probability algebra (series ∏p, parallel-any 1 − ∏(1 − p), quorum Poisson-binomial, retry
1 − (1 − p)ⁿ, ...) when latency cannot change an outcome; with timeouts or per-try timeouts and
a latency model it is the success mass of the joint (ok, t) law on the grid (:mod:`.grid`).

Shared-fate scenarios (``pessimistic``, ``sharedFateRange``) are enumerated over every subset of
the sharable domains. A scenario's value depends only on the fate groups its subset induces, so
subsets are walked depth-first, merging member sets as domains are added, and each distinct
partition is evaluated once (all partitions' states stacked into one vectorised evaluation).
Beyond :data:`EXHAUSTIVE_DOMAINS` sharable domains a coordinate descent from both ends (every
domain independent, every domain shared) flips one domain at a time while the value improves;
its results are real scenarios but the search is not exhaustive, and the output says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..model.journey import Journey, Node, Ref
from ..model.scenario import Scenario, factor_model, sharable_domains
from .grid import Grid, LatencyCuts, TreeEvaluator, cut, latency_matters, make_grid
from .states import MAX_STATES, StateChunk, StateSpace, _group_var, state_space

LatencyOk = Callable[[Node], np.ndarray]

EXHAUSTIVE_DOMAINS = 16
"""Shared-fate scenarios are enumerated exhaustively (2^D subsets) up to this many sharable domains."""

_TIE = 1e-13


# --------------------------------------------------------------------------- probability algebra


def ok_probability(node: Node, avail: np.ndarray, idx: dict[str, int], latency: LatencyOk | None = None) -> np.ndarray:
    """P(ok) of ``node`` for every row of ``avail`` (S, n_comp) of per-call success
    probabilities, calls independent. Returns (S,).

    Durations do not matter (t = 0) unless ``latency`` is given: then timeouts and per-try
    timeouts ask it for P(step ok by the deadline) (:class:`~emac_sim.analytic.grid.LatencyCuts`).
    Each operator's rule is its ``ok_probability`` (:mod:`emac_sim.operators`).
    """
    if isinstance(node, Ref):
        return avail[:, idx[node.component]]
    return node.ok_probability(lambda n: ok_probability(n, avail, idx, latency), latency)  # type: ignore[attr-defined]


def _index(j: Journey) -> dict[str, int]:
    return {c: i for i, c in enumerate(j.component_ids)}


def availability_from_states(j: Journey, space: StateSpace, cuts: LatencyCuts | None = None) -> float:
    """Exact availability as the state mixture of probability algebra (timeouts on local grids)."""
    idx = _index(j)
    lat = latency_matters(j)
    if lat and cuts is None:
        cuts = LatencyCuts(j)
    chunk = max(1, 2_000_000 // max(len(j.components), 1))
    total = 0.0
    for ch in space.chunks(chunk):
        latency = (lambda node, ch=ch: cuts.step_ok_by(node, ch, space)) if (lat and cuts is not None) else None
        total += float(ch.weights @ ok_probability(j.root, ch.avail, idx, latency))
    return float(np.clip(total, 0.0, 1.0))


def independent_availability(j: Journey) -> float:
    """All calls independent (the paper's optimistic A⁺)."""
    space = state_space(j, Scenario.independent(), grid=True)
    assert space is not None
    return availability_from_states(j, space)


def scenario_availability(j: Journey, scenario: Scenario) -> float | None:
    """Exact availability of the journey under ``scenario``.

    Parameters
    ----------
    j
        The journey.
    scenario
        From :func:`emac_sim.model.scenario.named_scenario` or built directly.

    Returns
    -------
    float or None
        P(journey ok) in [0, 1]; ``None`` when the scenario needs more gaussian factors than
        quadrature handles (3) or more domain states than are enumerated.
    """
    lat = latency_matters(j)
    space = state_space(j, scenario, latency_matters=lat, grid=lat)
    if space is None:
        return None
    return availability_from_states(j, space)


# --------------------------------------------------------------------------- shared-fate scenarios


@dataclass(frozen=True)
class SharedFateResult:
    """Min / max over shared-fate scenarios and the subsets attaining them."""

    low: float
    high: float
    low_set: frozenset[str]
    high_set: frozenset[str]
    shared_all: float
    count: int
    exhaustive: bool
    method: str
    skipped: int = 0


def _popcount(x: int) -> int:
    return bin(x).count("1")


def _merge(groups: tuple[int, ...], mask: int) -> tuple[int, ...]:
    """Merge a domain's member mask into a set of disjoint member masks."""
    merged = mask
    rest = []
    for g in groups:
        if g & merged:
            merged |= g
        else:
            rest.append(g)
    # a merged mask may now touch groups passed over earlier
    changed = True
    while changed:
        changed = False
        keep = []
        for g in rest:
            if g & merged:
                merged |= g
                changed = True
            else:
                keep.append(g)
        rest = keep
    return tuple(sorted([*rest, merged]))


def _key(groups: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(g for g in groups if _popcount(g) >= 2)


class _PartitionEvaluator:
    """Availability of the scenario whose fate groups are a given partition (memoised)."""

    def __init__(self, j: Journey) -> None:
        self.j = j
        self.idx = _index(j)
        self.lat = latency_matters(j)
        base = Scenario.shared_fate(frozenset(), "custom")
        self.base = state_space(j, base, latency_matters=self.lat, grid=self.lat)
        self.cache: dict[tuple[int, ...], float | None] = {}
        self.cuts = LatencyCuts(j) if self.lat else None

    def space_for(self, key: tuple[int, ...]) -> StateSpace | None:
        if self.base is None:
            return None
        own = self.base.own
        groups = []
        for mask in key:
            members = np.array([i for i in range(len(own)) if mask >> i & 1], dtype=np.int64)
            groups.append(_group_var(f"group{mask}", members, own))
        space = StateSpace(self.base.component_ids, own, [*groups, *self.base.variables], self.base.failure_model, self.base.latency_model, "")
        return space if space.size <= MAX_STATES else None

    def evaluate(self, keys: list[tuple[int, ...]]) -> None:
        todo = [k for k in dict.fromkeys(keys) if k not in self.cache]
        if not todo:
            return
        # stack the states of many partitions and evaluate the tree once per batch
        budget = max(1, 2_000_000 // max(len(self.j.components), 1))
        batch: list[tuple[tuple[int, ...], StateSpace]] = []
        size = 0
        for k in todo:
            space = self.space_for(k)
            if space is None:
                self.cache[k] = None
                continue
            if space.size > budget:
                self.cache[k] = availability_from_states(self.j, space, self.cuts)
                continue
            if size + space.size > budget:
                self._run(batch)
                batch, size = [], 0
            batch.append((k, space))
            size += space.size
        if batch:
            self._run(batch)

    def _run(self, batch: list[tuple[tuple[int, ...], StateSpace]]) -> None:
        chunks = [space.chunks(space.size)[0] for _, space in batch]
        latent = None if chunks[0].latent is None else np.concatenate([c.latent for c in chunks])  # type: ignore[misc]
        merged = StateChunk(np.concatenate([c.weights for c in chunks]), np.concatenate([c.avail for c in chunks]), latent)
        cuts, space0 = self.cuts, batch[0][1]
        latency = (lambda node: cuts.step_ok_by(node, merged, space0)) if cuts is not None else None
        ok = ok_probability(self.j.root, merged.avail, self.idx, latency) * merged.weights
        starts = np.cumsum([0] + [len(c.weights) for c in chunks[:-1]])
        sums = np.add.reduceat(ok, starts)
        for (k, _), v in zip(batch, sums):
            self.cache[k] = float(np.clip(v, 0.0, 1.0))


def _better(v: float, size: int, names: tuple[str, ...], best: tuple[float, int, tuple[str, ...]] | None, sign: float) -> bool:
    """Lower (sign=+1) or higher (sign=−1) value; ties by fewer shared domains, then by name."""
    if best is None:
        return True
    bv, bs, bn = best
    if sign * (v - bv) < -_TIE:
        return True
    if abs(v - bv) <= _TIE:
        return (size, names) < (bs, bn)
    return False


def shared_fate_range(j: Journey, exhaustive_limit: int = EXHAUSTIVE_DOMAINS) -> SharedFateResult | None:
    """Min and max availability over the shared-fate scenarios (docs/semantics.md "Scenarios").

    Every subset S of :func:`~emac_sim.model.scenario.sharable_domains` is a scenario: domains in
    S fully shared (fate groups), the others independent, shocks and latency correlation as
    written. Exhaustive up to ``exhaustive_limit`` sharable domains, coordinate descent beyond.
    ``None`` when no scenario can be computed (too many factors or states).
    """
    sh = sharable_domains(j)
    names = [s.name for s in sh]
    idx = _index(j)
    masks = [sum(1 << idx[m] for m in s.members) for s in sh]
    ev = _PartitionEvaluator(j)
    D = len(sh)

    def groups_of(subset: tuple[int, ...]) -> tuple[int, ...]:
        g: tuple[int, ...] = ()
        for d in subset:
            g = _merge(g, masks[d])
        return _key(g)

    full_key = groups_of(tuple(range(D)))
    if D <= exhaustive_limit:
        leaves: list[tuple[int, tuple[int, ...]]] = []  # (subset bitmask, partition key)

        def walk(d: int, subset: int, groups: tuple[int, ...]) -> None:
            if d == D:
                leaves.append((subset, _key(groups)))
                return
            walk(d + 1, subset, groups)
            walk(d + 1, subset | (1 << d), _merge(groups, masks[d]))

        walk(0, 0, ())
        ev.evaluate([k for _, k in leaves] + [full_key])
        lo_best = hi_best = None
        skipped = 0
        for subset, k in leaves:
            v = ev.cache[k]
            if v is None:
                skipped += 1
                continue
            chosen = tuple(sorted(names[d] for d in range(D) if subset >> d & 1))
            if _better(v, len(chosen), chosen, lo_best, +1.0):
                lo_best = (v, len(chosen), chosen)
            if _better(v, len(chosen), chosen, hi_best, -1.0):
                hi_best = (v, len(chosen), chosen)
        if lo_best is None or hi_best is None:
            return None
        distinct = len({k for _, k in leaves})
        method = f"exhaustive: {len(leaves)} scenarios (2^{D} subsets of sharable domains), {distinct} distinct fate-group partitions"
        if skipped:
            method += f"; {skipped} scenario(s) not computable and left out"
        full = ev.cache.get(full_key)
        return SharedFateResult(
            lo_best[0],
            hi_best[0],
            frozenset(lo_best[2]),
            frozenset(hi_best[2]),
            full if full is not None else float("nan"),
            len(leaves),
            skipped == 0,
            method,
            skipped,
        )

    # coordinate descent beyond the exhaustive limit
    seen: dict[int, float | None] = {}

    def value(subset: int) -> float | None:
        if subset not in seen:
            key = groups_of(tuple(d for d in range(D) if subset >> d & 1))
            ev.evaluate([key])
            seen[subset] = ev.cache[key]
        return seen[subset]

    def descend(sign: float) -> tuple[float, int] | None:
        starts = [s for s in (0, (1 << D) - 1) if value(s) is not None]
        if not starts:
            return None
        cur = min(starts, key=lambda s: sign * value(s))  # type: ignore[operator]
        cur_v = value(cur)
        assert cur_v is not None
        for _ in range(50):
            improved = False
            for d in range(D):
                cand = cur ^ (1 << d)
                v = value(cand)
                if v is not None and sign * (v - cur_v) < -_TIE:
                    cur, cur_v, improved = cand, v, True
            if not improved:
                break
        return cur_v, cur

    lo = descend(+1.0)
    hi = descend(-1.0)
    if lo is None or hi is None:
        return None

    def names_of(subset: int) -> frozenset[str]:
        return frozenset(names[d] for d in range(D) if subset >> d & 1)

    full = value((1 << D) - 1)
    method = (
        f"coordinate descent (not exhaustive): {D} sharable domains > {exhaustive_limit}; "
        f"{len(seen)} scenarios evaluated, each value a real scenario, the true range may be wider"
    )
    return SharedFateResult(lo[0], hi[0], names_of(lo[1]), names_of(hi[1]), full if full is not None else float("nan"), len(seen), False, method)


def pessimistic_shared(j: Journey) -> frozenset[str]:
    """The set of sharable domains whose full sharing attains the ``pessimistic`` bound.

    Ties (equal availability within 1e-13) go to the smallest set, then the alphabetically first.
    For the paper's checkout: ``{"payment-network"}``.
    """
    r = shared_fate_range(j)
    if r is None:
        raise ValueError("no shared-fate scenario is computable for this journey")
    return r.low_set


# --------------------------------------------------------------------------- declared


def declared_availability(j: Journey) -> tuple[float | None, str]:
    """Availability under the correlation as written, with a description of the method.

    Shock domains by conditioning on outage states; gaussian domains (and an explicit matrix) by
    Gauss–Hermite quadrature over their factors, at most 3 factors (``None`` beyond);
    magnitude-free domains are independent here.
    """
    sc = Scenario.declared()
    lat = latency_matters(j)
    space = state_space(j, sc, latency_matters=lat, grid=lat)
    loose = [d.name for d in j.domains if d.model == "none" and len(d.members) > 1]
    suffix = f"; magnitude-free domains independent ({', '.join(loose)})" if loose else ""
    if space is None:
        k = factor_model(j, sc).n_factors + (factor_model(j, sc, latency=True).n_factors if lat else 0)
        return None, f"not computable: {k} gaussian factors (quadrature handles at most 3) or too many domain states{suffix}"
    value = availability_from_states(j, space)
    return value, f"exact: {space.method}{suffix}"


# --------------------------------------------------------------------------- importance, amplification


BIRNBAUM_BUDGET = 50_000_000
"""Exact Birnbaum importance is computed when (domain states) × (components) × (components called)
stays below this; beyond it the engine estimates it by Monte Carlo."""


def birnbaum_importance(j: Journey, scenario: Scenario | None = None) -> dict[str, float] | None:
    """Birnbaum importance ``A(cᵢ always up) − A(cᵢ always down)`` per component, exact.

    Every call of the component is forced (shock outages and fate groups included); the latency
    model is kept. ``scenario`` defaults to ``independent``. Returns ``None`` when the scenario's
    domain states cannot be enumerated (more gaussian factors than quadrature handles) or the
    work would exceed :data:`BIRNBAUM_BUDGET`.
    """
    sc = scenario if scenario is not None else Scenario.independent()
    lat = latency_matters(j)
    space = state_space(j, sc, latency_matters=lat, grid=lat)
    ids = j.component_ids
    used = set(j.root.refs())
    if space is None or space.size * len(ids) * max(len(used), 1) > BIRNBAUM_BUDGET:
        return None
    idx = _index(j)
    cuts = LatencyCuts(j) if lat else None
    chunk = max(1, 2_000_000 // max(len(ids), 1))
    out: dict[str, float] = {}
    for i, c in enumerate(ids):
        if c not in used:
            out[c] = 0.0
            continue
        value = {}
        for forced in (1.0, 0.0):
            total = 0.0
            for ch in space.chunks(chunk):
                avail = ch.avail.copy()
                avail[:, i] = forced
                fch = StateChunk(ch.weights, avail, ch.latent)
                latency = (lambda node, fch=fch: cuts.step_ok_by(node, fch, space)) if cuts is not None else None
                total += float(ch.weights @ ok_probability(j.root, avail, idx, latency))
            value[forced] = total
        out[c] = float(value[1.0] - value[0.0])
    return out


class CallsContext:
    """What operators' ``expected_calls`` rules ask for: P(ok) of a subtree, and P(ok and done by a
    time) when durations decide what runs (``lat``: the journey has a latency model and some node
    uses time)."""

    def __init__(self, j: Journey, grid: Grid | None) -> None:
        self.j = j
        self.idx = _index(j)
        self.lat = j.latency_modelled and any(not n.is_leaf and n.uses_time() for n in j.root.walk())  # type: ignore[attr-defined]
        self.avail = np.array([[c.availability for c in j.components]])
        self.laws: dict[int, Any] = {}
        self.grid = None
        if self.lat:
            self.grid = grid or make_grid(j)
            ev = TreeEvaluator(j, self.grid, record=True)
            ev.evaluate(StateChunk(np.ones(1), self.avail, None))
            self.laws = ev.laws

    def p_ok(self, node: Node) -> float:
        if self.lat:
            return float(self.laws[id(node)].ok[0])
        return float(ok_probability(node, self.avail, self.idx)[0])

    def p_ok_by(self, node: Node, seconds: float) -> float:
        """P(ok and done by ``seconds``), the mass inside the last cell taken uniform."""
        if not self.lat:
            return self.p_ok(node)
        assert self.grid is not None
        k, keep = self.grid.threshold(seconds)
        s = self.laws[id(node)].s[0]
        return float(s[: min(k, len(s))].sum()) + (keep * float(s[k]) if k < len(s) else 0.0)

    def p_ok_cut(self, node: Node, seconds: float) -> float:
        """P(ok and done by ``seconds``) as a per-try timeout cuts it (:func:`.grid.cut`)."""
        if not self.lat:
            return self.p_ok(node)
        assert self.grid is not None
        return float(cut(self.laws[id(node)], *self.grid.threshold(seconds)).ok[0])


def call_amplification(j: Journey, grid: Grid | None = None) -> dict[str, float]:
    """Expected calls per journey of each component under independence (docs/semantics.md).

    A subtree's calls are counted when it runs: series steps after all earlier ones succeeded,
    fallback branches after all earlier failed, retry attempts after failed attempts (a per-try
    timeout counts as a failure), hedged branch j when no earlier branch succeeded by ``j·h``,
    choice branches by weight, optional steps by probability, timeout steps always (each
    operator's ``expected_calls``).
    """
    ids = j.component_ids
    ctx = CallsContext(j, grid)

    def calls(node: Node) -> np.ndarray:
        if isinstance(node, Ref):
            out = np.zeros(len(ids))
            out[ctx.idx[node.component]] = 1.0
            return out
        return node.expected_calls(calls, ctx)  # type: ignore[attr-defined]

    v = calls(j.root)
    return {c: float(v[i]) for i, c in enumerate(ids)}
