"""The Monte Carlo engine (DESIGN §6): compile → blocks → merged results with intervals.

Public entry points: :func:`simulate`; for distributed backends the block API
:func:`plan_blocks`, :func:`compile_journey`, :func:`run_block`, :meth:`BlockResult.merge` and
:func:`result_from_blocks`.
"""

from .blocks import BLOCK_SIZE, BlockResult, SampleTrace, block_state, plan_blocks, run_block
from .compile import CompiledJourney, compile_journey
from .intervals import histogram_quantile, order_statistic_ranks, wilson_interval
from .result import SimulationResult, result_from_blocks
from .simulate import draw_seed, simulate

__all__ = [
    "BLOCK_SIZE",
    "BlockResult",
    "CompiledJourney",
    "SampleTrace",
    "SimulationResult",
    "block_state",
    "compile_journey",
    "draw_seed",
    "histogram_quantile",
    "order_statistic_ranks",
    "plan_blocks",
    "result_from_blocks",
    "run_block",
    "simulate",
    "wilson_interval",
]
