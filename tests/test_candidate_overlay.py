"""Partial DiscoveredJourneyModel candidates (the paper's discovered.checkout.yaml) overlaid on the accepted spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from emac_sim.errors import SpecError
from emac_sim.pipeline.compile import compile_spec
from emac_sim.spec import load_spec
from emac_sim.spec.candidate import load_candidate


@pytest.fixture
def discovered(reference_dir: Path) -> Path:
    return reference_dir / "paper-checkout" / "model_discovery" / "discovered.checkout.yaml"


def _edit(src: Path, dst: Path, fn) -> Path:
    doc = yaml.safe_load(src.read_text())
    fn(doc["spec"])
    dst.write_text(yaml.safe_dump(doc))
    return dst


def test_paper_discovery_overlays_the_accepted_journey(paper_spec: Path, discovered: Path) -> None:
    accepted = load_spec(paper_spec)
    cand = load_candidate(discovered, accepted)
    assert cand.kind == "DiscoveredJourneyModel"
    assert cand.expression == accepted.expression
    assert cand.confidence == 0.78
    assert cand.evidence_flags == ()
    assert cand.domain("payment-network").members == ("paya", "payb")
    assert cand.domain("k8s/zone").confidence == 0.9
    assert cand.availabilities == accepted.availabilities


def test_paper_replay_is_review_below_the_confidence_threshold(paper_spec: Path, discovered: Path, tmp_path: Path) -> None:
    r = compile_spec(paper_spec, tmp_path / "out", samples=20_000, candidate=discovered)
    assert r.exit_code == 1
    d = r.decision.to_dict()
    assert d["verdict"] == "REVIEW"
    assert d["confidence"] == 0.78 and d["deltaAMinus"] == 0.0
    assert any("below the threshold 0.8" in x for x in d["reasons"])


def test_separating_the_payment_domain_raises_a_minus_to_a_plus(paper_spec: Path, discovered: Path, tmp_path: Path) -> None:
    def split(spec: dict) -> None:
        spec["confidence"]["overall"] = 0.9
        spec["failureDomains"]["declared"] = [
            {"name": "payment-network", "members": ["paya"], "confidence": 1.0},
            {"name": "payment-network-b", "members": ["payb"], "confidence": 1.0},
        ]

    cand = load_candidate(_edit(discovered, tmp_path / "c.yaml", split), load_spec(paper_spec))
    assert cand.domain("payment-network").members == ("paya",)
    assert cand.component("payb").domains == ("payment-network-b",)
    r = compile_spec(paper_spec, tmp_path / "out", samples=20_000, candidate=tmp_path / "c.yaml")
    d = r.decision.to_dict()
    assert d["aMinus"] == pytest.approx(0.99747706, abs=5e-9)
    assert d["verdict"] == "REVIEW"  # |ΔA⁻| = 0.00496 ≥ 0.001: a high-impact delta
    assert d["deltaAMinus"] == pytest.approx(0.00496257, abs=5e-9)


def test_missing_evidence_and_low_confidence_conflicts_are_flagged(paper_spec: Path, discovered: Path, tmp_path: Path) -> None:
    def degrade(spec: dict) -> None:
        spec["topology"]["nodes"] = [n for n in spec["topology"]["nodes"] if n["id"] != "payb"]
        spec["failureDomains"]["inferred"].append({"name": "k8s/zone", "members": ["front", "cart", "pricing", "paya"], "confidence": 0.4})

    cand = load_candidate(_edit(discovered, tmp_path / "c.yaml", degrade), load_spec(paper_spec))
    codes = sorted(f.split(":")[0] for f in cand.evidence_flags)
    assert codes == ["domain-conflict", "missing-evidence"]
    assert "'payb'" in cand.evidence_flags[0] or "'payb'" in cand.evidence_flags[1]


def test_evidence_naming_an_unknown_component_is_bad_input(paper_spec: Path, discovered: Path, tmp_path: Path) -> None:
    def bad(spec: dict) -> None:
        spec["failureDomains"]["declared"][0]["members"] = ["paya", "payc"]

    with pytest.raises(SpecError) as exc:
        load_candidate(_edit(discovered, tmp_path / "c.yaml", bad), load_spec(paper_spec))
    assert exc.value.line().endswith("spec.failureDomains.declared[0].members: 'payc' is not a component of the accepted journey 'checkout'")
