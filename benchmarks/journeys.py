"""Journeys the benchmarks run: the shipped checkout, generated staged journeys and a 4-nines one.

Staged journeys (:func:`staged_journey`) are a series of stages cycling through three shapes
that service meshes produce, each leaf a distinct component:

* ``call``   — ``Retry(api, 3 attempts, perTry 250 ms, backoff 10 ms × 2ⁱ)``           (1 leaf)
* ``fanout`` — ``Parallel(all)`` of three ``Retry(shard, 2, perTry 200 ms, 5 ms)``     (3 leaves)
* ``hedge``  — ``Race(Retry(primary, 2, 300 ms, 10 ms), Retry(replica, …); hedge 50 ms)``
  (2 leaves)

so a group of the three stages has six leaves; ``staged_journey(30)`` (five full groups) is the
"30-leaf journey with retries and hedges" of issue 8, and ``staged_journey(L)`` for
``L = 10 … 1000`` the journeys of the leaves-scaling figure (cost per sample grows linearly in
``L``: every leaf is called at least once in almost every request). A remainder of fewer leaves
than the next stage needs is filled with ``call`` stages. Components are laid out group by
group in the order api, shard0, shard1, shard2, primary, replica. Zones ``zone-a|b|c`` are magnitude-free failure
domains (hypotheses: the ``declared`` scenario simulates them as independent); the primaries
share a shock domain ``db`` (a common-cause outage with probability 2·10⁻⁴ per request).

Everything is deterministic for a given ``seed``. :func:`by_name` names every journey here, so a
measurement in a fresh process (:mod:`benchmarks.children`) can rebuild it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emac_sim import load_spec
from emac_sim.model.distributions import Exponential, Gamma, LogNormal
from emac_sim.model.journey import Component, Domain, Journey, Node, Ref
from emac_sim.operators import Backoff, Parallel, Race, Retry, Series

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT = ROOT / "configs" / "checkout.yaml"

# (attempts, per-try timeout s, backoff) of each stage shape; the hand kernel reads these too
CALL_RETRY = (3, 0.25, Backoff(initial=0.010, multiplier=2.0))
SHARD_RETRY = (2, 0.20, Backoff(initial=0.005))
HEDGE_RETRY = (2, 0.30, Backoff(initial=0.010))
HEDGE_DELAY = 0.050  # seconds: about the primaries' p90
SHOCK_PROBABILITY = 2e-4
STAGE_LEAVES = {"call": 1, "fanout": 3, "hedge": 2}
# gamma latencies come from a small catalogue of profiles (the journeys of earlier reports; the
# generated kernels read every parameter from arrays, so the catalogue no longer matters to them)
SHARD_MEANS = (0.003, 0.004, 0.005, 0.006, 0.008, 0.010)
SHARD_CVS = (0.5, 0.75, 1.0)
PRIMARY_P50S = (0.015, 0.018, 0.020, 0.022, 0.025)
PATTERN = ("call", "fanout", "hedge")


def checkout() -> Journey:
    """``configs/checkout.yaml``: front, parallel(cart, pricing), hedged race(paya, payb) with a
    gaussian payment-network correlation (rho 0.3, latencyRho 0.2)."""
    return load_spec(CHECKOUT)


def checkout_lognormal() -> Journey:
    """The paper's checkout as issue 15's hand kernel has it: ``configs/checkout.yaml`` with every
    latency lognormal (pricing p50 20 ms, p99 85 ms), failed calls as slow as successful ones and
    the payment network at rho 0.5 for failures and latency."""
    base = load_spec(CHECKOUT)
    comps = tuple(
        Component(
            id=c.id,
            availability=c.availability,
            latency=LogNormal.from_quantiles(0.020, 0.085) if c.id == "pricing" else c.latency,
            error_latency="same",
            domains=c.domains,
            kind=c.kind,
        )
        for c in base.components
    )
    domains = tuple(Domain(d.name, d.members, model="gaussian", rho=0.5, latency_rho=0.5) if d.name == "payment-network" else d for d in base.domains)
    return Journey(name="checkout-lognormal", root=base.root, components=comps, domains=domains)


def _retry(cid: str, spec: tuple[int, float, Backoff]) -> Retry:
    attempts, per_try, backoff = spec
    return Retry(Ref(cid), attempts=attempts, per_try_timeout=per_try, backoff=backoff)


def stage_plan(leaves: int) -> list[str]:
    """Stage shapes of a staged journey with exactly ``leaves`` leaves (see module docstring)."""
    if leaves < 1:
        raise ValueError(f"leaves must be >= 1, got {leaves}")
    plan: list[str] = []
    left = leaves
    i = 0
    while left > 0:
        shape = PATTERN[i % len(PATTERN)]
        if STAGE_LEAVES[shape] > left:
            shape = "call"
        plan.append(shape)
        left -= STAGE_LEAVES[shape]
        i += 1
    return plan


def staged_journey(leaves: int, seed: int = 0) -> Journey:
    """A series of retry / fan-out / hedge stages with exactly ``leaves`` distinct components.

    Parameters
    ----------
    leaves
        Number of leaf calls (= components), ≥ 1.
    seed
        Seeds the component parameters (availabilities, latency distributions).

    Returns
    -------
    Journey
        Named ``staged-<leaves>``; latencies in seconds (lognormal, gamma, exponential).
    """
    rng = np.random.default_rng(seed)
    comps: list[Component] = []
    steps: list[Node] = []
    zones = ("zone-a", "zone-b", "zone-c")

    def comp(cid: str, availability: float, latency, error_latency="same") -> str:
        zone = zones[len(comps) % 3]
        comps.append(Component(id=cid, availability=availability, latency=latency, error_latency=error_latency, domains=(zone,)))
        return cid

    for s, shape in enumerate(stage_plan(leaves)):
        if shape == "call":
            p50 = float(rng.uniform(0.004, 0.020))
            lat = LogNormal.from_quantiles(p50, p50 * float(rng.uniform(3.0, 6.0)))
            cid = comp(f"api{s:03d}", float(rng.choice([0.999, 0.9995, 0.995])), lat)
            steps.append(_retry(cid, CALL_RETRY))
        elif shape == "fanout":
            branches = []
            for k in range(3):
                lat = Gamma.from_mean_cv(float(rng.choice(SHARD_MEANS)), float(rng.choice(SHARD_CVS)))
                cid = comp(f"shard{s:03d}-{k}", 0.999, lat, "fast")
                branches.append(_retry(cid, SHARD_RETRY))
            steps.append(Parallel(tuple(branches), join="all"))
        else:
            p50 = float(rng.choice(PRIMARY_P50S))
            primary = comp(f"primary{s:03d}", 0.995, LogNormal.from_quantiles(p50, 4.0 * p50), Exponential(0.005))
            replica = comp(f"replica{s:03d}", 0.995, Gamma.from_mean_cv(1.2 * p50, 0.6), Exponential(0.005))
            steps.append(Race((_retry(primary, HEDGE_RETRY), _retry(replica, HEDGE_RETRY)), hedge_delay=HEDGE_DELAY))
    ids = [c.id for c in comps]
    domains = [Domain(z, tuple(ids[i] for i in range(len(ids)) if i % 3 == k)) for k, z in enumerate(zones)]
    primaries = tuple(c for c in ids if c.startswith("primary"))
    if primaries:
        domains.append(Domain("db", primaries, model="shock", probability=SHOCK_PROBABILITY))
        comps = [
            Component(id=c.id, availability=c.availability, latency=c.latency, error_latency=c.error_latency, domains=c.domains + ("db",))
            if c.id in primaries
            else c
            for c in comps
        ]
    domains = [d for d in domains if d.members]
    root: Node = Series(tuple(steps)) if len(steps) > 1 else steps[0]
    return Journey(name=f"staged-{leaves}", root=root, components=tuple(comps), domains=tuple(domains))


def retry_hedge_30() -> Journey:
    """The 30-leaf journey with retries and hedges: five groups of call, fan-out, hedge."""
    return staged_journey(30, seed=0)


def four_nines() -> Journey:
    """A journey of about four nines (independent availability ≈ 0.99990).

    ``Series(edge, Retry(auth, 2), Race(payA, payB; hedge 100 ms), ledger)``; the exact
    availability comes from :func:`emac_sim.analytic.bounds`.
    """
    comps = (
        Component("edge", 0.99997, LogNormal.from_quantiles(0.003, 0.012)),
        Component("auth", 0.999, LogNormal.from_quantiles(0.008, 0.040)),
        Component("payA", 0.995, LogNormal.from_quantiles(0.060, 0.250), Exponential(0.02)),
        Component("payB", 0.995, LogNormal.from_quantiles(0.070, 0.300), Exponential(0.02)),
        Component("ledger", 0.99996, Gamma.from_mean_cv(0.015, 0.7)),
    )
    root = Series(
        (
            Ref("edge"),
            Retry(Ref("auth"), attempts=2, per_try_timeout=0.2, backoff=Backoff(0.01)),
            Race((Ref("payA"), Ref("payB")), hedge_delay=0.1),
            Ref("ledger"),
        )
    )
    return Journey(name="four-nines", root=root, components=comps)


def helper_warmup() -> Journey:
    """Every stage shape of the staged journeys side by side (a ``Parallel`` of the stages of
    ``staged_journey(6)``): its kernel uses every library function the staged journeys' kernels
    use, and its structure is none of theirs, so running it first fills a kernel cache with the
    shared helpers only."""
    base = staged_journey(6)
    return Journey(name="helper-warmup", root=Parallel(base.root.steps, join="all"), components=base.components, domains=base.domains)


def by_name(name: str) -> Journey:
    """``checkout``, ``checkout-lognormal``, ``four-nines``, ``helper-warmup``, ``staged-<L>`` or
    ``spec:<path>``."""
    fixed = {"checkout": checkout, "checkout-lognormal": checkout_lognormal, "four-nines": four_nines, "helper-warmup": helper_warmup}
    if name in fixed:
        return fixed[name]()
    if name.startswith("staged-") and name[7:].isdigit():
        return staged_journey(int(name[7:]))
    if name.startswith("spec:"):
        return load_spec(Path(name[5:]))
    raise ValueError(f"unknown benchmark journey {name!r}")
