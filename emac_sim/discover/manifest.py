"""Sidecar manifests of trace files written by ``emac simulate --traces``.

A trace file is written atomically (temporary file, then rename), so a killed run leaves either
the old file or the new one. A later copy, a full disk or an editor can still cut it short, and
OTLP JSON Lines cut at a line boundary is still valid. So next to ``traces.jsonl`` the writer puts
``traces.jsonl.manifest.json``::

    {"kind": "EmacTraceManifest", "file": "traces.jsonl", "bytes": 123456,
     "sha256": "…", "traces": 20000, "spans": 140000, "generator": "emac simulate"}

and discovery, reading ``traces.jsonl``, checks its size and digest against the manifest: a
mismatch names both counts and refuses the file (:func:`check_manifest`). Files without a
manifest are read as they are.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import SpecError

SUFFIX = ".manifest.json"
KIND = "EmacTraceManifest"


def manifest_path(trace_file: str | os.PathLike) -> Path:
    """Where the manifest of ``trace_file`` lives."""
    p = Path(trace_file)
    return p.with_name(p.name + SUFFIX)


def file_digest(path: str | os.PathLike) -> tuple[int, str]:
    """(size in bytes, sha256 hex) of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fb:
        for block in iter(lambda: fb.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return size, h.hexdigest()


def manifest_document(trace_file: str | os.PathLike, traces: int, spans: int) -> dict:
    """The manifest of a finished trace file (its size and digest as written)."""
    size, digest = file_digest(trace_file)
    name = Path(trace_file).name
    return {"kind": KIND, "file": name, "bytes": size, "sha256": digest, "traces": traces, "spans": spans, "generator": "emac simulate"}


def read_manifest(path: str | os.PathLike) -> dict | None:
    """The manifest document at ``path``, or None when it is not one of ours (or unreadable)."""
    try:
        with open(path, encoding="utf-8") as fp:
            doc = json.loads(fp.read(1 << 16))
    except (OSError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) and doc.get("kind") == KIND else None


def is_manifest(path: str | os.PathLike) -> bool:
    """True for a manifest this module wrote (skipped silently when a folder is read)."""
    return str(path).endswith(SUFFIX) and read_manifest(path) is not None


def check_manifest(trace_file: str | os.PathLike, size: int, digest: str, shown: str) -> dict | None:
    """Compare a trace file with its manifest, if it has one.

    Returns
    -------
    dict or None
        The manifest when it matches; None when there is none.

    Raises
    ------
    SpecError
        The file's size or sha256 differs from the manifest's (cut short or changed).
    """
    m = read_manifest(manifest_path(trace_file))
    if m is None:
        return None
    if m.get("bytes") != size or m.get("sha256") != digest:
        what = "cut short" if isinstance(m.get("bytes"), int) and size < m["bytes"] else "changed"
        raise SpecError(
            shown,
            "",
            f"does not match its manifest {manifest_path(trace_file).name}: {size} bytes here, {m.get('bytes')} bytes holding "
            f"{m.get('traces')} traces ({m.get('spans')} spans) when written: the file was {what} after it was written",
        )
    return m
