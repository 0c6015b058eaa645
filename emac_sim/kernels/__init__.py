"""numba kernels (DESIGN §6): arrays in, arrays out; no objects, no I/O, no RNG construction.

``rng`` (xoshiro256**), ``special`` (Φ, Φ⁻¹), ``samplers`` (latency inverse CDFs),
``histogram`` (log buckets), ``interpreter`` (the journey program evaluator).
"""
