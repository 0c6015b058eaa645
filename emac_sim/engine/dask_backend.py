"""Dask backend: engine blocks and sweep points as tasks on a ``distributed`` cluster (DESIGN §6).

The thread backend (:mod:`emac_sim.engine.simulate`) stays the embedded default; this module is
used when a :class:`distributed.Client` is given (``simulate(..., client=client)``), made
active with :func:`use_client`, or chosen on the command line with
``--scheduler dask-local`` / ``--scheduler tcp://HOST:PORT`` (:func:`scheduler_session`).
Dask is an optional extra (``pip install 'emac-sim[dask]'``); nothing here imports it until a
Dask scheduler is actually asked for.

Why the result is bit-identical to the thread backend
-----------------------------------------------------
A block's samples depend only on ``(seed, block index)`` (:func:`emac_sim.engine.blocks.block_state`)
and a :class:`~emac_sim.engine.blocks.BlockResult` holds integer counts, so a task that runs a
contiguous range of blocks and merges them returns exactly the counts the thread backend would
have merged for that range. The driver merges the task results in block order. Early stopping
(``target_ci``) is decided per block, as on threads: each task also returns the cumulative
``(samples, ok)`` after each of its blocks, and when the target is reached *inside* a task the
driver asks for that task's prefix (one more task) and stops exactly there.

Robustness
----------
Tasks are pure functions of ``(compiled journey, seed, block range)`` with deterministic keys.
When a worker dies, the scheduler re-runs the tasks it was running and recomputes any finished
result that lived only in its memory (the driver still holds those futures), so lost blocks are
recomputed and the merged counts do not change. A task that kills three workers in a row is
given up by Dask (``distributed.scheduler.allowed-failures``) and the error is raised.

Overhead
--------
Several blocks run in one task (about :data:`TASK_SAMPLES` samples, fewer when that would leave
workers idle), and a few tasks per worker thread are in flight (:func:`_ordered`), so memory on
the driver and the workers stays constant in the number of samples.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import math
import pickle
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np

from ..core.intervals import wilson_half_width
from ..errors import SpecError
from .blocks import BlockResult, default_workers, run_block
from .compile import CompiledJourney

#: The one-line hint printed when a Dask scheduler is asked for but Dask is not installed.
INSTALL_HINT = "pip install 'emac-sim[dask]'"
#: Samples a task aims to cover (several blocks per task bound the per-task overhead).
TASK_SAMPLES = 1 << 18
#: Tasks per worker thread aimed for at least (load balance), when there are enough blocks.
TASKS_PER_SLOT = 8
#: Unfinished tasks kept per worker thread (bounded memory, prompt stop with ``target_ci``).
WINDOW_PER_SLOT = 3
#: Seconds to wait for a ``tcp://`` scheduler (and for its first worker) before giving up.
CONNECT_TIMEOUT = 10.0

_ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
_ACTIVE: contextvars.ContextVar[Any] = contextvars.ContextVar("emac_dask_client", default=None)


# --------------------------------------------------------------------------- client selection


def require_distributed(option: str = "--scheduler", value: str = "dask") -> Any:
    """Import and return :mod:`distributed`, or raise a one-line :class:`SpecError` naming the extra.

    Raises
    ------
    SpecError
        ``<command line>: --scheduler: dask-local needs Dask, which is not installed: pip install 'emac-sim[dask]'``.
    """
    try:
        import distributed
    except ImportError:
        raise SpecError("<command line>", option, f"{value} needs Dask, which is not installed: {INSTALL_HINT}") from None
    return distributed


def parse_scheduler(text: str) -> str:
    """Validate a ``--scheduler`` value: ``threads``, ``dask-local`` or ``tcp://HOST:PORT``.

    Returns the value unchanged.

    Raises
    ------
    SpecError
        Any other value, or a port outside 1–65535.
    """
    value = str(text)
    if value in ("threads", "dask-local"):
        return value
    m = _ADDRESS.match(value)
    if m is None or not 1 <= int(m.group(3)) <= 65535:
        raise SpecError("<command line>", "--scheduler", f"must be threads, dask-local or tcp://HOST:PORT, got {text!r}")
    return value


def active_client() -> Any:
    """The client made active by :func:`use_client` / :func:`scheduler_session` (None: local threads)."""
    return _ACTIVE.get()


@contextlib.contextmanager
def use_client(client: Any) -> Iterator[Any]:
    """Within the block, :func:`emac_sim.engine.simulate` and sweeps run on ``client``.

    ``client=None`` forces the local thread backend (used inside tasks, so that a task never
    submits work to the cluster it runs on).

    Examples
    --------
    >>> from distributed import Client                       # doctest: +SKIP
    >>> with Client("tcp://scheduler:8786") as c, use_client(c):  # doctest: +SKIP
    ...     res = emac_sim.simulate(journey, samples=10**9, seed=1)
    """
    token = _ACTIVE.set(client)
    try:
        yield client
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def scheduler_session(scheduler: str, workers: int | None = None, *, connect_timeout: float = CONNECT_TIMEOUT) -> Iterator[Any]:
    """Run the enclosed work on the scheduler a ``--scheduler`` value names.

    Parameters
    ----------
    scheduler
        ``threads`` (yields None: the embedded thread backend, Dask not needed), ``dask-local``
        (a :class:`distributed.LocalCluster` of ``workers`` single-threaded worker processes on
        loopback, started here and shut down on exit) or ``tcp://HOST:PORT`` (an existing
        cluster's scheduler; it is left running).
    workers
        Worker processes of ``dask-local`` (default: the CPUs available); ignored otherwise.
    connect_timeout
        Seconds to wait for a ``tcp://`` scheduler and for its first worker.

    Yields
    ------
    distributed.Client or None
        Active (:func:`use_client`) for the duration of the block.

    Raises
    ------
    SpecError
        A bad value, Dask not installed, an unreachable scheduler or a cluster without workers
        (one line; the CLI exits with code 2).
    """
    value = parse_scheduler(scheduler)
    if value == "threads":
        with use_client(None):
            yield None
        return
    if workers is not None and workers < 1:
        raise SpecError("<command line>", "--workers", f"must be at least 1, got {workers}")
    distributed = require_distributed("--scheduler", value)
    with contextlib.ExitStack() as stack:
        if value == "dask-local":
            import logging

            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=workers or default_workers(),
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=":0",  # a free port: never collide with a cluster already on :8787
                    silence_logs=logging.ERROR,
                )
            )
            client = stack.enter_context(distributed.Client(cluster, set_as_default=False))
        else:
            try:
                client = distributed.Client(value, timeout=connect_timeout, set_as_default=False)
            except (OSError, TimeoutError) as err:
                raise SpecError("<command line>", "--scheduler", f"cannot reach the Dask scheduler at {value}: {err}") from None
            stack.enter_context(client)
            try:
                client.wait_for_workers(1, timeout=connect_timeout)
            except (OSError, TimeoutError):
                raise SpecError("<command line>", "--scheduler", f"the Dask cluster at {value} has no workers") from None
        with use_client(client):
            yield client


# --------------------------------------------------------------------------- ordered, windowed tasks


def worker_slots(client: Any) -> int:
    """Worker threads of the cluster (at least 1: work waits for workers that join later)."""
    return max(1, sum(int(n) for n in client.nthreads().values()))


def _ordered(client: Any, calls: Iterator[tuple[str, Callable, tuple]], window: int) -> Iterator[Any]:
    """Submit ``(key, fn, args)`` calls and yield their results in call order.

    ``window`` tasks are kept unfinished (a finished task is replaced at once, even while an
    earlier one is still running), and at most ``2·window`` results wait to be yielded, so
    memory is bounded whatever the number of calls. Closing the generator cancels the rest.
    """
    pending: deque = deque()
    changed = threading.Event()  # set by a done-callback whenever any task finishes
    index = 0
    exhausted = False
    try:
        while True:
            changed.clear()  # before reading states: a task finishing after this sets it again
            while not exhausted and len(pending) < 2 * window and sum(not f.done() for f in pending) < window:
                try:
                    key, fn, args = next(calls)
                except StopIteration:
                    exhausted = True
                    break
                # earlier calls first: they are the ones the driver waits for
                fut = client.submit(fn, *args, key=key, priority=-index, pure=False)
                fut.add_done_callback(lambda _: changed.set())
                pending.append(fut)
                index += 1
            if not pending:
                return
            head = pending[0]
            if not head.done():
                changed.wait()
                continue
            pending.popleft()
            try:
                yield head.result()
            finally:
                head.release()
    finally:
        if pending:
            client.cancel(list(pending))


# --------------------------------------------------------------------------- blocks


def _identity(x: Any) -> Any:
    return x


class _Sparse(NamedTuple):
    """A mostly-zero count array as its non-zero entries (histograms are mostly empty buckets)."""

    shape: tuple[int, ...]
    dtype: str
    index: np.ndarray
    values: np.ndarray


def pack_result(result: BlockResult) -> dict[str, Any]:
    """``result`` with its arrays stored sparsely: what a task sends back (kilobytes, not ~0.5 MB)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(result):
        v = getattr(result, f.name)
        if isinstance(v, np.ndarray):
            flat = v.ravel()
            nz = np.flatnonzero(flat)
            v = _Sparse(v.shape, v.dtype.str, nz, flat[nz])
        out[f.name] = v
    return out


def unpack_result(packed: dict[str, Any]) -> BlockResult:
    """Inverse of :func:`pack_result` (exact)."""
    kw: dict[str, Any] = {}
    for name, v in packed.items():
        if isinstance(v, _Sparse):
            a = np.zeros(math.prod(v.shape), np.dtype(v.dtype))
            a[v.index] = v.values
            v = a.reshape(v.shape)
        kw[name] = v
    return BlockResult(**kw)


def run_range(compiled: CompiledJourney, seed: int, first_block: int, sizes: tuple[int, ...]) -> tuple[dict[str, Any], np.ndarray]:
    """Run blocks ``first_block …`` of ``sizes`` in order and merge them (one task).

    Returns
    -------
    merged : dict
        :func:`pack_result` of the exact sum of the blocks' counts (``first_block``,
        ``n_blocks = len(sizes)``).
    prefix : numpy.ndarray
        ``int64[len(sizes), 2]``: the task's cumulative ``(samples, ok)`` after each block, for
        per-block early stopping on the driver.
    """
    merged = BlockResult.empty(compiled, first_block=first_block)
    prefix = np.zeros((len(sizes), 2), np.int64)
    for i, size in enumerate(sizes):
        merged = merged.merge(run_block(compiled, seed, first_block + i, int(size)))  # type: ignore[arg-type]
        prefix[i] = merged.samples, merged.ok
    return pack_result(merged), prefix


def compiled_token(compiled: CompiledJourney, seed: int, sizes: Iterable[int]) -> str:
    """Content hash of everything a block's result depends on (deterministic task keys).

    Two runs with the same compiled arrays, seed and block sizes get the same keys (and may
    share results); anything that changes a sample changes the key.
    """
    h = hashlib.sha256()
    k = compiled.kernel
    for part in (
        compiled.journey_name,
        compiled.scenario.name,
        compiled.component_ids,
        compiled.birnbaum_stride,
        k.key,
        int(seed),
        tuple(int(s) for s in sizes),
    ):
        h.update(repr(part).encode())
        h.update(b"\0")
    for name, a in (("fp", k.fp), ("ip", k.ip), ("tab", k.tab)):
        a = np.ascontiguousarray(a)
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:20]


def plan_tasks(n_blocks: int, block_size: int, slots: int, blocks_per_task: int | None = None) -> list[tuple[int, int]]:
    """Cut ``n_blocks`` blocks into contiguous ``(first, count)`` task ranges.

    By default a task covers about :data:`TASK_SAMPLES` samples, but no more than leaves
    :data:`TASKS_PER_SLOT` tasks per worker thread. The ranges never change the result.
    """
    if blocks_per_task is None:
        cap = max(1, TASK_SAMPLES // max(1, int(block_size)))
        blocks_per_task = max(1, min(cap, math.ceil(n_blocks / (TASKS_PER_SLOT * max(1, slots)))))
    if blocks_per_task < 1:
        raise ValueError(f"blocks_per_task must be >= 1, got {blocks_per_task}")
    return [(first, min(blocks_per_task, n_blocks - first)) for first in range(0, n_blocks, blocks_per_task)]


def iter_blocks(
    client: Any,
    compiled: CompiledJourney,
    seed: int,
    sizes: list[int],
    *,
    target_ci: float | None = None,
    confidence: float = 0.95,
    blocks_per_task: int | None = None,
    window: int | None = None,
) -> Iterator[BlockResult]:
    """Block results in block order, computed as tasks on a Dask cluster.

    Each yielded :class:`BlockResult` covers one task's contiguous blocks (``n_blocks ≥ 1``);
    merging them in order gives the thread backend's counts exactly.

    Parameters
    ----------
    client
        A connected :class:`distributed.Client` whose workers can import ``emac_sim``.
    compiled, seed, sizes
        As for :func:`emac_sim.engine.simulate.iter_blocks`.
    target_ci, confidence
        With a target half-width, the last result yielded ends at the first block (in block
        order) after which the cumulative availability interval's half-width is at most
        ``target_ci``, and nothing is yielded after it — the block at which the thread backend
        stops.
    blocks_per_task, window
        Blocks per task (default: :func:`plan_tasks`) and tasks in flight (default
        :data:`WINDOW_PER_SLOT` per worker thread). Neither changes the result.
    """
    if not sizes:
        return
    slots = worker_slots(client)
    ranges = plan_tasks(len(sizes), max(sizes), slots, blocks_per_task)
    token = compiled_token(compiled, seed, sizes)
    # the compiled journey travels once per worker as a dependency, not inside every task; as a
    # task (not scattered data) it is recomputed if the workers holding it die
    compiled_f = client.submit(_identity, compiled, key=f"emac-compiled-{token}", pure=False)

    def calls() -> Iterator[tuple[str, Callable, tuple]]:
        for first, count in ranges:
            yield f"emac-blocks-{token}-{first}-{count}", run_range, (compiled_f, int(seed), first, tuple(sizes[first : first + count]))

    results = _ordered(client, calls(), window or max(2, WINDOW_PER_SLOT * slots))
    samples = ok = 0
    try:
        for (first, count), (packed, prefix) in zip(ranges, results):
            merged = unpack_result(packed)
            if target_ci is not None:
                stop = _first_reaching(prefix, samples, ok, target_ci, confidence)
                if stop is not None and stop < count - 1:
                    key = f"emac-blocks-{token}-{first}-{stop + 1}"
                    head = client.submit(run_range, compiled_f, int(seed), first, tuple(sizes[first : first + stop + 1]), key=key, pure=False)
                    try:
                        merged = unpack_result(head.result()[0])
                    finally:
                        head.release()
                yield merged
                if stop is not None:
                    return
            else:
                yield merged
            samples += merged.samples
            ok += merged.ok
    finally:
        results.close()
        compiled_f.release()


def _first_reaching(prefix: np.ndarray, samples: int, ok: int, target_ci: float, confidence: float) -> int | None:
    """Index of the first block of a task after which the cumulative half-width is ≤ target."""
    for i in range(prefix.shape[0]):
        if wilson_half_width(ok + int(prefix[i, 1]), samples + int(prefix[i, 0]), confidence) <= target_ci:
            return i
    return None


# --------------------------------------------------------------------------- sweep points


def _call_local(fn: Callable, item: Any, kwargs: dict) -> Any:
    with use_client(None):  # a point runs on the worker's own threads, never back on the cluster
        return fn(item, **kwargs)


def map_points(fn: Callable, items: Iterable[Any], /, *, client: Any = None, **kwargs: Any) -> Iterator[Any]:
    """``fn(item, **kwargs)`` for each sweep point, in order: on the cluster when a client is active.

    Without a client (none given, none active) the calls run lazily in this process, one at a
    time, exactly as a plain loop would. With one, each point is a task (``fn`` must be an
    importable module-level function, items and results picklable) and results are yielded in
    point order. Every point's result is a function of its inputs alone, so the sweep is
    identical either way.
    """
    client = client if client is not None else active_client()
    items = list(items)
    if client is None:
        for item in items:
            yield fn(item, **kwargs)
        return
    name = f"{fn.__module__}.{fn.__qualname__}"
    h = hashlib.sha256(name.encode())
    h.update(pickle.dumps(kwargs, protocol=5))
    base = h.hexdigest()[:12]

    def calls() -> Iterator[tuple[str, Callable, tuple]]:
        for i, item in enumerate(items):
            key = f"emac-point-{base}-{hashlib.sha256(pickle.dumps(item, protocol=5)).hexdigest()[:12]}-{i}"
            yield key, _call_local, (fn, item, kwargs)

    yield from _ordered(client, calls(), max(2, WINDOW_PER_SLOT * worker_slots(client)))
