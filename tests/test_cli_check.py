"""``emac check``: the paper spec, JSON output, SLO search paths, and every bad input of issue 2.

Every bad input must exit 2 with exactly one line ``FILE: PATH: what is wrong`` on stderr and
nothing on stdout; the tests assert the whole line.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import textwrap
from pathlib import Path

import numpy as np
import pytest

HEAD = """\
apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {name: t}
"""

# a small valid journey; bad inputs below are one edit away from it
GOOD = (
    HEAD
    + """\
spec:
  objectives:
    availability: {target: 0.99}
    latency: {objective: {metric: p99, threshold: 500ms}}
  operator:
    type: series
    steps:
      - ref: a
      - type: parallel
        join: quorum
        k: 2
        branches: [{ref: b}, {ref: c}, {ref: d}]
  components:
    a: {availability: 0.999, latency: {dist: lognormal, p50: 10ms, p99: 50ms}, failureDomains: [zone]}
    b: {availability: 0.99, latency: {dist: exponential, mean: 20ms}, failureDomains: [zone]}
    c: {availability: 0.99, latency: {dist: gamma, mean: 20ms, cv: 0.5}}
    d: {availability: 0.99, latency: {dist: constant, value: 5ms}}
  failureDomains:
    rules:
      - name: zone
        correlation: {model: gaussian, rho: 0.4}
"""
)


def _edit(old: str, new: str, base: str = GOOD) -> str:
    assert base.count(old) == 1, old
    return base.replace(old, new)


def _two(operator: str, extra: str = "", a: str = "{availability: 0.9}", b: str = "{availability: 0.9}") -> str:
    return HEAD + f"spec:\n  operator: {operator}\n  components: {{a: {a}, b: {b}}}\n" + extra


def _three_matrix(matrix: str) -> str:
    return (
        HEAD
        + "spec:\n  operator: {type: series, steps: [{ref: a}, {ref: b}, {ref: c}]}\n"
        + "  components: {a: {availability: 0.9}, b: {availability: 0.9}, c: {availability: 0.9}}\n"
        + f"  correlation: {{components: [a, b, c], matrix: {matrix}}}\n"
    )


NOT_PSD = [[1, 0.9, -0.9], [0.9, 1, 0.9], [-0.9, 0.9, 1]]
NOT_PSD_MIN_EIG = float(np.linalg.eigvalsh(np.array(NOT_PSD)).min())  # -0.8

# (id, spec text, expected line after "FILE: ")
BAD_INPUTS = [
    (
        "yaml-syntax",
        HEAD + "spec:\n  operator: {ref: a\n  components: {}\n",
        # libyaml and pure-Python PyYAML word the problem differently; the line and context agree
        re.compile(r"line 6: YAML syntax error: (did not find expected|expected) ',' or '\}'.* \(while parsing a flow mapping started on line 5\)"),
    ),
    (
        "yaml-tab",
        HEAD + "spec:\n\toperator: {ref: a}\n",
        re.compile(r"line 5: YAML syntax error: found character .*that cannot start any token.*"),
    ),
    (
        "not-a-mapping-list",
        "- apiVersion: emac.dev/v1alpha1\n- kind: JourneyIntent\n",
        "expected a mapping at the top level (apiVersion, kind, metadata, spec), got a list",
    ),
    ("not-a-mapping-scalar", "just some words\n", "expected a mapping at the top level (apiVersion, kind, metadata, spec), got a string"),
    ("empty-document", "# nothing here\n", "empty document: expected a JourneyIntent mapping"),
    ("two-documents", GOOD + "---\n" + GOOD, "expected one YAML document, found 2"),
    ("wrong-apiVersion", _edit("emac.dev/v1alpha1", "emac.dev/v2"), "apiVersion: expected 'emac.dev/v1alpha1', got 'emac.dev/v2'"),
    ("wrong-kind", _edit("kind: JourneyIntent", "kind: Journey"), "kind: expected one of JourneyIntent, DiscoveredJourneyModel, got 'Journey'"),
    (
        "unknown-key-component",
        _edit("a: {availability: 0.999,", "a: {availabilty: 0.999,"),
        "spec.components.a.availabilty: unknown key 'availabilty' (did you mean 'availability'?)",
    ),
    ("unknown-key-spec", _edit("  operator:", "  operater:"), "spec.operater: unknown key 'operater' (did you mean 'operator'?)"),
    (
        "unknown-key-operator",
        _edit("        branches: [", "        brances: ["),
        "spec.operator.steps[1].brances: unknown key 'brances' (did you mean 'branches'?)",
    ),
    (
        "unknown-operator-type",
        _edit("type: parallel", "type: paralel"),
        "spec.operator.steps[1].type: unknown operator type 'paralel' (did you mean 'parallel'?)",
    ),
    (
        "unknown-operator-type-no-hint",
        _edit("type: parallel", "type: scatter"),
        "spec.operator.steps[1].type: unknown operator type 'scatter' "
        "(one of series, parallel, race, fallback, retry, timeout, choice, optional, repeat, cache)",
    ),
    ("undefined-ref", _edit("{ref: d}]", "{ref: e}]"), "spec.operator.steps[1].branches[2].ref: ref to undefined component 'e'"),
    (
        "undefined-ref-hint",
        _edit("{ref: d}]", "{ref: dd}]"),
        "spec.operator.steps[1].branches[2].ref: ref to undefined component 'dd' (did you mean 'd'?)",
    ),
    (
        "component-defined-twice",
        _edit("    d: {availability: 0.99,", "    c: {availability: 0.5}\n    d: {availability: 0.99,"),
        "spec.components.c: 'c' defined twice (lines 19 and 20)",
    ),
    (
        "availability-above-1",
        _edit("a: {availability: 0.999,", "a: {availability: 1.5,"),
        "spec.components.a.availability: must be a probability in [0, 1], got 1.5",
    ),
    (
        "availability-negative",
        _edit("a: {availability: 0.999,", "a: {availability: -0.1,"),
        "spec.components.a.availability: must be a probability in [0, 1], got -0.1",
    ),
    (
        "availability-nan",
        _edit("a: {availability: 0.999,", "a: {availability: .nan,"),
        "spec.components.a.availability: must be a probability in [0, 1], got NaN",
    ),
    (
        "availability-string",
        _edit("a: {availability: 0.999,", "a: {availability: high,"),
        "spec.components.a.availability: expected a number, got 'high'",
    ),
    (
        "malformed-duration",
        _edit("p50: 10ms", "p50: 10 parsecs"),
        "spec.components.a.latency.p50: malformed duration '10 parsecs': unknown unit 'parsecs' (use ns, us, ms, s, m, h, d, w)",
    ),
    (
        "malformed-duration-garbage",
        _edit("threshold: 500ms", "threshold: fast"),
        "spec.objectives.latency.objective.threshold: malformed duration 'fast': expected a number with a unit (ns, us, ms, s, m, h, d, w)",
    ),
    ("negative-p50", _edit("p50: 10ms", "p50: -10ms"), "spec.components.a.latency.p50: duration must be non-negative, got '-10ms'"),
    (
        "negative-mean",
        _edit("mean: 20ms}, failureDomains", "mean: -0.02}, failureDomains"),
        "spec.components.b.latency.mean: duration must be non-negative, got -0.02",
    ),
    ("negative-cv", _edit("cv: 0.5", "cv: -0.5"), "spec.components.c.latency.cv: gamma cv must be between 0.01 and 10, got -0.5"),
    (
        "negative-sigma",
        _edit("{dist: lognormal, p50: 10ms, p99: 50ms}", "{dist: lognormal, mu: -4, sigma: -1}"),
        "spec.components.a.latency.sigma: lognormal sigma must be between 0 and 5, got -1",
    ),
    ("infinite-p99", _edit("p99: 50ms", "p99: .inf"), "spec.components.a.latency.p99: duration must be finite, got inf"),
    (
        "nan-mean",
        _edit("mean: 20ms}, failureDomains", "mean: .nan}, failureDomains"),
        "spec.components.b.latency.mean: duration must be finite, got nan",
    ),
    (
        "nan-mu",
        _edit("{dist: lognormal, p50: 10ms, p99: 50ms}", "{dist: lognormal, mu: .nan, sigma: 1}"),
        "spec.components.a.latency.mu: must be a finite number, got nan",
    ),
    ("p99-below-p50", _edit("p99: 50ms", "p99: 5ms"), "spec.components.a.latency.p99: p99 (0.005s) is below p50 (0.01s)"),
    (
        "choice-weight-negative",
        _two("{type: choice, branches: [{weight: -1, ref: a}, {weight: 2, ref: b}]}"),
        "spec.operator.branches[0].weight: must be >= 0, got -1",
    ),
    (
        "choice-weights-zero",
        _two("{type: choice, branches: [{weight: 0, ref: a}, {weight: 0, ref: b}]}"),
        "spec.operator.branches: choice weights are all zero",
    ),
    ("quorum-k-too-large", _edit("k: 2", "k: 4"), "spec.operator.steps[1].k: quorum k = 4 is larger than the 3 branches"),
    (
        "empty-branches",
        _edit("branches: [{ref: b}, {ref: c}, {ref: d}]", "branches: []"),
        "spec.operator.steps[1].branches: parallel has empty branches",
    ),
    ("empty-steps", _two("{type: series, steps: []}"), "spec.operator.steps: series has empty steps"),
    (
        "rho-sum-above-1",
        _edit(
            "        correlation: {model: gaussian, rho: 0.4}\n",
            "        correlation: {model: gaussian, rho: 0.7}\n      - name: rack\n        correlation: {rho: 0.4}\n",
        ).replace("failureDomains: [zone]}\n    b:", "failureDomains: [zone, rack]}\n    b:"),
        "spec.components.a.failureDomains: sum of rho over its domains (zone, rack) is 1.1 > 1",
    ),
    (
        "matrix-not-symmetric",
        _three_matrix("[[1, 0.3, 0], [0.2, 1, 0], [0, 0, 1]]"),
        "spec.correlation.matrix[1][0]: matrix is not symmetric: [1][0] = 0.2 but [0][1] = 0.3",
    ),
    (
        "matrix-not-psd",
        _three_matrix(str(NOT_PSD)),
        f"spec.correlation.matrix: matrix is not positive semidefinite (smallest eigenvalue {NOT_PSD_MIN_EIG:.6g})",
    ),
    ("matrix-diagonal", _three_matrix("[[1, 0, 0], [0, 0.5, 0], [0, 0, 1]]"), "spec.correlation.matrix[1][1]: diagonal must be 1, got 0.5"),
    (
        "shock-probability-too-high",
        _two(
            "{type: series, steps: [{ref: a}, {ref: b}]}",
            "  failureDomains: {rules: [{name: net, correlation: {model: shock, probability: 0.5}}]}\n",
            a="{availability: 0.9, failureDomains: [net]}",
        ),
        "spec.failureDomains.rules[0].correlation.probability: "
        "shock probability 0.5 exceeds 1 - availability of a member (0.1): marginals cannot be kept",
    ),
    (
        "repeat-count-huge",
        _two("{type: repeat, count: " + "9" * 400 + ", step: {ref: a}}"),
        "spec.operator.count: must be a finite number, got a 400-digit number",
    ),
    (
        "deep-nesting",
        HEAD
        + "spec:\n  operator: "
        + "{type: optional, probability: 0.5, step: " * 70
        + "{ref: a}"
        + "}" * 70
        + "\n  components: {a: {availability: 0.9}}\n",
        "spec.operator" + ".step" * 65 + ": operators nested more than 64 levels deep",
    ),
    (
        "python-tag",
        HEAD + "spec: !!python/object/apply:os.system [echo hi]\n",
        re.compile(r"line 4: unsupported YAML: could not determine a constructor for the tag .*python/object/apply:os\.system.*"),
    ),
]


@pytest.mark.parametrize("text, expected", [pytest.param(t, e, id=i) for i, t, e in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2(cli, write_spec, text, expected):
    path = write_spec(text)
    r = cli("check", path)
    assert r.exit_code == 2, r
    assert r.exception is None or isinstance(r.exception, SystemExit), r
    assert r.stdout == ""
    assert r.stderr.endswith("\n") and r.stderr.count("\n") == 1, r.stderr
    line = r.stderr.rstrip("\n")
    prefix = f"{path}: "
    assert line.startswith(prefix), line
    rest = line[len(prefix) :]
    if isinstance(expected, re.Pattern):
        assert expected.fullmatch(rest), rest
    else:
        assert rest == expected


def test_missing_file(cli, tmp_path):
    missing = tmp_path / "nope.yaml"
    r = cli("check", missing)
    assert r.exit_code == 2
    assert r.stderr == f"{missing}: file not found\n"


def test_directory_instead_of_file(cli, tmp_path):
    r = cli("check", tmp_path)
    assert r.exit_code == 2
    assert r.stderr == f"{tmp_path}: is a directory, expected a YAML file\n"


def test_unresolvable_atomic_slo_ref(cli, write_spec, tmp_path):
    path = write_spec(_two("{ref: a}", a='{atomicSLORef: "openslo:slo.nope"}'))
    r = cli("check", path)
    assert r.exit_code == 2
    where = tmp_path  # the spec's own directory (shown absolute or relative, whichever is shorter)
    m = re.fullmatch(
        rf"{re.escape(str(path))}: spec\.components\.a\.atomicSLORef: unresolvable atomicSLORef 'openslo:slo\.nope': "
        r"no OpenSLO SLO named 'slo\.nope' in (.+)\n",
        r.stderr,
    )
    assert m, r.stderr
    assert Path(m.group(1)).resolve() == where.resolve()


def test_unresolvable_ref_scheme(cli, write_spec):
    path = write_spec(_two("{ref: a}", a='{atomicSLORef: "datadog:x"}'))
    r = cli("check", path)
    assert r.stderr == (
        f"{path}: spec.components.a.atomicSLORef: unresolvable atomicSLORef 'datadog:x': expected openslo:<name> or sloth:<service>/<slo>\n"
    )


def test_missing_slo_path(cli, write_spec, tmp_path):
    path = write_spec(_two("{ref: a}"))
    r = cli("check", path, "--slo-path", tmp_path / "absent")
    assert r.exit_code == 2
    assert r.stderr == f"{tmp_path / 'absent'}: SLO path not found (given with --slo-path)\n"


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_refused_fast(cli, write_spec):
    # 9^10 ≈ 3.5e9 expanded nodes: constructing or traversing it would never finish; the
    # refusal works on the composed graph (a few dozen nodes). The alarm is a generous guard.
    path = write_spec(_alias_bomb())

    def too_slow(signum, frame):  # pragma: no cover - only on failure
        raise TimeoutError("alias bomb not refused within 10 s")

    old = signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(10)
    try:
        r = cli("check", path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert r.exit_code == 2, r
    assert r.stderr == f"{path}: line 1: YAML aliases expand to more than 1,000,000 nodes (alias bomb?); refusing\n"


def test_alias_bomb_inside_a_spec(cli, write_spec):
    text = GOOD.replace("metadata: {name: t}", "metadata:\n  name: t\n  annotations:\n" + textwrap.indent(_alias_bomb(), "    "))
    path = write_spec(text)
    r = cli("check", path)
    assert r.exit_code == 2
    assert "alias bomb" in r.stderr and r.stderr.count("\n") == 1


def test_small_aliases_are_fine(cli, write_spec):
    text = GOOD.replace("  components:\n", "  components:\n    e: &shared {availability: 0.99}\n    f: *shared\n")
    r = cli("check", write_spec(text))
    assert r.exit_code == 0, r


# --------------------------------------------------------------------------- good input


def test_good_spec_exit_0(cli, write_spec):
    r = cli("check", write_spec(GOOD))
    assert r.exit_code == 0, r
    assert "Series(a, Quorum2(b, c, d))" in r.stdout


PAPER_AVAILABILITY = {"front": 0.9995, "cart": 0.999, "pricing": 0.999, "paya": 0.995, "payb": 0.995}


def test_paper_spec_text(cli, paper_spec):
    r = cli("check", paper_spec)
    assert r.exit_code == 0, r
    assert "Series(front, Parallel(cart, pricing), Race(paya, payb))" in r.stdout
    for cid, a in PAPER_AVAILABILITY.items():
        row = next(line for line in r.stdout.splitlines() if f" {cid} " in line)
        assert f" {a:g} " in row
        assert f"atomic/openslo/slo.{cid}.availability.yaml" in r.stdout


def test_paper_spec_json(cli, paper_spec):
    r = cli("check", paper_spec, "--format", "json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)  # exactly one JSON object
    assert doc["journey"] == "checkout"
    assert doc["expression"] == "Series(front, Parallel(cart, pricing), Race(paya, payb))"
    assert {cid: c["availability"] for cid, c in doc["components"].items()} == PAPER_AVAILABILITY
    for cid, c in doc["components"].items():
        ref, _, file = c["source"].partition(" (")
        assert ref == f"openslo:slo.{cid}.availability"
        shown = Path(file.rstrip(")"))
        assert shown.resolve() == (paper_spec.parent.parent / "atomic" / "openslo" / f"slo.{cid}.availability.yaml").resolve()
    assert set(doc["domains"]) == {"k8s/zone", "k8s/cluster", "payment-network"}
    assert doc["objectives"]["availability"]["target"] == 0.995
    assert doc["objectives"]["latency"]["thresholdSeconds"] == 0.4
    assert doc["latencyModelled"] is False


def test_source_is_relative_to_cwd(cli, paper_spec, monkeypatch):
    monkeypatch.chdir(paper_spec.parent.parent)
    r = cli("check", "spec/emac.checkout.yaml", "--format", "json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert doc["components"]["front"]["source"] == "openslo:slo.front.availability (atomic/openslo/slo.front.availability.yaml)"


def test_slo_path_for_a_copied_spec(cli, paper_spec, tmp_path):
    copy = tmp_path / "elsewhere" / "checkout.yaml"
    copy.parent.mkdir()
    shutil.copy(paper_spec, copy)
    r = cli("check", copy)
    assert r.exit_code == 2
    assert r.stderr.startswith(f"{copy}: spec.components.front.atomicSLORef: unresolvable atomicSLORef 'openslo:slo.front.availability'")

    openslo = paper_spec.parent.parent / "atomic" / "openslo"
    # repeatable: split the SLO files over two directories
    d1, d2 = tmp_path / "slo1", tmp_path / "slo2"
    d1.mkdir()
    d2.mkdir()
    for f in openslo.glob("slo.*.yaml"):
        shutil.copy(f, d1 if f.name < "slo.p" else d2)
    r = cli("check", copy, "--slo-path", d1, "--format", "json")
    assert r.exit_code == 2 and "spec.components.pricing.atomicSLORef: unresolvable atomicSLORef 'openslo:slo.pricing.availability'" in r.stderr
    r = cli("check", copy, "--slo-path", d1, "--slo-path", d2, "--format", "json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert {cid: c["availability"] for cid, c in doc["components"].items()} == PAPER_AVAILABILITY


def test_sloth_ref(cli, write_spec, reference_dir):
    path = write_spec(
        _two("{type: series, steps: [{ref: a}, {ref: b}]}", a='{atomicSLORef: "sloth:svc01/slo1"}', b='{atomicSLORef: "sloth:svc01/slo02"}')
    )
    r = cli("check", path, "--slo-path", reference_dir / "sloth" / "in-base.yaml", "--format", "json")
    assert r.exit_code == 0, r
    doc = json.loads(r.stdout)
    assert doc["components"]["a"]["availability"] == 0.999  # objective 99.9, divided exactly
    assert doc["components"]["b"]["availability"] == 0.95
    assert doc["components"]["a"]["source"].startswith("sloth:svc01/slo1 (")


def test_sloth_ref_did_you_mean(cli, write_spec, reference_dir):
    path = write_spec(_two("{ref: a}", a='{atomicSLORef: "sloth:svc01/slo01"}'))
    r = cli("check", path, "--slo-path", reference_dir / "sloth")
    assert r.exit_code == 2
    assert r.stderr.rstrip("\n").endswith("(did you mean sloth:svc01/slo1?)")


def test_configs_pass_check(cli, config_paths):
    assert config_paths, "no configs found"
    for p in config_paths:
        r = cli("check", p, "--format", "json")
        assert r.exit_code == 0, (p, r)
        doc = json.loads(r.stdout)
        assert "availability" in doc["objectives"] and "latency" in doc["objectives"], p
        assert doc["objectives"]["latency"]["metric"] == "p99", p
