"""``cache``: a read-through cache in front of a backing step.

``{type: cache, ref: <cache component>, hitRatio: h, step: <backing operator>}``. Every request
calls the cache component; when that call succeeds and is a hit (probability h, independent of
everything else) the request is done with the cache call's latency; otherwise — a miss, or a
failed cache call — the step runs, and the request's outcome is the step's, its latency the
cache call's plus the step's. Independent availability ``a_c·h + (1 − a_c·h)·A_step``
(docs/semantics.md). The hit is drawn (one uniform) only after a successful cache call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..model.node import Node, Ref
from .base import Operator, schema_ref


@dataclass(frozen=True)
class Cache(Operator):
    """A read-through cache: the ``component`` call answers a hit (probability ``hit_ratio`` when
    it succeeds); a miss or a failed cache call runs ``step`` after it."""

    component: str
    hit_ratio: float
    step: Node
    op: ClassVar[str] = "cache"

    @property
    def cache(self) -> Ref:
        """The cache call, a leaf."""
        return Ref(self.component)

    def children_named(self) -> tuple[tuple[str, Node], ...]:
        return (("ref", self.cache), ("step", self.step))

    def __str__(self) -> str:
        return f"Cache({self.component}, {self.hit_ratio:g}, {self.step})"

    # ---- spec
    @classmethod
    def schema(cls) -> dict[str, Any]:
        return {
            "properties": {"ref": schema_ref("componentId"), "hitRatio": schema_ref("probability"), "step": schema_ref("node")},
            "required": ["ref", "hitRatio", "step"],
        }

    @classmethod
    def parse(cls, p: Any, d: dict, path: str) -> Cache:
        component = p.component(p.need("ref"), p.at("ref"))
        hit = p.probability(p.need("hitRatio"), p.at("hitRatio"))
        return cls(component=component, hit_ratio=hit, step=p.child("step"))

    def dump(self, dump: Callable[[Node], dict]) -> dict:
        return {"type": "cache", "ref": self.component, "hitRatio": self.hit_ratio, "step": dump(self.step)}

    # ---- summaries
    def graph(self, children: list[Any], duration: Callable[[float], str]) -> Any:
        return {self.op: children[0], "hitRatio": self.hit_ratio, "step": children[1]}

    def call_count(self, kids: list) -> tuple:
        from ..spec.limits import CAP, CallCount

        (c, a), (s, p) = kids
        miss = 1.0 - a * self.hit_ratio
        return CallCount(min(c.expected + miss * s.expected, CAP), min(c.worst + s.worst, CAP)), a * self.hit_ratio + miss * p

    # ---- analytic
    def ok_probability(self, ok, latency) -> np.ndarray:
        hit = ok(self.cache) * self.hit_ratio
        return hit + (1.0 - hit) * ok(self.step)

    def support(self, kids: list[float]) -> float:
        return kids[0] + kids[1]

    def sum_depth(self, kids: list[int]) -> int:
        return kids[0] + kids[1]

    def tail_estimate(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        from ..analytic.grid import tail_of_sum

        return tail_of_sum(kids)

    def law(self, kids: list, grid: Any) -> Any:
        """Hit: the cache call's success law scaled by h. Otherwise (the rest of the cache call's
        success mass and all its failure mass) the call's time plus the step's (ok, t)."""
        from ..analytic.grid import Law, add_parts

        c, step = kids
        h = self.hit_ratio
        miss, miss_o = (1.0 - h) * c.s + c.f, (1.0 - h) * c.so + c.fo
        s, so = add_parts(miss, miss_o, step.s, step.so)
        f, fo = add_parts(miss, miss_o, step.f, step.fo)
        return Law(h * c.s + s, f, h * c.so + so, fo)

    def co_law(self, kids: list, grid: Any) -> Any:
        """Comonotone durations: the cache call and the step slow together (one u)."""
        from ..analytic.comonotone import Accumulator, comonotone_parts, levels, part_law

        (cs, cf, pc), (ss, sf, ps) = (comonotone_parts(law, grid) for law in kids)
        h = self.hit_ratio
        u = levels([cs, cf, ss, sf])
        s_acc, f_acc = Accumulator(grid), Accumulator(grid)
        s_acc.add(cs.q(u), pc * h, u)  # hit
        for q, w in ((cs.q(u), pc * (1.0 - h)), (cf.q(u), 1.0 - pc)):  # miss, failed cache call
            s_acc.add(q + ss.q(u), w * ps, u)
            f_acc.add(q + sf.q(u), w * (1.0 - ps), u)
        return part_law(s_acc.m, f_acc.m, s_acc.o, f_acc.o)

    def availability_bounds(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        """ok = (cache ok ∧ hit) ∨ step ok with an independent hit coin: P = h·a + b − h·P(both),
        P(both) between max(0, a + b − 1) and min(a, b); P rises in a and b."""
        (a_lo, a_hi), (b_lo, b_hi) = kids
        h = self.hit_ratio
        lo = h * a_lo + b_lo - h * min(a_lo, b_lo)
        hi = h * a_hi + b_hi - h * max(0.0, a_hi + b_hi - 1.0)
        return max(0.0, lo), min(1.0, hi)

    def band(self, kids: list, ev: Any) -> Any:
        """Success: a hit (the cache call's band scaled by h) or a miss followed by the step's
        success (Makarov sum); failure: a miss followed by the step's failure."""
        from ..analytic.dependence_free import NodeBand, Part, disjoint, fold

        c, step = kids
        h = self.hit_ratio

        def scaled(p: Part, q: float) -> Part:
            return Part(q * p.lo, q * p.hi, q * p.sv, q * p.tlo, q * p.thi).tidy()

        miss = disjoint([scaled(c.s, 1.0 - h), c.f])
        return NodeBand(disjoint([scaled(c.s, h), fold(miss, step.s, ev.grid)]), fold(miss, step.f, ev.grid))

    def expected_calls(self, calls, ctx) -> np.ndarray:
        return calls(self.cache) + (1.0 - ctx.p_ok(self.cache) * self.hit_ratio) * calls(self.step)

    # ---- simulation
    def simulate(self, sim: Any, path: str, start: float, attempt: int) -> tuple:
        ok, t, d, dt = sim.run(self.cache, f"{path}.ref", start, attempt)
        if ok and sim.rng.random() < self.hit_ratio:
            return True, t, d, dt
        ok_s, t_s, d_s, dt_s = sim.run(self.step, f"{path}.step", start + t, attempt)
        if dt_s > dt:
            d, dt = d_s, dt_s
        return ok_s, t + t_s, d, dt

    def emit(self, g: Any, path: str) -> Any:
        from ..engine.codegen import Res

        det = g.details
        rc = g.emit(self.cache, f"{path}.ref")
        ok, t, hit = g.name("ok"), g.name("t"), g.name("hit")
        g.line(f"{ok} = {rc.ok}")
        g.line(f"{t} = {rc.t}")
        d, dt = (g.name("d"), g.name("dt")) if det else ("-1", "-1.0")
        if det:
            g.line(f"{d} = {rc.d}")
            g.line(f"{dt} = {rc.dt}")
        g.line(f"{hit} = False")
        with g.block(f"if {ok}:"):
            g.line(f"{hit} = {g.uniform()} < {g.param(self.hit_ratio)}")
        with g.block(f"if not {hit}:"):
            rs = g.emit(self.step, f"{path}.step")
            g.line(f"{t} += {rs.t}")
            g.take_dom_if_longer(d, dt, rs)
            g.line(f"{ok} = {rs.ok}")
        return Res(ok, t, d, dt)

    def replay(self, rp: Any, path: str, start: float) -> tuple:
        st = rp.stats[path]
        ok, t, idx = rp.run(self.cache, f"{path}.ref", start)
        if ok and not rp.next_under(f"{path}.step"):
            st["hits"] += 1
            return True, t, idx
        ok_s, t_s, ix = rp.run(self.step, f"{path}.step", start + t)
        return ok_s, t + t_s, idx + ix

    def can_be_empty(self, kids: list[bool]) -> bool:
        return False
