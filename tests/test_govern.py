"""Governance: the guard language (parser, errors, strict evaluation) and PASS / FAIL / REVIEW.

Oracles: the paper's numbers from closed forms (series ∏aᵢ, race 1 − ∏(1 − aᵢ); shared fate
turns the race into one draw), the candidate fixtures of issue 5, DESIGN §7's decision table.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import emac_sim.govern as gov
from emac_sim.analytic import Bounds
from emac_sim.errors import SpecError
from emac_sim.govern.guard import (
    And,
    BoolLit,
    Compare,
    GuardSyntaxError,
    Not,
    Num,
    Or,
    Var,
    evaluate_guard,
    parse_guard,
    unparse,
)
from emac_sim.spec import load_spec

DATA = Path(__file__).resolve().parent / "data" / "compile"
PAPER_GUARD = "A_minus >= 0.995 && p99_U <= 0.4 && conf(delta) >= 0.8 && no_unresolved_domain_conflict"

# closed forms for the paper's checkout: front · cart · pricing · race(paya, payb)
K = 0.9995 * 0.999 * 0.999
A_PLUS = K * (1 - 0.005**2)  # providers independent
A_MINUS = K * 0.995  # providers share fate: the race is one draw


def bounds(a_minus: float, a_plus: float, p99_upper: float | None = None) -> Bounds:
    lat = None
    if p99_upper is not None:
        lat = {
            q: {"independent": p99_upper * 0.8, "comonotone": p99_upper * 0.9, "lower": p99_upper * 0.5, "upper": p99_upper}
            for q in ("p50", "p90", "p99", "p999")
        }
    return Bounds.from_dict(
        {"availability": {"independent": a_plus, "pessimistic": a_minus, "declared": None}, "latency": lat, "latencyModelled": lat is not None}
    )


def test_paper_numbers_from_closed_forms() -> None:
    assert round(A_PLUS, 8) == 0.99747706
    assert round(A_MINUS, 8) == 0.99251449
    assert round(A_PLUS - A_MINUS, 8) == 0.00496257


# --------------------------------------------------------------------------- guard parsing


def test_paper_guard_parses_and_round_trips() -> None:
    e = parse_guard(PAPER_GUARD)
    assert unparse(e) == PAPER_GUARD
    assert parse_guard(unparse(e)) == e


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty guard"),
        ("   ", "empty guard"),
        ("A_min >= 0.995", "unknown name 'A_min' at column 1 (did you mean 'A_minus'?)"),
        ("A_minus >= 0.9 & p99_U < 1", "unexpected character '&' at column 16 (use && for and)"),
        ("A_minus >= 0.9 | true", "unexpected character '|' at column 16 (use || for or)"),
        ("A_minus = 0.9", "unexpected character '=' at column 9 (use == to compare)"),
        ("A_minus", "the guard at column 1 is a number (A_minus), expected a condition such as A_minus >= 0.99"),
        ("0.5 < A_minus < 1", "unexpected '<' at column 15 (a comparison cannot be chained; join conditions with &&)"),
        ("conf(x) >= 0.8", "conf() at column 1 takes delta, got 'x'"),
        ("conf >= 0.8", "conf at column 1 is a function: write conf(delta)"),
        ("(A_minus >= 0.9", "expected ')' to close '(' at column 1, got the end of the guard at column 16"),
        ("A_minus >= ", "expected a number, a name or '(' at column 12, got the end of the guard"),
        ("A_minus >= 0.99 and true", "unexpected 'and' at column 17 (use &&)"),
        ("not true", "unknown name 'not' at column 1 (use !)"),
        ("1.2.3 > A_minus", "malformed number at column 1"),
        ("no_unresolved_domain_conflict > 1", "'>' at column 31 compares numbers, but no_unresolved_domain_conflict (column 1) is a condition"),
        ("A_minus >= 0.9 && 3", "the right side of '&&' (column 16) at column 19 is a number (3), expected a condition such as 3 >= 0.99"),
        ("!p99_U", "the operand of '!' at column 2 is a number (p99_U)"),
        ("__import__('os')", 'unexpected character "\'" at column 12'),
        ("__import__", "unknown name '__import__' at column 1"),
        ("A_minus.__class__ > 1", "unexpected character '.' at column 8"),
        ("A_minus >= 0.9; x", "unexpected character ';' at column 15"),
        ("A_minus >= 0.99 true", "unexpected 'true' at column 17"),
    ],
)
def test_bad_guards_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(GuardSyntaxError) as exc:
        parse_guard(text)
    assert message in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_guard_length_is_capped() -> None:
    with pytest.raises(GuardSyntaxError, match="more than 2000"):
        parse_guard("true && " * 400 + "true")


def test_duration_units_are_seconds() -> None:
    e = parse_guard("p99_U <= 400ms && p50_U < 250us || p90_U > 1.5s")
    env = {"p99_U": 0.4, "p50_U": 0.0002, "p90_U": 1.0}
    assert evaluate_guard(e, env).value is True
    assert evaluate_guard("p99_U <= 400ms", {"p99_U": 0.4000001}).value is False


def test_precedence_and_binds_tighter_than_or_and_not_tightest() -> None:
    e = parse_guard("!true || true && false")
    assert e == Or(Not(BoolLit(True)), And(BoolLit(True), BoolLit(False)))
    assert evaluate_guard(e, {}).value is False


# --------------------------------------------------------------------------- guard evaluation


def test_paper_guard_on_paper_numbers_is_blocked_by_a_minus_and_confidence() -> None:
    env = {"A_minus": A_MINUS, "p99_U": 0.38, "conf(delta)": 0.78, "no_unresolved_domain_conflict": True}
    ev = evaluate_guard(PAPER_GUARD, env)
    assert ev.value is False and ev.status == "blocked" and not ev.allowed
    failed = [t.text for t in ev.terms if t.result is False]
    assert failed == ["A_minus >= 0.995", "conf(delta) >= 0.8"]
    assert "A_minus >= 0.995: 0.9925144895 < 0.995" in ev.explanation()


def test_guard_allows_when_every_term_holds() -> None:
    env = {"A_minus": A_PLUS, "p99_U": 0.38, "conf(delta)": 0.91, "no_unresolved_domain_conflict": True}
    ev = evaluate_guard(PAPER_GUARD, env)
    assert ev.value is True and ev.allowed and ev.explanation() == "every condition holds"


def test_unknown_value_blocks_even_where_kleene_logic_would_allow() -> None:
    ev = evaluate_guard("A_minus >= 0.99 || conf(delta) >= 0.8", {"A_minus": 0.999})
    assert ev.value is None and ev.status == "unknown" and not ev.allowed
    assert ev.missing == ("conf(delta)",)
    assert "unknown: no value for conf(delta)" in ev.explanation()
    nan = evaluate_guard("A_minus >= 0.99", {"A_minus": math.nan})
    assert nan.value is None


def test_boolean_name_false_blocks() -> None:
    ev = evaluate_guard("no_unresolved_domain_conflict", {"no_unresolved_domain_conflict": False})
    assert ev.value is False and "no_unresolved_domain_conflict is false" in ev.explanation()


# random guards: parse(unparse(e)) must mean the same as e


_num_leaf = st.one_of(
    st.sampled_from(["A_minus", "A_plus", "width", "p99_U", "conf(delta)"]).map(Var),
    st.floats(min_value=0, max_value=2, allow_nan=False).map(lambda v: Num(v, repr(v))),
)
_cmp = st.builds(Compare, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), _num_leaf, _num_leaf)
_cond = st.recursive(
    st.one_of(_cmp, st.just(Var("no_unresolved_domain_conflict")), st.booleans().map(BoolLit)),
    lambda inner: st.one_of(st.builds(Not, inner), st.builds(And, inner, inner), st.builds(Or, inner, inner)),
    max_leaves=8,
)
_env = st.fixed_dictionaries(
    {
        "A_minus": st.floats(0.9, 1.0),
        "A_plus": st.floats(0.9, 1.0),
        "width": st.floats(0, 0.1),
        "p99_U": st.floats(0, 2),
        "conf(delta)": st.one_of(st.none(), st.floats(0, 1)),
        "no_unresolved_domain_conflict": st.booleans(),
    }
)


def _reference(e, env):  # a direct, obviously-correct strict evaluator
    if isinstance(e, BoolLit):
        return e.value
    if isinstance(e, Var):
        v = env.get(e.name)
        return v
    if isinstance(e, Num):
        return e.value
    if isinstance(e, Compare):
        a, b = _reference(e.left, env), _reference(e.right, env)
        if a is None or b is None:
            return None
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[e.op]
    if isinstance(e, Not):
        r = _reference(e.operand, env)
        return None if r is None else not r
    a, b = _reference(e.left, env), _reference(e.right, env)
    if a is None or b is None:
        return None
    return (a and b) if isinstance(e, And) else (a or b)


@settings(max_examples=200, deadline=None)
@given(_cond, _env)
def test_random_guards_round_trip_and_match_a_reference_evaluator(e, env) -> None:
    text = unparse(e)
    again = parse_guard(text)
    assert evaluate_guard(again, env).value == evaluate_guard(e, env).value == _reference(e, env)


# --------------------------------------------------------------------------- load-time refusal


def test_loader_refuses_a_bad_guard_with_its_path(write_spec) -> None:
    spec = write_spec(
        """
        apiVersion: emac.dev/v1alpha1
        kind: JourneyIntent
        metadata: {name: j}
        spec:
          operator: {ref: a}
          components: {a: {availability: 0.99}}
          governance:
            actions:
              - kind: promote
                guard: "A_minus >= 0.99 && conf(delta) >> 0.8"
        """
    )
    with pytest.raises(SpecError) as exc:
        load_spec(spec)
    assert exc.value.path == "spec.governance.actions[0].guard"
    assert "invalid guard expression: expected a number, a name or '(' at column 33, got '>'" in exc.value.message


def test_loader_accepts_the_paper_guard(paper_spec: Path) -> None:
    j = load_spec(paper_spec)
    assert j.governance.actions[0].guard == PAPER_GUARD


# --------------------------------------------------------------------------- decisions: accepted model


def test_accepted_paper_model_fails_on_a_minus(paper_spec: Path) -> None:
    j = load_spec(paper_spec)
    d = gov.decide(j, bounds(A_MINUS, A_PLUS))
    assert d.verdict == "FAIL" and d.mode == "accepted" and d.exit_code == 1
    assert d.a_minus == A_MINUS and d.objective == 0.995 and d.availability_bound == "pessimistic"
    assert d.reasons == ("A⁻ = 0.99251449 is below the availability objective 0.995 (pessimistic bound)",)
    [g] = d.guards
    # the paper models no latency (p99_U <= 0.4 is left out, as the decision leaves latency out) and
    # judges no candidate (conf(delta) = 1: no delta pending): the guard blocks on A_minus alone
    assert g.action == "promote" and g.status == "blocked"
    assert [t.detail for t in g.evaluation.terms] == [
        "A_minus >= 0.995: 0.9925144895 < 0.995",
        "p99_U <= 0.4: left out (p99_U not modelled)",
        "conf(delta) >= 0.8: 1 >= 0.8",
        "no_unresolved_domain_conflict is true",
    ]


def test_accepted_model_passes_when_a_minus_meets_the_objective(paper_spec: Path) -> None:
    j = load_spec(paper_spec)
    d = gov.decide(j, bounds(A_PLUS, A_PLUS))
    assert d.verdict == "PASS" and d.exit_code == 0
    assert "meets the availability objective 0.995" in d.reasons[0]


@pytest.mark.parametrize(("upper", "verdict"), [(0.45, "FAIL"), (0.4, "PASS"), (0.35, "PASS")])
def test_accepted_model_latency_gate(configs_dir: Path, upper: float, verdict: str) -> None:
    j = load_spec(configs_dir / "checkout.yaml")  # p99 ≤ 400 ms
    d = gov.decide(j, bounds(A_PLUS, A_PLUS, p99_upper=upper))
    assert d.verdict == verdict
    assert d.latency_upper == upper and d.latency_threshold == 0.4 and d.latency_metric == "p99"
    if verdict == "FAIL":
        assert d.reasons == ("latency p99 bound 0.45s exceeds the threshold 0.4s",)


def test_accepted_model_without_latency_model_has_no_latency_gate(paper_spec: Path) -> None:
    d = gov.decide(load_spec(paper_spec), bounds(A_PLUS, A_PLUS))
    assert d.verdict == "PASS"
    assert "latency p99 not modelled: no latency gate" in d.reasons


def test_policy_optimistic_bound_is_honoured(write_spec) -> None:
    spec = write_spec(
        """
        apiVersion: emac.dev/v1alpha1
        kind: JourneyIntent
        metadata: {name: j}
        spec:
          objectives: {availability: {target: 0.995}}
          operator: {ref: a}
          components: {a: {availability: 0.99}}
          governance: {useBoundsForAutomation: {availability: optimistic}}
        """
    )
    d = gov.decide(load_spec(spec), bounds(0.99, 0.996))
    assert d.verdict == "PASS" and d.availability_bound == "independent" and d.a_minus == 0.996


# --------------------------------------------------------------------------- decisions: candidates (issue 5 scenarios)


def _candidate(name: str, a_minus: float, a_plus: float):
    accepted = load_spec(DATA / "accepted-separate-domains.yaml")
    cand = load_spec(DATA / name)
    ev = gov.CandidateEvidence.from_models(accepted, bounds(A_PLUS, A_PLUS), cand, bounds(a_minus, a_plus))
    return accepted, ev


def test_candidate_confirming_separate_domains_passes() -> None:
    accepted, ev = _candidate("candidate-confirms-separate.yaml", A_PLUS, A_PLUS)
    d = gov.decide(accepted, bounds(A_PLUS, A_PLUS), candidate=ev)
    assert d.verdict == "PASS" and d.mode == "candidate" and d.exit_code == 0
    assert round(d.a_minus, 8) == 0.99747706 and d.delta_a_minus == 0.0
    assert d.confidence == 0.91 and d.confidence_threshold == 0.8
    [g] = d.guards
    assert g.status == "allowed"


def test_candidate_sharing_the_payment_domain_fails() -> None:
    accepted, ev = _candidate("candidate-shared-payment.yaml", A_MINUS, A_PLUS)
    d = gov.decide(accepted, bounds(A_PLUS, A_PLUS), candidate=ev)
    assert d.verdict == "FAIL"
    assert round(d.a_minus, 8) == 0.99251449
    assert round(d.delta_a_minus, 8) == -0.00496257
    assert d.reasons[0] == "A⁻ = 0.99251449 is below the availability objective 0.995 (pessimistic bound)"
    assert d.reasons[-1] == "ΔA⁻ = -0.00496257 against the accepted model"
    assert d.guards[0].status == "blocked"


def test_candidate_with_missing_evidence_goes_to_review() -> None:
    accepted, ev = _candidate("candidate-missing-payb.yaml", A_PLUS, A_PLUS)
    d = gov.decide(accepted, bounds(A_PLUS, A_PLUS), candidate=ev)
    assert d.verdict == "REVIEW" and d.exit_code == 1
    assert d.reasons[0] == "candidate confidence 0.62 is below the threshold 0.8"
    assert d.reasons[1] == "evidence flags: missing-evidence:payb; domain-label-conflict:paya"
    assert ev.unresolved_domain_conflicts == ("domain-label-conflict:paya",)
    env = gov.guard_environment(accepted, bounds(A_PLUS, A_PLUS), ev)
    assert env["no_unresolved_domain_conflict"] is False and env["conf(delta)"] == 0.62


def _evidence(a_minus: float, accepted_a_minus: float, confidence: float | None = 0.9, flags: tuple[str, ...] = ()) -> gov.CandidateEvidence:
    return gov.CandidateEvidence(
        source="cand.yaml", confidence=confidence, evidence_flags=flags, a_minus=a_minus, a_plus=a_minus, accepted_a_minus=accepted_a_minus
    )


def test_high_impact_delta_goes_to_review_even_when_the_objective_is_met() -> None:
    accepted = load_spec(DATA / "accepted-separate-domains.yaml")
    d = gov.decide(accepted, bounds(0.996, 0.997), candidate=_evidence(0.998, 0.996))
    assert d.verdict == "REVIEW"
    assert d.reasons[0].startswith("high-impact delta: |ΔA⁻| = 0.002 ≥ 0.001")


def test_small_delta_passes_and_threshold_is_inclusive() -> None:
    accepted = load_spec(DATA / "accepted-separate-domains.yaml")
    assert gov.decide(accepted, bounds(0.996, 0.997), candidate=_evidence(0.9965, 0.996)).verdict == "PASS"
    assert gov.decide(accepted, bounds(0.996, 0.997), candidate=_evidence(0.9975, 0.9965)).verdict == "REVIEW"  # |Δ| = 0.001


def test_candidate_without_confidence_goes_to_review() -> None:
    accepted = load_spec(DATA / "accepted-separate-domains.yaml")
    d = gov.decide(accepted, bounds(0.996, 0.997), candidate=_evidence(0.996, 0.996, confidence=None))
    assert d.verdict == "REVIEW" and d.reasons == ("the candidate states no confidence (policy threshold 0.8)",)


def test_review_takes_precedence_over_fail() -> None:
    accepted = load_spec(DATA / "accepted-separate-domains.yaml")
    d = gov.decide(accepted, bounds(A_PLUS, A_PLUS), candidate=_evidence(A_MINUS, A_PLUS, confidence=0.5))
    assert d.verdict == "REVIEW"


def test_decision_to_dict_is_plain_data(paper_spec: Path) -> None:
    d = gov.decide(load_spec(paper_spec), bounds(A_MINUS, A_PLUS))
    out = d.to_dict()
    assert out["verdict"] == "FAIL" and out["guards"][0]["status"] == "blocked"
    assert out["guards"][0]["terms"][0] == {"term": "A_minus >= 0.995", "result": False, "detail": "A_minus >= 0.995: 0.9925144895 < 0.995"}


def test_emac_check_refuses_a_bad_guard(cli, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    text = (Path(__file__).resolve().parents[1] / "configs" / "checkout.yaml").read_text()
    spec.write_text(text.replace('guard: "A_minus >= 0.995', 'guard: "A_min >= 0.995'))
    res = cli("check", spec)
    assert res.exit_code == 2
    assert res.stderr.strip() == (
        f"{spec}: spec.governance.actions[0].guard: invalid guard expression: unknown name 'A_min' at column 1 (did you mean 'A_minus'?)"
    )
