"""Counters and histograms with exactly known totals, written as OpenMetrics text for
``promtool tsdb create-blocks-from openmetrics`` (the demo and the tests' Prometheus).

Series are sampled every ``step`` seconds at ``t_i = end − (n − 1 − i)·step`` (``n = window /
step``), so the first sample lies one step inside the window that ends at ``end``. Every counter
starts at 0 there: Prometheus' ``increase(x[window])`` evaluated at ``end`` then extrapolates
nothing (the zero point is the first sample) and returns exactly the sum of the increments, which
is the truth the caller chose. Counter resets are allowed (``increase`` adds them back).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Timeline:
    """Sample times: ``n`` points every ``step`` seconds, the last at ``end`` (Unix seconds)."""

    end: float
    window: float
    step: float

    @property
    def n(self) -> int:
        return int(round(self.window / self.step))

    @property
    def times(self) -> np.ndarray:
        return self.end - self.step * np.arange(self.n - 1, -1, -1, dtype=np.float64)

    def diurnal(self, amplitude: float = 0.5) -> np.ndarray:
        """Traffic weights of the ``n − 1`` steps: one daily cycle (UTC), peak at 15:00."""
        hours = (self.times[1:] % 86400.0) / 3600.0
        return 1.0 + amplitude * np.sin(2 * np.pi * (hours - 9.0) / 24.0)


def spread(total: int, weights: np.ndarray) -> np.ndarray:
    """``total`` split into non-negative integers proportional to ``weights`` (largest remainder);
    the parts sum to ``total`` exactly."""
    w = np.asarray(weights, dtype=np.float64)
    if total == 0 or w.sum() <= 0:
        return np.zeros(len(w), dtype=np.int64)
    exact = w / w.sum() * total
    parts = np.floor(exact).astype(np.int64)
    left = int(total - parts.sum())
    if left:
        order = np.argsort(-(exact - parts), kind="stable")
        parts[order[:left]] += 1
    return parts


def counter(increments: np.ndarray, reset_at: int | None = None) -> np.ndarray:
    """Counter values at the ``len(increments) + 1`` sample times: 0 first, then the running sum.

    With ``reset_at`` (a sample index ≥ 1) the process restarts just before that sample: the
    counter holds only the increments from there on.
    """
    values = np.concatenate([[0], np.cumsum(increments, dtype=np.int64)])
    if reset_at is not None:
        values[reset_at:] -= values[reset_at - 1]
    return values


@dataclass
class Family:
    """One metric family: ``counter`` or ``histogram``; ``metrics`` maps a label set to its samples
    ``[(sample name, extra labels, values over the timeline), …]``."""

    name: str
    kind: str
    help: str
    metrics: dict[tuple[tuple[str, str], ...], list[tuple[str, tuple[tuple[str, str], ...], np.ndarray]]] = field(default_factory=dict)

    def add_counter(self, labels: dict[str, str], values: np.ndarray) -> None:
        self.metrics[_labels(labels)] = [(f"{self.name}_total", (), values)]

    def add_histogram(self, labels: dict[str, str], le: Sequence[float], cumulative: np.ndarray, sums: np.ndarray) -> None:
        """``cumulative[k]``: the ``le[k]`` bucket's values over the timeline (``+Inf`` last)."""
        samples = [(f"{self.name}_bucket", (("le", _le(b)),), cumulative[k]) for k, b in enumerate(le)]
        samples += [(f"{self.name}_count", (), cumulative[-1]), (f"{self.name}_sum", (), sums)]
        self.metrics[_labels(labels)] = samples


def _labels(d: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(d.items()))


def _le(b: float) -> str:
    return "+Inf" if math.isinf(b) else repr(float(b))


def _number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def histogram_increments(observations: np.ndarray, cdf_at_le: Sequence[float]) -> np.ndarray:
    """Per-bucket (non-cumulative) increments, shape ``(len(le), steps)``: the window's total in
    bucket k is ``round(N·F(le_k)) − round(N·F(le_{k−1}))`` exactly, spread over the steps like
    ``observations``."""
    n = int(observations.sum())
    cum = np.round(n * np.asarray(cdf_at_le, dtype=np.float64)).astype(np.int64)
    cum[-1] = n
    per_bucket = np.diff(np.concatenate([[0], cum]))
    return np.stack([spread(int(c), observations) for c in per_bucket])


def histogram_series(increments: np.ndarray) -> np.ndarray:
    """Cumulative-bucket counter values over the timeline from :func:`histogram_increments`."""
    per_le = np.cumsum(increments, axis=0)  # le buckets are cumulative over buckets
    return np.stack([counter(row) for row in per_le])


def write_openmetrics(path: str | Path, families: Iterable[Family], timeline: Timeline) -> Path:
    """Write ``families`` as OpenMetrics text (samples of one label set together, in time order)."""
    times = [_number(t) for t in timeline.times]
    p = Path(path)
    with p.open("w", encoding="utf-8") as fh:
        for fam in families:
            fh.write(f"# HELP {fam.name} {fam.help}\n# TYPE {fam.name} {fam.kind}\n")
            for labels, samples in fam.metrics.items():
                for i, ts in enumerate(times):
                    for name, extra, values in samples:
                        lab = ",".join(f'{k}="{v}"' for k, v in (*labels, *extra))
                        fh.write(f"{name}{{{lab}}} {_number(values[i])} {ts}\n")
        fh.write("# EOF\n")
    return p
