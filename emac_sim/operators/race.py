"""``race`` (hedged): branch j is issued at ``j·hedgeDelay`` unless an issued branch has already
succeeded by then; ok when some issued branch is ok; t = the first success, else the latest
finish of the issued branches. ``hedgeDelay: 0`` (the paper's race) issues every branch at once
(docs/semantics.md)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..model.node import Node, fmt_seconds
from .base import Operator, schema_list, schema_ref
from .series import any_of_bounds

SEMANTICS: tuple[str, ...] = ("hedged", "first")
"""The ``semantics`` values (both the same race), ``hedged`` the default."""


@dataclass(frozen=True)
class Race(Operator):
    """Hedged race: branch j is issued at ``j·hedge_delay`` if no success has arrived by then;
    ok when any issued branch is ok; t = first success (else the last issued branch's end)."""

    branches: tuple[Node, ...]
    hedge_delay: float = 0.0
    op: ClassVar[str] = "race"

    def children_named(self) -> tuple[tuple[str, Node], ...]:
        return tuple((f"branches[{i}]", c) for i, c in enumerate(self.branches))

    def __str__(self) -> str:
        inner = ", ".join(map(str, self.branches))
        return f"Race({inner})" if self.hedge_delay == 0 else f"Race({inner}; hedge={fmt_seconds(self.hedge_delay)})"

    # ---- spec
    @classmethod
    def schema(cls) -> dict[str, Any]:
        return {
            "properties": {
                "branches": schema_list(schema_ref("node")),
                "semantics": {"enum": list(SEMANTICS), "default": "hedged"},
                "hedgeDelay": schema_ref("duration"),
            },
            "required": ["branches"],
        }

    @classmethod
    def parse(cls, p: Any, d: dict, path: str) -> Race:
        branches = p.children("branches")
        sem = d.get("semantics", "hedged")
        if sem not in SEMANTICS:
            raise p.fail(p.at("semantics"), f"semantics must be {' or '.join(SEMANTICS)}, got {sem!r}")
        delay = p.latency(d["hedgeDelay"], p.at("hedgeDelay"), zero_ok=True) if "hedgeDelay" in d else 0.0
        return cls(branches=branches, hedge_delay=delay)

    def dump(self, dump: Callable[[Node], dict]) -> dict:
        d: dict[str, Any] = {"type": "race", "semantics": "hedged", "branches": [dump(b) for b in self.branches]}
        if self.hedge_delay:
            d["hedgeDelay"] = self.hedge_delay
        return d

    # ---- summaries
    def graph(self, children: list[Any], duration: Callable[[float], str]) -> Any:
        return {self.op: children, "hedgeDelay": duration(self.hedge_delay)} if self.hedge_delay else {self.op: children}

    def redundancy(self) -> tuple[str, dict] | None:
        # durations rounded to the nanosecond: a hedge delay read from traces is a sum of ns
        return "race", {"hedgeDelaySeconds": round(self.hedge_delay, 9)}

    def fixed_delay(self) -> bool:
        return self.hedge_delay > 0

    def uses_time(self) -> bool:
        return True  # hedges are issued by the clock

    def call_count(self, kids: list) -> tuple:
        from ..spec.limits import CAP, CallCount

        p_ok = 1.0 - math.prod(1.0 - p for _, p in kids)
        return CallCount(min(sum(c.expected for c, _ in kids), CAP), min(sum(c.worst for c, _ in kids), CAP)), p_ok

    # ---- analytic
    def ok_probability(self, ok, latency) -> np.ndarray:
        # a branch goes unissued only when an earlier one already succeeded: ok = some branch ok
        return 1.0 - np.prod([1.0 - ok(c) for c in self.branches], axis=0)

    def support(self, kids: list[float]) -> float:
        return max(i * self.hedge_delay + k for i, k in enumerate(kids))

    def sum_depth(self, kids: list[int]) -> int:
        return max(k + (1 if i and self.hedge_delay else 0) for i, k in enumerate(kids))

    def tail_estimate(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        h = self.hedge_delay
        return max(i * h + p[0] for i, p in enumerate(kids)), max(i * h + p[1] for i, p in enumerate(kids))

    def law(self, kids: list, grid: Any) -> Any:
        """``ok, t ≤ x`` iff some branch j is ok with ``o_j + t_j ≤ x`` (the earliest such branch is
        always issued: every branch able to stop it is earlier, finished by x and failed); failure
        iff every branch fails, all issued, t = max finish."""
        from ..analytic.grid import Law, cdf_masses, shift_cdf

        offsets = [grid.index(i * self.hedge_delay) for i in range(len(kids))]
        cs = [shift_cdf(np.cumsum(law.s, axis=1), o) for law, o in zip(kids, offsets)]
        cf = [shift_cdf(np.cumsum(law.f, axis=1), o) for law, o in zip(kids, offsets)]
        tot = [law.ok for law in kids]
        s_cdf = 1.0 - np.prod([1.0 - c for c in cs], axis=0)
        s_tot = 1.0 - np.prod([1.0 - t for t in tot], axis=0)
        f_cdf = np.prod(cf, axis=0)
        f_tot = np.prod([1.0 - t for t in tot], axis=0)
        return Law(cdf_masses(s_cdf), cdf_masses(f_cdf), np.clip(s_tot - s_cdf[:, -1], 0.0, None), np.clip(f_tot - f_cdf[:, -1], 0.0, None))

    def co_law(self, kids: list, grid: Any) -> Any:
        from ..analytic.comonotone import comonotone_parts, fork_cdfs, part_law
        from ..analytic.grid import shift_cdf

        offsets = [grid.index(i * self.hedge_delay) for i in range(len(kids))]
        parts = [comonotone_parts(law, grid) for law in kids]
        p = np.array([pp for _, _, pp in parts])
        S = [shift_cdf(sp.cdf, o) for (sp, _, _), o in zip(parts, offsets)]
        F = [shift_cdf(fp.cdf, o) for (_, fp, _), o in zip(parts, offsets)]
        s_cdf, f_cdf = fork_cdfs(S, F, p, 1)
        s_tot = 1.0 - float(np.prod(1.0 - p))
        s_cdf = np.minimum(np.maximum.accumulate(np.clip(s_cdf, 0.0, None)), s_tot)
        return part_law(np.diff(s_cdf, prepend=0.0), np.diff(f_cdf, prepend=0.0), s_tot - s_cdf[-1], 1.0 - s_tot - f_cdf[-1])

    def availability_bounds(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        return any_of_bounds(kids)

    def band(self, kids: list, ev: Any) -> Any:
        from ..analytic.dependence_free import NodeBand, delay, intersection, union

        g = ev.grid
        offs = [i * self.hedge_delay for i in range(len(kids))]
        return NodeBand(union([delay(k.s, o, g) for k, o in zip(kids, offs)]), intersection([delay(k.f, o, g) for k, o in zip(kids, offs)]))

    def expected_calls(self, calls, ctx) -> np.ndarray:
        h = self.hedge_delay
        out = 0.0
        for jx, c in enumerate(self.branches):
            if jx == 0 or h == 0:
                issued = 1.0
            elif not ctx.lat:  # no latency model: every success is instant, before any hedge
                issued = float(np.prod([1.0 - ctx.p_ok(b) for b in self.branches[:jx]]))
            else:  # branch j is issued unless an earlier branch i succeeded by (j − i)·h
                issued = 1.0
                for i, b in enumerate(self.branches[:jx]):
                    issued *= 1.0 - ctx.p_ok_by(b, (jx - i) * h)
            out = out + issued * calls(c)
        return out

    # ---- simulation
    def simulate(self, sim: Any, path: str, start: float, attempt: int) -> tuple:
        h = self.hedge_delay
        best = None  # (finish, dom, domt) of the first success
        latest = None  # (finish, dom, domt) of the latest finish
        for j, b in enumerate(self.branches):
            if j > 0 and not (h == 0.0 or (math.inf if best is None else best[0]) > j * h):
                break  # an earlier branch already succeeded by j·h: branch j is never issued
            if j == 1:
                sim.hedged_paths.add(path)
            ok, t, d, dt = sim.run(b, f"{path}.branches[{j}]", start + j * h, attempt)
            finish = j * h + t
            if ok and (best is None or finish < best[0]):
                best = (finish, d, dt)
            if latest is None or finish > latest[0]:
                latest = (finish, d, dt)
        if best is not None:
            return True, best[0], best[1], best[2]
        assert latest is not None
        return False, latest[0], latest[1], latest[2]

    def emit(self, g: Any, path: str) -> Any:
        """Kernel code; the hedge condition is checked flat, branch by branch (a branch not issued
        keeps every later one back, since the best success time does not change)."""
        from ..engine.codegen import Res

        det = g.details
        h, st, sx = g.name("h"), g.name("st"), g.name("sx")
        slot = g.race_slot(path, float(self.hedge_delay))
        g.line(f"{h} = {g.param(self.hedge_delay)}")
        g.line(f"{st} = math.inf")
        g.line(f"{sx} = -1.0")
        state = [h, st, sx]
        if det:
            state += [*g.dom_vars(), *g.dom_vars()]  # fastest success, latest finish

        def step(s: list[str], j: int, branch: Node) -> None:
            h_, st_, sx_ = s[0], s[1], s[2]
            sd_, sdt_ = g.dom_state(s[3:])
            xd_, xdt_ = g.dom_state(s[5:])
            if j:
                g.line(f"if {h_} == 0.0 or {st_} > {j} * {h_}:")
                g.depth += 1
                if j == 1 and det:
                    g.line(f"hz[{g.race_ref(slot)}] = True")
            r = g.emit(branch, f"{path}.branches[{j}]")
            f = g.name("f")
            g.line(f"{f} = {j} * {h_} + {r.t}")
            with g.block(f"if {r.ok} & ({f} < {st_}):"):  # `&`: no short-circuit block for numba's SSA pass
                g.line(f"{st_} = {f}")
                if det:
                    g.line(f"{sd_} = {r.d}")
                    g.line(f"{sdt_} = {r.dt}")
            if det:
                with g.block(f"if {f} > {sx_}:"):
                    g.line(f"{sx_} = {f}")
                    g.line(f"{xd_} = {r.d}")
                    g.line(f"{xdt_} = {r.dt}")
            else:
                g.line(f"{sx_} = max({sx_}, {f})")
            if j:
                g.depth -= 1

        s = g.each_child(state, list(enumerate(self.branches)), step)
        st, sx = s[1], s[2]
        sd, sdt = g.dom_state(s[3:])
        xd, xdt = g.dom_state(s[5:])
        ok, t = g.name("ok"), g.name("t")
        d, dt = (g.name("d"), g.name("dt")) if det else ("-1", "-1.0")
        g.line(f"{ok} = {st} < math.inf")
        with g.block(f"if {ok}:"):
            g.line(f"{t} = {st}")
            if det:
                g.line(f"{d} = {sd}")
                g.line(f"{dt} = {sdt}")
        with g.block("else:"):
            g.line(f"{t} = {sx}")
            if det:
                g.line(f"{d} = {xd}")
                g.line(f"{dt} = {xdt}")
        return Res(ok, t, d, dt)

    def replay(self, rp: Any, path: str, start: float) -> tuple:
        from ..discover.synth import EPS_S

        st = rp.stats[path]
        h = self.hedge_delay
        best: float | None = None
        latest = -math.inf
        idx: list[int] = []
        for jb, b in enumerate(self.branches):
            s_j = jb * h
            if jb > 0 and h != 0.0 and best is not None and best <= s_j:
                break
            if jb == 1:
                st["hedgesIssued"] += 1
            ok, t, ix = rp.run(b, f"{path}.branches[{jb}]", start + s_j)
            idx += ix
            finish = s_j + t
            if ok and (best is None or finish < best):
                best = finish
            latest = max(latest, finish)
        if best is None:
            return False, latest, idx
        before = sum(1 for k in idx if rp.calls[k].end > start + best + EPS_S)
        rp.cut_calls(idx, start + best, "CANCELLED")
        st["cancelled"] += before
        return True, best, idx

    def can_be_empty(self, kids: list[bool]) -> bool:
        return kids[0]
