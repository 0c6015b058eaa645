"""The spec loader: accepted forms, defaults filled in one place, and the remaining refusals."""

from __future__ import annotations

import hashlib
import math
import shutil
import textwrap
from pathlib import Path

import pytest

from emac_sim import SpecError, load_spec
from emac_sim.errors import SpecWarning
from emac_sim.model import distributions as D
from emac_sim.model.journey import CorrelationMatrix, Ref
from emac_sim.operators import Backoff, Choice, Parallel, Race, Retry, Series
from emac_sim.spec import load_spec_text

HEAD = "apiVersion: emac.dev/v1alpha1\nkind: JourneyIntent\nmetadata: {name: t}\n"


def spec(body: str, head: str = HEAD) -> str:
    return head + textwrap.dedent(body)


def load(body: str, **kw):
    return load_spec_text(spec(body), source="t.yaml", **kw)


def error(body: str) -> str:
    with pytest.raises(SpecError) as err:
        load(body)
    return err.value.line()


COMPS = "  components: {a: {availability: 0.9}, b: {availability: 0.8}, c: {availability: 0.7}}\n"


def test_defaults():
    j = load("spec:\n  operator: {type: parallel, branches: [{ref: a}, {ref: b}]}\n" + COMPS)
    assert j.root == Parallel(branches=(Ref("a"), Ref("b")), join="all")
    assert j.component("a").error_latency == "same" and j.component("a").kind == "service"
    assert j.component("a").latency is None and not j.latency_modelled
    assert j.domains == () and j.correlation is None
    assert j.availability_objective is None and j.latency_objective is None
    assert j.governance.evaluation_mode == "conservative"
    j = load("spec:\n  operator: {type: race, branches: [{ref: a}, {ref: b}]}\n" + COMPS)
    assert j.root == Race(branches=(Ref("a"), Ref("b")), hedge_delay=0.0)


def test_ref_forms_and_choice_branch_forms():
    j = load(
        """\
        spec:
          operator:
            type: series
            steps:
              - {type: ref, component: a}
              - type: choice
                branches:
                  - {weight: 3, ref: b}
                  - weight: 1
                    step: {type: series, steps: [{ref: c}]}
        """
        + COMPS
    )
    assert j.root == Series(steps=(Ref("a"), Choice(branches=(Ref("b"), Series(steps=(Ref("c"),))), weights=(3.0, 1.0))))


def test_retry_backoff_forms():
    j = load("spec:\n  operator: {type: retry, attempts: 3, backoff: 50ms, step: {ref: a}}\n" + COMPS)
    assert j.root == Retry(step=Ref("a"), attempts=3, backoff=Backoff(initial=0.05))
    j = load(
        "spec:\n  operator: {type: retry, attempts: 2, perTryTimeout: 1s, backoff: {initial: 10ms, multiplier: 2, max: 30ms}, step: {ref: a}}\n"
        + COMPS
    )
    assert j.root == Retry(step=Ref("a"), attempts=2, per_try_timeout=1.0, backoff=Backoff(0.01, 2.0, 0.03))


def test_latency_forms():
    # the constant's bare 0.5 sits beside latencies written with units: read as seconds, with a warning
    with pytest.warns(SpecWarning, match=r"bare number 0\.5 is read as 0\.5 seconds"):
        j = load(
            """\
            spec:
              operator: {type: series, steps: [{ref: a}, {ref: b}, {ref: c}]}
              components:
                a:
                  availability: 0.9
                  latency: {dist: lognormal, p50: 20ms, p99: 100ms}
                  errorLatency: fast
                b:
                  availability: 0.9
                  latency: {dist: empirical, quantiles: {0.99: 120ms, 0.5: 20ms, 0.9: 45ms}}
                  errorLatency: {dist: constant, value: 1ms}
                c:
                  availability: 0.9
                  latency:
                    dist: mixture
                    components:
                      - {weight: 3, dist: {dist: exponential, mean: 10ms}}
                      - {weight: 1, dist: constant}
            """.replace("dist: constant}", "dist: {dist: constant, value: 0.5}}")
        )
    assert j.latency_modelled
    assert j.component("a").latency == D.LogNormal.from_quantiles(0.02, 0.1)
    assert j.component("a").error_latency == "fast"
    assert j.component("b").latency == D.Empirical(quantiles=((0.5, 0.02), (0.9, 0.045), (0.99, 0.12)))  # sorted
    assert j.component("b").error_latency == D.Constant(0.001)
    mix = j.component("c").latency
    assert isinstance(mix, D.Mixture) and [w for w, _ in mix.components] == [0.75, 0.25]  # normalised


def test_histogram_inf_spellings():
    for inf in ('"+Inf"', "+inf", "Inf", ".inf"):
        j = load(
            f"spec:\n  operator: {{ref: a}}\n  components: {{a: {{availability: 0.9,"
            f" latency: {{dist: histogram, buckets: [[0.1, 5], [{inf}, 10]]}}}}}}\n"
        )
        assert j.component("a").latency == D.Histogram(buckets=((0.1, 5.0), (math.inf, 10.0)))


def test_domains_rules_members_and_implicit():
    j = load(
        """\
        spec:
          operator: {type: series, steps: [{ref: a}, {ref: b}, {ref: c}]}
          components:
            a: {availability: 0.99, failureDomains: [zone, rack]}
            b: {availability: 0.99, failureDomains: [zone]}
            c: {availability: 0.98}
          failureDomains:
            rules:
              - {name: zone, correlation: {rho: 0.3, latencyRho: 0.1}}
              - {name: power, members: [c, a], correlation: {model: shock, beta: 0.5}}
        """
    )
    zone, power, rack = j.domains
    assert (zone.name, zone.model, zone.rho, zone.latency_rho, zone.members) == ("zone", "gaussian", 0.3, 0.1, ("a", "b"))
    assert (power.model, power.beta, power.members) == ("shock", 0.5, ("c", "a"))
    assert power.shock_probability(j.availabilities) == pytest.approx(0.5 * 0.01)
    assert (rack.kind, rack.model, rack.members) == ("implicit", "none", ("a",))


def test_explicit_correlation_matrix():
    j = load(
        "spec:\n  operator: {type: series, steps: [{ref: a}, {ref: b}]}\n"
        + COMPS
        + "  correlation: {components: [a, b], matrix: [[1, 0.5], [0.5, 1]], latencyMatrix: [[1, 0], [0, 1]]}\n"
    )
    assert j.correlation == CorrelationMatrix(("a", "b"), ((1.0, 0.5), (0.5, 1.0)), ((1.0, 0.0), (0.0, 1.0)))


def test_objectives_and_governance():
    j = load(
        """\
        spec:
          objectives:
            availability: {target: 0.995}
            latency: {window: 7d, objective: {metric: p999, threshold: 1.2s}}
          operator: {ref: a}
          components: {a: {availability: 0.999}}
          governance:
            alerts:
              burnRatePolicy:
                page: [{burnRate: 14.4, longWindow: 1h, shortWindow: 5m}]
        """
    )
    assert j.availability_objective.target == 0.995 and j.availability_objective.window == 30 * 86400
    lo = j.latency_objective
    assert (lo.metric, lo.threshold, lo.window, lo.quantile) == ("p999", 1.2, 7 * 86400, 0.999)
    assert [(w.severity, w.burn_rate, w.long_window, w.short_window) for w in j.governance.burn_rates] == [("page", 14.4, 3600, 300)]


def test_discovered_model_kind():
    j = load_spec_text(
        "apiVersion: emac.dev/v1alpha1\nkind: DiscoveredJourneyModel\nmetadata: {name: d}\n"
        "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9}}\n  confidence: {overall: 0.7}\n  evidenceFlags: [sparse]\n"
    )
    assert (j.kind, j.confidence, j.evidence_flags) == ("DiscoveredJourneyModel", 0.7, ("sparse",))


def test_inputs_and_source(write_spec, tmp_path):
    text = spec("spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9}}\n")
    p = write_spec(text)
    j = load_spec(p)
    assert j.source == str(p)
    assert j.inputs == ((str(p), hashlib.sha256(text.encode()).hexdigest()),)
    j2 = load_spec_text(text, source="mem")
    assert j2.inputs == (("mem", hashlib.sha256(text.encode()).hexdigest()),) and j2 == j


def test_paper_spec_inputs_include_the_openslo_files(paper_spec):
    j = load_spec(paper_spec)
    files = [f for f, _ in j.inputs[1:]]
    assert [f.rsplit("/", 1)[-1] for f in files] == [f"slo.{c}.availability.yaml" for c in ("front", "cart", "pricing", "paya", "payb")]
    assert all(len(h) == 64 for _, h in j.inputs)


@pytest.mark.parametrize(
    "body, line",
    [
        ("spec:\n  operator: {ref: a}\n  components: {}\n", "t.yaml: spec.components: no components defined"),
        ("spec:\n  operator: {ref: a}\n", "t.yaml: spec: missing required key 'components'"),
        ("spec:\n  operator: {ref: a}\n  components: {a: {}}\n", "t.yaml: spec.components.a: component needs availability or atomicSLORef"),
        (
            "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9, atomicSLORef: 'openslo:x'}}\n",
            "t.yaml: spec.components.a: give availability or atomicSLORef, not both",
        ),
        (
            "spec:\n  operator: {type: parallel, join: all, k: 1, branches: [{ref: a}]}\n" + COMPS,
            "t.yaml: spec.operator.k: 'k' only applies to join: quorum (join is 'all')",
        ),
        (
            "spec:\n  operator: {type: parallel, join: some, branches: [{ref: a}]}\n" + COMPS,
            "t.yaml: spec.operator.join: join must be all, any or quorum, got 'some'",
        ),
        ("spec:\n  operator: {type: parallel, join: quorum, branches: [{ref: a}]}\n" + COMPS, "t.yaml: spec.operator: quorum join needs 'k'"),
        ("spec:\n  operator: {type: retry, step: {ref: a}}\n" + COMPS, "t.yaml: spec.operator: retry needs 'attempts'"),
        ("spec:\n  operator: {type: retry, attempts: 0, step: {ref: a}}\n" + COMPS, "t.yaml: spec.operator.attempts: must be >= 1, got 0"),
        (
            "spec:\n  operator: {type: retry, attempts: 2.5, step: {ref: a}}\n" + COMPS,
            "t.yaml: spec.operator.attempts: must be a whole number, got 2.5",
        ),
        (
            "spec:\n  operator: {type: timeout, deadline: 0s, step: {ref: a}}\n" + COMPS,
            "t.yaml: spec.operator.deadline: must be a positive duration, got '0s'",
        ),
        (
            "spec:\n  operator: {type: optional, probability: 1.5, step: {ref: a}}\n" + COMPS,
            "t.yaml: spec.operator.probability: must be a probability in [0, 1], got 1.5",
        ),
        ("spec:\n  operator: {type: choice, branches: [{ref: a}]}\n" + COMPS, "t.yaml: spec.operator.branches[0]: choice branch needs 'weight'"),
        ("spec:\n  operator: {ref: [a]}\n" + COMPS, "t.yaml: spec.operator.ref: ref to undefined component ['a']"),
        (
            "spec:\n  operator: {type: [series]}\n" + COMPS,
            "t.yaml: spec.operator.type: expected an operator name (one of series, parallel,"
            " race, fallback, retry, timeout, choice, optional, repeat, cache), got a list",
        ),
        (
            "spec:\n  operator: {name: x}\n" + COMPS,
            "t.yaml: spec.operator: operator needs 'type' (one of series, parallel,"
            " race, fallback, retry, timeout, choice, optional, repeat, cache) or 'ref'",
        ),
        (
            "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9, latency: {dist: lognormal, p50: 1ms, mu: 1}}}\n",
            "t.yaml: spec.components.a.latency: lognormal: give p50 + p99 or mu + sigma, not both",
        ),
        (
            "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9, latency: {dist: gama}}}\n",
            "t.yaml: spec.components.a.latency.dist: unknown distribution 'gama' (did you mean 'gamma'?)",
        ),
        (
            "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9, latency: {p50: 1ms}}}\n",
            "t.yaml: spec.components.a.latency: missing required key 'dist' (one of lognormal,"
            " gamma, weibull, exponential, pareto, constant, empirical, histogram, mixture)",
        ),
        (
            "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9, latency: {dist: empirical, quantiles: {0.5: 30ms, 0.9: 20ms}}}}\n",
            "t.yaml: spec.components.a.latency.quantiles: quantiles must not decrease: q0.9 = 0.02s is below q0.5 = 0.03s",
        ),
        (
            "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9, latency: {dist: histogram, buckets: [[0.1, 5], [0.2, 10]]}}}\n",
            "t.yaml: spec.components.a.latency.buckets: the last bucket must be +Inf",
        ),
        (
            "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9, latency:"
            " {dist: histogram, buckets: [[0.1, 5], [0.2, 3], [+Inf, 10]]}}}\n",
            "t.yaml: spec.components.a.latency.buckets[1]: cumulative counts must not decrease",
        ),
        (
            "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9, latency: {dist:"
            " mixture, components: [{weight: 0, dist: {dist: constant, value: 1}}]}}}\n",
            "t.yaml: spec.components.a.latency.components: mixture weights are all zero",
        ),
        (
            "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9, failureDomains: [z, z]}}\n",
            "t.yaml: spec.components.a.failureDomains: lists a domain twice",
        ),
        (
            "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9, failureDomains: [{z: 1}]}}\n",
            "t.yaml: spec.components.a.failureDomains[0]: expected a non-empty string, got a mapping",
        ),
        (
            "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9}}\n  failureDomains:"
            " {rules: [{name: z, correlation: {model: shock, beta: 0.1, probability: 0.1}}]}\n",
            "t.yaml: spec.failureDomains.rules[0].correlation: shock correlation needs exactly one of probability or beta",
        ),
        (
            "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9}}\n"
            "  failureDomains: {rules: [{name: z, correlation: {model: copula}}]}\n",
            "t.yaml: spec.failureDomains.rules[0].correlation.model: correlation model must be gaussian or shock, got 'copula'",
        ),
        (
            "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9}}\n  failureDomains: {rules: [{name: z}, {name: z}]}\n",
            "t.yaml: spec.failureDomains.rules[1].name: domain 'z' defined twice",
        ),
        (
            "spec:\n  operator: {ref: a}\n  components: {a: {availability: 0.9}}\n  failureDomains: {rules: [{name: z, members: [q]}]}\n",
            "t.yaml: spec.failureDomains.rules[0].members: member 'q' is not a defined component",
        ),
        (
            "spec:\n  operator: {type: series, steps: [{ref: a}, {ref: b}]}\n"
            "  components: {a: {availability: 0.9, failureDomains: [z]}, b: {availability: 0.9}}\n"
            "  failureDomains: {rules: [{name: z, correlation: {rho: 0.2}}]}\n"
            "  correlation: {components: [a, b], matrix: [[1, 0], [0, 1]]}\n",
            "t.yaml: spec.correlation.components: 'a' is also in a gaussian failure domain; use one form of correlation",
        ),
        (
            "spec:\n  operator: {ref: a}\n" + COMPS + "  correlation: {components: [a, b], matrix: [[1, 0], [0, 1], [0, 0]]}\n",
            "t.yaml: spec.correlation.matrix: expected 2 rows (one per component), got 3",
        ),
        (
            "spec:\n  operator: {ref: a}\n" + COMPS + "  correlation: {components: [a, x], matrix: [[1, 0], [0, 1]]}\n",
            "t.yaml: spec.correlation.components[1]: 'x' is not a defined component",
        ),
        (
            "spec:\n  objectives: {availability: {target: 1}}\n  operator: {ref: a}\n" + COMPS,
            "t.yaml: spec.objectives.availability.target: target must be below 1 (a target of 1 leaves no error budget)",
        ),
        (
            "spec:\n  objectives: {latency: {objective: {metric: max, threshold: 1s}}}\n  operator: {ref: a}\n" + COMPS,
            "t.yaml: spec.objectives.latency.objective.metric: metric must look like p50, p99 or p999, got 'max'",
        ),
        (
            "spec:\n  operator: {ref: a}\n" + COMPS + "  governance: {actions: [{kind: promote, rateLimit: {window: [10m]}}]}\n",
            "t.yaml: spec.governance.actions[0].rateLimit.window: expected a string, number or boolean, got a list",
        ),
        (
            "spec:\n  operator: {ref: a}\n" + COMPS + "  evidence: {modelDiscovery: {discoveredModelRef: {path: x}}}\n",
            "t.yaml: spec.evidence.modelDiscovery.discoveredModelRef: expected a non-empty string, got a mapping",
        ),
        ("spec: [1]\n", "t.yaml: spec: expected a mapping, got a list"),
        ("metadata: {}\nspec: {}\n", "t.yaml: metadata: missing required key 'name'"),
    ],
)
def test_refusals(body, line):
    text = body if body.startswith("metadata") else None
    if text is not None:
        with pytest.raises(SpecError) as err:
            load_spec_text("apiVersion: emac.dev/v1alpha1\nkind: JourneyIntent\n" + text, source="t.yaml")
        assert err.value.line() == line
        return
    assert error(body) == line


def test_error_fields():
    with pytest.raises(SpecError) as err:
        load("spec:\n  operator: {ref: zz}\n" + COMPS)
    e = err.value
    assert (e.file, e.path) == ("t.yaml", "spec.operator.ref")
    assert e.message == "ref to undefined component 'zz'"
    assert str(e) == e.line()


def test_shock_domains_that_together_exceed_a_components_unavailability_are_refused(write_spec, cli) -> None:
    # each domain alone fits (0.006 <= 0.01) but together they fail 'a' with probability 0.011964
    path = write_spec(
        """
apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {name: j}
spec:
  operator: {type: series, steps: [{ref: a}, {ref: b}]}
  components:
    a: {availability: 0.99, failureDomains: [s1, s2]}
    b: {availability: 0.99, failureDomains: [s1]}
  failureDomains:
    rules:
      - {name: s1, correlation: {model: shock, probability: 0.006}}
      - {name: s2, correlation: {model: shock, probability: 0.006}}
"""
    )
    r = cli("check", str(path))
    assert r.exit_code == 2
    assert r.stderr.strip().endswith(
        "spec.components.a.failureDomains: shock domains s1, s2 together fail it with probability 0.011964, "
        "more than its unavailability 0.01: its availability cannot be kept"
    )


def test_slo_sources_keep_the_path_as_the_user_spelt_it_through_a_symlink(tmp_path, monkeypatch):
    paper = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "paper-checkout"
    if not paper.is_dir():
        pytest.skip(f"reference inputs not found at {paper}")
    shutil.copytree(paper, tmp_path / "real")
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    j = load_spec("link/spec/emac.checkout.yaml")
    assert j.component("front").availability_source == (
        "openslo:slo.front.availability (link/atomic/openslo/slo.front.availability.yaml)"
    )
    assert [f for f, _ in j.inputs][0] == "link/spec/emac.checkout.yaml"
