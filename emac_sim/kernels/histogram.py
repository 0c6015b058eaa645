"""The latency histogram's bucket index as a numba function (the layout is :mod:`emac_sim.core.histogram`)."""

from __future__ import annotations

from numba import njit

from ..core import histogram

#: Bucket of a duration ``t`` (seconds): :func:`emac_sim.core.histogram.bucket_index`, compiled
#: to be inlined into the journey kernels.
bucket_index = njit(cache=True, inline="always")(histogram.bucket_index)
