"""``timeout``: ok when the step is ok and done by the deadline; t = min(t, deadline). The calls
inside still happen (and count as calls); only the outcome is cut (docs/semantics.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..model.node import Node, fmt_seconds
from .base import Operator, schema_ref


@dataclass(frozen=True)
class Timeout(Operator):
    """ok when the step is ok and t ≤ deadline; t = min(t, deadline)."""

    step: Node
    deadline: float
    op: ClassVar[str] = "timeout"

    def children_named(self) -> tuple[tuple[str, Node], ...]:
        return (("step", self.step),)

    def __str__(self) -> str:
        return f"Timeout({self.step}, {fmt_seconds(self.deadline)})"

    # ---- spec
    @classmethod
    def schema(cls) -> dict[str, Any]:
        return {"properties": {"step": schema_ref("node"), "deadline": schema_ref("duration")}, "required": ["step", "deadline"]}

    @classmethod
    def parse(cls, p: Any, d: dict, path: str) -> Timeout:
        step = p.child("step")
        return cls(step=step, deadline=p.latency(p.need("deadline"), p.at("deadline")))

    def dump(self, dump: Callable[[Node], dict]) -> dict:
        return {"type": "timeout", "deadline": self.deadline, "step": dump(self.step)}

    # ---- summaries
    def graph(self, children: list[Any], duration: Callable[[float], str]) -> Any:
        return {self.op: children[0], "deadline": duration(self.deadline)}

    def fixed_delay(self) -> bool:
        return True

    def call_count(self, kids: list) -> tuple:
        return kids[0]

    # ---- analytic
    def ok_probability(self, ok, latency) -> np.ndarray:
        return latency(self) if latency is not None else ok(self.step)

    def timed_step(self) -> tuple[Node, float] | None:
        return self.step, self.deadline

    def support(self, kids: list[float]) -> float:
        return min(kids[0], self.deadline)

    def sum_depth(self, kids: list[int]) -> int:
        return kids[0]

    def tail_estimate(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        m, t = kids[0]
        return min(m, self.deadline), min(t, self.deadline)

    def law(self, kids: list, grid: Any) -> Any:
        from ..analytic.grid import cut

        return cut(kids[0], *grid.threshold(self.deadline))

    def co_law(self, kids: list, grid: Any) -> Any:
        from ..analytic.grid import cut

        return cut(kids[0], *grid.threshold(self.deadline))

    def availability_bounds(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        return kids[0]

    def band(self, kids: list, ev: Any) -> Any:
        from ..analytic.dependence_free import cut_band

        return cut_band(kids[0], self.deadline, ev.grid)

    def expected_calls(self, calls, ctx) -> np.ndarray:
        return calls(self.step)

    # ---- simulation
    def simulate(self, sim: Any, path: str, start: float, attempt: int) -> tuple:
        ok, t, d, dt = sim.run(self.step, f"{path}.step", start, attempt)
        if t > self.deadline:
            return False, self.deadline, d, min(dt, self.deadline)
        return ok, t, d, dt

    def emit(self, g: Any, path: str) -> Any:
        from ..engine.codegen import Res

        det = g.details
        r = g.emit(self.step, f"{path}.step")
        ok, t, dl = g.name("ok"), g.name("t"), g.name("dl")
        g.line(f"{ok} = {r.ok}")
        g.line(f"{t} = {r.t}")
        d, dt = (g.name("d"), g.name("dt")) if det else ("-1", "-1.0")
        if det:
            g.line(f"{d} = {r.d}")
            g.line(f"{dt} = {r.dt}")
        g.line(f"{dl} = {g.param(self.deadline)}")
        with g.block(f"if {t} > {dl}:"):
            g.line(f"{ok} = False")
            g.line(f"{t} = {dl}")
            if det:
                with g.block(f"if {dt} > {dl}:"):
                    g.line(f"{dt} = {dl}")
        return Res(ok, t, d, dt)

    def replay(self, rp: Any, path: str, start: float) -> tuple:
        st = rp.stats[path]
        ok, t, idx = rp.run(self.step, f"{path}.step", start)
        if t > self.deadline:
            rp.cut_calls(idx, start + self.deadline, "DEADLINE_EXCEEDED")
            st["fired"] += 1
            return False, self.deadline, idx
        return ok, t, idx
