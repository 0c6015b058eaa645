"""The journey compiler: numba source generated per journey structure (DESIGN §6, issue 15).

:func:`generate` turns a journey under a scenario into

* ``source`` — a Python module with one ``@njit`` kernel, ``sample_block``, in which the
  operator tree is unrolled into straight-line code (loops only for retry attempts and
  repeats), every component's failure rule and latency sampler inlined at each call site;
* ``fp`` / ``tab`` — the parameters it reads (availabilities, thresholds, factor loadings,
  distribution parameters, hedge delays, deadlines, backoff waits, branch probabilities) and the
  sampler tables.

The source depends only on the journey's *structure* (operators, sampler kinds, which domain
each call site belongs to) and on the requested bookkeeping, never on parameter values: every
number is read from ``fp`` at an offset fixed by the structure. Two journeys of the same shape —
the points of a what-if sweep — therefore produce identical source and share one compiled
kernel (``emac_sim.engine.kernelstore`` keeps it on disk keyed by the source's hash).

Large journeys are compiled in pieces: subtrees are *outlined* into their own ``@njit``
functions that address parameters relative to a base offset, and identical pieces (same text)
are emitted once, so compile time grows with the number of distinct shapes, not of leaves.

Random stream (the contract ``emac_sim.reference`` reproduces call for call): per request, the
failure-factor normals, the latency-factor normals (``standard_normal``), one uniform per fate
group and one per shock domain (``random``); then, walking the tree in execution order, per
call: the failure draw (none for a fate-group member, a ``standard_normal`` for a member of a
failure factor, else a ``random``), then the latency draw of the sampler chosen by the outcome
(lognormal: a ``standard_normal``; exponential: ``standard_exponential``; gamma: NumPy's
``standard_gamma`` draws; Weibull and Pareto: ``standard_exponential``; empirical and histogram:
``random``; mixtures: a ``random`` to pick the component, then its draw; constant and fast
failures: none; a latency-factor member: one ``standard_normal`` for its latent whatever the
sampler); one ``random`` per ``choice`` and per ``optional``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from ..errors import SpecError
from ..model import distributions as D
from ..model.journey import Journey, Node, Ref
from ..model.quantiles import TABLE_POINTS, TABLE_W, choice_cumulative, gamma_constants, piecewise_points, quantile_table
from ..model.scenario import Scenario, Shocks, factor_model, fate_groups, shocks

INLINE_LIMIT = 100
"""Journeys of at most this many tree nodes are emitted as one straight-line function; larger ones
are split into outlined subtree functions (:data:`PIECE_NODES` nodes at most each)."""
PIECE_NODES = 24
WIDE = 16
"""Children of one series, fallback, parallel or race emitted in one function; wider nodes are
evaluated in chunks of outlined functions."""
MAX_NESTING = 12
"""Nesting depth of generated blocks at which a subtree is outlined (Python allows 20)."""

KERNEL_ABI = 1
"""Bumped whenever the kernel calling convention or the stream contract changes."""


@dataclass(frozen=True)
class KernelOptions:
    """What the kernel records besides the availability counts and latency histograms.

    ``details``: calls per component, hedges per race node and the dominant component of every
    successful journey (tail attribution); ``trace``: per-sample ok / seconds / dominant
    component; ``birnbaum``: forced-outcome passes on a second stream for Monte Carlo Birnbaum
    importance.
    """

    details: bool = False
    trace: bool = False
    birnbaum: bool = False
    importance: bool = False
    """Generate the importance-sampling variant (:mod:`emac_sim.engine.importance`): biased
    failure draws with exact log likelihood ratios; no details, trace or Birnbaum passes."""
    tilt: bool = False
    """Generate the tilted-latency variant (:mod:`emac_sim.engine.tails`): the slow calls'
    latency draws from exponentially tilted laws with exact log likelihood ratios, weighted
    latency histograms; failures unbiased; no details, trace or Birnbaum passes."""


@dataclass(frozen=True, eq=False)
class KernelSource:
    """Generated kernel source plus the parameters and metadata needed to run it."""

    source: str
    key: str
    fp: np.ndarray
    ip: np.ndarray
    tab: np.ndarray
    n_components: int
    n_races: int
    quorum_slots: int
    options: KernelOptions
    race_paths: tuple[str, ...]
    race_delays: tuple[float, ...]
    node_paths: tuple[str, ...]
    used: tuple[int, ...]
    bias: BiasLayout | None = None
    tilt: TiltLayout | None = None


@dataclass
class Res:
    """Names of the variables holding a node's outcome: ok, seconds, dominant component and
    the seconds of its call (the last two only when tail attribution is recorded)."""

    ok: str
    t: str
    d: str = "-1"
    dt: str = "-1.0"


@dataclass
class _Site:
    """What the scenario makes of one component (structure and values)."""

    index: int
    group: int  # fate group, -1 none
    f_factors: list[tuple[int, float]]  # (factor, loading) of the failure latent
    f_sd: float
    l_factors: list[tuple[int, float]]
    l_sd: float
    shocks: list[int]
    own_a: float
    zthr: float
    latency: D.Distribution | None
    error: D.Distribution | None
    error_same: bool


@dataclass
class _Piece:
    """An outlined subtree: its function name and text."""

    name: str
    text: str


@dataclass
class KernelWriter:
    """State of one generation run."""

    journey: Journey
    sites: dict[str, _Site]
    opts: KernelOptions
    latency_on: bool
    n_wf: int
    n_wl: int
    n_groups: int
    n_shocks: int
    fp: list[float] = field(default_factory=list)
    tab: list[np.ndarray] = field(default_factory=list)
    tab_len: int = 0
    lines: list[str] = field(default_factory=list)
    depth: int = 0
    counter: int = 0
    races: list[tuple[str, float]] = field(default_factory=list)
    quorum_slots: int = 0
    pieces: dict[str, _Piece] = field(default_factory=dict)
    base: str | None = None  # inside an outlined piece: the fp base variable
    base_off: int = 0
    tab_base: str | None = None
    tab_base_off: int = 0
    race_base: str | None = None
    race_base_off: int = 0
    q_base: str | None = None
    q_base_off: int = 0
    ip: list[int] = field(default_factory=list)
    ip_base: str | None = None
    ip_base_off: int = 0
    outline: bool = False
    remaining: int = 1 << 30
    tilt_slots: list[tuple[str, float]] = field(default_factory=list)

    # ---- text
    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    @contextmanager
    def block(self, head: str) -> Iterator[None]:
        self.line(head)
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def name(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}{self.counter}"

    # ---- random draws (the CPU dialect: NumPy's Generator inside numba)
    def uniform(self) -> str:
        """Expression of a uniform draw in [0, 1)."""
        return "rng.random()"

    def normal(self) -> str:
        """Expression of a standard normal draw."""
        return "rng.standard_normal()"

    def exponential(self) -> str:
        """Expression of a standard exponential draw."""
        return "rng.standard_exponential()"

    def gamma(self, shape: str, b: str, c: str) -> str:
        """Expression of a standard gamma draw (``b``, ``c``: :func:`gamma_constants`)."""
        return f"_draws.std_gamma(rng, {shape}, {b}, {c})"

    # ---- parameters
    def param(self, value: float) -> str:
        """Append ``value`` to ``fp`` and return the expression reading it."""
        self.fp.append(float(value))
        k = len(self.fp) - 1
        if self.base is None:
            return f"fp[{k}]"
        return f"fp[{self.base} + {k - self.base_off}]"

    def params(self, values: list[float]) -> str:
        """Append consecutive ``values`` to ``fp``; returns the offset expression of the first."""
        first = len(self.fp)
        self.fp.extend(float(v) for v in values)
        return str(first) if self.base is None else f"{self.base} + {first - self.base_off}"

    def table(self, values: np.ndarray) -> str:
        """Append ``values`` to ``tab``; returns the offset expression."""
        off = self.tab_len
        self.tab.append(np.asarray(values, dtype=np.float64))
        self.tab_len += len(values)
        if self.tab_base is None:
            return str(off)
        return f"{self.tab_base} + {off - self.tab_base_off}"

    def race_slot(self, path: str, delay: float) -> int:
        """Register a race node; returns its slot (absolute index)."""
        self.races.append((path, delay))
        return len(self.races) - 1

    def race_ref(self, k: int) -> str:
        """Expression of race slot ``k`` in the function being emitted."""
        return str(k) if self.race_base is None else f"{self.race_base} + {k - self.race_base_off}"

    def quorum(self, width: int) -> str:
        off = self.quorum_slots
        self.quorum_slots += width
        return str(off) if self.q_base is None else f"{self.q_base} + {off - self.q_base_off}"

    def ip_ref(self, k: int) -> str:
        """Expression of the position of ``ip[k]`` (relative inside pieces)."""
        return str(k) if self.ip_base is None else f"{self.ip_base} + {k - self.ip_base_off}"

    def comp(self, index: int) -> str:
        """Expression of a component index: a literal, or read from ``ip`` inside outlined pieces
        (so that pieces of the same shape over different components share one function)."""
        if self.ip_base is None:
            return str(index)
        self.ip.append(int(index))
        return f"ip[{self.ip_base} + {len(self.ip) - 1 - self.ip_base_off}]"

    def state_args(self) -> str:
        """Arguments of the journey function and of outlined pieces."""
        return _STATE_ARGS + (_IS_ARGS if self.opts.importance else "") + (_TILT_ARGS if self.opts.tilt else "")

    def tilt_slot(self, kind: str, value: float) -> str:
        """Register a tiltable draw site (``normal`` with shift coefficient ``value`` or ``scale``
        with gamma shape ``value``); returns the expression of its slot number k (its values are
        ``tilt[2k]``, ``tilt[2k + 1]``; read from ``ip`` inside outlined pieces, as component
        indexes are)."""
        self.tilt_slots.append((kind, float(value)))
        k = len(self.tilt_slots) - 1
        if self.ip_base is None:
            return str(k)
        self.ip.append(k)
        return f"ip[{self.ip_base} + {len(self.ip) - 1 - self.ip_base_off}]"

    # ---- services for the operators' ``emit`` rules
    @property
    def details(self) -> bool:
        """Whether calls, hedges and the dominant component are being recorded."""
        return self.opts.details

    def emit(self, node: Node, path: str) -> Res:
        """Emit ``node`` (a child) and return the names holding its outcome: inline, or as a call of
        an outlined function when it does not fit the current function's node budget (large
        journeys) or when the generated blocks already nest :data:`MAX_NESTING` deep (Python
        refuses more than 20 nested blocks)."""
        if isinstance(node, Ref):
            self.remaining -= 1
            return _emit_ref(self, node, path)
        if self.depth >= MAX_NESTING or (self.outline and _size(node) > self.remaining):
            return _emit_piece(self, node, path)
        self.remaining -= 1
        return node.emit(self, path)  # type: ignore[attr-defined]

    def dom_vars(self) -> tuple[str, str]:
        """Fresh (dominant component, its seconds) variables, or literals without details."""
        if not self.details:
            return "-1", "-1.0"
        d, dt = self.name("d"), self.name("dt")
        self.line(f"{d} = -1")
        self.line(f"{dt} = -1.0")
        return d, dt

    def dom_state(self, names: list[str]) -> tuple[str, str]:
        """The (dominant, seconds) pair at the head of ``names`` (accumulators), or literals."""
        return (names[0], names[1]) if self.details else ("-1", "-1.0")

    def take_dom_if_longer(self, d: str, dt: str, r: Res) -> None:
        """``(d, dt) = (r.d, r.dt)`` when the child's dominant call was longer (first on ties)."""
        if self.details:
            with self.block(f"if {r.dt} > {dt}:"):
                self.line(f"{d} = {r.d}")
                self.line(f"{dt} = {r.dt}")

    def assign(self, dst: Res, r: Res) -> None:
        """Copy a child's outcome into ``dst``'s variables."""
        self.line(f"{dst.ok} = {r.ok}")
        self.line(f"{dst.t} = {r.t}")
        if self.details:
            self.line(f"{dst.d} = {r.d}")
            self.line(f"{dst.dt} = {r.dt}")

    def each_child(self, state: list[str], items: list, step: Callable[[list[str], int, Node], None]) -> list[str]:
        """Emit ``step(state, i, child)`` for every ``(i, child)`` of ``items``: inline, or — for
        more than :data:`WIDE` children — in chunks of outlined functions that take the accumulator
        variables ``state`` and return them (a 1,000-wide fork stays a few small functions)."""
        if len(items) <= WIDE:
            for i, child in items:
                step(state, i, child)
            return state
        for c0 in range(0, len(items), WIDE):
            chunk = items[c0 : c0 + WIDE]

            def body(inner: list[str], chunk: list = chunk) -> list[str]:
                for i, child in chunk:
                    step(inner, i, child)
                return inner

            state = _outlined(self, state, body)
        return state


def _sites(j: Journey, scenario: Scenario) -> tuple[dict[str, _Site], int, int, int, int]:
    ids = list(j.component_ids)
    groups = fate_groups(j, scenario)
    group_of = {m: g for g, members in enumerate(groups) for m in members}
    ff = factor_model(j, scenario, latency=False)
    fl = factor_model(j, scenario, latency=True)
    sh = shocks(j, scenario)
    own = np.asarray(sh.own_availability, dtype=np.float64)
    with np.errstate(divide="ignore"):
        zthr = special.ndtri(own)
    out: dict[str, _Site] = {}
    for i, c in enumerate(ids):
        comp = j.components[i]
        g = group_of.get(c, -1)
        f_fac = [(k, float(ff.loadings[i, k])) for k in range(ff.n_factors) if ff.loadings[i, k] != 0] if g < 0 else []
        l_fac = [(k, float(fl.loadings[i, k])) for k in range(fl.n_factors) if fl.loadings[i, k] != 0]
        out[c] = _Site(
            index=i,
            group=g,
            f_factors=f_fac,
            f_sd=float(ff.own_sd[i]),
            l_factors=l_fac,
            l_sd=float(fl.own_sd[i]),
            shocks=[d for d in range(len(sh.names)) if sh.members[d, i]],
            own_a=float(own[i]),
            zthr=float(zthr[i]),
            latency=comp.latency,
            error=comp.error_distribution(),
            error_same=comp.error_latency == "same",
        )
    return out, ff.n_factors, fl.n_factors, len(groups), len(sh.names)


# --------------------------------------------------------------------------- samplers


def _sample(g: KernelWriter, dist: D.Distribution | None, target: str, z: str | None, tilted: bool = False) -> None:
    """Emit ``target = <a draw of dist>``; ``z`` is the latent normal under latency correlation;
    ``tilted``: draw a lognormal, exponential or gamma from its tilted law (:func:`_sample_tilted`)."""
    if tilted and z is None and isinstance(dist, (D.LogNormal, D.Exponential, D.Gamma)):
        _sample_tilted(g, dist, target)
        return
    if dist is None:
        g.line(f"{target} = 0.0")
        return
    if isinstance(dist, D.Constant):
        g.line(f"{target} = {g.param(dist.value)}")
        return
    if isinstance(dist, D.LogNormal):
        mu, sg = g.param(dist.mu), g.param(dist.sigma)
        g.line(f"{target} = math.exp({mu} + {sg} * {z if z is not None else g.normal()})")
        return
    if z is not None:
        _sample_latent(g, dist, target, z)
        return
    if isinstance(dist, D.Exponential):
        g.line(f"{target} = {g.param(dist.mean_s)} * {g.exponential()}")
    elif isinstance(dist, D.Gamma):
        b, c = gamma_constants(dist.shape)
        sh, bb, cc, sc = g.param(dist.shape), g.param(b), g.param(c), g.param(dist.scale)
        g.line(f"{target} = {sc} * {g.gamma(sh, bb, cc)}")
    elif isinstance(dist, D.Weibull):
        g.line(f"{target} = {g.param(dist.scale)} * {g.exponential()} ** {g.param(1.0 / dist.shape)}")
    elif isinstance(dist, D.Pareto):
        g.line(f"{target} = {g.param(dist.scale)} * math.exp({g.exponential()} / {g.param(dist.alpha)})")
    elif isinstance(dist, D._Piecewise):
        u = g.name("u")
        g.line(f"{u} = {g.uniform()}")
        g.line(f"{target} = {_piecewise_call(g, dist, u, f'1.0 - {u}')}")
    elif isinstance(dist, D.Mixture):
        u = g.name("u")
        g.line(f"{u} = {g.uniform()}")
        cum = choice_cumulative(tuple(w for w, _ in dist.components))
        if len(dist.components) == 1:
            _sample(g, dist.components[0][1], target, None)
            return
        for k, (_, comp) in enumerate(dist.components):
            head = "else:" if k == len(dist.components) - 1 else (f"if {u} < {g.param(cum[k])}:" if k == 0 else f"elif {u} < {g.param(cum[k])}:")
            with g.block(head):
                _sample(g, comp, target, None)
    else:  # pragma: no cover - every distribution kind is handled above
        raise TypeError(f"no sampler for {type(dist).__name__}")


def _tilt_on(k: str) -> str:
    """Whether slot ``k`` draws from its tilted law in this request (the mixture's pick)."""
    return f"tsel[0] == {k} or tsel[0] == -2"


def _tilted_normal(g: KernelWriter, x: str, k: str) -> None:
    """``x`` ~ N(0, 1), or N(θ_k, 1) when slot ``k`` is tilted; ``ll[k]`` += log ℓ = θ_k·x − θ_k²/2
    (``tilt[2k]`` = θ_k, ``tilt[2k + 1]`` = θ_k²/2), the tilted-to-nominal density ratio."""
    g.line(f"{x} = {g.normal()}")
    with g.block(f"if {_tilt_on(k)}:"):
        g.line(f"{x} += tilt[2 * {k}]")
    g.line(f"ll[{k}] += tilt[2 * {k}] * {x} - tilt[2 * {k} + 1]")


def _sample_tilted(g: KernelWriter, dist: D.Distribution, target: str) -> None:
    """A latency draw of a tiltable site and its log density ratio added to ``ll[k]``.

    Lognormal: the underlying normal (:func:`_tilted_normal`). Exponential and gamma (shape a):
    the standard draw G, multiplied by k_s ≥ 1 when tilted (the scale times k_s: the exponential
    tilt of the law); y the result, log ℓ = y·(1 − 1/k_s) − a·log k_s (``tilt[2k]`` = k_s,
    ``tilt[2k + 1]`` = a·log k_s). The draws are the plain kernel's, in its order.
    """
    x = g.name("x")
    if isinstance(dist, D.LogNormal):
        k = g.tilt_slot("normal", 1.0)
        mu, sg = g.param(dist.mu), g.param(dist.sigma)
        _tilted_normal(g, x, k)
        g.line(f"{target} = math.exp({mu} + {sg} * {x})")
        return
    if isinstance(dist, D.Exponential):
        k = g.tilt_slot("scale", 1.0)
        g.line(f"{x} = {g.exponential()}")
        scale = g.param(dist.mean_s)
    else:
        assert isinstance(dist, D.Gamma)
        k = g.tilt_slot("scale", dist.shape)
        b, c = gamma_constants(dist.shape)
        sh, bb, cc, scale = g.param(dist.shape), g.param(b), g.param(c), g.param(dist.scale)
        g.line(f"{x} = {g.gamma(sh, bb, cc)}")
    with g.block(f"if {_tilt_on(k)}:"):
        g.line(f"{x} *= tilt[2 * {k}]")
    g.line(f"{target} = {scale} * {x}")
    g.line(f"ll[{k}] += {x} * (1.0 - 1.0 / tilt[2 * {k}]) - tilt[2 * {k} + 1]")


def _piecewise_call(g: KernelWriter, dist: D.Distribution, u: str, s: str) -> str:
    p, x = piecewise_points(dist)
    pn, xn, theta = dist._tail()  # type: ignore[attr-defined]
    off = g.table(np.concatenate([p, x]))
    return f"_draws.piecewise(tab, {off}, {len(p)}, {g.param(pn)}, {g.param(xn)}, {g.param(theta)}, {u}, {s})"


def _sample_latent(g: KernelWriter, dist: D.Distribution, target: str, z: str) -> None:
    """Inverse CDF at ``u = Φ(z)`` for the non-lognormal kinds."""
    if isinstance(dist, D.Exponential):
        g.line(f"{target} = -{g.param(dist.mean_s)} * _draws.log_sf({z})")
    elif isinstance(dist, D.Weibull):
        g.line(f"{target} = {g.param(dist.scale)} * (-_draws.log_sf({z})) ** {g.param(1.0 / dist.shape)}")
    elif isinstance(dist, D.Pareto):
        g.line(f"{target} = {g.param(dist.scale)} * math.exp(-_draws.log_sf({z}) / {g.param(dist.alpha)})")
    elif isinstance(dist, D._Piecewise):
        us = g.name("us")
        g.line(f"{us} = _draws.latent_u({z})")
        g.line(f"{target} = {_piecewise_call(g, dist, f'{us}[0]', f'{us}[1]')}")
    else:  # gamma, mixtures: the quantile table
        values, log_flag = quantile_table(dist)
        off = g.table(values)
        us = g.name("us")
        g.line(f"{us} = _draws.latent_u({z})")
        w0, inv = g.param(-TABLE_W), g.param((TABLE_POINTS - 1) / (2 * TABLE_W))
        g.line(f"{target} = _draws.table(tab, {off}, {TABLE_POINTS}, {w0}, {inv}, {log_flag}, {us}[0], {us}[1])")


def _sampler_kind(dist: D.Distribution | None) -> str:
    return "none" if dist is None else type(dist).__name__


# --------------------------------------------------------------------------- operators


def _emit_ref(g: KernelWriter, node: Ref, path: str) -> Res:
    s = g.sites[node.component]
    ok, t = g.name("ok"), g.name("t")
    c = g.comp(s.index)
    # failure
    if g.opts.importance:
        _emit_failure_is(g, s, ok, c)
    elif s.group >= 0:
        g.line(f"{ok} = g{s.group} < {g.param(s.own_a)}")
    elif s.f_factors:
        terms = " + ".join(f"{g.param(w)} * wf{k}" for k, w in s.f_factors)
        g.line(f"{ok} = {terms} + {g.param(s.f_sd)} * {g.normal()} <= {g.param(s.zthr)}")
    else:
        g.line(f"{ok} = {g.uniform()} < {g.param(s.own_a)}")
    if s.shocks:
        g.line(f"{ok} = {ok} and not ({' or '.join(f'sh{d}' for d in s.shocks)})")
    if g.opts.birnbaum:
        with g.block(f"if force_c == {c}:"):
            g.line(f"{ok} = force_ok")
    # latency
    if not g.latency_on:
        g.line(f"{t} = 0.0")
    else:
        z = None
        tl = g.opts.tilt
        if s.l_factors:
            z = g.name("z")
            terms = " + ".join(f"{g.param(w)} * wl{k}" for k, w in s.l_factors)
            if tl:  # the call's own latency noise, shifted by θ·sd when tilted
                e = g.name("e")
                _tilted_normal(g, e, g.tilt_slot("normal", s.l_sd))
                g.line(f"{z} = {terms} + {g.param(s.l_sd)} * {e}")
            else:
                g.line(f"{z} = {terms} + {g.param(s.l_sd)} * {g.normal()}")
        if s.error_same:
            _sample(g, s.latency, t, z, tl)
        else:
            with g.block(f"if {ok}:"):
                _sample(g, s.latency, t, z, tl)
            with g.block("else:"):
                _sample(g, s.error, t, z, tl)
    if g.opts.details:
        g.line(f"calls[{c}] += 1")
        return Res(ok, t, c, t)
    return Res(ok, t)


def _size(node: Node) -> int:
    return 1 + sum(_size(c) for c in node.children)


# --------------------------------------------------------------------------- outlined pieces


_STATE_ARGS = "rng, fp, ip, tab, qt, qd, qdt, calls, hz, force_c, force_ok"


def _state_names(g: KernelWriter) -> list[str]:
    return [
        *(f"wf{k}" for k in range(g.n_wf)),
        *(f"wl{k}" for k in range(g.n_wl)),
        *(f"g{k}" for k in range(g.n_groups)),
        *(f"sh{k}" for k in range(g.n_shocks)),
    ]


def _outlined(g: KernelWriter, state: list[str], body: Callable[[list[str]], list[str]]) -> list[str]:
    """Emit ``body`` as an outlined ``@njit`` function and a call of it; return the caller-side
    names of what it returns.

    ``state`` are caller variables passed in (named ``acc0, acc1, …`` inside); ``body(inner)`` emits
    the function's lines and returns the expressions to return. Inside, parameters are addressed
    relative to base offsets read from ``ip`` at the call site (so numba compiles one version, not
    one per literal), and identical function text — the same shape over other components and
    parameters — is emitted once.
    """
    saved = (
        g.lines, g.depth, g.counter, g.remaining, g.base, g.base_off, g.tab_base, g.tab_base_off,
        g.race_base, g.race_base_off, g.q_base, g.q_base_off, g.ip_base, g.ip_base_off,
    )  # fmt: skip
    slot = len(g.ip)
    g.ip.extend([0, 0, 0, 0, 0])  # pb, tb, rb, qb, ib of this call site
    bases = (len(g.fp), g.tab_len, len(g.races), g.quorum_slots, len(g.ip))
    g.ip[slot : slot + 5] = list(bases)
    g.lines, g.depth, g.counter, g.remaining = [], 1, 0, PIECE_NODES
    g.base, g.base_off = "pb", bases[0]
    g.tab_base, g.tab_base_off = "tb", bases[1]
    g.race_base, g.race_base_off = "rb", bases[2]
    g.q_base, g.q_base_off = "qb", bases[3]
    g.ip_base, g.ip_base_off = "ib", bases[4]
    inner = [f"acc{k}" for k in range(len(state))]
    try:
        outs = body(inner)
        text = "\n".join(g.lines) + "\n    return " + ", ".join(outs) + "\n"
    finally:
        (
            g.lines, g.depth, g.counter, g.remaining, g.base, g.base_off, g.tab_base, g.tab_base_off,
            g.race_base, g.race_base_off, g.q_base, g.q_base_off, g.ip_base, g.ip_base_off,
        ) = saved  # fmt: skip
    head = "".join(f"    {b} = ip[pi + {k}]\n" for k, b in enumerate(("pb", "tb", "rb", "qb", "ib")) if re.search(rf"\b{b}\b", text))
    used = [a for a in (*g.state_args().split(", "), *_state_names(g)) if a == "ip" or re.search(rf"\b{a}\b", text)]
    params = ", ".join([*used, "pi", *inner])
    name = f"piece_{hashlib.sha256((params + text).encode()).hexdigest()[:12]}"
    if name not in g.pieces:
        g.pieces[name] = _Piece(name, f"@njit(cache=True, nogil=True, error_model='numpy')\ndef {name}({params}):\n{head}{text}")
    results = [g.name("r") for _ in outs]
    g.line(f"{', '.join(results)} = {name}({', '.join([*used, g.ip_ref(slot), *state])})")
    return results


def _emit_piece(g: KernelWriter, node: Node, path: str) -> Res:
    """``node`` evaluated by an outlined function."""

    def body(inner: list[str]) -> list[str]:
        g.remaining -= 1
        r = node.emit(g, path)  # type: ignore[attr-defined]
        return [r.ok, r.t, r.d, r.dt] if g.opts.details else [r.ok, r.t]

    out = _outlined(g, [], body)
    return Res(*out) if g.opts.details else Res(out[0], out[1])


# --------------------------------------------------------------------------- the module


_HEADER = '''"""emac-sim journey kernel (generated by emac_sim.engine.codegen; do not edit)."""
import math

import numpy as np
from numba import njit

from emac_sim.kernels import draws as _draws
from emac_sim.kernels.histogram import bucket_index
'''


class KernelTooLarge(SpecError):
    """A journey whose generated kernel exceeds :func:`max_kernel_lines`: a :class:`SpecError`
    naming the journey's file and its operator, so every command refuses it in one line."""


MAX_KERNEL_LINES_DEFAULT = 8_000
"""Default limit on the generated source of one journey kernel, in lines (override:
``EMAC_MAX_KERNEL_LINES``). Journeys of regular shape stay far below it however many leaves
they have (identical subtrees share one outlined function: 1,000 staged leaves take about 2,600
lines with details on); a fork thousands wide over components of differing samplers does not
(500 wide: about 3,200 lines in 32 functions, 33 s to compile), and numba would spend many
minutes compiling it."""


def max_kernel_lines() -> int:
    """The generated-kernel size limit in force (``EMAC_MAX_KERNEL_LINES`` or the default)."""
    raw = os.environ.get("EMAC_MAX_KERNEL_LINES", "").strip().replace("_", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_KERNEL_LINES_DEFAULT


def write_journey(
    journey: Journey, scenario: Scenario, options: KernelOptions, writer: type[KernelWriter] | None = None
) -> tuple[KernelWriter, str, BiasLayout | None, tuple[int, ...]]:
    """Write the per-request function of ``journey`` with ``writer`` (a dialect: this module's
    :class:`KernelWriter` for the CPU, ``emac_sim.engine.cuda_codegen.CudaWriter`` for CUDA): the
    request's domain state (failure and latency factor normals, fate-group uniforms, shock
    outcomes, in that order, or their biased versions under importance sampling), then the
    operator tree. Returns the writer (its pieces, parameters and slots), the function's body,
    the importance-sampling layout (``None`` for plain kernels) and the indexes of the components
    the tree calls.

    Raises
    ------
    KernelTooLarge
        When the body and its outlined pieces exceed :func:`max_kernel_lines`.
    """
    sites, n_wf, n_wl, n_groups, n_shocks = _sites(journey, scenario)
    g = (writer or KernelWriter)(journey, sites, options, journey.latency_modelled, n_wf, n_wl, n_groups, n_shocks)
    g.outline = _size(journey.root) > INLINE_LIMIT
    if g.outline:
        g.remaining = PIECE_NODES
    sh = shocks(journey, scenario)
    g.depth = 1
    layout = bias_layout(journey, sites, n_wf, n_groups, sh) if options.importance else None
    if layout is not None:
        _emit_domain_state_is(g, layout)
    else:
        for k in range(n_wf):
            g.line(f"wf{k} = {g.normal()}")
        for k in range(n_wl):
            if options.tilt:  # a latency factor shifted by θ times its members' mean loading
                _tilted_normal(g, f"wl{k}", g.tilt_slot("normal", _mean_latency_loading(sites, k)))
            else:
                g.line(f"wl{k} = {g.normal()}")
        for k in range(n_groups):
            g.line(f"g{k} = {g.uniform()}")
        for k in range(n_shocks):
            g.line(f"sh{k} = {g.uniform()} < {g.param(float(sh.probability[k]))}")
    r = g.emit(journey.root, "root")
    g.line(f"return {r.ok}, {r.t}, {r.d}")
    lines = len(g.lines) + sum(p.text.count("\n") + 1 for p in g.pieces.values())
    limit = max_kernel_lines()
    if lines > limit:
        raise KernelTooLarge(
            getattr(journey, "source", None) or "<spec>",
            "spec.operator",
            f"the journey's kernel would be {lines:,} lines of generated code in {len(g.pieces) + 1} functions, over the limit of "
            f"{limit:,} (EMAC_MAX_KERNEL_LINES): numba would take many minutes to compile it; wide forks over components of "
            "differing samplers cost the most"
        )
    used = tuple(sorted({sites[c].index for c in journey.root.refs()}))
    return g, "\n".join(g.lines), layout, used


def _kernel_source(journey: Journey, g: KernelWriter, parts: list[str], loop: list[str], used: tuple[int, ...], **extra: Any) -> KernelSource:
    """The module of ``parts`` plus the driver ``loop``, its cache key and the writer's parameter
    arrays (every kernel variant: plain, importance sampling, tilted latency)."""
    source = "\n\n".join([*parts, "\n".join(loop)])
    return KernelSource(
        source=source,
        key=hashlib.sha256(f"abi{KERNEL_ABI}\n{source}".encode()).hexdigest()[:20],
        fp=np.asarray(g.fp if g.fp else [0.0], dtype=np.float64),
        ip=np.asarray(g.ip if g.ip else [0], dtype=np.int64),
        tab=np.concatenate(g.tab) if g.tab else np.zeros(1),
        n_components=len(journey.components),
        n_races=len(g.races),
        quorum_slots=g.quorum_slots,
        options=g.opts,
        race_paths=tuple(p for p, _ in g.races),
        race_delays=tuple(d for _, d in g.races),
        node_paths=tuple(p for p, _ in journey.root.paths()),
        used=used,
        **extra,
    )


def generate(journey: Journey, scenario: Scenario, options: KernelOptions = KernelOptions()) -> KernelSource:
    """Generate the kernel of ``journey`` under ``scenario``.

    Parameters
    ----------
    journey
        The validated journey IR.
    scenario
        What each failure domain does (``emac_sim.model.scenario.named_scenario``).
    options
        Bookkeeping to generate (:class:`KernelOptions`).

    Returns
    -------
    KernelSource
        ``source`` (a module defining ``sample_block``), its cache key, and the parameter arrays.
    """
    g, body, layout, used = write_journey(journey, scenario, options)
    n_comp = len(journey.components)
    n_races = len(g.races)
    det, trace, birn = options.details, options.trace, options.birnbaum
    parts = [_HEADER]
    parts += [p.text for p in g.pieces.values()]
    parts.append(
        "@njit(cache=True, nogil=True, error_model='numpy')\n"
        f"def journey({g.state_args()}):\n"
        f"{body}\n"
    )
    if layout is not None:
        return _finish_is(journey, g, parts, layout, used)
    if options.tilt:
        return _finish_tilt(journey, g, parts, used)
    loop = [
        "@njit(cache=True, nogil=True, error_model='numpy')",
        "def sample_block(n, rng, rng_b, fp, ip, tab, totals, hist_ok, hist_all, joint, calls, race_issued, birn_up, birn_down, birn_stride,"
        " out_ok, out_t, out_dom):",
        f"    qt = np.zeros({max(g.quorum_slots, 1)})",
        f"    qd = np.zeros({max(g.quorum_slots, 1)}, np.int64)",
        f"    qdt = np.zeros({max(g.quorum_slots, 1)})",
        f"    hz = np.zeros({max(n_races, 1)}, np.bool_)",
        f"    calls_b = np.zeros({max(n_comp, 1)}, np.int64)",
        f"    hz_b = np.zeros({max(n_races, 1)}, np.bool_)",
        "    n_ok = 0",
        "    n_hedged = 0",
        "    n_birn = 0",
        "    for r in range(n):",
    ]
    if det and n_races:
        loop.append("        hz[:] = False")
    loop.append("        ok, t, d = journey(rng, fp, ip, tab, qt, qd, qdt, calls, hz, -1, False)")
    loop += [
        "        b = bucket_index(t)",
        "        hist_all[b] += 1",
        "        if ok:",
        "            n_ok += 1",
        "            hist_ok[b] += 1",
    ]
    if det:
        loop.append("            joint[d + 1, b] += 1")
        if n_races:
            loop += [
                "        hedged = False",
                f"        for k in range({n_races}):",
                "            if hz[k]:",
                "                race_issued[k] += 1",
                "                hedged = True",
                "        if hedged:",
                "            n_hedged += 1",
            ]
    if trace:
        loop += ["        out_ok[r] = ok", "        out_t[r] = t", "        out_dom[r] = d"]
    if birn:
        loop += [
            "        if birn_stride > 0 and r % birn_stride == 0:",
            "            n_birn += 1",
            f"            for c in {used if used else (0,)}:",
            "                up = journey(rng_b, fp, ip, tab, qt, qd, qdt, calls_b, hz_b, c, True)[0]",
            "                down = journey(rng_b, fp, ip, tab, qt, qd, qdt, calls_b, hz_b, c, False)[0]",
            "                birn_up[c] += up",
            "                birn_down[c] += down",
        ]
    loop += [
        "    totals[0] += n",
        "    totals[1] += n_ok",
        "    totals[2] += n_hedged",
        "    totals[3] += n_birn",
        "",
    ]
    return _kernel_source(journey, g, parts, loop, used)


# --------------------------------------------------------------------------- importance sampling
#
# The importance variant (``KernelOptions.importance``) draws the same quantities in the same
# order as the plain kernel, from biased laws, and adds each draw's exact log likelihood ratio
# log(nominal density / biased density) to ``lw[0]``:
#
# * a component's own failure (uniform): fails with probability q_i instead of 1 − a′_i;
# * a gaussian factor W_k and a factor member's own noise ε_i: a defensive mixture
#   (1 − β)·N(0, 1) + β·N(μ, 1) (one uniform picks the part, then the normal), whose likelihood
#   ratio 1 / (1 − β + β·exp(μx − μ²/2)) is at most 1 / (1 − β): a pure mean shift would give
#   log-normal weights to the failures the shift does not explain;
# * a fate group's uniform: mass q_g instead of 1 − c_g on the failure region [c_g, 1)
#   (c_g the smallest member availability), uniform within each region;
# * a shock: occurs with probability q_s instead of p_s.
#
# Latency, choice, optional and cache draws keep their laws (likelihood ratio 1). The biasing
# values live in the ``bias`` array (layout :class:`BiasLayout`), so one compiled kernel serves
# every biasing of a journey structure. ``ces`` collects per request what the cross-entropy
# update needs (calls, own failures, sum of own noises, factor values, region and shock flags).

_IS_ARGS = ", bias, lw, ces"


@dataclass(frozen=True, eq=False)
class BiasLayout:
    """Where the importance kernel reads its biasing (``bias``) and writes its cross-entropy
    statistics (``ces``), and the nominal laws the biasing is relative to.

    Per component ``i`` (``kind[i]``: ``uniform`` | ``factor`` | ``group``): ``own_a[i]`` = a′ᵢ,
    ``zthr[i]`` = Φ⁻¹(a′ᵢ), ``loadings[i]`` and ``own_sd[i]`` of its failure latent. Per fate group
    ``c[k]`` (failure region [c, 1)), per shock ``shock_p[s]``.
    """

    kind: tuple[str, ...]
    own_a: np.ndarray
    zthr: np.ndarray
    loadings: np.ndarray
    own_sd: np.ndarray
    group_c: np.ndarray
    shock_p: np.ndarray

    @property
    def n_components(self) -> int:
        return len(self.kind)

    @property
    def n_factors(self) -> int:
        return int(self.loadings.shape[1])

    @property
    def n_groups(self) -> int:
        return len(self.group_c)

    @property
    def n_shocks(self) -> int:
        return len(self.shock_p)

    # ``bias`` offsets: threshold 1 − qᵢ, log LR if ok, log LR if failed, νᵢ, βᵢ; μ_k, β_k; 6 per group; 3 per shock
    def off(self, what: str) -> int:
        c, k, g = self.n_components, self.n_factors, self.n_groups
        table = {"thr": 0, "lok": c, "lfail": 2 * c, "nu": 3 * c, "nb": 4 * c, "mu": 5 * c, "mb": 5 * c + k, "grp": 5 * c + 2 * k}
        table["shk"] = table["grp"] + 6 * g
        return table[what]

    @property
    def bias_size(self) -> int:
        return self.off("shk") + 3 * self.n_shocks

    # ``ces`` offsets: calls, own failures, Σ r and Σ r·x of own noises (per component: r the shifted
    # part's responsibility); Σ r and Σ r·x per factor; region flags; shock flags
    def ce(self, what: str) -> int:
        c, k, g = self.n_components, self.n_factors, self.n_groups
        table = {"calls": 0, "fails": c, "er": 2 * c, "erx": 3 * c, "wr": 4 * c, "wrx": 4 * c + k, "grp": 4 * c + 2 * k}
        table["shk"] = table["grp"] + g
        return table[what]

    @property
    def ce_size(self) -> int:
        return self.ce("shk") + self.n_shocks


def bias_layout(journey: Journey, sites: dict[str, _Site], n_wf: int, n_groups: int, sh: Shocks) -> BiasLayout:
    """The :class:`BiasLayout` of ``journey`` (``sites`` from the scenario)."""
    ordered = sorted(sites.values(), key=lambda s: s.index)
    kind = tuple("group" if s.group >= 0 else "factor" if s.f_factors else "uniform" for s in ordered)
    load = np.zeros((len(ordered), n_wf))
    for s in ordered:
        for k, w in s.f_factors:
            load[s.index, k] = w
    c = np.ones(n_groups)
    for s in ordered:
        if s.group >= 0:
            c[s.group] = min(c[s.group], s.own_a)
    return BiasLayout(
        kind=kind,
        own_a=np.array([s.own_a for s in ordered]),
        zthr=np.array([s.zthr for s in ordered]),
        loadings=load,
        own_sd=np.array([s.f_sd for s in ordered]),
        group_c=c,
        shock_p=np.asarray(sh.probability, dtype=np.float64),
    )


def _emit_failure_is(g: KernelWriter, s: _Site, ok: str, c: str) -> None:
    """A call's own failure draw under the biasing, with its log likelihood ratio."""
    n = len(g.journey.components)
    if s.group >= 0:  # the group's uniform was drawn (and weighted) with the request's state
        g.line(f"{ok} = g{s.group} < {g.param(s.own_a)}")
        return
    g.line(f"ces[{c}] += 1.0")
    if s.f_factors:
        e = g.name("e")
        _emit_latent_is(g, e, f"bias[{3 * n} + {c}]", f"bias[{4 * n} + {c}]", f"{2 * n} + {c}", f"{3 * n} + {c}", "+=")
        terms = " + ".join(f"{g.param(w)} * wf{k}" for k, w in s.f_factors)
        g.line(f"{ok} = {terms} + {g.param(s.f_sd)} * {e} <= {g.param(s.zthr)}")
        with g.block(f"if not {ok}:"):
            g.line(f"ces[{n} + {c}] += 1.0")
        return
    g.line(f"{ok} = {g.uniform()} < bias[{c}]")
    with g.block(f"if {ok}:"):
        g.line(f"lw[0] += bias[{n} + {c}]")
    with g.block("else:"):
        g.line(f"lw[0] += bias[{2 * n} + {c}]")
        g.line(f"ces[{n} + {c}] += 1.0")


def _emit_latent_is(g: KernelWriter, x: str, mu: str, beta: str, at_r: str, at_rx: str, op: str) -> None:
    """``x`` ~ (1 − β)·N(0, 1) + β·N(μ, 1), its log likelihood ratio, and the shifted part's
    responsibility r (``ces[at_r] op r``, ``ces[at_rx] op r·x``) for the cross-entropy update."""
    u, sh, den = g.name("u"), g.name("s"), g.name("den")
    g.line(f"{u} = {g.uniform()}")
    g.line(f"{x} = {g.normal()}")
    with g.block(f"if {u} < {beta}:"):
        g.line(f"{x} += {mu}")
    g.line(f"{sh} = {beta} * math.exp({mu} * ({x} - 0.5 * {mu}))")
    g.line(f"{den} = 1.0 - {beta} + {sh}")
    g.line(f"lw[0] -= math.log({den})")
    g.line(f"ces[{at_r}] {op} {sh} / {den}")
    g.line(f"ces[{at_rx}] {op} {sh} / {den} * {x}")


def _emit_domain_state_is(g: KernelWriter, lay: BiasLayout) -> None:
    """The request's domain state (factors, latency factors, groups, shocks) under the biasing."""
    mu, mb, grp, shk = lay.off("mu"), lay.off("mb"), lay.off("grp"), lay.off("shk")
    for k in range(g.n_wf):
        _emit_latent_is(g, f"wf{k}", f"bias[{mu + k}]", f"bias[{mb + k}]", str(lay.ce("wr") + k), str(lay.ce("wrx") + k), "=")
    for k in range(g.n_wl):
        g.line(f"wl{k} = {g.normal()}")
    for k in range(g.n_groups):
        u, o = g.name("u"), grp + 6 * k
        g.line(f"{u} = {g.uniform()}")
        with g.block(f"if {u} < bias[{o}]:"):
            g.line(f"g{k} = {u} * bias[{o + 1}]")
            g.line(f"lw[0] += bias[{o + 2}]")
        with g.block("else:"):
            g.line(f"g{k} = bias[{o + 3}] + ({u} - bias[{o}]) * bias[{o + 4}]")
            g.line(f"lw[0] += bias[{o + 5}]")
            g.line(f"ces[{lay.ce('grp') + k}] = 1.0")
    for k in range(g.n_shocks):
        o = shk + 3 * k
        g.line(f"sh{k} = {g.uniform()} < bias[{o}]")
        with g.block(f"if sh{k}:"):
            g.line(f"lw[0] += bias[{o + 1}]")
            g.line(f"ces[{lay.ce('shk') + k}] = 1.0")
        with g.block("else:"):
            g.line(f"lw[0] += bias[{o + 2}]")


IS_SUMS = 8
"""Entries of an importance block's ``sums``: Σw, Σw², Σw·F, Σw²·F, failures (count), max w·F,
samples, Σw⁴·F (F = 1 for a failed journey)."""


def _finish_is(journey: Journey, g: KernelWriter, parts: list[str], lay: BiasLayout, used: tuple[int, ...]) -> KernelSource:
    """Append the importance sampling loop and package the kernel."""
    n_races = len(g.races)
    q = max(g.quorum_slots, 1)
    loop = [
        "@njit(cache=True, nogil=True, error_model='numpy')",
        "def sample_block(n, rng, fp, ip, tab, bias, sums, ce_acc):",
        f"    qt = np.zeros({q})",
        f"    qd = np.zeros({q}, np.int64)",
        f"    qdt = np.zeros({q})",
        f"    hz = np.zeros({max(n_races, 1)}, np.bool_)",
        f"    calls = np.zeros({max(len(journey.components), 1)}, np.int64)",
        "    lw = np.zeros(1)",
        f"    ces = np.zeros({max(lay.ce_size, 1)})",
        "    for r in range(n):",
        "        lw[0] = 0.0",
        "        ces[:] = 0.0",
        "        ok, t, d = journey(rng, fp, ip, tab, qt, qd, qdt, calls, hz, -1, False, bias, lw, ces)",
        "        w = math.exp(lw[0])",
        "        sums[0] += w",
        "        sums[1] += w * w",
        "        if not ok:",
        "            sums[2] += w",
        "            sums[3] += w * w",
        "            sums[4] += 1.0",
        "            if w > sums[5]:",
        "                sums[5] = w",
        "            sums[7] += (w * w) * (w * w)",
        f"            for k in range({lay.ce_size}):",
        "                ce_acc[k] += w * ces[k]",
        "    sums[6] += n",
        "",
    ]
    return _kernel_source(journey, g, parts, loop, used, bias=lay)


# --------------------------------------------------------------------------- tilted latency
#
# The tilted-latency variant (``KernelOptions.tilt``) draws the same quantities in the same order
# as the plain kernel, after one uniform per request that picks a component of a *mixture* of
# tilts: none (the defensive part, probability π₀), one tiltable site k alone (π_k), or all of
# them (π_all). Failures keep their laws. A tiltable site is a lognormal, exponential or gamma
# latency sampler (outside mixtures) or a latency-correlation normal (a factor, or a member's own
# noise); when its component is picked it draws from its tilted law (see :func:`_sample_tilted`).
# Every draw of site k, tilted or not, adds log ℓ_k (tilted / nominal density of the value drawn)
# to ``ll[k]``, so the request's exact likelihood ratio is
#
#     w = 1 / (π₀ + Σ_k π_k·exp(ll[k]) + π_all·exp(Σ_k ll[k]))  ≤ 1/π₀,
#
# the nominal path density over the mixture's. Constant, empirical, histogram, Weibull, Pareto and
# mixture samplers are not tilted (ratio 1) unless they are latency-factor members, whose latent
# normal is shifted. The tilts and mixture weights live in ``tilt`` and ``mixp`` (layout
# :class:`TiltLayout`), so one compiled kernel serves every tilt. Per request the kernel adds w,
# w², w⁴, max w and a count into the bucket of T (all requests, successful or not) and, for each
# threshold in ``thr``, into the row of the requests with T > threshold; for the first threshold
# it also adds w·r_c, r_c the responsibility of mixture component c, into ``resp`` (the
# cross-entropy update of the mixture weights).

_TILT_ARGS = ", tilt, tsel, ll"
TILT_STATS = 5
"""Columns of the tilted kernel's weighted histogram and threshold rows: Σw, Σw², Σw⁴, max w, count."""


@dataclass(frozen=True, eq=False)
class TiltLayout:
    """The tiltable draw sites of a kernel, in slot order: ``kind[k]`` ``normal`` (a normal shifted
    by θ·``value[k]`` when tilted) or ``scale`` (a gamma of shape ``value[k]``, exponential 1,
    whose scale is multiplied by k(θ) when tilted). ``mixp`` (the mixture weights) has
    ``n_slots + 2`` entries: π₀, π_1…π_S, π_all."""

    kind: tuple[str, ...]
    value: np.ndarray

    @property
    def n_slots(self) -> int:
        return len(self.kind)


def _mean_latency_loading(sites: dict[str, _Site], k: int) -> float:
    w = [lw for s in sites.values() for kk, lw in s.l_factors if kk == k]
    return float(np.mean(w)) if w else 0.0


def _finish_tilt(journey: Journey, g: KernelWriter, parts: list[str], used: tuple[int, ...]) -> KernelSource:
    """Append the tilted sampling loop and package the kernel."""
    n_races = len(g.races)
    q = max(g.quorum_slots, 1)
    n_slots = len(g.tilt_slots)
    loop = [
        "@njit(cache=True, nogil=True, error_model='numpy')",
        "def sample_block(n, rng, fp, ip, tab, tilt, mixp, thr, hist, xs, sums, resp):",
        f"    qt = np.zeros({q})",
        f"    qd = np.zeros({q}, np.int64)",
        f"    qdt = np.zeros({q})",
        f"    hz = np.zeros({max(n_races, 1)}, np.bool_)",
        f"    calls = np.zeros({max(len(journey.components), 1)}, np.int64)",
        f"    ns = {n_slots}",
        "    ll = np.zeros(max(ns, 1))",
        "    tsel = np.zeros(1, np.int64)",
        "    cum = np.cumsum(mixp)",
        "    rc = np.zeros(ns + 2)",
        "    for r in range(n):",
        "        ll[:] = 0.0",
        "        u = rng.random() * cum[ns + 1]",
        "        c = 0",
        "        while c < ns + 1 and u >= cum[c]:",
        "            c += 1",
        "        tsel[0] = -1 if c == 0 else (-2 if c == ns + 1 else c - 1)",
        "        ok, t, d = journey(rng, fp, ip, tab, qt, qd, qdt, calls, hz, -1, False, tilt, tsel, ll)",
        "        rc[0] = mixp[0]",
        "        tot = 0.0",
        "        for k in range(ns):",
        "            rc[k + 1] = mixp[k + 1] * math.exp(ll[k]) if mixp[k + 1] > 0.0 else 0.0",
        "            tot += ll[k]",
        "        rc[ns + 1] = mixp[ns + 1] * math.exp(tot) if mixp[ns + 1] > 0.0 else 0.0",
        "        den = 0.0",
        "        for k in range(ns + 2):",
        "            den += rc[k]",
        "        w = 1.0 / den",
        "        w2 = w * w",
        "        b = bucket_index(t)",
        "        hist[b, 0] += w",
        "        hist[b, 1] += w2",
        "        hist[b, 2] += w2 * w2",
        "        if w > hist[b, 3]:",
        "            hist[b, 3] = w",
        "        hist[b, 4] += 1.0",
        "        sums[0] += w",
        "        sums[1] += w2",
        "        if not ok:",
        "            sums[2] += w",
        "            sums[3] += w2",
        "        for k in range(thr.shape[0]):",
        "            if t > thr[k]:",
        "                xs[k, 0] += w",
        "                xs[k, 1] += w2",
        "                xs[k, 2] += w2 * w2",
        "                if w > xs[k, 3]:",
        "                    xs[k, 3] = w",
        "                xs[k, 4] += 1.0",
        "                if k == 0:",
        "                    for m in range(ns + 2):",
        "                        resp[m] += w * rc[m] / den",
        "    sums[4] += n",
        "",
    ]
    lay = TiltLayout(kind=tuple(k for k, _ in g.tilt_slots), value=np.array([v for _, v in g.tilt_slots], dtype=np.float64))
    return _kernel_source(journey, g, parts, loop, used, tilt=lay)
