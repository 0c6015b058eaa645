"""The CUDA backend of ``simulate`` (issue 18, docs/cuda.md): launch the generated kernel, merge exactly.

:func:`run_cuda` generates the journey's CUDA kernel (:mod:`emac_sim.engine.cuda_codegen`), seeds
one xoroshiro128+ stream per CUDA thread, runs the samples in launches of at most
``S·`` :data:`SAMPLES_PER_THREAD` journeys (``S`` threads) and merges each launch's integer counts
into a :class:`~emac_sim.engine.blocks.BlockResult`, the same object the CPU backend produces, so
every downstream number (intervals, quantiles, attribution, JSON) is computed by the same code.

Streams: the run's seed (``emac_sim.core.seeds`` policy: given, or drawn and recorded) is mixed
into a 64-bit xoroshiro seed by ``SeedSequence(seed, spawn_key=`` :data:`CUDA_SPAWN_KEY` ``)`` (a key
no CPU block uses); thread ``i`` takes the ``i``-th 2^64-step subsequence of that generator
(``numba.cuda.random.create_xoroshiro128p_states``), and the Monte Carlo Birnbaum passes the
subsequences ``S … 2S − 1``. The grid (:func:`geometry`) depends on the requested number of samples
only — never on the GPU model — so the same seed and sample count give the same counts on any
GPU and under numba's simulator (up to the last-bit differences of libdevice's and the host's
``exp``/``log``, which can only move a sample that falls exactly on a threshold).

``numba.cuda`` is imported only here and only when the backend is used; ``NUMBA_ENABLE_CUDASIM=1``
(read by numba when ``numba.cuda`` is first imported) selects the simulator.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from ..core.intervals import wilson_half_width
from .blocks import BlockResult
from .codegen import KernelOptions
from .compile import CompiledJourney
from .cuda_codegen import CudaKernelSource, generate_cuda
from .kernelstore import import_source

THREADS_PER_BLOCK = 256
MIN_SAMPLES_PER_THREAD = 64
"""The grid grows (up to :data:`MAX_BLOCKS`) until each thread has at least this many samples."""
MAX_BLOCKS = 2048
"""2048 blocks × 256 threads = 524,288 streams: enough to fill an H100 (132 SMs × 2048 threads)
several times over."""
SAMPLES_PER_THREAD = 256
"""Samples per thread per launch: bounds a block's ``uint32`` shared counts (256 × 256 per launch)
and sets how often ``target_ci`` is checked."""
CUDA_SPAWN_KEY = (0x43554441, 2)
"""SeedSequence spawn key of the CUDA streams (CPU blocks use ``(b,)`` and ``(b, 1)``)."""



def cuda_problem() -> str | None:
    """Why the cuda backend cannot run here, in one line, or ``None`` when it can (a GPU with a
    working driver, or numba's simulator selected with ``NUMBA_ENABLE_CUDASIM=1``)."""
    try:
        from numba import config, cuda
    except Exception as err:  # pragma: no cover - numba without its cuda package
        return f"numba.cuda cannot be imported ({type(err).__name__}: {err})"
    if config.ENABLE_CUDASIM:
        return None
    try:
        if cuda.is_available():
            return None
    except Exception:  # pragma: no cover - a broken driver install
        pass
    return (
        "no CUDA GPU is available (numba.cuda.is_available() is false); "
        "use --backend cpu, or set NUMBA_ENABLE_CUDASIM=1 for numba's (slow) CUDA simulator"
    )


def simulated() -> bool:
    """True when numba's CUDA simulator stands in for a GPU."""
    from numba import config

    return bool(config.ENABLE_CUDASIM)


def geometry(samples: int) -> tuple[int, int]:
    """``(blocks, threads per block)`` of a run of ``samples`` journeys: a function of
    ``samples`` only, so results do not depend on the GPU."""
    per_block = THREADS_PER_BLOCK * MIN_SAMPLES_PER_THREAD
    blocks = min(MAX_BLOCKS, max(1, -(-int(samples) // per_block)))
    return blocks, THREADS_PER_BLOCK


def stream_seed(seed: int) -> int:
    """The 64-bit xoroshiro128+ seed of a run's ``seed``."""
    ss = np.random.SeedSequence(int(seed), spawn_key=CUDA_SPAWN_KEY)
    return int(ss.generate_state(1, np.uint64)[0])


def load_cuda_module(source: str) -> ModuleType:
    """Import (writing it to the kernel cache directory first when needed) a generated CUDA kernel
    module. Its kernel is compiled by numba on its first launch in each process."""
    return import_source(source, "cuda", "emac_cuda_kernel")


@contextlib.contextmanager
def _quiet_simulator() -> Iterator[None]:
    """Under the simulator, numba's xoroshiro helpers run as plain Python on numpy scalars: their
    wrap-around uint64 arithmetic warns, and the state initialiser falls back to object mode.
    Both are expected there; nothing is silenced on a real GPU."""
    if not simulated():
        yield
        return
    from numba.core.errors import NumbaWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=NumbaWarning)
        warnings.filterwarnings("ignore", message="overflow encountered", category=RuntimeWarning)
        with np.errstate(over="ignore"):
            yield


def _states(n: int, seed64: int, subsequence_start: int = 0) -> object:
    """Device array of ``n`` xoroshiro128+ states (subsequences ``subsequence_start …``): numba's
    initialiser on a GPU; under the simulator the same states from :mod:`emac_sim.kernels.cuda_sim`."""
    from numba import cuda

    if simulated():
        from ..kernels.cuda_sim import init_states

        return cuda.to_device(init_states(n, seed64, subsequence_start))
    from numba.cuda.random import create_xoroshiro128p_states

    return create_xoroshiro128p_states(n, seed64, subsequence_start=subsequence_start)


@dataclass(frozen=True)
class CudaRun:
    """How a CUDA run went: launches, samples per launch, grid, whether ``target_ci`` was met."""

    launches: int
    launch_samples: int
    blocks: int
    threads_per_block: int
    reached: bool
    simulated: bool

    @property
    def streams(self) -> int:
        return self.blocks * self.threads_per_block


def cuda_kernel(compiled: CompiledJourney) -> CudaKernelSource:
    """The CUDA kernel source of a compiled journey (same bookkeeping as its CPU kernel)."""
    opts = KernelOptions(details=compiled.details, birnbaum=compiled.birnbaum_stride > 0)
    return generate_cuda(compiled.journey, compiled.scenario, opts)


def run_cuda(
    compiled: CompiledJourney,
    seed: int,
    samples: int,
    *,
    target_ci: float | None = None,
    confidence: float = 0.95,
    advance: Callable[[int], None] | None = None,
) -> tuple[BlockResult, CudaRun]:
    """Simulate ``samples`` journeys of ``compiled`` on the GPU (or numba's simulator).

    Parameters
    ----------
    compiled
        :func:`emac_sim.engine.compile.compile_journey` output (its ``details`` and
        ``birnbaum_stride`` select the bookkeeping).
    seed
        The run's resolved seed (non-negative integer).
    samples
        Journeys to simulate (the cap with ``target_ci``).
    target_ci
        Stop after the first launch at which the availability interval half-width is at most this.
    confidence
        Coverage of that interval.
    advance
        Called with the samples of each finished launch (progress bars).

    Returns
    -------
    (BlockResult, CudaRun)
        The merged counts (one "block" per launch) and the run's shape.

    Raises
    ------
    RuntimeError
        No GPU and no simulator (:func:`cuda_problem`).
    """
    problem = cuda_problem()
    if problem is not None:
        raise RuntimeError(problem)
    from numba import cuda

    src = cuda_kernel(compiled)
    mod = load_cuda_module(src.source)
    blocks, tpb = geometry(samples)
    streams = blocks * tpb
    per_launch = streams * SAMPLES_PER_THREAD
    seed64 = stream_seed(seed)
    nr = max(compiled.n_races, 1)
    merged = BlockResult.empty(compiled)
    done = launches = 0
    reached = False
    with _quiet_simulator():
        states = _states(streams, seed64)
        states_b = _states(streams, seed64, streams) if src.options.birnbaum else states
        d_fp, d_ip, d_tab = cuda.to_device(src.fp), cuda.to_device(src.ip), cuda.to_device(src.tab)
        while done < samples:
            n = min(per_launch, int(samples) - done)
            res = BlockResult.empty(compiled, first_block=launches)
            outs = {
                "totals": np.zeros(4, np.int64),
                "hist_ok": res.hist_ok,
                "hist_all": res.hist_all,
                "joint": res.joint,
                "calls": res.calls,
                "race_issued": np.zeros(nr, np.int64),
                "birn_up": res.birnbaum_up,
                "birn_down": res.birnbaum_down,
            }
            dev = {k: cuda.to_device(v) for k, v in outs.items()}
            mod.sample_grid[blocks, tpb](
                n, done, states, states_b, d_fp, d_ip, d_tab,
                dev["totals"], dev["hist_ok"], dev["hist_all"], dev["joint"], dev["calls"], dev["race_issued"],
                dev["birn_up"], dev["birn_down"], int(compiled.birnbaum_stride),
            )  # fmt: skip
            host = {k: d.copy_to_host() for k, d in dev.items()}
            res.hist_ok, res.hist_all, res.joint, res.calls = host["hist_ok"], host["hist_all"], host["joint"], host["calls"]
            res.race_issued = host["race_issued"][: compiled.n_races].copy()
            res.birnbaum_up, res.birnbaum_down = host["birn_up"], host["birn_down"]
            totals = host["totals"]
            res.samples, res.ok, res.hedged, res.birnbaum_samples = n, int(totals[1]), int(totals[2]), int(totals[3])
            res.n_blocks = 1
            merged = merged.merge(res)
            done += n
            launches += 1
            if advance is not None:
                advance(n)
            if target_ci is not None and wilson_half_width(merged.ok, merged.samples, confidence) <= target_ci:
                reached = True
                break
    return merged, CudaRun(launches, per_launch, blocks, tpb, reached, simulated())


def describe(run: CudaRun) -> str:
    """One line for the result's notes."""
    where = "numba's CUDA simulator" if run.simulated else "GPU"
    return (
        f"backend cuda ({where}): {run.streams:,} xoroshiro128+ streams ({run.blocks} x {run.threads_per_block} threads), "
        f"{run.launches} launch{'es' if run.launches != 1 else ''}, float64"
    )
