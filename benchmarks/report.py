"""The benchmark report: Markdown and plots generated from the measured results only.

:func:`targets` turns the results into issue 15's target table (figure, target, measured, load,
verdict) and :func:`checks` into issue 8's further checks; :func:`explanations` writes, for each
target not met, the measured figure, what the profile says the time goes to and what would close
the gap; :func:`report` lays out every section. Nothing here measures: every number comes from
the results of :func:`benchmarks.run.measure`.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path
from typing import Any

from . import QUIET_OTHERS_CORES, cpu_count, load_average
from .profile import GENERATED, NUMBA_OWN

HAND_RATIO = 1.5  # engine time / hand-kernel time
NUMPY_SPEEDUP = {"checkout": 3.0, "staged-30": 5.0}
NS_PER_CALL = 30.0  # at 1,000 leaves
NS_PER_CALL_LEAVES = 1000
COLD_START = 8.0  # seconds
WARM_START = 1.5
COMPILE_30 = 5.0  # seconds per new 30-leaf structure
COMPILE_LEAVES = 30
THREADS = 1.8
FLAT_MEMORY = 1.10  # largest / smallest peak RSS
FLAT_THROUGHPUT = 1.5  # max / min throughput over sizes ≥ 1e6
LINEAR = (0.85, 1.15)  # log-log slope of seconds per request against leaves
ORDERS = 100.0  # SimPy: "orders of magnitude"

# --------------------------------------------------------------------------- formatting


def fmt(x: Any, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits; ``—`` for None or non-finite."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.{digits}g}"


def n_(x: float) -> str:
    """Sample counts as 1e5, 2.5e6 …"""
    mant, exp = f"{x:.1e}".split("e")
    return f"{mant.rstrip('0').rstrip('.')}e{int(exp)}"


def load_cell(load: dict | None) -> str:
    """``1-min load average / CPUs used by other processes`` of a measurement."""
    if not load:
        return "—"
    others = load.get("othersCores")
    return f"{load['load1']:.2f} / " + (f"{others:.2f}" if others is not None and math.isfinite(others) else "—")


LOAD_HEADER = "load (1-min avg / others' CPUs)"


def ok(res: Any) -> bool:
    """A section that produced results (not an error record)."""
    return isinstance(res, (dict, list)) and not (isinstance(res, dict) and "error" in res)


def na(res: Any) -> str | None:
    """Why a section has no results (None when it has)."""
    if res is None:
        return "not available: not run"
    if isinstance(res, dict) and "error" in res:
        msg = str(res["error"])
        return msg if msg.startswith(("not available", "not run")) else f"not available: {msg}"
    return None


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def label(journey: str) -> str:
    return {"checkout": "checkout", "staged-30": "30-leaf retries + hedges"}.get(journey, journey)


def _met(good: bool | None) -> str:
    return "—" if good is None else ("**met**" if good else "**not met**")


def _yes(b: bool) -> str:
    return "yes" if b else "**no**"


def _draws_text(per_request: dict[str, float], per: float = 1.0) -> str:
    """``2 uniform, 7.2 normal, 4.1 exp`` (per request, or per call with ``per`` = calls)."""
    parts = []
    for kind, k in sorted(per_request.items(), key=lambda kv: -kv[1]):
        name = f"gamma (shape {float(kind[6:]):.3g})" if kind.startswith("gamma:") else kind
        parts.append(f"{k / per:.2g} {name}")
    return ", ".join(parts)


# --------------------------------------------------------------------------- results lookups


def _leaves_row(res: dict, leaves: int) -> dict | None:
    lv = res.get("leaves")
    if not ok(lv):
        return None
    return next((x for x in lv["rows"] if x["leaves"] == leaves), None)


def _samples_rows(res: dict) -> list[dict]:
    rows = [x for x in res.get("samples") or [] if isinstance(x, dict) and "msps" in x] if ok(res.get("samples")) else []
    bil = res.get("billion")
    if isinstance(bil, dict) and bil.get("ran") and "msps" in bil.get("row", {}):
        rows = rows + [bil["row"]]
    return rows


def _busiest(loads: list[dict | None]) -> dict | None:
    """The load record of the busiest of several measurements (most CPUs used by others)."""
    loads = [x for x in loads if x]
    return max(loads, key=lambda x: x.get("othersCores", 0.0)) if loads else None


def _threads_judged(row: dict) -> bool:
    return bool(row["load"].get("quiet"))


# --------------------------------------------------------------------------- targets


def targets(res: dict) -> list[dict]:
    """Issue 15's targets: ``figure, target, measured, load, verdict, key, good`` per row (``good``
    None when not measured or not judged)."""
    rows: list[dict] = []

    def add(key: str, figure: str, target: str, measured: str, load: dict | None, good: bool | None, verdict: str | None = None) -> None:
        rows.append(
            {
                "key": key,
                "figure": figure,
                "target": target,
                "measured": measured,
                "load": load_cell(load),
                "good": good,
                "verdict": verdict or _met(good),
            }
        )

    hand = res.get("hand")
    for det, key in ((False, "ratio"), (True, "ratioDetails")):
        fig = f"Engine vs the hand-specialised checkout kernel, one thread, details {'on' if det else 'off'} (time ratio)"
        if ok(hand):
            add(f"hand-{'on' if det else 'off'}", fig, f"≤ {HAND_RATIO:g}×", f"{fmt(hand[key])}×", hand["load"], hand[key] <= HAND_RATIO)
        else:
            add(f"hand-{'on' if det else 'off'}", fig, f"≤ {HAND_RATIO:g}×", "not available", None, None)
    nump = {row["journey"]: row for row in res.get("numpy") or []} if ok(res.get("numpy")) else {}
    for journey, goal in NUMPY_SPEEDUP.items():
        fig = f"Engine vs vectorised NumPy, {label(journey)} (speed-up)"
        row = nump.get(journey)
        if row:
            add(f"numpy-{journey}", fig, f"≥ {goal:g}×", f"{fmt(row['speedup'])}×", row["load"], row["speedup"] >= goal)
        else:
            add(f"numpy-{journey}", fig, f"≥ {goal:g}×", "not available", None, None)
    fig = f"ns per call, {NS_PER_CALL_LEAVES:,}-leaf staged journey, one thread (details off)"
    big = _leaves_row(res, NS_PER_CALL_LEAVES)
    if big and "nsPerCall" in big:
        add("ns-per-call", fig, f"≤ {NS_PER_CALL:g}", fmt(big["nsPerCall"]), big["load"], big["nsPerCall"] <= NS_PER_CALL)
    else:
        largest = [x for x in (res.get("leaves") or {}).get("rows", []) if "nsPerCall" in x] if ok(res.get("leaves")) else []
        why = (big or {}).get("error") or (
            f"not measured in this mode (at {largest[-1]['leaves']} leaves: {fmt(largest[-1]['nsPerCall'])})" if largest else "not available"
        )
        add("ns-per-call", fig, f"≤ {NS_PER_CALL:g}", why, None, None)
    st = res.get("startup")
    sim = st.get("simulate") if ok(st) else None
    cmd = "`emac simulate configs/checkout.yaml --samples 1e5`"
    if sim:
        add(
            "cold",
            f"Cold start (empty kernel cache), {cmd}",
            f"≤ {COLD_START:g} s",
            f"{fmt(sim['coldSeconds'])} s",
            sim["coldLoad"],
            sim["coldSeconds"] <= COLD_START,
        )
        add(
            "warm",
            "Warm start, same command",
            f"≤ {WARM_START:g} s",
            f"{fmt(sim['warmSeconds'])} s",
            sim["warmLoad"],
            sim["warmSeconds"] <= WARM_START,
        )
    else:
        add("cold", f"Cold start (empty kernel cache), {cmd}", f"≤ {COLD_START:g} s", na(st) or "not available", None, None)
        add("warm", "Warm start, same command", f"≤ {WARM_START:g} s", na(st) or "not available", None, None)
    fig = f"Kernel compile per new structure, {COMPILE_LEAVES} leaves (first result, empty cache − first result, cached)"
    c30 = _leaves_row(res, COMPILE_LEAVES)
    if c30 and "emptyCache" in c30 and "warmFirstSeconds" in c30 and c30["emptyCache"].get("firstSeconds") is not None:
        sec = c30["emptyCache"]["firstSeconds"] - c30["warmFirstSeconds"]
        add("compile", fig, f"≤ {COMPILE_30:g} s", f"{fmt(sec)} s", c30["emptyCache"]["load"], sec <= COMPILE_30)
    else:
        add("compile", fig, f"≤ {COMPILE_30:g} s", (c30 or {}).get("error") or "not measured in this mode", None, None)
    srows = _samples_rows(res)
    bil = res.get("billion") or {}
    if srows:
        rss = [x["peakRssMb"] for x in srows]
        span = f"{n_(srows[0]['samples'])} … {n_(srows[-1]['samples'])}"
        missing = "" if srows[-1]["samples"] >= 1e9 else f"; 1e9 not run: {bil.get('why', 'not run')}"
        add(
            "memory",
            f"Peak memory vs samples, {span} (2 threads, a fresh process each{missing})",
            f"flat (max/min ≤ {FLAT_MEMORY:g})",
            f"{fmt(min(rss), 4)} → {fmt(max(rss), 4)} MiB",
            _busiest([x["load"] for x in srows]),
            max(rss) / min(rss) <= FLAT_MEMORY,
        )
    else:
        add("memory", "Peak memory vs samples", f"flat (max/min ≤ {FLAT_MEMORY:g})", na(res.get("samples")) or "not available", None, None)
    th = res.get("threads")
    for row in th if ok(th) else []:
        fig = f"Threads 1 → 2, {label(row['journey'])}, details {'on' if row['details'] else 'off'} (speed-up, wall)"
        if _threads_judged(row):
            add(
                f"threads-{row['journey']}-{row['details']}",
                fig,
                f"≥ {THREADS:g}×",
                f"{fmt(row['speedup'])}×",
                row["load"],
                row["speedup"] >= THREADS,
            )
        else:
            verdict = f"cannot be judged: other processes used {fmt(row['load']['othersCores'], 2)} CPUs"
            add(f"threads-{row['journey']}-{row['details']}", fig, f"≥ {THREADS:g}×", f"{fmt(row['speedup'])}×", row["load"], None, verdict)
    if not ok(th):
        add("threads", "Threads 1 → 2", f"≥ {THREADS:g}×", na(th) or "not available", None, None)
    return rows


def checks(res: dict) -> list[dict]:
    """Issue 8's further checks, in the same row format as :func:`targets`."""
    rows: list[dict] = []

    def add(figure: str, target: str, measured: str, load: dict | None, good: bool | None) -> None:
        rows.append({"figure": figure, "target": target, "measured": measured, "load": load_cell(load), "good": good, "verdict": _met(good)})

    if ok(res.get("numpy")):
        agree = all(row["agreement"]["all"] for row in res["numpy"])
        add("NumPy agrees with the engine within intervals", "agree", "yes" if agree else "no", None, agree)
    for row in res.get("simpy") or [] if ok(res.get("simpy")) else []:
        add(
            f"Engine vs SimPy, {label(row['journey'])} (speed-up)", f"≥ {ORDERS:g}×", f"{fmt(row['speedup'])}×", row["load"], row["speedup"] >= ORDERS
        )
    if ok(res.get("simpy")):
        agree = all(row["agreement"]["all"] for row in res["simpy"])
        add("SimPy agrees with the engine within intervals", "agree", "yes" if agree else "no", None, agree)
    hand = res.get("hand")
    if ok(hand):
        add(
            "Hand kernel agrees with the engine (availability within 5σ, p99 intervals overlap)",
            "agree",
            "yes" if hand["agree"] else "no",
            None,
            hand["agree"],
        )
    srows = _samples_rows(res)
    if srows:
        big = [x["msps"] for x in srows if x["samples"] >= 1_000_000] or [x["msps"] for x in srows]
        add(
            f"Throughput vs samples ({n_(srows[0]['samples'])} … {n_(srows[-1]['samples'])}, 2 threads)",
            f"flat (max/min ≤ {FLAT_THROUGHPUT:g})",
            f"max/min {fmt(max(big) / min(big))}",
            _busiest([x["load"] for x in srows]),
            max(big) / min(big) <= FLAT_THROUGHPUT,
        )
    lv = res.get("leaves")
    good_rows = [x for x in lv["rows"] if "nsPerCall" in x] if ok(lv) else []
    if len(good_rows) >= 2:
        lo, hi = LINEAR
        add(
            f"Time per request vs leaves ({good_rows[0]['leaves']} … {good_rows[-1]['leaves']}), details off",
            f"linear (log-log slope {lo:g} … {hi:g})",
            f"slope {fmt(lv['slope'])}",
            _busiest([x["load"] for x in good_rows]),
            lo <= lv["slope"] <= hi,
        )
    an = res.get("analytic")
    if ok(an) and "seconds" in an:
        goal = an.get("targetSeconds", 2.0)
        add(
            f"Analytic bounds, {an.get('leaves', 200)}-leaf journey", f"< {goal:g} s", f"{fmt(an['seconds'])} s", an.get("load"), an["seconds"] < goal
        )
    return rows


# --------------------------------------------------------------------------- explanations


def _largest(parts: dict[str, float]) -> str:
    return max(parts, key=lambda k: parts[k])


def _why_hand(hand: dict, det: bool) -> list[str]:
    key = "on" if det else "off"
    ratio = hand["ratioDetails" if det else "ratio"]
    if ratio <= HAND_RATIO:
        return []
    head = f"- **Engine vs hand kernel, details {key}: {fmt(ratio)}×** (target ≤ {HAND_RATIO:g}×, {hand['samples']:,} requests, one thread)."
    prof = hand.get("profile")
    if not prof:
        return [head + " No draw-cost profile was measured in this run."]
    e, h = prof[key], prof["hand"]
    draws = hand["engineDraws"]["perRequest"]
    gap = {
        "the fixed cost of the `simulate` call": e["fixedNs"] - h["fixedNs"],
        "draws": e["drawNs"] - h["drawNs"],
        "control flow, parameter loads and bookkeeping": e["restNs"] - h["restNs"],
    }
    fixed_ms = 1e3 * hand["fixedSeconds"][key]
    parts = f"code generation {fmt(1e3 * hand['codegenSeconds'])} ms"
    if det and hand.get("birnbaumSeconds") is not None:
        parts += f", the exact Birnbaum importance {fmt(1e3 * hand['birnbaumSeconds'])} ms"
    text = (
        f"{head} Per request the engine spends {fmt(e['nsPerRequest'])} ns, the hand kernel {fmt(h['nsPerRequest'])} ns. "
        f"Draws: {fmt(e['drawNs'])} ns for the engine's {_draws_text(draws)} against {fmt(h['drawNs'])} ns for the hand kernel's "
        f"{_draws_text(hand['handDraws'])} (each draw timed alone, section 1). The fixed cost of a `simulate` call, "
        f"{fmt(fixed_ms)} ms ({parts} of it), adds {fmt(e['fixedNs'])} ns per request "
        f"at this size. The rest — control flow, parameter loads, the histogram"
        + (", calls, hedges and attribution" if det else "")
        + f" — is {fmt(e['restNs'])} ns against the hand kernel's {fmt(h['restNs'])} ns. "
        f"Most of the {fmt(e['nsPerRequest'] - h['nsPerRequest'])} ns gap is {_largest(gap)} ({fmt(max(gap.values()))} ns)."
    )
    need = e["nsPerRequest"] - HAND_RATIO * h["nsPerRequest"]
    cause = _largest(gap)
    if cause == "draws":
        fix = "fewer or cheaper draws per request"
    elif cause.startswith("the fixed cost"):
        fix = "a cheaper `simulate` call: compute once per structure (or per journey) what does not change between calls"
    elif det:
        fix = (
            f"cheaper bookkeeping in the kernel: details add {fmt(prof['on']['restNs'] - prof['off']['restNs'])} ns per request "
            "inside the kernel (calls, hedge flags, the dominant component and the joint histogram)"
        )
    else:
        fix = "leaner generated code around the draws"
        if h["restNs"] > 0:
            fix += f" (the hand kernel's control flow and histogram take {fmt(h['restNs'])} ns)"
    return [text + f" To close it the engine must shed {fmt(need)} ns per request: {fix}."]


def _why_numpy(row: dict) -> list[str]:
    goal = NUMPY_SPEEDUP.get(row["journey"])
    if goal is None or row["speedup"] >= goal:
        return []
    calls = row["engineDraws"]["callsPerRequest"]
    eng_req = 1e3 / row["engineMsps"]
    np_req = 1e3 / row["numpyMsps"]
    evals = row["numpyLeafEvaluationsPerRequest"]
    eng_call = eng_req / calls
    draw_call = row["engineDrawNsPerRequest"] / calls
    need = np_req / goal / calls
    text = (
        f"- **NumPy, {label(row['journey'])}: {fmt(row['speedup'])}×** (target ≥ {goal:g}×). NumPy takes {fmt(np_req)} ns per request: "
        f"{evals} leaf evaluations (every attempt and hedge computed for every request, then masked) of {fmt(np_req / evals)} ns each. "
        f"The engine takes {fmt(eng_req)} ns per request for {fmt(calls)} calls: {fmt(eng_call)} ns per call, of which its draws "
        f"({_draws_text(row['engineDraws']['perRequest'], calls)} per call) cost {fmt(draw_call)} ns. "
    )
    if need < draw_call:
        text += (
            f"Reaching {goal:g}× needs ≤ {fmt(need)} ns per call, less than the draws alone cost: out of reach while every draw is "
            "a separate `Generator` method call; it would take cheaper random numbers (e.g. filled in bulk per block) as well as "
            "leaner control flow."
        )
    else:
        text += f"Reaching {goal:g}× needs ≤ {fmt(need)} ns per call: {fmt(eng_call - need)} ns less per call outside the draws."
    return [text]


def _why_ns_per_call(row: dict, rows: list[dict], inline_limit: int | None) -> list[str]:
    if row["nsPerCall"] <= NS_PER_CALL:
        return []
    calls = row["callsPerRequest"]
    draw = row.get("drawNsPerCall")
    text = f"- **ns per call at {row['leaves']:,} leaves: {fmt(row['nsPerCall'])}** (target ≤ {NS_PER_CALL:g}; {fmt(calls)} calls per request). "
    if draw is not None:
        text += (
            f"The draws ({_draws_text(row['draws']['perRequest'], calls)} per call) cost {fmt(draw)} ns per call; control flow, "
            f"parameter loads and the calls between generated pieces {fmt(row['nsPerCall'] - draw)} ns. "
        )
    small = [x for x in rows if "nsPerCall" in x and x["leaves"] < row["leaves"]]
    if small:
        text += "Smaller journeys: " + ", ".join(f"{x['leaves']} leaves {fmt(x['nsPerCall'])} ns" for x in small) + ". "
    if inline_limit is not None:
        text += f"Journeys of more than {inline_limit} operator nodes are split into outlined pieces (column 'pieces' in 4.2). "
    text += (
        f"Not counted per call: the fixed cost of each `simulate` call at this size, {fmt(row['fixedSeconds'])} s "
        f"(code generation and the result), about {row['fixedSeconds'] / row['secondsPerRequest']:,.0f} requests' worth. "
    )
    if draw is not None and draw >= NS_PER_CALL:
        text += f"To close it: the draws alone exceed {NS_PER_CALL:g} ns per call, so cheaper random numbers first."
    elif draw is not None:
        text += f"To close it: {fmt(row['nsPerCall'] - NS_PER_CALL)} ns less per call outside the draws (their {fmt(draw)} ns fit the budget)."
    return [text]


def _why_cold(sim: dict) -> list[str]:
    if sim["coldSeconds"] <= COLD_START:
        return []
    text = f"- **Cold start: {fmt(sim['coldSeconds'])} s** (target ≤ {COLD_START:g} s; warm start {fmt(sim['warmSeconds'])} s). "
    groups = (sim.get("profile") or {}).get("coldCompiles") or {}
    if not groups:
        return [text + "No compile profile was taken in this run."]
    total = sum(g["seconds"] for g in groups.values())
    gen = groups.get(GENERATED, {"seconds": 0.0})["seconds"]
    own = groups.get(NUMBA_OWN, {"seconds": 0.0})["seconds"]
    lib = total - gen - own
    text += (
        f"A profiled cold run spent {fmt(total)} s compiling {sum(g['functions'] for g in groups.values())} numba functions: "
        + ", ".join(f"{name} {fmt(g['seconds'])} s ({g['functions']})" for name, g in list(groups.items())[:6])
        + ". "
    )
    if lib >= gen:
        text += (
            f"To close it: {fmt(lib)} s of that compiles emac-sim's library functions, the same for every journey; compiled once "
            f"at installation (or ahead of time) they would leave the journey's own kernels ({fmt(gen)} s, with numba's "
            f"implementations they call, {fmt(own)} s) and the warm start."
        )
    else:
        text += (
            f"To close it: the journey's generated kernels take {fmt(gen)} s to compile (and numba's implementations they call "
            f"{fmt(own)} s) — less generated code per command (one variant, smaller functions)."
        )
    return [text]


def _warm_parts(prof: dict) -> dict[str, float]:
    """A warm start's parts (seconds): interpreter start and exit, every import from ``import
    emac_sim.cli`` on (the command's lazy ones included: their share of a ``-X importtime``
    process applied to this one), and the rest of the command."""
    start_exit = max(0.0, prof["processSeconds"] - prof["importSeconds"] - prof["mainSeconds"])
    work = prof["importSeconds"] + prof["mainSeconds"]
    imports = prof.get("importShare", 0.0) * work
    return {"interpreter start and exit (with the harness's imports)": start_exit, "imports": imports, "the command's own work": work - imports}


def _why_warm(sim: dict) -> list[str]:
    if sim["warmSeconds"] <= WARM_START:
        return []
    text = f"- **Warm start: {fmt(sim['warmSeconds'])} s** (target ≤ {WARM_START:g} s). "
    prof = sim.get("profile")
    if not prof:
        return [text + "No profile was taken in this run."]
    parts = _warm_parts(prof)
    pk = prof.get("importByPackage") or {}
    by = prof.get("warmByPackage") or {}
    total_by = sum(by.values()) or 1.0
    text += (
        f"A warm process running the command in-process took {fmt(prof['processSeconds'])} s: "
        + ", ".join(f"{k} {fmt(v)} s" for k, v in parts.items())
        + " (imports by package: "
        + ", ".join(f"{k} {fmt(v)} s" for k, v in list(pk.items())[:5])
        + "; the command's profile by package: "
        + ", ".join(f"{k} {100 * v / total_by:.0f} %" for k, v in list(by.items())[:5])
        + "). "
    )
    big = _largest(parts)
    if big == "imports" and pk:
        fix = f"import less ({', '.join(list(pk)[:3])} lead)"
    elif big == "the command's own work" and by:
        fix = f"less work in the command ({next(iter(by))} leads its profile)"
    else:
        fix = "less work at interpreter start and exit"
    return [text + f"To close it: {fmt(sim['warmSeconds'] - WARM_START)} s less; the largest part is {big} ({fmt(parts[big])} s): {fix}."]


def _why_compile(row: dict, rows: list[dict], inline_limit: int | None) -> list[str]:
    empty = row["emptyCache"]
    sec = empty["firstSeconds"] - row["warmFirstSeconds"]
    if sec <= COMPILE_30:
        return []
    structure = row["compileSeconds"]
    groups = empty.get("compiles") or {}
    gen = groups.get(GENERATED, {"seconds": 0.0, "functions": 0})
    text = (
        f"- **Compile per new structure, {row['leaves']} leaves: {fmt(sec)} s** (target ≤ {COMPILE_30:g} s). With emac-sim's library "
        f"functions already in the cache the structure alone takes {fmt(structure)} s; "
        + (
            f"the library functions the rest ({fmt(sec - structure)} s). "
            if sec > structure
            else f"the library functions made no measurable difference (the two runs differ by {fmt(sec - structure)} s). "
        )
        + "numba compile time in the empty-cache run: "
        + ", ".join(f"{name} {fmt(g['seconds'])} s ({g['functions']})" for name, g in list(groups.items())[:5])
        + ". "
    )

    def pieces(x: dict) -> bool | None:
        return None if inline_limit is None else _nodes(x["leaves"]) > inline_limit

    measured = [x for x in rows if "compileSeconds" in x]
    if len(measured) > 1:
        text += (
            "Compile time of each structure measured: "
            + ", ".join(
                f"{x['leaves']} leaves {fmt(x['compileSeconds'])} s" + {True: " (pieces)", False: " (one function)", None: ""}[pieces(x)]
                for x in measured
            )
            + ". "
        )
    if structure <= COMPILE_30:
        return [text + "To close it: ship the library functions compiled (they are the same for every journey); the structure alone fits."]
    size = f", {row['sourceLines']:,} lines of generated source" if row.get("sourceLines") else ""
    text += f"To close it: the journey's own {gen['functions']} generated functions ({fmt(gen['seconds'])} s{size}) must compile faster"
    faster = [x for x in measured if x["leaves"] > row["leaves"] and pieces(x) and not pieces(row) and x["compileSeconds"] <= structure]
    if faster:
        x = faster[0]
        text += (
            f": the larger {x['leaves']}-leaf journey, split into outlined pieces, compiles in {fmt(x['compileSeconds'])} s, so "
            f"splitting journeys below the inline limit ({inline_limit} nodes; this one has {_nodes(row['leaves'])}) would cut it, "
            f"at a run-time cost ({fmt(row['nsPerCall'])} ns per call here, {fmt(x['nsPerCall'])} in pieces)."
        )
    else:
        text += " — less code per structure."
    return [text]


def _why_memory(rows: list[dict]) -> list[str]:
    rss = [x["peakRssMb"] for x in rows]
    if max(rss) / min(rss) <= FLAT_MEMORY:
        return []
    lo, hi = min(rows, key=lambda x: x["peakRssMb"]), max(rows, key=lambda x: x["peakRssMb"])
    grow = hi["peakRssMb"] - hi["warmRssMb"]
    return [
        f"- **Peak memory: {fmt(lo['peakRssMb'], 4)} MiB at {n_(lo['samples'])} → {fmt(hi['peakRssMb'], 4)} MiB at {n_(hi['samples'])}** "
        f"(flat means max/min ≤ {FLAT_MEMORY:g}). The largest run grew {fmt(grow, 4)} MiB after its warm-up over {hi['blocks']:,} blocks "
        f"({fmt(1024 * grow / max(1, hi['blocks']))} KiB per block): something is kept per block; to close it, release each block's "
        "result once merged."
    ]


def _why_threads(row: dict, threads_per_core: int | None) -> list[str]:
    name = f"Threads 1 → 2, {label(row['journey'])}, details {'on' if row['details'] else 'off'}"
    if not _threads_judged(row):
        return [
            f"- **{name}: {fmt(row['speedup'])}×, cannot be judged**: other processes used {fmt(row['load']['othersCores'], 2)} CPUs "
            f"on average during the measurement (1-min load {row['load']['load1']:.2f}); a quiet machine (others ≤ {QUIET_OTHERS_CORES:g} "
            "CPUs) is needed to tell the engine's scaling from the competition."
        ]
    if row["speedup"] >= THREADS:
        return []
    text = (
        f"- **{name}: {fmt(row['speedup'])}×** (target ≥ {THREADS:g}×). The two threads kept {fmt(row['busyCores'])} CPUs busy "
        f"and used {fmt(row['cpuRatio'])}× the CPU time of one thread for the same work. "
    )
    if row["cpuRatio"] > 1.1:
        text += f"They slow each other down ({100 * (row['cpuRatio'] - 1):.0f} % more CPU for the same work). "
        if threads_per_core and threads_per_core > 1:
            text += (
                f"The CPUs are {threads_per_core} hardware threads per core: two threads share one core's execution units, "
                "which software cannot close; judge the target on two cores."
            )
        else:
            text += (
                "The machine reports one hardware thread per core, so the threads share caches or memory bandwidth (or the "
                "hypervisor places both virtual CPUs on one physical core); to close it, less memory traffic per request."
            )
    else:
        text += (
            f"A thread waits: {fmt(2 - row['busyCores'])} CPUs idle on average — serial work outside the kernel (the call's fixed "
            "cost, merging blocks in order); to close it, overlap that work with the blocks."
        )
    return [text]


def explanations(res: dict) -> list[str]:
    """Bullets for every target not met (and every one that cannot be judged): the measured figure,
    where the time goes, what would close it."""
    out: list[str] = []
    hand = res.get("hand")
    if ok(hand):
        out += _why_hand(hand, False) + _why_hand(hand, True)
    for row in res.get("numpy") or [] if ok(res.get("numpy")) else []:
        out += _why_numpy(row)
    lv = res.get("leaves")
    big = _leaves_row(res, NS_PER_CALL_LEAVES)
    if big and "nsPerCall" in big:
        out += _why_ns_per_call(big, lv["rows"], _inline_limit())
    elif big and "error" in big:
        out.append(f"- **ns per call at {NS_PER_CALL_LEAVES:,} leaves: not measured** — {big['error']}.")
    st = res.get("startup")
    if ok(st) and "simulate" in st:
        out += _why_cold(st["simulate"]) + _why_warm(st["simulate"])
    c30 = _leaves_row(res, COMPILE_LEAVES)
    if c30 and "emptyCache" in c30 and "warmFirstSeconds" in c30 and c30["emptyCache"].get("firstSeconds") is not None:
        out += _why_compile(c30, lv["rows"], _inline_limit())
    srows = _samples_rows(res)
    if srows:
        out += _why_memory(srows)
    tpc = (res.get("machine") or {}).get("threadsPerCore")
    for row in res.get("threads") or [] if ok(res.get("threads")) else []:
        out += _why_threads(row, tpc)
    return out


def _inline_limit() -> int | None:
    try:
        from emac_sim.engine.codegen import INLINE_LIMIT
    except ImportError:  # the engine was reorganised: the explanation goes without it
        return None
    return int(INLINE_LIMIT)


def _nodes(leaves: int) -> int:
    from . import journeys as J

    return sum(1 for _ in J.staged_journey(leaves).root.walk())


# --------------------------------------------------------------------------- plots


def plots(res: dict, out_dir: Path, prefix: str) -> dict[str, str]:
    """Write ``<prefix>leaves.png`` and ``<prefix>samples.png``; returns {figure: file name}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    plain = FuncFormatter(lambda v, _: f"{v:g}")

    def tidy(ax) -> None:
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(NullFormatter())
        ax.grid(True, which="both", alpha=0.3)

    files: dict[str, str] = {}
    lv, bd = res.get("leaves"), res.get("bounds")
    rows = [x for x in lv["rows"] if "nsPerCall" in x] if ok(lv) else []
    if rows:
        fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
        xs = [x["leaves"] for x in rows]
        ax = axes[0]
        ax.loglog(xs, [1e6 * x["secondsPerRequest"] for x in rows], "o-", label="details off")
        on = [(x["leaves"], x["details"]["secondsPerRequest"]) for x in rows if "secondsPerRequest" in x.get("details", {})]
        if on:
            ax.loglog([a for a, _ in on], [1e6 * b for _, b in on], "s-", label="details on")
        ax.loglog(xs, [1e6 * rows[0]["secondsPerRequest"] * x / xs[0] for x in xs], "k:", label="linear reference")
        ax.set_xlabel("leaves")
        ax.set_ylabel("µs per request (one thread, CPU, marginal)")
        ax.set_title("Run cost vs leaves")
        ax.legend(fontsize=8)
        tidy(ax)
        ax = axes[1]
        ax.loglog(xs, [max(x["compileSeconds"], 1e-3) for x in rows], "o-", color="C3", label="compile, library functions cached")
        ax.set_xlabel("leaves")
        ax.set_ylabel("seconds (wall)")
        ax.set_title("Compile time of a new structure vs leaves")
        ax.legend(fontsize=8)
        tidy(ax)
        ax = axes[2]
        if ok(bd) and bd["rows"]:
            bx = [x["leaves"] for x in bd["rows"]]
            ax.loglog(bx, [x["cpuSeconds"] for x in bd["rows"]], "o-", color="C2", label="bounds() CPU time")
            ax.loglog(bx, [bd["rows"][0]["cpuSeconds"] * x / bx[0] for x in bx], "k:", label="linear reference")
            ax.legend(fontsize=8)
        ax.set_xlabel("leaves")
        ax.set_ylabel("seconds")
        ax.set_title("Analytic bounds time vs leaves")
        tidy(ax)
        fig.tight_layout()
        name = f"{prefix}leaves.png"
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        files["leaves"] = name
    samples = _samples_rows(res)
    if samples:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        xs = [x["samples"] for x in samples]
        axes[0].semilogx(xs, [x["msps"] for x in samples], "o-")
        axes[0].set_ylim(bottom=0)
        axes[0].set_xlabel("samples per run")
        axes[0].set_ylabel("million samples / s (wall, 2 threads)")
        axes[0].set_title("Throughput vs samples (checkout)")
        axes[0].grid(True, which="both", alpha=0.3)
        axes[1].semilogx(xs, [x["peakRssMb"] for x in samples], "o-", color="C1")
        axes[1].set_ylim(bottom=0)
        axes[1].set_xlabel("samples per run")
        axes[1].set_ylabel("peak RSS of the process (MiB)")
        axes[1].set_title("Peak memory vs samples")
        axes[1].grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        name = f"{prefix}samples.png"
        fig.savefig(out_dir / name, dpi=110)
        plt.close(fig)
        files["samples"] = name
    return files


# --------------------------------------------------------------------------- the report


def _agree(a: dict) -> str:
    parts = [f"z = {a['availabilityZ']:.2f}"] + [f"{k} {'✓' if v else '✗'}" for k, v in a.items() if k.startswith("p")]
    return ("agree" if a["all"] else "**disagree**") + f" ({', '.join(parts)})"


def _estimates_table(rows: list[dict], key: str, name: str) -> str:
    body = []
    for row in rows:
        for who, d in (("engine", row["engine"]), (name, row[key])):
            lat = d.get("latency") or {}
            body.append(
                [
                    label(row["journey"]),
                    who,
                    f"{d['samples']:,}",
                    f"{d['availability']:.6f} [{d['availabilityCi'][0]:.6f}, {d['availabilityCi'][1]:.6f}]",
                ]
                + [(f"{1e3 * lat[q]['estimate']:.1f}" if q in lat else "—") for q in ("p50", "p90", "p99", "p999")]
            )
    return table(["journey", "route", "requests", "availability [99.9 % interval]", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms"], body)


def _verdict_rows(rows: list[dict]) -> list[list[str]]:
    return [[x["figure"], x["target"], x["measured"], x["load"], x["verdict"]] for x in rows]


def _section_hand(res: dict) -> list[str]:
    out = ["## 1. Engine vs the hand-specialised checkout kernel", ""]
    out.append(
        "The hand kernel (`benchmarks/bench_engine.py: checkout_by_hand`) spells issue 15's checkout "
        "(`benchmarks.journeys.checkout_lognormal()`: lognormal latencies, the payment network at rho 0.5) out in code with "
        "the fastest sampling numba offers: 12 ziggurat normals from `np.random.Generator` and 5 `exp` per journey, a "
        "log-bucket histogram. It draws in its own order, so it agrees with the engine in distribution only (checked: "
        "availability within 5σ, p99 intervals overlap). Both on one thread, interleaved; the engine is "
        "`simulate(workers=1)` with details off (as validation and sweeps run it) and on (as `emac simulate` does); "
        "ratio = engine time / hand-kernel time."
    )
    out.append("")
    hand = res.get("hand")
    if not ok(hand):
        return out + [na(hand) or "", ""]
    out.append(
        table(
            ["requests", "hand M/s", "engine M/s (details off / on)", "time ratio (off / on)", "agree", "clock", LOAD_HEADER],
            [
                [
                    f"{hand['samples']:,} × {hand['repeats']}",
                    fmt(hand["handMsps"]),
                    f"{fmt(hand['engineMsps'])} / {fmt(hand['engineDetailsMsps'])}",
                    f"{fmt(hand['ratio'])}× / {fmt(hand['ratioDetails'])}×",
                    _yes(hand["agree"]),
                    hand["clock"],
                    load_cell(hand["load"]),
                ]
            ],
        )
    )
    out.append("")
    prof = hand.get("profile")
    if prof:
        out.append(
            "Where a request's time goes (ns per request): each draw kind timed alone in a numba loop (table below) times the "
            "draws per request (the engine's counted on the reference simulator, which makes the kernels' draws in their "
            "order; the hand kernel's read off its code); the fixed cost of a `simulate` call "
            f"({hand['fixedSeconds']['samples']} samples) spread over the requests; the rest is control flow, parameter loads "
            "and bookkeeping."
        )
        out.append("")
        rows = []
        for name, key, draws in (
            ("hand kernel", "hand", hand["handDraws"]),
            ("engine, details off", "off", hand["engineDraws"]["perRequest"]),
            ("engine, details on", "on", hand["engineDraws"]["perRequest"]),
        ):
            p = prof[key]
            rows.append([name, fmt(p["nsPerRequest"]), f"{fmt(p['drawNs'])} ({_draws_text(draws)})", fmt(p["fixedNs"]), fmt(p["restNs"])])
        out.append(table(["", "ns / request", "draws ns (draws per request)", "fixed cost ns", "rest ns"], rows))
        out.append("")
        if any(prof[k]["restNs"] < 0 for k in prof):
            out.append(
                "A negative rest means the draws cost less inside that kernel than timed alone: the CPU overlaps them with the "
                "surrounding work, so the split is an estimate."
            )
            out.append("")
        birn = hand.get("birnbaumSeconds")
        out.append(
            f"The fixed cost of a call is {fmt(1e3 * hand['fixedSeconds']['off'])} ms with details off and "
            f"{fmt(1e3 * hand['fixedSeconds']['on'])} ms with details on; generating the kernel source "
            f"(`compile_journey`, kernel already loaded) takes {fmt(1e3 * hand['codegenSeconds'])} ms of it, on every call"
            + (f"; with details on, the exact Birnbaum importance (analytic layer) {fmt(1e3 * birn)} ms." if birn is not None else ".")
        )
        out.append("")
    dr = res.get("draws")
    if ok(dr):
        ns = dr["nsPerDraw"]
        out.append(
            table(
                ["draw (numba, one thread)", "ns per draw"],
                [[f"gamma, shape {float(k[6:]):.3g}" if k.startswith("gamma:") else k, fmt(v)] for k, v in ns.items()],
            )
        )
        out.append("")
        out.append(
            f"Loops of {dr['drawsPerLoop']:,} draws, {dr['clock']} of {dr['repeats']}; `exp` is a lognormal draw minus a normal "
            f"one. Load while timing the basic kinds: {load_cell(dr['load'])}."
        )
        out.append("")
    return out


def _section_numpy(res: dict) -> list[str]:
    out = ["## 2. Engine vs vectorised NumPy", ""]
    out.append(
        "`benchmarks/baselines.py: NumpyJourney` evaluates the operator tree over arrays of requests: every call, retry "
        "attempt and hedge is computed for every request and masked afterwards. Both sides include their summaries "
        "(availability interval, latency quantiles); the engine runs `simulate(workers=1, details=False)`. Process CPU "
        "time, one thread, interleaved, medians."
    )
    out.append("")
    nump = res.get("numpy")
    if not ok(nump):
        return out + [na(nump) or "", ""]
    rows = [
        [
            label(x["journey"]),
            f"{x['samples']:,} × {x['repeats']}",
            fmt(x["engineMsps"]),
            fmt(x["numpyMsps"]),
            f"{fmt(x['speedup'])}×",
            f"{fmt(x['engineDraws']['callsPerRequest'])} / {x['numpyLeafEvaluationsPerRequest']}",
            fmt(1e3 / x["engineMsps"] / x["engineDraws"]["callsPerRequest"]),
            _agree(x["agreement"]),
            load_cell(x["load"]),
        ]
        for x in nump
    ]
    head = ["journey", "requests", "engine M/s", "NumPy M/s", "speed-up", "engine calls / NumPy leaf evaluations per request", "engine ns / call"]
    out.append(table(head + ["agreement (99.9 % intervals)", LOAD_HEADER], rows))
    out.append("")
    out.append(_estimates_table(nump, "numpy", "NumPy"))
    out.append("")
    return out


def _section_simpy(res: dict) -> list[str]:
    out = ["## 3. Engine vs a SimPy discrete-event model", ""]
    out.append(
        "`benchmarks/baselines.py: SimPyJourney`: requests arrive as a Poisson stream; each request and each call is a SimPy "
        "process, fan-out and races are `AllOf` / `AnyOf` conditions, per-try timeouts and deadlines race a timeout event. "
        "Agreement pools the SimPy runs and compares with the engine's last run."
    )
    out.append("")
    sp = res.get("simpy")
    if not ok(sp):
        return out + [na(sp) or "", ""]
    rows = [
        [
            label(x["journey"]),
            f"{x['repeats']} × {x['samples']:,}",
            f"{x['simpySps']:,.0f}",
            f"{x['engineSps']:,.0f}",
            f"{x['speedup']:,.0f}×",
            _agree(x["agreement"]),
            load_cell(x["load"]),
        ]
        for x in sp
    ]
    out.append(
        table(["journey", "SimPy requests", "SimPy requests/s", "engine requests/s", "speed-up", "agreement (99.9 % intervals)", LOAD_HEADER], rows)
    )
    out.append("")
    out.append(_estimates_table(sp, "simpy", "SimPy"))
    out.append("")
    return out


def _section_samples(res: dict, r: Any, plot_files: dict[str, str]) -> list[str]:
    out = ["### 4.1 Throughput and peak memory vs samples", ""]
    out.append(
        "`simulate(checkout, samples=n, workers=2, details=False)`, each size in a fresh process after a 1e5-sample warm-up; "
        "peak RSS is that process's high-water mark (`VmHWM`), after the warm-up and at the end."
    )
    out.append("")
    if na(res.get("samples")):
        out.append(na(res.get("samples")) or "")
    else:
        srows = list(res["samples"])
        bil = res.get("billion") or {}
        if bil.get("ran") and "row" in bil:
            srows.append(bil["row"])
        rows = []
        for x in srows:
            if "error" in x:
                rows.append([n_(x["samples"]), "—", "—", "—", "—", "—", "—", f"not available: {x['error']}"])
            else:
                rows.append(
                    [
                        n_(x["samples"]),
                        str(x["repeats"]),
                        f"{x['blocks']:,}",
                        fmt(x["seconds"]),
                        fmt(x["msps"]),
                        fmt(x["warmRssMb"], 4),
                        fmt(x["peakRssMb"], 4),
                        load_cell(x["load"]),
                    ]
                )
        out.append(
            table(
                [
                    "samples",
                    "runs",
                    "blocks",
                    "seconds (median, wall)",
                    "M samples/s",
                    "peak RSS after warm-up MiB",
                    "peak RSS at end MiB",
                    LOAD_HEADER,
                ],
                rows,
            )
        )
        out.append("")
        if bil.get("ran"):
            out.append(f"1e9 samples: predicted {bil['predictedSeconds']:.0f} s from the {n_(bil['fromSamples'])} run, ran (row above).")
        else:
            out.append(f"1e9 samples: not run — {bil.get('why', 'not run')}.")
    if "samples" in plot_files:
        out += ["", f"![throughput and memory vs samples]({plot_files['samples']})"]
    out.append("")
    return out


def _section_leaves(res: dict, plot_files: dict[str, str]) -> list[str]:
    out = ["### 4.2 Compile and run cost vs leaves", ""]
    lv = res.get("leaves")
    if not ok(lv):
        return out + [na(lv) or "", ""]
    limit = _inline_limit()
    out.append(
        "Staged journeys (`benchmarks/journeys.py`: a series cycling through a retried call, a fan-out of three retried "
        "shards and a hedged pair of retried replicas) of L leaves, each measured in fresh processes. *Compile*: time to the "
        f"first result ({lv['firstSamples']:,} samples, details off) in a kernel cache holding emac-sim's library functions but "
        "not this structure, minus the same with the structure cached (wall). *Run*: on one thread, process CPU time, median of "
        f"{lv['repeats']} (details on: one run): the fixed cost of a `simulate` call ({lv['smallSamples']} samples: code generation, result) and the "
        "marginal cost per request (a large run minus the fixed cost); ns per call divides it by the calls per request "
        "(counted on the reference simulator), draws ns per call is the part the draws alone cost (section 1's table). "
        + (f"Journeys of more than {limit} operator nodes are compiled as outlined pieces. " if limit is not None else "")
        + f"Preparing the library-only cache took {fmt(lv['helpers']['seconds'])} s."
    )
    out.append("")
    rows = []
    details = any("details" in x for x in lv["rows"])
    for x in lv["rows"]:
        nodes = _nodes(x["leaves"])
        pieces = "—" if limit is None else ("yes" if nodes > limit else "no")
        if "nsPerCall" not in x:
            rows.append([str(x["leaves"]), str(nodes), pieces] + ["—"] * (7 + details) + [f"not available: {x.get('error', '?')}"])
            continue
        gen = (x.get("compiles") or {}).get(GENERATED, {})
        row = [
            str(x["leaves"]),
            str(nodes),
            pieces,
            f"{fmt(x['compileSeconds'])} ({gen.get('functions', 0)} fn" + (f", {x['sourceLines']:,} lines)" if x.get("sourceLines") else ")"),
            fmt(x["fixedSeconds"]),
            fmt(x["callsPerRequest"]),
            f"{x['requestsPerSecond']:,.0f}",
            fmt(x["nsPerCall"]),
            fmt(x.get("drawNsPerCall")),
        ]
        if details:
            d = x.get("details") or {}
            row.append(
                f"{fmt(d['nsPerCall'])} (compile {fmt(d['compileSeconds'])} s, fixed {fmt(d['fixedSeconds'])} s)"
                if "nsPerCall" in d
                else d.get("error", "—")
            )
        row.append(load_cell(x["load"]))
        rows.append(row)
    head = [
        "leaves",
        "nodes",
        "pieces",
        "compile s (generated functions)",
        "fixed s / call",
        "calls / request",
        "requests/s",
        "ns / call",
        "draws ns / call",
    ]
    out.append(table(head + (["details on: ns / call"] if details else []) + [LOAD_HEADER], rows))
    out.append("")
    out.append(
        f"Log-log slope against leaves: {fmt(lv['slope'])} for the marginal cost per request (1 = linear), "
        f"{fmt(lv['compileSlope'])} for the compile time."
    )
    empties = [x for x in lv["rows"] if "emptyCache" in x]
    for x in empties:
        e = x["emptyCache"]
        if e.get("firstSeconds") is None:
            out.append(f"\nFirst result of {x['leaves']} leaves with an empty cache: not available ({e.get('error', '?')}).")
            continue
        groups = e.get("compiles") or {}
        out.append(
            f"\nFirst result of {x['leaves']} leaves with an *empty* cache: {fmt(e['firstSeconds'])} s (load {load_cell(e['load'])}); "
            f"cached: {fmt(x.get('warmFirstSeconds'))} s. numba compile time by group: "
            + ", ".join(f"{k} {fmt(g['seconds'])} s ({g['functions']} functions)" for k, g in groups.items())
            + "."
        )
    if "leaves" in plot_files:
        out += ["", f"![cost vs leaves]({plot_files['leaves']})"]
    out.append("")
    return out


def _section_bounds(res: dict) -> list[str]:
    out = ["### 4.3 Analytic bounds vs leaves", ""]
    bd = res.get("bounds")
    if not ok(bd):
        return out + [na(bd) or "", ""]
    rows = [[str(x["leaves"]), fmt(x["cpuSeconds"]), fmt(x["seconds"]), str(x["repeats"]), load_cell(x["load"])] for x in bd["rows"]]
    out.append(table(["leaves", "bounds() CPU s (median)", "wall s", "runs", LOAD_HEADER], rows))
    out.append("")
    out.append(f"Log-log slope of CPU time against leaves: {fmt(bd['slope'])}.")
    if bd["skipped"]:
        out.append(f" Not run (a smaller journey took over {bd['maxSeconds']:g} s): {', '.join(map(str, bd['skipped']))} leaves.")
    out.append("")
    return out


def _section_threads(res: dict) -> list[str]:
    out = ["### 4.4 Threads", ""]
    th = res.get("threads")
    if not ok(th):
        return out + [na(th) or "", ""]
    rows = [
        [
            label(x["journey"]),
            "on" if x["details"] else "off",
            f"{x['samples']:,}",
            fmt(x["oneThreadMsps"]),
            fmt(x["twoThreadMsps"]),
            f"{fmt(x['speedup'])}×",
            fmt(x["busyCores"]),
            fmt(x["cpuRatio"]),
            _yes(x["identical"]),
            load_cell(x["load"]),
            "yes" if _threads_judged(x) else "**no**",
        ]
        for x in th
    ]
    head = ["journey", "details", "samples", "1 thread M/s", "2 threads M/s", "speed-up", "CPUs busy (2 threads)", "CPU time 2 / 1 threads"]
    out.append(table(head + ["identical results", LOAD_HEADER, "quiet enough to judge"], rows))
    out.append("")
    out.append(
        "`simulate(workers=1|2)`, wall time, interleaved, medians; the result dictionaries must be identical. A speed-up is "
        f"judged only when other processes used at most {QUIET_OTHERS_CORES:g} CPUs during the measurement (from /proc/stat: "
        "the machine's busy time minus this process's)."
    )
    out.append("")
    return out


def _section_startup(res: dict) -> list[str]:
    out = ["## 5. Cold and warm start", ""]
    st = res.get("startup")
    if not ok(st):
        return out + [na(st) or "", ""]
    out.append(
        "Each run a fresh process of the `emac` console script; cold = a new, empty kernel cache (`EMAC_CACHE_DIR`: every "
        "kernel compiles), warm = the cache the cold run filled. Medians."
    )
    out.append("")
    rows = []
    for command in ("simulate", "compile"):
        if command in st:
            s = st[command]
            rows.append(
                [
                    "`" + " ".join(s["argv"]) + "`",
                    fmt(s["coldSeconds"]),
                    fmt(s["coldCpuSeconds"]),
                    load_cell(s["coldLoad"]),
                    fmt(s["warmSeconds"]),
                    fmt(s["warmCpuSeconds"]),
                    load_cell(s["warmLoad"]),
                    f"{len(s['runs']['cold'])} / {len(s['runs']['warm'])}",
                ]
            )
    out.append(table(["command", "cold wall s", "cold CPU s", "cold load", "warm wall s", "warm CPU s", "warm load", "runs cold / warm"], rows))
    out.append("")
    if "compile" in st:
        out.append("`emac compile` exits 1 on the checkout by design (governance FAIL: A⁻ is below the objective).")
        out.append("")
    prof = (st.get("simulate") or {}).get("profile")
    if prof:
        out.append(
            f"Where the start of `emac simulate` goes: a warm process running the command in-process took "
            f"{fmt(prof['processSeconds'])} s (`import emac_sim.cli` {fmt(prof['importSeconds'])} s, the command "
            f"{fmt(prof['mainSeconds'])} s); the other views come from further fresh processes."
        )
        out.append("")
        parts = _warm_parts(prof)
        shares = sum(prof["warmByPackage"].values()) or 1.0
        body = [
            [
                "interpreter start and exit (with the measuring harness's own imports)",
                fmt(parts["interpreter start and exit (with the harness's imports)"]),
                "",
            ],
            [
                "imports, the command's lazy ones included (share of a `python -X importtime` run; by package: its self times)",
                fmt(parts["imports"]),
                ", ".join(f"{k} {fmt(v)} s" for k, v in list(prof["importByPackage"].items())[:6]),
            ],
            [
                "the command's own work (its cProfile shares by package, imports included)",
                fmt(parts["the command's own work"]),
                ", ".join(f"{k} {100 * v / shares:.0f} %" for k, v in list(prof["warmByPackage"].items())[:6]),
            ],
            [
                "the command with an empty cache (numba compilations by group)",
                fmt(prof["coldMainSeconds"]),
                ", ".join(f"{k} {fmt(g['seconds'])} s ({g['functions']})" for k, g in list(prof["coldCompiles"].items())[:6]),
            ],
        ]
        out.append(table(["part", "seconds", "by package / group"], body))
        out.append("")
    return out


def _section_accuracy(res: dict) -> list[str]:
    out = ["## 6. Accuracy per cost (four-nines journey)", ""]
    ac = res.get("accuracy")
    if not ok(ac):
        return out + [na(ac) or "", ""]
    out.append(f"`{ac['expression']}`; exact availability {ac['exact']:.8f} (analytic). 95 % Wilson intervals; load {load_cell(ac['runsLoad'])}.")
    out.append("")
    rows = [
        [
            n_(x["targetHalfWidth"]),
            f"{x['samples']:,}",
            fmt(x["seconds"]),
            f"{x['estimate']:.8f}",
            f"{x['halfWidth']:.2e}",
            f"{x['halfWidthPerSqrtSecond']:.2e}",
            f"{x['covering']} / {x['runs']}",
        ]
        for x in ac["runs"]
    ]
    head = ["`--target-ci`", "samples used", "seconds (wall, 2 threads)", "estimate", "half-width reached", "half-width × √seconds"]
    out.append(table(head + ["runs whose interval covers the exact value"], rows))
    out.append("")
    out.append(
        "Samples and seconds are medians over the runs (each its own seed); estimate and half-width are the last run's. "
        "A 95 % interval misses the exact value in about one run in twenty."
    )
    out.append("")
    rows = [
        [name, f"{v['samplesPerCpuSecond']:,.0f}", f"{v['halfWidthPerCpuSecond']:.2e}", fmt(v["cpuSecondsTo1e-5"]), load_cell(v["load"])]
        for name, v in ac["perMethod"].items()
    ]
    out.append(
        table(["method (one thread)", "requests / CPU-second", "half-width bought by 1 CPU-second", "CPU-seconds to ±1e-5", LOAD_HEADER], rows)
    )
    out.append("")
    out.append(
        "Half-width per CPU-second is z·√(p(1 − p)/r) at the measured rate r; halving it costs four times the samples, "
        "so the ratio of rates is the ratio of costs at any precision. The engine runs `simulate(workers=1, details=False)`."
    )
    out.append("")
    return out


def _section_dask(res: dict) -> list[str]:
    out = ["## 7. Dask: 2 threads vs 2 local workers", ""]
    dk = res.get("dask")
    if not ok(dk):
        return out + [na(dk) or "", ""]
    rows = [
        ["samples / blocks / tasks", f"{dk.get('samples', 0):,} / {dk.get('blocks')} / {dk.get('tasks')}"],
        ["2 threads", f"{fmt(dk.get('threads', {}).get('samplesPerSecond', math.nan) / 1e6)} M samples/s"],
        ["2 Dask workers (1 thread each)", f"{fmt(dk.get('dask', {}).get('samplesPerSecond', math.nan) / 1e6)} M samples/s"],
        ["Dask / threads throughput", fmt(dk.get("daskOverThreads"))],
        ["overhead per block (default batching)", f"{fmt(dk.get('overheadPerBlockMs'))} ms"],
        ["overhead per task (one 64-sample block each)", f"{fmt(dk.get('overheadPerTaskMs'))} ms"],
        ["cluster start + warm-up", f"{fmt(dk.get('clusterStartSeconds'))} s"],
        ["identical results", _yes(bool(dk.get("identical")))],
        ["repeats", str(dk.get("repeats"))],
        [LOAD_HEADER, load_cell(dk.get("load"))],
    ]
    out.append(table(["benchmarks/bench_dask.py", ""], rows))
    out.append("")
    return out


def _section_cuda(res: dict) -> list[str]:
    out = ["## 10. CUDA backend (issue 18): checkout journeys per second", ""]
    cu = res.get("cuda")
    if not ok(cu):
        return out + [na(cu) or "", ""]
    ref, goal = cu.get("referenceJourneysPerSecond", math.nan), cu.get("goal", math.nan)
    if not cu.get("measured"):
        why = cu.get("why", "not measured")
        return out + [f"{why}: the reference hand-written kernel reached {ref:.1e} journeys/s on an H100 (goal ≥ {goal:g} of it).", ""]
    off, on = cu.get("detailsOff", {}), cu.get("detailsOn", {})
    rows = [
        ["device", str(cu.get("device"))],
        ["details off (marginal)", f"{off.get('journeysPerSecond', math.nan):.3e} journeys/s"],
        ["details on (marginal)", f"{on.get('journeysPerSecond', math.nan):.3e} journeys/s"],
        ["reference (hand-written float32 kernel, H100)", f"{ref:.1e} journeys/s"],
        ["ratio to the reference (details off)", f"{fmt(cu.get('ratioToReference'))} (goal ≥ {goal:g}: {_yes(bool(cu.get('goalMet')))})"],
        ["precision", str(cu.get("precision"))],
        [LOAD_HEADER, load_cell(cu.get("load"))],
    ]
    out.append(table(["benchmarks/bench_cuda.py", ""], rows))
    out.append("")
    return out


def _section_analytic(res: dict) -> list[str]:
    out = ["## 8. Analytic bounds for a 200-leaf journey", ""]
    an = res.get("analytic")
    if not ok(an):
        return out + [na(an) or "", ""]
    out.append(
        table(
            ["benchmarks/bench_analytic.py", ""],
            [
                ["leaves / nodes / sharable domains", f"{an.get('leaves')} / {an.get('nodes')} / {an.get('sharableDomains')}"],
                ["bounds() seconds", f"{fmt(an.get('seconds'))} (best of {an.get('runs')})"],
                ["target", f"< {an.get('targetSeconds')} s: {_met(an.get('withinTarget'))}"],
                [LOAD_HEADER, load_cell(an.get("load"))],
            ],
        )
    )
    out.append("")
    return out


def _section_rare(res: dict) -> list[str]:
    from .bench_rare import section_lines

    rare = res.get("rare")
    if not ok(rare):
        return ["## 9. Rare failures: CPU seconds to ±10 % relative half-width (issue 18)", "", na(rare) or "", ""]
    return section_lines(rare)


def report(r: Any, argv: list[str], note: str | None, plot_files: dict[str, str]) -> str:
    """The Markdown report of a finished :class:`benchmarks.run.Runner`."""
    res = r.results
    m = res["machine"]
    sizes = r.sizes
    end_load = load_average()
    out: list[str] = []
    cmd = "make bench" if sizes.name == "full" else ("make bench-quick" if sizes.name == "quick" else "python -m benchmarks.run")
    out.append("# emac-sim benchmarks" + ("" if sizes.name == "full" else f" ({sizes.name} subset)"))
    out.append("")
    out.append(f"Generated by `{cmd}` (`python -m benchmarks.run {' '.join(argv)}`); do not edit by hand.")
    out.append("")
    out.append(
        table(
            ["", ""],
            [
                ["date (UTC)", _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M")],
                ["commit", f"`{m['commit']}`"],
                ["CPU", f"{m['cpu']} — {m['cpus']} CPUs available to the process ({m['logicalCpus']} logical)"],
                ["threads used", f"1 for single-thread comparisons; 2 for scaling, samples and accuracy runs ({cpu_count()} available)"],
                ["1-min load average", f"{m['loadAverage']:.2f} at start, {end_load:.2f} at end"],
                ["software", f"Python {m['python']}, NumPy {m['numpy']}, numba {m['numba']}"],
                ["mode / total time", f"{sizes.name}, {r.elapsed():.0f} s"],
            ],
        )
    )
    out.append("")
    if note:
        out += [f"> **Note.** {note}", ""]
    loads = [v.get("load") for v in res.values() if isinstance(v, dict) and isinstance(v.get("load"), dict)]
    busiest = max((x.get("othersCores", 0.0) for x in loads if x), default=0.0)
    if busiest > QUIET_OTHERS_CORES:
        out.append(
            f"> **The machine was not quiet**: other processes used up to {busiest:.2f} CPUs on average during a measurement "
            f"(of {m['cpus']}). Single-thread comparisons use process CPU time and suffer least; wall-time figures (threads, "
            "start-up, samples, Dask) are pessimistic, and thread scaling is not judged."
        )
        out.append("")
    out.append(
        f"Every figure carries the load it was measured under: the 1-minute load average when it started (it includes this "
        f"process) and the CPUs other processes used while it ran (the machine's busy time from /proc/stat minus this "
        f"process's and its children's), as `{LOAD_HEADER}`. Clocks: comparisons on one thread time process CPU time, "
        "interleaved; multi-threaded and end-to-end figures use wall time. Figures are medians of the runs stated."
    )
    out.append("")
    out += ["## Targets (issue 15)", ""]
    out.append(table(["figure", "target", "measured", LOAD_HEADER, "verdict"], _verdict_rows(targets(res))))
    out.append("")
    why = explanations(res)
    if why:
        out += ["### Targets not met or not judged: why, and what would close them", ""] + why + [""]
    out += ["### Further checks (issue 8)", ""]
    out.append(table(["figure", "target", "measured", LOAD_HEADER, "verdict"], _verdict_rows(checks(res))))
    out.append("")
    out += _section_hand(res) + _section_numpy(res) + _section_simpy(res)
    out += ["## 4. Scaling", ""]
    out += _section_samples(res, r, plot_files) + _section_leaves(res, plot_files) + _section_bounds(res) + _section_threads(res)
    out += _section_startup(res) + _section_accuracy(res) + _section_dask(res) + _section_analytic(res) + _section_rare(res) + _section_cuda(res)
    out += ["## Section times", ""]
    out.append(table(["section", "seconds"], [[k, f"{v:.1f}"] for k, v in r.seconds.items()]))
    out += [
        "",
        "<details><summary>Raw results (JSON)</summary>",
        "",
        "```json",
        json.dumps(strip(res), indent=1, default=str),
        "```",
        "",
        "</details>",
        "",
    ]
    return "\n".join(out)


def strip(obj: Any) -> Any:
    """Results without tracebacks and raw per-run lists (kept short for the report)."""
    if isinstance(obj, dict):
        return {k: strip(v) for k, v in obj.items() if k != "traceback" and not (k in ("seconds", "times") and isinstance(v, (dict, list)))}
    if isinstance(obj, list):
        return [strip(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    return obj
