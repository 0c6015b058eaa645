"""``series``: steps in order; ok when every step is ok, stopping at the first failure; t = the
sum of the steps executed (docs/semantics.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..model.node import Node
from .base import Operator, schema_list, schema_ref


@dataclass(frozen=True)
class Series(Operator):
    """Steps in order; stops at the first failure; t = sum of the steps executed."""

    steps: tuple[Node, ...]
    op: ClassVar[str] = "series"

    def children_named(self) -> tuple[tuple[str, Node], ...]:
        return tuple((f"steps[{i}]", c) for i, c in enumerate(self.steps))

    def __str__(self) -> str:
        return f"Series({', '.join(map(str, self.steps))})"

    # ---- spec
    @classmethod
    def schema(cls) -> dict[str, Any]:
        return {"properties": {"steps": schema_list(schema_ref("node"))}, "required": ["steps"]}

    @classmethod
    def parse(cls, p: Any, d: dict, path: str) -> Series:
        return cls(steps=p.children("steps"))

    def dump(self, dump: Callable[[Node], dict]) -> dict:
        return {"type": "series", "steps": [dump(s) for s in self.steps]}

    # ---- summaries
    def call_count(self, kids: list) -> tuple:
        from ..spec.limits import CAP, CallCount

        e, run = 0.0, 1.0
        for c, p in kids:
            e += run * c.expected
            run *= p
        return CallCount(min(e, CAP), min(sum(c.worst for c, _ in kids), CAP)), run

    # ---- analytic
    def ok_probability(self, ok, latency) -> np.ndarray:
        return np.prod([ok(c) for c in self.steps], axis=0)

    def support(self, kids: list[float]) -> float:
        return sum(kids)

    def sum_depth(self, kids: list[int]) -> int:
        return sum(kids)

    def tail_estimate(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        from ..analytic.grid import tail_of_sum

        return tail_of_sum(kids)

    def law(self, kids: list, grid: Any) -> Any:
        return series_law(kids)

    def co_law(self, kids: list, grid: Any) -> Any:
        return co_series(kids, grid)

    def availability_bounds(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        lo = np.array([k[0] for k in kids])
        hi = np.array([k[1] for k in kids])
        return max(0.0, float(lo.sum()) - (len(lo) - 1)), float(hi.min())

    def band(self, kids: list, ev: Any) -> Any:
        return series_band(kids, ev.grid)

    def expected_calls(self, calls, ctx) -> np.ndarray:
        out = 0.0
        run = 1.0
        for c in self.steps:
            out = out + run * calls(c)
            run *= ctx.p_ok(c)
        return out

    # ---- simulation
    def simulate(self, sim: Any, path: str, start: float, attempt: int) -> tuple:
        return run_in_order(sim, [(f"{path}.steps[{i}]", s) for i, s in enumerate(self.steps)], start, attempt, stop_on_failure=True)

    def emit(self, g: Any, path: str) -> Any:
        return emit_in_order(g, self.steps, path, "steps", stop_on_failure=True)

    def replay(self, rp: Any, path: str, start: float) -> tuple:
        return replay_in_order(rp, [(f"{path}.steps[{i}]", s) for i, s in enumerate(self.steps)], start)[:3]


# --------------------------------------------------------------------------- shared with repeat


def any_of_bounds(kids: list[tuple[float, float]]) -> tuple[float, float]:
    """Fréchet bounds on P(some child ok): [max loᵢ, min(1, Σ hiᵢ)] (races, fallbacks, parallel any)."""
    lo = np.array([k[0] for k in kids])
    hi = np.array([k[1] for k in kids])
    return float(lo.max()), float(min(1.0, hi.sum()))


def series_law(laws: list) -> Any:
    """Sum of independent steps stopping at the first failure, on the grid."""
    from ..analytic.grid import Law, add_parts

    acc_s, acc_so = laws[0].s, laws[0].so
    f, fo = laws[0].f, laws[0].fo
    for law in laws[1:]:
        fm, fom = add_parts(acc_s, acc_so, law.f, law.fo)
        f, fo = f + fm, fo + fom
        acc_s, acc_so = add_parts(acc_s, acc_so, law.s, law.so)
    return Law(acc_s, f, acc_so, fo)


def co_series(laws: list, grid: Any) -> Any:
    """Comonotone durations: a success after k steps takes Σ Qᵢ(u), a mixture over the step at
    which the path ends."""
    from ..analytic.comonotone import Accumulator, comonotone_parts, levels, part_law

    parts = [comonotone_parts(law, grid) for law in laws]
    if len(parts) == 1:
        return laws[0]
    u = levels([x for sp, fp, _ in parts for x in (sp, fp)])
    s_acc, f_acc = Accumulator(grid), Accumulator(grid)
    prefix = np.zeros_like(u)
    run = 1.0
    for sp, fp, p in parts:
        if run * (1.0 - p) > 0:
            f_acc.add(prefix + fp.q(u), run * (1.0 - p), u)
        run *= p
        if run <= 0:
            break
        prefix = prefix + sp.q(u)
    if run > 0:
        s_acc.add(prefix, run, u)
    return part_law(s_acc.m, f_acc.m, s_acc.o, f_acc.o)


def series_band(bands: list, grid: Any) -> Any:
    """Dependence-free bands of steps in sequence (Makarov sums of the prefix)."""
    from ..analytic.dependence_free import NodeBand, disjoint, fold

    prefix = bands[0].s
    fails = [bands[0].f]
    for b in bands[1:]:
        fails.append(fold(prefix, b.f, grid))
        prefix = fold(prefix, b.s, grid)
    return NodeBand(prefix, disjoint(fails))


def run_in_order(sim: Any, steps: list[tuple[str, Node]], start: float, attempt: int, stop_on_failure: bool) -> tuple:
    """Reference step of series / repeat (``stop_on_failure``) and fallback: t sums the steps run;
    the dominant call is the longest of theirs (first on ties)."""
    total, dom, domt = 0.0, None, -1.0
    for p, step in steps:
        ok, t, d, dt = sim.run(step, p, start + total, attempt)
        total += t
        if dt > domt:
            dom, domt = d, dt
        if ok != stop_on_failure:
            return ok, total, dom, domt
    return stop_on_failure, total, dom, domt


def emit_in_order(g: Any, children: tuple[Node, ...], path: str, field: str, stop_on_failure: bool) -> Any:
    """Kernel code of series (``stop_on_failure``) and fallback: children run while the running
    ok flag says so; t sums them; the dominant call is the longest of theirs."""
    from ..engine.codegen import Res

    ok, t = g.name("ok"), g.name("t")
    g.line(f"{ok} = {stop_on_failure}")
    g.line(f"{t} = 0.0")
    d, dt = g.dom_vars()
    guard = "if {ok}:" if stop_on_failure else "if not {ok}:"

    def step(st: list[str], i: int, child: Node) -> None:
        ok_, t_ = st[0], st[1]
        d_, dt_ = g.dom_state(st[2:])
        if i:
            g.line(guard.format(ok=ok_))
            g.depth += 1
        r = g.emit(child, f"{path}.{field}[{i}]")
        g.line(f"{t_} += {r.t}")
        g.take_dom_if_longer(d_, dt_, r)
        g.line(f"{ok_} = {r.ok}")
        if i:
            g.depth -= 1

    st = g.each_child([ok, t, *((d, dt) if g.details else ())], list(enumerate(children)), step)
    return Res(st[0], st[1], *g.dom_state(st[2:]))


def replay_in_order(rp: Any, steps: list[tuple[str, Node]], start: float) -> tuple:
    """Replay of steps in sequence, stopping at the first failure: ``(ok, t, call indices, steps run)``."""
    total, idx = 0.0, []
    for ran, (p, step) in enumerate(steps, start=1):
        ok, t, ix = rp.run(step, p, start + total)
        total += t
        idx += ix
        if not ok:
            return False, total, idx, ran
    return True, total, idx, len(steps)
