"""Blocks: fixed-size units of work with their own random stream, and their mergeable results.

A run of ``samples`` draws is cut into blocks of :data:`BLOCK_SIZE` (the last one shorter).
Block ``b`` of seed ``s`` draws from PCG64 seeded with ``SeedSequence(s, spawn_key=(b,))`` — exactly
``SeedSequence(s).spawn(n)[b]`` for any ``n > b`` — so a block's samples depend only on
``(seed, b)``, never on how many workers, threads or machines ran the blocks. A
:class:`BlockResult` holds integer counts only, so merging is exact and associative; the
engine still merges in block-index order so that early stopping (``target_ci``) is
deterministic.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..core.histogram import N_BUCKETS
from .compile import CompiledJourney

BLOCK_SIZE = 65536

def default_workers() -> int:
    """CPUs this process may run on (the default number of block workers)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def plan_blocks(samples: int, block_size: int = BLOCK_SIZE) -> list[int]:
    """Sizes of the blocks that make up ``samples`` draws: full blocks then the remainder.

    >>> plan_blocks(150_000, 65536)
    [65536, 65536, 18928]
    """
    if samples < 0 or block_size < 1:
        raise ValueError("samples must be >= 0 and block_size >= 1")
    full, rest = divmod(int(samples), int(block_size))
    return [int(block_size)] * full + ([rest] if rest else [])


def block_generator(seed: int, block_index: int, stream: int = 0) -> np.random.Generator:
    """The random stream of block ``block_index`` of ``seed``: PCG64 seeded from
    ``SeedSequence(seed, spawn_key=(block_index,))``; ``stream=1`` is the block's second stream
    (``spawn_key=(block_index, 1)``, used only by Monte Carlo Birnbaum passes)."""
    key = (int(block_index),) if stream == 0 else (int(block_index), int(stream))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))


@dataclass
class BlockResult:
    """Counts of one block (or of several merged blocks).

    Attributes
    ----------
    samples, ok, hedged, birnbaum_samples
        Number of journeys, successful journeys, journeys that issued a hedge, and journeys
        used for Birnbaum importance.
    hist_ok, hist_all
        Latency histograms (:mod:`emac_sim.core.histogram`) of successful / all journeys.
    joint
        ``(n_components + 1, N_BUCKETS)``: successful journeys by dominant component (row 0:
        none) and latency bucket; gives tail attribution at any threshold after merging.
    calls
        Calls per component.
    race_issued
        Journeys in which branch 1 of each race node was issued.
    birnbaum_up, birnbaum_down
        Successful journeys with the component forced up / forced down, per component, over the
        ``birnbaum_samples`` Monte Carlo Birnbaum requests.
    first_block, n_blocks
        The contiguous block range merged into this result.
    """

    samples: int
    ok: int
    hedged: int
    birnbaum_samples: int
    hist_ok: np.ndarray
    hist_all: np.ndarray
    joint: np.ndarray
    calls: np.ndarray
    race_issued: np.ndarray
    birnbaum_up: np.ndarray
    birnbaum_down: np.ndarray
    first_block: int = 0
    n_blocks: int = 1

    @classmethod
    def empty(cls, compiled: CompiledJourney, first_block: int = 0) -> BlockResult:
        c = compiled.n_components
        return cls(
            samples=0,
            ok=0,
            hedged=0,
            birnbaum_samples=0,
            hist_ok=np.zeros(N_BUCKETS, np.int64),
            hist_all=np.zeros(N_BUCKETS, np.int64),
            joint=np.zeros((c + 1, N_BUCKETS), np.int64),
            calls=np.zeros(c, np.int64),
            race_issued=np.zeros(compiled.n_races, np.int64),
            birnbaum_up=np.zeros(c, np.int64),
            birnbaum_down=np.zeros(c, np.int64),
            first_block=first_block,
            n_blocks=0,
        )

    def merge(self, other: BlockResult) -> BlockResult:
        """Exact sum of two results; ``other`` must cover the blocks right after ``self``."""
        if self.n_blocks and other.n_blocks and other.first_block != self.first_block + self.n_blocks:
            raise ValueError(f"blocks merged out of order: {self.first_block}+{self.n_blocks} then {other.first_block}")
        return BlockResult(
            samples=self.samples + other.samples,
            ok=self.ok + other.ok,
            hedged=self.hedged + other.hedged,
            birnbaum_samples=self.birnbaum_samples + other.birnbaum_samples,
            hist_ok=self.hist_ok + other.hist_ok,
            hist_all=self.hist_all + other.hist_all,
            joint=self.joint + other.joint,
            calls=self.calls + other.calls,
            race_issued=self.race_issued + other.race_issued,
            birnbaum_up=self.birnbaum_up + other.birnbaum_up,
            birnbaum_down=self.birnbaum_down + other.birnbaum_down,
            first_block=self.first_block if self.n_blocks else other.first_block,
            n_blocks=self.n_blocks + other.n_blocks,
        )

    @property
    def birnbaum_sum(self) -> np.ndarray:
        """Σ (ok forced up) − Σ (ok forced down) per component."""
        return self.birnbaum_up - self.birnbaum_down

    def equals(self, other: BlockResult) -> bool:
        """True when every count is identical."""
        return (
            (self.samples, self.ok, self.hedged, self.birnbaum_samples) == (other.samples, other.ok, other.hedged, other.birnbaum_samples)
            and all(
                np.array_equal(getattr(self, f), getattr(other, f))
                for f in ("hist_ok", "hist_all", "joint", "calls", "race_issued", "birnbaum_up", "birnbaum_down")
            )
        )


@dataclass
class SampleTrace:
    """Per-sample outputs of a block (tests, small runs): ok flags, seconds, dominant component."""

    ok: np.ndarray
    t: np.ndarray
    dominant: np.ndarray


def run_block(
    compiled: CompiledJourney,
    seed: int,
    block_index: int,
    size: int,
    *,
    trace: bool = False,
) -> BlockResult | tuple[BlockResult, SampleTrace]:
    """Evaluate one block of ``size`` samples with the stream of ``(seed, block_index)``.

    Parameters
    ----------
    compiled
        :func:`emac_sim.engine.compile.compile_journey` output.
    seed, block_index
        Select the block's random stream (:func:`block_generator`).
    size
        Samples in the block.
    trace
        Also return per-sample outcomes (memory grows with ``size``: tests and small runs only).

    Returns
    -------
    BlockResult, or (BlockResult, SampleTrace) with ``trace=True``.
    """
    src, mod = compiled.load(trace)
    res = BlockResult.empty(compiled, first_block=block_index)
    totals = np.zeros(4, np.int64)
    m = size if trace else 0
    out_ok = np.zeros(m, np.bool_)
    out_t = np.zeros(m)
    out_dom = np.zeros(m, np.int64)
    mod.sample_block(
        int(size),
        block_generator(seed, block_index),
        block_generator(seed, block_index, stream=1),
        src.fp,
        src.ip,
        src.tab,
        totals,
        res.hist_ok,
        res.hist_all,
        res.joint,
        res.calls,
        res.race_issued,
        res.birnbaum_up,
        res.birnbaum_down,
        int(compiled.birnbaum_stride),
        out_ok,
        out_t,
        out_dom,
    )
    res.samples = int(totals[0])
    res.ok = int(totals[1])
    res.hedged = int(totals[2])
    res.birnbaum_samples = int(totals[3])
    res.n_blocks = 1
    if trace:
        return res, SampleTrace(out_ok, out_t, out_dom)
    return res
