"""Figures for what-if sweeps and fan-out studies (matplotlib, written as PNG and SVG).

Every figure has labelled axes with units, a legend, the objective as a line and the analytic
bounds as bands, with Monte Carlo estimates drawn as points with their confidence intervals.
Layout uses matplotlib's constrained layout so labels never overlap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from .fanout import FanOutResult
    from .whatif import WhatIfResult

COLORS = {
    "objective": "#c0392b",
    "dependence_free": "#d5d8dc",
    "shared_fate": "#85c1e9",
    "independent": "#1f618d",
    "comonotone": "#884ea0",
    "declared": "#117a65",
    "estimate": "#d35400",
    "saturated": "#f5b7b1",
}
SERIES = ["#d35400", "#1f618d", "#117a65", "#884ea0", "#b7950b", "#5d6d7e", "#c0392b", "#2e86c1"]
MAX_SERIES = 8

plt.rcParams.update(
    {
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "legend.fontsize": 8,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "svg.hashsalt": "emac-sim",  # deterministic SVG ids
        "svg.fonttype": "none",
    }
)


def save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` (150 dpi) and ``stem.svg``; close the figure; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{stem}.png", out_dir / f"{stem}.svg"
    fig.savefig(png, dpi=150, metadata={"Software": None})
    fig.savefig(svg, metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return [png, svg]


_UNITS = {
    "rate": "requests/s",
    "replicas": "replicas",
    "attempts": "attempts",
    "count": "calls",
    "k": "branches",
    "rho": "correlation ρ",
    "latencyRho": "latency correlation ρ",
    "availability": "probability",
    "target": "probability",
    "probability": "probability",
    "beta": "β",
    "weight": "weight",
    "multiplier": "×",
}
_SECONDS = {"hedgeDelay", "perTryTimeout", "deadline", "threshold", "value", "mean", "p50", "p99", "scale", "initial", "max", "window"}


def axis_label(path: str) -> str:
    """An axis label with unit for a spec path: ``load.rate [requests/s]``."""
    last = path.rstrip("]").split(".")[-1].split("[")[0].strip('"')
    if last in _SECONDS:
        return f"{path} [s]"
    unit = _UNITS.get(last)
    return f"{path} [{unit}]" if unit else path


def seconds_formatter() -> FuncFormatter:
    """Tick labels for seconds: ``50 ms``, ``1.2 s``."""

    def fmt(v: float, _pos: Any = None) -> str:
        if v <= 0 or not math.isfinite(v):
            return "0" if v == 0 else ""
        if v < 1e-3:
            return f"{v * 1e6:.3g} µs"
        if v < 1:
            return f"{v * 1e3:.3g} ms"
        return f"{v:.3g} s"

    return FuncFormatter(fmt)


def _arr(col: Sequence[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in col], dtype=float)


def _finite(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), a, np.nan)


def _series(result: WhatIfResult) -> list[tuple[str, np.ndarray]]:
    """Row-index groups: one line per combination of the second and later varied values."""
    frame = result.frame
    if len(result.varies) <= 1:
        return [("", np.arange(len(frame)))]
    others = [v.path.text for v in result.varies[1:]]
    keys = list(zip(*(frame[c].to_list() for c in others)))
    groups: dict[tuple, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    out = []
    for k, idx in list(groups.items())[:MAX_SERIES]:
        label = ", ".join(f"{p.split('.')[-1]}={_short(v)}" for p, v in zip(others, k))
        out.append((label, np.array(idx)))
    return out


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _mark_saturated(ax: Any, x: np.ndarray, saturated: np.ndarray, groups: list[tuple[str, np.ndarray]]) -> None:
    """Several series: an x at the top edge, in the series' colour, where that series saturates."""
    labelled = False
    for gi, (_, idx) in enumerate(groups):
        hit = idx[saturated[idx]]
        if len(hit):
            ax.plot(x[hit], np.full(len(hit), 0.97), "x", color=SERIES[gi % len(SERIES)], ms=7, mew=2, transform=ax.get_xaxis_transform(),
                    label=None if labelled else "saturated (ρ ≥ 1): A = 0, latency ∞", clip_on=False)
            labelled = True


def _shade_saturated(ax: Any, x: np.ndarray, saturated: np.ndarray, labelled: list[bool], groups: list | None = None) -> None:
    if groups is not None and len(groups) > 1:
        _mark_saturated(ax, x, saturated, groups)
        return
    if not saturated.any() or not np.isfinite(x).any():
        return
    order = np.argsort(x)
    xs, sat = x[order], saturated[order]
    step = np.nanmin(np.diff(xs)) if len(xs) > 1 else 1.0
    for i, s in enumerate(sat):
        if s:
            lo = 0.5 * (xs[i - 1] + xs[i]) if i > 0 else xs[i] - 0.5 * step
            hi = 0.5 * (xs[i] + xs[i + 1]) if i + 1 < len(xs) else xs[i] + 0.5 * step
            label = None if labelled[0] else "saturated (ρ ≥ 1): A = 0, latency ∞"
            ax.axvspan(lo, hi, color=COLORS["saturated"], alpha=0.5, lw=0, label=label)
            labelled[0] = True


def plot_sweep(result: WhatIfResult, out_dir: Path, stem: str = "whatif") -> list[Path]:
    """Availability and latency against the first varied value (plus utilisation with capacity).

    Availability panel: objective line, dependence-free band, shared-fate band, independent
    curve, Monte Carlo estimate with interval. Latency panel (objective metric, default p99):
    objective line, dependence-free band, independent and comonotone curves, estimate with
    interval. Several varied paths give one line per combination of the others.
    """
    frame = result.frame
    xname = result.varies[0].path.text
    x = _arr(frame[f"{xname}__value"].to_list())
    if not np.isfinite(x).any():
        x = np.arange(len(frame), dtype=float)
    metric = next((m for m in frame["objective_latency_metric"].to_list() if m), None) or "p99"
    metric = metric if f"{metric}_independent" in frame.columns else "p99"
    has_latency = frame[f"{metric}_independent"].null_count() < len(frame) or frame[f"mc_{metric}"].null_count() < len(frame)
    util_cols = [c for c in frame.columns if c.startswith("utilisation_")]
    panels = 1 + int(has_latency) + int(bool(util_cols))
    fig, axes = plt.subplots(1, panels, figsize=(5.4 * panels, 4.6), layout="constrained", squeeze=False)
    axes = list(axes[0])
    groups = _series(result)
    multi = len(groups) > 1
    sat = np.array(frame["saturated"].to_list(), dtype=bool)

    # availability
    ax = axes[0]
    lab = [False]
    _shade_saturated(ax, x, sat, lab, groups)
    ylo_candidates: list[float] = []
    for gi, (_glabel, idx) in enumerate(groups):
        o = idx[np.argsort(x[idx])]
        o = o[~sat[o]]  # saturated points are shaded, not drawn: availability 0, latency infinite
        col = SERIES[gi % len(SERIES)] if multi else None
        dlo, dhi = _arr(frame["dependence_free_lo"].to_list())[o], _arr(frame["dependence_free_hi"].to_list())[o]
        slo, shi = _arr(frame["shared_fate_lo"].to_list())[o], _arr(frame["shared_fate_hi"].to_list())[o]
        ind = _arr(frame["availability_independent"].to_list())[o]
        est = _arr(frame["mc_availability"].to_list())[o]
        elo, ehi = _arr(frame["mc_availability_lo"].to_list())[o], _arr(frame["mc_availability_hi"].to_list())[o]
        dec = _arr(frame["availability_declared"].to_list())[o]
        if gi == 0 or not multi:
            ax.fill_between(x[o], dlo, dhi, color=COLORS["dependence_free"], alpha=0.6 if not multi else 0.3, lw=0, label="dependence-free bounds")
            ax.plot(x[o], dlo, color="#7f8c8d", lw=0.8, ls="-.")
            ax.plot(x[o], dhi, color="#7f8c8d", lw=0.8, ls="-.")
        ax.fill_between(x[o], slo, shi, color=col or COLORS["shared_fate"], alpha=0.35 if not multi else 0.15, lw=0,
                        label="shared-fate range" if not multi else None)
        ax.plot(x[o], ind, color=col or COLORS["independent"], ls="--", lw=1.2, label="independent (analytic)" if not multi else None)
        if np.isfinite(dec).any() and not np.allclose(dec, ind, equal_nan=True):
            ax.plot(x[o], dec, color=col or COLORS["declared"], ls="-", lw=1.2, label="declared correlation (analytic)" if not multi else None)
        if np.isfinite(est).any():
            ax.errorbar(x[o], est, yerr=[np.clip(est - elo, 0, None), np.clip(ehi - est, 0, None)], fmt="o", ms=3.5, capsize=2,
                        color=col or COLORS["estimate"], lw=1, label=None if multi else f"Monte Carlo ({result.correlation}) ± CI")
        ylo_candidates += [np.nanmin(v) for v in (slo, elo, ind) if np.isfinite(v).any()]
    target = next((t for t in frame["objective_availability"].to_list() if t is not None), None)
    if target is not None:
        ax.axhline(target, color=COLORS["objective"], lw=1.2, label=f"objective {target:g}")
        ylo_candidates.append(target)
    if ylo_candidates:
        tops = np.concatenate([_arr(frame[c].to_list())[~sat] for c in ("dependence_free_hi", "mc_availability_hi")])
        hi_all = float(np.nanmax(tops)) if np.isfinite(tops).any() else 1.0
        lo_all = min(ylo_candidates)
        span = max(hi_all - lo_all, 1e-6)
        ax.set_ylim(max(lo_all - 0.25 * span, 0.0), min(hi_all + 0.08 * span, 1.0 + 1e-9))
    ax.set_xlabel(axis_label(xname))
    ax.set_ylabel("journey availability [probability]")
    ax.set_title("Availability: bounds and estimate")
    if multi:
        ax.plot([], [], color="k", ls="--", label="independent (analytic)")
        ax.errorbar([], [], yerr=[], fmt="o", color="k", label="Monte Carlo ± CI")
        _series_note(ax, groups)
    _legend_below(ax)

    if has_latency:
        ax = axes[1]
        lab = [False]
        _shade_saturated(ax, x, sat, lab, groups)
        for gi, (_glabel, idx) in enumerate(groups):
            o = idx[np.argsort(x[idx])]
            o = o[~sat[o]]
            col = SERIES[gi % len(SERIES)] if multi else None
            lo_b = _finite(_arr(frame[f"{metric}_lower"].to_list())[o])
            hi_b = _finite(_arr(frame[f"{metric}_upper"].to_list())[o])
            ind = _finite(_arr(frame[f"{metric}_independent"].to_list())[o])
            com = _finite(_arr(frame[f"{metric}_comonotone"].to_list())[o])
            est = _finite(_arr(frame[f"mc_{metric}"].to_list())[o])
            elo = _finite(_arr(frame[f"mc_{metric}_lo"].to_list())[o])
            ehi = _finite(_arr(frame[f"mc_{metric}_hi"].to_list())[o])
            if gi == 0 or not multi:
                alpha = 0.6 if not multi else 0.3
                ax.fill_between(x[o], lo_b, hi_b, color=COLORS["dependence_free"], alpha=alpha, lw=0, label="dependence-free band")
            ax.plot(x[o], ind, color=col or COLORS["independent"], ls="--", lw=1.2, label="independent (analytic)" if not multi else None)
            ax.plot(x[o], com, color=col or COLORS["comonotone"], ls=":", lw=1.2, label="comonotone (analytic)" if not multi else None)
            if np.isfinite(est).any():
                ax.errorbar(x[o], est, yerr=[np.clip(est - elo, 0, None), np.clip(ehi - est, 0, None)], fmt="o", ms=3.5, capsize=2,
                            color=col or COLORS["estimate"], lw=1, label=f"Monte Carlo ({result.correlation}) ± CI" if not multi else None)
        thr = next((t for t in frame["objective_latency"].to_list() if t is not None), None)
        if thr is not None:
            ax.axhline(thr, color=COLORS["objective"], lw=1.2, label=f"objective {metric} ≤ {thr * 1e3:g} ms")
        cols = (f"{metric}_lower", f"{metric}_upper", f"mc_{metric}_lo", f"mc_{metric}_hi")
        vals = np.concatenate([_finite(_arr(frame[c].to_list())) for c in cols])
        vals = vals[np.isfinite(vals) & (vals > 0)]
        log = len(vals) > 0 and vals.max() / vals.min() > 8
        if log:
            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
        ax.yaxis.set_major_formatter(seconds_formatter())
        ax.set_xlabel(axis_label(xname))
        ax.set_ylabel(f"journey {metric} latency [s{', log scale' if log else ''}]")
        ax.set_title(f"Latency {metric} of successful journeys")
        if multi:
            ax.plot([], [], color="k", ls="--", label="independent (analytic)")
            ax.plot([], [], color="k", ls=":", label="comonotone (analytic)")
            ax.errorbar([], [], yerr=[], fmt="o", color="k", label="Monte Carlo ± CI")
            _series_note(ax, groups)
        _legend_below(ax)

    if util_cols:
        ax = axes[-1]
        lab = [False]
        first = groups[0][1]  # utilisation of the first series only (the title names it)
        _shade_saturated(ax, x[first], sat[first], lab)
        o = first[np.argsort(x[first])]
        ok, bad = o[~sat[o]], o[sat[o]]
        for ci, c in enumerate(util_cols):
            u = _arr(frame[c].to_list())
            ax.plot(x[ok], u[ok], marker="o", ms=3, lw=1.2, color=SERIES[ci % len(SERIES)], label=c.removeprefix("utilisation_"))
            # at saturated points the fixed point stops where rho first reached 1: show that value unconnected
            ax.plot(x[bad], u[bad], "o", mfc="none", ms=4, color=SERIES[ci % len(SERIES)])
        if len(bad):
            ax.plot([], [], "o", mfc="none", color="#566573", label="when saturation was detected")
        ax.axhline(1.0, color=COLORS["objective"], lw=1.2, label="saturation (ρ = 1)")
        ax.set_ylim(0, max(1.1, np.nanmax([np.nanmax(_finite(_arr(frame[c].to_list()))) for c in util_cols]) * 1.05))
        ax.set_xlabel(axis_label(xname))
        ax.set_ylabel("utilisation ρ = λ·E[S]/replicas")
        ax.set_title("Queue utilisation per component" + (f" ({groups[0][0]})" if multi else ""))
        _legend_below(ax)
    return save(fig, out_dir, stem)


def _series_note(ax: Any, groups: list[tuple[str, np.ndarray]]) -> None:
    for gi, (label, _) in enumerate(groups):
        ax.plot([], [], color=SERIES[gi % len(SERIES)], lw=4, alpha=0.6, label=label)


def _legend_below(ax: Any) -> None:
    """Legend under the axes (never over the data); constrained layout makes room for it."""
    n = len(ax.get_legend_handles_labels()[1])
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2 if n > 4 else 1, framealpha=0.9, fontsize=7)


def plot_fanout(result: FanOutResult, out_dir: Path, stem: str = "fanout") -> list[Path]:
    """Share of slow requests and p99 amplification against fan-out width (log x)."""
    f = result.frame
    n = np.array(f["width"].to_list(), dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 4.0), layout="constrained")
    ax = axes[0]
    grid = np.unique(np.round(np.geomspace(1, max(n.max(), 2), 200)))
    p = result.slow_probability
    ax.plot(grid, 1 - (1 - p) ** grid, color=COLORS["independent"], lw=1.5, label=f"theory 1 − (1 − {p:g})ⁿ")
    an = _arr(f["slow_analytic"].to_list())
    if np.isfinite(an).any():
        ax.plot(n, an, "s", mfc="none", color=COLORS["comonotone"], ms=6, label="analytic layer (independent)")
    est = _arr(f["slow_mc"].to_list())
    if np.isfinite(est).any():
        lo, hi = _arr(f["slow_mc_lo"].to_list()), _arr(f["slow_mc_hi"].to_list())
        ax.errorbar(n, est, yerr=[np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)], fmt="o", ms=3.5, capsize=2,
                    color=COLORS["estimate"], label="Monte Carlo ± CI")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("fan-out width n [parallel calls per request]")
    ax.set_ylabel(f"share of requests slower than {result.threshold * 1e3:g} ms")
    ax.set_title(f"Slow requests when each call is slow with p = {p:g}")
    ax.legend(loc="upper left", framealpha=0.85)

    ax = axes[1]
    for key, col, mark in (("p50", COLORS["independent"], "s"), ("p99", COLORS["comonotone"], "D")):
        if result.curve:
            ax.step(result.curve["n"], result.curve[key], where="post", color=col, lw=1.3, label=f"{key}: theory F⁻¹(q^(1/n))")
        else:
            ax.plot(n, _arr(f[f"{key}_theory"].to_list()), "-", color=col, lw=1.3, label=f"{key}: theory F⁻¹(q^(1/n))")
        an = _arr(f[f"{key}_analytic"].to_list())
        if np.isfinite(an).any():
            ax.plot(n, an, mark, mfc="none", color=col, ms=6, label=f"{key}: analytic layer")
        est = _arr(f[f"{key}_mc"].to_list())
        if np.isfinite(est).any():
            lo, hi = _arr(f[f"{key}_mc_lo"].to_list()), _arr(f[f"{key}_mc_hi"].to_list())
            ax.errorbar(n, est, yerr=[np.clip(est - lo, 0, None), np.clip(hi - est, 0, None)], fmt="o", ms=3, capsize=2, color=col,
                        alpha=0.8, label=f"{key}: Monte Carlo ± CI")
    n_half = math.ceil(math.log(0.5) / math.log1p(-p))  # smallest n with P(slow) > 1/2
    if n_half <= n.max():
        ax.axvline(n_half, color="#566573", ls=":", lw=1)
        ax.annotate(f"n = {n_half}: half the\nrequests are slow", xy=(n_half, 0.5), xycoords=("data", "axes fraction"),
                    xytext=(-6, 0), textcoords="offset points", ha="right", va="center", fontsize=7.5, color="#34495e")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(seconds_formatter())
    ax.set_xlabel("fan-out width n [parallel calls per request]")
    ax.set_ylabel("request latency [s, log scale]")
    ax.set_title("Median and p99 of the request")
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.9), framealpha=0.9, fontsize=7)
    return save(fig, out_dir, stem)
