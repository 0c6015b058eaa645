"""The ``cache`` operator (issue 14): a read-through cache in front of a backing step.

Independent availability ``a_c·h + (1 − a_c·h)·A_step``, exact in ``emac bounds``; Monte Carlo
agrees within its interval on its own and nested under retry and race; latency is the cache
call's on a hit and the cache call's plus the step's otherwise; bad specs get one-line errors
with did-you-mean suggestions.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emac_sim.analytic import bounds
from emac_sim.cli import app
from emac_sim.engine import simulate
from emac_sim.kernels.histogram import bucket_index
from emac_sim.model import distributions as D
from emac_sim.model.journey import Component, Journey, Ref
from emac_sim.operators import Cache, Race, Retry
from emac_sim.reference import simulate_requests
from emac_sim.spec import load_spec

A_C, H, A_D, A_E = 0.95, 0.8, 0.9, 0.7
HIT = A_C * H


def _journey(root, latency: bool = False) -> Journey:
    def lat(ms: float):
        return D.Constant(value=ms / 1e3) if latency else None

    comps = (
        Component("redis", A_C, lat(1.0)),
        Component("db", A_D, lat(10.0)),
        Component("replica", A_E, lat(20.0)),
    )
    used = set(root.refs())
    return Journey(name="cached", root=root, components=tuple(c for c in comps if c.id in used))


CACHED = Cache("redis", H, Ref("db"))
ALONE = HIT + (1 - HIT) * A_D


@pytest.mark.parametrize(
    ("root", "exact"),
    [
        (CACHED, ALONE),
        (Retry(step=CACHED, attempts=3), 1 - (1 - ALONE) ** 3),
        (Race(branches=(CACHED, Ref("replica"))), 1 - (1 - ALONE) * (1 - A_E)),
    ],
    ids=["alone", "under-retry", "under-race"],
)
def test_availability_is_exact_and_monte_carlo_agrees(root, exact: float) -> None:
    j = _journey(root)
    a = bounds(j).availability
    assert a.independent == pytest.approx(exact, abs=1e-15)
    lo, hi = a.dependence_free
    assert lo <= exact <= hi
    n = 200_000
    res = simulate(j, samples=n, seed=21, correlation="independent", details=False)
    assert abs(res.availability - exact) <= 5 * math.sqrt(exact * (1 - exact) / n)


def test_hits_take_the_cache_latency_and_misses_add_the_step() -> None:
    j = _journey(CACHED, latency=True)
    n = 200_000
    res = simulate(j, samples=n, seed=5, correlation="independent", details=False)
    hist = res.counts.hist_ok
    fast = int(hist[bucket_index(0.001)])  # a hit: the 1 ms cache call alone
    slow = int(hist[bucket_index(0.011)])  # a miss or a failed cache call: 1 ms + 10 ms
    assert fast + slow == res.counts.ok
    p = HIT / ALONE  # P(hit | ok)
    assert abs(fast / res.counts.ok - p) <= 5 * math.sqrt(p * (1 - p) / res.counts.ok)
    # the analytic grid puts the same atoms at the same places
    b = bounds(j)
    assert b.quantile("p50").independent == pytest.approx(0.001, abs=2e-4)
    assert b.quantile("p99").independent == pytest.approx(0.011, abs=2e-4)


def test_the_reference_records_the_cache_call_and_a_miss_runs_the_step() -> None:
    j = _journey(CACHED, latency=True)
    reqs = simulate_requests(j, 2_000, seed=3, correlation="independent")
    for r in reqs:
        names = [c.component for c in r.calls]
        assert names[0] == "redis"
        hit = r.calls[0].ok and names == ["redis"]
        assert names == (["redis"] if hit else ["redis", "db"])
        assert r.t == pytest.approx(0.001 if hit else 0.011)
    hits = sum(1 for r in reqs if [c.component for c in r.calls] == ["redis"])
    assert abs(hits / len(reqs) - HIT) <= 5 * math.sqrt(HIT * (1 - HIT) / len(reqs))


SPEC = """apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {{name: cached}}
spec:
  operator: {operator}
  components: {{redis: {{availability: 0.95}}, db: {{availability: 0.9}}}}
"""


def _check(tmp_path: Path, operator: str) -> tuple[int, str]:
    path = tmp_path / "cached.yaml"
    path.write_text(SPEC.format(operator=operator))
    r = CliRunner().invoke(app, ["check", str(path)])
    return r.exit_code, r.stderr.strip()


@pytest.mark.parametrize(
    ("operator", "message"),
    [
        (
            "{type: cache, ref: redis, hitRatoi: 0.8, step: {ref: db}}",
            "spec.operator.hitRatoi: unknown key 'hitRatoi' (did you mean 'hitRatio'?)",
        ),
        (
            "{type: cache, ref: redsi, hitRatio: 0.8, step: {ref: db}}",
            "spec.operator.ref: ref to undefined component 'redsi' (did you mean 'redis'?)",
        ),
        ("{type: cache, ref: redis, hitRatio: 1.5, step: {ref: db}}", "spec.operator.hitRatio: must be a probability in [0, 1], got 1.5"),
        ("{type: cache, ref: redis, step: {ref: db}}", "spec.operator: cache needs 'hitRatio'"),
        ("{type: cache, ref: redis, hitRatio: 0.8}", "spec.operator: cache needs 'step'"),
        ("{type: cahce, ref: redis, hitRatio: 0.8, step: {ref: db}}", "spec.operator.type: unknown operator type 'cahce' (did you mean 'cache'?)"),
    ],
)
def test_bad_cache_specs_are_one_line_with_did_you_mean(tmp_path: Path, operator: str, message: str) -> None:
    code, err = _check(tmp_path, operator)
    assert code == 2
    assert err == f"{tmp_path / 'cached.yaml'}: {message}"


def test_a_cache_spec_loads_and_prints_its_expression(tmp_path: Path) -> None:
    path = tmp_path / "cached.yaml"
    path.write_text(SPEC.format(operator="{type: cache, ref: redis, hitRatio: 0.8, step: {ref: db}}"))
    j = load_spec(path)
    assert j.root == CACHED and str(j.root) == "Cache(redis, 0.8, db)"
