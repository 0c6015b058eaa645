"""Round trip: spec → simulated OTLP traces → discovery → the same operator tree, routing weights
and availabilities within their intervals.

"The same tree" is judged on a canonical form (parallel / choice branches unordered, nested
series flattened, ``race`` without hedge delay = ``parallel any``) of the spec's tree *pruned to
what the traces can show*: the trace writer counts what every operator did, and an operator that
never acted in the sample (a timeout that never fired, a retry never retried, a hedge never
issued, a fallback never taken, an any/quorum that never cancelled a loser) leaves no evidence,
so the spec's tree without it is what discovery must find. Retry attempts are a lower bound
unless some request exhausted them.

Intervals are Wilson intervals at confidence 1 − 1e-4 each (at most ~20 per test: family-wise
α ≤ 2e-3). Traces are simulated under the ``independent`` scenario: then every call is an
independent draw of its component's availability and the call-level estimate is unbiased; under
correlated domains, calls issued *because* another failed (retries, hedges) are not.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import journeys

from emac_sim import load_spec
from emac_sim.discover import discover, write_otlp_traces
from emac_sim.model.journey import Node, Ref
from emac_sim.operators import Choice, Fallback, Optional, Parallel, Race, Repeat, Retry, Series, Timeout
from emac_sim.spec import load_spec_text

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml"))
CONF = 1 - 1e-4


# --------------------------------------------------------------------------- helpers


def prune(node: Node, stats: dict, path: str = "root") -> Node | None:
    """The spec's tree without the operators that never acted in the simulated sample."""
    st = stats.get(path, {})
    if isinstance(node, Ref):
        return node
    if isinstance(node, Series):
        steps = [prune(s, stats, f"{path}.steps[{i}]") for i, s in enumerate(node.steps)]
        steps = [s for s in steps if s is not None]
        return steps[0] if len(steps) == 1 else Series(tuple(steps))
    if isinstance(node, Parallel):
        kids = tuple(prune(b, stats, f"{path}.branches[{i}]") for i, b in enumerate(node.branches))
        if node.join != "all" and not st.get("cancelled"):
            return Parallel(kids, "all")
        return Parallel(kids, node.join, node.k)
    if isinstance(node, Race):
        if not st.get("hedgesIssued") and node.hedge_delay > 0:
            return prune(node.branches[0], stats, f"{path}.branches[0]")
        kids = tuple(prune(b, stats, f"{path}.branches[{i}]") for i, b in enumerate(node.branches))
        if not st.get("cancelled"):
            return Parallel(kids, "all")
        return Race(kids, node.hedge_delay)
    if isinstance(node, Fallback):
        if not st.get("alternativeTaken"):
            return prune(node.branches[0], stats, f"{path}.branches[0]")
        return Fallback(tuple(prune(b, stats, f"{path}.branches[{i}]") for i, b in enumerate(node.branches)))
    if isinstance(node, Retry):
        inner = prune(node.step, stats, f"{path}.step")
        return Retry(inner, node.attempts, node.per_try_timeout, node.backoff) if st.get("retried") else inner
    if isinstance(node, Timeout):
        inner = prune(node.step, stats, f"{path}.step")
        return Timeout(inner, node.deadline) if st.get("fired") else inner
    if isinstance(node, Choice):
        pairs = enumerate(zip(node.probabilities, node.branches))
        kept = [(w, prune(b, stats, f"{path}.branches[{i}]")) for i, (w, b) in pairs if st.get(f"branch{i}")]
        if len(kept) == 1:
            return kept[0][1]
        return Choice(tuple(b for _, b in kept), tuple(w for w, _ in kept))
    if isinstance(node, Optional):
        if not st.get("taken"):
            return None
        inner = prune(node.step, stats, f"{path}.step")
        return inner if st["taken"] == st["reached"] else Optional(inner, node.probability)
    if isinstance(node, Repeat):
        return Repeat(prune(node.step, stats, f"{path}.step"), node.count)
    raise TypeError(node)


def canon(node: Node) -> tuple:
    """Canonical form: unordered parallel/choice branches, flattened series, race(h=0) = any."""
    if isinstance(node, Ref):
        return ("ref", node.component)
    if isinstance(node, Series):
        flat: list[tuple] = []
        for s in node.steps:
            c = canon(s)
            flat.extend(c[1] if c[0] == "series" else [c])
        return flat[0] if len(flat) == 1 else ("series", tuple(flat))
    if isinstance(node, Parallel):
        kids = tuple(sorted(canon(b) for b in node.branches))
        return ("quorum", node.k, kids) if node.join == "quorum" else (node.join, kids)
    if isinstance(node, Race):
        if node.hedge_delay == 0:
            return ("any", tuple(sorted(canon(b) for b in node.branches)))
        return ("race", tuple(canon(b) for b in node.branches))
    if isinstance(node, Fallback):
        return ("fallback", tuple(canon(b) for b in node.branches))
    if isinstance(node, Retry):
        return ("retry", canon(node.step))
    if isinstance(node, Timeout):
        return ("timeout", canon(node.step))
    if isinstance(node, Choice):
        return ("choice", tuple(sorted(canon(b) for b in node.branches)))
    if isinstance(node, Optional):
        return ("optional", canon(node.step))
    if isinstance(node, Repeat):
        return ("repeat", node.count, canon(node.step))
    raise TypeError(node)


def paths(node: Node, path: str = "spec.operator"):
    """(dump path, node) pairs, as the discovered model's provenance names them."""
    yield path, node
    if isinstance(node, Series):
        kids = [(f"{path}.steps[{i}]", c) for i, c in enumerate(node.steps)]
    elif isinstance(node, Choice):
        kids = [(f"{path}.branches[{i}].step", c) for i, c in enumerate(node.branches)]
    elif isinstance(node, (Parallel, Race, Fallback)):
        kids = [(f"{path}.branches[{i}]", c) for i, c in enumerate(node.branches)]
    else:
        kids = [(f"{path}.step", c) for c in node.children]
    for p, c in kids:
        yield from paths(c, p)


def refs(node: Node) -> frozenset:
    return frozenset(node.refs())


def check_roundtrip(journey, tmp_path: Path, n: int, seed: int) -> dict:
    """Simulate, discover, and compare; returns the discovered model for further checks."""
    trace_file = tmp_path / f"{journey.name}.otlp.json"
    summary = write_otlp_traces(journey, trace_file, n, seed, "independent")
    assert summary["requests"] == n
    res = discover([trace_file], out=tmp_path / "out", confidence=CONF)
    (dj,) = res.journeys
    got = dj.journey
    expected = prune(journey.root, summary["operators"])
    assert canon(got.root) == canon(expected), f"\nexpected {expected}\n     got {got.root}"
    fields = {p: e for p, e in dj.fields.items()}
    got_paths = list(paths(got.root))
    checked = 0
    for _, node in paths(expected, "x"):
        if isinstance(node, Choice):
            match = [(p, n) for p, n in got_paths if isinstance(n, Choice) and {refs(b) for b in n.branches} == {refs(b) for b in node.branches}]
            assert match, f"no discovered choice for {node}"
            p, gn = match[0]
            ivs = fields[p].values["intervals"]
            for b, w in zip(node.branches, node.probabilities):
                i = [refs(x) for x in gn.branches].index(refs(b))
                assert ivs[i][0] <= w <= ivs[i][1], f"weight {w} of {b} outside {ivs[i]}"
                checked += 1
        elif isinstance(node, Optional):
            match = [(p, n) for p, n in got_paths if isinstance(n, Optional) and refs(n.step) == refs(node.step)]
            assert match, f"no discovered optional for {node}"
            lo, hi = fields[match[0][0]].values["interval"]
            assert lo <= node.probability <= hi, f"probability {node.probability} of {node.step} outside [{lo}, {hi}]"
            checked += 1
        elif isinstance(node, Race) and node.hedge_delay > 0:
            match = [n for _, n in got_paths if isinstance(n, Race) and refs(n) == refs(node)]
            assert match and math.isclose(match[0].hedge_delay, node.hedge_delay, rel_tol=1e-6)
        elif isinstance(node, Timeout):
            match = [n for _, n in got_paths if isinstance(n, Timeout) and refs(n) == refs(node)]
            assert match and math.isclose(match[0].deadline, node.deadline, rel_tol=1e-6)
        elif isinstance(node, Retry):
            match = [n for _, n in got_paths if isinstance(n, Retry) and refs(n) == refs(node)]
            assert match
            assert match[0].attempts <= node.attempts
            if node.backoff.initial and match[0].backoff.initial:
                assert math.isclose(match[0].backoff.initial, node.backoff.delay(1), rel_tol=1e-6)
    exhausted = {p: s.get("exhausted", 0) for p, s in summary["operators"].items()}
    for p, node in ((p, n) for p, n in paths(journey.root, "root") if isinstance(n, Retry)):
        if exhausted.get(p):
            match = [n for _, n in got_paths if isinstance(n, Retry) and refs(n) == refs(node)]
            assert match[0].attempts == node.attempts
    for c in journey.components:
        if c.id not in got.component_ids:
            continue
        prov = dict(got.component(c.id).extra)["provenance"]
        lo, hi = prov["availability"]["interval"]
        assert lo <= c.availability <= hi, f"{c.id}: availability {c.availability} outside [{lo}, {hi}] ({prov['calls']} calls)"
        checked += 1
    assert checked >= 1
    # what was written loads as a spec
    again = load_spec(res.files[dj.name])
    assert again.expression == got.expression and again.kind == "DiscoveredJourneyModel"
    return {"summary": summary, "model": dj, "result": res}


# --------------------------------------------------------------------------- default tier


def test_checkout_roundtrip(tmp_path):
    j = load_spec(ROOT / "configs" / "checkout.yaml")
    out = check_roundtrip(j, tmp_path, 3000, 20240601)
    dj = out["model"]
    assert dj.journey.expression == "Series(front, Parallel(cart, pricing), Race(paya, payb; hedge=200ms))"
    assert not dj.flags
    # domains come back from the resource attributes the writer set
    doms = {d.name: set(d.members) for d in dj.journey.domains}
    assert doms == {"k8s/zone": {"front", "cart", "pricing"}, "k8s/cluster": {"front", "cart", "pricing"}, "payment-network": {"paya", "payb"}}


OPS = """
apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {name: ops}
spec:
  operator:
    type: series
    steps:
      - ref: entry
      - type: choice
        branches:
          - {weight: 6, ref: blue}
          - {weight: 3, ref: green}
          - {weight: 1, step: {type: series, steps: [{ref: canary}, {ref: canary-check}]}}
      - type: optional
        probability: 0.4
        step: {ref: promo}
      - type: fallback
        branches: [{ref: primary}, {ref: secondary}]
      - type: retry
        attempts: 3
        backoff: {initial: 5ms, multiplier: 2}
        step: {ref: flaky}
      - type: timeout
        deadline: 60ms
        step: {ref: slow}
      - type: parallel
        join: quorum
        k: 2
        branches: [{ref: r1}, {ref: r2}, {ref: r3}]
      - type: repeat
        count: 4
        step: {ref: item}
  components:
    entry: {availability: 0.9999, latency: {dist: lognormal, p50: 2ms, p99: 8ms}}
    blue: {availability: 0.999, latency: {dist: gamma, mean: 10ms, cv: 0.5}}
    green: {availability: 0.999, latency: {dist: gamma, mean: 12ms, cv: 0.5}}
    canary: {availability: 0.99, latency: {dist: exponential, mean: 8ms}}
    canary-check: {availability: 0.999, latency: {dist: constant, value: 1ms}}
    promo: {availability: 0.995, latency: {dist: weibull, shape: 2, scale: 6ms}}
    primary: {availability: 0.9, latency: {dist: lognormal, p50: 5ms, p99: 20ms}, errorLatency: fast}
    secondary: {availability: 0.999, latency: {dist: lognormal, p50: 3ms, p99: 9ms}}
    flaky: {availability: 0.8, latency: {dist: exponential, mean: 4ms}, errorLatency: {dist: exponential, mean: 1ms}}
    slow: {availability: 0.999, latency: {dist: lognormal, p50: 30ms, p99: 150ms}}
    r1: {availability: 0.99, latency: {dist: exponential, mean: 10ms}}
    r2: {availability: 0.99, latency: {dist: exponential, mean: 12ms}}
    r3: {availability: 0.99, latency: {dist: exponential, mean: 14ms}}
    item: {availability: 0.999, latency: {dist: lognormal, p50: 1ms, p99: 4ms}}
"""


def test_every_operator_roundtrips(tmp_path):
    j = load_spec_text(OPS)
    out = check_roundtrip(j, tmp_path, 2000, 7)
    ops = out["summary"]["operators"]
    # the sample exercised every operator (else the test would prove less than it claims)
    assert ops["root.steps[3]"]["alternativeTaken"] > 0 and ops["root.steps[4]"]["exhausted"] > 0
    assert ops["root.steps[5]"]["fired"] > 0 and ops["root.steps[6]"]["cancelled"] > 0
    got = out["model"].journey
    retry = next(n for n in got.root.walk() if isinstance(n, Retry))
    assert retry.attempts == 3 and math.isclose(retry.backoff.initial, 0.005, rel_tol=1e-6)
    assert math.isclose(retry.backoff.multiplier, 2.0, rel_tol=1e-3)


def test_simulate_cli_writes_traces_discovery_reads(tmp_path):
    from typer.testing import CliRunner

    from emac_sim.cli import app

    traces = tmp_path / "t.json.gz"
    args = ["simulate", str(ROOT / "configs" / "checkout.yaml"), "--samples", "300", "--seed", "3", "--traces", str(traces), "--format", "json"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    res = discover([traces], out=tmp_path / "d")
    (dj,) = res.journeys
    assert dj.traces == 300 and set(dj.journey.component_ids) <= {"front", "cart", "pricing", "paya", "payb"}


def test_writer_is_deterministic_and_counts_issued_calls(tmp_path):
    j = load_spec(ROOT / "configs" / "checkout.yaml")
    a = write_otlp_traces(j, tmp_path / "a.json", 200, 5)
    b = write_otlp_traces(j, tmp_path / "b.json", 200, 5)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert a["spans"] == b["spans"] and a["seed"] == 5
    c = write_otlp_traces(j, tmp_path / "c.json", 200, 6)
    assert (tmp_path / "c.json").read_bytes() != (tmp_path / "a.json").read_bytes()
    assert c["availability"] <= 1.0


# --------------------------------------------------------------------------- slow tier: every config at 20k


def _config_journey(path: Path):
    j = load_spec(path)
    if not j.latency_modelled:
        # latency from capacity (queues at the spec's load rate): the model the studies use
        from emac_sim.studies.capacity import derive_capacity

        j = derive_capacity(j).journey
    return j


@pytest.mark.slow
@pytest.mark.parametrize("config", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_roundtrip_20k(config, tmp_path):
    j = _config_journey(config)
    if not j.latency_modelled:
        pytest.skip(f"{config.name}: latency not modelled, traces would carry no timing")
    check_roundtrip(j, tmp_path, 20_000, 1234)


# --------------------------------------------------------------------------- property: never a crash


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journeys(max_depth=2))
def test_discovery_of_random_journeys_gives_a_loadable_model(j):
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        summary = write_otlp_traces(j, Path(d) / "t.json", 150, 1)
        res = discover([Path(d) / "t.json"], out=Path(d) / "out")
        (dj,) = res.journeys
        assert dj.traces == 150
        assert summary["requests"] == 150
        # every component found is one the journey calls, or its entry service (its own failures)
        extra = set(dj.journey.component_ids) - set(j.root.refs())
        assert len(extra) <= 1
        assert all(dict(dj.journey.component(c).extra)["description"].startswith("discovered: the journey's entry service") for c in extra)
        again = load_spec(res.files[dj.name])
        assert again.expression == dj.journey.expression
