"""Demo telemetry for the paper's checkout journey, served by a local Prometheus.

``python -m emac_sim.evidence.demo`` writes 30 days of hourly counters and histograms with the
paper's selectors (``http_requests_total{service=…}``, ``payment_requests_total{provider=…}``,
``journey_requests_total{journey="checkout"}``, the ``*_bucket`` histograms), backfills them with
promtool, starts ``prometheus`` on loopback and waits for Ctrl-C (then stops it and removes the
data unless ``--dir`` was given). The truth is exact: paya succeeds 99.0 % (declared 0.995), the
other components as declared, the journey 99.3 %; latencies are lognormal, bucketed in
:data:`BUCKETS`. The window ends at :data:`CHECKOUT_END`
(``2025-06-30T00:00:00Z``): query with ``--at 2025-06-30T00:00:00Z``.
"""

from __future__ import annotations

import argparse
import math
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import special

from .localprom import LocalPrometheus, backfill, binaries
from .openmetrics import Family, Timeline, counter, histogram_increments, histogram_series, spread, write_openmetrics

CHECKOUT_END = 1751241600.0
"""2025-06-30T00:00:00Z, the end of the demo window."""
CHECKOUT_AT = "2025-06-30T00:00:00Z"

_Z99 = float(special.ndtri(0.99))
BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, math.inf)
"""Histogram buckets of the demo services (seconds): finer than the client default around 100–500 ms."""


@dataclass(frozen=True)
class CheckoutTruth:
    """What the demo data holds, exactly (availabilities are of the counts written)."""

    availability: dict[str, float] = field(default_factory=lambda: {"front": 0.9995, "cart": 0.999, "pricing": 0.999, "paya": 0.990, "payb": 0.995})
    requests: dict[str, int] = field(
        default_factory=lambda: {"front": 1_000_000, "cart": 1_000_000, "pricing": 1_000_000, "paya": 1_000_000, "payb": 400_000}
    )
    journey_availability: float = 0.993
    journey_requests: int = 1_000_000
    latency: dict[str, tuple[float, float]] = field(
        default_factory=lambda: {
            "front": (0.030, 0.160),
            "cart": (0.020, 0.080),
            "pricing": (0.027, 0.120),
            "paya": (0.120, 0.450),
            "payb": (0.140, 0.600),
            "journey": (0.180, 0.350),
        }
    )
    """(p50, p99) seconds of a lognormal per component and for the journey."""

    def good(self, cid: str) -> int:
        return self.requests[cid] - self.failures(cid)

    def failures(self, cid: str) -> int:
        return int(round(self.requests[cid] * (1.0 - self.availability[cid])))

    def lognormal_cdf(self, cid: str, x: np.ndarray) -> np.ndarray:
        p50, p99 = self.latency[cid]
        mu, sigma = math.log(p50), (math.log(p99) - math.log(p50)) / _Z99
        with np.errstate(divide="ignore"):
            return special.ndtr((np.log(np.asarray(x, dtype=np.float64)) - mu) / sigma)

    def quantile(self, cid: str, q: float) -> float:
        p50, p99 = self.latency[cid]
        sigma = (math.log(p99) - math.log(p50)) / _Z99
        return float(math.exp(math.log(p50) + sigma * special.ndtri(q)))


def _outage(tl: Timeline, day: float, hours: float, factor: float) -> np.ndarray:
    t = tl.times[1:] - tl.times[0]
    w = np.ones(len(t))
    w[(t >= day * 86400) & (t < day * 86400 + hours * 3600)] = factor
    return w


def _split(total: int, shares: dict[str, float]) -> dict[str, int]:
    keys = list(shares)
    parts = spread(total, np.array([shares[k] for k in keys]))
    return dict(zip(keys, (int(p) for p in parts)))


def checkout_families(truth: CheckoutTruth, tl: Timeline) -> list[Family]:
    """The paper's checkout telemetry over ``tl`` with ``truth``'s exact counts."""
    traffic = tl.diurnal()
    http = Family("http_requests", "counter", "HTTP requests by service and status code.")
    pay = Family("payment_requests", "counter", "Payment provider calls by result.")
    jr = Family("journey_requests", "counter", "Checkout journeys by result.")
    hist = Family("http_request_duration_seconds", "histogram", "HTTP request latency.")
    extra_hist: list[Family] = []
    for cid in ("front", "cart", "pricing", "paya", "payb"):
        n, bad = truth.requests[cid], truth.failures(cid)
        fail_weights = traffic * (_outage(tl, 20, 6, 20.0) if cid == "paya" else 1.0)
        per_step = spread(n, traffic)
        fails = spread(bad, fail_weights)
        fails = np.minimum(fails, per_step)  # a step never fails more calls than it served
        if fails.sum() != bad:
            raise ValueError(f"{cid}: failures do not fit the traffic")
        goods = per_step - fails
        reset = tl.n // 2 - 72 if cid == "front" else None  # a restart of front, twelve days in
        if cid in ("paya", "payb"):
            pay.add_counter({"provider": cid, "result": "success"}, counter(goods))
            pay.add_counter({"provider": cid, "result": "failure"}, counter(fails))
        else:
            good_codes = _split(int(goods.sum()), {"200": 0.97, "302": 0.03} if cid == "front" else {"200": 1.0})
            bad_codes = _split(bad, {"500": 0.75, "503": 0.25})
            for code, total in (*good_codes.items(), *bad_codes.items()):
                w = goods if code in good_codes else fails
                http.add_counter({"code": code, "service": cid}, counter(spread(total, w), reset_at=reset))
        le = BUCKETS
        inc = histogram_increments(per_step, truth.lognormal_cdf(cid, np.array(le)))
        sums = np.concatenate([[0.0], np.cumsum(per_step * _mean(truth, cid))])
        if cid in ("paya", "payb"):
            fam = Family(f"{cid}_request_duration_seconds", "histogram", f"{cid} call latency.")
            fam.add_histogram({}, le, histogram_series(inc), sums)
            extra_hist.append(fam)
        else:
            hist.add_histogram({"service": cid}, le, histogram_series(inc), sums)
    n, bad = truth.journey_requests, int(round(truth.journey_requests * (1 - truth.journey_availability)))
    per_step = spread(n, traffic)
    fails = spread(bad, traffic)
    jr.add_counter({"journey": "checkout", "result": "success"}, counter(per_step - fails))
    jr.add_counter({"journey": "checkout", "result": "error"}, counter(fails))
    jh = Family("journey_latency_seconds", "histogram", "Checkout journey latency.")
    inc = histogram_increments(per_step, truth.lognormal_cdf("journey", np.array(BUCKETS)))
    jh.add_histogram({"journey": "checkout"}, BUCKETS, histogram_series(inc), np.concatenate([[0.0], np.cumsum(per_step * _mean(truth, "journey"))]))
    return [http, pay, jr, hist, *extra_hist, jh]


def _mean(truth: CheckoutTruth, cid: str) -> float:
    p50, p99 = truth.latency[cid]
    sigma = (math.log(p99) - math.log(p50)) / _Z99
    return p50 * math.exp(sigma * sigma / 2)


def checkout_timeline(end: float = CHECKOUT_END) -> Timeline:
    """30 days, hourly, ending at ``end``."""
    return Timeline(end=end, window=30 * 86400.0, step=3600.0)


def write_checkout(path: Path, truth: CheckoutTruth | None = None, timeline: Timeline | None = None) -> Path:
    """Write the checkout demo data as OpenMetrics text to ``path``."""
    return write_openmetrics(path, checkout_families(truth or CheckoutTruth(), timeline or checkout_timeline()), timeline or checkout_timeline())


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Serve the checkout demo data until interrupted."""
    ap = argparse.ArgumentParser(prog="python -m emac_sim.evidence.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, help="Keep the data here (default: a temporary directory, removed on exit).")
    ap.add_argument("--port", type=int, help="Listen on 127.0.0.1:PORT (default: a free port).")
    ap.add_argument("--paya", type=float, default=0.990, help="paya's true availability (default 0.990).")
    ap.add_argument("--journey", type=float, default=0.993, help="The journey's true availability (default 0.993).")
    args = ap.parse_args(argv)
    prom, promtool = binaries()
    if prom is None or promtool is None:
        print("needs prometheus and promtool on PATH (Debian/Ubuntu: apt-get install prometheus)", file=sys.stderr)
        return 2
    base = args.dir if args.dir is not None else Path(tempfile.mkdtemp(prefix="emac-demo-prometheus-"))
    try:
        base.mkdir(parents=True, exist_ok=True)
        truth = CheckoutTruth(
            availability={**CheckoutTruth().availability, "paya": args.paya},
            journey_availability=args.journey,
        )
        data = write_checkout(base / "checkout.om", truth)
        storage = base / "tsdb"
        if storage.exists():
            shutil.rmtree(storage)
        backfill(data, storage, promtool)
        server = LocalPrometheus(storage, base, binary=prom, port=args.port)
        server.start()
        print(f"Prometheus ready at {server.url} (demo data: 30 days ending {CHECKOUT_AT}; started in {server.startup_seconds:.1f} s)")
        print(f"  emac evidence ../shared/reference/paper-checkout/spec/emac.checkout.yaml --prometheus {server.url} --at {CHECKOUT_AT}")
        print("Ctrl-C stops it.", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
