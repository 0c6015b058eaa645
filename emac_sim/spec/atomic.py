"""Resolve ``atomicSLORef`` against OpenSLO ``SLO`` and Sloth documents.

``openslo:<metadata.name>`` takes ``spec.objectives[0].target`` (or ``targetPercent``/100) of
the OpenSLO ``SLO`` with that name. ``sloth:<service>/<slo>`` takes ``objective``/100 of the SLO
named ``<slo>`` of service ``<service>``. Percentages are divided in decimal, so
``objective: 99.9`` gives exactly the double nearest 0.999.

Every export form is read: OpenSLO documents one per YAML document or several in a YAML list
(``- apiVersion: openslo/v1 …``); Sloth's ``prometheus/v1`` files and its Kubernetes form
(``apiVersion: sloth.slok.dev/v1``, ``kind: PrometheusServiceLevel``). A name defined twice in
the search paths is ambiguous: resolving it is an error naming both files. An OpenSLO SLO with
``budgetingMethod: Timeslices`` targets the share of good time slices, not of good requests;
using it as a request availability is allowed but said in the resolved source.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ..errors import SpecError
from .yamlio import display_path, load_yaml_documents

TIMESLICES_NOTE = "Timeslices target (share of good time slices) used as request availability"


class AtomicSLOIndex:
    """Lazily scans the YAML files of the search paths (directories or files) for SLO documents.

    Files that do not parse are skipped: a broken neighbour only matters if it held the SLO a
    spec refers to, and then the reference is reported as unresolvable.
    """

    def __init__(self, search: Iterable[Path], display: str = "<spec>") -> None:
        self._search = list(search)
        self._display = display
        self._openslo: dict[str, list[tuple[float, Path, str]]] | None = None
        self._sloth: dict[tuple[str, str], list[tuple[float, Path, str]]] = {}
        self._used: list[Path] = []

    def _files(self) -> list[Path]:
        files: list[Path] = []
        for p in self._search:
            if p.is_file():
                files.append(p)
            elif p.is_dir():
                files.extend(sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file()))
        seen: set[Path] = set()
        out = []
        for f in files:
            r = f.resolve()
            if r not in seen:
                seen.add(r)
                out.append(f)
        return out

    def _scan(self) -> dict[str, list[tuple[float, Path, str]]]:
        if self._openslo is not None:
            return self._openslo
        self._openslo = {}
        for f in self._files():
            try:
                docs = load_yaml_documents(f)
            except SpecError:
                continue
            for doc in (d for top in docs for d in (top if isinstance(top, list) else [top])):  # OpenSLO's YAML-list form
                if not isinstance(doc, dict):
                    continue
                if str(doc.get("apiVersion", "")).startswith("openslo/") and doc.get("kind") == "SLO":
                    meta = doc.get("metadata")
                    name = meta.get("name") if isinstance(meta, dict) else None
                    target = _openslo_target(doc)
                    if isinstance(name, str) and name and target is not None:
                        spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
                        note = TIMESLICES_NOTE if spec.get("budgetingMethod") == "Timeslices" else ""
                        self._openslo.setdefault(name, []).append((target, f, note))
                elif doc.get("version") == "prometheus/v1" and "service" in doc:
                    self._add_sloth(doc.get("service"), doc.get("slos"), f)
                elif str(doc.get("apiVersion", "")).startswith("sloth.slok.dev/") and doc.get("kind") == "PrometheusServiceLevel":
                    spec = doc.get("spec")
                    if isinstance(spec, dict):
                        self._add_sloth(spec.get("service"), spec.get("slos"), f)
        return self._openslo

    def _add_sloth(self, service: object, slos: object, f: Path) -> None:
        if not isinstance(service, str) or not service:
            return
        for slo in slos if isinstance(slos, list) else []:
            if isinstance(slo, dict) and "name" in slo and "objective" in slo:
                obj = _percent(slo["objective"])
                if obj is not None:
                    self._sloth.setdefault((service, str(slo["name"])), []).append((obj, f, ""))

    def resolve(self, ref: str) -> tuple[float, str]:
        """Resolve one reference.

        Returns
        -------
        (availability, source)
            The target as a probability and a readable source, ``"<ref> (<file>)"`` with the
            file relative to the current directory when that is shorter.

        Raises
        ------
        LookupError
            With a one-line message naming the reference, the directories searched and, when
            one is close, a did-you-mean.
        """
        scheme, _, name = ref.partition(":")
        if scheme not in ("openslo", "sloth") or not name:
            raise LookupError(f"unresolvable atomicSLORef {ref!r}: expected openslo:<name> or sloth:<service>/<slo>")
        openslo = self._scan()
        where = ", ".join(display_path(p) for p in self._search if p.exists()) or "no existing directory"
        if scheme == "openslo":
            hits = openslo.get(name)
            what = f"OpenSLO SLO {name!r}"
            if hits is None:
                raise LookupError(f"unresolvable atomicSLORef {ref!r}: no OpenSLO SLO named {name!r} in {where}{_dym(name, openslo, 'openslo:')}")
        else:
            service, _, slo = name.partition("/")
            hits = self._sloth.get((service, slo))
            what = f"Sloth SLO {slo!r} of service {service!r}"
            if hits is None:
                known = {f"{s}/{n}": None for s, n in self._sloth}
                raise LookupError(
                    f"unresolvable atomicSLORef {ref!r}: no Sloth SLO {slo!r} of service {service!r} in {where}{_dym(name, known, 'sloth:')}"
                )
        if len(hits) > 1:
            files = [display_path(f) for _, f, _ in hits]
            places = f"twice in {files[0]}" if len(set(files)) == 1 else "in both " + " and ".join(dict.fromkeys(files))
            raise LookupError(f"ambiguous atomicSLORef {ref!r}: {what} is defined {places}")
        [(target, f, note)] = hits
        if f not in self._used:
            self._used.append(f)
        return target, f"{ref} ({display_path(f)})" + (f"; {note}" if note else "")

    def used_files(self) -> list[Path]:
        """SLO files that resolved at least one reference, in first-use order."""
        return list(self._used)


def _dym(name: str, known: Iterable[str], prefix: str) -> str:
    hint = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {prefix}{hint[0]}?)" if hint else ""


def _decimal(v: object) -> Decimal | None:
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        return None
    try:
        d = Decimal(str(v).strip())
    except InvalidOperation:
        return None
    return d if d.is_finite() else None


def _percent(v: object) -> float | None:
    d = _decimal(v)
    return None if d is None else float(d / 100)


def _openslo_target(doc: dict) -> float | None:
    spec = doc.get("spec")
    objectives = spec.get("objectives") if isinstance(spec, dict) else None
    if not isinstance(objectives, list) or not objectives or not isinstance(objectives[0], dict):
        return None
    o = objectives[0]
    if "target" in o:
        d = _decimal(o["target"])
        return None if d is None else float(d)
    if "targetPercent" in o:
        return _percent(o["targetPercent"])
    return None
