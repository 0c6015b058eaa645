"""The CUDA backend (issue 18) under numba's CUDA simulator, against the analytic layer and the CPU backend.

The simulated runs happen in one child process (``tests/cudasim_runner.py``) started with
``NUMBA_ENABLE_CUDASIM=1``: numba reads that variable when ``numba.cuda`` is first imported, so
setting it inside this process could not take effect (or would change other tests). Everything
else — analytic values, CPU runs, the assertions — runs here.

Oracles and tolerances (all from theory, fixed seeds):

* availability: ``|Â − A| ≤ 4.5·sqrt(A(1 − A)/n)`` with ``A`` the analytic layer's exact value
  under the simulated scenario (``scenario_availability``);
* latency: the share of journeys at or below a histogram bucket edge (the CPU run's p50 and p90
  buckets; both backends use the same buckets) on the CUDA run (n) and on a large CPU run (m):
  two-sample binomial, ``|p̂₁ − p̂₂| ≤ 4.5·sqrt(p(1 − p)(1/n + 1/m))`` with the pooled ``p``;
* hedge rate: the same two-sample test against the CPU run;
* calls per journey of a component, a mean of values in ``[0, M]``: within
  ``4.5·M/(2·sqrt(n))`` (Popoviciu's variance bound) of the analytic expected calls;
* Monte Carlo Birnbaum importance, a mean of values in {−1, 0, 1}: within ``4.5/sqrt(n_B)`` of
  the exact value.

Every operator of the registry has a journey here (a new operator fails
:func:`test_every_registered_operator_has_a_case` until it gets one), every latency sampler is
drawn somewhere, and both correlation models (gaussian factors with latency correlation, shock
domains) plus the ``shared`` scenario's fate groups are covered.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import emac_sim
from emac_sim.analytic import birnbaum_importance, call_amplification, scenario_availability
from emac_sim.analytic.scenarios import resolve_scenario
from emac_sim.cli import app
from emac_sim.engine import simulate
from emac_sim.operators import REGISTRY
from emac_sim.spec import load_spec_text

RUNNER = Path(__file__).with_name("cudasim_runner.py")
N = 3000
Z = 4.5

_COMPS = """\
  components:
    a: {availability: 0.9, latency: {dist: lognormal, p50: 20ms, p99: 80ms}}
    b: {availability: 0.85, latency: {dist: gamma, mean: 25ms, cv: 0.8}, errorLatency: fast}
    c: {availability: 0.8, latency: {dist: exponential, mean: 15ms}, errorLatency: {dist: constant, value: 2ms}}
    d: {availability: 0.9, latency: {dist: weibull, shape: 1.5, scale: 20ms}}
    e: {availability: 0.88, latency: {dist: pareto, scale: 5ms, alpha: 2.5}}
    f: {availability: 0.95, latency: {dist: empirical, quantiles: {0.5: 20ms, 0.9: 45ms, 0.99: 120ms, 1.0: 300ms}}}
    g: {availability: 0.9, latency: {dist: histogram, buckets: [[0.01, 40], [0.03, 80], [0.1, 98], [+Inf, 100]]}}
    h:
      availability: 0.92
      latency:
        dist: mixture
        components:
          - {weight: 0.8, dist: {dist: gamma, mean: 10ms, cv: 1.5}}
          - {weight: 0.2, dist: {dist: constant, value: 40ms}}
"""


def _filter(comps: str, used: list[str]) -> str:
    """Keep the header and the components ``used`` (a component's continuation lines included)."""
    out, keep = [], False
    for line in comps.splitlines():
        if line.startswith("  components:"):
            out.append(line)
        elif line.startswith("    ") and not line.startswith("      "):
            keep = line.strip()[0] in used
            if keep:
                out.append(line)
        elif keep:
            out.append(line)
    return "\n".join(out)


#: One journey per registered operator (its ``type``), drawing on every latency sampler.
OPERATOR_CASES: dict[str, str] = {
    "series": "{type: series, steps: [{ref: a}, {ref: b}, {ref: c}]}",
    "parallel": "{type: parallel, join: quorum, k: 2, branches: [{ref: a}, {ref: d}, {ref: e}]}",
    "race": "{type: race, semantics: hedged, hedgeDelay: 25ms, branches: [{ref: a}, {ref: f}]}",
    "fallback": "{type: fallback, branches: [{ref: c}, {ref: g}]}",
    "retry": "{type: retry, attempts: 3, perTryTimeout: 40ms, backoff: {initial: 10ms, multiplier: 2}, step: {ref: b}}",
    "timeout": "{type: timeout, deadline: 30ms, step: {type: series, steps: [{ref: e}, {ref: d}]}}",
    "choice": "{type: choice, branches: [{weight: 3, ref: h}, {weight: 1, type: series, steps: [{ref: c}, {ref: g}]}]}",
    "optional": "{type: optional, probability: 0.4, step: {ref: c}}",
    "repeat": "{type: repeat, count: 3, step: {ref: h}}",
    "cache": "{type: cache, ref: d, hitRatio: 0.7, step: {ref: c}}",
}

#: Further journeys: the other parallel joins, both correlation models, the shared scenario's fate
#: groups, Monte Carlo Birnbaum passes, durations beyond the shared-memory histogram window.
EXTRA_CASES: dict[str, dict] = {
    "parallel-all": {"operator": "{type: parallel, join: all, branches: [{ref: a}, {ref: h}]}"},
    "parallel-any": {"operator": "{type: parallel, join: any, branches: [{ref: c}, {ref: e}]}"},
    "gaussian": {
        "operator": "{type: series, steps: [{ref: b}, {type: parallel, join: any, branches: [{ref: c}, {ref: e}, {ref: f}]}, {ref: h}]}",
        "extra": "  failureDomains:\n    rules:\n"
        "      - {name: zone, members: [b, c, e, f, h], correlation: {model: gaussian, rho: 0.5, latencyRho: 0.4}}\n",
    },
    "shock": {
        "operator": "{type: parallel, join: any, branches: [{ref: a}, {ref: d}]}",
        "extra": "  failureDomains:\n    rules:\n      - {name: net, members: [a, d], correlation: {model: shock, probability: 0.05}}\n",
    },
    "shared-fate": {
        "operator": "{type: fallback, branches: [{ref: a}, {ref: d}, {ref: g}]}",
        "extra": "  failureDomains:\n    rules:\n      - {name: zone, members: [a, d], correlation: {rho: 0.3}}\n",
        "correlation": "shared",
    },
    "birnbaum-mc": {"operator": OPERATOR_CASES["race"], "birnbaum_stride": 4},
    "slow-tail": {
        "operator": "{type: series, steps: [{ref: a}, {ref: s}]}",
        "components": "    s: {availability: 0.97, latency: {dist: lognormal, p50: 200s, p99: 2000s}}\n",
    },
    "geometry": {
        "operator": OPERATOR_CASES["series"],
        "geometry": {"MIN_SAMPLES_PER_THREAD": 4, "SAMPLES_PER_THREAD": 2},
        "runs": [7, 7, 8],
    },
}


def _case_text(op: str, extra: str = "", components: str = "") -> str:
    used = sorted(set(ch for ch in "abcdefgh" if f"ref: {ch}" in op))
    head = "apiVersion: emac.dev/v1alpha1\nkind: JourneyIntent\nmetadata: {name: cuda-case}\n"
    return f"{head}spec:\n  operator: {op}\n{_filter(_COMPS, used)}\n{components}{extra}"


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Every case: its spec path, scenario, options; run once on the simulated CUDA backend."""
    root = tmp_path_factory.mktemp("cuda")
    table: dict[str, dict] = {}
    for op, text in OPERATOR_CASES.items():
        table[op] = {"operator": text}
    table.update(EXTRA_CASES)
    todo = []
    for cid, c in table.items():
        path = root / f"{cid}.yaml"
        path.write_text(_case_text(c["operator"], c.get("extra", ""), c.get("components", "")), encoding="utf-8")
        c["spec"] = str(path)
        todo.append(
            {
                "id": cid,
                "spec": str(path),
                "samples": N,
                "runs": c.get("runs", [11]),
                "correlation": c.get("correlation", "declared"),
                "birnbaum_stride": c.get("birnbaum_stride"),
                "geometry": c.get("geometry", {}),
            }
        )
    cases_json, out_json = root / "cases.json", root / "out.json"
    cases_json.write_text(json.dumps(todo), encoding="utf-8")
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    proc = subprocess.run([sys.executable, str(RUNNER), str(cases_json), str(out_json)], env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-4000:]
    runs = json.loads(out_json.read_text(encoding="utf-8"))
    for cid, c in table.items():
        c["runs"] = runs[cid]
        c["journey"] = emac_sim.load_spec(c["spec"])
    return table


def _exact(c: dict) -> float:
    scenario, _ = resolve_scenario(c["journey"], c.get("correlation", "declared"))
    a = scenario_availability(c["journey"], scenario)
    assert a is not None
    return a


def _hist(sparse: dict[str, int]) -> np.ndarray:
    from emac_sim.core.histogram import N_BUCKETS

    h = np.zeros(N_BUCKETS, np.int64)
    for k, v in sparse.items():
        h[int(k)] = v
    return h


def _two_sample_ok(k1: int, n1: int, k2: int, n2: int) -> tuple[bool, str]:
    p = (k1 + k2) / (n1 + n2)
    sd = math.sqrt(max(p * (1 - p), 0.0) * (1 / n1 + 1 / n2))
    d = k1 / n1 - k2 / n2
    return abs(d) <= Z * sd + 1e-12, f"{k1}/{n1} vs {k2}/{n2} (|d|={abs(d):.4g}, 4.5 sd={Z * sd:.4g})"


ALL_CASES = [*OPERATOR_CASES, *EXTRA_CASES]


def test_every_registered_operator_has_a_case() -> None:
    assert set(OPERATOR_CASES) == set(REGISTRY), f"operators without a CUDA case: {sorted(set(REGISTRY) - set(OPERATOR_CASES))}"


@pytest.mark.parametrize("cid", ALL_CASES)
def test_availability_matches_the_analytic_value(cases: dict, cid: str) -> None:
    c = cases[cid]
    a = _exact(c)
    for run in c["runs"]:
        n, ok = run["samples"], run["ok"]
        assert n == N
        sd = math.sqrt(a * (1 - a) / n)
        assert abs(ok / n - a) <= Z * sd, f"{cid}: {ok}/{n} = {ok / n:.5f} vs exact {a:.5f} (4.5 sd = {Z * sd:.4g})"
        lo, hi = run["json"]["availability"]["ci"]
        assert lo <= ok / n <= hi


@pytest.mark.parametrize("cid", ALL_CASES)
def test_latency_and_hedges_match_the_cpu_backend(cases: dict, cid: str) -> None:
    c = cases[cid]
    run = c["runs"][0]
    m = 40 * N
    cpu = simulate(c["journey"], samples=m, seed=5, correlation=c.get("correlation", "declared"), workers=1)
    h_cuda, h_cpu = _hist(run["hist_all"]), cpu.counts.hist_all
    assert int(h_cuda.sum()) == N and int(_hist(run["hist_ok"]).sum()) == run["ok"]
    cdf_cpu = np.cumsum(h_cpu) / m
    for q in (0.5, 0.9):
        b = int(np.searchsorted(cdf_cpu, q))  # the CPU's q-quantile bucket: compare P(t in buckets <= b)
        good, msg = _two_sample_ok(int(h_cuda[: b + 1].sum()), N, int(h_cpu[: b + 1].sum()), m)
        assert good, f"{cid}: P(t <= bucket {b}) {msg}"
    if cpu.race_paths:
        good, msg = _two_sample_ok(run["hedged"], N, cpu.counts.hedged, m)
        assert good, f"{cid}: hedged journeys {msg}"
    d = run["json"]
    assert set(d) == set(cpu.to_dict()) | {"backend"} and d["backend"] == "cuda"
    assert run["joint_total"] == run["ok"]  # every successful journey has one dominant-component entry


@pytest.mark.parametrize("cid", ["series", "retry", "repeat", "choice", "cache", "race"])
def test_calls_per_journey_match_the_analytic_expectation(cases: dict, cid: str) -> None:
    c = cases[cid]
    j = c["journey"]
    expected = call_amplification(j)
    run = c["runs"][0]
    worst = {"retry": 3, "repeat": 3}.get(cid, 1)
    for i, comp in enumerate(j.component_ids):
        mean = run["calls"][i] / N
        tol = Z * worst / (2 * math.sqrt(N))
        assert abs(mean - expected[comp]) <= tol, f"{cid}/{comp}: {mean:.4f} calls per journey vs {expected[comp]:.4f} (tol {tol:.3g})"


def test_monte_carlo_birnbaum_passes_match_the_exact_importance(cases: dict) -> None:
    c = cases["birnbaum-mc"]
    run = c["runs"][0]
    nb = run["birnbaum_samples"]
    assert nb == -(-N // 4)  # every 4th global sample index
    exact = birnbaum_importance(c["journey"])
    assert run["json"]["birnbaumMethod"] == "monte-carlo"
    for i, comp in enumerate(c["journey"].component_ids):
        est = (run["birnbaum_up"][i] - run["birnbaum_down"][i]) / nb
        assert abs(est - exact[comp]) <= Z / math.sqrt(nb), f"{comp}: {est:.4f} vs exact {exact[comp]:.4f}"


def test_durations_beyond_the_shared_window_are_counted(cases: dict) -> None:
    from emac_sim.engine.cuda_codegen import SHARED_BUCKETS

    h = _hist(cases["slow-tail"]["runs"][0]["hist_all"])
    assert h[SHARED_BUCKETS:].sum() > 0 and h[:SHARED_BUCKETS].sum() > 0
    assert h.sum() == N


def test_same_seed_same_counts_different_seed_different_counts(cases: dict) -> None:
    first, again, other = cases["geometry"]["runs"]
    assert first["launches"] == 2  # several launches over several thread blocks, merged exactly
    keys = ("ok", "hedged", "hist_ok", "hist_all", "calls", "race_issued", "joint_total")
    assert all(first[k] == again[k] for k in keys)
    assert first["json"] == again["json"]
    assert (first["ok"], first["hist_all"]) != (other["ok"], other["hist_all"])


def test_simulator_streams_are_numbas_xoroshiro128p() -> None:
    """The simulator's plain-Python xoroshiro128+ (states and draws) is numba's, number for number;
    numba's host-side functions are compiled CPU code when the simulator is off (as here)."""
    from numba.cuda.random import init_xoroshiro128p_states_cpu, xoroshiro128p_dtype, xoroshiro128p_uniform_float64

    from emac_sim.kernels import cuda_sim

    ref = np.empty(6, dtype=xoroshiro128p_dtype)
    init_xoroshiro128p_states_cpu(ref, np.uint64(0xDEADBEEF12345), np.uint64(3))
    ours = cuda_sim.init_states(6, 0xDEADBEEF12345, 3)
    assert np.array_equal(ref, ours)
    for i in (0, 5):
        for _ in range(50):
            assert cuda_sim.uniform_float64(ours, i) == xoroshiro128p_uniform_float64(ref, i)


def test_stream_seed_follows_the_run_seed() -> None:
    from emac_sim.engine.cuda import geometry, stream_seed

    assert stream_seed(0) == stream_seed(0) != stream_seed(1)
    assert geometry(1) == (1, 256) and geometry(10**12)[0] == 2048


def test_cuda_without_a_gpu_is_a_one_line_error(write_spec) -> None:
    from emac_sim.engine.cuda import cuda_problem

    if cuda_problem() is None:
        pytest.skip("a GPU (or the simulator) is available in this process")
    spec = write_spec(_case_text(OPERATOR_CASES["series"]))
    res = CliRunner().invoke(app, ["simulate", str(spec), "--backend", "cuda", "-n", "1000"])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.output
    assert lines[0].startswith("emac simulate: --backend: cuda: no CUDA GPU is available")
    with pytest.raises(RuntimeError, match="backend 'cuda': no CUDA GPU"):
        simulate(emac_sim.load_spec(spec), samples=100, backend="cuda")


def test_bad_backend_and_dask_with_cuda_are_refused(write_spec) -> None:
    spec = write_spec(_case_text(OPERATOR_CASES["series"]))
    with pytest.raises(ValueError, match="backend must be 'cpu' or 'cuda', got 'gpu'"):
        simulate(emac_sim.load_spec(spec), samples=100, backend="gpu")
    res = CliRunner().invoke(app, ["simulate", str(spec), "--backend", "cuda", "--scheduler", "dask-local"])
    assert res.exit_code == 2
    assert "--backend: cuda runs on one GPU and cannot be combined with --scheduler dask-local" in res.output


def test_cpu_json_has_no_backend_key(write_spec) -> None:
    """The default backend's JSON is unchanged (``backend`` appears only for cuda)."""
    spec = write_spec(_case_text(OPERATOR_CASES["series"]))
    assert "backend" not in simulate(emac_sim.load_spec(spec), samples=1000, seed=1, workers=1).to_dict()


def test_generated_cuda_source_reuses_the_operator_rules() -> None:
    """The CUDA dialect differs from the CPU kernel only in its draws and its driver."""
    from emac_sim.analytic.scenarios import resolve_scenario as rs
    from emac_sim.engine.codegen import KernelOptions, generate
    from emac_sim.engine.cuda_codegen import generate_cuda

    j = load_spec_text(_case_text(OPERATOR_CASES["race"]))
    sc, _ = rs(j, "declared")
    cpu, gpu = generate(j, sc, KernelOptions(details=True)).source, generate_cuda(j, sc, KernelOptions(details=True)).source
    body = lambda s: s.split("def journey(")[1].split("\n\n")[0]  # noqa: E731
    swap = {
        "rng.random()": "_draws.uniform(rng)",
        "rng.standard_normal()": "_draws.normal(rng)",
        "rng.standard_exponential()": "_draws.exponential(rng)",
    }
    expected = body(cpu)
    for a, b in swap.items():
        expected = expected.replace(a, b)
    assert body(gpu) == expected
    assert "cuda.shared.array" in gpu and "cuda.atomic.add" in gpu


def test_benchmark_section_says_not_measured_without_a_gpu() -> None:
    from benchmarks import report as T
    from benchmarks import run as R

    res = R.external("bench_cuda", True)
    if res.get("measured"):
        pytest.skip("a GPU is present: the section measures (its numbers are never asserted)")
    assert res["why"] == "not measured (no GPU)" and res["referenceJourneysPerSecond"] == 1.5e10
    text = "\n".join(T._section_cuda({"cuda": res}))
    assert "not measured (no GPU)" in text and "1.5e+10 journeys/s on an H100" in text
