"""Span table → per-trace call trees, grouped into journeys.

A **call** is one crossing of a service boundary: a client span whose child runs in another
service (the usual instrumented RPC), a client span naming a remote peer that left no span of its
own (a database, a cache, an external API), or a server span entered directly from another
service. Spans inside one service (internal work, SQL statements run in-process) are folded into
that service. Each call carries two views of its timing:

- the **caller's view** (``start``, ``end``: the client span) decides series vs parallel, because
  it is what the caller waited for; a caller that stopped waiting (a cancelled hedge loser, a
  deadline) has a client span that ends before the callee's server span;
- the **callee's view** (``nstart``, ``nend``: the server span, else the client span) is the
  component's own latency and outcome (``ok``).

A call whose server span failed only because one of its own downstream calls failed counts as
ok for its component: the failure is attributed downstream.

Traces are processed in chunks of whole traces from the sorted span table, so only a bounded
number of rows are Python objects at once; the work per trace is linear in its spans (no
recursion: a parent chain may be arbitrarily deep). Broken traces are repaired or partly
skipped, and counted in the :class:`~emac_sim.discover.spans.Ledger`: an orphan span (its parent
is missing) roots a *partial* trace, as Jaeger's and Zipkin's UIs show it; a trace without a root
span is read from its orphans; extra roots are read as traces of their own; cycles of parent
links are skipped; asynchronous (producer/consumer, Jaeger ``FOLLOWS_FROM``) subtrees are kept
out of the journey; clock skew (a callee's server span outside its caller's client span) is
undone by shifting the callee's subtree to sit centred inside the caller's span.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import polars as pl

from ..model.groups import connected_groups
from .spans import Ledger

_GRPC_METHOD = re.compile(r"^(?:[\w.]*\.)?(\w+)/(\w+)$")
ROUTE_KEYS = ("http.route",)


class Call:
    """One call from a caller to a component (see module docs). Times are Unix ns."""

    __slots__ = (
        "service",
        "op",
        "key",
        "start",
        "end",
        "nstart",
        "nend",
        "ok",
        "raw_ok",
        "vok",
        "known",
        "cut",
        "span",
        "trace",
        "children",
        "timed",
        "resource",
        "attrs",
    )

    def __init__(self) -> None:
        self.children: list[Call] = []
        self.key = ""

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Call({self.key or self.service + ':' + self.op}, {self.start}-{self.end}, ok={self.ok}, kids={len(self.children)})"


@dataclass
class TraceCalls:
    """A usable trace: its root span and the calls the root's service made (a tree); ``partial``
    when the root is an orphan span (see :func:`_trace`)."""

    trace_id: str
    root_span: str
    service: str
    operation: str
    route: str | None
    ok: bool
    start: int
    end: int | None
    calls: list[Call]
    partial: bool = False  # rooted at an orphan span: the calls above it are missing


@dataclass
class JourneyTraces:
    """Traces of one journey (same root service, operation and route; or call signature)."""

    name: str
    root_service: str
    root_operation: str
    route: str | None
    traces: list[TraceCalls]
    split_by: str | None = None  # "signature" when one root operation was split
    signature: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


def _callee_from_op(op: str) -> tuple[str, str]:
    m = _GRPC_METHOD.match(op)
    if m:
        return m.group(1).lower(), m.group(2)
    return op, op


def iter_trace_calls(df: pl.DataFrame, ledger: Ledger, chunk_rows: int = 50_000) -> Iterator[TraceCalls]:
    """Yield a :class:`TraceCalls` for each usable trace of a cleaned span table.

    Parameters
    ----------
    df
        Span table (:data:`~emac_sim.discover.spans.SPAN_SCHEMA`), cleaned.
    ledger
        Receives counts of skipped or repaired spans and traces.
    chunk_rows
        Rows converted to Python objects at a time (whole traces per chunk).
    """
    if df.height == 0:
        return
    df = df.sort(["trace_id", "start_ns", "record"], nulls_last=True)
    tids = df["trace_id"]
    # trace boundaries
    change = (tids != tids.shift(1)).fill_null(True)
    starts = change.arg_true().to_list() + [df.height]
    cols = (
        "trace_id",
        "span_id",
        "parent_id",
        "service",
        "operation",
        "kind",
        "peer_service",
        "start_ns",
        "end_ns",
        "status",
        "attributes",
        "resource",
    )
    i = 0
    n_tr = len(starts) - 1
    while i < n_tr:
        j = i
        while j < n_tr and starts[j + 1] - starts[i] < chunk_rows:
            j += 1
        j = max(j, i + 1)
        lo, hi = starts[i], starts[j]
        part = df.slice(lo, hi - lo).select(cols)
        data = {c: part[c].to_list() for c in cols}
        for t in range(i, j):
            a, b = starts[t] - lo, starts[t + 1] - lo
            yield from _trace(data, a, b, ledger)
        i = j


def _trace(d: dict[str, list], a: int, b: int, ledger: Ledger) -> list[TraceCalls]:
    """The usable traces in rows ``a..b`` of one trace id (linear in the number of spans).

    Every span without a parent, and every *orphan* (its parent is not in the trace: exported from
    the middle, a remote parent, a lost span), roots a tree. The earliest root with no parent at
    all is the trace; when there is none, the earliest orphan is, and the trace is *partial*.
    Every other tree is read as a trace of its own (id ``<trace>:<span>``) rather than dropped,
    partial when it hangs from an orphan. Spans on a cycle of parent links (and below one) are
    skipped and counted.
    """
    sid = d["span_id"][a:b]
    par = d["parent_id"][a:b]
    tid = d["trace_id"][a]
    n = b - a
    index = {s: k for k, s in enumerate(sid)}
    kids: list[list[int]] = [[] for _ in range(n)]
    roots: list[int] = []
    orphans: list[int] = []
    for k in range(n):
        p = par[k]
        if p is None:
            roots.append(k)
        elif p == sid[k]:
            continue  # its own parent: a cycle
        elif p in index:
            kids[index[p]].append(k)
        else:
            orphans.append(k)
    start = d["start_ns"]

    def order(k: int) -> tuple:
        return (start[a + k] is None, start[a + k] or 0, k)

    roots.sort(key=order)
    orphans.sort(key=order)
    reach = [False] * n
    stack = roots + orphans
    while stack:
        k = stack.pop()
        reach[k] = True
        stack.extend(kids[k])
    if not all(reach):
        cyc = [k for k in range(n) if not reach[k]]
        ledger.add("cycleSpans", len(cyc), [f"{tid}/{sid[k]}" for k in cyc[:3]])
    ledger.add("extraRoots", len(roots) - 1, [f"{tid}/{sid[k]}" for k in roots[1:4]])
    ledger.add("orphanSpans", len(orphans), [f"{tid}/{sid[k]}" for k in orphans[:3]])
    if orphans and not roots:
        ledger.add("tracesWithoutRoot", 1, [tid])
    # copy timing (may be shifted for skew); the trees are disjoint, so one copy serves them all
    st = [start[a + k] for k in range(n)]
    en = [d["end_ns"][a + k] for k in range(n)]
    svc = [d["service"][a + k] or "unknown" for k in range(n)]
    kind = d["kind"][a:b]
    partial = set(orphans)
    out = []
    for i, root in enumerate(roots + orphans):
        _fix_skew(root, kids, svc, kind, d["status"][a:b], st, en, ledger, tid, sid)
        attrs_root = _loads(d["attributes"][a + root])
        route = next((attrs_root[r] for r in ROUTE_KEYS if attrs_root.get(r)), None)
        ctx = _Ctx(d, a, kids, svc, kind, st, en, ledger, tid if i == 0 else f"{tid}:{sid[root]}", sid)
        out.append(
            TraceCalls(
                trace_id=ctx.tid,
                root_span=sid[root],
                service=svc[root],
                operation=d["operation"][a + root] or "",
                route=route,
                ok=d["status"][a + root] != "error",
                start=st[root] if st[root] is not None else 0,
                end=en[root],
                calls=ctx.collect(root, svc[root]),
                partial=root in partial,
            )
        )
    return out


def _loads(s: str | None) -> dict:
    if not s or s == "{}":
        return {}
    try:
        v = json.loads(s)
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {}


def _is_async(kind_parent: str, kind_child: str) -> bool:
    return kind_child == "consumer" or kind_parent == "producer"


def _fix_skew(
    root: int, kids: list[list[int]], svc: list[str], kind: list[str], status: list[str], st: list, en: list, ledger: Ledger, tid: str, sid: list
) -> None:
    """Centre a callee's server span inside its caller's span when clocks disagree (shift its subtree)."""
    stack = [root]
    shifted = 0
    examples: list[str] = []
    while stack:
        p = stack.pop()
        for c in kids[p]:
            if (
                svc[c] != svc[p]
                and not _is_async(kind[p], kind[c])
                and kind[p] in ("client", "unset")
                and kind[c] in ("server", "unset")
                and None not in (st[p], en[p], st[c], en[c])
                and (st[c] < st[p] or (en[c] > en[p] and status[p] != "error"))
            ):
                # (a callee that outlives a caller which gave up with an error was cancelled, not skewed)
                pd, cd = en[p] - st[p], en[c] - st[c]
                delta = st[p] + max(0, (pd - cd) // 2) - st[c]
                sub = [c]
                while sub:
                    x = sub.pop()
                    if st[x] is not None:
                        st[x] += delta
                    if en[x] is not None:
                        en[x] += delta
                    shifted += 1
                    sub.extend(kids[x])
                examples.append(f"{tid}/{sid[c]}")
            stack.append(c)
    ledger.add("skewCorrected", shifted, examples)


class _Ctx:
    def __init__(self, d, a, kids, svc, kind, st, en, ledger, tid, sid):
        self.d, self.a, self.kids, self.svc, self.kind, self.st, self.en = d, a, kids, svc, kind, st, en
        self.ledger, self.tid, self.sid = ledger, tid, sid

    def _subtree_size(self, k: int) -> int:
        n, stack = 0, [k]
        while stack:
            x = stack.pop()
            n += 1
            stack.extend(self.kids[x])
        return n

    def collect(self, k: int, owner: str) -> list[Call]:
        """Calls made by service ``owner`` below span ``k`` (internal spans are folded in).

        Depth-first with an explicit stack (a parent chain can be thousands of spans deep): a
        frame walks the children of one span on behalf of the service that owns the output list;
        a call into another service opens a frame for the callee's own calls, and a span of the
        owner's own service opens a frame in the same list (its work is the owner's).
        """
        top: list[Call] = []
        made: list[tuple[Call, bool]] = []
        frames: list[tuple[int, Iterator[int], str, list[Call]]] = [(k, iter(self.kids[k]), owner, top)]
        svc, kind, kids = self.svc, self.kind, self.kids
        while frames:
            p, it, own, out = frames[-1]
            c = next(it, None)
            if c is None:
                frames.pop()
                continue
            fallback = self.st[p] if self.st[p] is not None else 0
            if _is_async(kind[p], kind[c]):
                self.ledger.add("asyncSpans", self._subtree_size(c), [f"{self.tid}/{self.sid[c]}"])
                continue
            if svc[c] != own:
                out.append(self._call(None, c, fallback, made, frames))
                continue
            servers = [g for g in kids[c] if svc[g] != own and not _is_async(kind[c], kind[g])]
            client_like = kind[c] in ("client", "producer") or self.d["peer_service"][self.a + c] is not None
            if servers:
                # same-service children of a client span (rare) are still the owner's work
                opened: list = []  # callee frames in call order, then the owner's own spans
                out.append(self._call(c, servers[0], fallback, made, opened))
                out.extend(self._call(None, g, fallback, made, opened) for g in servers[1:])
                opened.extend((g, iter(kids[g]), own, out) for g in kids[c] if svc[g] == own)
                frames.extend(reversed(opened))
            elif client_like and not kids[c]:
                out.append(self._call(c, None, fallback, made, frames))
            else:
                frames.append((c, iter(kids[c]), own, out))
        for call, own_err in made:
            call.children.sort(key=_call_order)
            # a failure caused by a failed downstream call is attributed downstream
            call.ok = not (own_err and not any(not ch.vok for ch in call.children))
        top.sort(key=_call_order)
        return top

    def _call(self, client: int | None, server: int | None, fallback: int, made: list, frames: list) -> Call:
        """A call (client and/or server span); the callee's own calls are collected by the frame
        it appends to ``frames``, ``ok`` is set once they are known."""
        d, a = self.d, self.a
        c = Call()
        if server is not None:
            c.service = self.svc[server]
            c.op = d["operation"][a + server] or ""
            c.resource = d["resource"][a + server]
            c.attrs = d["attributes"][a + server]
        else:
            assert client is not None
            peer = d["peer_service"][a + client]
            op = d["operation"][a + client] or ""
            if peer:
                c.service, c.op = peer, op
            else:
                c.service, c.op = _callee_from_op(op)
            c.resource = "{}"
            c.attrs = d["attributes"][a + client]
        view = client if client is not None else server
        nat = server if server is not None else client
        assert view is not None and nat is not None
        c.start, c.end = self.st[view], self.en[view]
        c.nstart, c.nend = self.st[nat], self.en[nat]
        c.timed = c.start is not None and c.end is not None and c.nstart is not None and c.nend is not None
        # spans without timing keep their place in the tree: an instant at the best known time
        if c.start is None:
            c.start = c.nstart if c.nstart is not None else fallback
        if c.end is None:
            c.end = c.nend if (c.nend is not None and c.nend >= c.start) else c.start
        if c.nstart is None:
            c.nstart = c.start
        if c.nend is None:
            c.nend = c.end
        own_err = d["status"][a + nat] == "error"
        c.known = d["status"][a + nat] != "unset" or d["status"][a + view] != "unset"
        view_err = d["status"][a + view] == "error" or own_err
        c.cut = bool(client is not None and server is not None and c.timed and c.end < c.nend)
        c.span = self.sid[nat]
        c.trace = self.tid
        c.raw_ok = not own_err
        c.ok = c.raw_ok
        c.vok = not view_err and not c.cut
        if server is not None:
            frames.append((server, iter(self.kids[server]), self.svc[server], c.children))
        made.append((c, own_err))
        return c


def _call_order(c: Call) -> tuple[int, int]:
    return (c.start, c.end)


def walk_calls(calls: list[Call]) -> Iterator[tuple[Call | None, Call]]:
    """(caller, call) for every call of a tree, depth-first in order (no recursion)."""
    stack: list[tuple[Call | None, Call]] = [(None, c) for c in reversed(calls)]
    while stack:
        parent, c = stack.pop()
        yield parent, c
        stack.extend((c, k) for k in reversed(c.children))


# --------------------------------------------------------------------------- journeys


MAX_NAME = 80  # a journey name (and the file named after it) stays readable


def _slug(s: str) -> str:
    """Lower-case ``a-z0-9-`` name; a longer one is cut to MAX_NAME characters, keeping it
    distinct with 8 hex digits of its sha256 (an operation name can be any length)."""
    slug = re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-") or "journey"
    if len(slug) > MAX_NAME:
        slug = slug[: MAX_NAME - 9].rstrip("-") + "-" + hashlib.sha256(slug.encode()).hexdigest()[:8]
    return slug


def _short_op(op: str) -> str:
    s = op.rstrip("./ ")
    for sep in ("/", "."):
        if sep in s:
            s = s.rsplit(sep, 1)[1]
    return s or op


def group_journeys(traces: list[TraceCalls], split: str = "auto") -> list[JourneyTraces]:
    """Group traces into journeys.

    A journey is the set of traces with the same root service, root operation and route
    (``http.route`` of the root span). A front end that names every request ``Recv`` and records
    no route serves several journeys (home page, product page, cart...) under one root
    operation; with ``split="auto"`` such a group is split by *call signature* (the set of
    distinct operations the root calls), keeping together the signatures one journey can
    produce: one contained in another (an optional step, or a failure that stopped the series)
    and two whose call sequences differ only by substitutions at the same positions (a routing
    choice: ``[a, b1, c]`` and ``[a, b2, c]``). ``split="signature"`` splits by every signature;
    ``split="none"`` never splits.

    Returns
    -------
    list of JourneyTraces
        Sorted by trace count (descending), then name.
    """
    groups: dict[tuple[str, str, str | None], list[TraceCalls]] = defaultdict(list)
    for t in traces:
        groups[(t.service, t.operation, t.route)].append(t)
    base_names: dict[tuple, str] = {}
    used: Counter[str] = Counter(_slug(k[2] or k[1]) for k in groups)
    for k in groups:
        nm = _slug(k[2] or k[1])
        base_names[k] = nm if used[nm] == 1 else _slug(f"{k[0]}-{k[2] or k[1]}")
    out: list[JourneyTraces] = []
    for k, ts in groups.items():
        service, op, route = k
        parts = _signature_parts(ts) if split == "signature" or (split == "auto" and route is None) else [ts]
        if split == "auto" and route is None:
            parts = _merge_compatible(parts)
        if len(parts) == 1:
            out.append(JourneyTraces(base_names[k], service, op, route, ts))
            continue
        sigs = [frozenset().union(*(_signature(t) for t in p)) for p in parts]
        names = _signature_names(service, sigs)
        for sig, tt in zip(sigs, parts):
            jt = JourneyTraces(names[sig], service, op, route, tt, split_by="signature", signature=tuple(sorted(sig)))
            jt.notes.append(
                f"root operation {op!r} of {service!r} carries no route: its traces were split by the set of operations they call "
                f"({len(parts)} journeys)"
            )
            out.append(jt)
    out.sort(key=lambda j: (-len(j.traces), j.name))
    return out


def _signature(t: TraceCalls) -> frozenset:
    return frozenset(f"{c.service}:{c.op}" for c in t.calls)


def _signature_parts(ts: list[TraceCalls]) -> list[list[TraceCalls]]:
    by: dict[frozenset, list[TraceCalls]] = defaultdict(list)
    for t in ts:
        by[_signature(t)].append(t)
    return [by[s] for s in sorted(by, key=lambda s: (-len(by[s]), sorted(s)))]


def _sequence(t: TraceCalls) -> tuple[str, ...]:
    """The operations called, in order, runs of the same operation collapsed."""
    out: list[str] = []
    for c in t.calls:
        x = f"{c.service}:{c.op}"
        if not out or out[-1] != x:
            out.append(x)
    return tuple(out)


def _compatible(a: list[TraceCalls], b: list[TraceCalls]) -> bool:
    """Can one journey produce both signatures? (subset: optional step or failure; same-length
    call sequences differing in at most two positions, fewer than they share: a routing choice)"""
    sa, sb = _signature(a[0]), _signature(b[0])
    if not sa or not sb:
        return False
    if sa < sb or sb < sa:
        return True
    qa = Counter(_sequence(t) for t in a).most_common(1)[0][0]
    qb = Counter(_sequence(t) for t in b).most_common(1)[0][0]
    if len(qa) != len(qb):
        return False
    diff = [i for i, (x, y) in enumerate(zip(qa, qb)) if x != y]
    # at most two substitutions, and no more substituted positions than shared ones
    return 0 < len(diff) <= min(2, len(qa) - len(diff)) and all(qa[i] not in sb and qb[i] not in sa for i in diff)


def _merge_compatible(parts: list[list[TraceCalls]]) -> list[list[TraceCalls]]:
    groups = connected_groups(len(parts), lambda i, j: _compatible(parts[i], parts[j]))
    merged = [[t for i in g for t in parts[i]] for g in groups]
    return sorted(merged, key=lambda p: -len(p))


def _signature_names(service: str, sigs: list[frozenset]) -> dict[frozenset, str]:
    """Name each signature by the fewest, rarest operations that tell it apart from the others."""
    freq = Counter(op for s in sigs for op in s)
    out: dict[frozenset, str] = {}
    for s in sigs:
        if not s:
            out[s] = _slug(f"{service}-no-calls")
            continue
        chosen: list[str] = []
        rivals = [r for r in sigs if r != s]
        cand = sorted(s, key=lambda op: (freq[op], op))
        while rivals and cand:
            # the operation that rules out most remaining rivals (rarest first on ties)
            best = max(cand, key=lambda op: (sum(op not in r for r in rivals), -freq[op]))
            if not any(best not in r for r in rivals):
                break
            chosen.append(best)
            cand.remove(best)
            rivals = [r for r in rivals if best in r]
        if not chosen:
            chosen = cand[:1]
        out[s] = _slug(service + "-" + "-".join(_short_op(op.split(":", 1)[1]) for op in chosen))
    # disambiguate collisions deterministically
    seen: Counter[str] = Counter(out.values())
    for s in sorted(out, key=lambda x: sorted(x)):
        if seen[out[s]] > 1:
            out[s] = f"{out[s]}-{len(s)}"
    return out


def assign_component_keys(journeys: list[JourneyTraces]) -> dict[str, tuple[str, str | None]]:
    """Name components: the service, or ``service.Operation`` for services called with several
    operations anywhere in the input. Sets ``Call.key`` everywhere.

    Returns
    -------
    dict
        component id → (service, operation or None).
    """
    ops: dict[str, dict[str, None]] = defaultdict(dict)  # first-seen order: names must not depend on str hashing
    for j in journeys:
        for t in j.traces:
            for _, c in walk_calls(t.calls):
                ops[c.service].setdefault(c.op)
    names: dict[tuple[str, str], str] = {}
    out: dict[str, tuple[str, str | None]] = {}
    for svc, oset in ops.items():
        for op in oset:
            if len(oset) == 1:
                cid = svc
            else:
                cid = f"{svc}.{re.sub(r'[^A-Za-z0-9_-]+', '_', _short_op(op)).strip('_') or 'op'}"
            base, n = cid, 2
            while cid in out and out[cid] != (svc, op if len(oset) > 1 else None):
                cid = f"{base}-{n}"
                n += 1
            names[(svc, op)] = cid
            out[cid] = (svc, op if len(oset) > 1 else None)
    for j in journeys:
        for t in j.traces:
            for _, c in walk_calls(t.calls):
                c.key = names[(c.service, c.op)]
    return out
