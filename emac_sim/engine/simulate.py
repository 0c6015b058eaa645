"""``simulate()``: scenario → compiled journey → blocks on worker threads → merged result.

The thread backend runs :func:`emac_sim.engine.blocks.run_block` on a pool of threads (the
kernel releases the GIL) with a bounded window of blocks in flight, and merges results in
block-index order, so memory is constant in the number of samples and the result is
identical for any number of workers. With ``target_ci`` the run stops after the first block
(in index order) at which the availability interval's half-width is at most the target;
blocks computed beyond it are discarded, so early stopping is deterministic too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..core.intervals import wilson_half_width
from ..core.seeds import resolve_seed
from ..errors import numeric_layer
from ..model.journey import Journey
from . import dask_backend
from .blocks import BLOCK_SIZE, BlockResult, default_workers, plan_blocks, run_block
from .compile import CompiledJourney, compile_journey, default_birnbaum_stride
from .result import SimulationResult, result_from_blocks


def iter_blocks(compiled: CompiledJourney, seed: int, sizes: list[int], workers: int) -> Iterator[BlockResult]:
    """Results of ``sizes`` blocks in block-index order, computed on ``workers`` threads.

    At most ``2·workers`` blocks are in flight; closing the iterator early cancels the rest.
    """
    if workers <= 1 or len(sizes) <= 1:
        for b, size in enumerate(sizes):
            yield run_block(compiled, seed, b, size)  # type: ignore[misc]
        return
    run_block(compiled, seed, 0, 0)  # load (or compile) the kernel here, once, before the threads start
    window = 2 * workers
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="emac-block") as pool:
        pending: dict[int, Future] = {}
        nxt = 0
        try:
            for b in range(len(sizes)):
                while nxt < len(sizes) and nxt < b + window:
                    pending[nxt] = pool.submit(run_block, compiled, seed, nxt, sizes[nxt])
                    nxt += 1
                yield pending.pop(b).result()
        finally:
            for f in pending.values():
                f.cancel()


def _progress(total: int, enabled: bool) -> tuple[Callable[[int], None], Callable[[], None]]:
    if not enabled:
        return (lambda n: None), (lambda: None)
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    prog = Progress(
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = prog.add_task("samples", total=total)
    prog.start()
    return (lambda n: prog.update(task, advance=n)), prog.stop


def scenario_notes(journey: Journey, correlation: str) -> list[str]:
    """Human notes on how the scenario treats the spec's domains."""
    notes = []
    free = [d.name for d in journey.domains if d.model == "none" and d.members]
    if correlation == "declared" and free:
        notes.append(f"magnitude-free failure domains ({', '.join(free)}) are shared-fate hypotheses: simulated as independent")
    if not journey.latency_modelled:
        missing = sorted({c for c in journey.root.refs() if journey.component(c).latency is None})
        notes.append(f"latency not modelled (no latency for {', '.join(missing)}): latency results are null")
    return notes


def _rel_reached(merged: BlockResult, target_rel: float, confidence: float) -> bool:
    """Plain runs' ``target_rel``: the Wilson half-width at most ``target_rel`` × the observed
    unavailability (at least one failure seen)."""
    fail = merged.samples - merged.ok
    return fail > 0 and wilson_half_width(merged.ok, merged.samples, confidence) <= target_rel * fail / merged.samples


@numeric_layer("simulate")
def simulate(
    journey: Journey,
    *,
    samples: int,
    seed: int | None = None,
    correlation: str = "declared",
    target_ci: float | None = None,
    workers: int | None = None,
    progress: bool = False,
    pessimistic_shared: frozenset[str] | None = None,
    confidence: float = 0.95,
    block_size: int = BLOCK_SIZE,
    birnbaum_stride: int | None = None,
    client: Any = None,
    details: bool = True,
    backend: str = "cpu",
    method: str = "plain",
    target_rel: float | None = None,
    exceed: float | None = None,
    tail_quantiles: tuple[float, ...] = (),
) -> SimulationResult:
    """Monte Carlo estimate of a journey's availability and latency (DESIGN §6).

    Parameters
    ----------
    journey
        The journey IR (``emac_sim.load_spec``).
    samples
        Journeys to simulate (the cap when ``target_ci`` is given).
    seed
        Non-negative integer; ``None`` draws one (recorded in the result and its JSON).
    correlation
        ``declared`` | ``independent`` | ``shared`` | ``pessimistic`` (docs/semantics.md).
    target_ci
        Stop at the first block boundary where the availability interval half-width is at most
        this (a probability, e.g. ``1e-4``).
    workers
        Threads (default: the CPUs available). Results do not depend on it.
    progress
        Show a progress bar on stderr.
    pessimistic_shared
        The shared set of the pessimistic scenario; by default taken from
        ``emac_sim.analytic.pessimistic_shared``.
    confidence
        Coverage of every interval.
    block_size
        Samples per block (part of the random-stream contract: changing it changes the samples).
    birnbaum_stride
        Birnbaum importance: ``None`` takes it exactly from the analytic layer under the
        simulated scenario, or, where that is not computable, estimates it by Monte Carlo on
        every ``default_birnbaum_stride``-th request; a positive stride always estimates it by
        Monte Carlo with that stride; 0 leaves it out.
    client
        A ``distributed.Client``: run the blocks as tasks on that Dask cluster
        (:mod:`emac_sim.engine.dask_backend`; default: the client made active with
        ``dask_backend.use_client``, else local threads). Results do not depend on it.
    details
        Also record calls per component, hedge rates, tail attribution and Birnbaum importance
        (the ``emac simulate`` output). Off, the kernel counts only successes and latency:
        what validation and sweeps need, and faster.
    backend
        ``cpu`` (threads, or Dask with ``client``) or ``cuda`` (one GPU, or numba's simulator
        under ``NUMBA_ENABLE_CUDASIM=1``: :mod:`emac_sim.engine.cuda`, docs/cuda.md). The same
        seed gives the same counts on each backend; the backends draw different streams, so
        their estimates agree within their intervals, not bit for bit.
    method
        ``plain`` (default): plain Monte Carlo; ``importance``: failure biasing tuned by
        cross-entropy with exact likelihood ratios (:mod:`emac_sim.engine.importance`;
        availability only, no latency; threads only); ``auto``: importance when a plain run of
        ``samples`` would expect fewer than 100 failures (exact scenario availability where the
        analytic layer computes it, else the independent one).
    target_rel
        Stop at the first block boundary (in index order) where the unavailability interval's
        half-width is at most this share of the estimated unavailability.
    exceed, tail_quantiles
        With ``method='importance'``: also estimate P(T > ``exceed``) (seconds) and the quantiles
        of levels ``tail_quantiles`` (e.g. 0.9999, 0.99999) of the journey's latency by
        exponential tilting of the slow calls (:mod:`emac_sim.engine.tails`; a second run of
        ``samples`` requests), reported as the result's ``tail`` (JSON ``tail``).

    Returns
    -------
    SimulationResult
    """
    if int(samples) != samples or samples < 1:
        raise ValueError(f"samples must be a positive integer, got {samples!r}")
    seed, drawn = resolve_seed(seed)
    if target_ci is not None and not (0.0 < target_ci < 1.0):
        raise ValueError(f"target_ci must be in (0, 1), got {target_ci!r}")
    if not (0.0 < confidence < 1.0):
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    if backend not in ("cpu", "cuda"):
        raise ValueError(f"backend must be 'cpu' or 'cuda', got {backend!r}")
    if backend == "cuda":
        from .cuda import cuda_problem

        if (client if client is not None else dask_backend.active_client()) is not None:
            raise ValueError("backend 'cuda' runs on one GPU: it cannot be combined with a Dask scheduler")
        if method != "plain" or target_rel is not None:
            raise ValueError("backend 'cuda' runs plain Monte Carlo only: --method importance/auto and --target-rel need the cpu backend")
        problem = cuda_problem()
        if problem is not None:
            raise RuntimeError(f"backend 'cuda': {problem}")
    from ..analytic.scenarios import resolve_scenario

    scenario, shared = resolve_scenario(journey, correlation, pessimistic_shared)
    if method not in ("plain", "importance", "auto"):
        raise ValueError(f"method must be plain, importance or auto, got {method!r}")
    if target_rel is not None and not (0.0 < target_rel < 1.0):
        raise ValueError(f"target_rel must be in (0, 1), got {target_rel!r}")
    method_note = None
    if method == "auto":
        from .importance import AUTO_MIN_FAILURES, expected_failures

        expect, how = expected_failures(journey, scenario, int(samples))
        method = "importance" if expect < AUTO_MIN_FAILURES else "plain"
        method_note = f"method auto: {method} ({expect:.3g} failures expected in {int(samples)} samples, {how} availability)"
    tails_asked = exceed is not None or bool(tail_quantiles)
    if tails_asked and method != "importance":
        raise ValueError("latency tails (exceed, tail_quantiles) need method='importance'")
    if method == "importance":
        from .importance import simulate_importance

        notes = scenario_notes(journey, correlation) + ([method_note] if method_note else [])
        if drawn:
            notes.append(f"seed drawn at random: {seed}")
        if tails_asked and not journey.latency_modelled:
            raise ValueError("latency tails need latency: the journey models no latency")
        res = simulate_importance(
            journey, scenario, samples=int(samples), seed=seed, seed_drawn=drawn, target_rel=target_rel,
            workers=workers or default_workers(), confidence=confidence, pessimistic_shared=shared, notes=notes,
        )  # fmt: skip
        if tails_asked:
            from .tails import simulate_tail

            res.tail = simulate_tail(
                journey, scenario, samples=int(samples), seed=seed, exceed=exceed, quantiles=tuple(tail_quantiles),
                workers=workers or default_workers(), confidence=confidence,
            )  # fmt: skip
            res.warnings = [*res.warnings, *(f"tail: {w}" for w in res.tail.warnings)]
        return res
    exact_birnbaum = None
    stride = 0
    if details and birnbaum_stride is None:
        from ..analytic import birnbaum_importance

        exact_birnbaum = birnbaum_importance(journey, scenario)
        if exact_birnbaum is None:
            stride = default_birnbaum_stride(len(journey.components))
    elif details:
        stride = int(birnbaum_stride)
    compiled = compile_journey(journey, scenario, birnbaum_stride=stride, details=details)
    sizes = plan_blocks(int(samples), block_size)
    n_workers = min(workers or default_workers(), len(sizes))
    notes = scenario_notes(journey, correlation) + ([method_note] if method_note else [])
    if drawn:
        notes.append(f"seed drawn at random: {seed}")

    t0 = time.perf_counter()
    advance, stop = _progress(int(samples), progress and len(sizes) > 2)
    merged = BlockResult.empty(compiled)
    reached = False
    try:
        if backend == "cuda":
            from .cuda import describe, run_cuda

            merged, run = run_cuda(compiled, seed, int(samples), target_ci=target_ci, confidence=confidence, advance=advance)
            reached, block_size = run.reached, run.launch_samples
            notes.append(describe(run))
        else:
            merged, reached = _run_cpu(compiled, seed, sizes, n_workers, client, target_ci, confidence, advance, target_rel)
    finally:
        stop()
    if target_rel is not None:
        hw = wilson_half_width(merged.ok, merged.samples, confidence)
        fail = (merged.samples - merged.ok) / merged.samples if merged.samples else 0.0
        verb = "reached" if reached else "not reached within"
        notes.append(f"target relative half-width {target_rel:g} {verb} {merged.samples} samples (half-width {hw:.3g}, unavailability {fail:.3g})")
    if target_ci is not None:
        hw = wilson_half_width(merged.ok, merged.samples, confidence)
        if reached:
            notes.append(f"target half-width {target_ci:g} reached after {merged.samples} samples ({merged.n_blocks} blocks; half-width {hw:.3g})")
        else:
            notes.append(f"target half-width {target_ci:g} not reached within {merged.samples} samples (half-width {hw:.3g})")
    result = result_from_blocks(
        journey,
        compiled,
        merged,
        seed=seed,
        seed_drawn=drawn,
        requested_samples=int(samples),
        block_size=block_size,
        confidence=confidence,
        target_ci=target_ci,
        pessimistic_shared=shared,
        notes=notes,
        exact_birnbaum=exact_birnbaum,
    )
    result.backend = backend
    result.wall_seconds = time.perf_counter() - t0
    return result


def _run_cpu(
    compiled: CompiledJourney,
    seed: int,
    sizes: list[int],
    n_workers: int,
    client: Any,
    target_ci: float | None,
    confidence: float,
    advance: Callable[[int], None],
    target_rel: float | None = None,
) -> tuple[BlockResult, bool]:
    """The CPU backend: blocks on threads (or Dask tasks) merged in index order; ``(merged, reached)``."""
    merged = BlockResult.empty(compiled)
    client = client if client is not None else dask_backend.active_client()
    if client is None:
        blocks = iter_blocks(compiled, seed, sizes, n_workers)
    else:
        blocks = dask_backend.iter_blocks(client, compiled, seed, sizes, target_ci=target_ci, confidence=confidence)
    for res in blocks:
        merged = merged.merge(res)
        advance(res.samples)
        if (target_ci is not None and wilson_half_width(merged.ok, merged.samples, confidence) <= target_ci) or (
            target_rel is not None and _rel_reached(merged, target_rel, confidence)
        ):
            blocks.close()
            return merged, True
    return merged, False
