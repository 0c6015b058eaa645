"""Generated Prometheus artifacts against the real promtool (Debian's 2.42 in CI).

- every rule file passes ``promtool check rules`` (the PrometheusRule's groups too);
- every generated ``alerts.test.yaml`` passes ``promtool test rules``, and fails when a threshold
  moves by 2 % or a window is swapped (the tests can fail);
- the recording rules compute the journey error ratio, burn rate and bound SLIs from raw
  counters (promtool ``promql_expr_test``, values from the counters' definition);
- the guard's PromQL compilation agrees with the Python evaluator on random guards.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

# the derivation builder and the paper numbers are shared with the emitter tests
from test_emit import A_MINUS, A_PLUS, CHECKOUT, make_derivation

from emac_sim.emit import EmitOptions, emit_all, prometheus, sloth
from emac_sim.govern.guard import And, BoolLit, Compare, Not, Num, Or, Var, evaluate_guard, to_promql, unparse

PROMTOOL = shutil.which("promtool")
_slow = pytest.mark.slow
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (CI installs Debian's prometheus package)")


def promtool(*args: str | Path) -> subprocess.CompletedProcess:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=300)


CUSTOM_POLICY = textwrap.dedent(
    """
        alerts:
          sloBudgetWindow: 28d
          burnRatePolicy:
            page:
              - {burnRate: 10, longWindow: 90m, shortWindow: 90s}
              - {burnRate: 4, longWindow: 5h, shortWindow: 25m}
            ticket:
              - {burnRate: 1.5, longWindow: 2d, shortWindow: 4h}
    """
)


def _custom_spec(write_spec) -> Path:
    text = CHECKOUT.read_text()
    text = text.replace("    alerts:\n      sloBudgetWindow: 30d\n", textwrap.indent(CUSTOM_POLICY.strip("\n"), "    ") + "\n")
    text = text.replace("target: 0.995", "target: 0.9990")
    assert "burnRatePolicy" in text
    return write_spec(text)


@pytest.fixture(params=["checkout", "paper", "sloth-mode", "custom-windows"])
def emitted(request: pytest.FixtureRequest, tmp_path: Path, write_spec) -> Path:
    kind = request.param
    if kind == "checkout":
        d = make_derivation(CHECKOUT)
    elif kind == "paper":
        d = make_derivation(request.getfixturevalue("paper_spec"))
    elif kind == "sloth-mode":
        d = make_derivation(CHECKOUT, options=EmitOptions(sloth_compatible=True))
    else:
        d = make_derivation(_custom_spec(write_spec), a_minus=0.9992, a_plus=0.9995)
    out = tmp_path / "out"
    emit_all(d, out)
    return out


def test_rule_files_pass_promtool_check(emitted: Path, tmp_path: Path) -> None:
    pr = yaml.safe_load((emitted / "prometheus" / "prometheusrule.yaml").read_text())
    groups = tmp_path / "prometheusrule-groups.yaml"
    groups.write_text(yaml.safe_dump({"groups": pr["spec"]["groups"]}, sort_keys=False))
    res = promtool("check", "rules", emitted / "prometheus" / "recording-rules.yaml", emitted / "prometheus" / "alerts.yaml", groups)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("SUCCESS") == 3


def test_alert_unit_tests_pass_promtool(emitted: Path) -> None:
    res = promtool("test", "rules", emitted / "prometheus" / "alerts.test.yaml")
    assert res.returncode == 0, res.stdout + res.stderr
    tests = yaml.safe_load((emitted / "prometheus" / "alerts.test.yaml").read_text())["tests"]
    alerts = yaml.safe_load((emitted / "prometheus" / "alerts.yaml").read_text())["groups"][0]["rules"]
    windows = sum(a["expr"].count(" and\n") for a in alerts)
    raw = [t for t in tests if "from raw counters" in t["name"]]
    # fires, stays quiet, resets, gated from recorded ratios; fires and stays quiet from raw counters: per window pair
    assert len(tests) - len(raw) == 4 * windows and len(raw) == 2 * windows
    assert all(s["series"].startswith("journey_requests_total{") for t in raw for s in t["input_series"])
    for group in (raw, [t for t in tests if t not in raw]):
        assert any(check["exp_alerts"] for t in group for check in t["alert_rule_test"])
        assert any(not check["exp_alerts"] for t in group for check in t["alert_rule_test"])


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("[1h]", "[30m]"),  # a ratio recorded over the wrong window
        ('journey="checkout",result="success"}[3d]', 'journey="checkout",result="error"}[3d]'),  # good and bad swapped
        pytest.param("[6h]", "[5h]", marks=_slow),
    ],
)
def test_alert_unit_tests_catch_a_wrong_recording_rule(old: str, new: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    emit_all(make_derivation(CHECKOUT), out)
    rules = out / "prometheus" / "recording-rules.yaml"
    text = rules.read_text()
    assert old in text
    rules.write_text(text.replace(old, new))
    res = promtool("test", "rules", out / "prometheus" / "alerts.test.yaml")
    assert res.returncode != 0 and "from raw counters" in res.stdout + res.stderr, res.stdout[-2000:]


@pytest.mark.parametrize(
    ("old", "new", "nth"),
    [
        ("(14.4 * 0.005)", "(14.688 * 0.005)", 2),  # long window +2 %: the "fires" case sees it
        ("(6 * 0.005)", "(5.88 * 0.005)", 2),  # long window −2 %: the "gated" case sees it
        ("(6 * 0.005)", "(5.88 * 0.005)", 1),  # short window −2 %: only the "resets" case sees it
        ("slo:sli_error:ratio_rate6h{", "slo:sli_error:ratio_rate1d{", 1),
        pytest.param("(14.4 * 0.005)", "(14.688 * 0.005)", 1, marks=_slow),  # short window +2 %
        pytest.param("(1 * 0.005)", "(1.02 * 0.005)", 2, marks=_slow),
        pytest.param("(1 * 0.005)", "(0.98 * 0.005)", 1, marks=_slow),
        pytest.param("severity: page\n", "severity: critical\n", 1, marks=_slow),
    ],
)
def test_alert_unit_tests_catch_a_wrong_alert(old: str, new: str, nth: int, tmp_path: Path) -> None:
    out = tmp_path / "out"
    emit_all(make_derivation(CHECKOUT), out)
    alerts = out / "prometheus" / "alerts.yaml"
    text = alerts.read_text()
    at = -1
    for _ in range(nth):
        at = text.index(old, at + 1)
    alerts.write_text(text[:at] + new + text[at + len(old) :])
    res = promtool("test", "rules", out / "prometheus" / "alerts.test.yaml")
    assert res.returncode != 0, res.stdout


def test_sloth_compatible_output_passes_promtool_check(reference_dir: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load((reference_dir / "sloth" / "in-base.yaml").read_text())
    f = tmp_path / "sloth-rules.yaml"
    f.write_text(sloth.generate(doc))
    res = promtool("check", "rules", f)
    assert res.returncode == 0 and "SUCCESS: 32 rules found" in res.stdout, res.stdout + res.stderr


# --------------------------------------------------------------------------- the recording rules compute what they say


def test_recording_rules_compute_error_ratio_burn_rate_and_bounds(tmp_path: Path) -> None:
    out = tmp_path / "out"
    emit_all(make_derivation(CHECKOUT), out)
    # 9 900 good and 100 failed requests per minute: error ratio 0.01, burn rate 0.01 / 0.005 = 2
    sel = 'sloth_id="checkout-availability", sloth_service="checkout", sloth_slo="availability"'
    checks = [
        (f"slo:sli_error:ratio_rate5m{{{sel}}}", 0.01),
        (f"slo:sli_error:ratio_rate1h{{{sel}}}", 0.01),
        (f"slo:sli_error:ratio_rate30d{{{sel}}}", 0.01),
        (f"slo:current_burn_rate:ratio{{{sel}}}", 2.0),
        (f"slo:error_budget:ratio{{{sel}}}", 0.005),
        (f"slo:period_error_budget_remaining:ratio{{{sel}}}", -1.0),
        ('journey:checkout:availability_bound{bound="pessimistic"}', A_MINUS),
        ('journey:checkout:availability_bound{bound="optimistic"}', A_PLUS),
        ("journey:checkout:availability_bound_width", A_PLUS - A_MINUS),
        ("journey:checkout:latency_seconds:p99_upper_bound", 0.38),
    ]
    tests = []
    for expr, value in checks:
        tests.append(
            {
                "expr": f"count(abs({expr} - {value!r}) <= bool {abs(value) * 1e-9 + 1e-15!r} == 1)",
                "eval_time": "2h",
                "exp_samples": [{"labels": "{}", "value": 1}],
            }
        )
    doc = {
        "rule_files": ["recording-rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'journey_requests_total{journey="checkout",result="success",instance="a"}', "values": "0+9900x150"},
                    {"series": 'journey_requests_total{journey="checkout",result="error",instance="a"}', "values": "0+100x150"},
                ],
                "promql_expr_test": tests,
            }
        ],
    }
    f = out / "prometheus" / "semantics.test.yaml"
    f.write_text(yaml.safe_dump(doc, sort_keys=False))
    res = promtool("test", "rules", f)
    assert res.returncode == 0, res.stdout + res.stderr


# --------------------------------------------------------------------------- guards: PromQL vs Python


def _random_guard(rng: random.Random, depth: int = 0):
    if depth >= 3 or rng.random() < 0.35:
        kind = rng.random()
        if kind < 0.7:
            left = Var(rng.choice(["A_minus", "A_plus", "p99_U", "conf(delta)", "width"]))
            v = round(rng.uniform(0, 1), 3)
            right = Num(v, repr(v))
            if rng.random() < 0.5:
                left, right = right, left
            return Compare(rng.choice(["<", "<=", ">", ">=", "==", "!="]), left, right)
        if kind < 0.9:
            return Var("no_unresolved_domain_conflict")
        return BoolLit(rng.random() < 0.5)
    op = rng.random()
    if op < 0.2:
        return Not(_random_guard(rng, depth + 1))
    cls = And if op < 0.6 else Or
    return cls(_random_guard(rng, depth + 1), _random_guard(rng, depth + 1))


def test_guard_promql_agrees_with_the_python_evaluator(tmp_path: Path) -> None:
    rng = random.Random(20240601)
    journey = make_derivation(CHECKOUT).journey
    series = prometheus.bound_series(journey)
    groups = []
    outcomes = {True: 0, False: 0, None: 0}
    for _ in range(20):
        env = {
            "A_minus": rng.choice([0.2, 0.5, 0.8]),
            "A_plus": rng.choice([0.3, 0.6, 0.9]),
            "width": rng.choice([0.1, 0.4]),
            "p99_U": rng.choice([None, 0.25, 0.75]),
            "conf(delta)": rng.choice([None, 0.5, 0.95]),
            "no_unresolved_domain_conflict": rng.choice([True, False]),
        }
        inputs = []
        for name, value in env.items():
            if value is None:
                continue
            number = (0 if value else 1) if isinstance(value, bool) else value
            inputs.append({"series": series[name], "values": f"{number!r}x3"})
        tests = []
        for _ in range(8):
            guard = _random_guard(rng)
            expected = evaluate_guard(guard, env).value
            outcomes[expected] += 1
            q = f"vector({to_promql(guard, series)})"
            expr = {True: f"{q} == 1", False: f"{q} == 0", None: f"absent({q} == {q})"}[expected]
            value = {True: 1, False: 0, None: 1}[expected]
            tests.append({"expr": expr, "eval_time": "2m", "exp_samples": [{"labels": "{}", "value": value}]})
            assert parse_ok(unparse(guard))
        groups.append({"interval": "1m", "input_series": inputs, "promql_expr_test": tests})
    assert min(outcomes.values()) >= 10, outcomes  # every outcome is exercised
    f = tmp_path / "guards.test.yaml"
    f.write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": "1m", "tests": groups}, sort_keys=False))
    res = promtool("test", "rules", f)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr


def parse_ok(text: str) -> bool:
    from emac_sim.govern.guard import parse_guard

    parse_guard(text)
    return True


CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("spec", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_example_config_passes_promtool_check(spec: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    emit_all(make_derivation(spec, a_minus=0.99, a_plus=0.995), out)
    res = promtool("check", "rules", out / "prometheus" / "recording-rules.yaml", out / "prometheus" / "alerts.yaml")
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_generated_alert_tests_hold_for_random_policies(seed: int, tmp_path: Path) -> None:
    from emac_sim.emit.promtest import alert_tests_text
    from emac_sim.emit.sloth import SLO, AlertMeta, BurnWindow, alert_rules

    rng = random.Random(seed)
    minutes = [1, 2, 5, 10, 15, 30, 60, 120, 240, 360, 720, 1440, 2880]
    windows = []
    for severity in ("page", "ticket"):
        for _ in range(rng.randint(1, 3)):
            short = rng.choice(minutes[:-2])
            long = rng.choice([m for m in minutes if m >= 4 * short] or [short * 12])
            windows.append(BurnWindow(severity, round(rng.uniform(0.5, 20.0), 2), short * 60.0, long * 60.0))
    slo = SLO(
        service="svc",
        name="availability",
        objective=rng.choice([99.0, 99.5, 99.9, 99.95]),
        sli="sum(rate(errors[{{ .window }}])) / sum(rate(total[{{ .window }}]))",
        labels=(("team", "t"),),
        period=30 * 86400.0,
        windows=tuple(windows),
        base_window=min(w.short for w in windows),
        page=AlertMeta(name="Page"),
        ticket=AlertMeta(name="Ticket"),
    )
    rules = tmp_path / "alerts.yaml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": alert_rules(slo, style="sloth")}]}, sort_keys=False))
    test = tmp_path / "alerts.test.yaml"
    test.write_text(alert_tests_text(slo, style="sloth"))
    res = promtool("test", "rules", test)
    assert res.returncode == 0, (windows, res.stdout[-3000:])
