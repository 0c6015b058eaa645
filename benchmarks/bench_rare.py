"""Rare failures (issue 18): CPU seconds to ±10 % relative half-width, plain vs importance sampling.

``python -m benchmarks.bench_rare [--quick]`` prints the JSON of :func:`run`; ``benchmarks.run``
collects it as the ``rare`` section.

For each target unavailability U in :data:`TARGETS` the journey is the seven-nines ledger's
shape (a gateway, a parallel-any pair of stores, a hedged race of two quorum members in a
gaussian domain with rho 0.3; lognormal latencies) with availabilities chosen so that its exact
unavailability (analytic layer, quadrature over the domain factor) is U: stores and quorum
members at a common availability whose pair failures make up about half of U, the gateway
the rest. Both methods run the same warm kernels on one thread, and are timed in CPU seconds
(``time.process_time``) until the 95 % interval's half-width is at most 10 % of the estimate
(``target_rel=0.1``, checked at block boundaries):

* importance sampling: the whole ``simulate(method="importance", target_rel=0.1)`` call,
  cross-entropy pilot included;
* plain Monte Carlo: run to the target when its predicted cost fits :data:`PLAIN_DIRECT_SECONDS`
  (``measured``); otherwise *extrapolated*: the CPU seconds per sample of a shorter plain run
  times the samples the binomial variance needs, n = z² (1 − U) / (0.1² U), with U the
  unavailability that run measured when it saw at least 100 failures, else the exact one.

The latency-tail row (:func:`measure_tail`) does the same for P(T > t) = :data:`TAIL_TARGET` on
two exponential calls in series (means 10 ms and 20 ms, P(T > t) = 2e^(−50t) − e^(−100t)):
``simulate_tail(exceed=t, target_rel=0.1)`` (pilot included) against plain Monte Carlo, always
*extrapolated* from a probe's CPU per sample and the binomial variance at the exact P.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scipy import optimize, special, stats

from . import LoadMeter

TARGETS = (1e-5, 1e-6, 1e-7)
REL = 0.1
CONFIDENCE = 0.95
PLAIN_DIRECT_SECONDS = 40.0
PLAIN_PROBE_SAMPLES = 4_000_000
RHO = 0.3
TAIL_TARGET = 1e-6
TAIL_SPEC = """apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {name: tail-series}
spec:
  objectives: {availability: {window: 30d, target: 0.9}}
  operator:
    type: series
    steps: [{ref: a}, {ref: b}]
  components:
    a: {availability: 0.999, latency: {dist: exponential, mean: 10ms}}
    b: {availability: 0.999, latency: {dist: exponential, mean: 20ms}}
"""


def _pair_failure(p: float) -> float:
    """P(both members of a rho-0.3 gaussian pair fail), each failing with probability p."""
    z = special.ndtri(1.0 - p)
    return float(stats.multivariate_normal(mean=[0.0, 0.0], cov=[[1.0, RHO], [RHO, 1.0]]).cdf([-z, -z]))


def spec_text(u: float) -> str:
    """The ledger-shaped journey whose exact unavailability is ``u``."""
    p = optimize.brentq(lambda x: x * x + _pair_failure(x) - u / 2, 1e-12, 0.5, xtol=1e-16, rtol=1e-14)
    rest = (1.0 - p * p) * (1.0 - _pair_failure(p))
    gateway = (1.0 - u) / rest
    a = 1.0 - p
    lat = "latency: {dist: lognormal, p50: 10ms, p99: 50ms}"
    return f"""apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {{name: rare-{u:.0e}}}
spec:
  objectives: {{availability: {{window: 30d, target: 0.9}}}}
  operator:
    type: series
    steps:
      - ref: gateway
      - type: parallel
        join: any
        branches: [{{ref: store-a}}, {{ref: store-b}}]
      - type: race
        semantics: hedged
        hedgeDelay: 40ms
        branches: [{{ref: quorum-east}}, {{ref: quorum-west}}]
  components:
    gateway: {{availability: {gateway!r}, {lat}}}
    store-a: {{availability: {a!r}, {lat}}}
    store-b: {{availability: {a!r}, {lat}}}
    quorum-east: {{availability: {a!r}, {lat}, failureDomains: [wan]}}
    quorum-west: {{availability: {a!r}, {lat}, failureDomains: [wan]}}
  failureDomains:
    rules:
      - name: wan
        correlation: {{model: gaussian, rho: {RHO}}}
"""


def _cpu(fn: Any) -> tuple[float, Any]:
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def measure(u: float, folder: Path, direct_seconds: float = PLAIN_DIRECT_SECONDS, probe: int = PLAIN_PROBE_SAMPLES) -> dict[str, Any]:
    """Both methods on the journey of unavailability ``u`` (see the module docstring)."""
    from emac_sim import load_spec
    from emac_sim.analytic.availability import declared_availability
    from emac_sim.engine import simulate

    path = folder / f"rare-{u:.0e}.yaml"
    path.write_text(spec_text(u), encoding="utf-8")
    j = load_spec(path)
    a, _ = declared_availability(j)
    assert a is not None
    exact = 1.0 - a
    z = float(special.ndtri(0.5 + CONFIDENCE / 2))
    # warm both kernels (compilation is not what is compared)
    simulate(j, samples=8192, seed=99, method="importance", workers=1)
    simulate(j, samples=65536, seed=99, details=False, workers=1)

    cpu_is, r = _cpu(lambda: simulate(j, samples=10**9, seed=1, method="importance", target_rel=REL, workers=1))
    d = r.to_dict()
    uis = d["availability"]["unavailability"]
    imp = {
        "cpuSeconds": cpu_is,
        "samples": d["samples"],
        "pilotSamples": d["importance"]["pilotSamples"],
        "estimate": uis["estimate"],
        "ci": uis["ci"],
        "relHalfWidth": (uis["ci"][1] - uis["ci"][0]) / 2 / uis["estimate"] if uis["estimate"] > 0 else None,
        "covers": uis["ci"][0] <= exact <= uis["ci"][1],
        "ess": d["availability"]["effectiveSampleSize"],
        "warnings": d["warnings"],
    }

    cpu_probe, pr = _cpu(lambda: simulate(j, samples=probe, seed=2, details=False, workers=1))
    per_sample = cpu_probe / probe
    fails = pr.counts.samples - pr.counts.ok
    u_var = fails / pr.samples if fails >= 100 else exact
    need = z * z * (1.0 - u_var) / (REL * REL * u_var)
    predicted = need * per_sample
    plain: dict[str, Any] = {
        "probeSamples": probe,
        "probeCpuSeconds": cpu_probe,
        "samplesPerCpuSecond": 1.0 / per_sample,
        "probeFailures": fails,
        "varianceFrom": "measured" if fails >= 100 else "exact U",
        "samplesNeeded": need,
        "predictedCpuSeconds": predicted,
    }
    if predicted <= direct_seconds:
        cap = int(4 * need) + 65536
        cpu_plain, rp = _cpu(lambda: simulate(j, samples=cap, seed=1, details=False, target_rel=REL, workers=1))
        lo, hi = rp.availability_ci()
        est = 1.0 - rp.availability
        plain.update(
            {
                "label": "measured",
                "cpuSeconds": cpu_plain,
                "samples": rp.samples,
                "estimate": est,
                "ci": [1.0 - hi, 1.0 - lo],
                "relHalfWidth": (hi - lo) / 2 / est if est > 0 else None,
            }
        )
    else:
        plain.update({"label": "extrapolated", "cpuSeconds": predicted})
    return {
        "target": u,
        "exact": exact,
        "expression": j.expression,
        "importance": imp,
        "plain": plain,
        "speedup": plain["cpuSeconds"] / cpu_is if cpu_is > 0 else None,
    }


def measure_tail(folder: Path, probe: int = 2_000_000) -> dict[str, Any]:
    """CPU seconds to ±10 % on P(T > t) = :data:`TAIL_TARGET`: tilted (measured) and plain
    (extrapolated; see the module docstring)."""
    import math

    from emac_sim import load_spec
    from emac_sim.engine import simulate
    from emac_sim.engine.tails import simulate_tail
    from emac_sim.model.scenario import Scenario

    path = folder / "tail-series.yaml"
    path.write_text(TAIL_SPEC, encoding="utf-8")
    j = load_spec(path)
    t = optimize.brentq(lambda x: 2.0 * math.exp(-50.0 * x) - math.exp(-100.0 * x) - TAIL_TARGET, 0.01, 2.0, xtol=1e-15)
    exact = 2.0 * math.exp(-50.0 * t) - math.exp(-100.0 * t)
    z = float(special.ndtri(0.5 + CONFIDENCE / 2))
    simulate_tail(j, Scenario.declared(), samples=8192, seed=99, exceed=t)  # warm
    simulate(j, samples=65536, seed=99, details=False, workers=1)
    cpu_t, r = _cpu(lambda: simulate_tail(j, Scenario.declared(), samples=10**8, seed=1, exceed=t, target_rel=REL))
    e = r.exceed[0]
    run_ = r.runs[0]
    cpu_probe, _ = _cpu(lambda: simulate(j, samples=probe, seed=2, details=False, workers=1))
    need = z * z * (1.0 - exact) / (REL * REL * exact)
    plain_cpu = need * cpu_probe / probe
    return {
        "target": TAIL_TARGET,
        "seconds": t,
        "exact": exact,
        "tilted": {
            "cpuSeconds": cpu_t,
            "samples": run_.merged.samples,
            "pilotSamples": run_.tuning.pilot_samples if run_.tuning else 0,
            "estimate": e.probability,
            "ci": list(e.ci),
            "covers": e.ci[0] <= exact <= e.ci[1],
            "ess": e.ess,
            "theta": run_.theta,
            "warnings": list(r.warnings),
        },
        "plain": {"label": "extrapolated", "cpuSeconds": plain_cpu, "samplesNeeded": need, "samplesPerCpuSecond": probe / cpu_probe},
        "speedup": plain_cpu / cpu_t if cpu_t > 0 else None,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """The ``rare`` section: one row per target unavailability, and the latency-tail row."""
    with tempfile.TemporaryDirectory(prefix="emac-bench-rare-") as tmp, LoadMeter() as meter:
        rows = [measure(u, Path(tmp), direct_seconds=10.0 if quick else PLAIN_DIRECT_SECONDS) for u in TARGETS]
        tail = measure_tail(Path(tmp))
    return {"rows": rows, "tail": tail, "rel": REL, "confidence": CONFIDENCE, "load": meter.result}


def section_lines(res: dict[str, Any]) -> list[str]:
    """Markdown lines of the section (used by ``benchmarks.report``)."""
    out = [
        "## 9. Rare failures: CPU seconds to ±10 % relative half-width (issue 18)",
        "",
        "Ledger-shaped journeys (gateway, parallel-any stores, hedged quorum race in a rho-0.3 gaussian domain) with exact "
        "unavailability U; one thread, warm kernels, 95 % intervals; importance sampling timed with its cross-entropy pilot. "
        "Plain Monte Carlo is run to the target where it fits, else *extrapolated* from its measured CPU per sample and the "
        "binomial variance (benchmarks/bench_rare.py).",
        "",
        "| U (exact) | importance: CPU s | samples (+ pilot) | estimate [95 % CI] | covers | plain: CPU s | plain samples | speed-up |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in res.get("rows", []):
        i, p = row["importance"], row["plain"]
        plain_n = p.get("samples", p["samplesNeeded"])
        out.append(
            f"| {row['exact']:.4g} | {i['cpuSeconds']:.3g} | {i['samples']:,} (+{i['pilotSamples']:,}) | "
            f"{i['estimate']:.4g} [{i['ci'][0]:.4g}, {i['ci'][1]:.4g}] | {'yes' if i['covers'] else 'no'} | "
            f"{p['cpuSeconds']:.3g} ({p['label']}) | {plain_n:.3g} | {row['speedup']:.3g}x |"
        )
    tail = res.get("tail")
    if tail:
        i, p = tail["tilted"], tail["plain"]
        out += [
            "",
            f"Latency tail: P(T > {tail['seconds']:.4g} s) = {tail['exact']:.3g} on two exponential calls in series (10 ms, 20 ms); "
            "exponential tilting (defensive mixture over which calls are tilted, pilot included) against plain Monte Carlo "
            "*extrapolated* from its CPU per sample and the binomial variance.",
            "",
            "| P (exact) | tilted: CPU s | samples (+ pilot) | estimate [95 % CI] | covers | plain: CPU s | plain samples | speed-up |",
            "|---|---|---|---|---|---|---|---|",
            f"| {tail['exact']:.4g} | {i['cpuSeconds']:.3g} | {i['samples']:,} (+{i['pilotSamples']:,}) | "
            f"{i['estimate']:.4g} [{i['ci'][0]:.4g}, {i['ci'][1]:.4g}] | {'yes' if i['covers'] else 'no'} | "
            f"{p['cpuSeconds']:.3g} ({p['label']}) | {p['samplesNeeded']:.3g} | {tail['speedup']:.3g}x |",
        ]
    out.append("")
    return out


if __name__ == "__main__":
    result = run("--quick" in sys.argv[1:])
    print(json.dumps(result, indent=1, default=str))
    print("\n".join(section_lines(result)), file=sys.stderr)
