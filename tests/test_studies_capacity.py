"""Capacity: queueing latency at load.rate with retry/hedge amplification fed back (issue 7)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize

from emac_sim import load_spec
from emac_sim.analytic import bounds, call_amplification
from emac_sim.engine import simulate
from emac_sim.errors import SpecError
from emac_sim.spec import load_spec_text
from emac_sim.studies.capacity import derive_capacity, saturation_rate
from emac_sim.studies.queueing import TABLE_PROBABILITIES, mm_c_response_sf
from emac_sim.studies.whatif import evaluate, row

ROOT = Path(__file__).resolve().parents[1]
CAPACITY = ROOT / "configs" / "capacity.yaml"

PLAIN = """
apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {name: plain}
spec:
  load: {rate: 50}
  operator:
    type: series
    steps: [{ref: a}, {type: repeat, count: 3, step: {ref: b}}]
  components:
    a: {availability: 0.999, capacity: {replicas: 2, serviceTime: {dist: exponential, mean: 10ms}}}
    b: {availability: 0.999, capacity: {replicas: 4, serviceTime: {dist: constant, value: 20ms}}}
"""


@pytest.fixture(scope="module")
def search():
    j = load_spec(CAPACITY)
    return j, derive_capacity(j)


def test_fixed_point_is_consistent(search) -> None:
    j, cap = search
    assert cap.converged and not cap.saturated
    assert cap.iterations >= 2
    # the per-try timeout (index) and the hedge (profile) make more than one call per journey
    assert cap.amplification["index"] > 1.0 and cap.amplification["profile"] > 1.0
    # ranking is called once, by the journeys that got past gateway and index
    assert 0.998 < cap.amplification["ranking"] < 1.0
    # fixed point: the amplification of the derived journey gives back the rates it was built from
    amp = call_amplification(cap.journey)
    for cid, q in cap.queues.items():
        assert q.arrival_rate == pytest.approx(100.0 * amp[cid], rel=1e-5)
        mean_service = q.mean_service
        assert q.utilisation == pytest.approx(q.arrival_rate * mean_service / q.servers, rel=1e-12)


def test_mmc_component_latency_is_exact(search) -> None:
    """ranking has exponential service: its derived latency is the exact M/M/4 response time."""
    _, cap = search
    q = cap.queues["ranking"]
    assert q.model.startswith("M/M/c")
    dist = cap.journey.component("ranking").latency
    probs = TABLE_PROBABILITIES[1:]
    exact = np.array([optimize.brentq(lambda x, p=p: mm_c_response_sf(x, q.arrival_rate, 4, 0.025) - (1 - p), 0, 100) for p in probs])
    assert np.all(np.abs(dist.ppf(probs) - exact) <= cap.grid_step + 1e-12)
    # queueing only adds: every quantile is at least the bare service time's
    assert np.all(dist.ppf(probs) >= -0.025 * np.log1p(-probs) - cap.grid_step)


def test_no_feedback_converges_at_once() -> None:
    j = load_spec_text(PLAIN, source="plain.yaml")
    cap = derive_capacity(j)
    # no timeouts or hedges: amplification does not depend on latency. b runs when a succeeded and
    # repeat stops at its first failure: 0.999 · (1 + 0.999 + 0.999²) calls per journey
    amp_b = 0.999 * (1 + 0.999 + 0.999**2)
    assert cap.iterations == 2 and cap.converged
    assert cap.amplification["b"] == pytest.approx(amp_b, rel=1e-12)
    assert cap.queues["b"].arrival_rate == pytest.approx(50 * amp_b, rel=1e-12)
    assert cap.queues["b"].model.startswith("M/G/c")
    # no feedback means saturation happens where the bare amplification says
    assert saturation_rate(j) == pytest.approx(min(2 / (0.01 * 1.0), 4 / (0.02 * amp_b)), rel=1e-12)


def test_saturation_is_flagged_not_invented() -> None:
    j = load_spec_text(PLAIN.replace("rate: 50", "rate: 80"), source="plain.yaml")
    cap = derive_capacity(j)
    assert cap.saturated == ("b",) and not cap.converged
    assert cap.queues["b"].utilisation >= 1.0
    assert cap.journey.component("b").availability == 0.0
    assert any("saturated" in n for n in cap.notes)
    ev = evaluate(j, samples=500, seed=1)
    r = row(ev)
    assert r["saturated"] and r["saturated_components"] == "b"
    assert r["availability_independent"] == 0.0 and r["mc_availability"] == 0.0
    assert math.isinf(r["p99_independent"]) and math.isinf(r["mc_p99"])


def test_capacity_needs_a_rate() -> None:
    j = load_spec_text(PLAIN.replace("  load: {rate: 50}\n", ""), source="plain.yaml")
    with pytest.raises(SpecError) as exc:
        derive_capacity(j)
    assert str(exc.value) == "plain.yaml: spec.load: components a, b declare capacity, so the journey needs load: {rate: <requests/s>}"


def test_infinite_variance_service_is_refused() -> None:
    text = PLAIN.replace("{dist: constant, value: 20ms}", "{dist: pareto, scale: 5ms, alpha: 1.5}")
    with pytest.raises(SpecError) as exc:
        derive_capacity(load_spec_text(text, source="plain.yaml"))
    assert "spec.components.b.capacity.serviceTime: service time has infinite variance" in str(exc.value)


def test_monte_carlo_agrees_with_the_derived_latency(search) -> None:
    """Analytic p99 of the derived journey lies in the Monte Carlo 99.9 % order-statistic interval
    (widened by the analytic discretisation error)."""
    _, cap = search
    b = bounds(cap.journey)
    res = simulate(cap.journey, samples=20_000, seed=9, correlation="independent", confidence=0.999).estimate
    err = b.latency.discretisation_error
    for key in ("p50", "p99"):
        lo, hi = res.quantile(key).ci
        assert lo - err <= b.quantile(key).independent <= hi + err, key
