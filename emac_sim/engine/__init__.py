"""The Monte Carlo engine (DESIGN §6): compile → blocks → merged results with intervals.

Public entry points: :func:`simulate`; for distributed backends the block API
:func:`plan_blocks`, :func:`compile_journey`, :func:`run_block`, :meth:`BlockResult.merge` and
:func:`result_from_blocks`.

Design decisions (each module's docstring has the details):

* **Compilation** (``compile``): a journey under a scenario becomes a kernel and its parameter
  arrays; the scenario is resolved with ``emac_sim.model.scenario`` (fate groups, gaussian factor
  loadings for failure and latency, shocks with calibrated a′ᵢ), exactly as the analytic layer
  does. Latency samplers: closed forms, exact piecewise inverses, logit-grid quantile tables.
* **Kernel** (``codegen``, ``kernelstore``): the operator tree is unrolled into numba source per
  journey *structure*, each operator module emitting its own piece; parameters travel as arrays,
  so a what-if sweep reuses one compiled kernel, cached on disk keyed by the source's hash.
  Bookkeeping (calls, hedges, dominant component, Birnbaum passes) is generated only when asked.
  The order of draws is a documented contract (``codegen``), reproduced by ``emac_sim.reference``.
* **Randomness**: block ``b`` of seed ``s`` draws from PCG64 seeded with
  ``SeedSequence(s, spawn_key=(b,))`` (= ``SeedSequence(s).spawn(n)[b]``), through NumPy's
  ziggurat normal/exponential inside ``@njit``; blocks have a fixed size (:data:`BLOCK_SIZE`), so
  results are bit-identical for any number of threads or machines. An omitted seed is drawn
  (< 2⁵³, exact in JSON), recorded and reported.
* **Results** (``blocks``, ``result``): integer counts and log-bucketed histograms (≤ 0.39 %
  relative bucket error) merged exactly in block order; memory does not grow with samples.
  Wilson intervals for availability, order-statistic intervals for quantiles; tail
  amplification against the components' exact p99; tail attribution by the dominant call on the
  critical path; Birnbaum importance exact from the analytic layer where it is computable, else
  by common random numbers on every stride-th sample; hedge rate; calls per journey.
* **Early stopping** (``simulate``): ``target_ci`` is checked after each block in index order,
  so the stopping point does not depend on scheduling.
"""

from ..core.intervals import EstimatedQuantile, histogram_quantile, order_statistic_ranks, wilson_interval
from ..core.seeds import draw_seed
from .blocks import BLOCK_SIZE, BlockResult, SampleTrace, block_generator, plan_blocks, run_block
from .compile import CompiledJourney, compile_journey
from .result import Estimate, SimulationResult, result_from_blocks
from .simulate import simulate

__all__ = [
    "BLOCK_SIZE",
    "BlockResult",
    "CompiledJourney",
    "Estimate",
    "EstimatedQuantile",
    "SampleTrace",
    "SimulationResult",
    "block_generator",
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
