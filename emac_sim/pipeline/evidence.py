"""Evidence in the pipeline: option parsing, ``emac evidence``'s output, and the
``--prometheus`` / ``--evidence`` options of compile, simulate, bounds, whatif and validate (kept
here so ``cli.py`` stays a thin typer layer)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..core.jsonio import print_json
from ..errors import SpecError
from ..evidence.client import PrometheusClient
from ..evidence.collect import collect_evidence
from ..evidence.overlay import observed_journey
from ..evidence.report import QUANTILES, EvidenceReport, LatencyEvidence, rfc3339
from ..model.journey import Journey
from ..units import format_duration, parse_duration

MODES = ("declared", "observed")


def parse_at(text: str) -> float:
    """``--at``: ``now``, Unix seconds, or RFC 3339 with a zone (``2025-06-30T00:00:00Z``)."""
    s = text.strip()
    if s == "now":
        return time.time()
    try:
        t = float(s)
    except ValueError:
        t = _rfc3339(s, text)
    if not (math.isfinite(t) and t > 0):
        raise SpecError("<command line>", "--at", f"must be a time after 1970, got {text!r}")
    return t


def _rfc3339(s: str, text: str) -> float:
    try:
        d = datetime.fromisoformat(s)
    except ValueError:
        raise SpecError("<command line>", "--at", f"expected RFC 3339 (2025-06-30T00:00:00Z), Unix seconds or now, got {text!r}") from None
    if d.tzinfo is None:
        raise SpecError("<command line>", "--at", f"{text!r} has no time zone: add Z for UTC or an offset such as +02:00")
    return d.timestamp()


def parse_window(text: str) -> float:
    """``--window``: a Prometheus-style duration (``30d``, ``7d``, ``12h``), positive, in seconds."""
    try:
        w = parse_duration(text)
    except ValueError as err:
        raise SpecError("<command line>", "--window", str(err)) from None
    if w < 0.001:
        raise SpecError("<command line>", "--window", f"must be at least 1ms, got {text!r}")
    return w


@dataclass(frozen=True)
class EvidenceRequest:
    """Where and how to read evidence; ``mode`` says whether the model uses it.

    Attributes
    ----------
    url
        Prometheus base URL as given (it may hold ``user:password@``: never shown; see ``shown``).
    shown
        The URL without credentials.
    mode
        ``declared`` (evidence reported beside the declared model) or ``observed`` (observed
        availabilities and histograms replace the declared ones).
    window
        Seconds, or ``None`` for each spec's default (:func:`~emac_sim.evidence.collect.default_window`).
    at
        Unix seconds (resolved once, so every spec of a run is read at the same instant).
    """

    url: str
    shown: str
    mode: str
    window: float | None
    at: float
    confidence: float = 0.95

    def collect(self, journey: Journey) -> EvidenceReport:
        """Query the server for ``journey``'s evidence."""
        with PrometheusClient(self.url) as client:
            return collect_evidence(journey, client, window=self.window, at=self.at, confidence=self.confidence)

    def apply(self, journey: Journey) -> tuple[Journey, EvidenceReport]:
        """The journey the model uses (observed or declared) and the evidence report."""
        report = self.collect(journey)
        return (observed_journey(journey, report) if self.mode == "observed" else journey), report

    def parameters(self, report: EvidenceReport) -> dict[str, Any]:
        """Resolved options for provenance (the window as ``report`` used it)."""
        return {"prometheus": self.shown, "evidence": self.mode, "evidenceWindow": format_duration(report.window), "evidenceAt": rfc3339(self.at)}

    def arguments(self) -> list[str]:
        """The options as a command line records them (without credentials)."""
        out = ["--prometheus", self.shown, "--evidence", self.mode, "--at", rfc3339(self.at)]
        return out + (["--window", format_duration(self.window)] if self.window is not None else [])


def evidence_request(prometheus: str | None, mode: str = "declared", window: str | None = None, at: str | None = None) -> EvidenceRequest | None:
    """Check the evidence options together; ``None`` when no ``--prometheus`` is given.

    Raises
    ------
    SpecError
        ``--evidence observed``, ``--window`` or ``--at`` without ``--prometheus``; a bad URL, time,
        window or credential environment.
    """
    if mode not in MODES:
        raise SpecError("<command line>", "--evidence", f"must be declared or observed, got {mode!r}")
    if prometheus is None:
        for given, opt in ((mode == "observed", "--evidence observed"), (window is not None, "--window"), (at is not None, "--at")):
            if given:
                raise SpecError("<command line>", opt.split()[0], f"{opt} needs --prometheus URL")
        return None
    shown = PrometheusClient(prometheus).display  # validates the URL and the credential variables
    return EvidenceRequest(
        url=prometheus,
        shown=shown,
        mode=mode,
        window=parse_window(window) if window is not None else None,
        at=parse_at(at) if at is not None else time.time(),
    )


def with_evidence(j: Journey, request: EvidenceRequest | None) -> tuple[Journey, EvidenceReport | None]:
    """With a request, read the journey's evidence and (``observed``) put it into the model."""
    if request is None:
        return j, None
    return request.apply(j)


def summary_line(report: EvidenceReport, mode: str) -> str:
    """One line for commands that print tables: where the evidence came from and what it used."""
    used = "observed values used in the model" if mode == "observed" else "reported only; the model keeps the declared values"
    comps = ", ".join(f"{c.id} {c.observed:.6f} ({c.status})" for c in report.components if c.observed is not None) or "no component data"
    return f"evidence: {report.source} over {format_duration(report.window)} at {rfc3339(report.at)}: {comps}; {used}"


# --------------------------------------------------------------------------- emac evidence


def evidence_command(spec: Path, request: EvidenceRequest, slo_paths: list[Path], as_json: bool) -> int:
    """Run ``emac evidence``; return the exit code (0 consistent, 1 drift or inconsistent)."""
    from ..spec import load_spec

    _, report = with_evidence(load_spec(spec, slo_paths=slo_paths), request)
    assert report is not None
    if as_json:
        print_json(report.to_dict())
    else:
        print_report(report)
    return report.exit_code


def _num(v: float | None, fmt: str = ".6f") -> str:
    return "–" if v is None else format(v, fmt)


def _seconds(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if math.isinf(v):
        return "∞"
    return f"{v * 1e3:.1f}ms" if v < 1 else f"{v:.3f}s"


def _edge(v: float | None) -> str:
    """A bucket bound, as short as it is exact: 25ms, 1.5s, +Inf."""
    if v is None or math.isinf(v):
        return "+Inf"
    return f"{v * 1e3:g}ms" if v < 1 else f"{v:g}s"


def _quantile_cell(lat: LatencyEvidence | None, key: str) -> str:
    if lat is None:
        return "–"
    declared = dict(lat.declared).get(key)
    qe = dict(zip((k for k, _ in QUANTILES), lat.quantiles)).get(key)
    if qe is None or qe.estimate is None:
        return "no data" if declared is None else f"– (declared {_seconds(declared)})"
    lo, hi = qe.bucket
    text = f"{_seconds(qe.estimate)} in [{_edge(lo)}, {_edge(hi)}]"
    return text + (f" (declared {_seconds(declared)})" if declared is not None else "")


def print_report(report: EvidenceReport) -> None:
    """The evidence as tables on stdout."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console(width=max(Console().width, 160))
    pct = f"{report.confidence:.0%}"
    con.print(
        f"[bold]{escape(report.journey_name)}[/bold]: evidence from {escape(report.source)} over {format_duration(report.window)} "
        f"at {rfc3339(report.at)} ({pct} Wilson intervals)",
        soft_wrap=True,
    )
    t = Table(title="components")
    for col in ("component", "declared", "observed", f"{pct} interval", "good / total", "status", "p50 observed", "p99 observed"):
        t.add_column(col, no_wrap=col not in ("p50 observed", "p99 observed"))
    for c in report.components:
        iv = f"[{c.interval[0]:.6f}, {c.interval[1]:.6f}]" if c.interval else "–"
        counts = f"{c.good:.10g} / {c.total:.10g}" if c.good is not None and c.total is not None else "–"
        lat = (_quantile_cell(c.latency, "p50"), _quantile_cell(c.latency, "p99"))
        t.add_row(escape(c.id), f"{c.declared:g}", _num(c.observed), iv, counts, c.status, *lat)
    con.print(t)
    je = report.journey
    pess, indep, upper = je.bounds
    line = "journey:"
    if je.observed is not None and je.interval is not None:
        line += f" observed {je.observed:.6f} [{je.interval[0]:.6f}, {je.interval[1]:.6f}]"
        if je.good is not None:
            line += f" ({je.good:.10g} / {je.total:.10g})"
        line += " vs"
    line += f" model A- {pess:.8f}, A+ {indep:.8f}"
    if upper > indep:
        line += f" (shared-fate max {upper:.8f})"
    line += f": {je.status}"
    if je.latency is not None:
        line += f"; observed {je.latency_metric} {_seconds(je.latency)}"
    con.print(line, soft_wrap=True, highlight=False)
    for c in report.components:
        if c.reason:
            con.print(f"no data: {escape(c.id)}: {escape(c.reason)}", soft_wrap=True, highlight=False)
        if c.latency is not None and c.latency.reason:
            con.print(f"no latency data: {escape(c.id)}: {escape(c.latency.reason)}", soft_wrap=True, highlight=False)
    for key, text in (("reason", je.reason), ("diagnosis", je.diagnosis)):
        if text:
            con.print(f"journey {key}: {escape(text)}", soft_wrap=True, highlight=False)
    if je.latency_reason:
        con.print(f"journey latency: {escape(je.latency_reason)}", soft_wrap=True, highlight=False)
    if report.drifted:
        drifts = [f"{c.id} observed {c.observed:.6f} < declared {c.declared:g}" for c in report.components if c.drifted]
        con.print("drift: " + ", ".join(drifts), highlight=False)
    for n in report.notes:
        con.print(f"note: {escape(n)}", soft_wrap=True, highlight=False)

