"""``retry``: up to ``attempts`` tries of the step (attempts counts the first); with
``perTryTimeout`` a try slower than it is a failure that took exactly the timeout; between failed
tries the request waits ``backoff(i) = min(initial·multiplierⁱ⁻¹, max)``. ok when some try is ok;
t = the tries and waits. Tries redraw the components' own randomness but keep the request's
failure-domain state (docs/semantics.md)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..model.node import Node, fmt_seconds
from .base import Operator, schema_number, schema_ref
from .fallback import co_fallback, fallback_band, fallback_law

MAX_ATTEMPTS = 100
"""The most tries a ``retry`` may declare."""

BACKOFF_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "initial": schema_ref("duration"),
        "multiplier": schema_number(minimum=1.0),
        "max": schema_ref("duration"),
    },
    "additionalProperties": False,
}
"""``backoff`` as a mapping (a bare duration is a constant wait)."""


@dataclass(frozen=True)
class Backoff:
    """Wait before retry attempt i (i = 1 … attempts−1): min(initial·multiplier^(i−1), max)."""

    initial: float = 0.0
    multiplier: float = 1.0
    max: float | None = None

    def delay(self, i: int) -> float:
        d = self.initial * self.multiplier ** (i - 1)
        return d if self.max is None else min(d, self.max)

    def total(self, attempts: int) -> float:
        """Sum of the waits between ``attempts`` tries, without overflow (``inf`` past 1e300)."""
        total = 0.0
        for i in range(1, attempts):
            total += self.delay(i)
            if total > 1e300:
                return math.inf
        return total


@dataclass(frozen=True)
class Retry(Operator):
    """Up to ``attempts`` tries of ``step`` (attempts counts the first try). A try is ok when the
    step is ok and, with ``per_try_timeout``, finishes by it (a timed-out try costs the timeout).
    t = sum of tries and backoff waits. Tries redraw the components' own randomness but keep the
    request's failure-domain state."""

    step: Node
    attempts: int
    per_try_timeout: float | None = None
    backoff: Backoff = field(default_factory=Backoff)
    op: ClassVar[str] = "retry"

    def children_named(self) -> tuple[tuple[str, Node], ...]:
        return (("step", self.step),)

    def __str__(self) -> str:
        extra = f", perTry={fmt_seconds(self.per_try_timeout)}" if self.per_try_timeout is not None else ""
        return f"Retry({self.step}, {self.attempts}{extra})"

    def waits(self) -> list[float]:
        """The waits after failed tries 1 … attempts−1 (seconds)."""
        return [self.backoff.delay(i) for i in range(1, self.attempts)]

    # ---- spec
    @classmethod
    def schema(cls) -> dict[str, Any]:
        return {
            "properties": {
                "step": schema_ref("node"),
                "attempts": schema_number(minimum=1, maximum=MAX_ATTEMPTS, integer=True),
                "perTryTimeout": schema_ref("duration"),
                "backoff": {"anyOf": [schema_ref("duration"), BACKOFF_SCHEMA]},
            },
            "required": ["step", "attempts"],
        }

    @classmethod
    def parse(cls, p: Any, d: dict, path: str) -> Retry:
        from ..spec import limits as L

        step = p.child("step")
        attempts = int(p.number(p.need("attempts"), p.at("attempts"), lo=1, hi=MAX_ATTEMPTS, integer=True))
        ptt = p.latency(d["perTryTimeout"], p.at("perTryTimeout")) if "perTryTimeout" in d else None
        backoff = _parse_backoff(p, d.get("backoff"), p.at("backoff"))
        waits = backoff.total(attempts)
        if waits > L.MAX_LATENCY:
            raise p.fail(p.at("backoff"), f"the {attempts - 1} backoff waits add up to {waits:.3g}s, more than 1d (cap them with 'max')")
        return cls(step=step, attempts=attempts, per_try_timeout=ptt, backoff=backoff)

    def dump(self, dump: Callable[[Node], dict]) -> dict:
        d: dict[str, Any] = {"type": "retry", "attempts": self.attempts, "step": dump(self.step)}
        if self.per_try_timeout is not None:
            d["perTryTimeout"] = self.per_try_timeout
        b = self.backoff
        if b.initial or b.multiplier != 1.0 or b.max is not None:
            bd: dict[str, Any] = {"initial": b.initial, "multiplier": b.multiplier}
            if b.max is not None:
                bd["max"] = b.max
            d["backoff"] = bd
        return d

    # ---- summaries
    def graph(self, children: list[Any], duration: Callable[[float], str]) -> Any:
        return {self.op: children[0], "attempts": self.attempts}

    def redundancy(self) -> tuple[str, dict] | None:
        ptt = None if self.per_try_timeout is None else round(self.per_try_timeout, 9)
        return "retry", {"attempts": self.attempts, "perTryTimeoutSeconds": ptt}

    def fixed_delay(self) -> bool:
        return self.per_try_timeout is not None or self.backoff.initial > 0

    def call_count(self, kids: list) -> tuple:
        from ..spec.limits import CAP, CallCount

        (c, p), n = kids[0], self.attempts
        if p <= 0.0:
            tries = float(n)
        elif p >= 1.0:
            tries = 1.0
        else:
            tries = (1.0 - (1.0 - p) ** n) / p  # Σ_{i<n} (1 − p)^i
        return CallCount(min(c.expected * tries, CAP), min(c.worst * n, CAP)), 1.0 - (1.0 - p) ** n

    # ---- analytic
    def ok_probability(self, ok, latency) -> np.ndarray:
        one = latency(self) if (latency is not None and self.per_try_timeout is not None) else ok(self.step)
        return 1.0 - (1.0 - one) ** self.attempts

    def timed_step(self) -> tuple[Node, float] | None:
        return None if self.per_try_timeout is None else (self.step, self.per_try_timeout)

    def support(self, kids: list[float]) -> float:
        one = kids[0]
        if self.per_try_timeout is not None:
            one = min(one, self.per_try_timeout)
        return self.attempts * one + sum(self.waits())

    def sum_depth(self, kids: list[int]) -> int:
        return self.attempts * kids[0] + sum(1 for w in self.waits() if w > 0)

    def tail_estimate(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        from ..analytic.grid import tail_of_sum

        m, t = kids[0]
        if self.per_try_timeout is not None:
            m, t = min(m, self.per_try_timeout), min(t, self.per_try_timeout)
        return tail_of_sum([(m, t)] * self.attempts, sum(self.waits()))

    def law(self, kids: list, grid: Any) -> Any:
        from ..analytic.grid import cut

        one = cut(kids[0], *grid.threshold(self.per_try_timeout)) if self.per_try_timeout is not None else kids[0]
        return fallback_law([one] * self.attempts, [grid.index(w) for w in self.waits()])

    def co_law(self, kids: list, grid: Any) -> Any:
        from ..analytic.grid import cut

        one = cut(kids[0], *grid.threshold(self.per_try_timeout)) if self.per_try_timeout is not None else kids[0]
        return co_fallback([one] * self.attempts, grid, [grid.index(w) * grid.step for w in self.waits()])

    def availability_bounds(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        lo, hi = kids[0]
        return lo, min(1.0, self.attempts * hi)

    def band(self, kids: list, ev: Any) -> Any:
        from ..analytic.dependence_free import cut_band

        one = cut_band(kids[0], self.per_try_timeout, ev.grid) if self.per_try_timeout is not None else kids[0]
        return fallback_band([one] * self.attempts, ev.grid, self.waits())

    def expected_calls(self, calls, ctx) -> np.ndarray:
        p = ctx.p_ok_cut(self.step, self.per_try_timeout) if self.per_try_timeout is not None else ctx.p_ok(self.step)
        runs = sum((1.0 - p) ** k for k in range(self.attempts))
        return runs * calls(self.step)

    # ---- simulation
    def simulate(self, sim: Any, path: str, start: float, attempt: int) -> tuple:
        tau = math.inf if self.per_try_timeout is None else self.per_try_timeout
        total, dom, domt = 0.0, None, -1.0
        for a in range(1, self.attempts + 1):
            ok, t, d, dt = sim.run(self.step, f"{path}.step", start + total, a)
            if t > tau:  # a timed-out try is a failure that took exactly tau
                ok, t = False, tau
            total += t
            dt = dt if dt < t else t
            if d is not None and dt > domt:
                dom, domt = d, dt
            if ok:
                return True, total, dom, domt
            if a < self.attempts:
                total += self.backoff.delay(a)
        return False, total, dom, domt

    def emit(self, g: Any, path: str) -> Any:
        from ..engine.codegen import Res

        det = g.details
        ok, t = g.name("ok"), g.name("t")
        a, oka, ta = g.name("a"), g.name("oka"), g.name("ta")
        g.line(f"{ok} = False")
        g.line(f"{t} = 0.0")
        d, dt = g.dom_vars()
        tau = g.param(self.per_try_timeout) if self.per_try_timeout is not None else None
        # the waits after tries 1 … attempts−1, and 0 after the last: added without a branch
        waits = g.params([*self.waits(), 0.0]) if self.attempts > 1 else None
        with g.block(f"for {a} in range(1, {self.attempts + 1}):"):
            r = g.emit(self.step, f"{path}.step")
            # one assignment each and no branch: numba's SSA pass costs (variables assigned more
            # than once) x (blocks), the larger part of compiling a retry-heavy journey
            if tau is not None:
                g.line(f"{oka} = {r.ok} & (not ({r.t} > {tau}))")
                g.line(f"{ta} = min({r.t}, {tau})")
            else:
                g.line(f"{oka} = {r.ok}")
                g.line(f"{ta} = {r.t}")
            g.line(f"{t} += {ta}")
            if det:
                x = g.name("x")
                g.line(f"{x} = min({r.dt}, {ta})")
                with g.block(f"if {r.d} >= 0 and {x} > {dt}:"):
                    g.line(f"{d} = {r.d}")
                    g.line(f"{dt} = {x}")
            with g.block(f"if {oka}:"):
                g.line(f"{ok} = True")
                g.line("break")
            if waits is not None:
                g.line(f"{t} += fp[{waits} + {a} - 1]")
        return Res(ok, t, d, dt)

    def replay(self, rp: Any, path: str, start: float) -> tuple:
        st = rp.stats[path]
        tau = math.inf if self.per_try_timeout is None else self.per_try_timeout
        total, idx = 0.0, []
        for a in range(1, self.attempts + 1):
            if a > 1:
                st["retried"] += 1
            ok, t, ix = rp.run(self.step, f"{path}.step", start + total)
            idx += ix
            if t > tau:
                rp.cut_calls(ix, start + total + tau, "DEADLINE_EXCEEDED")
                st["perTryTimeouts"] += 1
                ok, t = False, tau
            total += t
            if ok:
                return True, total, idx
            if a < self.attempts:
                total += self.backoff.delay(a)
        st["exhausted"] += 1
        return False, total, idx


def _parse_backoff(p: Any, raw: Any, path: str) -> Backoff:
    from ..spec import limits as L

    if raw is None:
        return Backoff()
    if not isinstance(raw, dict):
        return Backoff(initial=p.latency(raw, path, zero_ok=True))
    p.keys(raw, tuple(BACKOFF_SCHEMA["properties"]), path)
    return Backoff(
        initial=p.latency(raw.get("initial", 0), p.join(path, "initial"), zero_ok=True),
        multiplier=p.in_range(raw.get("multiplier", 1.0), p.join(path, "multiplier"), 1.0, L.MAX_BACKOFF_MULTIPLIER, "backoff multiplier"),
        max=p.latency(raw["max"], p.join(path, "max"), zero_ok=True) if "max" in raw else None,
    )
