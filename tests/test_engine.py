"""Engine mechanics: blocks and seeds, worker independence, merging, early stopping, results."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from emac_sim import load_spec
from emac_sim.core.histogram import N_BUCKETS, bucket_index
from emac_sim.engine import (
    BlockResult,
    block_generator,
    compile_journey,
    histogram_quantile,
    order_statistic_ranks,
    plan_blocks,
    result_from_blocks,
    run_block,
    simulate,
    wilson_interval,
)
from emac_sim.model.scenario import named_scenario

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def checkout():
    return load_spec(CONFIGS / "checkout.yaml")


# ----------------------------------------------------------------------------- blocks and seeds


def test_plan_blocks():
    assert plan_blocks(150_000, 65536) == [65536, 65536, 18928]
    assert plan_blocks(65536, 65536) == [65536]
    assert plan_blocks(10, 4) == [4, 4, 2]
    assert plan_blocks(0, 4) == []
    with pytest.raises(ValueError):
        plan_blocks(10, 0)


def _first(g: np.random.Generator) -> np.ndarray:
    return g.random(4)


def test_block_streams_are_seedsequence_spawns():
    for n in (3, 10):
        kids = np.random.SeedSequence(42).spawn(n)
        for b in range(n):
            assert np.array_equal(_first(block_generator(42, b)), _first(np.random.Generator(np.random.PCG64(kids[b]))))
            # the block's second stream (Monte Carlo Birnbaum passes) is the block's child 1
            second = np.random.Generator(np.random.PCG64(kids[b].spawn(2)[1]))
            assert np.array_equal(_first(block_generator(42, b, stream=1)), _first(second))
    assert not np.array_equal(_first(block_generator(42, 0)), _first(block_generator(42, 1)))
    assert not np.array_equal(_first(block_generator(42, 0)), _first(block_generator(43, 0)))


def test_same_seed_same_bytes_whatever_the_workers(checkout):
    dicts = [
        json.dumps(simulate(checkout, samples=20_000, seed=5, workers=w, block_size=4096, birnbaum_stride=16).to_dict(), sort_keys=True)
        for w in (1, 2, 8)
    ]
    assert dicts[0] == dicts[1] == dicts[2]
    other = simulate(checkout, samples=20_000, seed=6, workers=2, block_size=4096, birnbaum_stride=16).to_dict()
    assert json.dumps(other, sort_keys=True) != dicts[0]


def test_merge_is_exact_and_checks_block_order(checkout):
    compiled = compile_journey(checkout, named_scenario(checkout, "declared"))
    parts = [run_block(compiled, 11, b, 3000) for b in range(3)]
    left = parts[0].merge(parts[1]).merge(parts[2])
    right = parts[0].merge(parts[1].merge(parts[2]))
    assert left.equals(right)
    assert left.samples == 9000 and left.n_blocks == 3 and left.first_block == 0
    assert int(left.hist_all.sum()) == 9000 and int(left.hist_ok.sum()) == left.ok == int(left.joint.sum())
    assert np.array_equal(left.calls, sum(p.calls for p in parts))
    with pytest.raises(ValueError, match="out of order"):
        parts[0].merge(parts[2])


def test_run_block_is_a_pure_function_of_seed_and_index(checkout):
    compiled = compile_journey(checkout, named_scenario(checkout, "independent"))
    a = run_block(compiled, 3, 7, 2000)
    b = run_block(compiled, 3, 7, 2000)
    c = run_block(compiled, 3, 8, 2000)
    assert a.equals(b) and not a.equals(c)


def test_block_results_are_picklable_for_distributed_backends(checkout):
    import pickle

    compiled = compile_journey(checkout, named_scenario(checkout, "declared"))
    again = pickle.loads(pickle.dumps(compiled))
    assert run_block(again, 1, 0, 500).equals(run_block(compiled, 1, 0, 500))
    res = run_block(compiled, 1, 0, 500)
    assert pickle.loads(pickle.dumps(res)).equals(res)


def test_result_from_blocks_matches_simulate(checkout):
    compiled = compile_journey(checkout, named_scenario(checkout, "declared"))
    merged = BlockResult.empty(compiled)
    for b, size in enumerate(plan_blocks(10_000, 4096)):
        merged = merged.merge(run_block(compiled, 8, b, size))
    via_blocks = result_from_blocks(checkout, compiled, merged, seed=8, block_size=4096, requested_samples=10_000).to_dict()
    direct = simulate(checkout, samples=10_000, seed=8, block_size=4096).to_dict()
    direct["notes"] = via_blocks["notes"] = []
    assert via_blocks == direct


# ----------------------------------------------------------------------------- early stopping


def test_target_ci_stops_at_the_first_block_boundary_deterministically(paper_spec):
    j = load_spec(paper_spec)
    target = 2e-3
    runs = [simulate(j, samples=200_000, seed=4, correlation="independent", target_ci=target, workers=w, block_size=1000) for w in (1, 3)]
    a, b = (r.to_dict() for r in runs)
    assert a == b
    n = a["samples"]
    assert n % 1000 == 0 and n < 200_000
    lo, hi = a["availability"]["ci"]
    assert (hi - lo) / 2 <= target
    # one block fewer would not have reached the target
    prefix = simulate(j, samples=n - 1000, seed=4, correlation="independent", block_size=1000)
    plo, phi = prefix.availability_ci()
    assert (phi - plo) / 2 > target
    assert any("reached after" in note for note in a["notes"])


def test_target_ci_not_reached_says_so(paper_spec):
    j = load_spec(paper_spec)
    res = simulate(j, samples=3000, seed=4, correlation="independent", target_ci=1e-6, block_size=1000)
    assert res.samples == 3000
    assert any("not reached" in note for note in res.notes)


# ----------------------------------------------------------------------------- seeds and results


def test_omitted_seed_is_drawn_and_recorded(checkout):
    res = simulate(checkout, samples=1000)
    d = res.to_dict()
    assert isinstance(d["seed"], int) and 0 <= d["seed"] < 2**53 and d["seedDrawn"] is True
    assert any(str(d["seed"]) in note for note in d["notes"])
    again = simulate(checkout, samples=1000, seed=d["seed"]).to_dict()
    assert again["availability"] == d["availability"] and again["latency"] == d["latency"]


def test_result_dictionary_shape(checkout):
    d = simulate(checkout, samples=5000, seed=1).to_dict()
    for key in (
        "samples",
        "seed",
        "correlation",
        "availability",
        "latency",
        "latencyAll",
        "tailAmplification",
        "tailAttribution",
        "birnbaum",
        "hedgeRate",
        "callAmplification",
        "blockSize",
        "blocks",
        "confidence",
        "notes",
    ):
        assert key in d
    assert d["correlation"] == "declared" and d["samples"] == 5000
    assert set(d["availability"]) == {"estimate", "ci", "failures"}
    assert set(d["latency"]) == {"p50", "p90", "p99", "p999"}
    for q in d["latency"].values():
        assert q["ci"][0] <= q["estimate"] <= q["ci"][1]
    comps = {"front", "cart", "pricing", "paya", "payb"}
    assert set(d["callAmplification"]) == comps == set(d["birnbaum"])
    assert set(d["tailAttribution"]) <= comps | {"(none)"}
    assert sum(d["tailAttribution"].values()) == pytest.approx(1.0)
    assert 0 < d["hedgeRate"] < 1 and d["hedgeRates"] == {"root.steps[2]": d["hedgeRate"]}
    assert d["callAmplification"]["payb"] == pytest.approx(d["hedgeRate"])
    json.dumps(d, allow_nan=False)
    assert any("k8s/zone" in n for n in d["notes"])


def test_latency_not_modelled_is_null(paper_spec):
    d = simulate(load_spec(paper_spec), samples=2000, seed=1, correlation="independent").to_dict()
    assert d["latency"] is None and d["latencyAll"] is None and d["tailAmplification"] is None
    assert d["tailAttribution"] == {} and d["latencyModelled"] is False
    assert any("latency not modelled" in n for n in d["notes"])
    # the paper's race (no hedge delay) issues both branches whenever the series reaches it
    amp = d["callAmplification"]
    assert d["hedgeRate"] == amp["paya"] == amp["payb"] < 1.0


def test_pessimistic_needs_or_uses_a_minimiser(paper_spec):
    j = load_spec(paper_spec)
    d = simulate(j, samples=1000, seed=1, correlation="pessimistic", pessimistic_shared=frozenset({"payment-network"})).to_dict()
    assert d["correlation"] == "pessimistic" and d["pessimisticShared"] == ["payment-network"]
    assert d["fateGroups"] == [["paya", "payb"]]


def test_bad_arguments_are_named(checkout):
    with pytest.raises(ValueError, match="unknown correlation scenario 'sometimes'"):
        simulate(checkout, samples=10, correlation="sometimes")
    with pytest.raises(ValueError, match="samples must be a positive integer"):
        simulate(checkout, samples=0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        simulate(checkout, samples=10, seed=-1)
    with pytest.raises(ValueError, match="target_ci must be in"):
        simulate(checkout, samples=10, target_ci=0.0)


# ----------------------------------------------------------------------------- intervals


def test_wilson_interval_known_values():
    # n = 100, k = 90, z = 1.96: centre 0.88522, half-width 0.05957, by hand from the formula
    lo, hi = wilson_interval(90, 100, 0.95)
    assert lo == pytest.approx(0.82564, abs=1e-4) and hi == pytest.approx(0.94476, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(0, 1000)
    assert lo == 0.0 and hi == pytest.approx(1.96**2 / (1000 + 1.96**2), rel=1e-3)
    lo, hi = wilson_interval(100, 100)
    assert hi == 1.0 and 0.95 < lo < 1.0


def test_order_statistic_ranks_have_the_coverage_they_claim():
    from scipy import stats

    for n, q in ((100, 0.5), (1000, 0.99), (50, 0.9)):
        lo, hi = order_statistic_ranks(n, q, 0.95)
        cover = stats.binom.cdf(hi - 1, n, q) - stats.binom.cdf(lo - 1, n, q)
        assert cover >= 0.95


def test_histogram_quantile_from_known_samples():
    rng = np.random.default_rng(1)
    x = rng.exponential(0.05, 100_000)
    hist = np.zeros(N_BUCKETS, np.int64)
    for v in x:
        hist[bucket_index(v)] += 1
    for q in (0.5, 0.9, 0.99):
        r = histogram_quantile(hist, q, 0.999)
        exact = -0.05 * math.log(1 - q)
        assert r.ci[0] <= exact <= r.ci[1]
        assert abs(r.estimate - np.quantile(x, q)) / exact < 2 / 256 + 1e-3
    assert histogram_quantile(np.zeros(N_BUCKETS, np.int64), 0.5) is None
