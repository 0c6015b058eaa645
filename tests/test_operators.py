"""Every registered operator: its rules exist, and its routes agree (issue 14).

The registry (``emac_sim.operators.REGISTRY``) is enumerated: an operator that lacks a rule of its
own fails here. For each operator, journeys built from it alone (``tests/strategies``, which must
know how to draw it) are held to:

- Monte Carlo against the exact independent availability (two routes to one number; a 5σ band of
  the binomial estimate, α ≈ 6e-7 per check);
- the generated kernel against the reference simulator, draw for draw;
- the dependence-free availability bounds containing the exact value, and a spec round trip.
"""

from __future__ import annotations

import math

import hypothesis
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from strategies import journeys

from emac_sim.analytic import scenario_availability
from emac_sim.analytic.dependence_free import availability_bounds
from emac_sim.engine import compile_journey, run_block, simulate
from emac_sim.model.scenario import Scenario
from emac_sim.operators import REGISTRY, RULES, Operator
from emac_sim.reference import simulate_block
from emac_sim.spec import dump_spec, load_spec
from emac_sim.spec.loader import load_spec_text

OPS = sorted(REGISTRY)
SAMPLES = 40_000


@pytest.mark.parametrize("op", OPS)
def test_every_operator_defines_every_rule(op: str) -> None:
    cls = REGISTRY[op]
    assert issubclass(cls, Operator) and cls.op == op
    missing = [rule for rule in RULES if getattr(cls, rule) is getattr(Operator, rule)]
    assert not missing, f"{cls.__name__} lacks {missing}"
    assert cls.keys, f"{cls.__name__} declares no spec keys"


def _journeys(op: str):
    return journeys(max_components=3, max_depth=2, max_branches=3, operators=(op,), latency="maybe", domains=False, correlation_matrix=False)


@pytest.mark.parametrize("op", OPS)
def test_monte_carlo_matches_the_exact_availability(op: str) -> None:
    @settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
    @given(_journeys(op))
    def check(j) -> None:
        hypothesis.assume(any(not n.is_leaf for n in j.root.walk()))
        exact = scenario_availability(j, Scenario.independent())
        res = simulate(j, samples=SAMPLES, seed=11, correlation="independent", details=False, workers=1)
        sd = math.sqrt(max(exact * (1 - exact), 1.0 / SAMPLES) / SAMPLES)
        assert abs(res.availability - exact) <= 5 * sd, (str(j.root), res.availability, exact)
        lo, hi = availability_bounds(j.root, j.availabilities) if not _timed(j) else (0.0, 1.0)
        assert lo - 1e-12 <= exact <= hi + 1e-12, (str(j.root), lo, exact, hi)

    check()


@pytest.mark.parametrize("op", OPS)
def test_kernel_matches_the_reference_draw_for_draw(op: str) -> None:
    @settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
    @given(_journeys(op))
    def check(j) -> None:
        scenario = Scenario.independent()
        kernel, trace = run_block(compile_journey(j, scenario, birnbaum_stride=5), 7, 0, 60, trace=True)
        ref, records = simulate_block(j, scenario, 7, 0, 60, birnbaum_stride=5)
        assert np.array_equal(trace.ok, [r.ok for r in records])
        assert np.array_equal(trace.t, np.array([r.t for r in records]))
        for field in ("hist_ok", "hist_all", "joint", "calls", "race_issued", "birnbaum_up", "birnbaum_down"):
            assert np.array_equal(getattr(kernel, field), getattr(ref, field)), field

    check()


@pytest.mark.parametrize("op", OPS)
def test_spec_round_trip(op: str, tmp_path) -> None:
    @settings(max_examples=10, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)
    @given(_journeys(op))
    def check(j) -> None:
        again = load_spec_text(dump_spec(j), source="<dump>")
        assert again.root == j.root

    check()


def _timed(j) -> bool:
    """Timeouts make the availability depend on latency, which the t = 0 bounds ignore."""
    return j.latency_modelled and any(not n.is_leaf and n.timed_step() is not None for n in j.root.walk())


def test_load_spec_is_the_public_loader(tmp_path) -> None:
    # the round trip above goes through text; a file works the same
    path = tmp_path / "j.yaml"
    path.write_text(
        "apiVersion: emac.dev/v1alpha1\nkind: JourneyIntent\nmetadata: {name: j}\n"
        "spec:\n  operator: {type: cache, ref: c, hitRatio: 0.5, step: {ref: d}}\n"
        "  components: {c: {availability: 0.9}, d: {availability: 0.8}}\n"
    )
    assert str(load_spec(path).root) == "Cache(c, 0.5, d)"
