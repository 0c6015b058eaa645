"""numba kernels (DESIGN §6): scalars and arrays in, arrays out; no I/O, no RNG construction.

``special`` (Φ), ``histogram`` (log buckets), ``draws`` (latency draws the generated journey
kernels call). The journey kernels themselves are generated per structure by
``emac_sim.engine.codegen``.
"""
