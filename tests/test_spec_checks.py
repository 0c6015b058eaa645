"""Spec checks users expect and SLO references in every export form (issue 12 §3, §4).

- atomicSLORef reads OpenSLO's YAML-list form and Sloth's Kubernetes ``PrometheusServiceLevel``;
  a name defined twice is an error naming both files; a Timeslices target used as request
  availability is said (a warning, and in the resolved source the reports carry);
- a choice branch may be any inline operator carrying a ``weight``;
- component ``kind`` is checked with did-you-mean;
- bare latency numbers that are probably milliseconds are warned about, one line with the path.
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest
import yaml

from emac_sim.errors import SpecError, SpecWarning
from emac_sim.spec import load_spec, load_spec_text

SPEC = """\
apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {{name: shop}}
spec:
  operator: {{type: series, steps: [{{ref: web}}, {{ref: db}}]}}
  components:
    web: {{atomicSLORef: "{web}"}}
    db: {{atomicSLORef: "{db}"}}
"""


def _openslo(name: str, target: float, method: str = "Occurrences") -> dict:
    return {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": name},
        "spec": {"service": name, "budgetingMethod": method, "objectives": [{"target": target}]},
    }


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False) if not isinstance(data, str) else data)
    return path


def _spec(tmp_path: Path, web: str, db: str) -> Path:
    return _write(tmp_path / "spec" / "shop.yaml", SPEC.format(web=web, db=db))


# --------------------------------------------------------------------------- SLO references


def test_openslo_yaml_list_form(tmp_path: Path) -> None:
    _write(tmp_path / "spec" / "slos.yaml", [_openslo("web-availability", 0.999), _openslo("db-availability", 0.9995)])
    j = load_spec(_spec(tmp_path, "openslo:web-availability", "openslo:db-availability"))
    assert j.availabilities == {"web": 0.999, "db": 0.9995}


def test_sloth_kubernetes_form(tmp_path: Path) -> None:
    doc = {
        "apiVersion": "sloth.slok.dev/v1",
        "kind": "PrometheusServiceLevel",
        "metadata": {"name": "shop-slos", "namespace": "shop"},
        "spec": {
            "service": "shop",
            "labels": {"team": "a"},
            "slos": [
                {"name": "web-requests", "objective": 99.9, "sli": {"events": {"errorQuery": "x", "totalQuery": "y"}}},
                {"name": "db-requests", "objective": 99.95, "sli": {"events": {"errorQuery": "x", "totalQuery": "y"}}},
            ],
        },
    }
    _write(tmp_path / "spec" / "sloth-k8s.yaml", doc)
    j = load_spec(_spec(tmp_path, "sloth:shop/web-requests", "sloth:shop/db-requests"))
    assert j.availabilities == {"web": 0.999, "db": 0.9995}


def test_a_name_defined_in_two_files_is_an_error_naming_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "spec" / "a.yaml", _openslo("web-availability", 0.999))
    _write(tmp_path / "spec" / "b.yaml", [_openslo("web-availability", 0.99), _openslo("db-availability", 0.9995)])
    _spec(tmp_path, "openslo:web-availability", "openslo:db-availability")
    with pytest.raises(SpecError) as exc:
        load_spec(Path("spec") / "shop.yaml")
    assert exc.value.line() == (
        "spec/shop.yaml: spec.components.web.atomicSLORef: ambiguous atomicSLORef 'openslo:web-availability': "
        "OpenSLO SLO 'web-availability' is defined in both spec/a.yaml and spec/b.yaml"
    )


def test_a_name_defined_twice_in_one_file_is_an_error_naming_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "spec" / "a.yaml", [_openslo("web-availability", 0.999), _openslo("web-availability", 0.99)])
    _write(tmp_path / "spec" / "b.yaml", _openslo("db-availability", 0.9995))
    _spec(tmp_path, "openslo:web-availability", "openslo:db-availability")
    with pytest.raises(SpecError) as exc:
        load_spec(Path("spec") / "shop.yaml")
    assert exc.value.message == "ambiguous atomicSLORef 'openslo:web-availability': OpenSLO SLO 'web-availability' is defined twice in spec/a.yaml"


def test_timeslices_target_used_as_request_availability_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "spec" / "slos.yaml", [_openslo("web-availability", 0.999, "Timeslices"), _openslo("db-availability", 0.9995)])
    spec = _spec(tmp_path, "openslo:web-availability", "openslo:db-availability")
    with pytest.warns(SpecWarning) as rec:
        j = load_spec(Path("spec") / "shop.yaml")
    assert [str(w.message) for w in rec] == [
        "spec/shop.yaml: spec.components.web.atomicSLORef: warning: openslo:web-availability is a Timeslices SLO: "
        "its target 0.999 counts good time slices, used here as request availability"
    ]
    assert j.component("web").availability_source == (
        "openslo:web-availability (spec/slos.yaml); Timeslices target (share of good time slices) used as request availability"
    )
    assert j.component("db").availability_source == "openslo:db-availability (spec/slos.yaml)"
    r = cli("check", Path("spec") / "shop.yaml", "--format", "json")
    assert r.exit_code == 0, r
    assert r.stderr == str(rec[0].message) + "\n"  # the CLI says it once, on one line
    assert "Timeslices target" in yaml.safe_load(r.stdout)["components"]["web"]["source"]
    assert spec.is_file()


# --------------------------------------------------------------------------- choice, kind, bare latency numbers

BASE = """
apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {name: t}
spec:
  operator: %s
  components:
    a: {availability: 0.99%s}
    b: {availability: 0.98}
"""


@pytest.mark.parametrize(
    ("branch", "expression"),
    [
        ("{type: series, steps: [{ref: a}, {ref: b}], weight: 6}", "Choice(0.4:a, 0.6:Series(a, b))"),
        ("{type: retry, step: {ref: b}, attempts: 2, weight: 6}", "Choice(0.4:a, 0.6:Retry(b, 2))"),
        ("{type: timeout, step: {ref: b}, deadline: 1s, weight: 6}", "Choice(0.4:a, 0.6:Timeout(b, 1s))"),
        ("{type: optional, step: {ref: b}, probability: 0.5, weight: 6}", "Choice(0.4:a, 0.6:Optional(b, 0.5))"),
        ("{weight: 6, step: {type: repeat, step: {ref: b}, count: 2}}", "Choice(0.4:a, 0.6:Repeat(b, 2))"),
    ],
)
def test_choice_weight_on_any_inline_operator(branch: str, expression: str) -> None:
    j = load_spec_text(BASE % (f"{{type: choice, branches: [{{ref: a, weight: 4}}, {branch}]}}", ""))
    assert j.expression == expression


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("servce", "<spec>: spec.components.a.kind: unknown component kind 'servce' (did you mean 'service'?)"),
        ("databse", "<spec>: spec.components.a.kind: unknown component kind 'databse' (did you mean 'database'?)"),
        (
            "lambda",
            "<spec>: spec.components.a.kind: unknown component kind 'lambda' "
            "(one of service, external_dependency, database, datastore, cache, queue, gateway, function, library)",
        ),
    ],
)
def test_component_kind_is_checked(kind: str, message: str) -> None:
    with pytest.raises(SpecError) as exc:
        load_spec_text(BASE % ("{ref: a}", f", kind: {kind}"))
    assert exc.value.line() == message


def test_known_component_kinds_load() -> None:
    j = load_spec_text(BASE % ("{ref: a}", ", kind: database"))
    assert j.component("a").kind == "database"


def _warnings(latency: str) -> list[str]:
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        load_spec_text(BASE % ("{ref: a}", f", latency: {latency}"))
    return [str(w.message) for w in rec if issubclass(w.category, SpecWarning)]


@pytest.mark.parametrize(
    ("latency", "expected"),
    [
        (
            "{dist: lognormal, p50: 18ms, p99: 70}",
            ["<spec>: spec.components.a.latency.p99: warning: bare number 70 is read as 70 seconds (did you mean 70ms?)"],
        ),
        (
            "{dist: lognormal, p50: 0.018, p99: 70ms}",
            [
                "<spec>: spec.components.a.latency.p50: warning: bare number 0.018 is read as 0.018 seconds, "
                "beside latencies written with units (did you mean 0.018ms?)"
            ],
        ),
        (
            "{dist: exponential, mean: 25}",
            ["<spec>: spec.components.a.latency.mean: warning: bare number 25 is read as 25 seconds (did you mean 25ms?)"],
        ),
        ("{dist: lognormal, p50: 0.018, p99: 0.07}", []),  # seconds throughout: as documented
        ("{dist: lognormal, p50: 18ms, p99: 70ms}", []),
    ],
)
def test_bare_latency_numbers_that_look_like_milliseconds_are_warned_about(latency: str, expected: list[str]) -> None:
    assert _warnings(latency) == expected


def test_the_cli_prints_a_spec_warning_as_one_line_and_goes_on(cli, write_spec) -> None:
    spec = write_spec(textwrap.dedent(BASE % ("{ref: a}", ", latency: {dist: lognormal, p50: 18ms, p99: 70}")))
    r = cli("check", spec, "--format", "json")
    assert r.exit_code == 0, r
    assert r.stderr == f"{spec}: spec.components.a.latency.p99: warning: bare number 70 is read as 70 seconds (did you mean 70ms?)\n"


def test_shipped_specs_load_without_warnings(config_paths: list[Path]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpecWarning)
        for p in config_paths:
            load_spec(p)
