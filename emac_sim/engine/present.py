"""Readable rendering of a :class:`SimulationResult` (``emac simulate`` without ``--format json``)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..core.quantiles import LATENCY_KEYS
from .result import Estimate, SimulationResult


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    if v == float("inf"):
        return "inf"
    return f"{v * 1e3:.4g}"


def print_result(res: SimulationResult, console: Console | None = None) -> None:
    """Print availability, latency quantiles, tail, Birnbaum and call tables."""
    con = console or Console(markup=False)  # ids and names are user text, never console markup
    e = res.estimate
    seed = f"{e.seed}" + (" (drawn)" if e.seed_drawn else "")
    con.print(Text.assemble((e.journey, "bold"), f": {e.expression}"))
    con.print(f"correlation: {e.correlation}   samples: {e.samples:,}   seed: {seed}   blocks: {e.blocks} x {e.block_size}")
    if e.pessimistic_shared is not None:
        con.print(f"pessimistic shared set: {', '.join(e.pessimistic_shared) or '(none)'}")
    pct = f"{100 * e.confidence:g}%"
    lo, hi = e.availability_ci
    if e.importance is not None:
        _print_importance(e, con, pct)
        tail = getattr(res, "tail", None)
        if tail is not None:
            print_tail(tail.to_dict(), con)
        return
    con.print(f"availability: {e.availability:.6f}  [{lo:.6f}, {hi:.6f}] ({pct} Wilson)  failures: {e.failures:,}")
    if e.latency is not None and e.latency_all is not None:
        t = Table(title=f"latency in ms ({pct} order-statistic intervals)")
        for col in ("quantile", "successful", "interval", "all journeys", "interval "):
            t.add_column(col, no_wrap=True)
        for q in LATENCY_KEYS:
            s, al = e.latency[q], e.latency_all[q]
            t.add_row(
                q,
                _ms(s.estimate),
                f"[{_ms(s.ci[0])}, {_ms(s.ci[1])}]",
                _ms(al.estimate),
                f"[{_ms(al.ci[0])}, {_ms(al.ci[1])}]",
            )
        con.print(t)
        if e.tail_amplification is not None:
            con.print(f"tail amplification (journey p99 / largest component p99): {e.tail_amplification:.3g}")
    t = Table(title="components")
    for col in ("component", "calls / journey", "Birnbaum", "tail share"):
        t.add_column(col)
    for cid, amp in (e.call_amplification or {}).items():
        tail = (e.tail_attribution or {}).get(cid)
        t.add_row(cid, f"{amp:.4g}", f"{(e.birnbaum or {})[cid]:.4g}", "-" if tail is None else f"{tail:.3g}")
    con.print(t)
    if e.hedge_rate is not None:
        con.print(f"hedge rate: {e.hedge_rate:.4g}")
    for note in e.notes:
        con.print(f"note: {note}")


def _print_importance(e: Estimate, con: Console, pct: str) -> None:
    """The importance-sampling summary: unavailability first (the number that is rare)."""
    info = e.importance or {}
    u = info["unavailability"]
    lo, hi = e.availability_ci
    it, pilot = info.get("ceIterations"), info.get("pilotSamples", 0)
    con.print(f"method: importance sampling (cross-entropy biasing, {it} iterations, {pilot:,} pilot samples)")
    con.print(f"unavailability: {u['estimate']:.4g}  [{u['ci'][0]:.4g}, {u['ci'][1]:.4g}] ({pct} CLT on the weighted mean)")
    con.print(f"availability: {e.availability:.9f}  [{lo:.9f}, {hi:.9f}]  biased failures: {e.failures:,}")
    eq = info.get("equivalentPlainSamples")
    con.print(
        f"effective sample size (failures, Kish): {info['effectiveSampleSize']:.1f}   max weight share: {info['maxWeightShare']:.3g}"
        + (f"   equivalent plain samples: {eq:.3g}" if eq else "")
    )
    for w in e.warnings:
        con.print(f"warning: {w}")
    for note in e.notes:
        con.print(f"note: {note}")


def print_tail(d: dict, con: Console) -> None:
    """The latency-tail table of ``--exceed`` / ``--tail`` (``TailEstimate.to_dict()``)."""
    pct = f"{100 * d['confidence']:g}%"
    t = Table(title=f"latency tail by exponential tilting ({pct} CLT intervals, all requests; quantiles at bucket edges)")
    for col in ("quantity", "estimate", "interval", "beyond", "ESS"):
        t.add_column(col, no_wrap=True)
    for x in d["exceedance"]:
        t.add_row(
            f"P(T > {_ms(x['seconds'])} ms)",
            f"{x['probability']:.3g}",
            f"[{x['ci'][0]:.3g}, {x['ci'][1]:.3g}]",
            f"{x['exceedingSamples']:,}",
            f"{x['effectiveSampleSize']:,.0f}",
        )
    for q in d["quantiles"]:
        at = q["exceedanceAtEstimate"] or {}
        hi = q["ci"][1]
        t.add_row(
            f"{q['name']} (ms)",
            _ms(q["seconds"]) if q["seconds"] is not None else "-",
            f"[{_ms(q['ci'][0])}, {_ms(hi) if hi is not None else 'inf'}]",
            f"{at.get('exceedingSamples', 0):,}",
            f"{at.get('effectiveSampleSize', 0.0):,.0f}",
        )
    con.print(t)
    for r in d["runs"]:
        con.print(f"tail run {r['target']}: theta {r['theta']:g}, {r['samples']:,} samples (+{r['pilotSamples']:,} pilot)")
