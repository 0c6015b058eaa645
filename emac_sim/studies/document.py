"""A spec kept as its parsed YAML document, so that studies can change values and re-validate.

:func:`emac_sim.load_spec` reads a file into a frozen journey. A what-if study needs the step in
between: the plain document (dicts and lists) that :mod:`.specpath` edits, then the normal
validation (:func:`emac_sim.spec.loader.parse_document`) with the same atomic-SLO search path as
``load_spec``, so a changed value is held to exactly the rules a hand-edited file would be.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..model.journey import Journey
from ..spec.dump import dump_yaml
from ..spec.loader import load_spec_text
from ..spec.yamlio import load_yaml_documents
from .specpath import SpecPath, get_value, set_value


@dataclass
class SpecDocument:
    """One EmaC spec file as a mutable document plus what is needed to validate it again."""

    path: Path
    doc: Any
    slo_paths: tuple[Path, ...] = ()
    shown: str = ""
    _sha: str = field(default="", repr=False)

    @classmethod
    def load(cls, path: str | os.PathLike, slo_paths: Iterable[str | os.PathLike] = ()) -> SpecDocument:
        """Read ``path`` (one YAML document).

        Raises
        ------
        SpecError
            Unreadable file, YAML errors, zero or several documents.
        """
        shown = str(path)
        docs = [d for d in load_yaml_documents(path, shown) if d is not None]
        if not docs:
            raise SpecError(shown, "", "empty document: expected a JourneyIntent mapping")
        if len(docs) > 1:
            raise SpecError(shown, "", f"expected one YAML document, found {len(docs)}")
        p = Path(path)
        sha = hashlib.sha256(p.read_bytes()).hexdigest()
        return cls(path=p, doc=docs[0], slo_paths=tuple(Path(s) for s in slo_paths), shown=shown, _sha=sha)

    def journey(self, doc: Any | None = None) -> Journey:
        """Validate ``doc`` (default: the document as read) into a journey, as ``load_spec`` would
        (same atomic-SLO search path: the spec's directory, ``../atomic/*`` and ``slo_paths``).

        Raises
        ------
        SpecError
            The loader's one-line error naming the file and the path of the bad value.
        """
        text = dump_yaml(self.doc if doc is None else doc)
        j = load_spec_text(text, source=self.shown, slo_paths=self.slo_paths, base_dir=self.path.resolve().parent)
        # the first input is the digest of the changed text; record the file the study started from
        inputs = ((self.shown, self._sha), *j.inputs[1:])
        return dataclasses.replace(j, inputs=inputs)

    def with_values(self, changes: Iterable[tuple[SpecPath, Any]]) -> Any:
        """A new document with each ``(path, value)`` applied in order (the original is untouched)."""
        out = self.doc
        for path, value in changes:
            out = set_value(out, path, value, self.shown)
        return out

    def value(self, path: SpecPath) -> Any:
        """The current value at ``path`` (``None`` when absent)."""
        return get_value(self.doc, path, self.shown)

    @property
    def sha256(self) -> str:
        return self._sha
