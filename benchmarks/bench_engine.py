"""Issue 15's hand-specialised checkout kernel, and the engine measured against it.

The hand-specialised kernel (:func:`checkout_by_hand`) is the paper's checkout with lognormal
latencies and a gaussian payment-network factor at rho 0.5
(:func:`benchmarks.journeys.checkout_lognormal`) written out by hand with the fastest sampling
numba offers: per journey 12 standard normals from ``np.random.Generator`` (PCG64, ziggurat) —
two factors, five failure latents, five latency latents — and 5 ``exp``, plus a log-bucket
latency histogram. It ignores the engine's draw order (it draws every call, hedge or not), so it
agrees with the engine in distribution only: :func:`compare_hand` checks that its availability
and p99 lie within the engine's intervals.

:func:`compare_hand` times it against ``simulate(workers=1)`` with details off and on, on one
thread, interleaved, and measures what explains the difference: the fixed cost of a
``simulate`` call, and the draws each side makes (:mod:`benchmarks.profile`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy import special

from emac_sim.core.histogram import N_BUCKETS
from emac_sim.engine import simulate
from emac_sim.kernels.histogram import bucket_index

from . import LoadMeter, median, timed
from . import journeys as J
from .draws import DrawCosts, draw_counts

SMALL = 64  # samples of a simulate call that costs only its fixed part


@njit(cache=True, nogil=True, error_model="numpy")
def checkout_by_hand(n, rng, thr, mu, sigma, rho_f, rho_l, hedge, hist_ok, hist_all):
    """``n`` checkout journeys: front, parallel(cart, pricing), race(paya, payb; hedge).

    ``thr`` are the failure thresholds Φ⁻¹(aᵢ), ``mu``/``sigma`` the lognormal parameters of
    the five components in that order; paya and payb load √rho_f on a failure factor and √rho_l
    on a latency factor. Returns the number of successful journeys.
    """
    lf, ef = math.sqrt(rho_f), math.sqrt(1.0 - rho_f)
    ll, el = math.sqrt(rho_l), math.sqrt(1.0 - rho_l)
    ok_count = 0
    for _ in range(n):
        wf = rng.standard_normal()
        wl = rng.standard_normal()
        okf = rng.standard_normal() <= thr[0]
        okc = rng.standard_normal() <= thr[1]
        okp = rng.standard_normal() <= thr[2]
        oka = lf * wf + ef * rng.standard_normal() <= thr[3]
        okb = lf * wf + ef * rng.standard_normal() <= thr[4]
        tf = math.exp(mu[0] + sigma[0] * rng.standard_normal())
        tc = math.exp(mu[1] + sigma[1] * rng.standard_normal())
        tp = math.exp(mu[2] + sigma[2] * rng.standard_normal())
        ta = math.exp(mu[3] + sigma[3] * (ll * wl + el * rng.standard_normal()))
        tb = math.exp(mu[4] + sigma[4] * (ll * wl + el * rng.standard_normal()))
        ok = okf
        t = tf
        if ok:
            ok = okc and okp
            t += max(tc, tp)
            if ok:
                if oka and ta <= hedge:  # answered before the hedge: payb is never asked
                    t += ta
                else:
                    fb = hedge + tb
                    if oka and okb:
                        t += min(ta, fb)
                    elif oka:
                        t += ta
                    elif okb:
                        t += fb
                    else:
                        ok = False
                        t += max(ta, fb)
        b = bucket_index(t)
        hist_all[b] += 1
        if ok:
            ok_count += 1
            hist_ok[b] += 1
    return ok_count


def hand_arguments(journey) -> tuple:
    """The hand kernel's parameters read from :func:`benchmarks.journeys.checkout_lognormal`."""
    order = ("front", "cart", "pricing", "paya", "payb")
    comps = [journey.component(c) for c in order]
    dom = journey.domain("payment-network")
    thr = special.ndtri(np.array([c.availability for c in comps]))
    mu = np.array([c.latency.mu for c in comps])
    sigma = np.array([c.latency.sigma for c in comps])
    race = journey.root.steps[2]  # type: ignore[attr-defined]
    return thr, mu, sigma, dom.rho, dom.latency_rho, race.hedge_delay


HAND_DRAWS = {"normal": 12.0, "exp": 5.0}
"""Draws per journey of :func:`checkout_by_hand` (read off its code)."""


def _per_request(n: int, seconds: float, fixed: float, draw_ns: float) -> dict:
    """ns per request of a run of ``n`` requests, split into the fixed cost of the call spread
    over the requests, the draws, and the rest (control flow, parameter loads, bookkeeping)."""
    total = 1e9 * seconds / n
    fixed_ns = 1e9 * fixed / n
    return {"nsPerRequest": total, "fixedNs": fixed_ns, "drawNs": draw_ns, "restNs": total - fixed_ns - draw_ns}


def _exact_birnbaum():
    """The analytic layer's exact Birnbaum importance, which ``simulate(details=True)`` computes on
    every call (None if the analytic layer no longer offers it under that name)."""
    try:
        from emac_sim.analytic import birnbaum_importance
    except ImportError:
        return None
    return birnbaum_importance


def compare_hand(n: int, repeats: int, costs: DrawCosts | None = None, seed: int = 1) -> dict:
    """Single-thread process CPU time of :func:`checkout_by_hand` and of ``simulate(workers=1)`` on
    :func:`benchmarks.journeys.checkout_lognormal`, details off (as validation and sweeps run it)
    and on (as ``emac simulate`` runs it), interleaved ``repeats`` times (medians).

    Also measured: the fixed CPU cost of a ``simulate`` call (``SMALL`` samples), of its code
    generation (``compile_journey``, the kernel already loaded) and of the exact Birnbaum
    importance it computes with details on, and the draws per request of the engine
    (:func:`benchmarks.profile.draw_counts`); with ``costs``, each side's ns per request split into
    fixed cost, draws and the rest.
    """
    from emac_sim.core.intervals import histogram_quantile
    from emac_sim.engine import compile_journey
    from emac_sim.model.scenario import named_scenario

    j = J.checkout_lognormal()
    args = hand_arguments(j)

    def hand(s: int) -> tuple[int, np.ndarray]:
        h_ok, h_all = np.zeros(N_BUCKETS, np.int64), np.zeros(N_BUCKETS, np.int64)
        return checkout_by_hand(n, np.random.default_rng(s), *args, h_ok, h_all), h_ok

    def engine(s: int, samples: int, details: bool):
        return simulate(j, samples=samples, seed=s, workers=1, details=details)

    checkout_by_hand(100, np.random.default_rng(0), *args, np.zeros(N_BUCKETS, np.int64), np.zeros(N_BUCKETS, np.int64))
    engine(seed, 1000, False)  # load (or compile) the kernels
    engine(seed, 1000, True)
    t: dict[str, list[float]] = {"hand": [], "off": [], "on": [], "fixedOff": [], "fixedOn": [], "codegen": [], "birnbaum": []}
    birnbaum = _exact_birnbaum()
    with LoadMeter() as meter:
        for r in range(repeats):
            dt, (ok_hand, h_ok) = timed(lambda r=r: hand(seed + r), 1, "cpu")
            t["hand"] += dt
            dt, res = timed(lambda r=r: engine(seed + r, n, False), 1, "cpu")
            t["off"] += dt
            t["on"] += timed(lambda r=r: engine(seed + r, n, True), 1, "cpu")[0]
            t["fixedOff"] += timed(lambda: engine(seed, SMALL, False), 1, "cpu")[0]
            t["fixedOn"] += timed(lambda: engine(seed, SMALL, True), 1, "cpu")[0]
            t["codegen"] += timed(lambda: compile_journey(j, named_scenario(j, "declared"), details=False), 1, "cpu")[0]
            if birnbaum is not None:
                t["birnbaum"] += timed(lambda: birnbaum(j, named_scenario(j, "declared")), 1, "cpu")[0]
    m = {k: median(v) for k, v in t.items() if v}
    lo, hi = res.availability_ci()
    hand_p99 = histogram_quantile(h_ok, 0.99, 0.999)
    eng_p99 = histogram_quantile(res.counts.hist_ok, 0.99, 0.999)
    p = res.availability
    out = {
        "journey": j.name,
        "samples": n,
        "repeats": repeats,
        "clock": "process CPU time, one thread, median of interleaved repeats",
        "handMsps": n / m["hand"] / 1e6,
        "engineMsps": n / m["off"] / 1e6,
        "engineDetailsMsps": n / m["on"] / 1e6,
        "ratio": m["off"] / m["hand"],
        "ratioDetails": m["on"] / m["hand"],
        "fixedSeconds": {"off": m["fixedOff"], "on": m["fixedOn"], "samples": SMALL},
        "codegenSeconds": m["codegen"],
        "birnbaumSeconds": m.get("birnbaum"),
        "handAvailability": ok_hand / n,
        "engineAvailabilityCi": [lo, hi],
        "agree": bool(
            abs(ok_hand / n - p) <= 5 * math.sqrt(p * (1 - p) * 2 / n)
            and hand_p99 is not None
            and eng_p99 is not None
            and hand_p99.ci[0] <= eng_p99.ci[1] * (1 + 1 / 256)
            and eng_p99.ci[0] * (1 - 1 / 256) <= hand_p99.ci[1]
        ),
        "handDraws": HAND_DRAWS,
        "engineDraws": draw_counts(j, 20_000),
        "load": meter.result,
        "seconds": t,
    }
    if costs is not None:
        eng_draws = costs.per_request(out["engineDraws"]["perRequest"])
        out["profile"] = {
            "hand": _per_request(n, m["hand"], 0.0, costs.per_request(HAND_DRAWS)),
            "off": _per_request(n, m["off"], m["fixedOff"], eng_draws),
            "on": _per_request(n, m["on"], m["fixedOn"], eng_draws),
        }
    return out
