"""Exact conditioning on the request's failure-domain state (docs/semantics.md "Correlation").

Given the domain state of a request, every call in it is independent of every other call: a
fate-group member is deterministically up or down (its group uniform ``G`` is either below or
above its threshold ``a′ᵢ``), a shock domain is either in outage or not, and given the gaussian
factors ``W`` a call's own noise is independent. So the availability (and the joint
``(ok, t)`` law) of a journey under any scenario is a finite mixture, over *states*, of the
independent computation with per-state call parameters.

A :class:`StateSpace` enumerates those states:

- a **fate group** with distinct member thresholds ``t₁ < … < t_r`` cuts ``[0, 1]`` into the
  intervals ``[0, t₁], (t₁, t₂], …, (t_r, 1]``; in each, every member is deterministically up
  (``a′ᵢ ≥`` the interval's right end) or down, for every one of its calls;
- a **shock domain** contributes two states, outage (probability q) and no outage;
- **gaussian factors** (failure and, where latency matters, latency) are integrated with a
  tensor Gauss–Hermite rule (probabilists' Hermite polynomials, weight ``φ``); given the
  factors, a call of component i succeeds with probability ``Φ((Φ⁻¹(a′ᵢ) − Lᵢ·w)/σᵢ)`` and its
  latency CDF is ``Φ((Φ⁻¹(F(x)) − Lᵢᴸ·wᴸ)/σᵢᴸ)``.

The state count is the product over these variables; it is enumerated lazily in chunks.
Factor models are first reduced to the rank of their loadings (:func:`reduce_factors`).

Limits: a member whose failure latent has almost no own noise (rho summing to ~1) has a steep
or step-shaped conditional availability; along a factor it loads on alone, the rule is split at
its threshold (:func:`factor_rule`) and stays exact. A *latency* latent with almost no own
noise makes the call's latency a function of the factors, and a finite rule resolves that law
only to its nodes: latency results (and timeout availabilities) under a latency correlation
summing to ~1 are approximate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy import special

from ..model.journey import Journey
from ..model.scenario import FactorModel, Scenario, factor_model, fate_groups, shocks

MAX_FACTORS = 3
"""Gaussian factors integrated by quadrature at most (failure + latency where it matters)."""

MAX_STATES = 1 << 22
"""Largest state space enumerated exactly (larger ones are reported as not computable)."""


def hermite_rule(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Hermite nodes and weights for E[g(W)], W ~ N(0, 1) (weights sum to 1)."""
    x, w = hermegauss(n)
    return x, w / w.sum()


def nodes_per_factor(k: int, grid: bool) -> int:
    """Quadrature nodes per factor for ``k`` factors: more for availability (cheap per state)
    than for grid computations (a latency grid per state)."""
    if k <= 0:
        return 1
    if grid:
        return {1: 48, 2: 16, 3: 8}.get(k, 6)
    return {1: 128, 2: 48, 3: 24}.get(k, 12)


def reduce_factors(fm: FactorModel) -> FactorModel:
    """The same latent law with as many factors as the loading matrix has rank.

    ``L·W`` with W ~ N(0, I_K) equals ``(U_r S_r)·W′`` with ``L = U S Vᵀ`` and ``W′ = V_rᵀ W`` ~
    N(0, I_r): domains with identical members (a zone and a cluster holding the same services)
    collapse into one factor. Full-rank loadings are kept as they are (axis-aligned).
    """
    k = fm.n_factors
    if k <= 1:
        return fm
    u, sv, _ = np.linalg.svd(fm.loadings, full_matrices=False)
    r = int(np.sum(sv > 1e-12 * max(float(sv.max()), 1e-300)))
    if r >= k:
        return fm
    return FactorModel(loadings=u[:, :r] * sv[:r], own_sd=fm.own_sd)


STEEP_SD = 0.3
"""Members whose own noise sd is below this (rho above 0.91) make the integrand steep."""


def _kinks(fm: FactorModel, own: np.ndarray, f: int) -> list[tuple[float, float]]:
    """Where along factor ``f`` a steep member switches from up to down, with its width:
    ``(Φ⁻¹(a′)/L, σ/L)`` for members loading on this factor only (a step when σ = 0)."""
    out = []
    for i in range(fm.loadings.shape[0]):
        load = fm.loadings[i]
        if fm.own_sd[i] >= STEEP_SD or load[f] == 0 or np.count_nonzero(load) != 1:
            continue
        a = float(np.clip(own[i], 0.0, 1.0))
        if 0.0 < a < 1.0:
            out.append((float(special.ndtri(a)) / float(load[f]), float(fm.own_sd[i]) / abs(float(load[f]))))
    return out


def factor_rule(n: int, kinks: list[tuple[float, float]], reach: float = 9.0) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E[g(W)], W ~ N(0, 1), when g may be steep or jump at ``kinks``.

    Without kinks: Gauss–Hermite with ``n`` nodes. With kinks: composite Gauss–Legendre over
    [−reach, reach] with the density folded into the weights, pieces split at every kink and at
    kink ± width·2^p (p = 0 … 6, resolving the transition and its tails at every scale), no
    piece wider than 1 — exact to rounding for a step, accurate for a transition of any width.
    """
    if not kinks:
        return hermite_rule(n)
    edges = {-reach, reach}
    for at, width in kinks:
        for e in [at] + [at + sign * width * 2.0**p for p in range(7) for sign in (-1.0, 1.0)]:
            if -reach < e < reach:
                edges.add(e)
    cuts = sorted(edges)
    pieces = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        parts = max(1, int(np.ceil((hi - lo) / 1.0)))
        pieces += [(lo + (hi - lo) * i / parts, lo + (hi - lo) * (i + 1) / parts) for i in range(parts)]
    m = max(4, min(16, n // 8))
    gx, gw = np.polynomial.legendre.leggauss(m)
    x = np.concatenate([(a + b) / 2 + (b - a) / 2 * gx for a, b in pieces])
    w = np.concatenate([(b - a) / 2 * gw for a, b in pieces]) * np.exp(-0.5 * x**2) / np.sqrt(2 * np.pi)
    return x, w / w.sum()


@dataclass
class _Var:
    """One discrete state variable: ``weights`` over its values."""

    kind: str  # "group" | "shock" | "factor" | "lfactor"
    name: str
    weights: np.ndarray
    # group: member component indices and the interval right ends
    members: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    right: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # factor: quadrature nodes
    nodes: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass
class StateChunk:
    """A block of states: ``weights`` (S,), per-call success probability ``avail`` (S, n_comp),
    and, when latency factors are in force, their values ``latent`` (S, K_L) (else None)."""

    weights: np.ndarray
    avail: np.ndarray
    latent: np.ndarray | None


@dataclass
class StateSpace:
    """The request's domain states under one scenario (see module docstring)."""

    component_ids: tuple[str, ...]
    own: np.ndarray  # a′ᵢ, (n_comp,)
    variables: list[_Var]
    failure_model: FactorModel | None
    latency_model: FactorModel | None
    method: str

    @property
    def size(self) -> int:
        return int(np.prod([len(v.weights) for v in self.variables], dtype=np.float64)) if self.variables else 1

    @property
    def trivial(self) -> bool:
        """True when there is a single state (no correlation in force)."""
        return self.size == 1

    def chunks(self, chunk: int) -> list[StateChunk]:
        """The states in blocks of at most ``chunk`` (weights of all blocks sum to 1)."""
        total = self.size
        out = []
        for start in range(0, total, max(int(chunk), 1)):
            out.append(self._chunk(np.arange(start, min(start + chunk, total))))
        return out

    def _chunk(self, flat: np.ndarray) -> StateChunk:
        sizes = [len(v.weights) for v in self.variables]
        idx = np.unravel_index(flat, sizes) if sizes else ()
        n = len(flat)
        weights = np.ones(n)
        avail = np.broadcast_to(self.own, (n, len(self.own))).copy()
        in_group = np.zeros(len(self.own), dtype=bool)
        outage = np.zeros((n, len(self.own)), dtype=bool)
        w_fail: list[np.ndarray] = []
        w_lat: list[np.ndarray] = []
        for v, ix in zip(self.variables, idx):
            weights = weights * v.weights[ix]
            if v.kind == "group":
                # member up iff its threshold reaches the interval's right end
                up = self.own[v.members][None, :] >= v.right[ix][:, None] - 1e-15
                avail[:, v.members] = up.astype(np.float64)
                in_group[v.members] = True
            elif v.kind == "shock":
                hit = ix == 1
                outage[np.ix_(hit, v.members)] = True
            elif v.kind == "factor":
                w_fail.append(v.nodes[ix])
            else:
                w_lat.append(v.nodes[ix])
        fm = self.failure_model
        if fm is not None and w_fail:
            w = np.stack(w_fail, axis=1)  # (n, K)
            loaded = np.flatnonzero(np.any(fm.loadings != 0, axis=1) & ~in_group)
            if loaded.size:
                shift = w @ fm.loadings[loaded].T  # (n, m)
                thr = special.ndtri(np.clip(self.own[loaded], 0.0, 1.0))
                sd = fm.own_sd[loaded]
                with np.errstate(divide="ignore", invalid="ignore"):
                    z = np.where(sd > 0, (thr - shift) / np.where(sd > 0, sd, 1.0), np.where(thr - shift >= 0, np.inf, -np.inf))
                avail[:, loaded] = special.ndtr(z)
        avail[outage] = 0.0
        latent = np.stack(w_lat, axis=1) if w_lat else None
        return StateChunk(weights=weights, avail=avail, latent=latent)


def _group_var(name: str, members: np.ndarray, own: np.ndarray) -> _Var:
    thr = np.unique(np.clip(own[members], 0.0, 1.0))
    edges = np.concatenate([[0.0], thr[thr < 1.0], [1.0]])
    length = np.diff(edges)
    keep = length > 0
    return _Var("group", name, length[keep], members=members, right=edges[1:][keep])


def state_space(
    j: Journey,
    scenario: Scenario,
    *,
    latency_matters: bool = False,
    grid: bool = False,
    max_factors: int = MAX_FACTORS,
) -> StateSpace | None:
    """Enumerate the domain states of ``scenario``.

    Parameters
    ----------
    j
        The journey.
    scenario
        Which domains are shared, whether declared factors / shocks / latency correlation apply.
    latency_matters
        Include latency factors (only needed when timeouts make availability depend on latency,
        or when latency itself is computed).
    grid
        The states feed a latency-grid computation (fewer quadrature nodes per factor).
    max_factors
        Integrate at most this many gaussian factors; beyond it return ``None``.

    Returns
    -------
    StateSpace or None
        ``None`` when the scenario needs more than ``max_factors`` factors or more than
        :data:`MAX_STATES` states.
    """
    ids = j.component_ids
    idx = {c: i for i, c in enumerate(ids)}
    sh = shocks(j, scenario)
    own = sh.own_availability.astype(np.float64)
    variables: list[_Var] = []
    notes: list[str] = []
    for g in fate_groups(j, scenario):
        members = np.array([idx[m] for m in g], dtype=np.int64)
        variables.append(_group_var("+".join(g), members, own))
    if variables:
        notes.append(f"{len(variables)} fate group(s) by threshold intervals")
    for name, q, mem in zip(sh.names, sh.probability, sh.members):
        if q <= 0:
            continue
        variables.append(_Var("shock", name, np.array([1.0 - q, q]), members=np.flatnonzero(mem)))
    n_shock = sum(1 for v in variables if v.kind == "shock")
    if n_shock:
        notes.append(f"{n_shock} shock domain(s) by outage states")
    fm = factor_model(j, scenario) if scenario.factors else None
    if fm is not None:
        used = np.any(fm.loadings != 0, axis=0)
        fm = reduce_factors(FactorModel(loadings=fm.loadings[:, used], own_sd=fm.own_sd))
        if fm.n_factors == 0:
            fm = None
    lm = factor_model(j, scenario, latency=True) if (scenario.latency and latency_matters) else None
    if lm is not None:
        used = np.any(lm.loadings != 0, axis=0)
        lm = reduce_factors(FactorModel(loadings=lm.loadings[:, used], own_sd=lm.own_sd))
        if lm.n_factors == 0:
            lm = None
    k = (fm.n_factors if fm else 0) + (lm.n_factors if lm else 0)
    if k > max_factors:
        return None
    if k:
        n = nodes_per_factor(k, grid)
        steep = 0
        for f in range(fm.n_factors if fm else 0):
            assert fm is not None
            kinks = _kinks(fm, own, f)
            steep += len(kinks)
            x, w = factor_rule(n, kinks)
            variables.append(_Var("factor", f"factor{f}", w, nodes=x))
        x, w = hermite_rule(n)
        for f in range(lm.n_factors if lm else 0):
            variables.append(_Var("lfactor", f"latency-factor{f}", w, nodes=x))
        rule = f"Gauss-Hermite quadrature over {k} gaussian factor(s), {n} nodes each"
        if steep:
            rule += f" (composite Gauss-Legendre where {steep} member(s) with rho near 1 switch)"
        notes.append(rule)
    space = StateSpace(ids, own, variables, fm, lm, "; ".join(notes) if notes else "no correlation in force")
    if space.size > MAX_STATES:
        return None
    return space


def conditional_cdf(cdf: np.ndarray, shift: np.ndarray, sd: float) -> np.ndarray:
    """Latency CDF of one component given latency factors: ``Φ((Φ⁻¹(F) − shift)/sd)``.

    ``cdf`` (G,) is F at the grid boundaries, ``shift`` (S,) the loading·factor per state;
    returns (S, G). With ``sd == 0`` the call's latency is a deterministic function of the
    factors (a step CDF).
    """
    z = special.ndtri(np.clip(cdf, 0.0, 1.0))[None, :] - shift[:, None]
    if sd <= 0:
        return (z >= 0).astype(np.float64)
    return special.ndtr(z / sd)
