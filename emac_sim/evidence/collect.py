"""Ask Prometheus what happened and hold it against the spec (``emac evidence``).

Every query of one spec is sent at once (concurrently) and evaluated at the same instant ``at``.
Bad answers never become numbers:

- the server unreachable or too slow, TLS or HTTP errors, PromQL errors, an answer that is not an
  instant vector, several series where one was expected, a good count above the total: a
  :class:`~emac_sim.errors.SpecError` (exit 2) naming the spec path of the query, the query and
  what went wrong (the first failing query in spec order);
- an empty vector, a NaN, or no requests in the window: status ``no-data`` with the reason.
"""

from __future__ import annotations

import math
import time

from ..errors import SpecError
from ..model.journey import Component, Journey
from ..units import format_duration
from .client import PrometheusClient, QueryFailed, Sample
from .estimates import availability_interval, histogram_quantile, normalise_buckets
from .queries import (
    GOOD_PATH,
    LATENCY_PATH,
    TOTAL_PATH,
    JourneyQueries,
    Telemetry,
    bucket_increase,
    component_telemetry,
    counter_increase,
    journey_queries,
)
from .report import QUANTILES, ComponentEvidence, EvidenceReport, JourneyEvidence, LatencyEvidence

DEFAULT_WINDOW = 30 * 86400.0


def default_window(journey: Journey) -> float:
    """The availability objective's window, else the evidence window, else 30 days (seconds)."""
    if journey.availability_objective is not None:
        return journey.availability_objective.window
    return journey.evidence.evidence_window or DEFAULT_WINDOW


class _Answers:
    """Query results by (spec path, query); failures become one-line errors naming both."""

    def __init__(self, file: str, client: PrometheusClient, at: float, asks: list[tuple[str, str]]) -> None:
        self.file = file
        self.results = dict(zip(asks, client.query_many([q for _, q in asks], at)))
        for (path, query), res in self.results.items():  # spec order: the first failure is reported
            if isinstance(res, QueryFailed):
                raise self.error(path, query, res.reason)

    def error(self, path: str, query: str, what: str) -> SpecError:
        return SpecError(self.file, path, f"{what}; query: {query}")

    def vector(self, path: str, query: str) -> list[Sample]:
        res = self.results[(path, query)]
        assert not isinstance(res, QueryFailed)
        return res

    def single(self, path: str, query: str) -> tuple[float | None, str | None]:
        """The one value of a query expected to return at most one series: ``(value, None)``, or
        ``(None, reason)`` for an empty vector or NaN. Several series are an error."""
        v = self.vector(path, query)
        if len(v) > 1:
            shown = ", ".join(s.describe() for s in v[:3]) + (", …" if len(v) > 3 else "")
            raise self.error(path, query, f"returned {len(v)} series where one was expected ({shown}); aggregate it, e.g. with sum(...)")
        if not v:
            return None, "no series in the window"
        if math.isnan(v[0].value):
            return None, "the query returned NaN"
        return v[0].value, None


def collect_evidence(
    journey: Journey,
    client: PrometheusClient,
    *,
    window: float | None = None,
    at: float | None = None,
    confidence: float = 0.95,
) -> EvidenceReport:
    """Observed availability (and latency) of every component and of the journey.

    Parameters
    ----------
    journey
        The spec as declared (its telemetry selectors, SLI queries and availabilities).
    client
        The Prometheus server.
    window
        Evidence window, seconds (default :func:`default_window`).
    at
        Evaluation time, Unix seconds (default: now).
    confidence
        Coverage of the Wilson intervals and of the quantile intervals.

    Returns
    -------
    EvidenceReport

    Raises
    ------
    SpecError
        A bad answer (see the module docstring), or telemetry keys of the wrong type.
    """
    w = default_window(journey) if window is None else float(window)
    t = time.time() if at is None else float(at)
    wtext = format_duration(w)
    file = journey.source
    telemetry = {c.id: component_telemetry(c, file) for c in journey.components}
    jq = journey_queries(journey, wtext, w)
    asks: list[tuple[str, str]] = []
    for tel in telemetry.values():
        if tel is None:
            continue
        if tel.good is not None and tel.total is not None:
            asks += [(tel.key_path("good"), counter_increase(tel.good, wtext)), (tel.key_path("total"), counter_increase(tel.total, wtext))]
        if tel.histogram is not None:
            asks.append((tel.key_path("histogram"), bucket_increase(tel.histogram, wtext)))
    asks += [(p, q) for p, q in ((GOOD_PATH, jq.good), (TOTAL_PATH, jq.total), (LATENCY_PATH, jq.latency)) if q is not None]
    answers = _Answers(file, client, t, asks)

    components = tuple(_component(journey, cid, tel, answers, wtext, confidence) for cid, tel in telemetry.items())
    journey_ev = _journey(journey, components, jq, answers, confidence)
    notes = []
    if jq.good is not None and jq.scale is None:
        notes.append("journey SLI counts unknown: its queries do not count over exactly the window with increase or rate")
    return EvidenceReport(file, journey.name, client.display, w, t, confidence, components, journey_ev, tuple(notes))


def _component(journey: Journey, cid: str, tel: Telemetry | None, answers: _Answers, window: str, confidence: float) -> ComponentEvidence:
    c = journey.component(cid)
    base = {"id": cid, "declared": c.availability, "declared_source": c.availability_source}
    if tel is None:
        return ComponentEvidence(**base, status="no-data", reason="no telemetry.metrics in the spec")
    latency = _latency(c, tel, answers, window, confidence) if tel.histogram is not None else None
    if tel.good is None or tel.total is None:
        return ComponentEvidence(**base, status="no-data", latency=latency, reason="no availabilityGood / availabilityTotal selectors")
    qg, qt = counter_increase(tel.good, window), counter_increase(tel.total, window)
    queries = (("good", qg), ("total", qt)) + ((("latency", bucket_increase(tel.histogram, window)),) if tel.histogram else ())
    good, why_g = answers.single(tel.key_path("good"), qg)
    total, why_t = answers.single(tel.key_path("total"), qt)
    base.update(queries=queries, latency=latency)
    if total is None:
        return ComponentEvidence(**base, status="no-data", reason=f"availabilityTotal: {why_t}")
    if total <= 0:
        return ComponentEvidence(**base, status="no-data", total=total, reason="no requests counted in the window (total 0)")
    if good is None:
        return ComponentEvidence(**base, status="no-data", total=total, reason=f"availabilityGood: {why_g}")
    if good > total * (1 + 1e-9):
        what = f"good events ({good:.6g}) exceed the total ({total:.6g}): availabilityGood must select a subset of availabilityTotal"
        raise answers.error(tel.key_path("good"), qg, what)
    good = min(good, total)
    interval = availability_interval(good, total, confidence)
    status = "drift" if c.availability > interval[1] else "consistent"
    return ComponentEvidence(**base, status=status, observed=good / total, interval=interval, good=good, total=total)


def _latency(c: Component, tel: Telemetry, answers: _Answers, window: str, confidence: float) -> LatencyEvidence:
    path, query = tel.key_path("histogram"), bucket_increase(tel.histogram or "", window)
    declared = tuple((k, float(c.latency.ppf(q))) for k, q in QUANTILES) if c.latency is not None else ()
    raw: list[tuple[float, float]] = []
    for s in answers.vector(path, query):
        le = s.label("le")
        try:
            bound = float(le) if le is not None else math.nan
        except ValueError:
            bound = math.nan
        if math.isnan(bound):
            what = f"series {s.describe()} has no numeric le label: latencyHistogram must select the _bucket series of a histogram"
            raise answers.error(path, query, what)
        raw.append((bound, s.value))
    base = {"query": query, "declared": declared}
    if not raw:
        return LatencyEvidence(**base, status="no-data", reason="no bucket series in the window")
    if any(math.isnan(v) for _, v in raw):
        return LatencyEvidence(**base, status="no-data", reason="a bucket returned NaN")
    buckets = normalise_buckets(raw)
    if not math.isinf(buckets[-1][0]):
        return LatencyEvidence(**base, status="no-data", buckets=buckets, reason="no +Inf bucket: quantiles are undefined")
    count = buckets[-1][1]
    if count <= 0:
        return LatencyEvidence(**base, status="no-data", count=count, buckets=buckets, reason="no observations in the window")
    qs = tuple(histogram_quantile(q, buckets, confidence) for _, q in QUANTILES)
    if any(q is None for q in qs):
        return LatencyEvidence(**base, status="no-data", count=count, buckets=buckets, reason="fewer than two buckets")
    return LatencyEvidence(**base, status="ok", count=count, buckets=buckets, quantiles=qs)  # type: ignore[arg-type]


def model_range(journey: Journey) -> tuple[float, float, float]:
    """(A⁻, A⁺, upper): the model's availability range, upper = max(A⁺, shared-fate maximum)."""
    from ..analytic import bounds

    av = bounds(journey).availability
    indep = float(av.independent)
    pess = float(av.pessimistic) if av.pessimistic is not None else float(av.dependence_free[0])
    sfr = av.shared_fate_range
    upper = max(indep, float(sfr[1])) if sfr else float(av.dependence_free[1])
    return pess, indep, upper


def _journey(
    journey: Journey, components: tuple[ComponentEvidence, ...], jq: JourneyQueries, answers: _Answers, confidence: float
) -> JourneyEvidence:
    pess, indep, upper = model_range(journey)
    drifted = tuple(c.id for c in components if c.drifted)
    latency, latency_reason = None, None
    if jq.latency is not None:
        latency, latency_reason = answers.single(LATENCY_PATH, jq.latency)
    elif journey.latency_objective is not None:
        latency_reason = "no latency evidence promql in the spec"
    counts_from = None if jq.scale is None else ("increase over the window" if jq.scale == 1.0 else f"rate over the window x {jq.scale:g} s")
    base = {
        "bounds": (pess, indep, upper),
        "latency_metric": jq.latency_metric or (journey.latency_objective.metric if journey.latency_objective else None),
        "latency": latency,
        "latency_reason": latency_reason,
        "queries": tuple(jq.to_dict().items()),
        "counts_from": counts_from,
        "drifted": drifted,
    }
    if jq.good is None or jq.total is None:
        return JourneyEvidence(status="no-data", reason="no objectives.availability.sli queries in the spec", **base)
    good, why_g = answers.single(GOOD_PATH, jq.good)
    total, why_t = answers.single(TOTAL_PATH, jq.total)
    if total is None:
        return JourneyEvidence(status="no-data", reason=f"totalEventQuery: {why_t}", **base)
    if total <= 0:
        return JourneyEvidence(status="no-data", reason="no journeys counted in the window (total 0)", **base)
    if good is None:
        return JourneyEvidence(status="no-data", reason=f"goodEventQuery: {why_g}", **base)
    if good > total * (1 + 1e-9):
        raise answers.error(GOOD_PATH, jq.good, f"good events ({good:.6g}) exceed the total ({total:.6g})")
    good = min(good, total)
    observed = good / total
    if jq.scale is not None:
        g, n = good * jq.scale, total * jq.scale
        interval = availability_interval(g, n, confidence)
    else:
        g = n = None
        interval = (observed, observed)
    status = "consistent" if interval[1] >= pess and interval[0] <= upper else "inconsistent"
    omb, diagnosis = None, None
    if any(c.observed is not None for c in components):
        from .overlay import observed_journey

        lo, _, hi = model_range(observed_journey(journey, components, latency=False))
        omb = (lo, hi)
    if status == "inconsistent":
        diagnosis = _diagnosis(observed, interval, (pess, upper), omb, components)
    return JourneyEvidence(
        status=status, observed=observed, interval=interval, good=g, total=n, observed_model_bounds=omb, diagnosis=diagnosis, **base
    )


def _diagnosis(
    observed: float,
    interval: tuple[float, float],
    declared_range: tuple[float, float],
    omb: tuple[float, float] | None,
    components: tuple[ComponentEvidence, ...],
) -> str:
    """Why the journey disagrees with the model: which components drifted, and whether the
    observed component availabilities would explain it."""
    side = "below" if interval[1] < declared_range[0] else "above"
    parts = [f"observed {observed:.6f} lies {side} the declared model's range [{declared_range[0]:.8f}, {declared_range[1]:.8f}]"]
    drifted = [c for c in components if c.drifted]
    if drifted:
        parts.append("drifted: " + ", ".join(f"{c.id} (observed {c.observed:.6f} < declared {c.declared:g})" for c in drifted))
    else:
        parts.append("no component drifted")
    if omb is not None:
        covers = interval[1] >= omb[0] and interval[0] <= omb[1]
        verdict = (
            "which covers what users saw: the declared component numbers are wrong"
            if covers
            else "which does not cover what users saw either: the model's structure (operators, failure domains) or its telemetry is wrong"
        )
        parts.append(f"with the observed component availabilities the model gives [{omb[0]:.8f}, {omb[1]:.8f}], {verdict}")
    return "; ".join(parts)

