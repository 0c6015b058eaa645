"""Operator-tree inference from call timings (DESIGN §8).

Input: for one *context* (the calls a journey's entry point makes, or the calls one component
makes downstream), one **occurrence** per trace: the calls in the caller's view, and whether the
context finished ok. Output: an operator tree (:class:`INode`, convertible to the model IR) whose
every inferred field carries an :class:`~emac_sim.discover.stats.Evidence`.

The steps, per context:

1. **Series/parallel per occurrence.** Calls are cut into *stages* where nothing in flight
   overlaps the next call (a series boundary); a stage of several overlapping calls is a *block*
   whose branches are the groups of calls ordered one after another (comparability components
   of the interval order), decomposed recursively. Timing that is not series-parallel (an
   N-shaped overlap) makes every call its own branch and counts as an anomaly.
2. **Hedges.** A branch that starts a constant delay h > 0 after the block's first branch is a
   hedged request; when the first call failed before h, the hedge shows up as a separate later
   call at the same offset and is merged back into the block.
3. **Runs.** Consecutive stages with the same label (same component, or same block shape) are
   one *run*: a **retry** when the calls before the last failed, a **repeat** (N+1 query
   pattern) when they succeeded; the repeat count is the run length of fully successful runs.
4. **Alignment.** Label sequences (distinct variants, most frequent first) are aligned
   progressively to a growing template of *slots* (longest common subsequence; labels match when
   their head components overlap). Each slot is inferred on its own: ``ref`` (plus the
   component's own downstream calls), ``retry``/``repeat``, or a block: ``parallel`` with join
   ``all`` (the caller waited for every branch), ``any``/``quorum k`` (the caller stopped waiting
   — cancelled the rest — after k successes) or a hedged ``race``.
5. **Presence.** A trace *reaches* a slot when it completed ok or has a call at or after it
   (series semantics stop at a failure, so absence after a failure is not evidence). A slot
   present in every trace that reached it is mandatory. A partial slot present exactly when the
   slot before it failed is a **fallback**. Other partial slots group by identical presence:
   mutually exclusive groups form a **choice** (weights = counts), the rest are **optional**
   (probability = present / reached).
6. **Deadlines.** A call whose client span ended before its server span, with no sibling success
   explaining it, was cut by a deadline: a constant cut offset from the call's start is a
   ``timeout`` (inside a retry: ``perTryTimeout``); from the start of a block or of the whole
   context, a ``timeout`` around it.

Tolerances: two times are "the same" within ``max(1 µs, 1 % of the value)``; a backoff is
reported only when the median gap between attempts is at least 1 ms.
"""

from __future__ import annotations

import bisect
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from ..model.groups import connected_groups
from ..model.journey import Node, Ref
from ..operators import Backoff, Choice, Fallback, Optional, Parallel, Race, Repeat, Retry, Series, Timeout
from .calls import Call
from .stats import Evidence, wilson

NS = 1e-9
BACKOFF_MIN_NS = 1_000_000
HEDGE_WINDOW = 16  # a hedged request is looked for among the 16 branches issued next


def _tol(v: float) -> float:
    return max(1_000.0, 0.01 * abs(v))


def _constant(values: list[float]) -> tuple[bool, float, float]:
    """(values agree within tolerance, median, share within tolerance of the median)."""
    if not values:
        return False, 0.0, 0.0
    med = float(statistics.median(values))
    tol = _tol(med)
    share = sum(abs(v - med) <= tol for v in values) / len(values)
    return share >= 0.95, med, share


# --------------------------------------------------------------------------- tokens


class Tok:
    """A stage of an occurrence: a call (leaf), a block of concurrent branches, or a run."""

    __slots__ = ("kind", "call", "branches", "members", "start", "end", "heads", "units", "mode", "nonsp")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.call: Call | None = None
        self.branches: list[list[Tok]] = []
        self.members: list[Tok] = []
        self.units: list[tuple[frozenset, int]] | None = None
        self.mode: str | None = None
        self.nonsp = False

    @property
    def label(self) -> tuple:
        if self.kind == "leaf":
            assert self.call is not None
            return ("L", self.call.key)
        if self.kind == "run":
            return self.members[0].label
        return ("B", self.heads)

    def calls(self) -> list[Call]:
        if self.kind == "leaf":
            assert self.call is not None
            return [self.call]
        if self.kind == "run":
            return [c for m in self.members for c in m.calls()]
        return [c for b in self.branches for t in b for c in t.calls()]

    def example(self) -> str:
        c = self.calls()[0]
        return f"{c.trace}/{c.span}"


_HEADS: dict[str, frozenset] = {}


def leaf(c: Call) -> Tok:
    t = Tok("leaf")
    t.call = c
    t.start, t.end = c.start, c.end
    h = _HEADS.get(c.key)
    if h is None:
        h = _HEADS[c.key] = frozenset((c.key,))
    t.heads = h
    return t


def block(branches: list[list[Tok]]) -> Tok:
    t = Tok("block")
    t.branches = sorted(branches, key=lambda b: (b[0].start, min(b[0].heads)))
    t.start = min(b[0].start for b in branches)
    t.end = max(x.end for b in branches for x in b)
    t.heads = frozenset(h for b in branches for h in b[0].heads)
    return t


def run(members: list[Tok]) -> Tok:
    t = Tok("run")
    t.members = members
    t.start, t.end = members[0].start, members[-1].end
    t.heads = members[0].heads
    return t


def seq_ok(seq: list[Tok]) -> bool:
    """A sequence is ok when its last stage is (earlier failures would have stopped it)."""
    return bool(seq) and tok_ok(seq[-1])


def tok_ok(t: Tok) -> bool:
    """Outcome of a stage as the caller saw it, using the slot's inferred semantics when set."""
    if t.kind == "leaf":
        assert t.call is not None
        return t.call.vok
    if t.kind == "run":
        if t.mode == "repeat":
            return all(tok_ok(m) for m in t.members)
        return tok_ok(t.members[-1])
    if t.units is None:
        oks = [seq_ok(b) for b in t.branches]
        cut = any(c.cut for c in t.calls())
        return sum(oks) >= (1 if cut else len(t.branches))
    keys = _branch_keys(t)
    for members, k in t.units:
        brs = [b for bk, b in zip(keys, t.branches) if bk in members]
        if brs and sum(seq_ok(b) for b in brs) < min(k, len(brs)):
            return False
    return True


EXACT_NS = 10  # "the same instant" for timestamps written by a simulator (10 ns; float rounding is ~1 ns)


def timing_is_exact(call_lists: list[list[Call]]) -> bool:
    """True when, in ≥ 80 % of cases, a call that does not start with the first call of its
    trace starts within 1 µs of the end of an earlier call: simulator output, where causal links
    can be read from equal timestamps."""
    exact = total = 0
    for calls in call_lists:
        cs = sorted(calls, key=lambda c: (c.start, c.end))
        if not cs:
            continue
        t0 = cs[0].start
        ends: list[int] = []
        for c in cs:
            if c.start - t0 > EXACT_NS:
                total += 1
                i = bisect.bisect_left(ends, c.start - EXACT_NS)
                exact += i < len(ends) and ends[i] <= c.start + EXACT_NS
            bisect.insort(ends, c.end)
        if total >= 5000:
            break
    return total > 0 and exact >= 0.8 * total


def decompose(calls: list[Call], exact: bool = False) -> list[Tok]:
    """Series of stages for one occurrence (step 1 of the module docs)."""
    calls = sorted(calls, key=lambda c: (c.start, c.end))
    groups: list[list[Call]] = []
    cur_end = None
    for c in calls:
        g = groups[-1] if groups else None
        if g is not None and cur_end is not None and c.start < cur_end:
            g.append(c)
            cur_end = max(cur_end, c.end)
        else:
            groups.append([c])
            cur_end = c.end
    out = []
    for g in groups:
        if len(g) == 1:
            out.append(leaf(g[0]))
            continue
        parts = _causal_branches(g) if exact else []
        if len(parts) < 2:
            parts = _comparability_branches(g)
        if len(parts) < 2:
            b = block([[leaf(c)] for c in g])
            b.nonsp = True
            out.append(b)
        else:
            out.append(block([decompose(cs, exact) for cs in parts]))
    return out


def _causal_branches(g: list[Call]) -> list[list[Call]]:
    """Branches of a block from exact timestamps: a call starting when an earlier call of the
    block ended continues that call's branch (the latest such end; the first call on a tie); any
    other call starts a branch of its own. Earlier calls are found by bisection on their ends, so
    a block of n calls costs O(n log n)."""
    t0 = g[0].start
    by_end = sorted(range(len(g)), key=lambda j: (g[j].end, j))
    ends = [g[j].end for j in by_end]
    failed: dict[str, list[int]] = defaultdict(list)  # per component, earlier failed calls
    branch_of: list[int] = []
    branches: list[list[Call]] = []
    for i, c in enumerate(g):
        pred = None
        if c.start - t0 > EXACT_NS:
            # an earlier call that ended within EXACT_NS before (or at) this start
            lo = bisect.bisect_left(ends, c.start - EXACT_NS)
            hi = bisect.bisect_right(ends, c.start + EXACT_NS)
            for x in range(hi - 1, lo - 1, -1):
                if by_end[x] < i:
                    while x > lo and ends[x - 1] == ends[x]:
                        x -= 1
                    pred = by_end[x]
                    break
            if pred is None:
                # a retry after a backoff: the last earlier failed call of the same component
                for j in reversed(failed.get(c.key, ())):
                    if g[j].end <= c.start:
                        pred = j
                        break
        if pred is None:
            branch_of.append(len(branches))
            branches.append([c])
        else:
            branch_of.append(branch_of[pred])
            branches[branch_of[pred]].append(c)
        if not c.vok:
            failed[c.key].append(i)
    return branches


def _comparability_branches(g: list[Call]) -> list[list[Call]]:
    """Branches as the components of 'one ended before the other started' (timing only).

    In linear time: with ``a`` the interval that ends first and ``b`` the one that starts last,
    either ``a`` ends after ``b`` starts, and then every two intervals overlap (no links at all),
    or ``a`` and ``b`` are linked, every interval linked to anything is linked to ``a`` or to
    ``b``, and an interval linked to neither overlaps every other one (it ends after ``b`` starts
    and starts before ``a`` ends). Zero-length ties fall back to the pairwise test.
    """

    def disjoint(i: int, j: int) -> bool:
        return g[i].end <= g[j].start or g[j].end <= g[i].start

    n = len(g)
    a = min(range(n), key=lambda i: (g[i].end, i))
    b = max(range(n), key=lambda i: (g[i].start, -i))
    if a != b and not disjoint(a, b):
        return [[c] for c in g]
    if a == b:
        groups = connected_groups(n, disjoint)
    else:
        linked = [i for i in range(n) if i in (a, b) or disjoint(a, i) or disjoint(b, i)]
        alone = set(range(n)).difference(linked)
        groups = sorted([linked] + [[i] for i in alone], key=lambda grp: grp[0])
    return [[g[i] for i in grp] for grp in groups]


# --------------------------------------------------------------------------- inferred tree


@dataclass
class INode:
    """An inferred operator with its evidence; ``build()`` gives the model IR node."""

    op: str
    kids: list[INode] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    ev: Evidence | None = None

    def build(self) -> Node:
        k = [c.build() for c in self.kids]
        p = self.params
        if self.op == "ref":
            return Ref(component=p["component"])
        if self.op == "series":
            return Series(steps=tuple(k))
        if self.op == "parallel":
            return Parallel(branches=tuple(k), join=p.get("join", "all"), k=p.get("k"))
        if self.op == "race":
            return Race(branches=tuple(k), hedge_delay=p.get("hedgeDelay", 0.0))
        if self.op == "fallback":
            return Fallback(branches=tuple(k))
        if self.op == "retry":
            return Retry(step=k[0], attempts=p["attempts"], per_try_timeout=p.get("perTryTimeout"), backoff=p.get("backoff", Backoff()))
        if self.op == "timeout":
            return Timeout(step=k[0], deadline=p["deadline"])
        if self.op == "choice":
            return Choice(branches=tuple(k), weights=tuple(p["weights"]))
        if self.op == "optional":
            return Optional(step=k[0], probability=p["probability"])
        if self.op == "repeat":
            return Repeat(step=k[0], count=p["count"])
        raise ValueError(self.op)

    def fields(self, path: str = "spec.operator") -> dict[str, Evidence]:
        """Evidence per operator path (``spec.operator.steps[2].branches[1]``), as dumped."""
        out: dict[str, Evidence] = {}
        if self.ev is not None:
            out[path] = self.ev
        if self.op == "series":
            names = [f"{path}.steps[{i}]" for i in range(len(self.kids))]
        elif self.op in ("parallel", "race", "fallback", "choice"):
            names = [f"{path}.branches[{i}]" for i in range(len(self.kids))]
            if self.op == "choice":
                names = [f"{n}.step" for n in names]
        else:
            names = [f"{path}.step"] * len(self.kids)
        for kid, nm in zip(self.kids, names):
            out.update(kid.fields(nm))
        return out


def tree_size(n: INode) -> int:
    """Nodes in the tree as written (shared subtrees counted at every place they appear)."""
    return 1 + sum(tree_size(k) for k in n.kids)


def series_of(nodes: list[INode], ev: Evidence | None = None) -> INode:
    flat: list[INode] = []
    for n in nodes:
        if n.op == "series" and n.ev is None:
            flat.extend(n.kids)
        else:
            flat.append(n)
    if len(flat) == 1 and ev is None:
        return flat[0]
    return INode("series", flat, ev=ev)


# --------------------------------------------------------------------------- context


@dataclass
class Occ:
    """One occurrence of a context: its stages, whether it completed ok, its trace id."""

    toks: list[Tok]
    completed: bool
    trace: str


@dataclass
class Slot:
    heads: frozenset
    items: list[tuple[int, Tok]] = field(default_factory=list)
    node: INode | None = None


class Inference:
    """Journey-wide state: downstream calls per component, anomalies, counts."""

    def __init__(self, calls_by_key: dict[str, list[Call]], n_traces: int, confidence: float = 0.95, exact: bool = False, max_depth: int = 8) -> None:
        self.calls_by_key = calls_by_key
        self.exact = exact
        self.max_depth = max_depth
        self.black_box: set[str] = set()  # components modelled with their downstream calls inside
        self.n_traces = n_traces
        self.confidence = confidence
        self.anomalies: Counter[str] = Counter()
        self.anomalous_traces: set[str] = set()
        self._downstream: dict[str, INode | None] = {}
        self._stack: list[str] = []
        self.notes: list[str] = []
        self.explained: set[int] = set()  # ids of calls cut because a sibling succeeded

    @property
    def expanded(self) -> bool:
        """True when some component's downstream calls were expanded into the tree."""
        return any(v is not None for v in self._downstream.values())

    def _same(self, elapsed: float) -> float:
        """Tolerance for "the same instant": 1 µs for simulator output, else 1 % of the elapsed time."""
        return EXACT_NS if self.exact else _tol(elapsed)

    def anomaly(self, what: str, traces: list[str] | set[str] = ()) -> None:
        self.anomalies[what] += 1
        self.anomalous_traces.update(traces)

    # ------------------------------------------------------------------ components

    def ref(self, key: str, items: list[tuple[int, Tok]]) -> INode:
        n = len(items)
        timed = sum(1 for _, t in items if t.call is not None and t.call.timed)
        node = INode("ref", params={"component": key}, ev=Evidence(n, timed / n if n else 0.0, 1.0, [t.example() for _, t in items[:3]], what="call"))
        down = self.downstream(key)
        if down is None:
            return node
        kids = [node] + (down.kids if down.op == "series" else [down])
        ev = Evidence(n, 1.0, 1.0, [t.example() for _, t in items[:3]], what=f"{key} and the calls it makes")
        return INode("series", kids, ev=ev)

    def downstream(self, key: str) -> INode | None:
        if key in self._downstream:
            return self._downstream[key]
        calls = self.calls_by_key.get(key, [])
        if not any(c.children for c in calls):
            self._downstream[key] = None
            return None
        if key in self._stack or len(self._stack) >= self.max_depth:
            self.black_box.add(key)
            return None
        self._stack.append(key)
        occs = [Occ(decompose(c.children, self.exact), c.vok, c.trace) for c in calls]
        node = self.sequence(occs)
        self._stack.pop()
        self._downstream[key] = node
        return node

    # ------------------------------------------------------------------ sequences

    def sequence(self, occs: list[Occ]) -> INode | None:
        """Operator for a context's occurrences (steps 2–6 of the module docs)."""
        if not occs or not any(o.toks for o in occs):
            return None
        for o in occs:
            if any(t.kind == "block" and t.nonsp for t in o.toks):
                self.anomaly("non-series-parallel timing", [o.trace])
        _merge_fast_failures(occs)
        hedges = _merge_hedges(occs)
        _attach_followers(occs, hedges, self.exact)
        for o in occs:
            o.toks = _collapse_runs(o.toks)
        slots = _align(occs)
        pos = {id(s): i for i, s in enumerate(slots)}
        # per occurrence: slot index of each present token
        present: list[dict[int, Tok]] = [dict() for _ in occs]
        for s in slots:
            for oi, t in s.items:
                present[oi][pos[id(s)]] = t
        for s in slots:
            s.node = self.slot(s.items)
        last = [max(p) if p else -1 for p in present]

        def reached(oi: int, si: int) -> bool:
            return occs[oi].completed or si <= last[oi]

        m = len(slots)
        reach = [[oi for oi in range(len(occs)) if reached(oi, si)] for si in range(m)]
        is_present = [[si in present[oi] for oi in range(len(occs))] for si in range(m)]
        mandatory = [bool(reach[si]) and all(is_present[si][oi] for oi in reach[si]) for si in range(m)]
        # slots never reached with a call present cannot happen; slots reached but never present do not exist
        steps: list[INode] = []
        si = 0
        while si < m:
            if mandatory[si]:
                # fallback chain: following partial slots present exactly when the previous failed
                chain = [si]
                while chain[-1] + 1 < m and not mandatory[chain[-1] + 1] and self._is_fallback(chain[-1], chain[-1] + 1, reach, is_present, present):
                    chain.append(chain[-1] + 1)
                if len(chain) > 1:
                    steps.append(self._fallback(chain, slots, reach, is_present, present))
                    si = chain[-1] + 1
                    continue
                node = slots[si].node
                assert node is not None
                steps.append(node)
                si += 1
                continue
            sj = si
            while sj < m and not mandatory[sj]:
                sj += 1
            steps.extend(self._partial_group(list(range(si, sj)), slots, reach, is_present, occs))
            si = sj
        node = series_of(steps)
        if len(steps) > 1:
            ordered = len(occs) - sum(1 for o in occs if o.trace in self.anomalous_traces)
            node.ev = Evidence(len(occs), 1.0, ordered / len(occs), [o.trace for o in occs[:3]], what="series order")
        return node

    def _is_fallback(self, s: int, t: int, reach, is_present, present) -> bool:
        scope = reach[t]
        if not scope:
            return False
        agree = 0
        hits = 0
        for oi in scope:
            s_failed = is_present[s][oi] and not tok_ok(present[oi][s])
            if is_present[t][oi] == s_failed:
                agree += 1
            hits += is_present[t][oi]
        return hits > 0 and agree == len(scope)

    def _fallback(self, chain: list[int], slots: list[Slot], reach, is_present, present) -> INode:
        kids = []
        for si in chain:
            node = slots[si].node
            assert node is not None
            kids.append(node)
        tried = [sum(1 for oi in reach[si] if is_present[si][oi]) for si in chain]
        ex = [t.example() for si in chain[1:] for _, t in slots[si].items[:2]]
        ev = Evidence(tried[1], 1.0, 1.0, ex, {"tried": tried}, what="fallback (alternative called only after the previous one failed)")
        return INode("fallback", kids, ev=ev)

    def _partial_group(self, idx: list[int], slots: list[Slot], reach, is_present, occs: list[Occ]) -> list[INode]:
        """Choice / optional structure of consecutive partial slots."""
        last = idx[-1]
        scope = reach[last] or reach[idx[0]]
        vec = {si: tuple(is_present[si][oi] for oi in scope) for si in idx}
        classes: dict[tuple, list[int]] = {}
        for si in idx:
            classes.setdefault(vec[si], []).append(si)
        cls = list(classes.items())
        # exclusion graph between classes: an edge when never present together
        k = len(cls)
        excl = [[all(not (a and b) for a, b in zip(cls[i][0], cls[j][0])) for j in range(k)] for i in range(k)]
        groups: list[list[int]] = []
        seen: set[int] = set()
        for i in range(k):
            if i in seen:
                continue
            comp = [i]
            seen.add(i)
            for j in range(i + 1, k):
                if j not in seen and all(excl[j][c] for c in comp):
                    comp.append(j)
                    seen.add(j)
            groups.append(comp)
        out: list[tuple[int, INode]] = []
        first_scope = reach[idx[0]]
        for g in groups:
            members = [cls[c][1] for c in g]
            branch_nodes = []
            counts = []
            for sl in members:
                nodes = [slots[si].node for si in sl]
                branch_nodes.append(series_of([n for n in nodes if n is not None]))
                counts.append(sum(1 for oi in reach[sl[0]] if is_present[sl[0]][oi]))
            ex = [t.example() for sl in members for _, t in slots[sl[0]].items[:2]]
            if len(members) == 1:
                sl = members[0]
                n_reach = len(reach[sl[0]])
                p = counts[0] / n_reach if n_reach else 0.0
                lo, hi = wilson(counts[0], n_reach, self.confidence)
                ev = Evidence(
                    n_reach, 1.0, 1.0, ex, {"probability": p, "interval": [lo, hi], "present": counts[0], "reached": n_reach}, what="optional step"
                )
                out.append((sl[0], INode("optional", [branch_nodes[0]], {"probability": p}, ev)))
                continue
            n_scope = len(first_scope)
            total = sum(counts)
            both = sum(1 for oi in first_scope if sum(is_present[sl[0]][oi] for sl in members) > 1)
            agreement = 1.0 - both / n_scope if n_scope else 0.0
            order = sorted(range(len(counts)), key=lambda i: -counts[i])
            counts = [counts[i] for i in order]
            branch_nodes = [branch_nodes[i] for i in order]
            weights = [c / total for c in counts] if total else [1.0 / len(counts)] * len(counts)
            intervals = [list(wilson(c, total, self.confidence)) for c in counts]
            ev = Evidence(total, 1.0, agreement, ex, {"weights": weights, "intervals": intervals, "counts": counts}, what="choice (routing weights)")
            node = INode("choice", branch_nodes, {"weights": weights}, ev)
            if total < n_scope:
                p = total / n_scope
                lo, hi = wilson(total, n_scope, self.confidence)
                node = INode(
                    "optional",
                    [node],
                    {"probability": p},
                    Evidence(n_scope, 1.0, 1.0, ex, {"probability": p, "interval": [lo, hi]}, what="optional choice"),
                )
            out.append((members[0][0], node))
        out.sort(key=lambda x: x[0])
        return [n for _, n in out]

    # ------------------------------------------------------------------ slots

    def slot(self, items: list[tuple[int, Tok]]) -> INode:
        toks = [t for _, t in items]
        if any(t.kind == "run" for t in toks):
            return self._run_slot(items)
        if any(t.kind == "block" for t in toks):
            return self._block_slot(items)
        return self._leaf_slot(items)

    def _leaf_slot(self, items: list[tuple[int, Tok]], allow_timeout: bool = True) -> INode:
        keys = Counter(t.call.key for _, t in items if t.call is not None)
        key = keys.most_common(1)[0][0]
        if len(keys) > 1:
            self.anomaly("different components aligned to one step")
        node = self.ref(key, items)
        cut = [t for _, t in items if t.call is not None and t.call.cut and id(t.call) not in self.explained]
        if cut and allow_timeout:
            const, d, share = _constant([t.end - t.start for t in cut])
            if const:
                ev = Evidence(
                    len(cut),
                    1.0,
                    share,
                    [t.example() for t in cut[:3]],
                    {"deadlineSeconds": d * NS, "cutCalls": len(cut)},
                    what="timeout (client gave up)",
                )
                return INode("timeout", [node], {"deadline": d * NS}, ev)
            self.anomaly("calls cut at varying times", {t.call.trace for t in cut if t.call is not None})
        return node

    def _run_slot(self, items: list[tuple[int, Tok]]) -> INode:
        runs = [(oi, t if t.kind == "run" else run([t])) for oi, t in items]
        non_final = [m for _, r in runs for m in r.members[:-1]]
        fails = sum(1 for m in non_final if not tok_ok(m))
        mode = "retry" if non_final and fails * 2 >= len(non_final) else "repeat"
        agree = (fails if mode == "retry" else len(non_final) - fails) / len(non_final) if non_final else 1.0
        for _, r in runs:
            r.mode = mode
        flat = [(oi, m) for oi, r in runs for m in r.members]
        ex = [r.example() for _, r in runs if len(r.members) > 1][:3]
        if mode == "repeat":
            inner = self.slot(flat)
            full = Counter(len(r.members) for _, r in runs if all(tok_ok(m) for m in r.members))
            if not full:
                full = Counter({max(len(r.members) for _, r in runs): 1})
            if len(full) == 1:
                cnt = next(iter(full))
                ev = Evidence(len(runs), 1.0, agree, ex, {"count": cnt}, what="repeat (same call N times in a row)")
                return inner if cnt == 1 else INode("repeat", [inner], {"count": cnt}, ev)
            self.notes.append(f"repeat count of {inner.params.get('component', inner.op)} varies between traces: {dict(sorted(full.items()))}")
            total = sum(full.values())
            counts = sorted(full.items())
            kids = [inner if c == 1 else INode("repeat", [inner], {"count": c}) for c, _ in counts]
            weights = [w / total for _, w in counts]
            ev = Evidence(
                total,
                1.0,
                agree,
                ex,
                {
                    "counts": {str(c): w for c, w in counts},
                    "weights": weights,
                    "intervals": [list(wilson(w, total, self.confidence)) for _, w in counts],
                },
                what="choice of repeat counts (data-dependent N)",
            )
            return INode("choice", kids, {"weights": weights}, ev)
        # retry: a cut attempt at a constant offset from its own start is a per-try timeout
        leaf_attempts = all(t.kind == "leaf" for _, t in flat)
        cut = [m for _, m in flat if m.kind == "leaf" and m.call is not None and m.call.cut and id(m.call) not in self.explained]
        ptt = None
        if cut and leaf_attempts:
            const, d, share = _constant([m.end - m.start for m in cut])
            if const:
                ptt = d * NS
        inner = self._leaf_slot(flat, allow_timeout=False) if leaf_attempts else self.slot(flat)
        attempts = max(len(r.members) for _, r in runs)
        exhausted = sum(1 for _, r in runs if len(r.members) == attempts and not tok_ok(r.members[-1]))
        gaps: dict[int, list[float]] = defaultdict(list)
        for _, r in runs:
            for i in range(1, len(r.members)):
                gaps[i].append(r.members[i].start - r.members[i - 1].end)
        backoff = Backoff()
        if gaps.get(1):
            g1 = float(statistics.median(gaps[1]))
            if g1 >= BACKOFF_MIN_NS:
                mult = 1.0
                if gaps.get(2):
                    mult = max(1.0, float(statistics.median(gaps[2])) / g1)
                backoff = Backoff(initial=g1 * NS, multiplier=round(mult, 6))
        values: dict = {
            "attempts": attempts,
            "attemptsAtLeast": exhausted == 0,
            "runs": len(runs),
            "retriedRuns": sum(1 for _, r in runs if len(r.members) > 1),
        }
        if ptt is not None:
            values["perTryTimeoutSeconds"] = ptt
        if backoff.initial:
            values["backoff"] = {"initial": backoff.initial, "multiplier": backoff.multiplier}
        ev = Evidence(len(runs), 1.0, agree, ex, values, what="retry (same call repeated after a failure)")
        if exhausted == 0:
            self.notes.append(f"retry attempts of {inner.params.get('component', inner.op)} is a lower bound: no trace exhausted {attempts} attempts")
        params: dict = {"attempts": attempts, "backoff": backoff}
        if ptt is not None:
            params["perTryTimeout"] = ptt
        return INode("retry", [inner], params, ev)

    def _block_slot(self, items: list[tuple[int, Tok]]) -> INode:
        blocks: list[tuple[int, Tok]] = [(oi, t if t.kind == "block" else block([[t]])) for oi, t in items]
        by_head: dict[str, list[tuple[int, list[Tok], float, Tok]]] = defaultdict(list)
        for oi, b in blocks:
            for bk, br in zip(_branch_keys(b), b.branches):
                by_head[bk].append((oi, br, br[0].start - b.start, b))
        heads = sorted(by_head, key=lambda h: (statistics.median(x[2] for x in by_head[h]), h))
        # which branches stop each other: a branch cut exactly when another one succeeded
        parent = {h: h for h in heads}

        def find(x: str) -> str:
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        timeouts: list[tuple[Tok, float]] = []
        links: Counter[tuple[str, str]] = Counter()
        cut_blocks: list[set[str]] = []  # branch keys of each block with a cut branch
        for _, b in blocks:
            if len(b.branches) < 2:
                if _branch_cut(b.branches[0]) and b.kind == "block":
                    timeouts.append((b, b.end - b.start))
                    self.explained.update(id(c) for c in b.branches[0][-1].calls() if c.cut)
                continue
            cut = [br for br in b.branches if _branch_cut(br)]
            if not cut:
                continue
            bkeys = {id(br): k for k, br in zip(_branch_keys(b), b.branches)}
            cut_blocks.append(set(bkeys.values()))
            # successful, uncut branches by end time: the winners of a cut are found by bisection
            done = sorted((w[-1].end, i) for i, w in enumerate(b.branches) if seq_ok(w) and not _branch_cut(w))
            ends = [e for e, _ in done]
            unexplained = False
            for br in cut:
                t_cut = br[-1].end
                tol = self._same(t_cut - b.start)
                lo, hi = bisect.bisect_left(ends, t_cut - tol), bisect.bisect_right(ends, t_cut + tol)
                winners = [b.branches[i] for _, i in done[lo:hi] if b.branches[i] is not br]
                for w in winners:
                    links[tuple(sorted((bkeys[id(br)], bkeys[id(w)])))] += 1  # type: ignore[misc]
                unexplained |= not winners
            # every cut in this block is accounted for here (a decision, or a deadline below)
            self.explained.update(id(c) for br in cut for c in br[-1].calls() if c.cut)
            if unexplained:
                timeouts.append((b, b.end - b.start))
        # a link seen once in thousands of blocks is two ends coinciding, not a decision
        for (x, y), n in links.items():
            if n >= 2 and n >= 0.01 * sum(1 for ks in cut_blocks if x in ks and y in ks):
                parent[find(x)] = find(y)
        units: dict[str, list[str]] = {}
        for h in heads:
            units.setdefault(find(h), []).append(h)
        rank = {h: i for i, h in enumerate(heads)}
        unit_list = sorted(units.values(), key=lambda u: rank[u[0]])
        specs: list[tuple[frozenset, int]] = []
        nodes: list[INode] = []
        for u in unit_list:
            if len(u) == 1:
                node = self._branch(u[0], by_head[u[0]], len(blocks), optional_ok=len(unit_list) > 1)
                specs.append((frozenset(u), 1))
            else:
                node, k = self._group(u, blocks, by_head)
                specs.append((frozenset(u), k))
            nodes.append(node)
        for _, b in blocks:
            b.units = specs
        if len(nodes) == 1:
            node = nodes[0]
        else:
            multi = [b for _, b in blocks if len(b.branches) > 1]
            ev = Evidence(
                len(multi), 1.0, 1.0, [b.example() for b in multi[:3]], {"join": "all"}, what="parallel (overlapping calls, caller waits for all)"
            )
            node = INode("parallel", nodes, {"join": "all"}, ev)
        if timeouts:
            const, d, share = _constant([x[1] for x in timeouts])
            if const:
                tev = Evidence(
                    len(timeouts),
                    1.0,
                    share,
                    [b.example() for b, _ in timeouts[:3]],
                    {"deadlineSeconds": d * NS, "cut": len(timeouts)},
                    what="timeout (calls cut at a constant deadline)",
                )
                node = INode("timeout", [node], {"deadline": d * NS}, tev)
            else:
                self.anomaly("concurrent calls cut at varying times", {b.example().split("/")[0] for b, _ in timeouts})
        return node

    def _branch(self, head: str, seqs: list[tuple[int, list[Tok], float, Tok]], n_blocks: int, optional_ok: bool) -> INode:
        occs = [Occ(list(br), seq_ok(br) and not _branch_cut(br), br[0].example().split("/")[0]) for _, br, _, _ in seqs]
        sub = self.sequence(occs)
        assert sub is not None
        p = len(seqs) / n_blocks
        if p < 1.0 and optional_ok:
            lo, hi = wilson(len(seqs), n_blocks, self.confidence)
            sub = INode(
                "optional",
                [sub],
                {"probability": p},
                Evidence(
                    n_blocks,
                    1.0,
                    1.0,
                    [br[0].example() for _, br, _, _ in seqs[:3]],
                    {"probability": p, "interval": [lo, hi]},
                    what="optional branch",
                ),
            )
        return sub

    def _group(self, unit: list[str], blocks: list[tuple[int, Tok]], by_head) -> tuple[INode, int]:
        """Branches that stop each other: parallel any / quorum k, or a hedged race."""
        members = set(unit)
        decisions: Counter[int] = Counter()
        offsets: dict[str, list[float]] = defaultdict(list)
        n_occ = 0
        for _, b in blocks:
            keyed = [(k, br) for k, br in zip(_branch_keys(b), b.branches) if k in members]
            brs = [br for _, br in keyed]
            if not brs:
                continue
            n_occ += 1
            g0 = min(br[0].start for br in brs)
            for k, br in keyed:
                offsets[k].append(br[0].start - g0)
            cut = [br for br in brs if _branch_cut(br)]
            if not cut:
                continue
            t_cut = max(br[-1].end for br in cut)
            ok_done = [br for br in brs if seq_ok(br) and not _branch_cut(br) and br[-1].end <= t_cut + self._same(t_cut - g0)]
            if ok_done and any(abs(br[-1].end - t_cut) <= self._same(t_cut - g0) for br in ok_done):
                decisions[len(ok_done)] += 1
        k = decisions.most_common(1)[0][0] if decisions else 1
        agree = decisions[k] / sum(decisions.values()) if decisions else 0.0
        order = sorted(unit, key=lambda h: (statistics.median(offsets[h]) if offsets[h] else 0.0, h))
        kids = [self._branch(h, by_head[h], len(blocks), optional_ok=False) for h in order]
        ex = [by_head[h][0][1][0].example() for h in order]
        hedge, hedge_share = 0.0, 1.0
        if k == 1 and len(order) >= 2:
            const, med, share = _constant(offsets[order[1]])
            first_ok = all(o <= _tol(0) for o in offsets[order[0]])
            if const and first_ok and med > _tol(med):
                hedge, hedge_share = med * NS, share
        n_ev = sum(decisions.values())
        if hedge > 0:
            ev = Evidence(
                n_ev,
                1.0,
                agree * hedge_share,
                ex,
                {"hedgeDelaySeconds": hedge, "hedgesIssued": len(by_head[order[1]]), "occurrences": n_occ},
                what="race (hedged request: issued after a constant delay, loser cancelled)",
            )
            return INode("race", kids, {"hedgeDelay": hedge}, ev), k
        if k == 1:
            ev = Evidence(
                n_ev, 1.0, agree, ex, {"join": "any", "occurrences": n_occ}, what="parallel any (caller takes the first success, cancels the rest)"
            )
            return INode("parallel", kids, {"join": "any"}, ev), k
        if k >= len(order):
            ev = Evidence(n_ev, 1.0, agree, ex, {"join": "all"}, what="parallel (caller waits for all)")
            return INode("parallel", kids, {"join": "all"}, ev), len(order)
        ev = Evidence(
            n_ev,
            1.0,
            agree,
            ex,
            {"join": "quorum", "k": k, "occurrences": n_occ},
            what=f"parallel quorum (caller waits for {k} successes, cancels the rest)",
        )
        return INode("parallel", kids, {"join": "quorum", "k": k}, ev), k


# --------------------------------------------------------------------------- helpers


def _head(br: list[Tok]) -> str:
    return min(br[0].heads)


def _branch_keys(b: Tok) -> list[str]:
    """Branch identities in a block: the head component and ``#n`` for the n-th branch (in start
    order) with that head, so a hedge to the same service (race(profile, profile)) has two."""
    seen: Counter[str] = Counter()
    out = []
    for br in b.branches:
        h = _head(br)
        out.append(f"{h}#{seen[h]}")
        seen[h] += 1
    return out


def _branch_cut(br: list[Tok]) -> bool:
    return any(c.cut for c in br[-1].calls())


def _merge_hedges(occs: list[Occ]) -> dict[tuple[str, str], float]:
    """Detect hedge pairs (constant start offset) and fold 'primary failed, hedge issued later'
    sequences back into blocks (step 2)."""
    offsets: dict[tuple[str, str], list[float]] = defaultdict(list)
    seq_offsets: dict[tuple[str, str], list[float]] = defaultdict(list)
    for o in occs:
        for i, t in enumerate(o.toks):
            if t.kind == "block" and len(t.branches) >= 2:
                # branches are in start order; a hedge is looked for among the next HEDGE_WINDOW
                # branches only, so a block of B branches costs O(B), not O(B²)
                brs = t.branches
                for x, bx in enumerate(brs):
                    hx, sx = _head(bx), bx[0].start
                    for by in brs[x + 1 : x + 1 + HEDGE_WINDOW]:
                        if by[0].start > sx:
                            offsets[(hx, _head(by))].append(by[0].start - sx)
            if t.kind == "leaf" and i + 1 < len(o.toks):
                u = o.toks[i + 1]
                if u.kind == "leaf" and t.call is not None and u.call is not None and not t.call.vok and u.start > t.end and u.call.key != t.call.key:
                    seq_offsets[(t.call.key, u.call.key)].append(u.start - t.start)
    hedges: dict[tuple[str, str], float] = {}
    for pair, offs in offsets.items():
        const, med, _ = _constant(offs)
        if const and med > _tol(med):
            hedges[pair] = med
    for pair, offs in seq_offsets.items():
        if pair in hedges:
            continue
        const, med, _ = _constant(offs)
        if const and len(offs) >= 3 and pair not in offsets:
            hedges[pair] = med
    if not hedges:
        return hedges
    for o in occs:
        for t in o.toks:
            if t.kind == "block":
                _split_hedges_in_branches(t, hedges)
    for o in occs:
        out: list[Tok] = []
        i = 0
        toks = o.toks
        while i < len(toks):
            t = toks[i]
            if t.kind == "block" and i + 1 < len(toks) and toks[i + 1].kind == "leaf":
                # the primary failed inside a block that then finished: the hedge came later
                u = toks[i + 1]
                assert u.call is not None
                home = [
                    br
                    for br in t.branches
                    if (_head(br), u.call.key) in hedges
                    and not seq_ok(br)
                    and abs(u.start - br[0].start - hedges[(_head(br), u.call.key)]) <= _tol(hedges[(_head(br), u.call.key)])
                ]
                if home:
                    t.branches.append([u])
                    t.end = max(t.end, u.end)
                    t.heads = t.heads | u.heads
                    out.append(t)
                    i += 2
                    continue
            if t.kind == "leaf" and i + 1 < len(toks) and toks[i + 1].kind == "leaf" and t.call is not None and not t.call.vok:
                u = toks[i + 1]
                assert u.call is not None
                h = hedges.get((t.call.key, u.call.key))
                if h is not None and abs(u.start - t.start - h) <= _tol(h):
                    out.append(block([[t], [u]]))
                    i += 2
                    continue
            out.append(t)
            i += 1
        o.toks = out
    return hedges


def _merge_fast_failures(occs: list[Occ]) -> None:
    """A call that failed instantly (zero duration) overlaps nothing, so it looks like a series
    step before the calls issued at the same instant. It was concurrent with them when the same
    components run side by side (overlapping) in other traces: put it back into their block."""
    co: dict[str, set[str]] = defaultdict(set)
    for o in occs:
        for t in o.toks:
            if t.kind == "block":
                hs = {_head(br) for br in t.branches}
                for h in hs:
                    co[h] |= hs - {h}
    if not co:
        return

    def fast_fail(t: Tok) -> bool:
        return t.kind == "leaf" and t.call is not None and t.end == t.start and not t.call.vok and t.call.key in co

    for o in occs:
        toks = o.toks
        i = len(toks) - 2
        while i >= 0:
            t, u = toks[i], toks[i + 1]
            if fast_fail(t) and abs(u.start - t.start) <= EXACT_NS:
                assert t.call is not None
                u_heads = {_head(br) for br in u.branches} if u.kind == "block" else set(u.heads)
                if u_heads & co[t.call.key]:
                    branches = (u.branches if u.kind == "block" else [[u]]) + [[t]]
                    toks[i : i + 2] = [block(branches)]
            i -= 1


def _split_hedges_in_branches(t: Tok, hedges: dict[tuple[str, str], float]) -> None:
    """A hedge issued after its primary had already failed follows the primary inside one branch
    (it looks like a retry after a backoff): make it a branch of its own."""
    extra: list[list[Tok]] = []
    for br in t.branches:
        if len(br) < 2 or br[0].kind != "leaf" or br[1].kind != "leaf":
            continue
        a, b = br[0].call, br[1].call
        assert a is not None and b is not None
        h = hedges.get((a.key, b.key))
        if h is not None and not a.vok and abs(b.start - a.start - h) <= _tol(h):
            extra.append(br[1:])
            del br[1:]
    if extra:
        t.branches = sorted(t.branches + extra, key=lambda b: (b[0].start, min(b[0].heads)))
        t.heads = frozenset(h for b in t.branches for h in b[0].heads)


def _attach_followers(occs: list[Occ], hedges: dict[tuple[str, str], float], exact: bool) -> None:
    """Calls that belong to a block but start after all its other calls ended look like the next
    series steps. Put them back: a call that runs after a branch's last call in other traces and
    starts exactly when that branch ended here (exact timing only), and a hedge issued after its
    primary failed, at the hedge delay after the primary's start."""
    inner: dict[str, set[str]] = defaultdict(set)
    if exact:
        for o in occs:
            for t in o.toks:
                if t.kind == "block":
                    for br in t.branches:
                        for x in br[1:]:
                            for h in x.heads:
                                inner[h].add(_head(br))
    if not inner and not hedges:
        return
    for o in occs:
        out: list[Tok] = []
        for t in o.toks:
            prev = out[-1] if out else None
            if prev is not None and prev.kind == "block" and t.kind == "leaf" and t.call is not None:
                key = t.call.key
                home = [br for br in prev.branches if _head(br) in inner.get(key, ()) and abs(br[-1].end - t.start) <= EXACT_NS]
                if home:
                    home[0].append(t)
                    prev.end = max(prev.end, t.end)
                    continue
                primary = [
                    br
                    for br in prev.branches
                    if (h := hedges.get((_head(br), key))) is not None and not seq_ok(br) and abs(t.start - br[0].start - h) <= _tol(h)
                ]
                if primary:
                    prev.branches.append([t])
                    prev.end = max(prev.end, t.end)
                    prev.heads = prev.heads | t.heads
                    continue
            out.append(t)
        o.toks = out


def _collapse_runs(toks: list[Tok]) -> list[Tok]:
    out: list[Tok] = []
    i = 0
    while i < len(toks):
        j = i + 1
        while j < len(toks) and toks[j].label == toks[i].label:
            j += 1
        out.append(toks[i] if j == i + 1 else run(toks[i:j]))
        i = j
    return out


def _align(occs: list[Occ]) -> list[Slot]:
    """Progressive alignment of the occurrences' stage sequences into slots (step 4)."""
    variants: dict[tuple, list[int]] = defaultdict(list)
    for oi, o in enumerate(occs):
        variants[tuple(t.label for t in o.toks)].append(oi)
    order = sorted(variants, key=lambda v: (-sum(occs[i].completed for i in variants[v]), -len(variants[v]), len(v), repr(v)))
    slots: list[Slot] = []
    for v in order:
        members = variants[v]
        rep = occs[members[0]].toks
        heads = [t.heads for t in rep]
        mapping = _lcs(heads, slots)
        new_slots: list[Slot] = []
        assign: list[Slot | None] = [None] * len(rep)
        si = 0
        for ti in range(len(rep)):
            target = mapping[ti]
            if target is None:
                s = Slot(heads[ti])
                new_slots.append(s)
                assign[ti] = s
                continue
            while si < target:
                new_slots.append(slots[si])
                si += 1
            assign[ti] = slots[target]
            new_slots.append(slots[target])
            si = target + 1
        new_slots.extend(slots[si:])
        slots = new_slots
        for ti, s in enumerate(assign):
            assert s is not None
            s.heads = s.heads | heads[ti]
            for oi in members:
                s.items.append((oi, occs[oi].toks[ti]))
    return slots


def _lcs(heads: list[frozenset], slots: list[Slot]) -> list[int | None]:
    """Map sequence positions to slot indices maximising matches (heads must intersect)."""
    n, m = len(heads), len(slots)
    dp = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best = max(dp[i + 1][j], dp[i][j + 1])
            if heads[i] & slots[j].heads:
                best = max(best, dp[i + 1][j + 1] + 1)
            dp[i][j] = best
    out: list[int | None] = [None] * n
    i = j = 0
    while i < n and j < m:
        if heads[i] & slots[j].heads and dp[i][j] == dp[i + 1][j + 1] + 1:
            out[i] = j
            i += 1
            j += 1
        elif dp[i][j + 1] >= dp[i + 1][j]:
            j += 1
        else:
            i += 1
    return out
