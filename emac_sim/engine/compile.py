"""Compile a journey under a scenario into a runnable kernel (DESIGN §6, issue 15).

:func:`compile_journey` resolves the scenario through :mod:`emac_sim.model.scenario` (fate
groups, factor models, shocks — the same functions the analytic layer uses) and generates the
journey's kernel with :mod:`emac_sim.engine.codegen`: straight-line numba source specialised to
the journey's structure, its parameters in arrays. The result is picklable (the kernel travels
as source text and loads from the local kernel cache wherever it runs) and carries the names
needed to read results back (component ids, operator paths of race nodes).

Samplers: NumPy's ziggurat normal and exponential draws (lognormal, exponential, Weibull,
Pareto), NumPy's gamma algorithm, exact piecewise inverses for ``empirical`` and ``histogram``,
exact component selection for mixtures; only latency drawn from a correlated latent uses
inverse CDFs (a quantile table on a logit grid for gamma and mixtures: at most 2e-6 relative
error for gamma with shape ≥ 0.3, about 1e-3 where a mixture's quantile function bends sharply,
all far inside the 0.39 % resolution of the result histograms).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType

from ..model.journey import Journey
from ..model.scenario import Scenario, fate_groups, shocks
from .codegen import KernelOptions, KernelSource, generate
from .kernelstore import load_module

DEFAULT_BIRNBAUM_STRIDE = 64


def default_birnbaum_stride(n_components: int) -> int:
    """Monte Carlo Birnbaum sub-sampling stride: 64, times ceil(n/8) for more than 8 components.

    Each Birnbaum sample runs the journey twice per component (forced up, forced down), so a
    fixed stride would make the extra work grow with the square of the journey's size; scaling
    the stride with the component count keeps it a bounded fraction (about 1/4) of the main work.
    """
    return DEFAULT_BIRNBAUM_STRIDE * max(1, -(-int(n_components) // 8))


@dataclass(eq=False)
class CompiledJourney:
    """A journey under one scenario, generated as a kernel (see :mod:`emac_sim.engine.codegen`).

    ``component_ids`` orders every per-component array; ``race_paths`` names the race slots;
    ``details`` says whether the kernel records calls, hedges and the dominant component;
    ``birnbaum_stride`` > 0 runs Monte Carlo Birnbaum passes on every stride-th request.
    """

    journey: Journey = field(repr=False)
    scenario: Scenario
    component_ids: tuple[str, ...]
    node_paths: tuple[str, ...]
    race_paths: tuple[str, ...]
    race_delays: tuple[float, ...]
    fate_groups: tuple[tuple[str, ...], ...]
    shock_names: tuple[str, ...]
    latency_on: bool
    birnbaum_stride: int
    details: bool
    kernel: KernelSource = field(repr=False)
    _variants: dict[KernelOptions, KernelSource] = field(default_factory=dict, repr=False)

    @property
    def journey_name(self) -> str:
        return self.journey.name

    @property
    def n_components(self) -> int:
        return len(self.component_ids)

    @property
    def n_races(self) -> int:
        return len(self.race_paths)

    def variant(self, trace: bool = False) -> KernelSource:
        """The kernel source, or its per-sample tracing variant (tests, small runs)."""
        if not trace:
            return self.kernel
        opts = KernelOptions(details=True, trace=True, birnbaum=self.kernel.options.birnbaum)
        if opts not in self._variants:
            self._variants[opts] = generate(self.journey, self.scenario, opts)
        return self._variants[opts]

    def load(self, trace: bool = False) -> tuple[KernelSource, ModuleType]:
        """The kernel source and its loaded module."""
        src = self.variant(trace)
        return src, load_module(src.source)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_variants"] = {}
        return state


def compile_journey(journey: Journey, scenario: Scenario, *, birnbaum_stride: int | None = None, details: bool = True) -> CompiledJourney:
    """Generate the kernel of ``journey`` under ``scenario``.

    Parameters
    ----------
    journey
        The validated journey IR.
    scenario
        What each failure domain does (``emac_sim.model.scenario.named_scenario``).
    birnbaum_stride
        Every ``birnbaum_stride``-th request of a block also runs the Monte Carlo Birnbaum passes
        (0 or ``None``: off; ``simulate`` asks for them only when the analytic layer cannot give
        Birnbaum importance exactly).
    details
        Record calls per component, hedges per race node and the dominant component of every
        successful journey (tail attribution). Sweeps and validation leave it off.

    Returns
    -------
    CompiledJourney
    """
    stride = int(birnbaum_stride or 0)
    opts = KernelOptions(details=bool(details), birnbaum=stride > 0)
    return compiled_from(journey, scenario, generate(journey, scenario, opts), birnbaum_stride=stride, latency_on=journey.latency_modelled)


def compiled_from(journey: Journey, scenario: Scenario, src: KernelSource, *, birnbaum_stride: int, latency_on: bool) -> CompiledJourney:
    """A :class:`CompiledJourney` around a generated kernel ``src`` (any variant)."""
    sh = shocks(journey, scenario)
    return CompiledJourney(
        journey=journey,
        scenario=scenario,
        component_ids=tuple(journey.component_ids),
        node_paths=src.node_paths,
        race_paths=src.race_paths,
        race_delays=src.race_delays,
        fate_groups=fate_groups(journey, scenario),
        shock_names=tuple(sh.names),
        latency_on=latency_on,
        birnbaum_stride=birnbaum_stride,
        details=src.options.details,
        kernel=src,
    )
