"""``parallel``: fork-join. ``join: all`` — every branch ok, t the slowest; ``any`` — some branch
ok, t the first success (the slowest if none); ``quorum`` — at least ``k`` ok, t the k-th success
(the slowest if fewer). Every branch runs to completion (docs/semantics.md)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from ..model.node import Node
from .base import Operator, schema_list, schema_number, schema_ref
from .series import any_of_bounds

JOINS: tuple[str, ...] = ("all", "any", "quorum")
"""The ``join`` values, ``all`` the default."""


@dataclass(frozen=True)
class Parallel(Operator):
    """Fork-join. ``join='all'``: all ok, t = max. ``any``: some ok, t = first success (max if
    none). ``quorum``: at least ``k`` ok, t = k-th success (max if fewer)."""

    branches: tuple[Node, ...]
    join: Literal["all", "any", "quorum"] = "all"
    k: int | None = None
    op: ClassVar[str] = "parallel"

    def children_named(self) -> tuple[tuple[str, Node], ...]:
        return tuple((f"branches[{i}]", c) for i, c in enumerate(self.branches))

    @property
    def needed(self) -> int:
        """Successes needed: n for all, 1 for any, k for quorum."""
        if self.join == "all":
            return len(self.branches)
        if self.join == "any":
            return 1
        assert self.k is not None
        return self.k

    def __str__(self) -> str:
        inner = ", ".join(map(str, self.branches))
        if self.join == "all":
            return f"Parallel({inner})"
        if self.join == "any":
            return f"ParallelAny({inner})"
        return f"Quorum{self.k}({inner})"

    # ---- spec
    @classmethod
    def schema(cls) -> dict[str, Any]:
        return {
            "properties": {
                "branches": schema_list(schema_ref("node")),
                "join": {"enum": list(JOINS), "default": "all"},
                "k": schema_number(minimum=1, integer=True),
            },
            "required": ["branches"],
            # k is needed by a quorum and meaningless otherwise
            "if": {"properties": {"join": {"const": "quorum"}}, "required": ["join"]},
            "then": {"required": ["k"]},
            "else": {"not": {"required": ["k"]}},
        }

    @classmethod
    def parse(cls, p: Any, d: dict, path: str) -> Parallel:
        from ..spec import limits as L

        branches = p.children("branches")
        join = d.get("join", "all")
        if join not in JOINS:
            raise p.fail(p.at("join"), f"join must be {', '.join(JOINS[:-1])} or {JOINS[-1]}, got {join!r}")
        k = None
        if join == "quorum":
            if "k" not in d:
                raise p.fail(path, "quorum join needs 'k'")
            k = int(p.number(d["k"], p.at("k"), lo=1, integer=True))
            if k > len(branches):
                raise p.fail(p.at("k"), f"quorum k = {k} is larger than the {len(branches)} branches")
            n = len(branches)
            work = n * min(k, n - k + 1)
            if work > L.MAX_QUORUM_WORK:
                raise p.fail(
                    p.at("k"),
                    f"a quorum of {k} out of {n} costs n*min(k, n-k+1) = {work:,} steps per latency grid point, more than {L.MAX_QUORUM_WORK:,}",
                )
        elif "k" in d:
            raise p.fail(p.at("k"), f"'k' only applies to join: quorum (join is {join!r})")
        return cls(branches=branches, join=join, k=k)

    def dump(self, dump: Callable[[Node], dict]) -> dict:
        d: dict[str, Any] = {"type": "parallel", "join": self.join, "branches": [dump(b) for b in self.branches]}
        if self.k is not None:
            d["k"] = self.k
        return d

    # ---- summaries
    def graph(self, children: list[Any], duration: Callable[[float], str]) -> Any:
        if self.join == "all":
            return {self.op: children}
        return {self.op: children, "join": self.join, **({"k": self.k} if self.k is not None else {})}

    def redundancy(self) -> tuple[str, dict] | None:
        if self.join == "all":
            return None
        return f"parallel-{self.join}", ({"k": self.k} if self.k else {})

    def call_count(self, kids: list) -> tuple:
        from ..spec.limits import CAP, CallCount

        ok = [p for _, p in kids]
        if self.join == "all":
            p_ok = math.prod(ok)
        else:
            p_ok = 1.0 - math.prod(1.0 - p for p in ok)  # any / quorum: an upper estimate of success is enough here
        return CallCount(min(sum(c.expected for c, _ in kids), CAP), min(sum(c.worst for c, _ in kids), CAP)), p_ok

    # ---- analytic
    def ok_probability(self, ok, latency) -> np.ndarray:
        from ..analytic.grid import pb_at_least

        ps = [ok(c) for c in self.branches]
        if self.join == "all":
            return np.prod(ps, axis=0)
        if self.join == "any":
            return 1.0 - np.prod([1.0 - p for p in ps], axis=0)
        return pb_at_least(ps, self.needed)

    def support(self, kids: list[float]) -> float:
        return max(kids)

    def sum_depth(self, kids: list[int]) -> int:
        return max(kids)

    def tail_estimate(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        return max(p[0] for p in kids), max(p[1] for p in kids)

    def law(self, kids: list, grid: Any) -> Any:
        return parallel_law(kids, self.needed)

    def co_law(self, kids: list, grid: Any) -> Any:
        from ..analytic.comonotone import comonotone_parts, fork_cdfs, part_law
        from ..analytic.grid import pb_at_least

        need = self.needed
        parts = [comonotone_parts(law, grid) for law in kids]
        p = np.array([pp for _, _, pp in parts])
        s_cdf, f_cdf = fork_cdfs([sp.cdf for sp, _, _ in parts], [fp.cdf for _, fp, _ in parts], p, need)
        s_tot = float(pb_at_least([np.array([x]) for x in p], need)[0])
        s_cdf = np.minimum(np.maximum.accumulate(np.clip(s_cdf, 0.0, None)), s_tot)
        f_cdf = np.minimum(np.maximum.accumulate(np.clip(f_cdf, 0.0, None)), 1.0 - s_tot)
        return part_law(np.diff(s_cdf, prepend=0.0), np.diff(f_cdf, prepend=0.0), s_tot - s_cdf[-1], 1.0 - s_tot - f_cdf[-1])

    def availability_bounds(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        from ..analytic.dependence_free import at_least_bounds

        lo = np.array([k[0] for k in kids])
        hi = np.array([k[1] for k in kids])
        if self.join == "all":
            return max(0.0, float(lo.sum()) - (len(lo) - 1)), float(hi.min())
        if self.join == "quorum":
            lb, ub = at_least_bounds(lo, hi, self.needed)
            return float(lb), float(ub)
        return any_of_bounds(kids)

    def band(self, kids: list, ev: Any) -> Any:
        from ..analytic.dependence_free import NodeBand, Part, at_least, intersection

        g = ev.grid
        n = len(kids)
        both = [Part(k.s.lo + k.f.lo, k.s.hi + k.f.hi, k.s.sv + k.f.sv, 1.0, 1.0).tidy() for k in kids]
        all_done = intersection(both)
        s = intersection([k.s for k in kids]) if self.join == "all" else at_least([k.s for k in kids], self.needed)
        # failure by x: everything finished by x, minus "finished by x and enough ok"
        if self.join == "any":
            f = intersection([k.f for k in kids])
        elif self.join == "all":
            f = Part(all_done.lo - s.hi, np.minimum(all_done.hi - s.lo, 1.0 - s.tlo), all_done.sv, 1.0 - s.thi, 1.0 - s.tlo).tidy()
        else:
            every_ok = intersection([k.s for k in kids])
            f_hi = np.minimum.reduce(
                [all_done.hi - every_ok.lo, np.full(g.n, 1.0 - s.tlo), at_least([k.f for k in kids], n - self.needed + 1).hi]
            )
            f = Part(all_done.lo - s.thi, f_hi, all_done.sv, 1.0 - s.thi, 1.0 - s.tlo).tidy()
        return NodeBand(s, f)

    def expected_calls(self, calls, ctx) -> np.ndarray:
        return np.sum([calls(c) for c in self.branches], axis=0)

    # ---- simulation
    def simulate(self, sim: Any, path: str, start: float, attempt: int) -> tuple:
        results = [sim.run(b, f"{path}.branches[{i}]", start, attempt) for i, b in enumerate(self.branches)]
        slowest = results[0]
        for r in results[1:]:
            if r[1] > slowest[1]:
                slowest = r
        successes = sorted((r for r in results if r[0]), key=lambda r: r[1])  # stable
        k = self.needed
        if len(successes) < k:
            return False, slowest[1], slowest[2], slowest[3]
        # ties (equal durations) only matter for the dominant component: 'all' reports the first
        # slowest branch, 'any' the first fastest success, quorum the stable k-th
        kth = slowest if k == len(results) else successes[k - 1]
        return True, kth[1], kth[2], kth[3]

    def emit(self, g: Any, path: str) -> Any:
        return emit_parallel(self, g, path)

    def replay(self, rp: Any, path: str, start: float) -> tuple:
        from ..discover.synth import EPS_S

        st = rp.stats[path]
        res = [rp.run(b, f"{path}.branches[{i}]", start) for i, b in enumerate(self.branches)]
        idx = [k for r in res for k in r[2]]
        slowest = max(r[1] for r in res)
        succ = sorted(r[1] for r in res if r[0])
        need = self.needed
        if len(succ) < need:
            return False, slowest, idx
        if need == len(res):
            return True, slowest, idx
        decided = succ[need - 1]
        before = sum(1 for k in idx if rp.cut[k] > start + decided + EPS_S and rp.calls[k].end > start + decided + EPS_S)
        rp.cut_calls(idx, start + decided, "CANCELLED")
        st["cancelled"] += before
        return True, decided, idx


def parallel_law(laws: list, need: int) -> Any:
    """Fork-join needing ``need`` successes on the grid: ok time = need-th success, else the max."""
    from ..analytic.grid import Law, all_within_at_least, cdf_masses, pb_at_least

    n = len(laws)
    tot = [law.ok for law in laws]
    if need in (1, n):
        # running products, one branch at a time: memory stays O(grid) however wide the fork
        all_fast = np.ones_like(laws[0].s)
        ok_fast = np.ones_like(all_fast)  # all: every branch ok and done; any: every branch failed and done
        none_ok = np.ones_like(all_fast)
        for law in laws:
            cs, cf = np.cumsum(law.s, axis=1), np.cumsum(law.f, axis=1)
            all_fast *= cs + cf
            if need == n:
                ok_fast *= cs
            else:
                ok_fast *= cf
                none_ok *= 1.0 - cs
        if need == n:
            s_cdf, ok_all_fast, s_tot = ok_fast, ok_fast, np.prod(tot, axis=0)
        else:
            s_cdf, ok_all_fast = 1.0 - none_ok, all_fast - ok_fast
            s_tot = 1.0 - np.prod([1.0 - t for t in tot], axis=0)
    else:
        cs = [np.cumsum(law.s, axis=1) for law in laws]
        cf = [np.cumsum(law.f, axis=1) for law in laws]
        s_cdf = pb_at_least(cs, need)
        s_tot = pb_at_least(tot, need)
        ok_all_fast = all_within_at_least(cs, cf, need)
        all_fast = all_within_at_least(cs, cf, 0)
    f_cdf = np.clip(all_fast - ok_all_fast, 0.0, None)
    s_cdf = np.minimum(np.maximum.accumulate(s_cdf, axis=1), s_tot[:, None])
    f_cdf = np.minimum(np.maximum.accumulate(f_cdf, axis=1), (1.0 - s_tot)[:, None])
    return Law(cdf_masses(s_cdf), cdf_masses(f_cdf), np.clip(s_tot - s_cdf[:, -1], 0.0, None), np.clip(1.0 - s_tot - f_cdf[:, -1], 0.0, None))


def emit_parallel(node: Parallel, g: Any, path: str) -> Any:
    """Kernel code: every branch runs; the slowest, the fastest success (any) or the sorted
    success times (quorum, in the scratch ``qt``) are kept as the branches finish."""
    from ..engine.codegen import Res

    nb, k = len(node.branches), node.needed
    det = g.details
    sx, sn = g.name("sx"), g.name("sn")
    g.line(f"{sx} = -1.0")
    g.line(f"{sn} = 0")
    state = [sx, sn]
    if det:
        state += list(g.dom_vars())  # dominant of the slowest branch
    if k == 1:
        st = g.name("st")
        g.line(f"{st} = math.inf")
        state.append(st)
        if det:
            state += list(g.dom_vars())  # dominant of the fastest success
    elif k < nb:
        q = g.name("q")
        g.line(f"{q} = {g.quorum(nb)}")
        state.append(q)

    def step(s: list[str], i: int, branch: Node) -> None:
        sx_, sn_ = s[0], s[1]
        xd_, xdt_ = g.dom_state(s[2:])
        rest = s[4:] if det else s[2:]
        r = g.emit(branch, f"{path}.branches[{i}]")
        if not det and k == nb:  # branch-free: fewer blocks for numba's SSA pass (see retry)
            g.line(f"{sx_} = max({sx_}, {r.t})")
            g.line(f"{sn_} += {r.ok}")
            return
        with g.block(f"if {r.t} > {sx_}:"):
            g.line(f"{sx_} = {r.t}")
            if det:
                g.line(f"{xd_} = {r.d}")
                g.line(f"{xdt_} = {r.dt}")
        with g.block(f"if {r.ok}:"):
            if k == 1:
                st_ = rest[0]
                sd_, sdt_ = g.dom_state(rest[1:])
                with g.block(f"if {r.t} < {st_}:"):
                    g.line(f"{st_} = {r.t}")
                    if det:
                        g.line(f"{sd_} = {r.d}")
                        g.line(f"{sdt_} = {r.dt}")
            elif k < nb:
                # keep success times sorted (stable: after equal times)
                q_ = rest[0]
                p = g.name("p")
                g.line(f"{p} = {q_} + {sn_}")
                with g.block(f"while {p} > {q_} and qt[{p} - 1] > {r.t}:"):
                    g.line(f"qt[{p}] = qt[{p} - 1]")
                    if det:
                        g.line(f"qd[{p}] = qd[{p} - 1]")
                        g.line(f"qdt[{p}] = qdt[{p} - 1]")
                    g.line(f"{p} -= 1")
                g.line(f"qt[{p}] = {r.t}")
                if det:
                    g.line(f"qd[{p}] = {r.d}")
                    g.line(f"qdt[{p}] = {r.dt}")
            g.line(f"{sn_} += 1")

    s = g.each_child(state, list(enumerate(node.branches)), step)
    sx, sn = s[0], s[1]
    xd, xdt = g.dom_state(s[2:])
    rest = s[4:] if det else s[2:]
    ok, t = g.name("ok"), g.name("t")
    d, dt = (g.name("d"), g.name("dt")) if det else ("-1", "-1.0")
    if not det and k == nb:
        g.line(f"{ok} = {sn} >= {k}")
        g.line(f"{t} = {sx}")
        return Res(ok, t, d, dt)
    with g.block(f"if {sn} < {k}:"):
        g.line(f"{ok} = False")
        g.line(f"{t} = {sx}")
        if det:
            g.line(f"{d} = {xd}")
            g.line(f"{dt} = {xdt}")
    with g.block("else:"):
        g.line(f"{ok} = True")
        if k == 1:
            src = (rest[0], *g.dom_state(rest[1:]))
        elif k == nb:
            src = (sx, xd, xdt)
        else:
            q = rest[0]
            src = (f"qt[{q} + {k - 1}]", f"qd[{q} + {k - 1}]", f"qdt[{q} + {k - 1}]")
        g.line(f"{t} = {src[0]}")
        if det:
            g.line(f"{d} = {src[1]}")
            g.line(f"{dt} = {src[2]}")
    return Res(ok, t, d, dt)
