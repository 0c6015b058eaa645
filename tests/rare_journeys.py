"""Small rare-failure journeys for the importance-sampling tests (issue 18), as spec text.

Each exercises a different kind of biased draw: own failures only (``ONE``), a gaussian failure
domain (``LEDGER``, the seven-nines ledger write), a shock domain under retries (``SHOCK``), and a
gaussian domain that the ``shared`` scenario turns into a fate group (``FATE``).
"""

from __future__ import annotations

from pathlib import Path

_HEAD = """apiVersion: emac.dev/v1alpha1
kind: JourneyIntent
metadata: {{name: {name}}}
spec:
  objectives: {{availability: {{window: 30d, target: 0.9}}}}
"""

LAT = "latency: {dist: lognormal, p50: 10ms, p99: 50ms}"


def one(availability: float) -> str:
    """A single component (the closed-form weight test)."""
    return _HEAD.format(name="one") + f"""  operator: {{ref: a}}
  components:
    a: {{availability: {availability}, {LAT}}}
"""


SHOCK = _HEAD.format(name="shock") + f"""  operator:
    type: series
    steps:
      - ref: edge
      - type: retry
        attempts: 3
        backoff: 10ms
        step: {{ref: db}}
      - type: parallel
        join: any
        branches: [{{ref: cache-a}}, {{ref: cache-b}}]
  components:
    edge: {{availability: 0.9999999, {LAT}}}
    db: {{availability: 0.999, {LAT}, failureDomains: [primary]}}
    replica: {{availability: 0.999, {LAT}, failureDomains: [primary]}}
    cache-a: {{availability: 0.999, {LAT}}}
    cache-b: {{availability: 0.999, {LAT}}}
  failureDomains:
    rules:
      - name: primary
        correlation: {{model: shock, probability: 0.000001}}
"""

FATE = _HEAD.format(name="fate") + f"""  operator:
    type: series
    steps:
      - ref: gateway
      - type: parallel
        join: quorum
        k: 2
        branches: [{{ref: q1}}, {{ref: q2}}, {{ref: q3}}]
      - type: fallback
        branches: [{{ref: primary}}, {{ref: secondary}}]
  components:
    gateway: {{availability: 0.999999, {LAT}}}
    q1: {{availability: 0.999, {LAT}}}
    q2: {{availability: 0.999, {LAT}}}
    q3: {{availability: 0.999, {LAT}}}
    primary: {{availability: 0.99999, {LAT}, failureDomains: [zone]}}
    secondary: {{availability: 0.99998, {LAT}, failureDomains: [zone]}}
  failureDomains:
    rules:
      - name: zone
        correlation: {{model: gaussian, rho: 0.5}}
"""

REPO = Path(__file__).resolve().parents[1]
LEDGER = (REPO / "configs" / "ledger-7nines.yaml").read_text(encoding="utf-8")

#: (name, spec text, scenario) of the three rare journeys of the coverage test.
RARE = (("ledger-declared", LEDGER, "declared"), ("shock-declared", SHOCK, "declared"), ("fate-shared", FATE, "shared"))


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / f"{name}.yaml"
    p.write_text(text, encoding="utf-8")
    return p
