"""``fallback``: branches tried in order until one is ok; t = the sum of the tried branches
(docs/semantics.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..model.node import Node
from .base import Operator, schema_list, schema_ref
from .series import any_of_bounds, emit_in_order, run_in_order


@dataclass(frozen=True)
class Fallback(Operator):
    """Branches tried in order until one is ok; t = sum of tried branches."""

    branches: tuple[Node, ...]
    op: ClassVar[str] = "fallback"

    def children_named(self) -> tuple[tuple[str, Node], ...]:
        return tuple((f"branches[{i}]", c) for i, c in enumerate(self.branches))

    def __str__(self) -> str:
        return f"Fallback({', '.join(map(str, self.branches))})"

    # ---- spec
    @classmethod
    def schema(cls) -> dict[str, Any]:
        return {"properties": {"branches": schema_list(schema_ref("node"))}, "required": ["branches"]}

    @classmethod
    def parse(cls, p: Any, d: dict, path: str) -> Fallback:
        return cls(branches=p.children("branches"))

    def dump(self, dump: Callable[[Node], dict]) -> dict:
        return {"type": "fallback", "branches": [dump(b) for b in self.branches]}

    # ---- summaries
    def redundancy(self) -> tuple[str, dict] | None:
        return "fallback", {"order": [sorted(frozenset(b.refs())) for b in self.branches]}

    def call_count(self, kids: list) -> tuple:
        from ..spec.limits import CAP, CallCount

        e, run = 0.0, 1.0
        for c, p in kids:
            e += run * c.expected
            run *= 1.0 - p
        return CallCount(min(e, CAP), min(sum(c.worst for c, _ in kids), CAP)), 1.0 - run

    # ---- analytic
    def ok_probability(self, ok, latency) -> np.ndarray:
        # a branch is tried only when every earlier one failed: ok = some branch ok
        return 1.0 - np.prod([1.0 - ok(c) for c in self.branches], axis=0)

    def support(self, kids: list[float]) -> float:
        return sum(kids)

    def sum_depth(self, kids: list[int]) -> int:
        return sum(kids)

    def tail_estimate(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        from ..analytic.grid import tail_of_sum

        return tail_of_sum(kids)

    def law(self, kids: list, grid: Any) -> Any:
        return fallback_law(kids)

    def co_law(self, kids: list, grid: Any) -> Any:
        return co_fallback(kids, grid)

    def availability_bounds(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        return any_of_bounds(kids)

    def band(self, kids: list, ev: Any) -> Any:
        return fallback_band(kids, ev.grid)

    def expected_calls(self, calls, ctx) -> np.ndarray:
        out = 0.0
        run = 1.0
        for c in self.branches:
            out = out + run * calls(c)
            run *= 1.0 - ctx.p_ok(c)
        return out

    # ---- simulation
    def simulate(self, sim: Any, path: str, start: float, attempt: int) -> tuple:
        return run_in_order(sim, [(f"{path}.branches[{i}]", b) for i, b in enumerate(self.branches)], start, attempt, stop_on_failure=False)

    def emit(self, g: Any, path: str) -> Any:
        return emit_in_order(g, self.branches, path, "branches", stop_on_failure=False)

    def replay(self, rp: Any, path: str, start: float) -> tuple:
        st = rp.stats[path]
        total, idx = 0.0, []
        for i, b in enumerate(self.branches):
            if i:
                st["alternativeTaken"] += 1
            ok, t, ix = rp.run(b, f"{path}.branches[{i}]", start + total)
            total += t
            idx += ix
            if ok:
                return True, total, idx
        return False, total, idx

    def can_be_empty(self, kids: list[bool]) -> bool:
        return kids[0]


# --------------------------------------------------------------------------- shared with retry


def fallback_law(laws: list, waits: list[int] | None = None) -> Any:
    """Try branches in order; ``waits[i]`` grid steps pass after failed branch i (backoff)."""
    from ..analytic.grid import Law, add_parts, shift

    acc_f, acc_fo = laws[0].f, laws[0].fo
    s, so = laws[0].s, laws[0].so
    for i, law in enumerate(laws[1:]):
        if waits:
            acc_f, acc_fo = shift(acc_f, acc_fo, waits[i])
        sm, som = add_parts(acc_f, acc_fo, law.s, law.so)
        s, so = s + sm, so + som
        acc_f, acc_fo = add_parts(acc_f, acc_fo, law.f, law.fo)
    return Law(s, acc_f, so, acc_fo)


def co_fallback(laws: list, grid: Any, waits: list[float] | None = None) -> Any:
    """Comonotone durations: a success on try i takes the failed tries' quantiles, the waits and
    the successful try's quantile, summed."""
    from ..analytic.comonotone import Accumulator, comonotone_parts, levels, part_law

    if len(laws) == 1:
        return laws[0]
    parts = [comonotone_parts(law, grid) for law in laws]
    u = levels([x for sp, fp, _ in parts for x in (sp, fp)])
    s_acc, f_acc = Accumulator(grid), Accumulator(grid)
    prefix = np.zeros_like(u)
    run = 1.0
    for i, (sp, fp, p) in enumerate(parts):
        if i and waits:
            prefix = prefix + waits[i - 1]
        if run * p > 0:
            s_acc.add(prefix + sp.q(u), run * p, u)
        run *= 1.0 - p
        if run <= 0:
            break
        prefix = prefix + fp.q(u)
    if run > 0:
        f_acc.add(prefix, run, u)
    return part_law(s_acc.m, f_acc.m, s_acc.o, f_acc.o)


def fallback_band(bands: list, grid: Any, waits: list[float] | None = None) -> Any:
    """Dependence-free bands of alternatives tried in order (with waits between them)."""
    from ..analytic.dependence_free import NodeBand, delay, disjoint, fold

    prefix = bands[0].f
    wins = [bands[0].s]
    for i, b in enumerate(bands[1:]):
        if waits:
            prefix = delay(prefix, waits[i], grid)
        wins.append(fold(prefix, b.s, grid))
        prefix = fold(prefix, b.f, grid)
    return NodeBand(disjoint(wins), prefix)
