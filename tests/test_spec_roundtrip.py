"""load → dump_spec → load gives an equal Journey: configs, the paper spec, random journeys."""

from __future__ import annotations

import pytest
from conftest import config_files
from hypothesis import HealthCheck, given, settings
from strategies import journeys

from emac_sim import dump_spec, load_spec
from emac_sim.operators import OPERATOR_TYPES
from emac_sim.spec import load_spec_text


def _round_trip(j):
    text = dump_spec(j)
    again = load_spec_text(text, source="dumped.yaml")
    return text, again


@pytest.mark.parametrize("path", config_files(), ids=lambda p: p.name)
def test_configs_round_trip(path):
    j = load_spec(path)
    text, again = _round_trip(j)
    assert again == j
    assert hash(again) == hash(j)
    assert again.expression == j.expression
    # the dump is a fixed point: dumping the reloaded journey gives the same bytes
    assert dump_spec(again) == text


def test_paper_spec_round_trip(paper_spec):
    j = load_spec(paper_spec)
    text, again = _round_trip(j)
    assert again == j
    assert hash(again) == hash(j)
    assert again.expression == "Series(front, Parallel(cart, pricing), Race(paya, payb))"
    # atomicSLORefs are written resolved, so the dump stands alone
    assert "atomicSLORef" not in text
    assert again.availabilities == {"front": 0.9995, "cart": 0.999, "pricing": 0.999, "paya": 0.995, "payb": 0.995}


def test_source_is_not_part_of_equality(paper_spec):
    j = load_spec(paper_spec)
    _, again = _round_trip(j)
    assert j.component("front").availability_source.startswith("openslo:slo.front.availability (")
    assert again.component("front").availability_source == "inline"
    assert again == j


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(journeys(capacity=True))
def test_random_journeys_round_trip(j):
    text, again = _round_trip(j)
    assert again == j, text
    assert hash(again) == hash(j)
    assert again.expression == j.expression
    assert dump_spec(again) == text


@pytest.mark.slow
@settings(max_examples=2000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(journeys(capacity=True, max_components=8, max_depth=4))
def test_many_random_journeys_round_trip(j):
    test_random_journeys_round_trip.hypothesis.inner_test(j)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(journeys(max_depth=2, latency="always", domains=False, correlation_matrix=False))
def test_random_journeys_with_latency_are_latency_modelled(j):
    assert j.latency_modelled
    _, again = _round_trip(j)
    assert again == j


def test_strategies_reach_every_operator_distribution_and_domain_model():
    # find() stops at the first hit: this shows each case is reachable, independent of how
    # often the default mix happens to draw it
    from hypothesis import Phase, find
    from strategies import distributions, operator_trees

    from emac_sim.model.distributions import DISTRIBUTION_KINDS

    quick = settings(database=None, max_examples=1000, phases=[Phase.generate])
    for kind in DISTRIBUTION_KINDS:
        assert find(distributions(), lambda d, kind=kind: d.kind == kind, settings=quick).kind == kind
    for op in OPERATOR_TYPES:
        assert find(operator_trees(("a", "b"), max_depth=1, operators=(op,)), lambda n, op=op: n.op == op, settings=quick).op == op
    for model in ("none", "gaussian", "shock"):
        j = find(journeys(max_depth=1), lambda j, model=model: any(d.model == model for d in j.domains), settings=quick)
        assert any(d.model == model for d in j.domains)
    j = find(journeys(max_depth=1), lambda j: j.correlation is not None, settings=quick)
    assert len(j.correlation.components) >= 2
    j = find(journeys(max_depth=1), lambda j: any(d.kind == "implicit" for d in j.domains), settings=quick)
    assert j.domains[-1].kind == "implicit"


def test_default_mix_uses_every_operator():
    ops: set[str] = set()

    @settings(max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(journeys())
    def collect(j):
        ops.update(n.op for n in j.root.walk())

    collect()
    assert ops == {"ref", *OPERATOR_TYPES}
