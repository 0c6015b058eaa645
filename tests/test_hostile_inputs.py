"""Hostile input (issue 13): each finding's exact input gives one line and exit 2, or a correct
answer, never a traceback, a hang or unbounded work.

Work-limit regressions that used to run for minutes go through :class:`fuzzkit.Runner` with a
per-case budget (a timeout, not an assertion on speed).
"""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path

import pytest
import yaml
from fuzzkit import Runner, contract_problems
from scipy import stats

from emac_sim.errors import SpecError
from emac_sim.spec import load_spec_text

REPO = Path(__file__).resolve().parents[1]
CHECKOUT = REPO / "configs" / "checkout.yaml"
CAPACITY = REPO / "configs" / "capacity.yaml"
BASE = yaml.safe_load(CHECKOUT.read_text())


def _spec(tmp_path: Path, edit, name: str = "spec.yaml") -> Path:  # noqa: ANN001
    import copy

    doc = copy.deepcopy(BASE)
    edit(doc)
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def _one_line(r) -> str:  # noqa: ANN001
    assert r.exit_code == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr + r.stdout, r.stderr
    return lines[0]


def _front(latency: dict):  # noqa: ANN202
    def edit(d: dict) -> None:
        d["spec"]["components"]["front"]["latency"] = latency

    return edit


# --------------------------------------------------------------------------- numeric extremes (load time)


RANGE = "must be between 1ns and 1d (a physically meaningful latency)"
MU = "lognormal mu (ln of the median in seconds: 1ns to 1d) must be between -20.7233 and 11.3667"


@pytest.mark.parametrize(
    ("latency", "message"),
    [
        ({"dist": "lognormal", "p50": "1e-300s", "p99": "1s"}, f"latency.p50: {RANGE}, got '1e-300s'"),
        ({"dist": "lognormal", "mu": 700, "sigma": 1}, f"latency.mu: {MU}, got 700"),
        ({"dist": "gamma", "mean": "10ms", "cv": 1e-300}, "latency.cv: gamma cv must be between 0.01 and 10, got 1e-300"),
        ({"dist": "gamma", "mean": "10ms", "cv": 1e300}, "latency.cv: gamma cv must be between 0.01 and 10, got 1e+300"),
        ({"dist": "weibull", "shape": 1e-300, "scale": "10ms"}, "latency.shape: weibull shape must be between 0.1 and 100, got 1e-300"),
        ({"dist": "exponential", "mean": "1e300s"}, f"latency.mean: {RANGE}, got '1e300s'"),
        ({"dist": "histogram", "buckets": [[1e-300, 1], [1e300, 2], ["+Inf", 3]]},
         "latency.buckets[0]: must be 0 or between 1ns and 1d (a physically meaningful latency), got 1e-300"),
        ({"dist": "lognormal", "p50": "1ms", "p99": "1d"}, "latency.p99: p99 / p50 = 8.64e+07 implies sigma 7.86 > 5 (at most about 1e5)"),
        ({"dist": "pareto", "scale": "1ms", "alpha": 0.01}, "latency.alpha: pareto alpha must be between 0.5 and 100, got 0.01"),
        ({"dist": "gamma", "shape": 10000, "scale": "1h"}, "latency: gamma mean shape * scale = 3.6e+07s is not between 1ns and 1d"),
    ],
)
def test_numeric_extremes_are_refused_at_load_time(cli, tmp_path: Path, latency: dict, message: str) -> None:
    spec = _spec(tmp_path, _front(latency))
    for command in ("check", "bounds", "simulate"):
        assert _one_line(cli(command, spec, *(["--samples", "1000"] if command == "simulate" else []))) == f"{spec}: spec.components.front.{message}"


def test_huge_mixture_weights_are_normalised_without_overflow(cli, tmp_path: Path) -> None:
    """Issue 13: weights 1e308, 1e308 crashed with 'intermediate overflow in fsum'."""
    mix = {"dist": "mixture", "components": [{"weight": 1e308, "dist": {"dist": "constant", "value": "10ms"}},
                                              {"weight": 1e308, "dist": {"dist": "constant", "value": "30ms"}}]}
    spec = _spec(tmp_path, _front(mix))
    from emac_sim import load_spec

    ws = [w for w, _ in load_spec(spec).component("front").latency.components]  # type: ignore[union-attr]
    assert ws == [0.5, 0.5]
    assert cli("bounds", spec, "--format", "json").exit_code == 0


def test_retry_backoff_that_would_overflow_is_refused(cli, tmp_path: Path) -> None:
    """Issue 13: retry {attempts: 100, backoff {initial: 1s, multiplier: 1e10}} overflowed in bounds."""

    def edit(d: dict) -> None:
        d["spec"]["operator"] = {"type": "retry", "attempts": 100, "backoff": {"initial": "1s", "multiplier": 1e10}, "step": {"ref": "front"}}

    spec = _spec(tmp_path, edit)
    line = _one_line(cli("bounds", spec))
    assert line == f"{spec}: spec.operator.backoff.multiplier: backoff multiplier must be between 1 and 1000, got 10000000000.0"

    def within_range_but_too_long(d: dict) -> None:
        d["spec"]["operator"] = {"type": "retry", "attempts": 100, "backoff": {"initial": "1s", "multiplier": 2}, "step": {"ref": "front"}}

    spec = _spec(tmp_path, within_range_but_too_long)
    assert "spec.operator.backoff: the 99 backoff waits add up to 6.34e+29s, more than 1d (cap them with 'max')" in _one_line(cli("bounds", spec))


@pytest.mark.parametrize("key", ["true", "7"])
def test_component_keys_yaml_reads_as_bool_or_int(cli, tmp_path: Path, key: str) -> None:
    """Issue 13: a component key 'true:' or '7:' raised TypeError in the did-you-mean."""
    spec = tmp_path / "s.yaml"
    spec.write_text(f'apiVersion: emac.dev/v1alpha1\nkind: JourneyIntent\nmetadata: {{name: x}}\nspec:\n  operator: {{ref: "{key}"}}\n'
                    f"  components:\n    {key}: {{availability: 0.9}}\n")
    what = "a boolean" if key == "true" else "a number"
    assert _one_line(cli("check", spec)) == (
        f'{spec}: spec.components.{key}: component ids must be non-empty strings, got {key}, which YAML reads as {what} (quote it: "{key}")'
    )


def test_console_markup_in_ids_and_names_is_printed_as_text(cli, tmp_path: Path) -> None:
    """Issue 13: ids or names such as '[/x]' and 'x[/bold]' crashed text output with MarkupError."""

    def edit(d: dict) -> None:
        d["metadata"]["name"] = "x[/bold]"
        comps = d["spec"]["components"]
        comps["[/x]"] = comps.pop("front")
        d["spec"]["operator"]["steps"][0] = {"ref": "[/x]"}

    spec = _spec(tmp_path, edit)
    for args in (["check", spec], ["bounds", spec], ["simulate", spec, "--samples", "2000", "--seed", "1"]):
        r = cli(*args)
        assert r.exit_code == 0, r
        assert "x[/bold]" in r.stdout and "[/x]" in r.stdout


def test_a_target_of_zero_is_a_load_time_error(cli, tmp_path: Path) -> None:
    """Issue 13: compile crashed on availability target 0.0 that check accepted."""

    def edit(d: dict) -> None:
        d["spec"]["objectives"]["availability"]["target"] = 0.0

    spec = _spec(tmp_path, edit)
    for command in ("check", "compile"):
        args = ["--out", tmp_path / "out", "--samples", "1000"] if command == "compile" else []
        line = _one_line(cli(command, spec, *args))
        assert line == f"{spec}: spec.objectives.availability.target: target must be above 0 (an objective must be in (0, 1))"


def test_constant_zero_latencies_compile(cli, tmp_path: Path) -> None:
    """Issue 13: all latencies constant 0 crashed compile ('Geometric sequence cannot include zero')."""

    def edit(d: dict) -> None:
        for c in d["spec"]["components"].values():
            c["latency"] = {"dist": "constant", "value": 0}
            c.pop("errorLatency", None)

    spec = _spec(tmp_path, edit)
    r = cli("compile", spec, "--out", tmp_path / "out", "--samples", "2000", "--format", "json")
    assert r.exit_code in (0, 1), r
    import json

    d = json.loads(r.stdout)
    assert d["status"] in ("PASS", "FAIL") and "report/derivation.yaml" in d["artifacts"]
    assert cli("bounds", spec).exit_code == 0
    assert cli("report", spec, "--out", tmp_path / "r", "--samples", "2000").exit_code == 0


def test_deep_and_empty_guards_name_their_path(cli, tmp_path: Path) -> None:
    """Issue 13: a deeply nested guard said 'document nested too deeply' without a path; an empty
    guard said 'got a string'."""
    where = "spec.governance.actions[0].guard"
    for guard, message in (
        ("(" * 2000 + "true" + ")" * 2000, "invalid guard expression: guard is 4004 characters long, more than 2000"),
        ("(" * 100 + "A_minus >= 0.9" + ")" * 100, "invalid guard expression: nested more than 32 levels deep at column 33 (parentheses and '!')"),
        ("!" * 40 + "true", "invalid guard expression: nested more than 32 levels deep at column 33 (parentheses and '!')"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
    ):

        def edit(d: dict, guard: str = guard) -> None:
            d["spec"]["governance"]["actions"][0]["guard"] = guard

        spec = _spec(tmp_path, edit)
        assert _one_line(cli("check", spec)) == f"{spec}: {where}: {message}"


# --------------------------------------------------------------------------- Sloth / OpenSLO neighbours


PAPER_LIKE = """\
apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {name: j}
spec:
  operator: {ref: a}
  components:
    a: {atomicSLORef: "sloth:svc/avail"}
"""
SLOTH = "version: prometheus/v1\nservice: svc\nslos:\n  - name: avail\n    objective: 99.9\n"


def test_an_unrelated_sloth_file_with_a_huge_objective_is_harmless(cli, tmp_path: Path) -> None:
    """Issue 13: a neighbour with objective 1e999999999 crashed every spec using atomicSLORef (decimal.Overflow)."""
    (tmp_path / "spec.yaml").write_text(PAPER_LIKE)
    (tmp_path / "slo.yaml").write_text(SLOTH)
    (tmp_path / "other.yaml").write_text("version: prometheus/v1\nservice: other\nslos:\n  - name: avail\n    objective: 1e999999999\n")
    r = cli("check", tmp_path / "spec.yaml", "--format", "json")
    assert r.exit_code == 0, r
    assert '"availability": 0.999' in r.stdout
    # the same objective on the referenced SLO: one line, not a traceback
    (tmp_path / "slo.yaml").write_text(SLOTH.replace("99.9", "1e999999999"))
    assert "unresolvable atomicSLORef 'sloth:svc/avail'" in _one_line(cli("check", tmp_path / "spec.yaml"))


def test_unreadable_neighbours_are_skipped_with_one_warning(cli, tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text(PAPER_LIKE)
    (tmp_path / "slo.yaml").write_text(SLOTH)
    (tmp_path / "broken.yaml").write_text("service: svc\nslos: [avail\n")  # names the SLO, does not parse
    (tmp_path / "noise.yaml").write_text("a: [b\n")  # unrelated and broken: never parsed, never mentioned
    os.mkfifo(tmp_path / "pipe.yaml")  # a FIFO beside the spec must not block the look-up
    r = cli("check", tmp_path / "spec.yaml")
    assert r.exit_code == 0, r
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"{tmp_path / 'spec.yaml'}: warning: skipped unreadable SLO files beside it: ") and "broken.yaml" in line
    assert "noise.yaml" not in line
    # when the reference then does not resolve, the error names the skipped file
    (tmp_path / "slo.yaml").unlink()
    assert "(skipped unreadable: " in _one_line(cli("check", tmp_path / "spec.yaml"))


def test_atomic_refs_parse_only_the_files_that_can_hold_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: the look-up parsed every YAML file in the folder (11 s in a large folder)."""
    import emac_sim.spec.atomic as atomic

    (tmp_path / "slo.yaml").write_text(SLOTH)
    for i in range(200):
        (tmp_path / f"n{i}.yaml").write_text(f"version: prometheus/v1\nservice: other{i}\nslos: [{{name: x, objective: 99}}]\n")
    parsed: list[str] = []
    real = atomic.load_yaml_text

    def counting(text: str, shown: str) -> list[object]:
        parsed.append(shown)
        return real(text, shown)

    monkeypatch.setattr(atomic, "load_yaml_text", counting)
    j = load_spec_text(PAPER_LIKE, base_dir=tmp_path)
    assert j.component("a").availability == 0.999
    assert [Path(p).name for p in parsed] == ["slo.yaml"]


# --------------------------------------------------------------------------- inputs that are not files


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "oversized", "directory"])
def test_inputs_that_are_not_regular_files(cli, tmp_path: Path, kind: str) -> None:
    """Issue 13: check /dev/zero allocated until MemoryError; check on a FIFO blocked forever."""
    if kind == "dev-zero":
        target, message = "/dev/zero", "/dev/zero: is a device, not a regular file; save the input to a file first"
    elif kind == "fifo":
        os.mkfifo(tmp_path / "p.yaml")
        target, message = str(tmp_path / "p.yaml"), f"{tmp_path / 'p.yaml'}: is a FIFO, not a regular file; save the input to a file first"
    elif kind == "oversized":
        with open(tmp_path / "big.yaml", "wb") as fh:
            fh.truncate(65 * 1024 * 1024)
        target = str(tmp_path / "big.yaml")
        message = f"{target}: file is {65 * 1024 * 1024} bytes, larger than the {64 * 1024 * 1024} byte limit"
    else:
        target, message = str(tmp_path), f"{tmp_path}: is a directory, expected a YAML file"
    assert _one_line(cli("check", target)) == message


# --------------------------------------------------------------------------- work without limit


def _nested(kind: str, extra: dict, depth: int) -> dict:
    op: dict = {"ref": "front"}
    for _ in range(depth):
        op = {"type": kind, "step": op, **extra}
    return op


def test_calls_per_journey_are_limited_at_load_time(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: 64 nested retry {attempts: 3} (3^64 calls) and 5 nested repeat {count: 10000}
    (10^20 calls) loaded, and simulate / compile never finished."""
    cases = [("retry", {"attempts": 3}, 64, "up to 3.43e+30 calls per journey (expected 1), more than the limit of 1,000,000"),
             ("repeat", {"count": 10_000}, 5, "up to 1e+20 calls per journey (expected 2e+03), more than the limit of 1,000,000")]
    for kind, extra, depth, message in cases:

        def edit(d: dict, kind: str = kind, extra: dict = extra, depth: int = depth) -> None:
            d["spec"]["operator"] = _nested(kind, extra, depth)

        spec = _spec(tmp_path, edit)
        for command in ("check", "simulate", "compile"):
            args = {"simulate": ["--samples", "1000"], "compile": ["--out", tmp_path / "o", "--samples", "1000"]}.get(command, [])
            line = _one_line(cli(command, spec, *args))
            assert line.startswith(f"{spec}: spec.operator: {message}"), line
            assert line.endswith("(nested retries and repeats multiply; set EMAC_MAX_CALLS to raise the limit)")

    def moderate(d: dict) -> None:
        d["spec"]["operator"] = _nested("repeat", {"count": 100}, 2)  # 10^4 calls

    spec = _spec(tmp_path, moderate)
    assert cli("check", spec).exit_code == 0
    monkeypatch.setenv("EMAC_MAX_CALLS", "5000")  # the limit is documented and overridable
    assert "more than the limit of 5,000" in _one_line(cli("check", spec))


def test_call_counts_match_closed_forms() -> None:
    from emac_sim.spec.limits import call_count

    j = load_spec_text(textwrap.dedent("""\
        apiVersion: emac.dev/v1alpha1
        kind: JourneyIntent
        metadata: {name: c}
        spec:
          operator:
            type: series
            steps:
              - {type: retry, attempts: 3, step: {ref: a}}
              - {type: repeat, count: 4, step: {ref: b}}
              - {type: choice, branches: [{weight: 1, ref: a}, {weight: 3, type: parallel, branches: [{ref: a}, {ref: b}]}]}
          components:
            a: {availability: 0.9}
            b: {availability: 1.0}
        """))
    c = call_count(j.root, j.availabilities)
    retry_calls = 1 + 0.1 + 0.01  # tries until a success, at most 3
    p_retry = 1 - 0.1**3
    assert c.worst == 3 + 4 + 2
    assert c.expected == pytest.approx(retry_calls + p_retry * (4 + (0.25 * 1 + 0.75 * 2)), rel=1e-12)


def _fork_spec(tmp_path: Path, n: int, join: str, k: int | None = None) -> Path:
    comps = {f"c{i}": {"availability": 0.999, "latency": {"dist": "lognormal", "p50": "10ms", "p99": "50ms"}} for i in range(n)}
    op: dict = {"type": "parallel", "join": join, "branches": [{"ref": f"c{i}"} for i in range(n)]}
    if k is not None:
        op["k"] = k
    doc = {"apiVersion": "emac.dev/v1alpha1", "kind": "JourneyIntent", "metadata": {"name": "fork"}, "spec": {"operator": op, "components": comps}}
    p = tmp_path / f"fork-{n}-{join}.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


@pytest.fixture(scope="module")
def runner() -> Runner:
    with Runner() as r:
        yield r  # type: ignore[misc]


@pytest.mark.parametrize(("n", "join", "k"), [(10_000, "all", None), (200, "quorum", 100), (200, "quorum", 190)])
def test_wide_and_quorum_forks_are_bounded_exactly_within_budget(runner: Runner, tmp_path: Path, n: int, join: str, k: int | None) -> None:
    """Issue 13: bounds on a 10^4-wide parallel ran past 180 s; quorum k-of-n took 64 s at n = 200.
    The budget is a timeout for a hang, not a speed assertion; the values are closed forms."""
    import json

    spec = _fork_spec(tmp_path, n, join, k)
    o = runner.run(["bounds", str(spec), "--format", "json"], tmp_path, budget=300)
    assert not contract_problems(o), contract_problems(o)
    assert o.exit_code == 0, o.stderr
    a = json.loads(o.stdout)["availability"]
    exact = 0.999**n if join == "all" else float(stats.binom.sf((k or 1) - 1, n, 0.999))
    assert a["independent"] == pytest.approx(exact, rel=1e-9, abs=1e-15)
    p99 = json.loads(o.stdout)["latency"]["p99"]
    assert p99["lower"] <= p99["independent"] and (p99["upper"] is None or p99["independent"] <= p99["upper"])  # None: beyond the band's grid


def test_a_100000_point_sweep_is_refused(cli) -> None:
    """Issue 13: a 100,000-point whatif ran unbounded."""
    line = _one_line(cli("whatif", CHECKOUT, "--vary", "components.paya.availability=0.9:0.999:100000", "--samples", "0"))
    assert line == "emac whatif: --vary: components.paya.availability: range '0.9:0.999:100000' has more than 1000 points"
    line = _one_line(cli("whatif", CHECKOUT, "--vary", "components.paya.availability=0.9:0.999:100",
                         "--vary", "components.payb.availability=0.9:0.999:100", "--samples", "0"))
    assert line == "emac whatif: --vary: the grid has 10000 points, more than 1000"


# --------------------------------------------------------------------------- capacity


def test_a_saturated_queue_cannot_pass(cli, tmp_path: Path) -> None:
    """Issue 13: load twice the capacity compiled to PASS with 'latency not modelled'."""
    text = CAPACITY.read_text().replace("rate: 100 ", "rate: 400 ")
    spec = tmp_path / "saturated.yaml"
    spec.write_text(text)
    import json

    r = cli("compile", spec, "--out", tmp_path / "out", "--samples", "2000", "--format", "json")
    assert r.exit_code == 1, r
    d = json.loads(r.stdout)["decision"]
    assert d["verdict"] == "FAIL"
    assert d["reasons"][0].startswith("latency objective p99 <= 0.4s fails: saturated at load.rate 400/s (index utilisation 2.67")
    # without a latency objective the decision is REVIEW with the same reason
    no_latency = yaml.safe_load(text)
    del no_latency["spec"]["objectives"]["latency"]
    spec.write_text(yaml.safe_dump(no_latency))
    d = json.loads(cli("compile", spec, "--out", tmp_path / "out", "--samples", "2000", "--format", "json").stdout)["decision"]
    assert d["verdict"] == "REVIEW" and d["reasons"][0].startswith("review: saturated at load.rate 400/s")
    # below saturation compile models the queues' latency instead of 'not modelled'
    d = json.loads(cli("compile", CAPACITY, "--out", tmp_path / "ok", "--samples", "2000", "--format", "json").stdout)
    assert d["decision"]["latencyUpperSeconds"] is not None and math.isfinite(d["decision"]["latencyUpperSeconds"])


def test_numeric_layers_turn_overflow_into_one_line() -> None:
    from emac_sim.errors import numeric_layer

    class J:
        source = "j.yaml"

    @numeric_layer("bounds")
    def overflowing(journey: object) -> float:
        return math.exp(1e6)

    with pytest.raises(SpecError) as err:
        overflowing(J())
    assert err.value.line() == "j.yaml: bounds: numbers too extreme to compute with (OverflowError: math range error)"


def test_discovery_never_chooses_a_latency_the_loader_refuses() -> None:
    """A fit outside the loader's ranges (from traces with near-constant or wildly spread
    durations, or spans longer than a day) would make the discovered model unloadable."""
    import numpy as np

    from emac_sim.discover.stats import fit_latency
    from emac_sim.spec.limits import within_limits

    rng = np.random.default_rng(3)
    for x in (1.0 + 1e-9 * rng.random(500), np.exp(rng.normal(-3, 9, 500)), np.full(10, 3 * 86400.0), np.full(10, 1e-12)):
        fit = fit_latency(x)
        assert fit.chosen is not None and within_limits(fit.chosen), (fit.best, fit.chosen)
