"""Statistical correctness of the engine (fixed seeds; tests at α = 1e-3 from theory).

Availability: exact two-sided binomial tests against closed forms (series ∏a, parallel
1 − ∏(1 − a), Poisson-binomial quorums, retries, timeouts, …) under each scenario, against
bivariate/trivariate normal probabilities and quadrature for gaussian domains, and against
conditioning on the outage for shock domains. Latency: one-sample Kolmogorov–Smirnov tests of
per-sample journey times against closed-form CDFs, and order-statistic intervals at 99.9 %
against exact quantiles. When ``emac_sim.analytic`` is importable, the same journeys are also
held to its exact values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special, stats

import emac_sim.analytic as an
from emac_sim import load_spec
from emac_sim.engine import compile_journey, run_block, simulate
from emac_sim.model import distributions as D
from emac_sim.model.journey import Component, CorrelationMatrix, Domain, Journey, Ref
from emac_sim.model.scenario import Scenario, named_scenario
from emac_sim.operators import Backoff, Choice, Fallback, Optional, Parallel, Race, Repeat, Retry, Series, Timeout

ALPHA = 1e-3


def comp(cid, a, lat=None, err="same", domains=()):
    return Component(id=cid, availability=a, latency=lat, error_latency=err, domains=tuple(domains))


def journey(root, comps, domains=(), correlation=None):
    return Journey(name="t", root=root, components=tuple(comps), domains=tuple(domains), correlation=correlation)


def assert_binomial(k: int, n: int, p: float) -> None:
    pv = stats.binomtest(k, n, p).pvalue
    assert pv > ALPHA, f"{k}/{n} = {k / n:.6f} vs exact {p:.6f}: p-value {pv:.2e}"


def run_ok(j: Journey, scenario: Scenario, n: int, seed: int) -> int:
    res = run_block(compile_journey(j, scenario, birnbaum_stride=0), seed, 0, n)
    return res.ok


def times(j: Journey, scenario: Scenario, n: int, seed: int, successful: bool = True) -> np.ndarray:
    _, tr = run_block(compile_journey(j, scenario, birnbaum_stride=0), seed, 0, n, trace=True)
    return tr.t[tr.ok] if successful else tr.t


def assert_ks(sample: np.ndarray, cdf) -> None:
    pv = stats.kstest(sample, cdf).pvalue
    assert pv > ALPHA, f"KS p-value {pv:.2e}"


A = {"a": 0.9, "b": 0.8, "c": 0.7}
ABC = [comp(k, v) for k, v in A.items()]
a, b, c = A["a"], A["b"], A["c"]
N = 40_000


def _quorum2(ps):
    x, y, z = ps
    return x * y * z + x * y * (1 - z) + x * (1 - y) * z + (1 - x) * y * z


LN = D.LogNormal.from_quantiles(0.02, 0.08)

# (name, journey, exact availability under independence)
INDEPENDENT = [
    ("series", journey(Series(steps=(Ref("a"), Ref("b"), Ref("c"))), ABC), a * b * c),
    ("parallel-all", journey(Parallel(branches=(Ref("a"), Ref("b"), Ref("c"))), ABC), a * b * c),
    ("parallel-any", journey(Parallel(branches=(Ref("a"), Ref("b"), Ref("c")), join="any"), ABC), 1 - (1 - a) * (1 - b) * (1 - c)),
    ("quorum-2", journey(Parallel(branches=(Ref("a"), Ref("b"), Ref("c")), join="quorum", k=2), ABC), _quorum2((a, b, c))),
    ("race", journey(Race(branches=(Ref("a"), Ref("b"))), ABC), 1 - (1 - a) * (1 - b)),
    (
        "race-hedged",
        journey(Race(branches=(Ref("a"), Ref("b")), hedge_delay=0.02), [comp("a", a, LN), comp("b", b, LN)]),
        1 - (1 - a) * (1 - b),
    ),
    ("fallback", journey(Fallback(branches=(Ref("c"), Ref("b"))), ABC), 1 - (1 - c) * (1 - b)),
    ("retry", journey(Retry(step=Ref("c"), attempts=3), ABC), 1 - (1 - c) ** 3),
    (
        "retry-per-try-timeout",
        journey(Retry(step=Ref("a"), attempts=2, per_try_timeout=0.03), [comp("a", a, LN)]),
        1 - (1 - a * float(LN.cdf(0.03))) ** 2,
    ),
    ("timeout", journey(Timeout(step=Ref("a"), deadline=0.025), [comp("a", a, LN)]), a * float(LN.cdf(0.025))),
    ("choice", journey(Choice(branches=(Ref("a"), Ref("c")), weights=(3.0, 1.0)), ABC), 0.75 * a + 0.25 * c),
    ("optional", journey(Optional(step=Ref("c"), probability=0.4), ABC), 1 - 0.4 * (1 - c)),
    ("repeat", journey(Repeat(step=Ref("a"), count=3), ABC), a**3),
    (
        "nested",
        journey(Series(steps=(Ref("a"), Retry(step=Parallel(branches=(Ref("b"), Ref("c")), join="any"), attempts=2))), ABC),
        a * (1 - ((1 - b) * (1 - c)) ** 2),
    ),
]


@pytest.mark.parametrize(("name", "j", "exact"), INDEPENDENT, ids=[x[0] for x in INDEPENDENT])
def test_independent_availability_matches_closed_forms(name, j, exact):
    assert_binomial(run_ok(j, Scenario.independent(), N, seed=11), N, exact)


def _grouped(*members):
    return [Domain("g", tuple(members), model="none")]


def _abc_in(*members):
    return [comp(k, v, domains=("g",) if k in members else ()) for k, v in A.items()]


# (name, journey with domain g over some members, exact availability when g is fully shared)
SHARED = [
    ("series", journey(Series(steps=(Ref("a"), Ref("b"))), _abc_in("a", "b"), _grouped("a", "b")), min(a, b)),
    ("parallel-any", journey(Parallel(branches=(Ref("a"), Ref("b")), join="any"), _abc_in("a", "b"), _grouped("a", "b")), max(a, b)),
    ("retry-keeps-domain-state", journey(Retry(step=Ref("c"), attempts=3), _abc_in("c", "b"), _grouped("c", "b")), c),
    (
        "group-and-independent",
        journey(Series(steps=(Parallel(branches=(Ref("a"), Ref("b")), join="any"), Ref("c"))), _abc_in("a", "b"), _grouped("a", "b")),
        max(a, b) * c,
    ),
    (
        "quorum",
        journey(Parallel(branches=(Ref("a"), Ref("b"), Ref("c")), join="quorum", k=2), _abc_in("a", "b", "c"), _grouped("a", "b", "c")),
        b,  # comonotone: the 2nd best of (a, b, c) is b
    ),
]


@pytest.mark.parametrize(("name", "j", "exact"), SHARED, ids=[x[0] for x in SHARED])
def test_shared_fate_matches_comonotone_closed_forms(name, j, exact):
    assert_binomial(run_ok(j, named_scenario(j, "shared"), N, seed=12), N, exact)
    # the same journey as a pessimistic scenario that shares g is the same scenario
    assert_binomial(run_ok(j, named_scenario(j, "pessimistic", frozenset({"g"})), N, seed=13), N, exact)


# ----------------------------------------------------------------------------- declared correlation


def test_declared_shock_domain_matches_conditioning_on_the_outage():
    q = 0.05
    comps = [comp("p", 0.9, domains=("dc",)), comp("q", 0.8, domains=("dc",))]
    dom = [Domain("dc", ("p", "q"), model="shock", probability=q)]
    ap, aq = 0.9 / (1 - q), 0.8 / (1 - q)  # calibrated own availabilities
    series = journey(Series(steps=(Ref("p"), Ref("q"))), comps, dom)
    anyj = journey(Parallel(branches=(Ref("p"), Ref("q")), join="any"), comps, dom)
    retry = journey(Retry(step=Ref("p"), attempts=2), comps, dom)
    assert_binomial(run_ok(series, Scenario.declared(), N, 21), N, (1 - q) * ap * aq)
    assert_binomial(run_ok(anyj, Scenario.declared(), N, 22), N, (1 - q) * (1 - (1 - ap) * (1 - aq)))
    assert_binomial(run_ok(retry, Scenario.declared(), N, 23), N, (1 - q) * (1 - (1 - ap) ** 2))
    # each marginal stays at a_i
    single = journey(Ref("p"), comps, dom)
    assert_binomial(run_ok(single, Scenario.declared(), N, 24), N, 0.9)


def test_declared_shock_with_beta():
    comps = [comp("p", 0.99, domains=("dc",)), comp("q", 0.98, domains=("dc",))]
    dom = [Domain("dc", ("p", "q"), model="shock", beta=0.3)]
    qd = 0.3 * 0.01
    j = journey(Parallel(branches=(Ref("p"), Ref("q")), join="any"), comps, dom)
    exact = (1 - qd) * (1 - (1 - 0.99 / (1 - qd)) * (1 - 0.98 / (1 - qd)))
    assert_binomial(run_ok(j, Scenario.declared(), 200_000, 25), 200_000, exact)


def _bvn(x: float, y: float, rho: float) -> float:
    return float(stats.multivariate_normal(mean=[0, 0], cov=[[1, rho], [rho, 1]]).cdf([x, y]))


def test_declared_gaussian_domain_matches_the_bivariate_normal():
    rho = 0.5
    comps = [comp("x", 0.9, domains=("z",)), comp("y", 0.8, domains=("z",))]
    dom = [Domain("z", ("x", "y"), model="gaussian", rho=rho)]
    zx, zy = special.ndtri(0.9), special.ndtri(0.8)
    series = journey(Series(steps=(Ref("x"), Ref("y"))), comps, dom)
    anyj = journey(Parallel(branches=(Ref("x"), Ref("y")), join="any"), comps, dom)
    assert_binomial(run_ok(series, Scenario.declared(), N, 31), N, _bvn(zx, zy, rho))
    assert_binomial(run_ok(anyj, Scenario.declared(), N, 32), N, 1 - _bvn(-zx, -zy, rho))


def test_declared_gaussian_retry_keeps_the_factor():
    rho = 0.6
    comps = [comp("x", 0.8, domains=("z",)), comp("y", 0.9, domains=("z",))]
    j = journey(Retry(step=Ref("x"), attempts=2), comps, [Domain("z", ("x", "y"), model="gaussian", rho=rho)])
    zx = special.ndtri(0.8)

    def both_fail(w: float) -> float:
        f = special.ndtr(-(zx - math.sqrt(rho) * w) / math.sqrt(1 - rho))
        return f * f * stats.norm.pdf(w)

    exact = 1 - integrate.quad(both_fail, -12, 12, epsabs=1e-13)[0]
    assert exact < 1 - 0.2**2 - 0.01  # clearly below the independent value
    assert_binomial(run_ok(j, Scenario.declared(), N, 33), N, exact)


def test_partial_gaussian_correlation_can_fall_below_the_pessimistic_bound():
    # Series(x, Any(Series(y, z), w)), four components of a = 0.875 in one gaussian domain.
    # Given the factor W calls are independent with p(W), so A = E[f(p(W))] with
    # f(p) = p·(1 − (1 − p²)(1 − p)); f is concave near a, so mild correlation pushes A below
    # f(a) (independent, the pessimistic end here) although rho = 1 gives a (shared, higher).
    a, rho = 0.875, 0.25
    comps = [comp(x, a, domains=("d",)) for x in "xyzw"]
    root = Series(steps=(Ref("x"), Parallel(branches=(Series(steps=(Ref("y"), Ref("z"))), Ref("w")), join="any")))
    j = journey(root, comps, [Domain("d", tuple("xyzw"), model="gaussian", rho=rho)])
    z = special.ndtri(a)

    def f(p):
        return p * (1 - (1 - p * p) * (1 - p))

    def integrand(w):
        return f(special.ndtr((z - math.sqrt(rho) * w) / math.sqrt(1 - rho))) * stats.norm.pdf(w)

    exact = integrate.quad(integrand, -12, 12, epsabs=1e-13)[0]
    independent, shared = f(a), a
    assert exact < independent < shared
    n = 200_000
    assert_binomial(run_ok(j, Scenario.declared(), n, 37), n, exact)
    res = simulate(j, samples=n, seed=38, correlation="declared", confidence=1 - ALPHA)
    assert res.availability_ci()[1] < independent  # the estimate is below the whole shared-fate range


def test_declared_explicit_matrix_matches_the_trivariate_normal():
    r = ((1.0, 0.5, 0.2), (0.5, 1.0, 0.0), (0.2, 0.0, 1.0))
    comps = [comp("x", 0.9), comp("y", 0.85), comp("z", 0.8)]
    j = journey(Series(steps=(Ref("x"), Ref("y"), Ref("z"))), comps, correlation=CorrelationMatrix(("x", "y", "z"), r))
    zs = special.ndtri([0.9, 0.85, 0.8])
    exact = float(stats.multivariate_normal(mean=np.zeros(3), cov=np.array(r), abseps=1e-7, releps=1e-7).cdf(zs))
    assert_binomial(run_ok(j, Scenario.declared(), N, 34), N, exact)
    # sharing the matrix's connected group turns it into one fate group: min of the three
    assert_binomial(run_ok(j, named_scenario(j, "shared"), N, 35), N, 0.8)


def test_declared_latency_correlation_makes_a_max_the_bivariate_normal():
    rho_l = 0.7
    l1, l2 = D.LogNormal(mu=math.log(0.02), sigma=0.5), D.LogNormal(mu=math.log(0.03), sigma=0.3)
    comps = [comp("x", 1.0, l1, domains=("z",)), comp("y", 1.0, l2, domains=("z",))]
    j = journey(Parallel(branches=(Ref("x"), Ref("y"))), comps, [Domain("z", ("x", "y"), model="gaussian", latency_rho=rho_l)])
    t = times(j, Scenario.declared(), 4000, 36)
    mvn = stats.multivariate_normal(mean=[0, 0], cov=[[1, rho_l], [rho_l, 1]])

    def cdf(x):
        x = np.atleast_1d(x)
        zx = (np.log(x) - l1.mu) / l1.sigma
        zy = (np.log(x) - l2.mu) / l2.sigma
        return mvn.cdf(np.column_stack([zx, zy]))

    assert_ks(t, cdf)


# ----------------------------------------------------------------------------- the paper's numbers


@pytest.mark.parametrize(
    ("scenario", "shared", "published"),
    [
        ("independent", None, 0.99747706),
        ("shared", None, 0.994005),
        ("pessimistic", frozenset({"payment-network"}), 0.99251449),
    ],
)
def test_paper_checkout_intervals_contain_the_published_values(paper_spec, scenario, shared, published):
    j = load_spec(paper_spec)
    res = simulate(j, samples=400_000, seed=2026, correlation=scenario, pessimistic_shared=shared, confidence=1 - ALPHA)
    lo, hi = res.availability_ci()
    assert lo <= published <= hi, (res.availability, lo, hi)


# ----------------------------------------------------------------------------- latency


EXP = D.Exponential(mean_s=0.02)
M = 20_000


def _gamma_cdf(k, mean):
    return lambda x: stats.gamma.cdf(x, k, scale=mean)


def _hedge_cdf(f0, f1, h):
    def cdf(x):
        x = np.asarray(x, dtype=float)
        late = 1 - f0.sf(x) * np.where(x > h, f1.sf(np.maximum(x - h, 0.0)), 1.0)
        return np.where(x > h, late, f0.cdf(x))

    return cdf


def _retry_cdf(f, tau, attempts, waits):
    pt = float(f.cdf(tau))
    weights = np.array([(1 - pt) ** (k - 1) * pt for k in range(1, attempts + 1)])
    weights /= weights.sum()
    offsets = [(k - 1) * tau + sum(waits[: k - 1]) for k in range(1, attempts + 1)]

    def cdf(x):
        x = np.asarray(x, dtype=float)
        return sum(w * np.clip(f.cdf(np.clip(x - o, 0, tau)) / pt, 0, 1) * (x >= o) for w, o in zip(weights, offsets))

    return cdf


L1 = D.LogNormal(mu=math.log(0.03), sigma=0.6)
L2 = D.LogNormal(mu=math.log(0.05), sigma=0.4)
W3 = D.Weibull(shape=1.4, scale=0.04)

# (name, journey with a = 1 unless said, CDF of successful journeys' seconds)
LATENCY = [
    ("series-gamma", journey(Series(steps=(Ref("e"), Ref("f"))), [comp("e", 1.0, EXP), comp("f", 1.0, EXP)]), _gamma_cdf(2, 0.02)),
    ("repeat-gamma", journey(Repeat(step=Ref("e"), count=3), [comp("e", 1.0, EXP)]), _gamma_cdf(3, 0.02)),
    (
        "parallel-all-max",
        journey(Parallel(branches=(Ref("x"), Ref("y"), Ref("w"))), [comp("x", 1.0, L1), comp("y", 1.0, L2), comp("w", 1.0, W3)]),
        lambda x: L1.cdf(x) * L2.cdf(x) * W3.cdf(x),
    ),
    (
        "parallel-any-min",
        journey(Parallel(branches=(Ref("e"), Ref("f")), join="any"), [comp("e", 1.0, EXP), comp("f", 1.0, D.Exponential(mean_s=0.05))]),
        lambda x: stats.expon.cdf(x, scale=1 / (1 / 0.02 + 1 / 0.05)),
    ),
    (
        "quorum-second-of-three",
        journey(Parallel(branches=(Ref("e"), Ref("f"), Ref("g")), join="quorum", k=2), [comp(k, 1.0, EXP) for k in "efg"]),
        lambda x: 3 * EXP.cdf(x) ** 2 * EXP.sf(x) + EXP.cdf(x) ** 3,
    ),
    (
        "race-hedged",
        journey(Race(branches=(Ref("x"), Ref("y")), hedge_delay=0.04), [comp("x", 1.0, L1), comp("y", 1.0, L2)]),
        _hedge_cdf(L1, L2, 0.04),
    ),
    ("timeout-truncates", journey(Timeout(step=Ref("x"), deadline=0.05), [comp("x", 1.0, L1)]), lambda x: np.minimum(L1.cdf(x) / L1.cdf(0.05), 1.0)),
    (
        "retry-per-try-timeout",
        journey(Retry(step=Ref("x"), attempts=3, per_try_timeout=0.04, backoff=Backoff(initial=0.005, multiplier=2.0)), [comp("x", 1.0, L1)]),
        _retry_cdf(L1, 0.04, 3, [0.005, 0.01]),
    ),
    (
        "choice-mixture",
        journey(Choice(branches=(Ref("x"), Ref("y")), weights=(1.0, 3.0)), [comp("x", 1.0, L1), comp("y", 1.0, L2)]),
        lambda x: 0.25 * L1.cdf(x) + 0.75 * L2.cdf(x),
    ),
    (
        "fallback-error-latency",
        journey(Fallback(branches=(Ref("p"), Ref("s"))), [comp("p", 0.6, L1, err=D.Constant(value=0.01)), comp("s", 1.0, L2)]),
        lambda x: (0.6 * L1.cdf(x) + 0.4 * L2.cdf(np.asarray(x) - 0.01)),
    ),
]


@pytest.mark.parametrize(("name", "j", "cdf"), LATENCY, ids=[x[0] for x in LATENCY])
def test_independent_latency_matches_closed_form_cdfs(name, j, cdf):
    assert_ks(times(j, Scenario.independent(), M, seed=41), cdf)


KINDS = [
    D.Gamma.from_mean_cv(0.025, 0.8),
    D.Weibull(shape=0.8, scale=0.03),
    D.Pareto(scale=0.01, alpha=2.0),
    D.Empirical(quantiles=((0.5, 0.02), (0.9, 0.045), (0.99, 0.12), (1.0, 0.9))),
    D.Histogram(buckets=((0.01, 20.0), (0.05, 70.0), (0.1, 95.0), (0.5, 99.5), (math.inf, 100.0))),
    D.Mixture(components=((0.9, D.LogNormal.from_quantiles(0.01, 0.03)), (0.1, D.Exponential(mean_s=0.2)))),
]


@pytest.mark.parametrize("dist", KINDS, ids=lambda d: d.kind)
def test_every_distribution_kind_samples_its_cdf(dist):
    j = journey(Ref("x"), [comp("x", 1.0, dist)])
    assert_ks(times(j, Scenario.independent(), M, seed=42), dist.cdf)


def test_optional_is_an_atom_at_zero_plus_the_step():
    # KS needs a continuous law: test the atom with a binomial test, the rest with KS
    j = journey(Optional(step=Ref("e"), probability=0.3), [comp("e", 1.0, EXP)])
    t = times(j, Scenario.independent(), M, seed=46)
    assert_binomial(int((t == 0).sum()), M, 0.7)
    assert_ks(t[t > 0], EXP.cdf)


def test_fast_errors_take_no_time():
    j = journey(Ref("x"), [comp("x", 0.5, L1, err="fast")])
    t = times(j, Scenario.independent(), M, seed=43, successful=False)
    zero = int((t == 0).sum())
    assert_binomial(zero, M, 0.5)
    assert_ks(t[t > 0], L1.cdf)


def test_quantile_intervals_contain_exact_quantiles():
    j = journey(Series(steps=(Ref("e"), Ref("f"))), [comp("e", 0.95, EXP), comp("f", 0.95, EXP)])
    res = simulate(j, samples=200_000, seed=44, correlation="independent", confidence=1 - ALPHA)
    d = res.to_dict()
    for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)):
        exact = stats.gamma.ppf(q, 2, scale=0.02)
        lo, hi = d["latency"][key]["ci"]
        assert lo <= exact <= hi, (key, exact, lo, hi)
        assert abs(d["latency"][key]["estimate"] - exact) <= hi - lo
    # component p99 is the exponential's: tail amplification is exact p99 ratio up to sampling
    amp = stats.gamma.ppf(0.99, 2, scale=0.02) / EXP.ppf(0.99)
    lo99, hi99 = d["latency"]["p99"]["ci"]
    assert lo99 / EXP.ppf(0.99) <= amp <= hi99 / EXP.ppf(0.99)


def test_tail_attribution_and_birnbaum_on_a_lopsided_series():
    slow = D.LogNormal(mu=math.log(0.2), sigma=0.3)
    fast = D.LogNormal(mu=math.log(0.002), sigma=0.3)
    j = journey(Series(steps=(Ref("s"), Ref("f"))), [comp("s", 0.9, slow), comp("f", 0.8, fast)])
    d = simulate(j, samples=100_000, seed=45, correlation="independent", birnbaum_stride=4).to_dict()
    assert d["tailAttribution"]["s"] == 1.0 and d["tailAttribution"]["f"] == 0.0
    n_b = d["birnbaumSamples"]
    # series: I_B(s) = a_f, I_B(f) = a_s; forcing is coherent here so each difference is 0/1
    for cid, exact in (("s", 0.8), ("f", 0.9)):
        se = math.sqrt(exact * (1 - exact) / n_b)
        assert abs(d["birnbaum"][cid] - exact) < 5 * se
    assert d["callAmplification"]["s"] == 1.0
    assert abs(d["callAmplification"]["f"] - 0.9) < 5 * math.sqrt(0.09 / 100_000)


# ----------------------------------------------------------------------------- against the analytic layer


ANALYTIC_CASES = [x for x in INDEPENDENT] + [(f"shared-{x[0]}", x[1], None) for x in SHARED]


@pytest.mark.parametrize(("name", "j", "_exact"), ANALYTIC_CASES, ids=[x[0] for x in ANALYTIC_CASES])
def test_independent_shared_pessimistic_match_the_analytic_values(name, j, _exact):
    for k, scen in enumerate(("independent", "shared", "pessimistic")):
        shared = frozenset(an.pessimistic_shared(j)) if scen == "pessimistic" else None
        scenario = named_scenario(j, scen, shared)
        exact = an.scenario_availability(j, scenario)
        assert exact is not None
        assert_binomial(run_ok(j, scenario, N, seed=50 + k), N, exact)


def test_declared_matches_the_analytic_declared_value():
    cases = [
        journey(
            Parallel(branches=(Series(steps=(Ref("p"), Ref("q"))), Ref("r")), join="any"),
            [comp("p", 0.95, domains=("dc", "z")), comp("q", 0.9, domains=("dc",)), comp("r", 0.85, domains=("z",))],
            [Domain("dc", ("p", "q"), model="shock", probability=0.02), Domain("z", ("p", "r"), model="gaussian", rho=0.4)],
        ),
        load_spec(__import__("pathlib").Path(__file__).resolve().parents[1] / "configs" / "checkout.yaml"),
    ]
    for k, j in enumerate(cases):
        exact = an.bounds(j).availability.declared
        assert exact is not None
        n = 200_000
        assert_binomial(run_ok(j, Scenario.declared(), n, seed=60 + k), n, exact)


def test_latency_quantiles_match_the_analytic_grid():
    j = load_spec(__import__("pathlib").Path(__file__).resolve().parents[1] / "configs" / "checkout.yaml")
    exact = an.latency_quantiles(j, "independent")
    disc = an.bounds(j).latency.discretisation_error
    d = simulate(j, samples=300_000, seed=70, correlation="independent", confidence=1 - ALPHA).to_dict()
    for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)):
        lo, hi = d["latency"][key]["ci"]
        assert lo - disc <= exact[q] <= hi + disc, (key, exact[q], lo, hi, disc)


def test_birnbaum_and_call_amplification_match_the_analytic_values():
    j = load_spec(__import__("pathlib").Path(__file__).resolve().parents[1] / "configs" / "checkout.yaml")
    n = 200_000
    d = simulate(j, samples=n, seed=71, correlation="independent", birnbaum_stride=2).to_dict()
    ib = an.birnbaum_importance(j)
    amp = an.call_amplification(j)
    n_b = d["birnbaumSamples"]
    for cid in ib:
        p = ib[cid]
        se = math.sqrt(max(p * (1 - p), 1 / n_b) / n_b)
        assert abs(d["birnbaum"][cid] - p) < 5 * se, (cid, d["birnbaum"][cid], p)
        se_calls = 0.5 / math.sqrt(n)  # calls per journey are 0/1 here: variance ≤ 1/4
        assert abs(d["callAmplification"][cid] - amp[cid]) < 5 * se_calls, (cid, d["callAmplification"][cid], amp[cid])
