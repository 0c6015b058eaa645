"""Correlation scenarios (docs/semantics.md "Scenarios"): what each failure domain does.

Both the analytic layer and the engine take a :class:`Scenario` and derive from it the same
three things: fate groups (comonotone sets), the gaussian factor model (loadings and own
variance per component, for failure and for latency), and shock domains with calibrated
own availabilities ``a′ᵢ``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .groups import connected_groups
from .journey import Journey

ScenarioName = Literal["independent", "declared", "shared", "pessimistic", "custom"]
SCENARIO_NAMES: tuple[str, ...] = ("declared", "independent", "shared", "pessimistic")


@dataclass(frozen=True)
class Sharable:
    """A domain that shared-fate scenarios may switch to full sharing."""

    name: str
    members: tuple[str, ...]


@dataclass(frozen=True)
class Scenario:
    """``shared``: names of sharable domains at full shared fate. ``factors``: use declared
    gaussian factors / matrix (only for sharables not in ``shared``). ``shocks``: shock domains
    as written. ``latency``: latency correlation as written."""

    name: str
    shared: frozenset[str] = frozenset()
    factors: bool = False
    shocks: bool = False
    latency: bool = False

    @staticmethod
    def independent() -> Scenario:
        return Scenario("independent")

    @staticmethod
    def declared() -> Scenario:
        return Scenario("declared", factors=True, shocks=True, latency=True)

    @staticmethod
    def shared_fate(shared: frozenset[str] | set[str], name: str = "custom") -> Scenario:
        return Scenario(name, shared=frozenset(shared), shocks=True, latency=True)


def sharable_domains(j: Journey) -> tuple[Sharable, ...]:
    """Gaussian and magnitude-free domains with members, plus one entry per connected group of
    positively correlated components of the explicit matrix (``matrix:<first member>``)."""
    out = [Sharable(d.name, d.members) for d in j.domains if d.model in ("none", "gaussian") and d.members]
    if j.correlation is not None:
        names = j.correlation.components
        m = np.asarray(j.correlation.matrix)
        for g in connected_groups(len(names), lambda a, b: m[a, b] > 0):
            if len(g) > 1:
                out.append(Sharable(f"matrix:{names[g[0]]}", tuple(names[i] for i in g)))
    return tuple(out)


def named_scenario(j: Journey, name: str, pessimistic_shared: frozenset[str] | None = None) -> Scenario:
    """The scenario for ``--correlation NAME``. ``pessimistic`` needs the minimising set from the
    analytic layer (``pessimistic_shared``)."""
    if name == "independent":
        return Scenario.independent()
    if name == "declared":
        return Scenario.declared()
    if name == "shared":
        return Scenario.shared_fate({s.name for s in sharable_domains(j)}, "shared")
    if name == "pessimistic":
        if pessimistic_shared is None:
            raise ValueError("the pessimistic scenario needs the analytic minimiser (pessimistic_shared)")
        return Scenario.shared_fate(pessimistic_shared, "pessimistic")
    raise ValueError(f"unknown correlation scenario {name!r} (one of {', '.join(SCENARIO_NAMES)})")


def fate_groups(j: Journey, scenario: Scenario) -> tuple[tuple[str, ...], ...]:
    """Connected components (over shared domains) of components; singletons omitted, sorted."""
    by_name = {s.name: s for s in sharable_domains(j)}
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for name in sorted(scenario.shared):
        s = by_name.get(name)
        if s is None:
            raise ValueError(f"scenario shares unknown domain {name!r}")
        for m in s.members[1:]:
            parent[find(m)] = find(s.members[0])
        find(s.members[0])
    groups: dict[str, list[str]] = {}
    order = {c: i for i, c in enumerate(j.component_ids)}
    for c in parent:
        groups.setdefault(find(c), []).append(c)
    out = [tuple(sorted(g, key=order.__getitem__)) for g in groups.values() if len(g) > 1]
    return tuple(sorted(out, key=lambda g: order[g[0]]))


@dataclass(frozen=True)
class FactorModel:
    """Linear gaussian factor model over the journey's components (rows in ``component_ids``
    order): latent ``Z_i = loadings[i] · W + own_sd[i] · ε``, W ~ N(0, I_K)."""

    loadings: np.ndarray  # (n_components, K)
    own_sd: np.ndarray  # (n_components,)

    @property
    def n_factors(self) -> int:
        return int(self.loadings.shape[1])


def _matrix_factors(m: np.ndarray) -> tuple[np.ndarray, float]:
    """R = B Bᵀ + λ_min I with B from the eigen-decomposition of R − λ_min I (rank-trimmed)."""
    w, v = np.linalg.eigh(m)
    lam_min = max(float(w.min()), 0.0)
    rest = np.clip(w - lam_min, 0.0, None)
    keep = rest > 1e-12
    b = v[:, keep] * np.sqrt(rest[keep])
    return b, lam_min


def factor_model(j: Journey, scenario: Scenario, latency: bool = False) -> FactorModel:
    """Factor model for failures (``latency=False``) or latency under ``scenario``.

    Failure factors come from gaussian domains (rho) and the explicit matrix when
    ``scenario.factors``; latency factors from latencyRho / latencyMatrix when
    ``scenario.latency``. Sharables in ``scenario.shared`` are handled as fate groups instead,
    so they contribute no failure factor.
    """
    ids = list(j.component_ids)
    idx = {c: i for i, c in enumerate(ids)}
    cols: list[np.ndarray] = []
    own_var = np.ones(len(ids))
    use = scenario.latency if latency else scenario.factors
    if use:
        for d in j.domains:
            r = d.latency_rho if latency else d.rho
            if d.model != "gaussian" or r <= 0 or not d.members or (not latency and d.name in scenario.shared):
                continue
            col = np.zeros(len(ids))
            for m in d.members:
                col[idx[m]] = math.sqrt(r)
                own_var[idx[m]] -= r
            cols.append(col)
        corr = j.correlation
        mat = None if corr is None else (corr.latency_matrix if latency else corr.matrix)
        if mat is not None:
            shared_matrix = not latency and any(n.startswith("matrix:") for n in scenario.shared)
            if not shared_matrix:
                b, lam = _matrix_factors(np.asarray(mat))
                for k in range(b.shape[1]):
                    col = np.zeros(len(ids))
                    for row, name in enumerate(corr.components):
                        col[idx[name]] = b[row, k]
                    cols.append(col)
                for name in corr.components:
                    own_var[idx[name]] = lam
    loadings = np.stack(cols, axis=1) if cols else np.zeros((len(ids), 0))
    return FactorModel(loadings=loadings, own_sd=np.sqrt(np.clip(own_var, 0.0, 1.0)))


@dataclass(frozen=True)
class Shocks:
    """Shock domains in force: outage probability per domain and membership matrix
    ``members[d, i]``; ``own_availability[i] = a′ᵢ``."""

    names: tuple[str, ...]
    probability: np.ndarray  # (n_shocks,)
    members: np.ndarray  # (n_shocks, n_components) bool
    own_availability: np.ndarray  # (n_components,)


def shocks(j: Journey, scenario: Scenario) -> Shocks:
    """Shock domains (when ``scenario.shocks``) with members' calibrated own availabilities."""
    ids = list(j.component_ids)
    a = np.array([c.availability for c in j.components])
    avail = j.availabilities
    doms = [d for d in j.domains if d.model == "shock" and d.members] if scenario.shocks else []
    q = np.array([d.shock_probability(avail) for d in doms])
    mem = np.zeros((len(doms), len(ids)), dtype=bool)
    for k, d in enumerate(doms):
        for m in d.members:
            mem[k, ids.index(m)] = True
    keep = np.prod(np.where(mem, (1.0 - q)[:, None], 1.0), axis=0) if doms else np.ones(len(ids))
    with np.errstate(divide="ignore", invalid="ignore"):
        own = np.where(keep > 0, np.minimum(a / keep, 1.0), 0.0)
    return Shocks(names=tuple(d.name for d in doms), probability=q, members=mem, own_availability=own)
