"""The seed policy, in one place (DESIGN §6 "Randomness").

Every public entry point takes ``seed: int | None``: a non-negative integer is used as given;
``None`` draws a fresh seed from the operating system's entropy, which the result records (and
says it drew). The command line never leaves the seed to chance: its default is
:data:`DEFAULT_SEED` in every command, so the same inputs give the same numbers and bytes.
Drawn seeds stay below :data:`MAX_SEED` = 2⁵³, exact in any JSON reader.
"""

from __future__ import annotations

import secrets

#: The command line's seed when ``--seed`` is not given (and the fixed default of the
#: reproducible pipelines: check, compile, validate).
DEFAULT_SEED = 0
#: Drawn seeds lie in [0, MAX_SEED): exact as JSON numbers.
MAX_SEED = 2**53


def draw_seed() -> int:
    """A fresh random seed in [0, 2⁵³) from the operating system's entropy."""
    return secrets.randbelow(MAX_SEED)


def resolve_seed(seed: int | None) -> tuple[int, bool]:
    """``(seed to use, drawn?)``: ``seed`` itself, or a drawn one when it is ``None``.

    Raises
    ------
    ValueError
        A seed that is not a non-negative whole number.
    """
    if seed is None:
        return draw_seed(), True
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed), False


#: Random streams derived from one seed (``SeedSequence(seed, spawn_key=(block, stream, …))``):
#: stream 0 is a block's main stream (``spawn_key=(block,)``), 1 its Monte Carlo Birnbaum
#: passes, 2 the importance-sampling pilot (cross-entropy tuning), which must be independent of
#: the main run so that the tuned biasing and the estimate it weights share no draws; 3 the
#: tilted-latency runs (``emac_sim.engine.tails``: ``(block, 3)`` estimation, ``(i, 3, 1)`` pilots).
STREAM_MAIN = 0
STREAM_BIRNBAUM = 1
STREAM_PILOT = 2
STREAM_TILT = 3


def stream_key(block_index: int, stream: int = STREAM_MAIN, *sub: int) -> tuple[int, ...]:
    """``spawn_key`` of block ``block_index`` in ``stream`` (``sub``: further indices, such as a
    pilot iteration); the main stream's key is ``(block_index,)`` =
    ``SeedSequence(seed).spawn(n)[block_index]``."""
    if stream == STREAM_MAIN and not sub:
        return (int(block_index),)
    return (int(block_index), int(stream), *(int(s) for s in sub))
