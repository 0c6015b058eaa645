"""Budgets solved against the real analytic layer, held to closed forms of the paper's checkout.

Checkout = Series(front, Parallel(cart, pricing), Race(paya, payb)). Under the pessimistic
scenario (payment network shared: the race fails only when the better provider fails, k8s
domains independent) A⁻ = a_front · a_cart · a_pricing · max(a_paya, a_payb).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
from scipy.optimize import brentq

from emac_sim import bounds, load_spec
from emac_sim.budgets import derive_budgets, pessimistic_availability, required_atomic_targets, with_availabilities
from emac_sim.budgets.latency import latency_budgets, scale_latency
from emac_sim.model import distributions as D
from emac_sim.model.journey import Component, Journey, LatencyObjective, Ref
from emac_sim.operators import Parallel, Series

DATA = Path(__file__).resolve().parent / "data" / "compile"
U = {"front": 0.0005, "cart": 0.001, "pricing": 0.001, "paya": 0.005, "payb": 0.005}


def a_minus_shared(s: float) -> float:
    """Closed-form A⁻ of the paper's checkout with unavailabilities scaled by s (payment shared)."""
    return (1 - s * U["front"]) * (1 - s * U["cart"]) * (1 - s * U["pricing"]) * (1 - s * U["paya"])


def a_separate(s: float) -> float:
    """Closed form with paya and payb independent (separate domains): race = 1 − u_a·u_b."""
    return (1 - s * U["front"]) * (1 - s * U["cart"]) * (1 - s * U["pricing"]) * (1 - (s * U["paya"]) * (s * U["payb"]))


@pytest.fixture(scope="module")
def paper(paper_spec: Path) -> Journey:
    return load_spec(paper_spec)


def test_pessimistic_availability_is_the_closed_form(paper: Journey) -> None:
    assert pessimistic_availability(paper) == pytest.approx(a_minus_shared(1.0), abs=1e-15)
    assert round(pessimistic_availability(paper), 8) == 0.99251449


def test_uniform_scaling_matches_the_closed_form(paper: Journey) -> None:
    t = required_atomic_targets(paper, 0.995)
    s_exact = brentq(lambda s: a_minus_shared(s) - 0.995, 0.0, 1.0, xtol=1e-15)
    assert t.scale == pytest.approx(s_exact, rel=1e-9)
    assert t.current_lower == pytest.approx(a_minus_shared(1.0), abs=1e-15)
    assert t.achieved_lower >= 0.995
    for x in t.targets:
        exact = 1 - s_exact * U[x.component]
        assert x.uniform >= exact - 1e-12  # published targets are rounded up ...
        assert x.uniform - exact < U[x.component] * s_exact * 1e-2  # ... by less than 1 % of the unavailability


def test_alone_targets_are_exact_or_impossible(paper: Journey) -> None:
    t = {x.component: x for x in required_atomic_targets(paper, 0.995).targets}
    # no k8s component alone can lift A⁻ to 0.995: even at 1, 0.999 · 0.999 · 0.995 < 0.995
    assert t["front"].alone is None and t["cart"].alone is None and t["pricing"].alone is None
    exact = 0.995 / ((1 - U["front"]) * (1 - U["cart"]) * (1 - U["pricing"]))
    for cid in ("paya", "payb"):
        assert exact <= t[cid].alone < exact + 1e-5
        assert pessimistic_availability(with_availabilities(paper, {cid: t[cid].alone})) >= 0.995
        assert pessimistic_availability(with_availabilities(paper, {cid: exact - 1e-7})) < 0.995


def test_slack_gives_a_scale_above_one() -> None:
    j = load_spec(DATA / "accepted-separate-domains.yaml")
    t = required_atomic_targets(j, 0.995)
    s_exact = brentq(lambda s: a_separate(s) - 0.995, 1.0, 10.0, xtol=1e-15)
    assert t.scale == pytest.approx(s_exact, rel=1e-9)
    assert t.scale > 1
    # with slack, a redundant provider may drop a long way alone
    alone = {x.component: x.alone for x in t.targets}
    base = (1 - U["front"]) * (1 - U["cart"]) * (1 - U["pricing"])
    exact = 1 - (1 - 0.995 / base) / U["payb"]
    assert alone["paya"] == pytest.approx(exact, abs=1e-3)
    assert alone["paya"] >= exact


def test_derive_budgets_on_the_paper_spec(paper: Journey) -> None:
    b = derive_budgets(paper, bounds(paper))
    assert b.slo.status == "at-risk"
    assert round(b.slo.width, 8) == 0.00496257
    assert b.error_budget.minutes == 216.0
    assert b.latency is None  # the paper's spec has no latency models
    assert [(x.severity, x.burn_rate) for x in b.burn_rates] == [("page", 14.4), ("page", 6.0), ("ticket", 1.0)]
    assert [x.error_ratio_threshold for x in b.burn_rates] == [0.072, 0.03, 0.005]


def test_latency_budget_uses_homogeneity_and_the_analytic_layer_agrees() -> None:
    """Without fixed delays every journey quantile scales with the common factor: the analytic
    layer, recomputed on the scaled journey, must land on the threshold (two routes, one number)."""
    comps = (
        Component("a", 0.999, latency=D.LogNormal.from_quantiles(0.02, 0.08)),
        Component("b", 0.999, latency=D.Gamma.from_mean_cv(0.03, 0.7)),
        Component("c", 0.999, latency=D.Exponential(mean_s=0.015)),
    )
    j = Journey(
        name="j",
        root=Series((Ref("a"), Parallel((Ref("b"), Ref("c"))))),
        components=comps,
        latency_objective=LatencyObjective(threshold=0.15),
    )
    bd = bounds(j)
    lb = latency_budgets(j, bd)
    assert lb is not None
    disc = bd.latency.discretisation_error
    for sol in lb.solutions:
        assert sol.method.startswith("homogeneous")
        key = sol.bound
        assert sol.journey_before == bd.quantile("p99").value(key)
        assert sol.factor == pytest.approx(0.15 / sol.journey_before, rel=1e-12)
        # the recomputed quantile sits on the threshold up to the grid's discretisation error
        # (which itself scales with the journey)
        assert abs(sol.journey_after - 0.15) <= 2 * disc * max(sol.factor, 1.0) + 1e-9
        for cb in sol.components:
            assert cb.budget == pytest.approx(cb.current * sol.factor, rel=1e-12)
    scaled = scale_latency(j, lb.solution("independent").factor)
    assert dataclasses.replace(scaled, components=j.components) == j
    assert math.isclose(bounds(scaled).quantile("p99").independent, lb.solution("independent").journey_after)
