"""The generated numba kernels against the pure-Python reference simulator, draw for draw.

Both consume the same PCG64 streams; every count (outcomes, histograms, dominant-component
table, calls, hedges, Birnbaum counts) must be identical, and per-sample durations equal to the
last bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from emac_sim import load_spec
from emac_sim.engine import compile_journey, run_block
from emac_sim.model import distributions as D
from emac_sim.model.journey import Component, CorrelationMatrix, Domain, Journey, Node, Ref
from emac_sim.model.scenario import Scenario, named_scenario
from emac_sim.operators import Backoff, Choice, Fallback, Optional, Parallel, Race, Repeat, Retry, Series, Timeout
from emac_sim.reference import simulate_block, simulate_requests

CONFIGS = __import__("pathlib").Path(__file__).resolve().parents[1] / "configs"


def comp(cid, a, lat=None, err="same", domains=()):
    return Component(id=cid, availability=a, latency=lat, error_latency=err, domains=tuple(domains))


def journey(root, comps, domains=(), correlation=None):
    return Journey(name="t", root=root, components=tuple(comps), domains=tuple(domains), correlation=correlation)


LN = D.LogNormal.from_quantiles(0.02, 0.09)
GAMMA = D.Gamma.from_mean_cv(0.03, 0.8)
EMP = D.Empirical(quantiles=((0.5, 0.015), (0.9, 0.04), (0.99, 0.11)))
HIST = D.Histogram(buckets=((0.01, 20.0), (0.05, 70.0), (0.1, 95.0), (0.5, 99.5), (math.inf, 100.0)))
MIX = D.Mixture(components=((0.95, D.LogNormal.from_quantiles(0.01, 0.03)), (0.05, D.Exponential(mean_s=0.2))))


def _all_operators() -> Journey:
    comps = [
        comp("a", 0.97, LN, domains=("zone",)),
        comp("b", 0.9, GAMMA, err="fast", domains=("zone", "rack")),
        comp("c", 0.95, EMP, domains=("rack",)),
        comp("d", 0.8, HIST, err=D.Exponential(mean_s=0.005)),
        comp("e", 0.99, MIX, domains=("net",)),
        comp("f", 0.85, D.Weibull(shape=1.5, scale=0.04), domains=("net",)),
        comp("g", 0.9, D.Pareto(scale=0.005, alpha=2.2)),
        comp("h", 0.999, D.Constant(value=0.012)),
    ]
    root = Series(
        steps=(
            Ref("a"),
            Retry(step=Ref("b"), attempts=3, per_try_timeout=0.05, backoff=Backoff(initial=0.01, multiplier=2.0, max=0.015)),
            Optional(step=Ref("c"), probability=0.6),
            Timeout(step=Parallel(branches=(Ref("d"), Ref("e"), Ref("f"), Ref("g")), join="quorum", k=2), deadline=0.12),
            Choice(branches=(Ref("h"), Fallback(branches=(Ref("g"), Ref("h")))), weights=(3.0, 1.0)),
            Parallel(branches=(Ref("e"), Race(branches=(Ref("f"), Ref("a"), Ref("c")), hedge_delay=0.02)), join="any"),
            Repeat(step=Retry(step=Ref("d"), attempts=2), count=2),
        )
    )
    domains = (
        Domain("zone", ("a", "b"), model="gaussian", rho=0.4, latency_rho=0.3),
        Domain("rack", ("b", "c"), model="none"),
        Domain("net", ("e", "f"), model="shock", probability=0.004),
    )
    return journey(root, comps, domains)


def _matrix_journey(with_latency: bool = True) -> Journey:
    comps = [comp(x, a, LN if with_latency else None) for x, a in (("x", 0.95), ("y", 0.9), ("z", 0.97), ("w", 0.9))]
    corr = CorrelationMatrix(
        components=("x", "y", "z"),
        matrix=((1.0, 0.5, 0.2), (0.5, 1.0, 0.0), (0.2, 0.0, 1.0)),
        latency_matrix=((1.0, 0.3, 0.0), (0.3, 1.0, 0.0), (0.0, 0.0, 1.0)) if with_latency else None,
    )
    root = Series(steps=(Parallel(branches=(Ref("x"), Ref("y")), join="any"), Retry(step=Ref("z"), attempts=2), Ref("w")))
    return journey(root, comps, correlation=corr)


def _shock_beta_journey() -> Journey:
    comps = [comp("p", 0.99, LN, domains=("dc",)), comp("q", 0.98, LN, domains=("dc",)), comp("r", 0.995, LN)]
    root = Fallback(branches=(Series(steps=(Ref("p"), Ref("q"))), Ref("r")))
    return journey(root, comps, (Domain("dc", ("p", "q"), model="shock", beta=0.2),))


def _no_latency() -> Journey:
    comps = [comp("a", 0.9), comp("b", 0.8), comp("c", 0.85, LN)]  # c has latency, a and b do not
    root = Series(
        steps=(
            Race(branches=(Ref("a"), Ref("b")), hedge_delay=0.05),
            Parallel(branches=(Ref("a"), Ref("b"), Ref("c")), join="quorum", k=2),
            Race(branches=(Ref("b"), Ref("c"))),
        )
    )
    return journey(root, comps)


CASES = {
    "all-operators": _all_operators,
    "matrix": _matrix_journey,
    "shock-beta": _shock_beta_journey,
    "no-latency": _no_latency,
}


def _scenarios(j: Journey):
    yield named_scenario(j, "declared")
    yield named_scenario(j, "independent")
    yield named_scenario(j, "shared")


def _compare(j: Journey, scenario: Scenario, n: int, seed: int, stride: int = 4) -> None:
    compiled = compile_journey(j, scenario, birnbaum_stride=stride)
    kernel, trace = run_block(compiled, seed, 0, n, trace=True)
    ref, records = simulate_block(j, scenario, seed, 0, n, birnbaum_stride=stride)
    assert np.array_equal(trace.ok, [r.ok for r in records])
    assert np.array_equal(trace.t, np.array([r.t for r in records]))
    for field in ("hist_ok", "hist_all", "joint", "calls", "race_issued", "birnbaum_up", "birnbaum_down"):
        assert np.array_equal(getattr(kernel, field), getattr(ref, field)), field
    assert (kernel.samples, kernel.ok, kernel.hedged, kernel.birnbaum_samples) == (ref.samples, ref.ok, ref.hedged, ref.birnbaum_samples)


@pytest.mark.parametrize("case", sorted(CASES))
def test_kernel_matches_reference_draw_for_draw(case):
    j = CASES[case]()
    for k, scenario in enumerate(_scenarios(j)):
        _compare(j, scenario, n=120, seed=100 + k)


def test_kernel_matches_reference_in_custom_shared_fate_scenarios():
    j = _all_operators()
    for shared in ({"zone"}, {"rack"}, {"zone", "rack"}):
        _compare(j, Scenario.shared_fate(shared), n=90, seed=7)


@pytest.mark.parametrize("name", ["checkout.yaml", "login.yaml"])
def test_kernel_matches_reference_on_example_configs(name):
    j = load_spec(CONFIGS / name)
    for scenario in _scenarios(j):
        _compare(j, scenario, n=200, seed=3)


def test_kernel_matches_reference_on_the_search_config():
    j = load_spec(CONFIGS / "search.yaml")  # every operator and every distribution kind
    _compare(j, named_scenario(j, "declared"), n=150, seed=4, stride=10)


def test_kernel_matches_reference_on_the_paper_checkout(paper_spec):
    j = load_spec(paper_spec)
    for shared in (frozenset(), frozenset({"payment-network"}), frozenset({"k8s/zone", "k8s/cluster", "payment-network"})):
        _compare(j, Scenario.shared_fate(shared), n=300, seed=9)


# ----------------------------------------------------------------------------- simulate_requests


def test_simulate_requests_are_the_engine_samples_across_blocks():
    j = load_spec(CONFIGS / "checkout.yaml")
    bs = 64
    reqs = simulate_requests(j, 150, seed=21, correlation="declared", block_size=bs)
    compiled = compile_journey(j, named_scenario(j, "declared"))
    ok, t = [], []
    for b, size in enumerate((64, 64, 22)):
        _, tr = run_block(compiled, 21, b, size, trace=True)
        ok.extend(tr.ok)
        t.extend(tr.t)
    assert [r.ok for r in reqs] == ok
    assert [r.t for r in reqs] == t


def _const(cid, seconds, a=1.0):
    return comp(cid, a, D.Constant(value=seconds))


def test_call_records_series_and_parallel_timing():
    j = journey(Series(steps=(Ref("a"), Parallel(branches=(Ref("b"), Ref("c"))))), [_const("a", 0.01), _const("b", 0.02), _const("c", 0.03)])
    (req,) = simulate_requests(j, 1, seed=1)
    assert req.ok and req.t == pytest.approx(0.04)
    got = [(c.component, round(c.start, 9), round(c.end, 9), c.ok, c.attempt, c.path) for c in req.calls]
    assert got == [
        ("a", 0.0, 0.01, True, 1, "root.steps[0]"),
        ("b", 0.01, 0.03, True, 1, "root.steps[1].branches[0]"),
        ("c", 0.01, 0.04, True, 1, "root.steps[1].branches[1]"),
    ]


def test_call_records_retry_with_per_try_timeout_and_backoff():
    j = journey(Retry(step=Ref("s"), attempts=3, per_try_timeout=0.1, backoff=Backoff(initial=0.01, multiplier=2.0)), [_const("s", 0.2)])
    (req,) = simulate_requests(j, 1, seed=1)
    # every try times out: 0.1 + 0.01 + 0.1 + 0.02 + 0.1
    assert not req.ok and req.t == pytest.approx(0.33)
    assert [c.attempt for c in req.calls] == [1, 2, 3]
    assert [round(c.start, 9) for c in req.calls] == [0.0, 0.11, 0.23]
    assert all(c.ok and c.path == "root.step" for c in req.calls)  # the calls themselves succeeded, late


def test_call_records_hedged_race():
    slow = journey(Race(branches=(Ref("p"), Ref("q")), hedge_delay=0.1), [_const("p", 0.3), _const("q", 0.05)])
    (req,) = simulate_requests(slow, 1, seed=1)
    assert req.ok and req.hedged and req.t == pytest.approx(0.15)
    assert [(c.component, round(c.start, 9)) for c in req.calls] == [("p", 0.0), ("q", 0.1)]
    fast = journey(Race(branches=(Ref("p"), Ref("q")), hedge_delay=0.1), [_const("p", 0.05), _const("q", 0.05)])
    (req,) = simulate_requests(fast, 1, seed=1)
    assert req.ok and not req.hedged and [c.component for c in req.calls] == ["p"]


def test_failed_primary_does_not_bring_the_hedge_forward():
    # p fails fast at 10 ms; q is still issued only at the hedge delay
    j = journey(Race(branches=(Ref("p"), Ref("q")), hedge_delay=0.1), [comp("p", 0.0, D.Constant(value=0.01)), _const("q", 0.05)])
    (req,) = simulate_requests(j, 1, seed=1)
    assert req.ok and req.t == pytest.approx(0.15)
    assert [(c.component, round(c.start, 9), c.ok) for c in req.calls] == [("p", 0.0, False), ("q", 0.1, True)]


def test_choice_and_optional_issue_only_the_chosen_calls():
    j = journey(
        Series(steps=(Choice(branches=(Ref("a"), Ref("b")), weights=(1.0, 1.0)), Optional(step=Ref("c"), probability=0.5))),
        [_const("a", 0.01), _const("b", 0.01), _const("c", 0.01)],
    )
    reqs = simulate_requests(j, 400, seed=2)
    for r in reqs:
        names = [c.component for c in r.calls]
        assert len([x for x in names if x in "ab"]) == 1
        assert names.count("c") <= 1
        assert r.t == pytest.approx(0.01 * len(names))
    assert 150 < sum("a" in [c.component for c in r.calls] for r in reqs) < 250  # 400 fair coins: ±5 sd


def test_timeout_keeps_inner_calls():
    j = journey(Timeout(step=Ref("s"), deadline=0.05), [_const("s", 0.2)])
    (req,) = simulate_requests(j, 1, seed=1)
    assert not req.ok and req.t == pytest.approx(0.05)
    assert len(req.calls) == 1 and req.calls[0].end == pytest.approx(0.2)


# ----------------------------------------------------------------------------- outlined kernels


def test_outlined_and_chunked_kernels_match_the_reference(monkeypatch):
    """Large journeys are compiled as outlined pieces and wide nodes in chunks; force both on the
    every-operator journey (tiny budgets) and hold the result to the reference, draw for draw."""
    from emac_sim.engine import codegen

    monkeypatch.setattr(codegen, "INLINE_LIMIT", 3)
    monkeypatch.setattr(codegen, "PIECE_NODES", 3)
    monkeypatch.setattr(codegen, "WIDE", 2)
    j = _all_operators()
    src = codegen.generate(j, named_scenario(j, "declared"), codegen.KernelOptions(details=True))
    assert src.source.count("def piece_") >= 5  # the tiny budgets did split it
    for k, scenario in enumerate(_scenarios(j)):
        _compare(j, scenario, n=120, seed=300 + k)


def _wide_and_deep() -> Journey:
    comps = [comp(f"c{i}", 0.9 + 0.001 * i, LN if i % 2 else GAMMA, domains=("zone",) if i % 3 == 0 else ()) for i in range(21)]
    deep: Node = Ref("c0")
    for i in range(22):  # nesting past Python's 20 static blocks if emitted inline
        if i % 3 == 0:
            deep = Retry(step=deep, attempts=2)
        else:
            deep = Timeout(step=deep, deadline=5.0) if i % 3 == 1 else Optional(step=deep, probability=0.9)
    # each wider than the children one function holds (codegen.WIDE = 16)
    wide = Parallel(branches=tuple(Ref(f"c{i}") for i in range(1, 21)), join="quorum", k=15)
    race = Race(branches=tuple(Ref(f"c{i}") for i in range(18)), hedge_delay=0.01)
    root = Series(steps=(deep, wide, race, Fallback(branches=tuple(Ref(f"c{i}") for i in range(17)))))
    return journey(root, comps, (Domain("zone", tuple(f"c{i}" for i in range(0, 21, 3)), model="gaussian", rho=0.3),))


def test_deep_and_wide_journeys_compile_and_match_the_reference():
    j = _wide_and_deep()
    _compare(j, named_scenario(j, "declared"), n=60, seed=17)
