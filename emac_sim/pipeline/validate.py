"""``emac validate``: the nightly bound validation (DESIGN §1 users, §7 check, §9 JSON).

Every spec found under the given paths is loaded, its analytic bounds computed, its Monte Carlo
estimate drawn for each requested scenario and held against the bounds
(:func:`emac_sim.check.run_check`). The result is one JSON-ready report and, optionally, a
JUnit XML file that CI systems (GitHub Actions, GitLab, Jenkins) render as test results: one
``testsuite`` per spec file, one ``testcase`` per comparison, ``<failure>`` for a disagreement,
``<error>`` for a spec that does not load, ``<skipped>`` for nothing to compare. With Prometheus
evidence (``--prometheus URL``) each spec also gets the model-vs-reality case of its journey and
one case per component bound to telemetry (a drifted component fails; no data is skipped; an
unreachable server or a bad query is an ``<error>``).

Discovery: a file argument is validated whatever its name; a directory is searched recursively
for ``*.yaml`` / ``*.yml`` files whose top level says ``kind: JourneyIntent`` (other YAML, such as
OpenSLO or Kubernetes documents beside the specs, is left alone), in sorted path order.
"""

from __future__ import annotations

import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..check import DEFAULT_SAMPLES, CheckRun, run_check
from ..core.seeds import DEFAULT_SEED
from ..errors import SpecError

if TYPE_CHECKING:
    from ..evidence.report import EvidenceReport
    from .evidence import EvidenceRequest

_KIND_RE = re.compile(r"^kind:\s*[\"']?JourneyIntent[\"']?\s*(#.*)?$", re.MULTILINE)
_SPEC_SUFFIXES = (".yaml", ".yml")


def find_specs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Spec files named by ``paths``: files as given, directories searched for JourneyIntents.

    Raises
    ------
    SpecError
        A path that does not exist, or a directory holding no JourneyIntent.
    """
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            found.append(p)
        elif p.is_dir():
            hits = []
            for f in sorted(p.rglob("*")):
                if f.suffix in _SPEC_SUFFIXES and f.is_file() and _looks_like_intent(f):
                    hits.append(f)
            if not hits:
                raise SpecError(str(p), "", "no JourneyIntent specs (*.yaml, *.yml with kind: JourneyIntent) found in this directory")
            found.extend(hits)
        else:
            raise SpecError(str(p), "", "no such file or directory")
    seen: set[Path] = set()
    unique = []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _looks_like_intent(f: Path) -> bool:
    try:
        with f.open("r", encoding="utf-8", errors="replace") as fh:
            head = fh.read(1 << 20)
    except OSError:
        return False
    return _KIND_RE.search(head) is not None


@dataclass(frozen=True)
class SpecValidation:
    """Validation of one spec file: one :class:`CheckRun` per scenario, or the load error; with
    Prometheus, the evidence report (:class:`emac_sim.evidence.EvidenceReport`) or its error."""

    file: str
    journey: str | None
    runs: tuple[CheckRun, ...]
    error: str | None = None
    evidence: EvidenceReport | None = None
    evidence_error: str | None = None

    @property
    def status(self) -> str:
        """``pass``, ``fail`` (a check disagreed, a component drifted, the journey is inconsistent
        with reality) or ``error`` (the spec did not load, the evidence could not be read)."""
        if self.error is not None or self.evidence_error is not None:
            return "error"
        if self.evidence is not None and self.evidence.exit_code:
            return "fail"
        return "pass" if all(r.verdict.consistent for r in self.runs) else "fail"

    def evidence_cases(self) -> list[tuple[str, str, str]]:
        """``(name, pass|fail|skip|error, message)`` of the evidence test cases."""
        if self.evidence_error is not None:
            return [("evidence", "error", self.evidence_error)]
        return self.evidence.cases() if self.evidence is not None else []

    def evidence_failures(self) -> list[str]:
        """Messages of the failed evidence cases (for the text output)."""
        return [msg for _, status, msg in self.evidence_cases() if status in ("fail", "error")]

    def to_dict(self) -> dict[str, Any]:
        checks, skipped, sims = [], [], {}
        for r in self.runs:
            v = r.verdict
            for item in v.items:
                entry = {"scenario": v.scenario, **item.to_dict()}
                (skipped if item.status == "skip" else checks).append(entry)
            s = r.simulation
            sims[v.scenario] = {
                "samples": s.samples,
                "seed": s.seed,
                "confidence": s.confidence,
                "availability": {"estimate": s.availability, "ci": list(s.availability_ci)},
            }
        out: dict[str, Any] = {"file": self.file, "journey": self.journey, "status": self.status, "checks": checks, "skipped": skipped}
        if self.runs:
            av = self.runs[0].bounds.availability.to_dict()
            out["bounds"] = {
                "availability": {
                    k: av[k] for k in ("independent", "declared", "pessimistic", "shared", "sharedFateRange", "dependenceFree")
                }
            }
            out["simulation"] = sims
        if self.error is not None:
            out["error"] = self.error
        if self.evidence is not None:
            out["evidence"] = self.evidence.to_dict()
        if self.evidence_error is not None:
            out["evidence"] = {"error": self.evidence_error}
        return out


@dataclass(frozen=True)
class ValidationReport:
    """All specs validated in one call."""

    specs: tuple[SpecValidation, ...]
    samples: int
    seed: int | None
    scenarios: tuple[str, ...]

    @property
    def exit_code(self) -> int:
        """2 when a spec did not load (bad input), 1 when a check failed, else 0."""
        if any(s.status == "error" for s in self.specs):
            return 2
        return 1 if any(s.status == "fail" for s in self.specs) else 0

    @property
    def status(self) -> str:
        return {0: "pass", 1: "fail", 2: "error"}[self.exit_code]

    def counts(self) -> dict[str, int]:
        """Specs and individual checks by outcome."""
        c = {"specs": len(self.specs), "passed": 0, "failed": 0, "errors": 0, "checks": 0, "checkFailures": 0, "checksSkipped": 0}
        for s in self.specs:
            c[{"pass": "passed", "fail": "failed", "error": "errors"}[s.status]] += 1
            statuses = [item.status for r in s.runs for item in r.verdict.items] + [st for _, st, _ in s.evidence_cases()]
            for st in statuses:
                if st == "skip":
                    c["checksSkipped"] += 1
                else:
                    c["checks"] += 1
                    c["checkFailures"] += st in ("fail", "error")
        return c

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": "validate",
            "status": self.status,
            "samples": self.samples,
            "seed": self.seed,
            "scenarios": list(self.scenarios),
            "summary": self.counts(),
            "specs": [s.to_dict() for s in self.specs],
        }

    def junit_xml(self) -> bytes:
        """JUnit XML (the de-facto schema CI systems read): suites per spec, cases per check."""
        root = ET.Element("testsuites", name="emac validate")
        totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for s in self.specs:
            suite = ET.SubElement(root, "testsuite", name=s.file)
            n = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
            if s.error is not None:
                case = ET.SubElement(suite, "testcase", classname=_classname(s), name="load")
                ET.SubElement(case, "error", message=s.error, type="SpecError").text = s.error
                n["tests"] += 1
                n["errors"] += 1
            for r in s.runs:
                v = r.verdict
                for item in v.items:
                    case = ET.SubElement(suite, "testcase", classname=_classname(s), name=f"{v.scenario}: {item.name}")
                    n["tests"] += 1
                    if item.status == "fail":
                        ET.SubElement(case, "failure", message=item.message, type="InconsistentEstimate").text = v.explanation()
                        n["failures"] += 1
                    elif item.status == "skip":
                        ET.SubElement(case, "skipped", message=item.message)
                        n["skipped"] += 1
                    else:
                        ET.SubElement(case, "system-out").text = item.message
            for name, status, message in s.evidence_cases():
                case = ET.SubElement(suite, "testcase", classname=_classname(s), name=name)
                n["tests"] += 1
                if status == "fail":
                    ET.SubElement(case, "failure", message=message, type="EvidenceMismatch").text = message
                    n["failures"] += 1
                elif status == "error":
                    ET.SubElement(case, "error", message=message, type="EvidenceError").text = message
                    n["errors"] += 1
                elif status == "skip":
                    ET.SubElement(case, "skipped", message=message)
                    n["skipped"] += 1
                else:
                    ET.SubElement(case, "system-out").text = message
            for k, val in n.items():
                suite.set(k, str(val))
                totals[k] += val
        for k, val in totals.items():
            if k != "skipped":  # the JUnit schema (junit-10.xsd) has no skipped count on <testsuites>
                root.set(k, str(val))
        ET.indent(root)
        return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _classname(s: SpecValidation) -> str:
    return f"emac.{s.journey}" if s.journey else "emac.spec"


def validate_paths(
    paths: Sequence[str | os.PathLike],
    *,
    samples: int = DEFAULT_SAMPLES,
    seed: int | None = DEFAULT_SEED,
    scenarios: Sequence[str] = ("declared",),
    slo_paths: Sequence[str | os.PathLike] = (),
    workers: int | None = None,
    evidence: EvidenceRequest | None = None,
    method: str = "plain",
) -> ValidationReport:
    """Validate every spec under ``paths``: bounds, Monte Carlo and the check per scenario.

    Parameters
    ----------
    paths
        Spec files and/or directories (searched recursively for ``kind: JourneyIntent``).
    samples
        Monte Carlo samples per spec and scenario.
    seed
        Root seed (fixed default, so a nightly job is reproducible; ``None`` draws one per run
        and records it in each simulation).
    scenarios
        Scenarios to simulate and check (``declared``, ``independent``, ``shared``,
        ``pessimistic``).
    slo_paths
        Extra OpenSLO / Sloth directories for ``atomicSLORef``.
    evidence
        :class:`emac_sim.pipeline.evidence.EvidenceRequest`: also hold each journey and its components
        against Prometheus (the declared model; a server or query failure is recorded per spec).
    method
        Monte Carlo method: ``plain``, ``importance`` or ``auto`` (:func:`emac_sim.engine.simulate`).

    Raises
    ------
    SpecError
        A path that does not exist or a directory without specs. A spec that does not load is
        *not* raised: it is recorded (``status: error``) so the other specs still run.
    """
    from ..analytic import bounds as analytic_bounds  # looked up at call time: tests inject faults here
    from ..spec import load_spec

    specs = []
    for f in find_specs(paths):
        try:
            j = load_spec(f, slo_paths=slo_paths)
        except SpecError as err:
            specs.append(SpecValidation(file=str(f), journey=None, runs=(), error=err.line()))
            continue
        b = analytic_bounds(j)
        runs = tuple(run_check(j, samples=samples, seed=seed, correlation=sc, bounds=b, workers=workers, method=method) for sc in scenarios)
        report, ev_error = None, None
        if evidence is not None:
            try:
                report = evidence.collect(j)
            except SpecError as err:
                ev_error = err.line()
        specs.append(SpecValidation(file=str(f), journey=j.name, runs=runs, evidence=report, evidence_error=ev_error))
    return ValidationReport(specs=tuple(specs), samples=samples, seed=seed, scenarios=tuple(scenarios))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and a rename."""
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".emac-tmp-", dir=p.parent)
    except OSError as exc:
        raise SpecError(str(path), "", f"cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, p)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise SpecError(str(path), "", f"cannot write: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
