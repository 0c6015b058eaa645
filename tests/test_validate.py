"""``emac validate``: spec discovery, per-spec checks, JSON (DESIGN §9) and JUnit XML."""

from __future__ import annotations

import dataclasses
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import emac_sim.analytic
from emac_sim.pipeline.validate import find_specs

DATA = Path(__file__).resolve().parent / "data" / "compile"
SMALL = "20000"


XSD = Path(__file__).resolve().parents[2] / "shared" / "reference" / "schemas" / "junit-10.xsd"


def _junit(path: Path) -> ET.Element:
    """Parse a JUnit report, first validating it against junit-10.xsd (the schema CI servers use)."""
    if XSD.is_file():
        from lxml import etree

        etree.XMLSchema(etree.parse(str(XSD))).assertValid(etree.parse(str(path)))
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    return root


def _counts(el: ET.Element) -> dict[str, int]:
    out = {k: int(el.get(k)) for k in ("tests", "failures", "errors")}
    suites = [el] if el.tag == "testsuite" else el.findall("testsuite")  # <testsuites> carries no skipped count
    out["skipped"] = sum(int(s.get("skipped")) for s in suites)
    return out


def test_junit_report_validates_against_the_junit_xsd(cli, reference_dir: Path, paper_spec: Path, tmp_path: Path) -> None:
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(reference_dir / "schemas" / "junit-10.xsd")))
    junit = tmp_path / "v.xml"
    r = cli("validate", paper_spec, "--samples", SMALL, "--correlation", "declared", "--correlation", "shared", "--junit", junit)
    assert r.exit_code == 0, r
    doc = etree.parse(str(junit))
    assert schema.validate(doc), schema.error_log
    assert doc.getroot().get("skipped") is None and doc.find("testsuite").get("skipped") == "2"
    # the schema is strict enough to catch what CI servers reject: a skipped count on <testsuites>
    doc.getroot().set("skipped", "2")
    assert not schema.validate(doc)
    assert schema.error_log.last_error.message == "Element 'testsuites', attribute 'skipped': The attribute 'skipped' is not allowed."


def test_directory_search_finds_only_journey_intents(tmp_path: Path) -> None:
    specs = find_specs([DATA])
    assert [p.name for p in specs] == ["accepted-separate-domains.yaml"]  # candidates are DiscoveredJourneyModels
    # explicit files are taken as given, duplicates once
    assert find_specs([DATA / "candidate-shared-payment.yaml", DATA / "candidate-shared-payment.yaml"]) == [DATA / "candidate-shared-payment.yaml"]


def test_validate_passes_and_reports_json_and_junit(cli, paper_spec: Path, tmp_path: Path) -> None:
    junit = tmp_path / "reports" / "validate.xml"
    scen = ["--correlation", "declared", "--correlation", "shared"]
    r = cli("validate", paper_spec, DATA, "--samples", SMALL, *scen, "--junit", junit, "--format", "json")
    assert r.exit_code == 0, r
    d = json.loads(r.stdout)
    assert d["status"] == "pass" and d["scenarios"] == ["declared", "shared"]
    assert [s["journey"] for s in d["specs"]] == ["checkout", "checkout"]
    for s in d["specs"]:
        assert s["status"] == "pass"
        # two availability checks per scenario; latency is not modelled in these specs (skipped)
        assert [(c["scenario"], c["name"], c["status"]) for c in s["checks"]] == [
            ("declared", "availability", "pass"),
            ("declared", "availability.dependenceFree", "pass"),
            ("shared", "availability", "pass"),
            ("shared", "availability.dependenceFree", "pass"),
        ]
        assert {x["name"] for x in s["skipped"]} == {"latency"}
        assert s["simulation"]["declared"]["samples"] == 20_000
    paper = d["specs"][0]
    assert round(paper["bounds"]["availability"]["independent"], 8) == 0.99747706
    assert paper["bounds"]["availability"]["shared"] == pytest.approx(0.994005, abs=1e-12)
    assert d["summary"] == {"specs": 2, "passed": 2, "failed": 0, "errors": 0, "checks": 8, "checkFailures": 0, "checksSkipped": 4}

    root = _junit(junit)
    assert _counts(root) == {"tests": 12, "failures": 0, "errors": 0, "skipped": 4}
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [str(paper_spec), str(DATA / "accepted-separate-domains.yaml")]
    assert all(_counts(s) == {"tests": 6, "failures": 0, "errors": 0, "skipped": 2} for s in suites)
    names = [c.get("name") for c in suites[0].findall("testcase")]
    assert names[:2] == ["declared: availability", "declared: availability.dependenceFree"]


def test_validate_text_output(cli, paper_spec: Path) -> None:
    r = cli("validate", paper_spec, "--samples", SMALL)
    assert r.exit_code == 0, r
    assert "PASS" in r.stdout and "(checkout): 2 checks" in r.stdout
    assert "1 spec(s): 1 passed, 0 failed, 0 error(s); 2 checks, 0 failed (20000 samples, seed 0)" in r.stdout


def test_a_failing_check_exits_1_and_shows_in_junit(cli, paper_spec: Path, tmp_path: Path, monkeypatch) -> None:
    """Fault injection: a shared-scenario value that is off must fail exactly that comparison."""
    real = emac_sim.analytic.bounds

    def wrong_shared(journey, **kw):
        b = real(journey, **kw)
        return dataclasses.replace(b, availability=dataclasses.replace(b.availability, shared=b.availability.shared + 0.003))

    monkeypatch.setattr(emac_sim.analytic, "bounds", wrong_shared)
    junit = tmp_path / "v.xml"
    r = cli("validate", paper_spec, "--samples", SMALL, "--correlation", "declared", "--correlation", "shared", "--junit", junit, "--format", "json")
    assert r.exit_code == 1, r
    d = json.loads(r.stdout)
    assert d["status"] == "fail"
    failed = [(c["scenario"], c["name"]) for c in d["specs"][0]["checks"] if c["status"] == "fail"]
    assert failed == [("shared", "availability")]
    root = _junit(junit)
    assert _counts(root) == {"tests": 6, "failures": 1, "errors": 0, "skipped": 2}
    (case,) = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert case.get("name") == "shared: availability"
    assert "misses exact shared availability 0.99700500" in case.find("failure").get("message")


def test_a_spec_that_does_not_load_is_an_error_but_others_still_run(cli, paper_spec: Path, tmp_path: Path) -> None:
    d = tmp_path / "specs"
    d.mkdir()
    shutil.copy(DATA / "accepted-separate-domains.yaml", d / "good.yaml")
    (d / "broken.yaml").write_text(
        "apiVersion: emac.dev/v1alpha1\nkind: JourneyIntent\nmetadata: {name: x}\nspec:\n  operator: {ref: a}\n  components: {a: {availability: 2}}\n"
    )
    (d / "other.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
    junit = tmp_path / "v.xml"
    r = cli("validate", d, "--samples", SMALL, "--junit", junit, "--format", "json")
    assert r.exit_code == 2, r
    assert "broken.yaml: spec.components.a.availability: must be a probability in [0, 1], got 2" in r.stderr
    out = json.loads(r.stdout)
    assert [(Path(s["file"]).name, s["status"]) for s in out["specs"]] == [("broken.yaml", "error"), ("good.yaml", "pass")]
    root = _junit(junit)
    assert _counts(root) == {"tests": 4, "failures": 0, "errors": 1, "skipped": 1}
    err = root.find("testsuite/testcase/error")
    assert "must be a probability" in err.get("message")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda t: t / "nope", "no such file or directory"),
        (lambda t: t, "no JourneyIntent specs"),
    ],
)
def test_bad_paths_exit_2(cli, tmp_path: Path, make, message: str) -> None:
    r = cli("validate", make(tmp_path), "--samples", SMALL)
    assert r.exit_code == 2, r
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unknown_scenario_exits_2(cli, paper_spec: Path) -> None:
    r = cli("validate", paper_spec, "--correlation", "weird")
    assert r.exit_code == 2
    assert "weird" in r.stderr


@pytest.mark.verification
def test_every_example_agrees_with_its_bounds_at_a_million_samples(cli, configs_dir: Path, paper_spec: Path) -> None:
    """Nightly-grade run: the example configs and the paper spec, every scenario, 1e6 samples.

    Intervals this narrow expose any bias between the analytic layer and the engine (and the
    latency quantiles of the independent scenario are held to the exact grid composition)."""
    scen = [a for s in ("declared", "independent", "shared", "pessimistic") for a in ("--correlation", s)]
    r = cli("validate", configs_dir, paper_spec, "--samples", "1e6", *scen, "--format", "json")
    d = json.loads(r.stdout)
    failed = [(s["file"], c["scenario"], c["name"], c["message"]) for s in d["specs"] for c in s["checks"] if c["status"] != "pass"]
    assert failed == []
    assert r.exit_code == 0, r
