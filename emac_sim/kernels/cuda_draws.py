"""Draws and helpers for the generated CUDA journey kernels (numba.cuda device functions).

The CUDA dialect of the journey compiler (:mod:`emac_sim.engine.cuda_codegen`) writes the same
kernel text as the CPU dialect except for the draw expressions, which call the functions here
on ``rng``: a one-element view ``states[tid:tid + 1]`` of numba's xoroshiro128+ state array, so
each CUDA thread advances its own stream and the generated functions keep the CPU signatures.

* :func:`uniform` — numba's 53-bit ``xoroshiro128p_uniform_float64``, in [0, 1) (under the
  simulator the same numbers from :mod:`emac_sim.kernels.cuda_sim`, which is much faster there);
* :func:`normal` — Box–Muller on two such uniforms, ``sqrt(−2 ln(1 − u₁))·cos(2π u₂)`` (numba's
  own ``xoroshiro128p_normal_float64`` builds it from float32 uniforms, which would coarsen the
  far tail that failure thresholds like Φ⁻¹(0.9999999) sit in);
* :func:`exponential` — ``−ln(1 − u)`` by inversion (``1 − u`` lies in (0, 1]);
* :func:`std_gamma` — Marsaglia & Tsang (2000) for shape ≥ 1 and, for shape < 1, their boost
  ``G(a) = G(a + 1)·U^(1/a)`` (same law as NumPy's gamma; not the same draws: bit-identity with
  the CPU backend is not a goal);
* :func:`piecewise`, :func:`table`, :func:`latent_u`, :func:`log_sf`, :func:`bucket_index` — the
  CPU kernels' own code (:mod:`emac_sim.kernels.draws`, :mod:`emac_sim.core.histogram`) compiled
  for the device, with the device Φ (:func:`ndtr`) bound in place of the CPU one.

Everything is float64 (docs/cuda.md explains the choice). Importing this module imports
``numba.cuda``; whether that is the real target or the simulator is decided by numba from
``NUMBA_ENABLE_CUDASIM`` when ``numba.cuda`` is first imported.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable
from typing import Any

from numba import config, cuda
from numba.cuda.random import xoroshiro128p_uniform_float64

from ..core import histogram
from . import draws as _cpu

_SQRT1_2 = 0.7071067811865476
_TWO_PI = 6.283185307179586

if config.ENABLE_CUDASIM:
    from .cuda_sim import uniform_float64 as _uniform64
else:
    _uniform64 = xoroshiro128p_uniform_float64


def _for_device(fn: Any, **bind: Any) -> Callable:
    """The Python function behind a CPU kernel helper, compiled as a device function, with the
    globals named in ``bind`` replaced by their device versions."""
    py = getattr(fn, "py_func", fn)
    glb = {**py.__globals__, **bind}
    clone = types.FunctionType(py.__code__, glb, py.__name__, py.__defaults__, py.__closure__)
    return cuda.jit(device=True)(clone)


@cuda.jit(device=True)
def uniform(rng: Any) -> float:
    """A uniform draw in [0, 1) from the thread's stream ``rng`` (one-element state view)."""
    return _uniform64(rng, 0)


@cuda.jit(device=True)
def normal(rng: Any) -> float:
    """A standard normal draw (Box–Muller, two uniforms)."""
    u1 = 1.0 - _uniform64(rng, 0)
    u2 = _uniform64(rng, 0)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)


@cuda.jit(device=True)
def exponential(rng: Any) -> float:
    """A standard exponential draw, ``−ln(1 − u)``."""
    return -math.log1p(-_uniform64(rng, 0))


@cuda.jit(device=True)
def _gamma_ge1(rng: Any, b: float, c: float) -> float:
    """Marsaglia–Tsang for shape ≥ 1 with ``b = shape − 1/3``, ``c = 1/sqrt(9b)``."""
    while True:
        x = normal(rng)
        v = 1.0 + c * x
        if v <= 0.0:
            continue
        v = v * v * v
        u = _uniform64(rng, 0)
        if u < 1.0 - 0.0331 * (x * x) * (x * x):
            return b * v
        if u > 0.0 and math.log(u) < 0.5 * x * x + b * (1.0 - v + math.log(v)):
            return b * v


@cuda.jit(device=True)
def std_gamma(rng: Any, shape: float, b: float, c: float) -> float:
    """A standard gamma draw (scale 1). ``b``, ``c``: the constants of ``shape`` (shape ≥ 1) as in
    :func:`emac_sim.model.quantiles.gamma_constants`; below 1 the boosted shape's are computed here."""
    if shape == 0.0:
        return 0.0
    if shape == 1.0:
        return exponential(rng)
    if shape > 1.0:
        return _gamma_ge1(rng, b, c)
    b1 = shape + 1.0 - 1.0 / 3.0
    g = _gamma_ge1(rng, b1, 1.0 / math.sqrt(9.0 * b1))
    u = _uniform64(rng, 0)
    return g * (1.0 - u) ** (1.0 / shape)  # 1 − u in (0, 1]: never 0 ** (1/a)


@cuda.jit(device=True)
def ndtr(z: float) -> float:
    """Standard normal CDF Φ(z) on the device."""
    return 0.5 * math.erfc(-z * _SQRT1_2)


piecewise = _for_device(_cpu.piecewise)
table = _for_device(_cpu.table)
latent_u = _for_device(_cpu.latent_u, ndtr=ndtr)
log_sf = _for_device(_cpu.log_sf, ndtr=ndtr)
#: Bucket of a duration (seconds): :func:`emac_sim.core.histogram.bucket_index` on the device.
bucket_index = _for_device(histogram.bucket_index)
