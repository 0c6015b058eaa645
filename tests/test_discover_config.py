"""Discovery with traffic configuration (Kubernetes, Istio) and against an accepted model
(ModelDelta, predicted effect on A⁻, governance decision)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from emac_sim import load_spec
from emac_sim.cli import app
from emac_sim.discover import discover, write_otlp_traces
from emac_sim.errors import SpecError
from emac_sim.operators import Choice, Retry, Timeout
from emac_sim.spec import load_spec_text

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "discover"
CHECKOUT = ROOT / "configs" / "checkout.yaml"

SHOP = """
apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {name: shop}
spec:
  operator:
    type: series
    steps:
      - ref: front
      - {type: parallel, branches: [{ref: cart}, {ref: pricing}]}
      - ref: payments
  components:
    front: {availability: 0.999, latency: {dist: lognormal, p50: 5ms, p99: 20ms}%s}
    cart: {availability: 0.999, latency: {dist: lognormal, p50: 8ms, p99: 30ms}%s}
    pricing: {availability: 0.999, latency: {dist: gamma, mean: 10ms, cv: 0.5}}
    payments: {availability: 0.995, latency: {dist: lognormal, p50: 40ms, p99: 150ms}}
%s
"""


@pytest.fixture(scope="module")
def shop_traces(tmp_path_factory):
    p = tmp_path_factory.mktemp("shop") / "shop.otlp.json"
    write_otlp_traces(load_spec_text(SHOP % ("", "", "")), p, 400, 17, "independent")
    return p


def test_kubernetes_zones_replicas_and_istio_policy(shop_traces, tmp_path):
    res = discover([shop_traces], out=tmp_path, k8s=DATA / "k8s", istio=DATA / "istio")
    (dj,) = res.journeys
    j = load_spec(res.files["shop"])  # what was written loads
    doms = {d.name: set(d.members) for d in j.domains}
    assert doms["zone/us-east-1a"] == {"front", "cart"}  # nodeSelector; StatefulSet cart-db matched by its app label
    assert doms["zone/us-east-1b"] == {"pricing"}  # a Pod bound to node-b, zone from the Node's label
    assert doms["region/us-east-1"] == {"pricing"}
    assert "payments" not in {m for ms in doms.values() for m in ms}  # spread over zones: protected, not a domain
    assert any("payments" in n and "spread over zones" in n for n in dj.notes)
    prov = {c.id: dict(c.extra)["provenance"] for c in j.components}
    assert prov["front"]["replicas"] == {"replicas": 3, "source": f"{DATA / 'k8s' / 'workloads.yaml'}:spec.replicas"}
    assert prov["cart"]["replicas"]["replicas"] == 2
    zone_rule = next(d for d in j.domains if d.name == "zone/us-east-1a")
    sources = dict(zone_rule.extra)["provenance"]["sources"]
    assert f"{DATA / 'k8s' / 'workloads.yaml'}:spec.template.spec.nodeSelector[topology.kubernetes.io/zone]" in sources
    # Istio: weights -> choice, retries -> retry (attempts = retries + 1), timeout -> timeout
    pay = j.root.steps[2]
    assert isinstance(pay, Timeout) and pay.deadline == 3.0
    assert isinstance(pay.step, Retry) and pay.step.attempts == 3 and pay.step.per_try_timeout == 1.0
    ch = pay.step.step
    assert isinstance(ch, Choice) and ch.probabilities == (0.8, 0.2)
    assert [b.component for b in ch.branches] == ["payments-v1", "payments-v2"]
    assert prov["payments-v1"]["splitFrom"] == "payments"
    assert j.component("payments-v1").availability == j.component("payments-v2").availability
    assert dj.fields["spec.operator.steps[2]"].confidence == 1.0  # declared by configuration
    assert dj.fields["spec.operator.steps[2]"].examples == [f"{DATA / 'istio' / 'payments.yaml'}:spec.http[1].timeout"]
    assert any("'ghost'" in n and "matches no traced component" in n for n in dj.notes)
    assert any("the default route spec.http[1] was used" in n for n in dj.notes)
    assert not dj.flags


def test_zone_from_manifests_contradicting_traces_is_a_conflict(tmp_path):
    rule = """  failureDomains:
    rules:
      - {name: zone-x, kind: inferred, key: topology.kubernetes.io/zone}"""
    spec = load_spec_text(SHOP % (", failureDomains: [zone-x]", ", failureDomains: [zone-x]", rule))
    p = tmp_path / "t.json"
    write_otlp_traces(spec, p, 100, 3, "independent")
    res = discover([p], k8s=DATA / "k8s_conflict")
    (dj,) = res.journeys
    conflicts = [f for f in dj.flags if f.startswith("unresolved-domain-conflict:")]
    where = f"{DATA / 'k8s_conflict' / 'front.yaml'}:spec.template.spec.nodeSelector[topology.kubernetes.io/zone]"
    assert conflicts == [f"unresolved-domain-conflict: front runs in zone zone-x in the traces but {where} says zone-y"]


def test_bad_manifests_are_one_line_errors(tmp_path, shop_traces):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Deployment\nmetadata: {name: x\n")
    with pytest.raises(SpecError, match=r"bad\.yaml: line \d+: invalid manifest"):
        discover([shop_traces], k8s=bad)
    vs = tmp_path / "vs.yaml"
    vs.write_text("kind: VirtualService\nspec: {hosts: [a], http: [{route: [{destination: {host: a}}], timeout: soon}]}\n")
    with pytest.raises(SpecError, match=r"vs\.yaml: spec\.http\[0\]\.timeout: malformed duration 'soon'"):
        discover([shop_traces], istio=vs)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SpecError, match="no YAML or JSON manifests found"):
        discover([shop_traces], k8s=empty)
    with pytest.raises(SpecError, match="missing: no such file or directory"):
        discover([shop_traces], istio=tmp_path / "missing")


# --------------------------------------------------------------------------- ModelDelta


@pytest.fixture(scope="module")
def checkout_traces(tmp_path_factory):
    p = tmp_path_factory.mktemp("co") / "checkout.otlp.json"
    write_otlp_traces(load_spec(CHECKOUT), p, 1500, 99, "independent")
    return p


def test_delta_against_the_accepted_spec(checkout_traces, tmp_path):
    from emac_sim.analytic import bounds

    res = discover([checkout_traces], out=tmp_path, accepted=CHECKOUT, confidence=1 - 1e-4)
    doc = res.deltas["checkout"]
    assert doc["kind"] == "ModelDelta" and doc["spec"]["journey"] == "checkout"
    assert yaml.safe_load(Path(res.delta_files["checkout"]).read_text())["kind"] == "ModelDelta"
    types = {c["type"] for c in doc["spec"]["changes"]}
    assert not types & {"edgeAdded", "edgeRemoved", "operatorChange", "redundancyGroup", "failureDomainAssignment", "availabilityChange"}
    accepted = load_spec(CHECKOUT)
    eff = doc["spec"]["predictedEffect"]
    assert eff["aMinus"]["accepted"] == bounds(accepted).availability.pessimistic
    cand = res.journeys[0].journey
    assert eff["aMinus"]["candidate"] == bounds(cand).availability.pessimistic
    assert eff["aMinus"]["delta"] == pytest.approx(eff["aMinus"]["candidate"] - eff["aMinus"]["accepted"])
    # the accepted policy, objectives and domain magnitudes are carried over to the candidate
    assert cand.availability_objective == accepted.availability_objective
    assert cand.domain("payment-network").model == "gaussian" and cand.domain("payment-network").rho == 0.3
    gov = doc["spec"]["governance"]
    assert gov["mode"] == "candidate" and gov["verdict"] in ("PASS", "FAIL", "REVIEW")
    assert gov["confidence"] == cand.confidence


def test_delta_reports_typed_changes(checkout_traces, tmp_path):
    text = CHECKOUT.read_text()
    text = text.replace("hedgeDelay: 200ms", "hedgeDelay: 100ms")
    text = text.replace("          - ref: pricing\n", "          - ref: stock\n")
    text = text.replace("    pricing:\n", "    stock:\n      availability: 0.999\n    pricing:\n")
    text = text.replace(
        "availability: 0.999\n      latency: {dist: lognormal, p50: 12ms", "availability: 0.9\n      latency: {dist: lognormal, p50: 12ms"
    )
    text = text.replace("latency: {dist: lognormal, p50: 18ms, p99: 70ms}", "latency: {dist: lognormal, p50: 40ms, p99: 150ms}")
    text = text.replace(
        '      errorLatency: {dist: exponential, mean: 40ms}\n      failureDomains: ["payment-network"]\n\n  failureDomains',
        "      errorLatency: {dist: exponential, mean: 40ms}\n\n  failureDomains",
    )
    acc = tmp_path / "accepted.yaml"
    acc.write_text(text)
    res = discover([checkout_traces], accepted=acc, confidence=1 - 1e-4)
    changes = res.deltas["checkout"]["spec"]["changes"]
    by = {}
    for c in changes:
        by.setdefault(c["type"], []).append(c)
    assert {"from": "checkout", "to": "pricing", "type": "edgeAdded"} in by["edgeAdded"]
    assert {"from": "checkout", "to": "stock", "type": "edgeRemoved"} in by["edgeRemoved"]
    assert by["operatorChange"][0]["accepted"].startswith("Series(front, Parallel(cart, stock)")
    hedge = [c for c in by["redundancyGroup"] if c["pattern"] == "race"]
    assert hedge == [
        {
            "type": "redundancyGroup",
            "change": "parameters",
            "pattern": "race",
            "group": ["paya", "payb"],
            "accepted": {"hedgeDelaySeconds": 0.1},
            "candidate": {"hedgeDelaySeconds": 0.2},
        }
    ]
    av = [c for c in by["availabilityChange"] if c["component"] == "cart"]
    assert av and av[0]["accepted"] == 0.9 and not (av[0]["interval"][0] <= 0.9 <= av[0]["interval"][1])
    assert {"type": "failureDomainAssignment", "component": "payb", "added": ["payment-network"], "removed": []} in by["failureDomainAssignment"]
    shift = [c for c in by["latencyShift"] if c["component"] == "front"]
    assert shift and shift[0]["p50Seconds"]["relative"] < -0.3  # 40 ms accepted, ~18 ms observed


def test_cli_exit_code_follows_the_governance_verdict(checkout_traces, tmp_path):
    strict = tmp_path / "strict.yaml"
    strict.write_text(CHECKOUT.read_text().replace("minTraceEdgeCoverage: 0.80", "minTraceEdgeCoverage: 0.80\n        minTraces: 1000000"))
    r = CliRunner().invoke(app, ["discover", str(checkout_traces), "--out", str(tmp_path / "d"), "--accepted", str(strict), "--format", "json"])
    out = json.loads(r.output)
    (jd,) = out["journeys"]
    assert any(f.startswith("few-traces:") for f in jd["evidenceFlags"])
    assert jd["delta"]["governance"]["verdict"] == "REVIEW"  # evidence flags force review
    assert r.exit_code == 1
    model = yaml.safe_load(Path(jd["model"]).read_text())
    assert model["spec"]["provenance"]["coverage"]["policy"]["minTraces"] == 1000000
