"""Spec paths, value ranges and study files: addressing and changing spec values (issue 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emac_sim.errors import SpecError
from emac_sim.studies.document import SpecDocument
from emac_sim.studies.grid import grid_points, parse_values, parse_vary
from emac_sim.studies.specpath import get_value, parse_path, resolved_path, set_value
from emac_sim.studies.studyfile import FanOutStudy, WhatIfStudy, load_study

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = ROOT / "configs" / "checkout.yaml"
CAPACITY = ROOT / "configs" / "capacity.yaml"


@pytest.fixture(scope="module")
def checkout() -> SpecDocument:
    return SpecDocument.load(CHECKOUT)


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("components.paya.availability", ("components", "paya", "availability")),
        ("spec.components.paya.availability", ("components", "paya", "availability")),
        ("operator.steps[2].hedgeDelay", ("operator", "steps", 2, "hedgeDelay")),
        ("operator.steps[1].branches[0].ref", ("operator", "steps", 1, "branches", 0, "ref")),
        ('failureDomains."k8s/zone".rho', ("failureDomains", "k8s/zone", "rho")),
        ("failureDomains.k8s/zone.rho", ("failureDomains", "k8s/zone", "rho")),
        ('components["svc.v2"].availability', ("components", "svc.v2", "availability")),
        ("load.rate", ("load", "rate")),
    ],
)
def test_parse_path(text: str, segments: tuple) -> None:
    assert parse_path(text).segments == segments


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty spec path"),
        ("a..b", "empty segment"),
        ("components.paya.", "ends with '.'"),
        ("[1]", "an index [i] must follow a key"),
        ("spec", "must name a value inside spec"),
        ("operator.steps[x]", "malformed spec path"),
    ],
)
def test_parse_path_errors(text: str, message: str) -> None:
    with pytest.raises(SpecError) as exc:
        parse_path(text)
    assert message in str(exc.value)
    assert str(exc.value).startswith("--vary: ")


def test_paths_resolve_in_checkout(checkout: SpecDocument) -> None:
    doc = checkout.doc
    cases = {
        "components.paya.availability": ("spec.components.paya.availability", 0.995),
        "failureDomains.payment-network.rho": ("spec.failureDomains.rules[2].correlation.rho", 0.3),
        "operator.steps[2].hedgeDelay": ("spec.operator.steps[2].hedgeDelay", "200ms"),
        "components.cart.capacity.replicas": ("spec.components.cart.capacity.replicas", None),
        "load.rate": ("spec.load.rate", None),
        "failureDomains.k8s/zone.rho": ("spec.failureDomains.rules[0].correlation.rho", None),
    }
    for text, (where, value) in cases.items():
        p = parse_path(text)
        assert resolved_path(doc, p) == where
        assert get_value(doc, p) == value


def test_set_value_copies_and_validates(checkout: SpecDocument) -> None:
    before = checkout.doc["spec"]["components"]["paya"]["availability"]
    changed = set_value(checkout.doc, parse_path("components.paya.availability"), 0.9)
    assert checkout.doc["spec"]["components"]["paya"]["availability"] == before  # original untouched
    assert checkout.journey(changed).component("paya").availability == 0.9


def test_domain_by_name_creates_correlation(checkout: SpecDocument) -> None:
    # k8s/zone has a rule without correlation: the mapping is created (gaussian by default)
    j = checkout.journey(checkout.with_values([(parse_path("failureDomains.k8s/zone.rho"), 0.25)]))
    d = j.domain("k8s/zone")
    assert (d.model, d.rho) == ("gaussian", 0.25)
    # probability creates a shock correlation
    j = checkout.journey(checkout.with_values([(parse_path("failureDomains.k8s/cluster.probability"), 1e-4)]))
    d = j.domain("k8s/cluster")
    assert (d.model, d.probability) == ("shock", 1e-4)
    # the declared gaussian domain keeps its model and latencyRho
    j = checkout.journey(checkout.with_values([(parse_path("failureDomains.payment-network.rho"), 0.7)]))
    d = j.domain("payment-network")
    assert (d.model, d.rho, d.latency_rho) == ("gaussian", 0.7, 0.2)


def test_domain_rule_created_for_component_domain(tmp_path: Path) -> None:
    text = CHECKOUT.read_text().replace('      - name: "k8s/zone"\n        kind: inferred\n        source: kubernetes\n'
                                        '        key: topology.kubernetes.io/zone\n', "")
    spec = tmp_path / "noz.yaml"
    spec.write_text(text)
    doc = SpecDocument.load(spec)
    assert all(r["name"] != "k8s/zone" for r in doc.doc["spec"]["failureDomains"]["rules"])
    j = doc.journey(doc.with_values([(parse_path("failureDomains.k8s/zone.rho"), 0.1)]))
    assert j.domain("k8s/zone").rho == 0.1


def test_hedge_delay_and_load_rate(checkout: SpecDocument) -> None:
    j = checkout.journey(checkout.with_values([(parse_path("operator.steps[2].hedgeDelay"), "50ms"), (parse_path("load.rate"), 40)]))
    assert j.root.steps[2].hedge_delay == pytest.approx(0.05)
    assert j.load_rate == 40.0


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("components.paya.availability", 1.5, "configs/checkout.yaml: spec.components.paya.availability: must be a probability in [0, 1], got 1.5"),
        ("failureDomains.payment-network.rho", 1.2, "spec.failureDomains.rules[2].correlation.rho: must be <= 1"),
        ("components.cart.capacity.replicas", 3, "spec.components.cart.capacity: missing required key 'serviceTime'"),
        ("operator.steps[2].hedgeDelay", "soon", "spec.operator.steps[2].hedgeDelay: malformed duration 'soon'"),
        ("load.rate", 0, "spec.load.rate: must be > 0"),
        ("lod.rate", 3, "spec.lod: unknown key 'lod' (did you mean 'load'?)"),
    ],
)
def test_bad_values_give_loader_errors(checkout: SpecDocument, path: str, value: object, message: str) -> None:
    changed = checkout.with_values([(parse_path(path), value)])
    with pytest.raises(SpecError) as exc:
        checkout.journey(changed)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("path", "where", "message"),
    [
        ("components.frnt.availability", "spec.components", "no component 'frnt' (did you mean 'front'?)"),
        ("operator.steps[5].hedgeDelay", "spec.operator.steps", "index [5] out of range (the list has 3 entries)"),
        ("failureDomains.payment-net.rho", "spec.failureDomains", "no failure domain named 'payment-net' (did you mean 'payment-network'?)"),
        ("operator.steps[2].hedge", "spec.operator.steps[2]", "no key 'hedge' (did you mean 'hedgeDelay'?)"),
        ("operator.steps[0].ref.x", "spec.operator.steps[0].ref", "cannot set key 'x': not a mapping"),
    ],
)
def test_paths_that_do_not_fit(checkout: SpecDocument, path: str, where: str, message: str) -> None:
    # a path typed on the command line: the error names the option and the path as typed
    with pytest.raises(SpecError) as exc:
        checkout.with_values([(parse_path(path), 1)])
    assert str(exc.value) == f"--vary: {path}: {message}"
    # a path from a study file: the spec file and the path inside it
    with pytest.raises(SpecError) as exc:
        checkout.with_values([(parse_path(path, "study.yaml"), 1)])
    assert str(exc.value) == f"{CHECKOUT}: {where}: {message}"


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("0:1:11", (0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1)),
        ("0.99:0.9999:3", (0.99, 0.99495, 0.9999)),
        ("log:1:1000:4", (1, 10, 100, 1000)),
        ("log:0.001:0.1:3", (0.001, 0.01, 0.1)),
        ("1:8:8", (1, 2, 3, 4, 5, 6, 7, 8)),
        ("1:4:3", (1, 2.5, 4)),
        ("100ms:300ms:3", (0.1, 0.2, 0.3)),
        ("0.99,0.999,0.9999", (0.99, 0.999, 0.9999)),
        ("200ms,1s", ("200ms", "1s")),
        ("5", (5,)),
        ("2:2:1", (2,)),
    ],
)
def test_parse_values(text: str, values: tuple) -> None:
    got = parse_values(text)
    assert got == pytest.approx(values) if not isinstance(values[0], str) else got == values
    assert [type(v) for v in got] == [type(v) for v in values]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no values given"),
        ("0:1", "malformed range '0:1'"),
        ("0:1:x", "n must be a whole number"),
        ("0:1:0", "n must be at least 1"),
        ("log:0:1:3", "needs lo > 0 and hi > 0"),
        ("log:1:10", "expected log:lo:hi:n"),
        ("a:b:3", "neither a number nor a duration"),
        ("1,,2", "empty item"),
    ],
)
def test_parse_values_errors(text: str, message: str) -> None:
    with pytest.raises(SpecError) as exc:
        parse_values(text, "--vary", "load.rate")
    assert message in str(exc.value)
    assert str(exc.value).startswith("--vary: load.rate: ")


def test_vary_and_grid() -> None:
    a = parse_vary("components.paya.availability=0.99,0.999")
    b = parse_vary("load.rate=1:3:3")
    assert a.path.segments == ("components", "paya", "availability")
    assert grid_points([a, b]) == [(0.99, 1), (0.99, 2), (0.99, 3), (0.999, 1), (0.999, 2), (0.999, 3)]
    with pytest.raises(SpecError, match="expected PATH=VALUES"):
        parse_vary("load.rate")
    with pytest.raises(SpecError, match="varied twice"):
        grid_points([b, parse_vary("spec.load.rate=4")])


# --------------------------------------------------------------------------- study files


def test_study_files_in_configs_parse() -> None:
    files = sorted((ROOT / "configs" / "studies").glob("*.yaml"))
    assert files, "configs/studies holds the repeatable studies"
    kinds = set()
    for f in files:
        s = load_study(f)
        kinds.add(type(s).__name__)
        if isinstance(s, WhatIfStudy):
            assert s.journey.is_file()
            assert s.varies or s.find_max
    assert {"WhatIfStudy", "FanOutStudy"} <= kinds


def test_fanout_study_file() -> None:
    s = load_study(ROOT / "configs" / "studies" / "fanout.yaml")
    assert isinstance(s, FanOutStudy)
    assert s.slow_probability == 0.01 and 100 in s.widths


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("kind: WhatIfStudy\nspec: {journey: ../nope.yaml, vary: [{path: load.rate, values: '1:2:2'}]}", "spec.journey: file not found"),
        ("kind: WhatIfStudy\nspec: {journey: checkout.yaml}", "spec: a WhatIfStudy needs vary and/or findMax"),
        ("kind: WhatIfStudy\nspec: {journey: checkout.yaml, vary: [{path: load.rate, value: 3}]}", "unknown key 'value' (did you mean 'values'?)"),
        ("kind: WhatIfStudy\nspec: {journey: checkout.yaml, vary: [{path: load.rate, values: '1:2'}]}", "spec.vary[0].values: malformed range"),
        ("kind: WhatIfStudy\nspec: {journey: checkout.yaml, findMax: {path: load.rate, subjectTo: [p99~1]}}", "expected METRIC<=VALUE"),
        ("kind: WhatIfStudy\nspec: {journey: checkout.yaml, correlation: weird, vary: [{path: load.rate, values: [1]}]}", "spec.correlation"),
        ("kind: Study\nspec: {}", "kind: expected one of WhatIfStudy, FanOutStudy"),
        ("kind: FanOutStudy\nspec: {widths: [0]}", "spec.widths[0]: must be a whole number >= 1"),
        ("kind: FanOutStudy\nspec: {widths: [2], slowProbability: 2}", "spec.slowProbability: must be a number in (0, 1)"),
    ],
)
def test_bad_study_files(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "checkout.yaml").write_text(CHECKOUT.read_text())
    f = tmp_path / "study.yaml"
    f.write_text("apiVersion: emac.dev/v1alpha1\n" + body + "\n")
    with pytest.raises(SpecError) as exc:
        load_study(f)
    assert message in str(exc.value)
    assert str(exc.value).startswith(str(f))
