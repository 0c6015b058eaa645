"""The consistency check on hand-built bounds and estimates (read from DESIGN §9 JSON shapes)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from emac_sim.analytic import Bounds
from emac_sim.check import CHECK_CONFIDENCE, HISTOGRAM_REL_ERR, availability_reference, check_consistency
from emac_sim.engine import Estimate

PAPER_INDEPENDENT = 0.99747706
PAPER_PESSIMISTIC = 0.99251449


def _bounds(declared: float | None = PAPER_INDEPENDENT, latency: dict | None = None) -> Bounds:
    return Bounds.from_dict({
        "journey": "checkout",
        "availability": {
            "independent": PAPER_INDEPENDENT,
            "declared": declared,
            "pessimistic": PAPER_PESSIMISTIC,
            "shared": 0.994005,
            "sharedFateRange": [PAPER_PESSIMISTIC, 0.9975],
            "dependenceFree": [0.9925, 0.9995],
            "declaredMethod": "exact",
        },
        "latency": latency,
        "latencyModelled": latency is not None,
    })


def _sim(estimate: float, ci: tuple[float, float], correlation: str = "declared", latency: dict | None = None) -> Estimate:
    return Estimate.from_dict({
        "samples": 200_000,
        "seed": 1,
        "correlation": correlation,
        "confidence": CHECK_CONFIDENCE,
        "availability": {"estimate": estimate, "ci": list(ci), "failures": 0},
        "latency": latency,
    })


def test_interval_containing_the_exact_value_passes() -> None:
    v = check_consistency(_bounds(), _sim(0.99749, (0.99730, 0.99768)))
    assert v.consistent
    assert [i.status for i in v.items] == ["pass", "pass", "skip"]
    assert "latency not modelled" in v.items[2].message
    d = v.to_dict()
    assert d["status"] == "pass" and d["scenario"] == "declared" and d["samples"] == 200_000


def test_interval_missing_the_exact_value_fails_with_the_gap() -> None:
    v = check_consistency(_bounds(), _sim(0.9960, (0.99580, 0.99620)))
    assert not v.consistent
    (item,) = v.failures
    assert item.name == "availability"
    assert "misses exact declared availability" in item.message
    assert "0.99747706" in item.message
    # the gap is value − interval top
    assert f"{PAPER_INDEPENDENT - 0.99620:.3g}" in item.message
    text = v.explanation()
    assert text.startswith("check FAILED") and "budgets and artifacts are refused" in text


@pytest.mark.parametrize(
    ("scenario", "value"),
    [("independent", PAPER_INDEPENDENT), ("pessimistic", PAPER_PESSIMISTIC), ("shared", 0.994005)],
)
def test_each_exact_scenario_is_held_to_its_own_value(scenario: str, value: float) -> None:
    ok = check_consistency(_bounds(), _sim(value, (value - 1e-4, value + 1e-4), correlation=scenario))
    assert ok.consistent and ok.scenario == scenario
    # the same interval shifted just past the value fails
    bad = check_consistency(_bounds(), _sim(value + 2e-4, (value + 1e-5, value + 3e-4), correlation=scenario))
    assert [i.name for i in bad.failures] == ["availability"]


def test_declared_not_computable_uses_the_dependence_free_range() -> None:
    # a gaussian domain at 0 < rho < 1 can fall below both shared-fate extremes, so the only
    # valid reference for an uncomputable declared value is the dependence-free range
    b = _bounds(declared=None)
    (lo, hi), kind, _, what = availability_reference(b, "declared")
    assert kind == "range" and (lo, hi) == b.availability.dependence_free
    assert "not computable" in what
    inside = check_consistency(b, _sim(0.9950, (0.9948, 0.9952)))
    assert inside.consistent
    below = check_consistency(b, _sim(0.9900, (0.9898, 0.9902)))
    assert not below.consistent
    assert f"[{lo:.8f}, {hi:.8f}]" in below.failures[0].message


def test_dependence_free_range_is_checked_whatever_the_scenario() -> None:
    b = _bounds()
    b = dataclasses.replace(b, availability=dataclasses.replace(b.availability, shared=0.9997, shared_fate_range=(0.98, 0.9999)))
    v = check_consistency(b, _sim(0.9997, (0.9996, 0.9998), correlation="shared"))
    assert [i.name for i in v.failures] == ["availability.dependenceFree"]


def test_scenario_mismatch_is_a_failure() -> None:
    v = check_consistency(_bounds(), _sim(PAPER_INDEPENDENT, (0.9974, 0.9976), correlation="independent"), scenario="shared")
    assert not v.consistent
    assert v.failures[0].name == "scenario"
    assert "'independent'" in v.failures[0].message


def _lat_bounds(lo: float, hi: float, disc: float = 0.0) -> dict:
    q = {"independent": (lo + hi) / 2, "comonotone": hi, "lower": lo, "upper": hi}
    return {"p50": q, "p90": q, "p99": q, "p999": q, "discretisationError": disc, "dkwConfidence": None}


def _lat_sim(est: float, lo: float, hi: float) -> dict:
    q = {"estimate": est, "ci": [lo, hi]}
    return {"p50": q, "p90": q, "p99": q, "p999": q}


def test_latency_inside_the_band_passes_and_outside_fails() -> None:
    b = _bounds(latency=_lat_bounds(0.100, 0.200))
    assert check_consistency(b, _sim(0.9975, (0.9974, 0.9976), latency=_lat_sim(0.15, 0.14, 0.16))).consistent
    v = check_consistency(b, _sim(0.9975, (0.9974, 0.9976), latency=_lat_sim(0.30, 0.29, 0.31)))
    assert [i.name for i in v.failures] == ["latency.p50", "latency.p90", "latency.p99", "latency.p999"]
    assert "misses dependence-free band [100ms, 200ms]" in v.failures[0].message


def test_latency_tolerances_are_the_histogram_error_and_the_discretisation_error() -> None:
    # interval top sits 0.4 % below the band: inside the 0.5 % histogram error, passes
    lo_band = 0.100
    top = lo_band / (1 + 0.004)
    b = _bounds(latency=_lat_bounds(lo_band, 0.2))
    assert check_consistency(b, _sim(0.9975, (0.9974, 0.9976), latency=_lat_sim(top, top * 0.99, top))).consistent
    # 1 % below: fails without discretisation allowance ...
    top = lo_band * (1 - 0.01)
    assert top * (1 + HISTOGRAM_REL_ERR) < lo_band
    assert not check_consistency(b, _sim(0.9975, (0.9974, 0.9976), latency=_lat_sim(top, top * 0.99, top))).consistent
    # ... and passes once the analytic band reports a 1 ms discretisation error
    b2 = _bounds(latency=_lat_bounds(lo_band, 0.2, disc=1e-3))
    assert check_consistency(b2, _sim(0.9975, (0.9974, 0.9976), latency=_lat_sim(top, top * 0.99, top))).consistent


def test_latency_on_one_side_only_is_inconsistent() -> None:
    b = _bounds(latency=_lat_bounds(0.1, 0.2))
    v = check_consistency(b, _sim(0.9975, (0.9974, 0.9976), latency=None))
    assert not v.consistent
    assert "the analytic layer models latency but the simulation reports none" in v.failures[0].message


def test_infinite_upper_band_is_open() -> None:
    b = _bounds(latency=_lat_bounds(0.1, math.inf))
    v = check_consistency(b, _sim(0.9975, (0.9974, 0.9976), latency=_lat_sim(5.0, 4.0, 6.0)))
    assert v.consistent
    assert "inf]" in v.items[2].message


def test_unknown_scenario_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown scenario 'weird'"):
        availability_reference(_bounds(), "weird")


def test_independent_scenario_also_holds_latency_to_the_exact_quantile() -> None:
    lat = _lat_bounds(0.100, 0.300, disc=1e-3)  # independent value 0.2 s
    b = _bounds(latency=lat)
    ok = check_consistency(b, _sim(PAPER_INDEPENDENT, (0.9974, 0.9976), correlation="independent", latency=_lat_sim(0.2, 0.195, 0.205)))
    assert ok.consistent
    assert [i.name for i in ok.items if i.name.split(".")[1:2] == ["p99"]] == ["latency.p99", "latency.p99.independent"]
    # inside the dependence-free band but 10 % off the exact independent quantile: caught
    bad = check_consistency(b, _sim(PAPER_INDEPENDENT, (0.9974, 0.9976), correlation="independent", latency=_lat_sim(0.22, 0.218, 0.222)))
    assert [i.name for i in bad.failures] == [f"latency.{k}.independent" for k in ("p50", "p90", "p99", "p999")]
    assert "misses the exact independent quantile 200ms" in bad.failures[0].message
    # other scenarios are held to the band only
    other = check_consistency(b, _sim(PAPER_INDEPENDENT, (0.9974, 0.9976), latency=_lat_sim(0.22, 0.218, 0.222)))
    assert other.consistent
    assert not any(i.name.endswith(".independent") for i in other.items)
