"""``choice``: exactly one branch runs, chosen with probability weight / Σ weights (A/B splits,
canary weights); the others make no calls (docs/semantics.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..model.node import Node
from .base import Operator, schema_list, schema_number, schema_ref

WEIGHT = schema_number(minimum=0.0)
STEP_BRANCH: dict[str, Any] = {
    "type": "object",
    "properties": {"weight": WEIGHT, "step": schema_ref("node"), "name": {"type": "string"}, "description": {"type": "string"}},
    "required": ["weight", "step"],
    "additionalProperties": False,
}
"""A branch written ``{weight, step: node}``."""


@dataclass(frozen=True)
class Choice(Operator):
    """Exactly one branch runs, chosen with probability weight/Σweights (A/B, canary splits)."""

    branches: tuple[Node, ...]
    weights: tuple[float, ...]
    op: ClassVar[str] = "choice"

    def children_named(self) -> tuple[tuple[str, Node], ...]:
        return tuple((f"branches[{i}]", c) for i, c in enumerate(self.branches))

    def spec_children(self) -> tuple[tuple[str, Node], ...]:
        return tuple((f"branches[{i}].step", c) for i, c in enumerate(self.branches))

    @property
    def probabilities(self) -> tuple[float, ...]:
        total = sum(self.weights)
        return tuple(w / total for w in self.weights)

    def __str__(self) -> str:
        inner = ", ".join(f"{p:g}:{b}" for p, b in zip(self.probabilities, self.branches))
        return f"Choice({inner})"

    # ---- spec
    @classmethod
    def schema(cls) -> dict[str, Any]:
        # a branch is {weight, step: node}, or a node (a ref or an inline operator) with a weight beside its keys
        return {"properties": {"branches": schema_list({"anyOf": [STEP_BRANCH, schema_ref("weightedNode")]})}, "required": ["branches"]}

    @classmethod
    def parse(cls, p: Any, d: dict, path: str) -> Choice:
        items = p.sequence(p.need("branches"), p.at("branches"))
        if not items:
            raise p.fail(p.at("branches"), "choice has empty branches")
        weights, nodes = [], []
        for i, raw in enumerate(items):
            bp = f"{path}.branches[{i}]"
            bm = p.mapping(raw, bp)
            if "weight" not in bm:
                raise p.fail(bp, "choice branch needs 'weight'")
            weights.append(p.number(bm["weight"], p.join(bp, "weight"), lo=0.0))
            # a branch is {weight, step: node} or a node (a ref or any inline operator) with a weight
            if "step" in bm and "type" not in bm and "ref" not in bm:
                p.keys(bm, tuple(STEP_BRANCH["properties"]), bp)
                nodes.append(p.node(bm["step"], p.join(bp, "step")))
            else:
                nodes.append(p.node({k: v for k, v in bm.items() if k != "weight"}, bp))
        if sum(weights) <= 0:
            raise p.fail(p.at("branches"), "choice weights are all zero")
        return cls(branches=tuple(nodes), weights=tuple(weights))

    def dump(self, dump: Callable[[Node], dict]) -> dict:
        return {"type": "choice", "branches": [{"weight": w, "step": dump(b)} for w, b in zip(self.weights, self.branches)]}

    # ---- summaries
    def graph(self, children: list[Any], duration: Callable[[float], str]) -> Any:
        return {self.op: [{"weight": w, "step": c} for w, c in zip(self.probabilities, children)]}

    def branch_probabilities(self) -> list[tuple[str, Node, float]]:
        return [("choice", b, p) for b, p in zip(self.branches, self.probabilities)]

    def call_count(self, kids: list) -> tuple:
        from ..spec.limits import CAP, CallCount

        probs = self.probabilities
        e = sum(q * c.expected for q, (c, _) in zip(probs, kids))
        return CallCount(min(e, CAP), max(c.worst for c, _ in kids)), sum(q * p for q, (_, p) in zip(probs, kids))

    # ---- analytic
    def ok_probability(self, ok, latency) -> np.ndarray:
        return np.sum([w * ok(c) for w, c in zip(self.probabilities, self.branches)], axis=0)

    def support(self, kids: list[float]) -> float:
        return max(kids)

    def sum_depth(self, kids: list[int]) -> int:
        return max(kids)

    def tail_estimate(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        return max(p[0] for p in kids), max(p[1] for p in kids)

    def law(self, kids: list, grid: Any) -> Any:
        from ..analytic.grid import mix_laws

        return mix_laws(kids, list(self.probabilities))

    def co_law(self, kids: list, grid: Any) -> Any:
        from ..analytic.grid import mix_laws

        return mix_laws(kids, list(self.probabilities))

    def availability_bounds(self, kids: list[tuple[float, float]]) -> tuple[float, float]:
        w = np.array(self.probabilities)
        lo = np.array([k[0] for k in kids])
        hi = np.array([k[1] for k in kids])
        return float(w @ lo), float(min(1.0, w @ hi))

    def band(self, kids: list, ev: Any) -> Any:
        from ..analytic.dependence_free import NodeBand, Part

        w = self.probabilities

        def mix(parts: list) -> Any:
            return Part(
                np.sum([wi * p.lo for wi, p in zip(w, parts)], axis=0),
                np.sum([wi * p.hi for wi, p in zip(w, parts)], axis=0),
                np.sum([wi * p.sv for wi, p in zip(w, parts)], axis=0),
                sum(wi * p.tlo for wi, p in zip(w, parts)),
                sum(wi * p.thi for wi, p in zip(w, parts)),
            ).tidy()

        return NodeBand(mix([k.s for k in kids]), mix([k.f for k in kids]))

    def expected_calls(self, calls, ctx) -> np.ndarray:
        return np.sum([w * calls(c) for w, c in zip(self.probabilities, self.branches)], axis=0)

    # ---- simulation
    def simulate(self, sim: Any, path: str, start: float, attempt: int) -> tuple:
        from ..model.quantiles import choice_cumulative

        if len(self.branches) == 1:
            return sim.run(self.branches[0], f"{path}.branches[0]", start, attempt)
        u = sim.rng.random()
        cum = choice_cumulative(self.probabilities)
        j = next(i for i, c in enumerate(cum) if u < c or i == len(cum) - 1)
        return sim.run(self.branches[j], f"{path}.branches[{j}]", start, attempt)

    def emit(self, g: Any, path: str) -> Any:
        from ..engine.codegen import Res
        from ..model.quantiles import choice_cumulative

        det = g.details
        out = Res(g.name("ok"), g.name("t"), *((g.name("d"), g.name("dt")) if det else ("-1", "-1.0")))
        last = len(self.branches) - 1
        if last == 0:
            g.assign(out, g.emit(self.branches[0], f"{path}.branches[0]"))
            return out
        u = g.name("u")
        g.line(f"{u} = {g.uniform()}")
        cum = choice_cumulative(self.probabilities)
        for j, branch in enumerate(self.branches):
            head = "else:" if j == last else (f"if {u} < {g.param(cum[j])}:" if j == 0 else f"elif {u} < {g.param(cum[j])}:")
            with g.block(head):
                g.assign(out, g.emit(branch, f"{path}.branches[{j}]"))
        return out

    def replay(self, rp: Any, path: str, start: float) -> tuple:
        from ..discover.synth import ReplayMismatch, can_be_empty

        st = rp.stats[path]
        for jb, b in enumerate(self.branches):
            if rp.next_under(f"{path}.branches[{jb}]"):
                st[f"branch{jb}"] += 1
                return rp.run(b, f"{path}.branches[{jb}]", start)
        # the chosen branch made no call (an optional step inside it was skipped)
        for jb, b in enumerate(self.branches):
            if can_be_empty(b):
                st[f"branch{jb}"] += 1
                return rp.run(b, f"{path}.branches[{jb}]", start)
        raise ReplayMismatch(f"{path}: no recorded call under any choice branch")

    def can_be_empty(self, kids: list[bool]) -> bool:
        return any(kids)
