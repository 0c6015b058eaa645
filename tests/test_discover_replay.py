"""The paper's replay (arXiv 2602.05458): its evidence formats read unchanged, its table reproduced.

| scenario | A⁺ | A⁻ | decision |
|---|---|---|---|
| baseline_separate_domains | 0.99747706 | 0.99747706 | PASS |
| payment_shared_fate_drift | 0.99747706 | 0.99251449 | FAIL |
| missing_or_conflicting_evidence | 0.99747706 | 0.99251449 | REVIEW |

The baseline's trace evidence and the accepted model are the paper's files
(``../shared/reference/paper-replay/``); the other two scenarios' evidence was written for these
tests from the paper's description (``data/discover/paper_replay/``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emac_sim.cli import app
from emac_sim.discover import discover
from emac_sim.discover.evidence import read_deployment_evidence, read_trace_evidence
from emac_sim.discover.spans import Ledger
from emac_sim.errors import SpecError
from emac_sim.spec import load_spec
from emac_sim.spec.accepted import load_accepted_model

SCENARIOS = Path(__file__).parent / "data" / "discover" / "paper_replay"


@pytest.fixture(scope="module")
def replay(reference_dir: Path) -> Path:
    p = reference_dir / "paper-replay"
    if not (p / "baseline.accepted-model.yaml").is_file():
        pytest.skip(f"the paper's replay fixtures are not at {p}")
    return p


def _evidence(replay: Path, scenario: str) -> Path:
    return replay / scenario if scenario == "baseline_separate_domains" else SCENARIOS / scenario


TABLE = [
    ("baseline_separate_domains", 0.99747706, 0.99747706, "PASS", "separate_effective_domains", 0),
    ("payment_shared_fate_drift", 0.99747706, 0.99251449, "FAIL", "shared_effective_domain", 1),
    ("missing_or_conflicting_evidence", 0.99747706, 0.99251449, "REVIEW", "possible_shared_fate", 1),
]


@pytest.mark.parametrize(("scenario", "a_plus", "a_minus", "decision", "relation", "code"), TABLE)
def test_the_papers_replay_table(replay: Path, paper_spec: Path, tmp_path: Path, scenario, a_plus, a_minus, decision, relation, code) -> None:
    before = {p: p.read_bytes() for p in replay.rglob("*") if p.is_file()}
    args = ["discover", str(_evidence(replay, scenario)), "--spec", str(paper_spec), "--accepted", str(replay / "baseline.accepted-model.yaml")]
    r = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "out"), "--format", "json"])
    assert r.exit_code == code, r.output
    (j,) = json.loads(r.stdout)["journeys"]
    d = j["delta"]
    assert (round(d["aPlus"], 8), round(d["aMinus"], 8), d["decision"]) == (a_plus, a_minus, decision)
    assert [(g["id"], g["group"], g["relation"]) for g in d["redundancyGroups"]] == [("payment_race", ["paya", "payb"], relation)]
    assert j["name"] == "checkout-baseline-separate-domains"
    # the model and the delta are written, and the written model loads
    cand = load_spec(j["model"])
    assert cand.kind == "DiscoveredJourneyModel" and cand.expression == "Series(front, Parallel(cart, pricing), Race(paya, payb))"
    assert Path(d["file"]).is_file()
    assert {p: p.read_bytes() for p in replay.rglob("*") if p.is_file()} == before  # the paper's files are read, never changed


def test_baseline_and_drift_are_judged_with_full_confidence_and_no_flags(replay: Path, paper_spec: Path) -> None:
    for scenario in ("baseline_separate_domains", "payment_shared_fate_drift"):
        res = discover([_evidence(replay, scenario)], spec=paper_spec, accepted=replay / "baseline.accepted-model.yaml")
        (dj,) = res.journeys
        # a deterministic replay with every edge, branch and domain seen, all agreeing: the accepted 0.90
        assert dj.overall == 0.9 and dj.flags == []
        gov = res.deltas[dj.name]["spec"]["governance"]
        assert gov["confidence"] == 0.9 and gov["confidenceThreshold"] == 0.8
    drift = res.deltas[dj.name]["spec"]
    assert {(c["component"], tuple(c["added"]), tuple(c["removed"])) for c in drift["changes"] if c["type"] == "failureDomainAssignment"} == {
        ("paya", ("payment-network-shared",), ("payment-network-a",)),
        ("payb", ("payment-network-shared",), ("payment-network-b",)),
    }
    assert any("below the availability objective 0.995" in x for x in drift["governance"]["reasons"])


def test_missing_or_conflicting_evidence_names_what_is_missing_and_what_conflicts(replay: Path, paper_spec: Path) -> None:
    res = discover([SCENARIOS / "missing_or_conflicting_evidence"], spec=paper_spec, accepted=replay / "baseline.accepted-model.yaml")
    (dj,) = res.journeys
    codes = [f.split(":", 1)[0] for f in dj.flags]
    assert codes == ["low-edge-coverage", "domain-conflict", "missing-evidence", "missing-evidence", "possible-shared-fate"]
    text = "\n".join(dj.flags)
    assert "3 of 4 expected edges seen (coverage 0.750 < coveragePolicy.minTraceEdgeCoverage 0.8); not seen: front -> payb" in text
    assert "paya's failure domain disagrees: payment-network-shared (span attributes" in text and "payment-network-a (deployment mesh-label)" in text
    assert "no spans for branch payb (coveragePolicy requires every branch)" in text
    assert "no failure-domain evidence for payb" in text
    gov = res.deltas[dj.name]["spec"]["governance"]
    assert gov["verdict"] == "REVIEW" and gov["confidence"] < 0.8
    guard = gov["guards"][0]
    assert any(t["term"] == "no_unresolved_domain_conflict" and t["result"] is False for t in guard["terms"])
    # the confidence follows the documented formula: 0.9 × geometric mean of the field factors
    spec = dj.document["spec"]
    factors = {f["field"]: f["coverage"] * f["agreement"] for f in spec["provenance"]["factors"]}
    assert factors == {"edges": 0.75, "redundancy.payment_race": 0.5, "failureDomains.paya": pytest.approx(2 / 3), "failureDomains.payb": 0.0}
    expected = 0.9 * (0.75 * 0.5 * (2 / 3) * 0.01) ** 0.25
    assert dj.overall == pytest.approx(expected, abs=1e-6)


def test_a_sampled_replay_is_discounted_by_its_size(replay: Path, paper_spec: Path, tmp_path: Path) -> None:
    text = (replay / "baseline_separate_domains" / "trace-evidence.yaml").read_text().replace("mode: deterministic", "mode: sampled")
    (tmp_path / "t.yaml").write_text(text)
    res = discover([tmp_path / "t.yaml"], spec=paper_spec, accepted=replay / "baseline.accepted-model.yaml")
    # 3 sampled traces: every factor × 3 / (3 + 10)
    assert res.journeys[0].overall == pytest.approx(0.9 * 3 / 13, abs=1e-6)
    assert res.deltas[res.journeys[0].name]["spec"]["governance"]["verdict"] == "REVIEW"


def test_otlp_traces_are_evidence_over_the_accepted_model_too(replay: Path, paper_spec: Path, tmp_path: Path) -> None:
    """The same evidence as OTLP spans (attributes on the spans) gives the same candidate."""
    spans = []
    for i, ((f0, f1), (a0, a1), (b0, b1)) in enumerate([((0, 140), (70, 115), (72, 127))] * 40):
        tid = f"{i + 1:032x}"
        base = 1_700_000_000_000_000_000 + i * 10**9
        spans.append(("front", tid, "01", None, base + f0 * 10**6, base + f1 * 10**6, {}))
        spans.append(("cart", tid, "02", "01", base + 10 * 10**6, base + 45 * 10**6, {}))
        spans.append(("pricing", tid, "03", "01", base + 12 * 10**6, base + 52 * 10**6, {}))
        spans.append(("paya", tid, "04", "01", base + a0 * 10**6, base + a1 * 10**6, {"emac.provider_domain": "payment-network-a"}))
        spans.append(("payb", tid, "05", "01", base + b0 * 10**6, base + b1 * 10**6, {"emac.provider_domain": "payment-network-b"}))
    by: dict[str, list] = {}
    for svc, tid, sid, par, st, en, attrs in spans:
        sp = {"traceId": tid, "spanId": f"{sid:0>16}", "name": svc, "kind": 2, "startTimeUnixNano": str(st), "endTimeUnixNano": str(en)}
        sp["attributes"] = [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()]
        if par:
            sp["parentSpanId"] = f"{par:0>16}"
        by.setdefault(svc, []).append(sp)
    doc = {"resourceSpans": []}
    for svc, v in by.items():
        resource = {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]}
        doc["resourceSpans"].append({"resource": resource, "scopeSpans": [{"spans": v}]})
    (tmp_path / "t.json").write_text(json.dumps(doc))
    res = discover([tmp_path / "t.json"], spec=paper_spec, accepted=replay / "baseline.accepted-model.yaml")
    (dj,) = res.journeys
    assert dj.flags == [] and dj.overall == pytest.approx(0.9 * 40 / 50, abs=1e-6)  # sampled: n / (n + 10)
    assert res.deltas[dj.name]["spec"]["predictedEffect"]["aMinus"]["candidate"] == pytest.approx(0.99747706, abs=5e-9)


def test_an_accepted_model_without_an_intent_is_one_clear_line(replay: Path, tmp_path: Path) -> None:
    args = ["discover", str(replay / "baseline_separate_domains"), "--accepted", str(replay / "baseline.accepted-model.yaml"), "--out", str(tmp_path)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2
    assert r.output == (
        f"{replay / 'baseline.accepted-model.yaml'}: an AcceptedJourneyModel carries no availabilities, objectives or policy: "
        "pass the journey's intent with --spec SPEC\n"
    )


def test_the_accepted_model_is_laid_over_the_intent(replay: Path, paper_spec: Path, tmp_path: Path) -> None:
    am = load_accepted_model(replay / "baseline.accepted-model.yaml", load_spec(paper_spec))
    j = am.journey
    assert j.name == "checkout-baseline-separate-domains" and j.confidence == 0.9
    assert j.expression == "Series(front, Parallel(cart, pricing), Race(paya, payb))"
    assert j.component("paya").domains == ("payment-network-a",) and j.component("paya").availability == 0.995
    assert j.component("front").domains == ("k8s/cluster:checkout", "k8s/zone:checkout-a")
    assert j.availability_objective is not None and j.availability_objective.target == 0.995
    (g,) = am.groups
    assert (g.id, g.members, g.expected_overlap, g.relation) == ("payment_race", ("paya", "payb"), True, "separate_effective_domains")
    bad = tmp_path / "bad.yaml"
    bad.write_text((replay / "baseline.accepted-model.yaml").read_text().replace("- ref: payb", "- ref: payc"))
    with pytest.raises(SpecError, match=r"bad\.yaml: spec\.operatorGraph\.root\.steps\[2\]\.branches\[1\]\.ref: ref to undefined component 'payc'"):
        load_accepted_model(bad, load_spec(paper_spec))


def test_evidence_readers(replay: Path, tmp_path: Path) -> None:
    led = Ledger()
    df, meta = read_trace_evidence(replay / "baseline_separate_domains" / "trace-evidence.yaml", led)
    assert df.height == 15 and led.counts == {}
    assert meta.expected_edges == (("front", "cart"), ("front", "pricing"), ("front", "paya"), ("front", "payb"))
    assert (meta.scenario, meta.sampling_mode, meta.sampled_traces) == ("baseline_separate_domains", "deterministic", 3)
    row = df.filter(df["span_id"] == "b1-paya").row(0, named=True)
    assert (row["start_ns"], row["end_ns"], row["parent_id"]) == (70_000_000, 115_000_000, "b1-front")
    assert json.loads(row["attributes"])["emac.provider_domain"] == "payment-network-a"
    dep = read_deployment_evidence(SCENARIOS / "missing_or_conflicting_evidence" / "deployment-evidence.yaml")
    got = [(o.value, o.signal) for o in dep.observations["paya"]]
    assert got == [("payment-network-a", "mesh-label"), ("payment-network-shared", "provider-metadata")]
    assert dep.observations["payb"] == []
    p = tmp_path / "dep.yaml"
    p.write_text("schema: emac.sanity.deployment/v1\nservices:\n  paya:\n    domain_observations:\n    - {field: x}\n")
    with pytest.raises(SpecError, match=r"dep\.yaml: services\.paya\.domain_observations\[0\]: expected a mapping with field, value and signal"):
        read_deployment_evidence(p)
    p.write_text("schema: emac.sanity.trace/v1\nspans: 3\n")
    with pytest.raises(SpecError, match=r"dep\.yaml: spans: expected a list of spans, got int"):
        read_trace_evidence(p, Ledger())


def test_deployment_evidence_alone_is_not_traces(replay: Path, paper_spec: Path, tmp_path: Path) -> None:
    shutil.copy(SCENARIOS / "missing_or_conflicting_evidence" / "deployment-evidence.yaml", tmp_path / "d.yaml")
    res = discover([tmp_path / "d.yaml"], spec=paper_spec, accepted=replay / "baseline.accepted-model.yaml")
    (dj,) = res.journeys
    assert "missing-evidence: no usable trace in the evidence" in dj.flags
    assert res.deltas[dj.name]["spec"]["governance"]["verdict"] == "REVIEW"
    with pytest.raises(SpecError, match="no usable spans"):
        discover([tmp_path / "d.yaml"])  # without an accepted model there is nothing to lay it over


def test_spec_alone_plays_the_accepted_spec(paper_spec: Path) -> None:
    res = discover([Path(__file__).parent / "data" / "discover" / "forms" / "otlp_request.json"], spec=paper_spec)
    (dj,) = res.journeys
    assert dj.name == "checkout" and set(res.deltas) == {"checkout"}
    delta = res.deltas["checkout"]["spec"]
    assert delta["accepted"] == str(paper_spec)
    assert {c["to"] for c in delta["changes"] if c["type"] == "edgeRemoved"} == {"front", "cart", "pricing", "paya", "payb"} - {"cart"}
