"""Which latency number the governance gate reads (useBoundsForAutomation.latency)."""

from __future__ import annotations

import dataclasses

from emac_sim.analytic import Bounds
from emac_sim.engine import Estimate, EstimatedQuantile
from emac_sim.govern import decide
from emac_sim.govern.decision import with_simulated_latency
from emac_sim.spec import load_spec

CONFIG = "configs/checkout.yaml"

# dependence-free p99 upper bound above the 0.4 s threshold, Monte Carlo interval below it
BOUNDS = Bounds.from_dict(
    {
        "availability": {"independent": 0.999, "pessimistic": 0.998, "declared": 0.999},
        "latency": {"p99": {"independent": 0.37, "comonotone": 0.45, "lower": 0.2, "upper": 0.67}},
    }
)
SIMULATION = Estimate(
    journey="checkout",
    expression="",
    samples=100_000,
    seed=0,
    correlation="declared",
    availability=0.999,
    availability_ci=(0.9988, 0.9992),
    confidence=0.999,
    latency={"p99": EstimatedQuantile(0.371, (0.368, 0.375))},
)


def _journey(policy: str):
    j = load_spec(CONFIG)
    return dataclasses.replace(j, governance=dataclasses.replace(j.governance, latency_bound=policy))


def test_upper_confidence_gates_on_the_monte_carlo_interval() -> None:
    j = _journey("upperConfidence")
    d = decide(j, with_simulated_latency(BOUNDS, SIMULATION))
    assert d.latency_upper == 0.375
    assert d.verdict == "PASS"


def test_upper_confidence_without_simulation_falls_back_to_the_dependence_free_bound() -> None:
    d = decide(_journey("upperConfidence"), BOUNDS)
    assert d.latency_upper == 0.67
    assert d.verdict == "FAIL"


def test_dependence_free_policy_gates_on_the_makarov_bound_even_with_a_simulation() -> None:
    d = decide(_journey("dependenceFree"), with_simulated_latency(BOUNDS, SIMULATION))
    assert d.latency_upper == 0.67
    assert d.verdict == "FAIL"
    assert any("exceeds the threshold" in r for r in d.reasons)
