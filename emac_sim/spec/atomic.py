"""Resolve ``atomicSLORef`` against OpenSLO ``SLO`` and Sloth ``prometheus/v1`` documents.

``openslo:<metadata.name>`` takes ``spec.objectives[0].target`` (or ``targetPercent``/100) of
the OpenSLO ``SLO`` with that name. ``sloth:<service>/<slo>`` takes ``objective``/100 of the SLO
named ``<slo>`` in the Sloth file whose ``service`` is ``<service>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..errors import SpecError
from .yamlio import load_yaml_documents


class AtomicSLOIndex:
    """Lazily scans YAML files in the search directories for SLO documents."""

    def __init__(self, search: Iterable[Path], explicit: Iterable[Path] = (), display: str = "<spec>") -> None:
        self._search = [p for p in search]
        self._explicit = list(explicit)
        self._display = display
        self._openslo: dict[str, tuple[float, Path]] | None = None
        self._sloth: dict[tuple[str, str], tuple[float, Path]] = {}
        self._used: list[Path] = []

    def _files(self) -> list[Path]:
        files: list[Path] = []
        for p in self._search:
            if p.is_file():
                files.append(p)
            elif p.is_dir():
                files.extend(sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file()))
        for p in self._explicit:
            if not p.exists():
                raise SpecError(str(p), "", "SLO path not found (given with --slo-path)")
        seen: set[Path] = set()
        out = []
        for f in files:
            r = f.resolve()
            if r not in seen:
                seen.add(r)
                out.append(f)
        return out

    def _scan(self) -> None:
        if self._openslo is not None:
            return
        self._openslo = {}
        for f in self._files():
            try:
                docs = load_yaml_documents(f)
            except SpecError:
                continue  # unrelated or broken neighbours are not our business unless referenced
            for doc in docs:
                if not isinstance(doc, dict):
                    continue
                if str(doc.get("apiVersion", "")).startswith("openslo/") and doc.get("kind") == "SLO":
                    name = (doc.get("metadata") or {}).get("name")
                    target = _openslo_target(doc)
                    if name and target is not None:
                        self._openslo.setdefault(str(name), (target, f))
                elif doc.get("version") == "prometheus/v1" and "service" in doc:
                    for slo in doc.get("slos") or []:
                        if isinstance(slo, dict) and "name" in slo and "objective" in slo:
                            try:
                                obj = float(slo["objective"]) / 100.0
                            except (TypeError, ValueError):
                                continue
                            self._sloth.setdefault((str(doc["service"]), str(slo["name"])), (obj, f))

    def resolve(self, ref: str) -> tuple[float, str]:
        """Return (availability, source description); LookupError with a clear message otherwise."""
        scheme, _, name = ref.partition(":")
        if scheme not in ("openslo", "sloth") or not name:
            raise LookupError(f"unresolvable atomicSLORef {ref!r}: expected openslo:<name> or sloth:<service>/<slo>")
        self._scan()
        assert self._openslo is not None
        where = ", ".join(str(p) for p in self._search if p.exists()) or "no existing directory"
        if scheme == "openslo":
            hit = self._openslo.get(name)
            if hit is None:
                raise LookupError(f"unresolvable atomicSLORef {ref!r}: no OpenSLO SLO named {name!r} in {where}")
        else:
            service, _, slo = name.partition("/")
            hit = self._sloth.get((service, slo))
            if hit is None:
                raise LookupError(f"unresolvable atomicSLORef {ref!r}: no Sloth SLO {slo!r} of service {service!r} in {where}")
        target, f = hit
        if f not in self._used:
            self._used.append(f)
        return target, f"{ref} ({f})"

    def used_files(self) -> list[Path]:
        return list(self._used)


def _openslo_target(doc: dict) -> float | None:
    objectives = (doc.get("spec") or {}).get("objectives") or []
    if not objectives or not isinstance(objectives[0], dict):
        return None
    o = objectives[0]
    try:
        if "target" in o:
            return float(o["target"])
        if "targetPercent" in o:
            return float(o["targetPercent"]) / 100.0
    except (TypeError, ValueError):
        return None
    return None
