"""Readable rendering of a :class:`SimulationResult` (``emac simulate`` without ``--format json``)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .result import SimulationResult


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    if v == float("inf"):
        return "inf"
    return f"{v * 1e3:.4g}"


def print_result(res: SimulationResult, console: Console | None = None) -> None:
    """Print availability, latency quantiles, tail, Birnbaum and call tables."""
    con = console or Console(markup=False)  # ids and names are user text, never console markup
    d = res.to_dict()
    seed = f"{d['seed']}" + (" (drawn)" if d["seedDrawn"] else "")
    con.print(Text.assemble((d["journey"], "bold"), f": {d['expression']}"))
    con.print(f"correlation: {d['correlation']}   samples: {d['samples']:,}   seed: {seed}   blocks: {d['blocks']} x {d['blockSize']}")
    if "pessimisticShared" in d:
        con.print(f"pessimistic shared set: {', '.join(d['pessimisticShared']) or '(none)'}")
    a = d["availability"]
    pct = f"{100 * d['confidence']:g}%"
    con.print(f"availability: {a['estimate']:.6f}  [{a['ci'][0]:.6f}, {a['ci'][1]:.6f}] ({pct} Wilson)  failures: {a['failures']:,}")
    if d["latency"] is not None:
        t = Table(title=f"latency in ms ({pct} order-statistic intervals)")
        for col in ("quantile", "successful", "interval", "all journeys", "interval "):
            t.add_column(col, no_wrap=True)
        for q in ("p50", "p90", "p99", "p999"):
            s, al = d["latency"][q], d["latencyAll"][q]
            t.add_row(
                q,
                _ms(s["estimate"]),
                f"[{_ms(s['ci'][0])}, {_ms(s['ci'][1])}]",
                _ms(al["estimate"]),
                f"[{_ms(al['ci'][0])}, {_ms(al['ci'][1])}]",
            )
        con.print(t)
        if d["tailAmplification"] is not None:
            con.print(f"tail amplification (journey p99 / largest component p99): {d['tailAmplification']:.3g}")
    t = Table(title="components")
    for col in ("component", "calls / journey", "Birnbaum", "tail share"):
        t.add_column(col)
    for cid, amp in d["callAmplification"].items():
        tail = d["tailAttribution"].get(cid)
        t.add_row(cid, f"{amp:.4g}", f"{d['birnbaum'][cid]:.4g}", "-" if tail is None else f"{tail:.3g}")
    con.print(t)
    if d["hedgeRate"] is not None:
        con.print(f"hedge rate: {d['hedgeRate']:.4g}")
    for note in d["notes"]:
        con.print(f"note: {note}")
