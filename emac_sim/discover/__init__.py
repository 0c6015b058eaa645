"""Model discovery (DESIGN §8): traces + traffic configuration → journey models with provenance.

Pipeline::

    read_spans (readers.py)        OTLP / Jaeger / Zipkin JSON, CSV, the paper's trace evidence
                                    → one polars span table (format detected per file)
      → iter_trace_calls (calls.py) per-trace call trees (service boundaries, skew, broken traces)
      → group_journeys              journeys = root service + operation (+ route, or call signature)
      → build_journey (model.py)    operator tree (structure.py), components (stats.py),
                                    failure domains (domains.py), Istio policy (istio.py)
      → DiscoveredJourneyModel YAML (+ ModelDelta vs an accepted spec, delta.py)

With the paper's ``AcceptedJourneyModel`` as the accepted model, the journey is not re-inferred:
the evidence is laid over the accepted model (overlay.py), as in the paper's replay.

Entry points: :func:`discover` (``emac discover``) and
:func:`~emac_sim.discover.synth.write_otlp_traces` (``emac simulate --traces``).
"""

from __future__ import annotations

import contextlib
import gc
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .readers import CsvMapping, SkippedFile, read_spans
from .spans import SPAN_SCHEMA, Ledger

__all__ = ["SPAN_SCHEMA", "CsvMapping", "DiscoveryResult", "discover", "read_spans", "write_otlp_traces"]


def write_otlp_traces(journey, path, samples: int, seed: int | None, correlation: str = "declared") -> dict:  # noqa: ANN001
    """See :func:`emac_sim.discover.synth.write_otlp_traces`."""
    from .synth import write_otlp_traces as _w

    return _w(journey, path, samples, seed, correlation)


@dataclass
class DiscoveryResult:
    """What :func:`discover` found: one model per journey, files written, data quality."""

    journeys: list  # list[model.DiscoveredJourney]
    ledger: Ledger
    inputs: list
    files: dict[str, str] = field(default_factory=dict)  # journey -> model path
    deltas: dict[str, dict] = field(default_factory=dict)  # journey -> ModelDelta document
    delta_files: dict[str, str] = field(default_factory=dict)
    spans: int = 0
    traces: int = 0
    notes: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)  # files of a folder that were not read

    def to_dict(self) -> dict:
        """JSON summary (the ``--format json`` output of ``emac discover``)."""
        out: dict[str, Any] = {
            "inputs": [{"file": i.path, "format": i.format, "spans": i.spans, "sha256": i.sha256} for i in self.inputs],
            "spans": self.spans,
            "traces": self.traces,
            "dataQuality": self.ledger.to_dict(),
            "journeys": [],
            "notes": self.notes,
        }
        if self.skipped:
            out["skippedFiles"] = [{"file": f.path, "broken": f.broken, "reason": f.reason} for f in self.skipped]
        for dj in self.journeys:
            entry = {
                "name": dj.name,
                "traces": dj.traces,
                "expression": dj.journey.expression,
                "components": list(dj.journey.component_ids),
                "confidence": round(dj.overall, 6),
                "evidenceFlags": dj.flags,
                "model": self.files.get(dj.name),
            }
            if dj.name in self.deltas:
                d = self.deltas[dj.name]["spec"]
                eff = d.get("predictedEffect") or {}
                gov = d.get("governance") or {}
                entry["delta"] = {
                    "file": self.delta_files.get(dj.name),
                    "changes": len(d["changes"]),
                    "predictedEffect": d.get("predictedEffect"),
                    "governance": d.get("governance"),
                    "decision": gov.get("verdict"),
                    "aPlus": (eff.get("aPlus") or {}).get("candidate"),
                    "aMinus": (eff.get("aMinus") or {}).get("candidate"),
                    "confidence": d.get("candidateConfidence"),
                    "flags": d.get("evidenceFlags", []),
                    "redundancyGroups": redundancy_relations(dj),
                }
            out["journeys"].append(entry)
        return out


def redundancy_relations(dj: Any) -> list[dict]:
    """Each redundancy group of a discovered journey with its ``relation``: ``shared_effective_domain``
    when two of its members share a failure domain, ``possible_shared_fate`` when the evidence
    could not tell, else ``separate_effective_domains``."""
    out = []
    doms = {c.id: set(c.domains) for c in dj.journey.components}
    for g in (dj.document.get("spec") or {}).get("redundancy") or []:
        members = list(g.get("group") or [])
        rel = g.get("relation")
        if rel is None:
            sets = [doms.get(m, set()) for m in members]
            shared = any(sets[i] & sets[j] for i in range(len(sets)) for j in range(i + 1, len(sets)))
            rel = "shared_effective_domain" if shared else "separate_effective_domains"
        out.append({"id": g.get("id") or g.get("path"), "pattern": g.get("pattern"), "group": members, "relation": rel})
    return out


def discover(
    traces: list[str | os.PathLike] | str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    fmt: str = "auto",
    k8s: str | os.PathLike | None = None,
    istio: str | os.PathLike | None = None,
    accepted: str | os.PathLike | None = None,
    spec: str | os.PathLike | None = None,
    journey: str | None = None,
    csv_mapping: CsvMapping | str | None = None,
    split: str = "auto",
    confidence: float = 0.95,
    strict: bool = False,
) -> DiscoveryResult:
    """Discover journey models from traces (and Kubernetes / Istio configuration).

    Parameters
    ----------
    traces
        Trace files or folders (walked recursively): OTLP JSON (an export, JSON Lines, Jaeger
        api_v3 replies), Jaeger JSON (``{"data": [...]}``, one trace, a list of traces), Zipkin
        v2 JSON (a list, a list of traces, one span), CSV span tables, and the paper's evidence
        (``emac.sanity.trace/v1``, ``emac.sanity.deployment/v1``). The format of each file is
        detected from its content. In a folder, files that are not traces and broken trace files
        are skipped and listed in ``DiscoveryResult.skipped``.
    out
        Directory for ``<journey>.discovered.yaml`` (and ``<journey>.delta.yaml``); nothing is
        written when ``None``.
    fmt
        ``auto`` or one of ``otlp``, ``jaeger``, ``zipkin``, ``csv``, ``emac`` (forced for every
        trace file).
    k8s, istio
        Directories (or files) of Kubernetes manifests and Istio VirtualService /
        DestinationRule documents.
    accepted
        The last accepted model. A spec (``JourneyIntent``): its coverage policy applies, its
        objectives and governance are carried over, and a ``ModelDelta`` with the predicted
        effect on A⁻ and the governance decision is produced for the matching journey. The
        paper's ``AcceptedJourneyModel``: the evidence is laid over it
        (:mod:`emac_sim.discover.overlay`) with the intent from ``spec``.
    spec
        The journey's intent (``JourneyIntent``: objectives, atomic SLOs, policy) when the
        accepted model carries none; without ``accepted`` it plays the accepted spec's part.
    journey
        Keep only the journey with this name (with ``accepted``: also the name given to the
        discovered journey when exactly one was found).
    csv_mapping
        Column mapping for CSV inputs (:class:`CsvMapping` or ``traceId=TraceID,...``).
    split
        Journey identification: ``auto``, ``signature`` or ``none`` (see
        :func:`~emac_sim.discover.calls.group_journeys`).
    confidence
        Coverage of the reported intervals (Wilson), e.g. 0.95.
    strict
        Make a skipped file (not a trace, or a broken trace) an error.

    Returns
    -------
    DiscoveryResult

    Raises
    ------
    SpecError
        Unreadable inputs, or no usable span or trace (with every reason).
    """
    from .model import Options

    paths = [traces] if isinstance(traces, (str, os.PathLike)) else list(traces)
    if out is not None:
        from ..outdir import check_output_dir

        check_output_dir(out, "discover")  # before reading the traces
    if not 0 < confidence < 1:
        raise SpecError("--confidence", "", f"must be in (0, 1), got {confidence}")
    if split not in ("auto", "signature", "none"):
        raise SpecError("--split", "", f"must be auto, signature or none, got {split!r}")
    mapping = CsvMapping.parse(csv_mapping) if isinstance(csv_mapping, str) else csv_mapping
    opts = Options(confidence=confidence)
    template = None
    intent = None
    notes: list[str] = []
    accepted_model = None
    if spec is not None:
        from ..spec import load_spec

        intent = load_spec(spec)
    if accepted is not None:
        from ..spec.accepted import is_accepted_model, load_accepted_model

        if is_accepted_model(accepted):
            accepted_model = load_accepted_model(accepted, intent)
            template = accepted_model.journey
        else:
            from ..spec import load_spec

            template = load_spec(accepted)
            if intent is not None:
                notes.append(f"--spec {spec} is not used: the accepted spec {accepted} states its own intent")
    elif intent is not None:
        template, accepted = intent, spec
    if template is not None:
        opts.template = template
        opts.policy = dict(template.evidence.coverage_policy)
    if k8s is not None:
        from .domains import read_kubernetes

        opts.workloads, _ = read_kubernetes(k8s)
    if istio is not None:
        from .istio import read_istio

        opts.istio = read_istio(istio)
    with _gc_paused():
        res = _discover(paths, out, fmt, mapping, journey, split, template, opts, accepted, strict, accepted_model)
    res.notes[:0] = notes
    return res


@contextlib.contextmanager
def _gc_paused():
    """Millions of short-lived span and call objects, none in reference cycles: the cyclic
    collector would rescan them over and over (a quarter of the run time)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _nothing_usable(what: str, paths: list, ledger: Ledger, skipped: list[SkippedFile]) -> SpecError:
    """One line with every reason nothing could be used (never an empty list)."""
    reasons = [f.line() for f in skipped] + ledger.lines()
    return SpecError(", ".join(map(str, paths)), "", f"{what}: " + ("; ".join(reasons) if reasons else "the input holds no spans"))


def _discover(paths, out, fmt, mapping, journey, split, template, opts, accepted, strict, accepted_model) -> DiscoveryResult:  # noqa: ANN001
    from .calls import assign_component_keys, group_journeys, iter_trace_calls
    from .model import build_journey

    skipped: list[SkippedFile] = []
    spans, ledger, inputs = read_spans(paths, fmt, mapping, strict=strict, skipped=skipped)
    deployment = any(i.format == "deployment" for i in inputs)
    if spans.height == 0 and not (accepted_model is not None and deployment):
        raise _nothing_usable("no usable spans", paths, ledger, skipped)
    trace_calls = list(iter_trace_calls(spans, ledger))
    result = DiscoveryResult([], ledger, inputs, spans=spans.height, traces=len(trace_calls), skipped=skipped)
    if accepted_model is not None:
        from .delta import model_delta
        from .overlay import overlay

        if not trace_calls and not deployment:
            raise _nothing_usable("no usable trace", paths, ledger, skipped)
        dj = overlay(accepted_model, trace_calls, inputs, ledger, opts.policy)
        result.journeys.append(dj)
        result.deltas[dj.name] = model_delta(accepted_model.journey, dj, str(accepted))
        if out is not None:
            _write(result, Path(out))
        return result
    if not trace_calls:
        raise _nothing_usable("no usable trace", paths, ledger, skipped)
    groups = group_journeys(trace_calls, split)
    assign_component_keys(groups)
    if journey is not None:
        chosen = [g for g in groups if g.name == journey]
        if not chosen and accepted is not None and len(groups) == 1:
            chosen = groups
            chosen[0].name = journey
        if not chosen:
            raise SpecError("--journey", "", f"no journey named {journey!r} (found: {', '.join(g.name for g in groups)})")
        groups = chosen
    elif template is not None and len(groups) == 1 and groups[0].name != template.name:
        result.notes.append(f"the only journey found ({groups[0].name!r}) is compared with the accepted {template.name!r} and named after it")
        groups[0].name = template.name
    for g in groups:
        result.journeys.append(build_journey(g, ledger, inputs, opts))
    if template is not None:
        from .delta import model_delta

        match = next((dj for dj in result.journeys if dj.name == template.name), None)
        if match is None:
            result.notes.append(f"no discovered journey is named {template.name!r}: no ModelDelta (use --journey)")
        else:
            result.deltas[match.name] = model_delta(template, match, str(accepted))
    if out is not None:
        _write(result, Path(out))
    return result


def _write(result: DiscoveryResult, out: Path) -> None:
    """Write every model (and delta) into ``out`` as a whole; file names are safe slugs of the
    journey names, unique even where names differ only in case or in characters a file name
    cannot hold (:func:`emac_sim.outdir.unique_names`)."""
    from ..outdir import staged_output, unique_names
    from ..spec.dump import dump_yaml
    from ..spec.loader import load_spec

    names = unique_names([dj.name for dj in result.journeys] + list(result.deltas))
    with staged_output(out, "discover") as stage:
        for dj in result.journeys:
            p = stage.path / f"{names[dj.name]}.discovered.yaml"
            p.write_text("# generated by emac discover — review before accepting\n" + dump_yaml(dj.document), encoding="utf-8")
            load_spec(p)  # what we write must be a loadable spec
            result.files[dj.name] = str(stage.final(p))
        for name, doc in result.deltas.items():
            p = stage.path / f"{names[name]}.delta.yaml"
            p.write_text("# generated by emac discover\n" + dump_yaml(doc), encoding="utf-8")
            result.delta_files[name] = str(stage.final(p))
