"""Smoke and agreement tests of the benchmark suite (``benchmarks/``, issues 8 and 15).

No wall-clock assertions: the tests check that the baselines implement the same journeys as
the engine (exactly where the routes are deterministic, within intervals where they sample),
that the hand-specialised kernel agrees with the engine in distribution, that the profiles
count what they claim (draws on the engine's own stream, compilations, CPU used by other
processes), that the report's verdicts and explanations follow the numbers they are given, and
that the machinery runs end to end at tiny sizes.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `benchmarks` is a top-level package of the checkout, not installed
    sys.path.insert(0, str(REPO))

from benchmarks import LoadMeter, run_child  # noqa: E402
from benchmarks import baselines as B  # noqa: E402
from benchmarks import draws as DR  # noqa: E402
from benchmarks import journeys as J  # noqa: E402
from benchmarks import profile as P  # noqa: E402
from benchmarks import report as T  # noqa: E402
from benchmarks import run as R  # noqa: E402
from emac_sim.engine import compile_journey, run_block, simulate  # noqa: E402
from emac_sim.model.distributions import Constant, Gamma, LogNormal  # noqa: E402
from emac_sim.model.journey import Component, Journey, Ref  # noqa: E402
from emac_sim.model.scenario import named_scenario  # noqa: E402
from emac_sim.operators import Backoff, Parallel, Race, Retry, Series, Timeout  # noqa: E402

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


def test_helper_warmup_is_no_staged_structure_and_names_resolve() -> None:
    warm = J.helper_warmup()
    assert sorted(warm.root.refs()) == sorted(J.staged_journey(6).root.refs())
    assert all(warm.root != J.staged_journey(L).root for L in range(1, 13))
    assert J.by_name("staged-12") == J.staged_journey(12)
    assert J.by_name("checkout") == J.checkout()
    with pytest.raises(ValueError, match="unknown benchmark journey"):
        J.by_name("staged-x")


def test_numpy_leaf_evaluations_count_every_attempt() -> None:
    assert B.evaluated_calls(J.checkout().root) == 5
    assert B.evaluated_calls(J.retry_hedge_30().root) == 5 * (3 + 3 * 2 + 2 * 2)


# --------------------------------------------------------------------------- profiles


def test_draw_counts_are_exact_on_a_journey_without_branches() -> None:
    # a always answers; b is gamma; c's failure latent loads on a gaussian factor
    comps = (
        Component("a", 1.0, LogNormal.from_quantiles(0.01, 0.05)),
        Component("b", 1.0, Gamma.from_mean_cv(0.01, 0.5)),
    )
    j = Journey("d", Series((Ref("a"), Ref("b"))), comps)
    out = DR.draw_counts(j, 50)
    assert out["expCounted"] and out["callsPerRequest"] == 2
    assert out["perRequest"] == {"exp": 1.0, "gamma:4.0": 1.0, "normal": 1.0, "uniform": 2.0}


def test_draw_counts_follow_the_engines_stream() -> None:
    # the counts come from the engine's first block: the same requests, so the same calls
    j = J.retry_hedge_30()
    n = 3000
    res = run_block(compile_journey(j, named_scenario(j, "declared"), details=True), 0, 0, n)
    assert DR.draw_counts(j, n, seed=0)["callsPerRequest"] == res.calls.sum() / n  # type: ignore[union-attr]


def test_draw_costs_measure_each_kind_once() -> None:
    costs = DR.DrawCosts(n=20_000, repeats=1)
    total = costs.per_request({"uniform": 2.0, "gamma:2.0": 1.0})
    assert set(costs.to_dict()["nsPerDraw"]) == {"uniform", "gamma:2.0"}
    assert total == 2 * costs.cost("uniform") + costs.cost("gamma:2.0") > 0


def test_compile_events_give_exclusive_seconds_of_nested_compiles() -> None:
    from numba import njit

    @njit
    def inner(x):
        return x * 2.0

    @njit
    def outer(x):
        return inner(x) + 1.0

    with P.compile_events() as events:
        assert outer(1.0) == 3.0
        outer(2.0)  # compiled already: no event
    by_name = {e["function"].rsplit(".", 1)[-1]: e for e in events}
    assert set(by_name) == {"inner", "outer"}
    o, i = by_name["outer"], by_name["inner"]
    assert o["totalSeconds"] == pytest.approx(o["seconds"] + i["totalSeconds"])
    groups = P.summarise_compiles(events + [{"module": "emac_kernel_abc", "function": "journey", "seconds": 1.0, "totalSeconds": 1.0}])
    assert groups[P.GENERATED] == {"functions": 1, "seconds": 1.0}
    assert groups[__name__]["functions"] == 2


def test_import_times_sum_self_times_by_package() -> None:
    stderr = "\n".join(
        [
            "import time:       900 |        900 | json",
            P.MARK,
            "import time: self [us] | cumulative | imported package",
            "import time:       100 |        100 |   numba.core",
            "import time:      2000 |       2100 | numba",
            "import time:       500 |        500 |     scipy.special._ufuncs",
            "some other line",
        ]
    )
    assert P.import_times(stderr) == {"numba": pytest.approx(0.0021), "scipy": pytest.approx(0.0005)}


def test_profile_by_package_charges_the_code_that_ran() -> None:
    def work() -> int:
        for _ in range(300):
            LogNormal.from_quantiles(0.01, 0.05)
        return 7

    out, by = P.profile_by_package(work)
    assert out == 7 and by["emac_sim.model"] > 0


def test_load_meter_counts_other_processes_not_this_one() -> None:
    import subprocess

    # another process burns 0.4 s of CPU and stays alive (not reaped) until the meter closes
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\nprint('done', flush=True)\ntime.sleep(30)\n"
    other = subprocess.Popen([sys.executable, "-c", spin], stdout=subprocess.PIPE, text=True)
    try:
        with LoadMeter() as meter:
            t = time.process_time()
            while time.process_time() - t < 0.3:  # this process's own CPU
                pass
            assert other.stdout is not None and other.stdout.readline() == "done\n"
    finally:
        other.kill()
        other.wait()
    m = meter.result
    tick = 2.0 / os.sysconf("SC_CLK_TCK")  # /proc/stat counts whole ticks
    assert m["ownCores"] * m["seconds"] >= 0.3 - tick
    assert m["othersCores"] * m["seconds"] >= 0.4 - 0.1 - tick  # it may have started spinning before the meter
    assert m["quiet"] is False and m["load1"] >= 0.0


def test_machine_reports_its_topology() -> None:
    from benchmarks import machine

    m = machine()
    assert m["threadsPerCore"] is None or 1 <= m["threadsPerCore"] <= m["logicalCpus"]


def test_billion_run_is_planned_from_the_measured_throughput() -> None:
    rows = [{"samples": 10**7, "msps": 20.0}, {"samples": 10**8, "msps": 10.0}]
    plan = R.billion_plan(rows, remaining=50.0)
    assert not plan["ran"] and plan["predictedSeconds"] == pytest.approx(100 + R.BILLION_MARGIN_SECONDS)
    assert "predicted 115 s at the 10 M samples/s measured at 1e+08 samples, 50 s of the time budget left" == plan["why"]
    assert R.billion_plan(rows, remaining=200.0)["ran"]
    assert "no throughput" in R.billion_plan([{"samples": 10, "error": "x"}], 500.0)["why"]


# --------------------------------------------------------------------------- report from numbers


QUIET = {"load1": 0.1, "seconds": 1.0, "ownCores": 1.0, "othersCores": 0.01, "stealCores": 0.0, "quiet": True}
BUSY = {"load1": 2.3, "seconds": 1.0, "ownCores": 1.0, "othersCores": 1.2, "stealCores": 0.0, "quiet": False}


def _hand(ratio: float) -> dict:
    hand_ns, eng_ns = 100.0, 100.0 * ratio
    return {
        "samples": 10**6,
        "repeats": 3,
        "ratio": ratio,
        "ratioDetails": 2 * ratio,
        "agree": True,
        "load": QUIET,
        "fixedSeconds": {"off": 0.001, "on": 0.03, "samples": 64},
        "codegenSeconds": 0.0005,
        "birnbaumSeconds": 0.02,
        "handDraws": {"normal": 12.0, "exp": 5.0},
        "engineDraws": {"callsPerRequest": 4.1, "perRequest": {"normal": 7.2, "uniform": 3.0, "exp": 4.1}},
        "profile": {
            "hand": {"nsPerRequest": hand_ns, "fixedNs": 0.0, "drawNs": 70.0, "restNs": 30.0},
            "off": {"nsPerRequest": eng_ns, "fixedNs": 1.0, "drawNs": 60.0, "restNs": eng_ns - 61.0},
            "on": {"nsPerRequest": 2 * eng_ns, "fixedNs": 30.0, "drawNs": 60.0, "restNs": 2 * eng_ns - 90.0},
        },
    }


def _threads(speedup: float, load: dict, cpu_ratio: float = 1.0) -> dict:
    return {"journey": "checkout", "details": False, "speedup": speedup, "busyCores": 2 * cpu_ratio / speedup, "cpuRatio": cpu_ratio, "load": load}


def test_verdicts_follow_the_numbers() -> None:
    res = {"hand": _hand(1.2), "threads": [_threads(1.9, QUIET), _threads(1.2, BUSY)]}
    rows = {r["key"]: r for r in T.targets(res)}
    assert rows["hand-off"]["verdict"] == "**met**" and rows["hand-off"]["measured"] == "1.2×"
    assert rows["hand-on"]["verdict"] == "**not met**" and rows["hand-on"]["load"] == "0.10 / 0.01"
    verdicts = [r["verdict"] for r in T.targets(res) if r["key"].startswith("threads")]
    assert verdicts == ["**met**", "cannot be judged: other processes used 1.2 CPUs"]
    assert rows["ns-per-call"]["measured"] == "not available" and rows["cold"]["good"] is None


def test_explanations_quote_the_measured_figures() -> None:
    text = "\n".join(T.explanations({"hand": _hand(2.0), "threads": [_threads(1.3, QUIET), _threads(1.3, QUIET, cpu_ratio=1.3)]}))
    assert "**Engine vs hand kernel, details off: 2×**" in text
    assert "the engine spends 200 ns, the hand kernel 100 ns" in text
    assert "Most of the 100 ns gap is control flow, parameter loads and bookkeeping (109 ns)" in text
    assert "shed 50 ns per request" in text
    assert "the exact Birnbaum importance 20 ms" in text  # details on: fixed cost parts
    assert "A thread waits: 0.462 CPUs idle" in text
    assert "They slow each other down (30 % more CPU for the same work). The machine reports one hardware thread per core" in text
    smt = "\n".join(T.explanations({"machine": {"threadsPerCore": 2}, "threads": [_threads(1.3, QUIET, cpu_ratio=1.3)]}))
    assert "The CPUs are 2 hardware threads per core" in smt
    assert "Engine vs hand kernel, details off" not in "\n".join(T.explanations({"hand": _hand(1.4)}))


def test_numpy_explanation_says_when_draws_alone_miss_the_target() -> None:
    row = {
        "journey": "staged-30",
        "speedup": 0.5,
        "engineMsps": 0.1,  # 10,000 ns per request
        "numpyMsps": 0.2,  # 5,000 ns per request
        "numpyLeafEvaluationsPerRequest": 65,
        "engineDraws": {"callsPerRequest": 25.0, "perRequest": {"uniform": 25.0}},
        "engineDrawNsPerRequest": 1000.0,  # 40 ns per call
    }
    text = T.explanations({"numpy": [row]})[0]
    assert "Reaching 5× needs ≤ 40 ns per call" in text and "less than the draws alone" not in text
    text = T.explanations({"numpy": [row | {"engineDrawNsPerRequest": 1250.0}]})[0]
    assert "less than the draws alone cost" in text


def _leaves_row(leaves: int, ns: float, details: dict | None = None) -> dict:
    calls = 0.85 * leaves
    per_request = ns * calls * 1e-9
    return {
        "leaves": leaves,
        "callsPerRequest": calls,
        "draws": {"perRequest": {"uniform": calls, "normal": 0.4 * calls}},
        "coldFirstSeconds": 2.0 + leaves / 100,
        "warmFirstSeconds": 0.4,
        "compileSeconds": 1.6 + leaves / 100,
        "compiles": {P.GENERATED: {"functions": 2, "seconds": 1.0}},
        "samples": 1000,
        "fixedSeconds": 0.3,
        "secondsPerRequest": per_request,
        "requestsPerSecond": 1 / per_request,
        "nsPerCall": ns,
        "drawNsPerCall": 12.0,
        "details": details or {"error": "RecursionError: maximum recursion depth exceeded"},
        "load": QUIET,
        "coldLoad": QUIET,
    }


def _synthetic_results() -> dict:
    """Every section, every target missed (the figures are invented: this tests the layout)."""
    samples = [
        {
            "samples": n,
            "repeats": 1,
            "workers": 2,
            "blocks": n // 65536 + 1,
            "seconds": n / 9e6,
            "msps": 9.0,
            "peakRssMb": rss,
            "warmRssMb": 168.0,
            "load": QUIET,
        }
        for n, rss in ((10**5, 168.0), (10**6, 169.0), (10**8, 200.0))
    ]
    startup = {
        "argv": ["emac", "simulate", "configs/checkout.yaml"],
        "coldSeconds": 9.0,
        "coldCpuSeconds": 8.8,
        "warmSeconds": 1.9,
        "warmCpuSeconds": 1.8,
        "coldLoad": QUIET,
        "warmLoad": QUIET,
        "runs": {"cold": [{}], "warm": [{}]},
        "profile": {
            "processSeconds": 1.8,
            "importSeconds": 0.5,
            "mainSeconds": 1.1,
            "importByPackage": {"numpy": 0.2, "scipy": 0.1},
            "importShare": 0.25,
            "warmByPackage": {"numba": 0.6, P.WAITING: 0.2},
            "coldMainSeconds": 8.0,
            "coldCompiles": {"emac_sim.kernels.draws": {"functions": 3, "seconds": 4.0}, P.GENERATED: {"functions": 2, "seconds": 2.0}},
            "exits": [0, 0, 0, 0],
        },
    }
    row30 = _leaves_row(30, 25.0, {"compileSeconds": 3.0, "fixedSeconds": 0.02, "secondsPerRequest": 1e-6, "nsPerCall": 40.0})
    row30["emptyCache"] = {"firstSeconds": 7.5, "compiles": {P.GENERATED: {"functions": 2, "seconds": 5.0}}, "load": QUIET}
    row30["compileSeconds"] = 7.0
    row100 = _leaves_row(100, 32.0) | {"compileSeconds": 6.0}
    numpy_row = {
        "journey": "checkout",
        "samples": 10**6,
        "repeats": 3,
        "engineMsps": 5.0,
        "numpyMsps": 2.5,
        "speedup": 2.0,
        "numpyLeafEvaluationsPerRequest": 5,
        "agreement": {"availabilityZ": 0.5, "availability": True, "p50": True, "all": True},
        "engine": {"samples": 10, "availability": 0.99, "availabilityCi": [0.98, 0.995], "latency": {}},
        "numpy": {"samples": 10, "availability": 0.99, "availabilityCi": [0.98, 0.995], "latency": {}},
        "engineDraws": {"callsPerRequest": 4.0, "perRequest": {"uniform": 3.0, "normal": 7.0}},
        "engineDrawNsPerRequest": 60.0,
        "load": QUIET,
    }
    return {
        "machine": {"cpu": "CPU X", "cpus": 2, "logicalCpus": 2, "loadAverage": 0.1, "python": "3.11", "numpy": "2", "numba": "0.6", "commit": "abc"},
        "draws": {"nsPerDraw": {"uniform": 4.0, "normal": 5.0, "gamma:4.0": 20.0}, "drawsPerLoop": 10, "repeats": 1, "clock": "c", "load": QUIET},
        "hand": _hand(2.0) | {"handMsps": 10.0, "engineMsps": 5.0, "engineDetailsMsps": 2.5, "clock": "c"},
        "numpy": [numpy_row],
        "simpy": {"error": "not run (skipped with --skip)"},
        "threads": [_threads(1.3, QUIET) | {"samples": 10, "oneThreadMsps": 5.0, "twoThreadMsps": 6.5, "identical": True}],
        "leaves": {
            "rows": [_leaves_row(10, 20.0), row30, row100, _leaves_row(1000, 45.0)],
            "repeats": 3,
            "firstSamples": 1000,
            "smallSamples": 64,
            "slope": 1.0,
            "compileSlope": 0.8,
            "helpers": {"seconds": 5.0},
        },
        "bounds": {
            "rows": [{"leaves": 10, "cpuSeconds": 0.1, "seconds": 0.1, "repeats": 1, "load": QUIET}],
            "skipped": [],
            "maxSeconds": 5,
            "slope": 1.0,
        },
        "samples": samples,
        "billion": {"ran": False, "why": "predicted 900 s, 100 s of the time budget left", "predictedSeconds": 900.0},
        "startup": {"simulate": startup},
    }


def test_every_section_and_explanation_renders_from_the_numbers(tmp_path) -> None:
    from types import SimpleNamespace

    res = _synthetic_results()
    runner = SimpleNamespace(results=res, sizes=R.FULL, seconds={"hand": 1.0}, elapsed=lambda: 12.0)
    text = T.report(runner, ["--out", "x"], "a note", T.plots(res, tmp_path, "t-"))
    why = text.split("### Targets not met or not judged")[1].split("### Further checks")[0]
    for expected in (
        "**Engine vs hand kernel, details off: 2×**",
        "**NumPy, checkout: 2×** (target ≥ 3×)",
        "**ns per call at 1,000 leaves: 45** (target ≤ 30; 850 calls per request)",
        "Smaller journeys: 10 leaves 20 ns, 30 leaves 25 ns, 100 leaves 32 ns",
        "**Cold start: 9 s**",
        "4 s of that compiles emac-sim's library functions",
        "**Warm start: 1.9 s**",
        "interpreter start and exit (with the harness's imports) 0.2 s, imports 0.4 s, the command's own work 1.2 s",
        "the largest part is the command's own work (1.2 s): less work in the command (numba leads its profile)",
        "**Compile per new structure, 30 leaves: 7.1 s**",
        "the structure alone takes 7 s",
        "Compile time of each structure measured: 10 leaves 1.7 s (one function), 30 leaves 7 s (one function), 100 leaves 6 s (pieces)",
        "the larger 100-leaf journey, split into outlined pieces, compiles in 6 s, so splitting journeys below the inline limit (100 nodes; "
        "this one has 71) would cut it, at a run-time cost (25 ns per call here, 32 in pieces)",
        "**Peak memory: 168 MiB at 1e5 → 200 MiB at 1e8**",
        "**Threads 1 → 2, checkout, details off: 1.3×**",
    ):
        assert expected in why, expected
    assert "| Peak memory vs samples, 1e5 … 1e8 (2 threads, a fresh process each; 1e9 not run: predicted 900 s" in text
    assert "RecursionError: maximum recursion depth exceeded" in text  # details on at 1,000 leaves
    assert "1e9 samples: not run — predicted 900 s, 100 s of the time budget left." in text
    assert "> **Note.** a note" in text and "not run (skipped with --skip)" in text
    assert (tmp_path / "t-leaves.png").is_file() and (tmp_path / "t-samples.png").is_file()


def test_compile_explanation_when_the_library_functions_make_no_difference() -> None:
    row = _leaves_row(30, 25.0) | {"compileSeconds": 8.0, "emptyCache": {"firstSeconds": 7.9, "compiles": {}, "load": QUIET}}
    (text,) = T._why_compile(row, [row], 100)
    assert "the library functions made no measurable difference (the two runs differ by -0.5 s)" in text
    assert text.endswith("must compile faster — less code per structure.")


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
    assert T.na(r.results["hand"]) == "not available: RuntimeError: kaput"
    assert r.results["threads"] == []


def test_quick_machinery_writes_the_report_and_plots(tmp_path) -> None:
    out = tmp_path / "reports" / "bench.md"
    skip = "simpy,accuracy,leaves,bounds,analytic,dask,rare"
    rc = R.main(["--sizes", "tiny", "--skip", skip, "--out", str(out), "--json", str(tmp_path / "raw.json")])
    assert rc == 0
    text = out.read_text()
    for heading in (
        "## Targets (issue 15)",
        "### Further checks (issue 8)",
        "## 1. Engine vs the hand-specialised checkout kernel",
        "## 2. Engine vs vectorised NumPy",
        "## 3. Engine vs a SimPy discrete-event model",
        "### 4.1 Throughput and peak memory vs samples",
        "### 4.2 Compile and run cost vs leaves",
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
    assert "| Engine vs the hand-specialised checkout kernel, one thread, details off (time ratio) | ≤ 1.5× |" in text
    assert "1e9 samples: not run — not run in tiny mode." in text
    raw = json.loads((tmp_path / "raw.json").read_text())
    assert raw["samples"][0]["peakRssMb"] > 0 and raw["hand"]["agree"]
    assert (out.parent / "bench-tiny-samples.png").stat().st_size > 1000


def test_leaves_scaling_compiles_in_fresh_processes_with_the_caches_it_claims() -> None:
    from benchmarks.scaling import leaves_scaling

    out = leaves_scaling([4], 2e5, 1, details=True, empty_cache_leaves=(4,), costs=DR.DrawCosts(20_000, 1))  # with gamma draws
    (row,) = out["rows"]
    assert "error" not in row, row
    # library functions cached: only the journey's generated functions (and numba's own code they
    # call) compile ...
    assert P.GENERATED in row["compiles"] and set(row["compiles"]) <= {P.GENERATED, P.NUMBA_OWN}
    # ... while an empty cache compiles emac-sim's library functions as well
    assert any(g.startswith("emac_sim.kernels") for g in row["emptyCache"]["compiles"])
    assert row["callsPerRequest"] == pytest.approx(4.0, abs=0.05) and row["nsPerCall"] > 0 and row["drawNsPerCall"] > 0
    assert row["details"]["compileSeconds"] > 0 and "nsPerCall" in row["details"]
    assert set(out["helpers"]["compiles"]) == {"off", "on"}


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
    prof = s["profile"]
    assert prof["exits"] == [0, 0, 0, 0] and {"emac_sim", "numba"} <= set(prof["importByPackage"])
    assert P.GENERATED in prof["coldCompiles"] and prof["warmByPackage"]


def test_rare_section_journeys_have_the_stated_unavailability(tmp_path) -> None:
    """The rare-failure benchmark's journeys (issue 18) have exactly the unavailability they are
    labelled with (analytic layer), and its report lines render a row per target."""
    from benchmarks import bench_rare
    from emac_sim import load_spec
    from emac_sim.analytic.availability import declared_availability

    for u in bench_rare.TARGETS:
        p = tmp_path / f"r{u:.0e}.yaml"
        p.write_text(bench_rare.spec_text(u), encoding="utf-8")
        a, _ = declared_availability(load_spec(p))
        assert a is not None and abs((1 - a) / u - 1) < 1e-6
    row = {
        "exact": 1e-6,
        "importance": {"cpuSeconds": 0.1, "samples": 8192, "pilotSamples": 1000, "estimate": 1e-6, "ci": [0.9e-6, 1.1e-6], "covers": True},
        "plain": {"cpuSeconds": 30.0, "label": "extrapolated", "samplesNeeded": 3.8e8},
        "speedup": 300.0,
    }
    text = "\n".join(bench_rare.section_lines({"rows": [row]}))
    assert "extrapolated" in text and "300x" in text
