"""Figures of the tail-amplification report (see :mod:`.report` for what each one shows).

Each function writes ``<stem>.png`` and ``<stem>.svg`` into the figure directory and returns
both paths. Axes carry units, every mark has a legend entry, layouts are constrained.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from ..model.journey import Journey
from .plots import COLORS, SERIES, plt, save, seconds_formatter

_KEYS = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999))


def _prob_formatter() -> FuncFormatter:
    def fmt(v: float, _pos: Any = None) -> str:
        if v <= 0:
            return "0"
        if v >= 0.01:
            return f"{v:g}"
        return f"1e{math.log10(v):.0f}" if abs(math.log10(v) - round(math.log10(v))) < 1e-9 else ""

    return FuncFormatter(fmt)


def fig_ccdf(ccdf: dict, journey: Journey, sim: dict, fig_dir: Path) -> list[Path]:
    """Latency CCDF of successful journeys, log–log."""
    fig, ax = plt.subplots(figsize=(7.6, 4.8), layout="constrained")
    t, p, lo, hi = ccdf["mc"]
    n = sim["availability"]["estimate"] * sim["samples"]
    keep = p >= 1.0 / max(n, 1.0)
    ax.fill_between(t[keep], lo[keep], hi[keep], step="post", color=COLORS["estimate"], alpha=0.25, lw=0, label=None)
    ax.step(t[keep], p[keep], where="post", color=COLORS["estimate"], lw=1.4,
            label=f"Monte Carlo ({sim['correlation']}, {sim['samples']:,} samples) with {sim['confidence']:.0%} band")
    qs = ccdf["qs"]
    tail = 1.0 - qs
    if ccdf.get("independent") is not None:
        ax.plot(ccdf["independent"], tail, color=COLORS["independent"], ls="--", lw=1.4, label="analytic, independent")
    if ccdf.get("comonotone") is not None:
        ax.plot(ccdf["comonotone"], tail, color=COLORS["comonotone"], ls=":", lw=1.6, label="analytic, comonotone (all slow together)")
    bands = ccdf.get("bands") or {}
    if bands:
        ys, xlo, xhi, xc = [], [], [], []
        for k, q in _KEYS:
            if k not in bands:
                continue
            lo_b, up_b = bands[k].get("lower"), bands[k].get("upper")
            if lo_b is None or up_b is None or not math.isfinite(up_b):
                continue
            ys.append(1 - q)
            xlo.append(lo_b)
            xhi.append(up_b)
            xc.append(bands[k].get("comonotone"))
        if ys:
            ys_a = np.array(ys)
            ax.hlines(ys_a, xlo, xhi, color="#7f8c8d", lw=7, alpha=0.35, label="dependence-free band (p50, p90, p99, p99.9)")
            ax.plot(xlo, ys_a, "|", color="#566573", ms=10)
            ax.plot(xhi, ys_a, "|", color="#566573", ms=10)
            if ccdf.get("comonotone") is None:
                ax.plot([c for c in xc if c is not None], ys_a[[c is not None for c in xc]], "D", color=COLORS["comonotone"], ms=4,
                        label="analytic, comonotone")
    lo_obj = journey.latency_objective
    if lo_obj is not None:
        ax.axvline(lo_obj.threshold, color=COLORS["objective"], lw=1.2, label=f"objective {lo_obj.metric} ≤ {lo_obj.threshold * 1e3:g} ms")
        ax.axhline(1.0 - lo_obj.quantile, color=COLORS["objective"], lw=0.8, ls="--", alpha=0.6)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(max(0.5 / max(n, 1.0), 1e-5), 1.05)
    xs = [v for v in t[keep][p[keep] < 0.999]] + [v for v in t[keep]]
    for k in ("independent", "comonotone"):
        if ccdf.get(k) is not None:
            xs += [v for v in ccdf[k] if np.isfinite(v)]
    xs += [bands[k][part] for k in bands for part in ("lower", "upper") if bands[k].get(part) is not None and math.isfinite(bands[k][part])]
    lead = [v for v in t[keep][p[keep] < 0.999]]
    if xs:
        left = min(lead) if lead else min(xs)
        ax.set_xlim(max(left * 0.6, 1e-6), max(xs) * 1.4)
    ax.xaxis.set_major_formatter(seconds_formatter())
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
    ax.yaxis.set_major_formatter(_prob_formatter())
    ax.set_xlabel("journey latency t [s, log scale]")
    ax.set_ylabel("P(T > t) of successful journeys [log scale]")
    ax.set_title(f"{journey.name}: latency CCDF")
    ax.legend(loc="lower left", framealpha=0.9)
    return save(fig, fig_dir, "latency_ccdf")


def fig_availability(b: dict, sim: dict, journey: Journey, fig_dir: Path) -> list[Path]:
    """Nested availability intervals with the objective."""
    av = b["availability"]
    dlo, dhi = av["dependenceFree"]
    slo, shi = av["sharedFateRange"]
    est = sim["availability"]["estimate"]
    elo, ehi = sim["availability"]["ci"]
    fig, ax = plt.subplots(figsize=(7.6, 4.4), layout="constrained")
    rows = [("dependence-free", dlo, dhi, COLORS["dependence_free"]), ("shared-fate range", slo, shi, COLORS["shared_fate"]),
            (f"Monte Carlo ({sim['correlation']})", elo, ehi, COLORS["estimate"])]
    for i, (_, lo, hi, col) in enumerate(rows):
        y = len(rows) - 1 - i
        ax.barh(y, hi - lo, left=lo, height=0.5, color=col, alpha=0.9 if i < 2 else 0.35, edgecolor="#566573", lw=0.6)
    ax.plot([est], [0], "o", color=COLORS["estimate"], ms=7, label=f"estimate {est:.6f} [{elo:.6f}, {ehi:.6f}]")
    ax.plot([av["independent"]], [1], "^", color=COLORS["independent"], ms=8, label=f"independent A⁺ = {av['independent']:.6f}")
    ax.plot([av["pessimistic"]], [1], "v", color=COLORS["comonotone"], ms=8, label=f"pessimistic A⁻ = {av['pessimistic']:.6f}")
    if av.get("declared") is not None:
        ax.plot([av["declared"]], [0], "D", mfc="none", color=COLORS["declared"], ms=8, label=f"declared (analytic) = {av['declared']:.6f}")
    ao = journey.availability_objective
    xs = [dlo, dhi, slo, shi, elo, ehi]
    if ao is not None:
        ax.axvline(ao.target, color=COLORS["objective"], lw=1.5, label=f"objective {ao.target:g}")
        xs.append(ao.target)
    lo_x, hi_x = min(xs), max(xs)
    pad = 0.06 * max(hi_x - lo_x, 1e-6)
    ax.set_xlim(lo_x - pad, min(hi_x + pad, 1.0 + pad))
    ax.set_yticks(range(len(rows)), [r[0] for r in reversed(rows)])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("journey availability [probability]")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 5, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.4f}"))
    top = ax.secondary_xaxis("top", functions=(lambda a: (1 - a) * 30 * 24 * 60, lambda m: 1 - m / (30 * 24 * 60)))
    top.set_xlabel("downtime [minutes per 30 days]")
    ax.set_title(f"{journey.name}: availability intervals", pad=4)
    ax.grid(axis="y", visible=False)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, framealpha=0.9, fontsize=7.5)
    return save(fig, fig_dir, "availability_intervals")


def fig_attribution(sim: dict, birnbaum: dict[str, float], fig_dir: Path) -> list[Path]:
    """Tail attribution (Monte Carlo) and Birnbaum importance (analytic)."""
    attr = sim.get("tailAttribution") or {}
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 3.6), layout="constrained")
    ax = axes[0]
    if attr:
        items = sorted(attr.items(), key=lambda kv: kv[1])
        names, vals = [k for k, _ in items], [v for _, v in items]
        bars = ax.barh(names, vals, color=COLORS["estimate"], alpha=0.8)
        ax.bar_label(bars, labels=[f"{v:.1%}" for v in vals], padding=3, fontsize=8)
        ax.set_xlim(0, min(1.0, max(vals) * 1.25 + 0.02))
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        thr = sim.get("tailAttributionThreshold")
        ax.set_title("Tail attribution" + (f" (journeys above p99 = {thr * 1e3:.0f} ms)" if thr else ""))
    else:
        ax.text(0.5, 0.5, "latency not modelled", ha="center", va="center", transform=ax.transAxes)
        ax.set_title("Tail attribution")
    ax.set_xlabel("share of slow journeys dominated by the component")
    ax.grid(axis="y", visible=False)
    ax = axes[1]
    items = sorted(birnbaum.items(), key=lambda kv: kv[1])
    names, vals = [k for k, _ in items], [v for _, v in items]
    bars = ax.barh(names, vals, color=COLORS["independent"], alpha=0.8)
    ax.bar_label(bars, labels=[f"{v:.4f}" for v in vals], padding=3, fontsize=8)
    ax.set_xlim(0, max(vals + [1e-9]) * 1.3)
    ax.set_xlabel("Birnbaum importance ∂A/∂aᵢ [probability per unit availability]")
    ax.set_title("Availability importance (analytic, independent)")
    ax.grid(axis="y", visible=False)
    return save(fig, fig_dir, "tail_attribution")


def fig_fanout(fan: dict[str, dict], sim: dict, fig_dir: Path) -> list[Path]:
    """Slow-request share and p99 amplification against fan-out width, per component."""
    fig, axes = plt.subplots(1, 2, figsize=(9.6, 4.0), layout="constrained")
    n = np.geomspace(1, 100, 200)
    ax = axes[0]
    ax.plot(n, 1 - 0.99**n, color="#1b2631", lw=1.5, label="theory 1 − 0.99ⁿ")
    for i, (cid, f) in enumerate(fan.items()):
        mc = [m for m in f["mc"] if m.get("slow") is not None]
        if mc:
            w = np.array([m["width"] for m in mc], dtype=float) * (1 + 0.04 * (i - len(fan) / 2))  # dodge overlapping points
            v = np.array([m["slow"] for m in mc])
            lo, hi = np.array([m["slowLo"] for m in mc]), np.array([m["slowHi"] for m in mc])
            ax.errorbar(w, v, yerr=[v - lo, hi - v], fmt="o", ms=4, capsize=2, color=SERIES[i % len(SERIES)], label=f"{cid} (Monte Carlo)")
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("fan-out width n [parallel calls per request]")
    ax.set_ylabel("requests with a call above that component's p99")
    ax.set_title("Share of requests that hit a p99-slow call")
    ax.legend(loc="upper left", framealpha=0.9)
    ax = axes[1]
    for i, (cid, f) in enumerate(fan.items()):
        col = SERIES[i % len(SERIES)]
        ax.plot(f["widths"], f["amplification"], "-", color=col, lw=1.4, label=f"{cid} (analytic, p99 = {f['p99'] * 1e3:.0f} ms)")
        mc = [m for m in f["mc"] if m.get("amplification") is not None]
        if mc:
            ax.plot([m["width"] for m in mc], [m["amplification"] for m in mc], "o", color=col, ms=4)
    ax.plot([], [], "o", color="#566573", ms=4, label="Monte Carlo")
    ax.set_xscale("log")
    ax.set_xlabel("fan-out width n [parallel calls per request]")
    ax.set_ylabel("p99(max of n calls) / p99(one call) [×]")
    ax.set_title("Tail amplification of the fan-out p99")
    ax.legend(loc="upper left", framealpha=0.9)
    return save(fig, fig_dir, "fanout_amplification")


def _tradeoff_panel(ax: Any, st: dict, threshold: float | None, metric: str) -> None:
    pts = [p for p in st["points"] if p.get("p99") is not None]
    x = np.array([p["extraLoad"] for p in pts])
    y = np.array([p["p99"] for p in pts])
    order = np.argsort(x)
    ax.plot(x[order], y[order], "-", color=COLORS["independent"], marker="s", ms=4, mfc="white", lw=1.3, label="analytic p99 (independent)")
    mc = [p for p in pts if p.get("mcP99") is not None]
    if mc:
        mx = np.array([p["mcExtraLoad"] for p in mc])
        my = np.array([p["mcP99"] for p in mc])
        lo = np.array([p["mcP99Lo"] for p in mc])
        hi = np.array([p["mcP99Hi"] for p in mc])
        hi = np.where(np.isfinite(hi), hi, my)
        ax.errorbar(mx, my, yerr=[np.clip(my - lo, 0, None), np.clip(hi - my, 0, None)], fmt="o", ms=3.5, capsize=2,
                    color=COLORS["estimate"], label=f"Monte Carlo p99 ({st.get('correlation', 'declared')}) ± CI")
    # label points with their setting, alternating above/below; a point too close to one already
    # labelled (in axis-relative units) stays unlabelled so that labels never pile up
    cur = st.get("current")
    span_x = max(float(np.ptp(x)), 1e-12)
    ys = np.array([p["p99"] for p in pts] + ([threshold] if threshold is not None else []))
    span_y = max(float(np.ptp(ys)), 1e-12)
    placed: list[tuple[float, float]] = []
    for k, i in enumerate(order):
        if cur is not None and abs(pts[i]["value"] - cur) < 1e-9:
            continue  # the star and its legend entry say it
        u, v = (x[i] - x.min()) / span_x, (y[i] - ys.min()) / span_y
        if any(abs(u - a) < 0.09 and abs(v - b) < 0.06 for a, b in placed):
            continue
        placed.append((u, v))
        ax.annotate(f"{pts[i]['value'] * 1e3:.0f} ms", (x[i], y[i]), textcoords="offset points", xytext=(4, 7 if k % 2 == 0 else -12),
                    fontsize=7, color="#34495e")
    if cur is not None:
        c = [p for p in pts if abs(p["value"] - cur) < 1e-9]
        if c:
            ax.plot([c[0]["extraLoad"]], [c[0]["p99"]], "*", color=COLORS["declared"], ms=13, label=f"current setting ({cur * 1e3:g} ms)")
    if threshold is not None:
        ax.axhline(threshold, color=COLORS["objective"], lw=1.2, label=f"objective {metric} ≤ {threshold * 1e3:g} ms")
    span = float(np.ptp(x)) * 100  # in percent
    decimals = 0 if span >= 5 else max(1, min(3, math.ceil(-math.log10(max(span, 1e-3))) + 1))
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=decimals))
    ax.yaxis.set_major_formatter(seconds_formatter())
    ax.set_xlabel("extra calls per journey [% of calls without it]")
    ax.set_ylabel("journey p99 latency [s]")
    ax.margins(x=0.12, y=0.15)
    ax.legend(loc="best", framealpha=0.9)


def fig_tradeoffs(hedges: list[dict], retries: list[dict], journey: Journey, fig_dir: Path) -> list[Path]:
    """p99 against extra load for hedge delays and per-try timeouts (one panel per study)."""
    studies = (hedges + retries)[:4]
    fig, axes = plt.subplots(1, len(studies), figsize=(4.9 * len(studies), 4.4), layout="constrained", squeeze=False)
    lo = journey.latency_objective
    for ax, st in zip(axes[0], studies):
        _tradeoff_panel(ax, st, lo.threshold if lo else None, lo.metric if lo else "p99")
        if st["kind"] == "hedge":
            what = "Hedge delay"
        elif st.get("hypothetical"):
            what = f"Per-try timeout of a hypothetical Retry({st['component']}, 2 attempts)"
        else:
            what = "Per-try timeout"
        ax.set_title(f"{what}\n{st['path']}", fontsize=9)
    return save(fig, fig_dir, "tradeoffs")
