"""Benchmark: ``bounds()`` for a generated 200-leaf journey (target: under 2 s).

``run(quick)`` returns a JSON-ready dict (the benchmark runner calls it); as a script it prints
that dict. The journey is generated deterministically (seed 0): a random operator tree over 200
distinct components (series, fork-join all / any / quorum, hedged races, fallbacks, choices,
with retries and timeouts around calls or groups of at most four, optional steps and repeats
around any subtree), availabilities
from typical SLO targets, lognormal / gamma / exponential latencies, three zones partitioning
the components, one cluster holding all of them, a few small gaussian "shared dependency"
domains and one shock domain.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from emac_sim.model.distributions import Exponential, Gamma, LogNormal
from emac_sim.model.journey import Component, Domain, Journey, Node, Ref
from emac_sim.operators import Backoff, Choice, Fallback, Optional, Parallel, Race, Repeat, Retry, Series, Timeout

TARGETS = (0.99, 0.995, 0.999, 0.9995, 0.9999)


def generate_journey(leaves: int = 200, seed: int = 0) -> Journey:
    """A random but realistic journey with exactly ``leaves`` leaf calls (one per component)."""
    rng = np.random.default_rng(seed)
    counter = iter(range(leaves))

    def leaf() -> Node:
        return Ref(f"svc{next(counter):03d}")

    def wrap(node: Node, n: int) -> Node:
        u = rng.random()
        if n > 4 and u < 0.12:  # retries and timeouts sit on calls or small groups, as in meshes
            u = 0.12 + 0.06 * rng.random()
        if u < 0.08:
            return Retry(node, attempts=int(rng.integers(2, 4)), per_try_timeout=float(rng.choice([0.25, 0.5, 1.0])), backoff=Backoff(0.01, 2.0))
        if u < 0.12:
            return Timeout(node, deadline=float(rng.choice([0.5, 1.0, 2.0])))
        if u < 0.16:
            return Optional(node, probability=float(rng.uniform(0.2, 0.9)))
        if u < 0.18:
            return Repeat(node, count=int(rng.integers(2, 4)))
        return node

    def build(n: int, depth: int) -> Node:
        if n == 1:
            return wrap(leaf(), 1)
        k = int(rng.integers(2, min(n, 6) + 1))
        cuts = np.sort(rng.choice(np.arange(1, n), size=k - 1, replace=False))
        sizes = np.diff(np.concatenate([[0], cuts, [n]]))
        kids = tuple(build(int(s), depth + 1) for s in sizes)
        u = rng.random()
        if u < 0.45 or depth == 0:
            node: Node = Series(kids)
        elif u < 0.6:
            node = Parallel(kids, join="all")
        elif u < 0.67:
            node = Parallel(kids, join="any")
        elif u < 0.72 and k >= 3:
            node = Parallel(kids, join="quorum", k=int(rng.integers(2, k)))
        elif u < 0.8:
            node = Race(kids, hedge_delay=float(rng.choice([0.0, 0.05, 0.1])))
        elif u < 0.9:
            node = Fallback(kids)
        else:
            node = Choice(kids, weights=tuple(float(w) for w in rng.uniform(0.1, 1.0, size=k)))
        return wrap(node, n) if depth > 0 else node

    root = build(leaves, 0)
    ids = [f"svc{i:03d}" for i in range(leaves)]
    zones = rng.integers(0, 3, size=leaves)
    deps = [tuple(sorted(rng.choice(ids, size=int(rng.integers(2, 5)), replace=False))) for _ in range(4)]
    shock_members = tuple(sorted(rng.choice(ids, size=3, replace=False)))
    comps = []
    for i, cid in enumerate(ids):
        u = rng.random()
        if u < 0.6:
            p50 = float(rng.uniform(0.005, 0.05))
            lat = LogNormal.from_quantiles(p50, p50 * float(rng.uniform(2.0, 5.0)))
        elif u < 0.85:
            lat = Gamma.from_mean_cv(float(rng.uniform(0.005, 0.05)), float(rng.uniform(0.3, 1.2)))
        else:
            lat = Exponential(float(rng.uniform(0.005, 0.04)))
        doms = [f"zone-{zones[i]}", "cluster"] + [f"dep-{d}" for d, m in enumerate(deps) if cid in m]
        if cid in shock_members:
            doms.append("db-outage")
        comps.append(
            Component(
                id=cid,
                availability=float(rng.choice(TARGETS)),
                latency=lat,
                error_latency="fast" if rng.random() < 0.3 else "same",
                domains=tuple(doms),
            )
        )
    domains = [Domain(f"zone-{z}", tuple(ids[i] for i in range(leaves) if zones[i] == z)) for z in range(3)]
    domains.append(Domain("cluster", tuple(ids)))
    domains += [Domain(f"dep-{d}", m, model="gaussian", rho=0.2) for d, m in enumerate(deps)]
    domains.append(Domain("db-outage", shock_members, model="shock", probability=5e-4))
    return Journey(name=f"generated-{leaves}", root=root, components=tuple(comps), domains=tuple(domains))


def run(quick: bool = False) -> dict:
    """Time ``bounds()`` on the generated journey: best of 3 runs (1 when ``quick``), after a
    warm-up on a 5-leaf journey that loads the compiled Makarov kernels (timed separately).
    Wall and CPU seconds are both reported: on a shared machine the wall time mostly measures
    the load (``loadAverage``)."""
    from emac_sim.analytic import bounds

    t0 = time.perf_counter()
    bounds(generate_journey(5, seed=1))
    warmup = time.perf_counter() - t0
    leaves = 200
    j = generate_journey(leaves, seed=0)
    reps = 1 if quick else 3
    times = []
    cpu = []
    result = None
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        result = bounds(j)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    assert result is not None
    out = result.to_dict()  # the benchmark record is JSON
    a = out["availability"]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "benchmark": "analytic.bounds",
        "leaves": leaves,
        "nodes": sum(1 for _ in j.root.walk()),
        "sharableDomains": sum(1 for d in j.domains if d.model in ("none", "gaussian")),
        "seconds": min(times),
        "allSeconds": times,
        "cpuSeconds": min(cpu),
        "warmupSeconds": warmup,
        "loadAverage": load,
        "runs": reps,
        "targetSeconds": 2.0,
        "withinTarget": min(times) < 2.0,
        "independent": a["independent"],
        "pessimistic": a["pessimistic"],
        "sharedFateRange": a["sharedFateRange"],
        "dependenceFree": a["dependenceFree"],
        "declared": a["declared"],
        "scenarioCount": a["scenarioCount"],
        "p99": out["latency"]["p99"] if out["latency"] else None,
    }


if __name__ == "__main__":
    out = run(quick="--quick" in sys.argv)
    print(json.dumps(out, indent=2))
