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
import math
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from ..errors import SpecError
from .yamlio import display_path, load_yaml_text, read_input_bytes

MAX_SLO_FILE_BYTES = 16 * 1024 * 1024
"""SLO files larger than this are skipped (with a warning), never read whole."""
TIMESLICES_NOTE = "Timeslices target (share of good time slices) used as request availability"

_Hit = tuple[float, Path, str]  # (target, file, note)


class AtomicSLOIndex:
    """Resolves references lazily against the YAML files of the search paths (directories or files).

    Only files whose text contains the referenced name are parsed (a folder of thousands of
    unrelated YAML files costs a substring search each, not a YAML parse), and each at most once.
    Files that cannot be read or do not parse are skipped: a broken neighbour only matters if it
    might have held the SLO a spec refers to; it is then listed by :meth:`skipped` (the loader
    warns, one line) and named in the error when the reference does not resolve.
    """

    def __init__(self, search: Iterable[Path], display: str = "<spec>") -> None:
        self._search = list(search)
        self._display = display
        self._openslo: dict[str, list[_Hit]] = {}
        self._sloth: dict[tuple[str, str], list[_Hit]] = {}
        self._used: list[Path] = []
        self._file_list: list[Path] | None = None
        self._text: dict[Path, bytes | None] = {}
        self._parsed: set[Path] = set()
        self._skipped: dict[Path, str] = {}

    def _files(self) -> list[Path]:
        if self._file_list is not None:
            return self._file_list
        files: list[Path] = []
        for p in self._search:
            try:
                if p.is_file():
                    files.append(p)
                elif p.is_dir():
                    files.extend(sorted(f for f in p.iterdir() if f.suffix in (".yaml", ".yml") and f.is_file()))
            except OSError as exc:
                self._skipped[p] = f"cannot be listed ({exc.strerror})"
        seen: set[Path] = set()
        out = []
        for f in files:
            r = f.resolve()
            if r not in seen:
                seen.add(r)
                out.append(f)
        self._file_list = out
        return out

    def _raw(self, f: Path) -> bytes | None:
        if f not in self._text:
            try:
                self._text[f] = read_input_bytes(f, display_path(f), MAX_SLO_FILE_BYTES)
            except SpecError as exc:
                self._text[f] = None
                self._skipped[f] = exc.message
        return self._text[f]

    def _parse(self, f: Path) -> None:
        """Index the SLO documents of one file (every definition of a name is kept: two are an
        ambiguity reported when the name is resolved)."""
        if f in self._parsed:
            return
        self._parsed.add(f)
        data = self._raw(f)
        if data is None:
            return
        try:
            docs = load_yaml_text(data.decode("utf-8"), display_path(f))
        except UnicodeDecodeError as exc:
            self._skipped[f] = f"not UTF-8 text ({exc.reason} at byte {exc.start})"
            return
        except SpecError as exc:
            self._skipped[f] = f"{exc.path + ': ' if exc.path else ''}{exc.message}"
            return
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

    def _add_sloth(self, service: object, slos: object, f: Path) -> None:
        if not isinstance(service, str) or not service:
            return
        for slo in slos if isinstance(slos, list) else []:
            if isinstance(slo, dict) and "name" in slo and "objective" in slo:
                obj = _percent(slo["objective"])
                if obj is not None:
                    self._sloth.setdefault((service, str(slo["name"])), []).append((obj, f, ""))

    def _load(self, needles: Iterable[str] | None) -> None:
        """Parse the files that contain every needle (all files when ``needles`` is None)."""
        want = None if needles is None else [n.encode("utf-8", "surrogatepass") for n in needles]
        for f in self._files():
            if f in self._parsed:
                continue
            if want is not None:
                data = self._raw(f)
                if data is None or not all(w in data for w in want):
                    continue
            self._parse(f)

    def skipped(self) -> list[str]:
        """``file: reason`` for every file that was skipped while resolving references."""
        return [f"{display_path(f)} ({why})" for f, why in self._skipped.items()]

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
            With a one-line message naming the reference, the directories searched, any file
            skipped as unreadable and, when one is close, a did-you-mean.
        """
        scheme, _, name = ref.partition(":")
        if scheme not in ("openslo", "sloth") or not name:
            raise LookupError(f"unresolvable atomicSLORef {ref!r}: expected openslo:<name> or sloth:<service>/<slo>")
        service, _, slo = name.partition("/")
        key: Any = name if scheme == "openslo" else (service, slo)
        table: dict = self._openslo if scheme == "openslo" else self._sloth
        self._load([name] if scheme == "openslo" else [service, slo])
        hits = table.get(key)
        if hits is None:
            self._load(None)  # a miss: read everything once, for the did-you-mean
            where = ", ".join(display_path(p) for p in self._search if p.exists()) or "no existing directory"
            skipped = f" (skipped unreadable: {'; '.join(self.skipped()[:3])})" if self._skipped else ""
            if scheme == "openslo":
                raise LookupError(
                    f"unresolvable atomicSLORef {ref!r}: no OpenSLO SLO named {name!r} in {where}{_dym(name, self._openslo, 'openslo:')}{skipped}"
                )
            known = {f"{s}/{n}": None for s, n in self._sloth}
            raise LookupError(
                f"unresolvable atomicSLORef {ref!r}: no Sloth SLO {slo!r} of service {service!r} in {where}{_dym(name, known, 'sloth:')}{skipped}"
            )
        if len(hits) > 1:
            what = f"OpenSLO SLO {name!r}" if scheme == "openslo" else f"Sloth SLO {slo!r} of service {service!r}"
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
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _percent(v: object) -> float | None:
    """``v`` / 100 as a float, or None when it is not a finite number (``1e999999999`` included:
    the division would overflow the decimal context)."""
    d = _decimal(v)
    if d is None:
        return None
    try:
        return _finite(float(d / 100))
    except ArithmeticError:
        return None


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _openslo_target(doc: dict) -> float | None:
    spec = doc.get("spec")
    objectives = spec.get("objectives") if isinstance(spec, dict) else None
    if not isinstance(objectives, list) or not objectives or not isinstance(objectives[0], dict):
        return None
    o = objectives[0]
    if "target" in o:
        d = _decimal(o["target"])
        return None if d is None else _finite(float(d))
    if "targetPercent" in o:
        return _percent(o["targetPercent"])
    return None
