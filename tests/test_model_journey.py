"""The journey IR: frozen nodes, the paper's expression, helpers, the check summary."""

from __future__ import annotations

import dataclasses

import pytest

from emac_sim.model import distributions as D
from emac_sim.model.journey import Component, Domain, Journey, Ref
from emac_sim.model.summary import summarize
from emac_sim.operators import Backoff, Choice, Fallback, Optional, Parallel, Race, Repeat, Retry, Series, Timeout

a, b, c = Ref("a"), Ref("b"), Ref("c")


@pytest.mark.parametrize(
    "node, text",
    [
        (Series(steps=(a, Parallel(branches=(b, c)), Race(branches=(a, b)))), "Series(a, Parallel(b, c), Race(a, b))"),
        (Parallel(branches=(a, b), join="any"), "ParallelAny(a, b)"),
        (Parallel(branches=(a, b, c), join="quorum", k=2), "Quorum2(a, b, c)"),
        (Race(branches=(a, b), hedge_delay=0.2), "Race(a, b; hedge=200ms)"),
        (Race(branches=(a, b), hedge_delay=1.5), "Race(a, b; hedge=1.5s)"),
        (Fallback(branches=(a, b)), "Fallback(a, b)"),
        (Retry(step=a, attempts=3), "Retry(a, 3)"),
        (Retry(step=a, attempts=3, per_try_timeout=0.08), "Retry(a, 3, perTry=80ms)"),
        (Timeout(step=a, deadline=0.3), "Timeout(a, 300ms)"),
        (Choice(branches=(a, b), weights=(90.0, 10.0)), "Choice(0.9:a, 0.1:b)"),
        (Optional(step=a, probability=0.3), "Optional(a, 0.3)"),
        (Repeat(step=a, count=3), "Repeat(a, 3)"),
    ],
)
def test_expression(node, text):
    assert str(node) == text


def test_nodes_are_frozen_and_hashable():
    n = Series(steps=(a, b))
    with pytest.raises(dataclasses.FrozenInstanceError):
        n.steps = (a,)  # type: ignore[misc]
    assert hash(n) == hash(Series(steps=(Ref("a"), Ref("b"))))
    assert n == Series(steps=(Ref("a"), Ref("b")))
    assert n != Series(steps=(b, a))


def test_walk_and_refs():
    tree = Series(steps=(a, Retry(step=Parallel(branches=(b, a)), attempts=2)))
    assert [n.op for n in tree.walk()] == ["series", "ref", "retry", "parallel", "ref", "ref"]
    assert list(tree.refs()) == ["a", "b", "a"]


def test_parallel_needed():
    assert Parallel(branches=(a, b, c)).needed == 3
    assert Parallel(branches=(a, b, c), join="any").needed == 1
    assert Parallel(branches=(a, b, c), join="quorum", k=2).needed == 2


def test_choice_probabilities():
    assert Choice(branches=(a, b, c), weights=(1.0, 0.0, 3.0)).probabilities == (0.25, 0.0, 0.75)


def test_backoff_delay():
    bo = Backoff(initial=0.01, multiplier=2.0, max=0.03)
    assert [bo.delay(i) for i in (1, 2, 3, 4)] == [0.01, 0.02, 0.03, 0.03]
    assert Backoff().delay(5) == 0.0
    assert Backoff(initial=0.1).delay(3) == 0.1


def _journey(**kw) -> Journey:
    comps = (
        Component("a", 0.99, latency=D.Exponential(0.01)),
        Component("b", 0.995, latency=D.Constant(0.002), error_latency="fast", domains=("net",)),
        Component("c", 0.9, domains=("net",)),
    )
    base = dict(
        name="j",
        root=Series(steps=(a, Race(branches=(b, c)))),
        components=comps,
        domains=(Domain("net", ("b", "c"), model="shock", beta=0.5),),
    )
    base.update(kw)
    return Journey(**base)


def test_journey_helpers():
    j = _journey()
    assert j.expression == "Series(a, Race(b, c))"
    assert j.component_ids == ("a", "b", "c")
    assert j.availabilities == {"a": 0.99, "b": 0.995, "c": 0.9}
    assert j.component("b").error_distribution() is None
    assert j.component("a").error_distribution() == D.Exponential(0.01)
    assert j.domain("net").shock_probability(j.availabilities) == pytest.approx(0.5 * 0.005)
    with pytest.raises(KeyError):
        j.component("zzz")
    with pytest.raises(KeyError):
        j.domain("zzz")


def test_latency_modelled_needs_every_referenced_component():
    j = _journey()
    assert not j.latency_modelled  # c has no latency
    j2 = _journey(root=Series(steps=(a, b)))
    assert j2.latency_modelled  # c is defined but not referenced


def test_source_and_inputs_are_not_part_of_equality():
    j = _journey()
    assert dataclasses.replace(j, source="x.yaml", inputs=(("x.yaml", "00"),)) == j
    c = j.components[0]
    assert dataclasses.replace(c, availability_source="openslo:x (f.yaml)") == c


def test_shock_probability_without_members_is_zero():
    assert Domain("empty", (), model="shock", beta=0.3).shock_probability({}) == 0.0
    assert Domain("p", ("a",), model="shock", probability=0.01).shock_probability({"a": 0.9}) == 0.01
    assert Domain("g", ("a",), model="gaussian", rho=0.2).shock_probability({"a": 0.9}) == 0.0


def test_summary():
    s = summarize(_journey())
    assert s["journey"] == "j"
    assert s["expression"] == "Series(a, Race(b, c))"
    assert s["components"]["a"]["availability"] == 0.99
    assert s["components"]["a"]["source"] == "inline"
    assert s["components"]["a"]["latency"] == {"dist": "exponential", "mean": 0.01}
    assert s["components"]["b"]["errorLatency"] == "fast"
    assert s["components"]["c"]["latency"] is None
    net = s["domains"]["net"]
    assert net["probability"] == pytest.approx(0.5 * 0.005)  # beta × min over members of (1 − a)
    assert {k: v for k, v in net.items() if k != "probability"} == {"members": ["b", "c"], "model": "shock", "kind": "declared", "beta": 0.5}
    assert s["latencyModelled"] is False
    assert s["objectives"] == {}
