"""``repeat``: ``count`` sequential calls of the step (N+1 query patterns), with series
semantics: all ok, stopping at the first failure; t sums them (docs/semantics.md)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..model.node import Node
from .base import Operator, schema_number, schema_ref
from .series import replay_in_order, run_in_order, series_band, series_law

MAX_COUNT = 10_000
"""The most repetitions a ``repeat`` may declare."""


@dataclass(frozen=True)
class Repeat(Operator):
    """``count`` sequential calls of ``step`` (N+1 query patterns): series semantics."""

    step: Node
    count: int
    op: ClassVar[str] = "repeat"

    def children_named(self) -> tuple[tuple[str, Node], ...]:
        return (("step", self.step),)

    def __str__(self) -> str:
        return f"Repeat({self.step}, {self.count})"

    # ---- spec
    @classmethod
    def schema(cls) -> dict[str, Any]:
        return {
            "properties": {"step": schema_ref("node"), "count": schema_number(minimum=1, maximum=MAX_COUNT, integer=True)},
            "required": ["step", "count"],
        }

    @classmethod
    def parse(cls, p: Any, d: dict, path: str) -> Repeat:
        step = p.child("step")
        return cls(step=step, count=int(p.number(p.need("count"), p.at("count"), lo=1, hi=MAX_COUNT, integer=True)))

    def dump(self, dump: Callable[[Node], dict]) -> dict:
        return {"type": "repeat", "count": self.count, "step": dump(self.step)}

    # ---- summaries
    def graph(self, children: list[Any], duration: Callable[[float], str]) -> Any:
        return {self.op: children[0], "count": self.count}

    def call_count(self, kids: list) -> tuple:
        from ..spec.limits import CAP, CallCount

        (c, p), n = kids[0], self.count
        e = c.expected * (float(n) if p >= 1.0 else (1.0 - p**n) / (1.0 - p))
        return CallCount(min(e, CAP), min(c.worst * n, CAP)), p**n

    # ---- analytic
    def ok_probability(self, ok, latency) -> np.ndarray:
        return ok(self.step) ** self.count

    def support(self, kids: list[float]) -> float:
        return self.count * kids[0]

    def sum_depth(self, kids: list[int]) -> int:
        return self.count * kids[0]

    def tail_estimate(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        m, t = kids[0]
        return self.count * m, self.count * m + math.sqrt(self.count) * (t - m)

    def law(self, kids: list, grid: Any) -> Any:
        """``count`` sequential copies, by binary powering: (P_m, F_m) → P_2m = P_m ⊕ P_m,
        F_2m = F_m + P_m ⊕ F_m (the failure happens in the first or the second half)."""
        return _power(kids[0], self.count, series_law)

    def co_law(self, kids: list, grid: Any) -> Any:
        from ..analytic.comonotone import Accumulator, comonotone_parts, levels, part_law

        law = kids[0]
        if self.count == 1:
            return law
        sp, fp, p = comonotone_parts(law, grid)
        u = levels([sp, fp])
        s_acc, f_acc = Accumulator(grid), Accumulator(grid)
        for k in range(self.count):
            w = p**k * (1.0 - p)
            if w > 0:
                f_acc.add(fp.q(u) if k == 0 else k * sp.q(u) + fp.q(u), w, u)
        if p > 0:
            s_acc.add(self.count * sp.q(u), p**self.count, u)
        return part_law(s_acc.m, f_acc.m, s_acc.o, f_acc.o)

    def availability_bounds(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        lo, hi = kids[0]
        return max(0.0, self.count * lo - (self.count - 1)), hi

    def band(self, kids: list, ev: Any) -> Any:
        return _power(kids[0], self.count, lambda parts: series_band(parts, ev.grid))

    def expected_calls(self, calls, ctx) -> np.ndarray:
        p = ctx.p_ok(self.step)
        return sum(p**k for k in range(self.count)) * calls(self.step)

    # ---- simulation
    def simulate(self, sim: Any, path: str, start: float, attempt: int) -> tuple:
        return run_in_order(sim, [(f"{path}.step", self.step)] * self.count, start, attempt, stop_on_failure=True)

    def emit(self, g: Any, path: str) -> Any:
        from ..engine.codegen import Res

        ok, t, i = g.name("ok"), g.name("t"), g.name("i")
        g.line(f"{ok} = True")
        g.line(f"{t} = 0.0")
        d, dt = g.dom_vars()
        with g.block(f"for {i} in range({self.count}):"):
            r = g.emit(self.step, f"{path}.step")
            g.line(f"{t} += {r.t}")
            g.take_dom_if_longer(d, dt, r)
            g.line(f"{ok} = {r.ok}")
            with g.block(f"if not {ok}:"):
                g.line("break")
        return Res(ok, t, d, dt)

    def replay(self, rp: Any, path: str, start: float) -> tuple:
        ok, total, idx, ran = replay_in_order(rp, [(f"{path}.step", self.step)] * self.count, start)
        rp.stats[path]["iterations"] += ran
        return ok, total, idx


def _power(x: Any, count: int, seq: Callable[[list], Any]) -> Any:
    """``count`` copies of ``x`` in sequence by binary powering of ``seq`` (pairs)."""
    result = None
    base = x
    n = count
    while n:
        if n & 1:
            result = base if result is None else seq([result, base])
        n >>= 1
        if n:
            base = seq([base, base])
    assert result is not None
    return result
