"""Latency tails by exponential tilting (issue 18): exact likelihood ratios against closed-form
tails, far quantiles, reproducibility, the command line, and interval coverage (verification)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import special, stats

from emac_sim import load_spec
from emac_sim.engine import simulate
from emac_sim.engine.tails import scale_factor, simulate_tail
from emac_sim.model.scenario import Scenario

_HEAD = """apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {{name: {name}}}
spec:
  objectives: {{availability: {{window: 30d, target: 0.9}}}}
"""

#: One lognormal call (failures take the same latency, so T is lognormal for every request).
LOGNORMAL = (
    _HEAD.format(name="ln")
    + """  operator: {ref: a}
  components:
    a: {availability: 0.999, latency: {dist: lognormal, p50: 10ms, p99: 50ms}}
"""
)

#: One gamma call of shape 4 (scale 2.5 ms).
GAMMA = (
    _HEAD.format(name="gamma")
    + """  operator: {ref: a}
  components:
    a: {availability: 0.999, latency: {dist: gamma, mean: 10ms, cv: 0.5}}
"""
)

#: Two exponential calls in series (means 10 ms and 20 ms): P(T > t) = 2·e^(−50t) − e^(−100t).
SERIES = (
    _HEAD.format(name="series")
    + """  operator:
    type: series
    steps: [{ref: a}, {ref: b}]
  components:
    a: {availability: 0.999, latency: {dist: exponential, mean: 10ms}}
    b: {availability: 0.999, latency: {dist: exponential, mean: 20ms}}
"""
)

#: Two lognormal calls in parallel (all) in one latency domain (latencyRho 0.5): T is the larger,
#: P(T > t) = 1 − Φ₂(a, a; 0.5) with a = (ln t − μ)/σ.
LATENT = (
    _HEAD.format(name="latent")
    + """  operator:
    type: parallel
    join: all
    branches: [{ref: a}, {ref: b}]
  components:
    a: {availability: 0.999, latency: {dist: lognormal, p50: 10ms, p99: 50ms}, failureDomains: [zone]}
    b: {availability: 0.999, latency: {dist: lognormal, p50: 10ms, p99: 50ms}, failureDomains: [zone]}
  failureDomains:
    rules:
      - name: zone
        correlation: {model: gaussian, rho: 0.1, latencyRho: 0.5}
"""
)


def _write(tmp_path, name: str, text: str):
    p = tmp_path / f"{name}.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def _sf_factory(name: str, j):
    """The exact P(T > t) of the test journey ``name``."""
    if name == "series":
        return lambda t: 2.0 * math.exp(-50.0 * t) - math.exp(-100.0 * t)
    lat = j.components[0].latency
    if name == "gamma":
        return lambda t: float(stats.gamma.sf(t, lat.shape, scale=lat.scale))
    if name == "latent":
        cov = [[1.0, 0.5], [0.5, 1.0]]
        return lambda t: 1.0 - float(stats.multivariate_normal.cdf([(math.log(t) - lat.mu) / lat.sigma] * 2, mean=[0, 0], cov=cov))
    return lambda t: float(stats.lognorm.sf(t, lat.sigma, scale=math.exp(lat.mu)))


def _threshold(sf, p: float) -> float:
    """The t with sf(t) = p (bisection on a log scale)."""
    lo, hi = 1e-4, 100.0
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if sf(mid) > p else (lo, mid)
    return math.sqrt(lo * hi)


JOURNEYS = {"lognormal": LOGNORMAL, "gamma": GAMMA, "series": SERIES, "latent": LATENT}
Z45 = 4.5
CONF45 = float(2.0 * special.ndtr(Z45) - 1.0)  # the coverage of a ±4.5 s.e. interval


def test_scale_factor_moves_the_median_to_the_nominal_quantile():
    """k(θ) puts the tilted law's median at the nominal Φ(θ) quantile (exponential: closed form)."""
    assert scale_factor(1.0, 0.0) == 1.0
    th = 3.0
    assert scale_factor(1.0, th) == pytest.approx(-math.log(special.ndtr(-th)) / math.log(2.0), rel=1e-10)
    a = 4.0
    k = scale_factor(a, th)
    assert stats.gamma.ppf(0.5, a) * k == pytest.approx(stats.gamma.isf(special.ndtr(-th), a), rel=1e-8)


@pytest.mark.parametrize(
    ("name", "level", "rel_se"), [("lognormal", 1e-6, 0.05), ("gamma", 1e-6, 0.05), ("series", 1e-6, 0.05), ("latent", 1e-5, 0.2)]
)
def test_exceedance_matches_the_closed_form(tmp_path, name, level, rel_se):
    """P(T > t) at a far level: within 4.5 of the estimator's own standard errors of the closed
    form (probability ~7e-6 for an unbiased estimator; fixed seed), and tilting actually helps:
    relative standard error under ``rel_se`` with 32,768 requests, where plain sampling would
    need 1/(level·rel_se²) ≥ 2.5e6. The maximum of two correlated calls (``latent``) is the weak
    case of one common tilt: shifting both latents when one slow call suffices costs weight
    variance (relative variance ~200 per request against ~5 for one call)."""
    j = load_spec(_write(tmp_path, name, JOURNEYS[name]))
    sf = _sf_factory(name, j)
    t = _threshold(sf, level)
    r = simulate_tail(j, Scenario.declared(), samples=32768, seed=7, exceed=t)
    e = r.exceed[0]
    exact = sf(t)
    assert abs(e.probability - exact) <= Z45 * e.std_error, (e, exact)
    assert e.std_error < rel_se * exact
    assert r.runs[0].theta > 0 and r.warnings == ()
    assert e.max_weight_share < 0.5 and e.ess > 30
    assert e.ci[0] <= e.probability <= e.ci[1]


def test_far_quantiles_of_two_exponentials_in_series(tmp_path):
    """p99.99 and p99.999 of the hypoexponential: the ±4.5 s.e. bucket-edge interval contains the
    exact quantile, the point estimate is the bucket edge right above the estimated crossing, and
    the exceedance at that edge agrees with the closed form."""
    j = load_spec(_write(tmp_path, "series", SERIES))
    sf = _sf_factory("series", j)
    r = simulate_tail(j, Scenario.declared(), samples=32768, seed=3, quantiles=(0.9999, 0.99999), confidence=CONF45)
    for q in r.quantiles:
        exact_q = _threshold(sf, 1.0 - q.q)
        assert q.seconds is not None and q.ci[1] is not None
        assert q.ci[0] < exact_q <= q.ci[1], (q, exact_q)
        assert (q.ci[1] - q.ci[0]) / exact_q < 0.05  # a few buckets wide
        at = q.at
        assert at is not None and at.probability <= 1.0 - q.q
        assert abs(at.probability - sf(q.seconds)) <= Z45 * at.std_error


def test_same_seed_same_bytes_for_any_number_of_workers(tmp_path):
    j = load_spec(_write(tmp_path, "series", SERIES))
    kw = {"samples": 4 * 8192, "seed": 5, "method": "importance", "exceed": 0.25, "tail_quantiles": (0.9999, 0.99999)}
    one = simulate(j, workers=1, **kw).to_dict()
    two = simulate(j, workers=2, **kw).to_dict()
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
    assert set(one["tail"]) >= {"runs", "exceedance", "quantiles", "warnings"}
    assert [r["target"] for r in one["tail"]["runs"]] == ["P(T > 0.25s)", "p99.999"]
    assert [q["name"] for q in one["tail"]["quantiles"]] == ["p99.99", "p99.999"]
    other = simulate(j, workers=2, **{**kw, "seed": 6}).to_dict()
    assert other["tail"]["exceedance"][0]["probability"] != one["tail"]["exceedance"][0]["probability"]


def test_target_rel_stops_the_threshold_run_at_a_block_boundary(tmp_path):
    j = load_spec(_write(tmp_path, "series", SERIES))
    r = simulate_tail(j, Scenario.declared(), samples=10**6, seed=4, exceed=0.29, target_rel=0.1)
    e, n = r.exceed[0], r.runs[0].merged.samples
    assert n < 10**6 and n % 8192 == 0
    assert (e.ci[1] - e.ci[0]) / 2 <= 0.1 * e.probability and e.exceeding >= 100


def test_untilted_samplers_stay_plain(tmp_path):
    """A constant-latency journey has nothing to tilt: weights are 1 and a warning says so."""
    text = (
        _HEAD.format(name="const")
        + """  operator: {ref: a}
  components:
    a: {availability: 0.999, latency: {dist: constant, value: 10ms}}
"""
    )
    j = load_spec(_write(tmp_path, "const", text))
    r = simulate_tail(j, Scenario.declared(), samples=8192, seed=1, exceed=0.005, theta=3.0)
    assert r.exceed[0].probability == 1.0 and r.exceed[0].std_error == 0.0
    assert any("no latency draw" in w for w in r.warnings)


# --------------------------------------------------------------------------- command line


def test_exceed_and_tail_from_the_command_line(cli, tmp_path):
    path = _write(tmp_path, "series", SERIES)
    r = cli("simulate", path, "--method", "importance", "--exceed", "290ms", "--tail", "--samples", "16384", "--format", "json")
    assert r.exit_code == 0, r
    d = json.loads(r.stdout)
    x = d["tail"]["exceedance"][0]
    assert x["seconds"] == pytest.approx(0.29)
    exact = 2.0 * math.exp(-50.0 * 0.29) - math.exp(-100.0 * 0.29)
    assert abs(x["probability"] - exact) <= Z45 * x["stdError"]
    assert [q["name"] for q in d["tail"]["quantiles"]] == ["p99.99", "p99.999"]
    text = cli("simulate", path, "--method", "importance", "--tail", "--samples", "8192")
    assert text.exit_code == 0 and "p99.999" in text.stdout and "exponential tilting" in text.stdout
    plain = json.loads(cli("simulate", path, "--method", "importance", "--samples", "8192", "--format", "json").stdout)
    assert "tail" not in plain


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--method", "importance", "--exceed", "soon"], "emac simulate: --exceed: malformed duration 'soon'"),
        (["--method", "importance", "--exceed", "0s"], "emac simulate: --exceed: must be a positive duration such as 2s, got '0s'"),
        (["--exceed", "2s"], "emac simulate: --exceed: latency tails need --method importance"),
        (["--tail"], "emac simulate: --tail: latency tails need --method importance"),
        (["--method", "auto", "--tail"], "emac simulate: --tail: latency tails need --method importance"),
    ],
)
def test_bad_tail_options_are_one_line_errors(cli, tmp_path, args, needle):
    r = cli("simulate", _write(tmp_path, "series", SERIES), *args)
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr, r.stderr
    assert r.stdout == ""


# --------------------------------------------------------------------------- verification


SEEDS = 200


def _acceptance(n: int, p: float = 0.95, alpha: float = 1e-3) -> tuple[int, int]:
    """Counts of covering intervals a procedure of exact coverage ``p`` reaches with probability
    ≥ 1 − alpha (equal tails) over ``n`` runs."""
    return int(stats.binom.ppf(alpha / 2, n, p)), int(stats.binom.isf(alpha / 2, n, p))


@pytest.mark.verification
def test_tail_intervals_cover_the_closed_form(tmp_path):
    """Over 200 seeds on a lognormal call at 1e-5, two exponentials in series at 1e-6 and the
    maximum of two latency-correlated lognormal calls at 1e-5 (each run tunes its own tilt and
    mixture on its own pilot), the 95 % intervals of P(T > t) cover the closed form a number of
    times inside the two-sided α = 1e-3 binomial acceptance region of a procedure of exact 95 %
    coverage (183–199 of 200). Observed with these seeds: 190, 189 and 184 of 200; the correlated
    maximum, whose weights are the most skewed, covers least (0.92)."""
    lo_ok, hi_ok = _acceptance(SEEDS)
    report = []
    for name, level in (("lognormal", 1e-5), ("series", 1e-6), ("latent", 1e-5)):
        j = load_spec(_write(tmp_path, name, JOURNEYS[name]))
        sf = _sf_factory(name, j)
        t = _threshold(sf, level)
        exact = sf(t)
        covered, rel = 0, []
        for seed in range(SEEDS):
            e = simulate_tail(j, Scenario.declared(), samples=16384, seed=2000 + seed, exceed=t).exceed[0]
            covered += e.ci[0] <= exact <= e.ci[1]
            rel.append(e.probability / exact - 1.0)
        report.append(f"{name}: P={exact:.3g} coverage {covered}/{SEEDS} = {covered / SEEDS:.3f}; mean relative error {np.mean(rel):+.4f}")
        assert lo_ok <= covered <= hi_ok, report[-1]
    print("\n".join(report))
