"""Importance sampling for rare failures (issue 18): exact weights, unbiasedness, reproducibility,
early stopping, the degeneracy diagnostic, the command line, and interval coverage (verification)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from rare_journeys import FATE, LEDGER, RARE, SHOCK, one, write
from scipy import stats

from emac_sim import load_spec
from emac_sim.analytic.availability import scenario_availability
from emac_sim.analytic.scenarios import resolve_scenario
from emac_sim.engine import simulate
from emac_sim.engine.importance import Biasing, compile_importance, run_importance_block, weighted_estimate
from emac_sim.model.scenario import Scenario

LEDGER_PATH = Path(__file__).resolve().parents[1] / "configs" / "ledger-7nines.yaml"
LEDGER_EXACT = 4.670053e-7  # the exact unavailability of the seven-nines journey


def _exact_unavailability(path: Path, scenario: str) -> float:
    j = load_spec(path)
    sc, _ = resolve_scenario(j, scenario)
    a = scenario_availability(j, sc)
    assert a is not None
    return 1.0 - a


def test_weights_are_the_exact_likelihood_ratios_on_one_component(tmp_path):
    """One component, own failure probability p, biased to q: a failed request weighs p/q and a
    successful one (1 − p)/(1 − q), so every sum of the block is known from its failure count."""
    j = load_spec(write(tmp_path, "one", one(0.99)))
    compiled, lay = compile_importance(j, Scenario.declared())
    p = float(1.0 - lay.own_a[0])
    q = 0.25
    b = Biasing.nominal(lay)
    biased = Biasing(np.array([q]), b.nu, b.mu, b.qg, b.qs, b.nb, b.mb)
    n = 20_000
    res = run_importance_block(compiled.kernel, biased.vector(lay), 5, (0,), n)
    k = res.failures
    # the biased failure count is Binomial(n, q): within 5 standard deviations
    assert abs(k - n * q) < 5 * math.sqrt(n * q * (1 - q))
    wf, wo = p / q, (1 - p) / (1 - q)
    assert res.sums[2] == pytest.approx(k * wf, rel=1e-12)
    assert res.sums[3] == pytest.approx(k * wf * wf, rel=1e-12)
    assert res.sums[0] == pytest.approx(k * wf + (n - k) * wo, rel=1e-12)
    assert res.sums[1] == pytest.approx(k * wf * wf + (n - k) * wo * wo, rel=1e-12)
    assert res.sums[5] == pytest.approx(wf, rel=1e-12)
    assert res.samples == n
    # and the nominal biasing weighs every request 1
    plain = run_importance_block(compiled.kernel, b.vector(lay), 5, (0,), n)
    assert plain.sums[0] == n and plain.sums[2] == plain.failures


@pytest.mark.parametrize(
    ("name", "text", "scenario"),
    [("ledger", LEDGER, "declared"), ("shock", SHOCK, "declared"), ("fate", FATE, "shared")],
    ids=["ledger", "shock", "fate"],
)
def test_estimate_is_unbiased_against_the_analytic_value(tmp_path, name, text, scenario):
    """Gaussian factors (ledger), shocks under retries (shock), fate groups (fate, shared): the
    weighted estimate lies within 5 of its standard errors of the exact unavailability (a CLT
    event of probability ~6e-7 for an unbiased estimator; fixed seed)."""
    path = write(tmp_path, name, text)
    exact = _exact_unavailability(path, scenario)
    r = simulate(load_spec(path), samples=65536, seed=11, correlation=scenario, method="importance", workers=1)
    d = r.to_dict()
    u = d["availability"]["unavailability"]
    assert abs(u["estimate"] - exact) <= 5 * u["stdError"], (u, exact)
    assert u["stdError"] < 0.1 * exact  # and importance sampling actually helps
    assert d["warnings"] == []
    assert d["availability"]["estimate"] == pytest.approx(1 - u["estimate"], abs=1e-15)
    lo, hi = d["availability"]["ci"]
    assert lo <= d["availability"]["estimate"] <= hi


def test_same_seed_same_bytes_for_any_number_of_workers():
    j = load_spec(LEDGER_PATH)
    one_worker = simulate(j, samples=4 * 8192, seed=3, method="importance", workers=1).to_dict()
    two_workers = simulate(j, samples=4 * 8192, seed=3, method="importance", workers=2).to_dict()
    assert json.dumps(one_worker, sort_keys=True) == json.dumps(two_workers, sort_keys=True)
    other = simulate(j, samples=4 * 8192, seed=4, method="importance", workers=2).to_dict()
    assert other["availability"]["estimate"] != one_worker["availability"]["estimate"]


def test_target_rel_stops_at_a_block_boundary():
    j = load_spec(LEDGER_PATH)
    r = simulate(j, samples=10**6, seed=2, method="importance", target_rel=0.1)
    d = r.to_dict()
    u = d["availability"]["unavailability"]
    assert d["samples"] < 10**6 and d["samples"] % 8192 == 0
    assert d["importance"]["targetReached"] is True and d["importance"]["targetRel"] == 0.1
    assert (u["ci"][1] - u["ci"][0]) / 2 <= 0.1 * u["estimate"]
    # one block earlier the target was not met (the run stopped at the first block that met it)
    if d["blocks"] > 1:
        shorter = simulate(j, samples=d["samples"] - 8192, seed=2, method="importance").to_dict()["availability"]
        v = shorter["unavailability"]
        assert (v["ci"][1] - v["ci"][0]) / 2 > 0.1 * v["estimate"] or shorter["failures"] < 100


def test_degenerate_biasing_is_flagged():
    """A pure factor shift (β = 1, no defensive part) far beyond the failure region (μ = 8 where ~3
    is right) gives log-normal weights with σ = 8: a handful of requests carry the estimate, and
    the diagnostic says so."""
    from emac_sim.engine.importance import simulate_importance

    j = load_spec(LEDGER_PATH)
    _, lay = compile_importance(j, Scenario.declared())
    tuned = Biasing.level(lay, 0.2)
    bad = Biasing(tuned.q, np.zeros_like(tuned.nu), np.array([8.0]), tuned.qg, tuned.qs, np.zeros_like(tuned.nb), np.array([1.0]))
    r = simulate_importance(j, Scenario.declared(), samples=8192, seed=1, biasing=bad)
    d = r.to_dict()
    assert d["warnings"] and all(w.startswith("weight degeneracy") for w in d["warnings"])
    assert d["availability"]["effectiveSampleSize"] < 30 or d["importance"]["maxWeightShare"] > 0.5


def test_weighted_estimate_without_failures_warns():
    j = load_spec(LEDGER_PATH)
    compiled, lay = compile_importance(j, Scenario.declared())
    res = run_importance_block(compiled.kernel, Biasing.nominal(lay).vector(lay), 1, (0,), 4096)
    w = weighted_estimate(res)
    assert res.failures == 0 and w.unavailability == 0.0
    assert w.warnings() == ["importance sampling saw no failure: the estimate 0 and its interval cannot be trusted"]


# --------------------------------------------------------------------------- command line


def test_seven_nines_journey_from_the_command_line(cli):
    r = cli("simulate", LEDGER_PATH, "--method", "importance", "--target-rel", "0.1", "--seed", "1", "--format", "json")
    assert r.exit_code == 0, r
    d = json.loads(r.stdout)
    u = d["availability"]["unavailability"]
    assert u["ci"][0] <= LEDGER_EXACT <= u["ci"][1]
    assert abs(u["estimate"] / LEDGER_EXACT - 1) <= 0.15
    assert d["availability"]["method"] == "importance"
    assert d["latency"] is None and d["importance"]["ceIterations"] >= 1
    assert set(d["importance"]["biasing"]["components"]) == {"gateway", "store-a", "store-b", "quorum-east", "quorum-west"}
    assert r.stderr == ""
    text = cli("simulate", LEDGER_PATH, "--method", "importance", "--target-rel", "0.1", "--seed", "1")
    assert text.exit_code == 0 and "unavailability: " in text.stdout and "effective sample size" in text.stdout


def test_auto_picks_importance_only_for_rare_failures(cli):
    rare = json.loads(cli("simulate", LEDGER_PATH, "--method", "auto", "--samples", "1e5", "--format", "json").stdout)
    assert rare["availability"]["method"] == "importance"
    assert any(n.startswith("method auto: importance") for n in rare["notes"])
    common = json.loads(cli("simulate", LEDGER_PATH.parent / "login.yaml", "--method", "auto", "--samples", "1e5", "--format", "json").stdout)
    assert "method" not in common["availability"] and "importance" not in common and "warnings" not in common
    assert any(n.startswith("method auto: plain") for n in common["notes"])


def test_plain_json_gains_no_importance_keys(cli):
    d = json.loads(cli("simulate", LEDGER_PATH, "--samples", "1e4", "--format", "json").stdout)
    assert set(d["availability"]) == {"estimate", "ci", "failures"}
    assert "importance" not in d and "warnings" not in d


def test_degeneracy_warning_reaches_stderr_and_json(cli, tmp_path, monkeypatch):
    import emac_sim.engine.importance as imp

    def bad_tune(src, seed, **kw):
        lay = src.bias
        t = imp.Biasing.level(lay, 0.2)
        return imp.Tuning(imp.Biasing(t.q, np.zeros_like(t.nu), np.array([8.0]), t.qg, t.qs, np.zeros_like(t.nb), np.array([1.0])), 0.2, 0, 0, 0.0)

    monkeypatch.setattr(imp, "tune", bad_tune)
    r = cli("simulate", LEDGER_PATH, "--method", "importance", "--samples", "8192", "--format", "json")
    assert r.exit_code == 0, r
    d = json.loads(r.stdout)
    assert d["warnings"]
    lines = r.stderr.strip().splitlines()
    assert lines and all(line.startswith("warning: weight degeneracy") for line in lines)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--method", "magic"], "--method"),
        (["--target-rel", "2"], "emac simulate: --target-rel: must be a relative half-width in (0, 1), got 2"),
        (["--target-rel", "0"], "emac simulate: --target-rel: must be a relative half-width in (0, 1), got 0"),
        (["--target-rel", "-0.1"], "emac simulate: --target-rel: must be a relative half-width in (0, 1), got -0.1"),
        (["--backend", "cuda", "--method", "importance"], "emac simulate: --backend: cuda runs plain Monte Carlo only"),
        (["--backend", "cuda", "--target-rel", "0.1"], "emac simulate: --backend: cuda runs plain Monte Carlo only"),
    ],
)
def test_bad_method_options_are_one_line_errors(cli, args, needle):
    r = cli("simulate", LEDGER_PATH, *args)
    assert r.exit_code == 2
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr
    assert r.stdout == ""


def test_validate_passes_the_method_through(cli):
    r = cli("validate", LEDGER_PATH, "--method", "importance", "--samples", "16384", "--format", "json")
    assert r.exit_code == 0, r
    d = json.loads(r.stdout)
    assert d["specs"][0]["status"] == "pass"


# --------------------------------------------------------------------------- verification


SEEDS = 200


def _acceptance(n: int, p: float = 0.95, alpha: float = 1e-3) -> tuple[int, int]:
    """Counts of covering intervals a procedure of exact coverage ``p`` reaches with probability
    ≥ 1 − alpha (equal tails) over ``n`` runs."""
    return int(stats.binom.ppf(alpha / 2, n, p)), int(stats.binom.isf(alpha / 2, n, p))


@pytest.mark.verification
def test_importance_intervals_cover_the_exact_value(tmp_path):
    """Over 200 seeds on each of three rare journeys (exact values from the analytic layer), the
    95 % intervals cover: pooled over the 600 runs within 93–97 % (the issue's range; for a
    procedure of exact 95 % coverage the pooled rate has standard deviation 0.89 %, so the range
    is ±2.25 s.d.), and per journey within the two-sided α = 1e-3 binomial acceptance region of
    200 runs at 95 % (183–199 covering: 200 runs cannot resolve 93–97 % on their own)."""
    lo_ok, hi_ok = _acceptance(SEEDS)
    covered_total = 0
    report = []
    for name, text, scenario in RARE:
        path = write(tmp_path, name, text)
        exact = _exact_unavailability(path, scenario)
        j = load_spec(path)
        covered = 0
        rel = []
        for seed in range(SEEDS):
            r = simulate(j, samples=16384, seed=1000 + seed, correlation=scenario, method="importance", workers=1)
            u = r.to_dict()["availability"]["unavailability"]
            covered += u["ci"][0] <= exact <= u["ci"][1]
            rel.append(u["estimate"] / exact - 1)
        covered_total += covered
        report.append(f"{name}: U={exact:.4g} coverage {covered}/{SEEDS} = {covered / SEEDS:.3f}; mean relative error {np.mean(rel):+.4f}")
        assert lo_ok <= covered <= hi_ok, report[-1]
    rate = covered_total / (SEEDS * len(RARE))
    print("\n".join([*report, f"pooled coverage {rate:.4f}"]))
    assert 0.93 <= rate <= 0.97, report
