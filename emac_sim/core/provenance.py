"""Provenance of results and artifacts, built in one place (STYLE "Provenance on every result").

What every written result records: the tool and its version, the resolved parameters (the seed
included), the command line, the sha256 of each input file and the versions of the libraries
the numbers depend on. :class:`Provenance` is the full record (``emac compile``'s artifacts and
derivation report, with a digest); :func:`tool_name`, :func:`input_records` and
:func:`library_versions` are its parts for the lighter records of studies and reports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Protocol

from .jsonio import json_safe
from .version import __version__

#: Libraries whose versions are recorded in provenance (results may depend on them).
TRACKED_LIBRARIES: tuple[str, ...] = ("numpy", "scipy", "numba", "pyyaml", "emac-sim")


class HasInputs(Protocol):
    """Anything that knows its input files (a loaded journey: ``(file, sha256)`` pairs)."""

    @property
    def inputs(self) -> tuple[tuple[str, str], ...]: ...


def tool_name() -> str:
    """``emac-sim <version>``."""
    return f"emac-sim {__version__}"


def input_records(inputs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """``[{"file": …, "sha256": …}, …]`` for ``(file, sha256)`` pairs."""
    return [{"file": f, "sha256": h} for f, h in inputs]


def library_versions(names: tuple[str, ...] = TRACKED_LIBRARIES, *, missing: str | None = "not installed") -> tuple[tuple[str, str], ...]:
    """``(name, version)`` of each library; one that is not installed gets ``missing`` (or is
    left out when ``missing`` is ``None``)."""
    out = []
    for n in names:
        try:
            out.append((n, metadata.version(n)))
        except metadata.PackageNotFoundError:
            if missing is not None:
                out.append((n, missing))
    return tuple(out)


@dataclass(frozen=True)
class Provenance:
    """Where a derivation came from.

    Attributes
    ----------
    version
        emac-sim version.
    seed
        The Monte Carlo seed actually used (``None`` when nothing was sampled).
    parameters
        Resolved parameters as ``(name, value)`` pairs (samples, correlation, confidence, ...).
    command
        The command line. Write the output directory as ``OUT`` so that the same inputs give
        the same bytes wherever they are written.
    inputs
        ``(file, sha256)`` of every input file (spec, atomic SLO files, candidate model).
    libraries
        ``(name, version)`` of the libraries results depend on.
    """

    version: str
    seed: int | None = None
    parameters: tuple[tuple[str, Any], ...] = ()
    command: str = ""
    inputs: tuple[tuple[str, str], ...] = ()
    libraries: tuple[tuple[str, str], ...] = ()

    @classmethod
    def collect(
        cls,
        journey: HasInputs,
        *,
        seed: int | None = None,
        parameters: Mapping[str, Any] | None = None,
        command: str = "",
        extra_inputs: tuple[tuple[str, str], ...] = (),
    ) -> Provenance:
        """Provenance for a journey: its input files' sha256s, the library versions, this version."""
        return cls(
            version=__version__,
            seed=seed,
            parameters=tuple((str(k), v) for k, v in (parameters or {}).items()),
            command=command,
            inputs=tuple(journey.inputs) + tuple(extra_inputs),
            libraries=library_versions(),
        )

    def digest(self) -> str:
        """sha256 (hex) over the inputs' sha256s, the seed, the parameters and the version.

        File names and the command line are left out: the same bytes under another name, or
        written to another directory, give the same digest.
        """
        payload = {
            "version": self.version,
            "seed": self.seed,
            "parameters": [[k, json_safe(v)] for k, v in self.parameters],
            "inputs": [sha for _, sha in self.inputs],
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": "emac-sim",
            "version": self.version,
            "digest": f"sha256:{self.digest()}",
            "seed": self.seed,
            "parameters": {k: json_safe(v) for k, v in self.parameters},
            "command": self.command,
            "inputs": input_records(self.inputs),
            "libraries": dict(self.libraries),
        }
