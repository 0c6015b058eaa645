"""Verification tier (``make verify``): long runs of the engine against exact values.

* Interval coverage: over many seeds the 95 % Wilson interval must cover the exact value about
  95 % of the time. With 2000 seeds the observed coverage has sd 0.49 %, so the 93–97 % window
  is a ±4 sd (α ≈ 6e-5) test; the first 200 seeds (sd 1.5 %) are held to the exact binomial
  acceptance region at α = 1e-3 and reported.
* The paper's checkout at 10⁷ samples per scenario (99.9 % intervals contain the published
  values).
* Random journeys (hypothesis): the declared estimate equals the analytic declared value
  wherever that is computable, and is consistent with [pessimistic, sharedFateRange max] (its
  interval meets the range) when the declared correlation is made of shock and
  magnitude-free domains only. The test makes up to 4 interval checks on each of 25 journeys;
  held to α = 1e-3 as a whole, each check uses a 1 − 1e-3/100 interval (Bonferroni). At 99.9 %
  per check the test failed about one run in 14 with no error anywhere: issue 12's 3.4σ was one
  of 75 estimates. Checked before concluding so: 1,050 comparisons of Monte Carlo (10⁶ samples)
  with exact values on random journeys gave z-scores of mean 0.005 and sd 1.04, the five largest
  (up to 3.3σ) fell below 1.5σ at 10⁷ samples, and 600 availability / domain draws of the failing
  journey's shape showed no bias (largest 3.2σ). Gaussian domains with 0 < rho < 1 are *not* bounded by that
  range in general: availability can dip below both shared-fate extremes (see
  ``test_engine_stats.test_partial_gaussian_correlation_can_fall_below_the_pessimistic_bound``).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import emac_sim.analytic as an
from emac_sim import load_spec
from emac_sim.engine import compile_journey, run_block, simulate, wilson_interval
from emac_sim.model import distributions as D
from emac_sim.model.journey import Component, Domain, Journey, Ref
from emac_sim.model.scenario import Scenario, named_scenario
from emac_sim.operators import Fallback, Parallel, Race, Retry, Series

pytestmark = pytest.mark.verification

PAPER_INDEPENDENT = 0.99747706


def _coverage(compiled, exact: float, seeds: range, n: int) -> np.ndarray:
    hits = []
    for s in seeds:
        res = run_block(compiled, s, 0, n)
        lo, hi = wilson_interval(res.ok, res.samples, 0.95)
        hits.append(lo <= exact <= hi)
    return np.array(hits)


def test_wilson_intervals_cover_the_exact_value(paper_spec):
    j = load_spec(paper_spec)
    compiled = compile_journey(j, Scenario.independent(), birnbaum_stride=0)
    hits = _coverage(compiled, PAPER_INDEPENDENT, range(2000), 20_000)
    first = int(hits[:200].sum())
    lo200, hi200 = stats.binom.ppf(5e-4, 200, 0.95), stats.binom.ppf(1 - 5e-4, 200, 0.95)
    print(f"coverage: {hits.mean():.4f} over 2000 seeds; {first / 200:.3f} over the first 200")
    assert lo200 <= first <= hi200
    assert 0.93 <= hits.mean() <= 0.97


def test_wilson_coverage_in_the_body():
    comps = (Component("a", 0.9), Component("b", 0.85))
    j = Journey(name="t", root=Parallel(branches=(Ref("a"), Ref("b")), join="all"), components=comps)
    compiled = compile_journey(j, Scenario.independent(), birnbaum_stride=0)
    hits = _coverage(compiled, 0.9 * 0.85, range(2000), 2000)
    assert 0.93 <= hits.mean() <= 0.97


@pytest.mark.parametrize(
    ("scenario", "shared", "published"),
    [("independent", None, PAPER_INDEPENDENT), ("shared", None, 0.994005), ("pessimistic", frozenset({"payment-network"}), 0.99251449)],
)
def test_paper_checkout_long_runs(paper_spec, scenario, shared, published):
    res = simulate(load_spec(paper_spec), samples=10_000_000, seed=77, correlation=scenario, pessimistic_shared=shared, confidence=0.999)
    lo, hi = res.availability_ci()
    assert lo <= published <= hi


# ----------------------------------------------------------------------------- random journeys

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@st.composite
def random_journeys(draw):
    n = draw(st.integers(3, 6))
    ids = [f"c{i}" for i in range(n)]
    avail = [draw(st.floats(0.85, 0.999)) for _ in ids]
    doms = []
    member_of = {c: [] for c in ids}
    for k in range(draw(st.integers(1, 3))):
        members = draw(st.lists(st.sampled_from(ids), min_size=2, max_size=n, unique=True))
        model = draw(st.sampled_from(["gaussian", "none", "shock"]))
        name = f"d{k}"
        if model == "gaussian":
            # keep Σ rho ≤ 1 per component (at most 3 domains of rho ≤ 0.33)
            doms.append(Domain(name, tuple(members), model="gaussian", rho=draw(st.floats(0.05, 0.33))))
        elif model == "shock":
            q = draw(st.floats(0.0005, 0.5)) * min(1 - avail[ids.index(m)] for m in members)
            doms.append(Domain(name, tuple(members), model="shock", probability=q))
        else:
            doms.append(Domain(name, tuple(members)))
        for m in members:
            member_of[m].append(name)
    comps = tuple(Component(c, a, domains=tuple(member_of[c])) for c, a in zip(ids, avail))

    def node(depth):
        if depth == 0 or draw(st.booleans()):
            return Ref(draw(st.sampled_from(ids)))
        kind = draw(st.sampled_from(["series", "any", "fallback", "race", "retry"]))
        kids = tuple(node(depth - 1) for _ in range(draw(st.integers(2, 3))))
        if kind == "series":
            return Series(steps=kids)
        if kind == "any":
            return Parallel(branches=kids, join="any")
        if kind == "fallback":
            return Fallback(branches=kids)
        if kind == "race":
            return Race(branches=kids)
        return Retry(step=kids[0], attempts=draw(st.integers(2, 3)))

    return Journey(name="random", root=Series(steps=(node(2), node(2))), components=comps, domains=tuple(doms))


RANDOM_JOURNEYS = 25
FAMILY_CONFIDENCE = 1 - 1e-3 / (4 * RANDOM_JOURNEYS)  # α = 1e-3 over every interval check of the test


@hypothesis.settings(max_examples=RANDOM_JOURNEYS, deadline=None, derandomize=True)
@hypothesis.given(random_journeys())
def test_declared_estimates_sit_inside_the_analytic_range(j):
    b = an.bounds(j).availability
    res = simulate(j, samples=200_000, seed=5, correlation="declared", confidence=FAMILY_CONFIDENCE)
    lo, hi = res.availability_ci()
    if b.declared is not None:
        assert lo <= b.declared <= hi, (str(j.root), res.availability, b.declared)
    partial_gaussian = any(d.model == "gaussian" and 0 < d.rho < 1 for d in j.domains)
    if not partial_gaussian:
        low, high = b.pessimistic, b.shared_fate_range[1]
        assert hi >= low and lo <= high, (str(j.root), res.availability, low, high)
    # independent and shared reproduce their exact values too
    for name in ("independent", "shared"):
        exact = an.scenario_availability(j, named_scenario(j, name))
        r = simulate(j, samples=200_000, seed=6, correlation=name, confidence=FAMILY_CONFIDENCE)
        rlo, rhi = r.availability_ci()
        assert rlo <= exact <= rhi, (name, str(j.root), r.availability, exact)


def test_declared_latency_correlation_runs_and_stays_ordered():
    # slow-together latency raises the tail of a parallel join: p99 under latencyRho ≥ independent
    lat = D.LogNormal.from_quantiles(0.02, 0.1)
    comps = tuple(Component(c, 1.0, latency=lat, domains=("z",)) for c in ("a", "b", "c"))
    j = Journey(
        name="t",
        root=Parallel(branches=(Ref("a"), Ref("b"), Ref("c")), join="any"),
        components=comps,
        domains=(Domain("z", ("a", "b", "c"), model="gaussian", latency_rho=0.8),),
    )
    dec = simulate(j, samples=1_000_000, seed=8, correlation="declared", confidence=0.999).to_dict()
    ind = simulate(j, samples=1_000_000, seed=8, correlation="independent", confidence=0.999).to_dict()
    assert dec["latency"]["p99"]["ci"][0] > ind["latency"]["p99"]["ci"][1]
