"""What random draws cost: the profile behind the explanations of per-request and per-call time.

* :class:`DrawCosts` — nanoseconds per random draw of each kind the generated kernels make
  (``rng.random()``, ``rng.standard_normal()``, ``rng.standard_exponential()``, the ``exp`` of a
  lognormal draw, NumPy's gamma algorithm per shape), each timed in a tight numba loop on one
  thread.
* :func:`draw_counts` — draws of each kind and calls per request of a journey, counted on the
  reference simulator (:mod:`emac_sim.reference`), which makes the kernels' draws in the
  kernels' order; with :class:`DrawCosts` it gives the nanoseconds per request that the draws
  alone cost, the rest being control flow, parameter loads and bookkeeping.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

from emac_sim.kernels.draws import std_gamma
from emac_sim.model import distributions as D
from emac_sim.model.journey import Journey
from emac_sim.model.quantiles import gamma_constants
from emac_sim.model.scenario import named_scenario

from . import median

# --------------------------------------------------------------------------- draw costs


@njit(cache=True, nogil=True)
def _uniforms(rng, n):  # pragma: no cover - numba
    s = 0.0
    for _ in range(n):
        s += rng.random()
    return s


@njit(cache=True, nogil=True)
def _normals(rng, n):  # pragma: no cover - numba
    s = 0.0
    for _ in range(n):
        s += rng.standard_normal()
    return s


@njit(cache=True, nogil=True)
def _exponentials(rng, n):  # pragma: no cover - numba
    s = 0.0
    for _ in range(n):
        s += rng.standard_exponential()
    return s


@njit(cache=True, nogil=True)
def _lognormals(rng, n):  # pragma: no cover - numba
    s = 0.0
    for _ in range(n):
        s += math.exp(-3.0 + 0.5 * rng.standard_normal())
    return s


@njit(cache=True, nogil=True)
def _gammas(rng, n, shape, b, c):  # pragma: no cover - numba
    s = 0.0
    for _ in range(n):
        s += std_gamma(rng, shape, b, c)
    return s


KINDS = ("uniform", "normal", "exponential", "exp")
"""Draw kinds besides gamma; ``exp`` is the ``math.exp`` that turns a normal into a lognormal."""


class DrawCosts:
    """Nanoseconds per draw, measured on first use (process CPU time, one thread, median of
    ``repeats`` loops of ``n`` draws) and remembered.

    Parameters
    ----------
    n
        Draws per timed loop.
    repeats
        Loops per kind.
    """

    def __init__(self, n: int = 1_000_000, repeats: int = 3) -> None:
        self.n = int(n)
        self.repeats = int(repeats)
        self.ns: dict[str, float] = {}

    def _time(self, fn: Callable[..., float], *args: Any) -> float:
        rng = np.random.default_rng(12345)
        fn(rng, 10, *args)  # compile or load
        times = []
        for _ in range(self.repeats):
            t0 = time.process_time()
            fn(rng, self.n, *args)
            times.append(time.process_time() - t0)
        return 1e9 * median(times) / self.n

    def cost(self, kind: str) -> float:
        """ns per draw of ``kind``: one of :data:`KINDS` or ``gamma:<shape>``."""
        if kind not in self.ns:
            if kind == "exp":
                self.ns[kind] = max(0.0, self._time(_lognormals) - self.cost("normal"))
            elif kind.startswith("gamma:"):
                shape = float(kind[6:])
                b, c = gamma_constants(shape)
                self.ns[kind] = self._time(_gammas, shape, b, c)
            else:
                self.ns[kind] = self._time({"uniform": _uniforms, "normal": _normals, "exponential": _exponentials}[kind])
        return self.ns[kind]

    def per_request(self, per_request_counts: dict[str, float]) -> float:
        """ns per request of a request's draws (``draw_counts(...)["perRequest"]``)."""
        return sum(k * self.cost(kind) for kind, k in per_request_counts.items())

    def to_dict(self) -> dict:
        """The costs measured so far, and how."""
        return {"nsPerDraw": dict(self.ns), "drawsPerLoop": self.n, "repeats": self.repeats, "clock": "process CPU time, median"}


class CountingStream:
    """A ``numpy.random.Generator`` stand-in that counts the draws made through it (the scalar
    methods the reference simulator calls), then delegates."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.counts: Counter[str] = Counter()

    def random(self) -> float:
        self.counts["uniform"] += 1
        return self.rng.random()

    def standard_normal(self) -> float:
        self.counts["normal"] += 1
        return self.rng.standard_normal()

    def standard_exponential(self) -> float:
        self.counts["exponential"] += 1
        return self.rng.standard_exponential()

    def standard_gamma(self, shape: float) -> float:
        self.counts[f"gamma:{float(shape)!r}"] += 1
        return self.rng.standard_gamma(shape)


def draw_counts(journey: Journey, requests: int, seed: int = 0, correlation: str = "declared") -> dict:
    """Calls and draws per request of ``journey`` on the reference simulator, over ``requests``
    requests of the stream of ``(seed, block 0)`` (the engine's first block: the same requests).

    ``exp`` counts lognormal latency draws (one ``math.exp`` each in the kernels); it is counted
    by wrapping the reference's latency sampler and left out (``expCounted`` False) if the
    reference is organised differently.

    Returns
    -------
    dict
        ``requests``, ``callsPerRequest``, ``perRequest`` (kind → draws per request), ``expCounted``.
    """
    from emac_sim.reference import ReferenceSimulator, block_generator

    sim = ReferenceSimulator(journey, named_scenario(journey, correlation))
    stream = CountingStream(block_generator(seed, 0))
    lat = getattr(sim, "lat", None)
    exp_counted = lat is not None and callable(getattr(lat, "draw", None))
    if exp_counted:
        draw = lat.draw

        def counted(dist: D.Distribution | None, rng: Any, z: float | None) -> float:
            if isinstance(dist, D.LogNormal):
                stream.counts["exp"] += 1
            return draw(dist, rng, z)

        lat.draw = counted  # type: ignore[union-attr]
    calls = 0
    for _ in range(int(requests)):
        calls += len(sim.sample(stream).calls)  # type: ignore[arg-type]
    n = max(1, int(requests))
    return {
        "requests": int(requests),
        "callsPerRequest": calls / n,
        "perRequest": {k: v / n for k, v in sorted(stream.counts.items())},
        "expCounted": exp_counted,
    }
