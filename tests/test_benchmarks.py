"""Smoke and agreement tests of the benchmark suite (``benchmarks/``, issue 8).

No wall-clock assertions: the tests check that the baselines implement the same journeys as
the engine (exactly where the routes are deterministic, within intervals where they sample),
that the hand-written kernel reproduces the engine draw for draw, and that the report machinery
runs end to end at tiny sizes.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `benchmarks` is a top-level package of the checkout, not installed
    sys.path.insert(0, str(REPO))

from benchmarks import baselines as B  # noqa: E402
from benchmarks import journeys as J  # noqa: E402
from benchmarks import run as R  # noqa: E402
from benchmarks import run_child  # noqa: E402
from emac_sim.engine import simulate  # noqa: E402
from emac_sim.model.distributions import Constant, LogNormal  # noqa: E402
from emac_sim.model.journey import Backoff, Component, Journey, Parallel, Race, Ref, Retry, Series, Timeout  # noqa: E402

# --------------------------------------------------------------------------- journeys


@pytest.mark.parametrize("leaves", [1, 2, 3, 4, 5, 6, 7, 10, 30, 101])
def test_staged_journey_has_exactly_the_requested_leaves(leaves: int) -> None:
    j = J.staged_journey(leaves)
    refs = list(j.root.refs())
    assert len(refs) == leaves == len(j.components) == len(set(refs))


def test_thirty_leaf_journey_has_retries_and_hedges() -> None:
    j = J.retry_hedge_30()
    ops = [n.op for n in j.root.walk()]
    assert ops.count("race") == 5 and ops.count("retry") == 30 and ops.count("parallel") == 5
    assert all(n.hedge_delay == J.HEDGE_DELAY for n in j.root.walk() if isinstance(n, Race))
    assert J.staged_journey(30, seed=0) == j  # deterministic


# --------------------------------------------------------------------------- hand kernel


def test_hand_kernel_agrees_with_the_engine_in_distribution() -> None:
    from benchmarks import bench_engine as E
    from emac_sim.core.histogram import N_BUCKETS
    from emac_sim.core.intervals import histogram_quantile

    j = J.checkout_lognormal()
    n = 400_000
    h_ok, h_all = np.zeros(N_BUCKETS, np.int64), np.zeros(N_BUCKETS, np.int64)
    ok = E.checkout_by_hand(n, np.random.default_rng(3), *E.hand_arguments(j), h_ok, h_all)
    res = simulate(j, samples=n, seed=3, details=False)
    # two independent binomial estimates of one availability: 5σ of their difference
    p = res.availability
    assert abs(ok / n - p) <= 5 * math.sqrt(p * (1 - p) * 2 / n)
    hand_p99 = histogram_quantile(h_ok, 0.99, 0.999)
    eng_p99 = histogram_quantile(res.counts.hist_ok, 0.99, 0.999)
    assert hand_p99.ci[0] <= eng_p99.ci[1] and eng_p99.ci[0] <= hand_p99.ci[1]


# --------------------------------------------------------------------------- deterministic semantics


def _const(cid: str, seconds: float, availability: float = 1.0) -> Component:
    return Component(cid, availability, Constant(seconds))


def _both(journey: Journey, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return [B.NumpyJourney(journey).outcomes(n, 3), B.SimPyJourney(journey).outcomes(n, 3)]


def test_baselines_hedge_timing_is_exact() -> None:
    # primary answers at 300 ms; the hedge goes out at 50 ms and answers 100 ms later
    j = Journey("h", Race((Ref("a"), Ref("b")), hedge_delay=0.05), (_const("a", 0.3), _const("b", 0.1)))
    for ok, t in _both(j, 50):
        assert ok.all() and np.allclose(t, 0.15)
    # primary answers before the hedge delay: the replica is never asked
    j = Journey("h", Race((Ref("a"), Ref("b")), hedge_delay=0.05), (_const("a", 0.03), _const("b", 0.001)))
    for ok, t in _both(j, 50):
        assert ok.all() and np.allclose(t, 0.03)


def test_baselines_retry_timeout_and_backoff_are_exact() -> None:
    # every try overruns its 100 ms budget: 3 × 100 ms + waits 10 ms and 20 ms, failed
    j = Journey("r", Retry(Ref("a"), attempts=3, per_try_timeout=0.1, backoff=Backoff(0.01, 2.0)), (_const("a", 0.25),))
    for ok, t in _both(j, 20):
        assert not ok.any() and np.allclose(t, 0.33)
    # a deadline cuts a series: 80 ms + 80 ms > 120 ms
    j = Journey("t", Timeout(Series((Ref("a"), Ref("b"))), deadline=0.12), (_const("a", 0.08), _const("b", 0.08)))
    for ok, t in _both(j, 20):
        assert not ok.any() and np.allclose(t, 0.12)


def test_baselines_quorum_takes_the_kth_success() -> None:
    comps = (_const("a", 0.01), _const("b", 0.03), _const("c", 0.02, availability=0.0))
    j = Journey("q", Parallel((Ref("a"), Ref("b"), Ref("c")), join="quorum", k=2), comps)
    for ok, t in _both(j, 20):
        assert ok.all() and np.allclose(t, 0.03)


def test_baselines_match_closed_form_availability() -> None:
    # Series(a, Retry(b, 2), ParallelAny(c, d)): a·(1 − (1 − b)²)·(1 − (1 − c)(1 − d))
    comps = tuple(Component(c, a, LogNormal.from_quantiles(0.01, 0.05)) for c, a in (("a", 0.99), ("b", 0.9), ("c", 0.8), ("d", 0.7)))
    j = Journey("cf", Series((Ref("a"), Retry(Ref("b"), attempts=2), Parallel((Ref("c"), Ref("d")), join="any"))), comps)
    p = 0.99 * (1 - 0.1**2) * (1 - 0.2 * 0.3)
    for model, n in ((B.NumpyJourney(j), 200_000), (B.SimPyJourney(j), 4_000)):
        ok, _ = model.outcomes(n, 5)
        assert abs(ok.mean() - p) < 5 * math.sqrt(p * (1 - p) / n)


# --------------------------------------------------------------------------- agreement with the engine


@pytest.mark.parametrize("name", ["checkout", "staged-30"])
def test_numpy_and_simpy_agree_with_the_engine(name: str) -> None:
    j = J.checkout() if name == "checkout" else J.retry_hedge_30()
    engine = simulate(j, samples=100_000, seed=21, workers=1, confidence=B.AGREEMENT_CONFIDENCE).to_dict()
    numpy_run = B.NumpyJourney(j).run(100_000 if name == "checkout" else 30_000, 22, B.AGREEMENT_CONFIDENCE)
    simpy_run = B.SimPyJourney(j).run(1_500 if name == "checkout" else 200, 23, B.AGREEMENT_CONFIDENCE)
    for other in (numpy_run, simpy_run):
        verdict = B.agreement(engine, other)
        assert verdict["all"], verdict


def test_agreement_detects_a_different_journey() -> None:
    j = J.checkout()
    worse = Journey(j.name, j.root, tuple(Component(c.id, c.availability - 0.01, c.latency) for c in j.components))
    engine = simulate(j, samples=50_000, seed=1, workers=1, confidence=B.AGREEMENT_CONFIDENCE).to_dict()
    other = B.NumpyJourney(worse, "independent").run(50_000, 2, B.AGREEMENT_CONFIDENCE)
    assert not B.agreement(engine, other)["availability"]
    slower = Journey(j.name, j.root, tuple(Component(c.id, c.availability, Constant(1.0)) for c in j.components))
    other = B.NumpyJourney(slower).run(5_000, 2, B.AGREEMENT_CONFIDENCE)
    assert not B.agreement(engine, other)["p50"]


def test_numpy_leaf_evaluations_count_every_attempt() -> None:
    assert B.evaluated_calls(J.checkout().root) == 5
    assert B.evaluated_calls(J.retry_hedge_30().root) == 5 * (3 + 3 * 2 + 2 * 2)


# --------------------------------------------------------------------------- machinery


PEAK = "from benchmarks import peak_rss_mb; import numpy as np; a = np.ones({n}); print(a.sum(), peak_rss_mb())"


def test_child_peak_memory_is_its_own_not_its_parents() -> None:
    big = np.ones(50_000_000)  # 400 MB resident here, in the parent
    big_child = run_child([sys.executable, "-c", PEAK.format(n=40_000_000)])  # 320 MB in the child
    small_child = run_child([sys.executable, "-c", PEAK.format(n=1)])
    assert big.sum() == 50_000_000
    assert big_child.rc == 0 and small_child.rc == 0, big_child.stderr + small_child.stderr
    total, peak = map(float, big_child.stdout.split())
    assert total == 40_000_000 and 320 < peak < 700
    assert float(small_child.stdout.split()[1]) < 200  # ru_maxrss would report the parent's 400+ MB
    assert big_child.cpu > 0


def test_external_benchmark_that_is_missing_is_reported_not_raised() -> None:
    out = R.external("bench_does_not_exist", True)
    assert out["error"].startswith("not available: benchmarks/bench_does_not_exist.py cannot be imported")


def test_failing_section_is_reported_and_the_run_goes_on() -> None:
    r = R.Runner(R.TINY, log=lambda _: None)

    def boom() -> None:
        raise RuntimeError("kaput")

    r.section("hand", boom)
    r.section("threads", lambda: [])
    assert r.results["hand"]["error"] == "RuntimeError: kaput"
    assert R._na(r.results["hand"]) == "not available: RuntimeError: kaput"
    assert r.results["threads"] == []


def test_quick_machinery_writes_the_report_and_plots(tmp_path) -> None:
    out = tmp_path / "reports" / "bench.md"
    rc = R.main(["--sizes", "tiny", "--skip", "engine,analytic,dask", "--out", str(out), "--json", str(tmp_path / "raw.json")])
    assert rc == 0
    text = out.read_text()
    for heading in (
        "## Targets",
        "## 1. Engine vs a hand-specialised numba kernel",
        "## 2. Engine vs vectorised NumPy",
        "## 3. Engine vs a SimPy discrete-event model",
        "### 4.1 Throughput and peak memory vs samples",
        "### 4.2 Cost vs leaves",
        "### 4.3 Analytic bounds vs leaves",
        "### 4.4 Threads",
        "## 5. Cold and warm start",
        "## 6. Accuracy per cost",
        "## 7. Dask",
        "## 8. Analytic bounds for a 200-leaf journey",
    ):
        assert heading in text
    assert "Intel" in text or "CPU" in text
    assert "not run (skipped with --skip)" in text
    assert (out.parent / "bench-tiny-leaves.png").stat().st_size > 1000
    assert (out.parent / "bench-tiny-samples.png").stat().st_size > 1000


def test_unknown_section_is_refused(tmp_path) -> None:
    with pytest.raises(SystemExit):
        R.main(["--skip", "nonsense", "--out", str(tmp_path / "x.md")])


@pytest.mark.slow
def test_cold_and_warm_start_run() -> None:
    from benchmarks.startup import start_times

    out = start_times(1, 1, ("simulate",))
    s = out["simulate"]
    assert len(s["runs"]["cold"]) == 1 and len(s["runs"]["warm"]) == 1
    assert s["coldCpuSeconds"] > 0 and s["warmCpuSeconds"] > 0
