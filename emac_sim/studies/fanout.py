"""Tail amplification under fan-out ("the tail at scale").

A request that fans out to ``n`` servers in parallel and waits for all of them is slow as soon as
one call is slow. With each call independently slow with probability ``p``,

    P(request slow) = 1 − (1 − p)ⁿ,        e.g. p = 0.01, n = 100: 1 − 0.99¹⁰⁰ ≈ 0.634

(Dean & Barroso, "The Tail at Scale", CACM 56(2), 2013). The study builds that journey as an
EmaC spec — one component whose latency is a mixture of a fast and a slow distribution, called
``n`` times under ``parallel join: all`` — and computes the share of slow requests three ways:
the closed form above, the analytic layer, and the Monte Carlo engine with its interval. A
request is *slow* when its latency exceeds ``threshold`` (which must separate the fast and slow
parts); the journey is wrapped in ``timeout(deadline = threshold)`` so that "slow" is exactly
"fails the deadline" and availability = P(not slow).

The same journeys (without the timeout) give the request's median and p99: with i.i.d. calls
the q-quantile of the fan-out is F⁻¹(q^{1/n}). Once more than half of the requests are slow
(n ≥ 69 for p = 1 %), the *median* request is as slow as one call's p99 — the paper's point.
(With exactly p of the mass slow, one call's own p99 sits on the boundary between the fast and
the slow part, so the fan-out's p50 is the informative column.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ..errors import SpecError
from ..model import distributions as D
from ..model.journey import Journey
from ..spec import load_spec_text
from ..spec.dump import dump_yaml


def fanout_document(width: int, latency: dict, *, name: str = "fanout", deadline: float | None = None, availability: float = 1.0) -> dict:
    """An EmaC document: ``parallel all`` of ``width`` calls to one component ``server``.

    Parameters
    ----------
    width
        Number of parallel calls ``n ≥ 1``.
    latency
        The component's latency distribution as a spec mapping (``{dist: ...}``).
    deadline
        When given (seconds), the fan-out is wrapped in ``timeout(deadline)``.
    """
    if width < 1:
        raise ValueError("width must be >= 1")
    op: dict[str, Any] = {"type": "parallel", "join": "all", "branches": [{"ref": "server"} for _ in range(width)]}
    if deadline is not None:
        op = {"type": "timeout", "deadline": deadline, "step": op}
    return {
        "apiVersion": "emac.dev/v1alpha1",
        "kind": "JourneyIntent",
        "metadata": {"name": f"{name}-{width}"},
        "spec": {"operator": op, "components": {"server": {"availability": availability, "latency": latency}}},
    }


def fanout_journey(width: int, latency: dict, *, deadline: float | None = None, availability: float = 1.0) -> Journey:
    """:func:`fanout_document` validated by the normal loader."""
    doc = fanout_document(width, latency, deadline=deadline, availability=availability)
    return load_spec_text(dump_yaml(doc), source=f"<fan-out n={width}>")


@dataclass
class FanOutResult:
    """Per width: slow share (theory, analytic, Monte Carlo ± CI) and request p50/p99."""

    frame: pl.DataFrame
    slow_probability: float
    threshold: float
    single: dict[str, float]
    samples: int
    seed: int
    confidence: float
    notes: list[str] = field(default_factory=list)
    curve: dict[str, list[float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "study": "fan-out",
            "slowProbability": self.slow_probability,
            "thresholdSeconds": self.threshold,
            "singleCallSeconds": self.single,
            "samples": self.samples,
            "seed": self.seed,
            "confidence": self.confidence,
            "notes": self.notes,
            "points": self.frame.to_dicts(),
        }


def fanout_study(
    widths: Sequence[int],
    *,
    slow_probability: float = 0.01,
    fast: dict | None = None,
    slow: dict | None = None,
    threshold: float = 0.2,
    samples: int = 20_000,
    seed: int | None = None,
    confidence: float = 0.95,
) -> FanOutResult:
    """Run the fan-out study (see the module docstring).

    Parameters
    ----------
    widths
        Fan-out widths ``n`` (each ≥ 1).
    slow_probability
        ``p``: probability that one call is slow.
    fast, slow
        Latency distributions (spec mappings) of fast and slow calls; defaults: constant 10 ms
        and constant 1 s.
    threshold
        Seconds; a request is slow when its latency exceeds it. Must lie above the fast part's
        and below the slow part's support (checked on their 1e-9 / 1 − 1e-9 quantiles).
    samples, seed
        Monte Carlo samples per width; one seed for all widths (common random numbers).

    Returns
    -------
    FanOutResult
        Columns ``width``, ``slow_theory``, ``slow_analytic``, ``slow_mc``, ``slow_mc_lo``,
        ``slow_mc_hi``, and for ``p50``/``p99`` of the request latency ``_theory``,
        ``_analytic``, ``_mc``, ``_mc_lo``, ``_mc_hi`` (seconds).
    """
    from ..analytic import latency_quantiles, scenario_availability
    from ..core.seeds import resolve_seed
    from ..model.scenario import Scenario
    from .whatif import CRN_BLOCK_SIZE

    fast = fast or {"dist": "constant", "value": 0.01}
    slow = slow or {"dist": "constant", "value": 1.0}
    if not 0.0 < slow_probability < 1.0:
        raise SpecError("<fan-out study>", "slowProbability", f"must be in (0, 1), got {slow_probability!r}")
    latency = {"dist": "mixture", "components": [{"weight": 1.0 - slow_probability, "dist": fast}, {"weight": slow_probability, "dist": slow}]}
    probe = fanout_journey(1, latency)
    mix = probe.component("server").latency
    assert isinstance(mix, D.Mixture)
    (_, fdist), (_, sdist) = mix.components
    if not float(fdist.ppf(1 - 1e-9)) < threshold < float(sdist.ppf(1e-9)):
        raise SpecError("<fan-out study>", "threshold", f"{threshold:g}s must separate the fast and the slow latency distributions")
    use_seed, _ = resolve_seed(seed)
    single = {"p50": float(mix.ppf(0.5)), "p99": float(mix.ppf(0.99))}
    rows = []
    for n in widths:
        n = int(n)
        if n < 1:
            raise SpecError("<fan-out study>", "widths", f"widths must be >= 1, got {n}")
        jt = fanout_journey(n, latency, deadline=threshold)
        jp = fanout_journey(n, latency)
        a_ind = scenario_availability(jt, Scenario.independent())
        lq = latency_quantiles(jp, "independent", qs=(0.5, 0.99)) or {}
        row: dict[str, Any] = {
            "width": n,
            "slow_theory": 1.0 - (1.0 - slow_probability) ** n,
            "slow_analytic": None if a_ind is None else 1.0 - float(a_ind),
            "p50_theory": float(mix.ppf(0.5 ** (1.0 / n))),
            "p50_analytic": _finite(lq.get(0.5)),
            "p99_theory": float(mix.ppf(0.99 ** (1.0 / n))),
            "p99_analytic": _finite(lq.get(0.99)),
        }
        if samples > 0:
            from ..engine import simulate

            kw = dict(samples=samples, seed=use_seed, correlation="independent", confidence=confidence, block_size=CRN_BLOCK_SIZE)
            st = simulate(jt, **kw).estimate
            sp = simulate(jp, **kw).estimate
            lo, hi = st.availability_ci
            row.update(slow_mc=1.0 - st.availability, slow_mc_lo=1.0 - hi, slow_mc_hi=1.0 - lo)
            for key in ("p50", "p99"):
                q = sp.quantile(key)
                est, (q_lo, q_hi) = (q.estimate, q.ci) if q is not None else (None, (None, None))
                row.update({f"{key}_mc": est, f"{key}_mc_lo": q_lo, f"{key}_mc_hi": q_hi})
        else:
            row.update(slow_mc=None, slow_mc_lo=None, slow_mc_hi=None)
            row.update({f"{k}_mc{x}": None for k in ("p50", "p99") for x in ("", "_lo", "_hi")})
        rows.append(row)
    frame = pl.DataFrame(rows, infer_schema_length=None)
    notes = [
        f"slow = latency > {threshold:g}s; each call slow with p = {slow_probability:g}, independently",
        "theory: 1 - (1 - p)^n (Dean & Barroso 2013); quantile theory: q-quantile of the fan-out = F^-1(q^(1/n))",
    ]
    dense = np.unique(np.round(np.geomspace(1, max(max(int(w) for w in widths), 2), 400))).astype(int)
    curve = {"n": dense.tolist(), **{k: [float(mix.ppf(q ** (1.0 / n))) for n in dense] for k, q in (("p50", 0.5), ("p99", 0.99))}}
    return FanOutResult(frame, slow_probability, threshold, single, samples, use_seed, confidence, notes, curve)


def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)
