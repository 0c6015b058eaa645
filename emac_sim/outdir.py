"""Output directories emac-sim owns: checked before the work, written as a whole, safe names.

Every command that writes a directory (``compile``, ``whatif``, ``report``, ``discover``) writes
it the same way:

1. **Preflight** (:func:`check_output_dir`), before any work: the path is usable (not a file,
   not the current directory or one of its parents, names within the file system's limit, a
   writable place to create it), and an existing directory is empty or an emac-sim output.
2. **Staging**: the files go to a fresh hidden directory beside the target (same file system),
   are flushed to disk, and a marker file :data:`MARKER` records the command and the sha256 of
   every file, sealed with an HMAC under emac-sim's own key.
3. **Swap**: the previous output (if any) is renamed aside, the staged directory renamed into
   place, and only then are the previous files removed. ``DIR`` holds either the previous
   complete set or the new complete set, never a mixture (also under ``kill -9``).

Ownership is decided by the marker alone, never by a file name a user could have written for
another purpose (a release folder's ``MANIFEST.sha256``). The seal's key is part of emac-sim, so
it tells emac-sim's markers from look-alikes written by hand or by other tools, not from a
deliberate forgery (anyone who can write the folder can delete it anyway); a marker that lists a
path outside its folder is never valid. An existing directory is replaced only
when it is empty, or when its marker's seal verifies and every entry in it is a file the marker
lists with unchanged content (or a directory holding only such files). Anything else (a user
file, an edited artifact, an empty user subfolder, a symbolic link, another emac-sim output
nested inside) makes the command refuse with one line, before the work. When the previous
output is removed, only the files its marker lists are unlinked and only directories left empty
are removed, so even a file added during the run survives.

A symbolic link given as the output is followed: the directory it points to is replaced and
the link itself is kept.

File names derived from input (journey names, study names, component ids) go through
:func:`safe_name` / :func:`unique_names`: ASCII letters, digits, ``.``, ``_`` and ``-`` only, no
leading dot, bounded length; lossy or colliding names (``cart`` / ``Cart`` on a case-insensitive
file system) get a short digest of the original so that two inputs never share a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .errors import SpecError

MARKER = ".emac-sim-output"
"""Name of the marker file every emac-sim output directory holds."""

_KEY = b"emac-sim output marker v1"  # the seal proves the marker was written by emac-sim, not by hand or by another tool
_FORMAT = 1
_TMP_PREFIX = ".emac-tmp-"
_OLD_PREFIX = ".emac-old-"
_NAME_MAX_FALLBACK = 255
MAX_SLUG = 80
"""Longest file-name stem :func:`safe_name` produces (before the digest suffix)."""


# --------------------------------------------------------------------------- safe names


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _digest(text: str, n: int = 8) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def safe_name(text: str, max_len: int = MAX_SLUG) -> str:
    """A file-name stem made from ``text``: safe on every file system, never a path.

    Letters, digits, ``.``, ``_`` and ``-`` are kept; every other run of characters becomes one
    ``-``; leading dots and separators are dropped (no hidden files, no ``..``). When that loses
    anything (or the result would be empty or longer than ``max_len``), ``-`` and the first 8 hex
    digits of the text's sha256 are appended so distinct inputs keep distinct names.

    Examples
    --------
    ``checkout`` → ``checkout``; ``../escaped`` → ``escaped-1f0b...``; ``GET /cart`` → ``GET-cart-...``.
    """
    text = str(text)
    slug = _UNSAFE.sub("-", text).strip(".-_")
    slug = re.sub(r"-{2,}", "-", slug)
    if slug == text and 0 < len(slug) <= max_len:
        return slug
    return f"{slug[:max_len].rstrip('.-_') or 'unnamed'}-{_digest(text)}"


def unique_names(texts: Iterable[str], max_len: int = MAX_SLUG) -> dict[str, str]:
    """:func:`safe_name` of each text, made unique ignoring case (``cart`` and ``Cart`` differ).

    Returns ``{text: name}``. A name shared (case-insensitively) by several texts gets each
    text's digest appended, so the mapping is deterministic and does not depend on order.
    """
    texts = list(dict.fromkeys(str(t) for t in texts))
    names = {t: safe_name(t, max_len) for t in texts}
    by_key: dict[str, list[str]] = {}
    for t, n in names.items():
        by_key.setdefault(n.casefold(), []).append(t)
    for group in by_key.values():
        if len(group) > 1:
            for t in group:
                names[t] = f"{names[t]}-{_digest(t)}"
    return names


# --------------------------------------------------------------------------- the marker


def _seal(command: str, files: Mapping[str, str]) -> str:
    body = json.dumps({"command": command, "files": dict(sorted(files.items())), "format": _FORMAT}, sort_keys=True, separators=(",", ":"))
    return hmac.new(_KEY, body.encode("utf-8"), hashlib.sha256).hexdigest()


def marker_text(command: str, files: Mapping[str, str]) -> str:
    """The marker's content: deterministic for the same command and files (same inputs, same bytes)."""
    doc = {
        "generator": "emac-sim",
        "format": _FORMAT,
        "command": command,
        "note": "written by emac-sim; the next run replaces this directory as a whole (files added here make it refuse)",
        "files": dict(sorted(files.items())),
        "seal": _seal(command, files),
    }
    return json.dumps(doc, indent=1, ensure_ascii=True) + "\n"


@dataclass(frozen=True)
class Marker:
    """A verified marker: the command that wrote the directory and the files it wrote."""

    command: str
    files: Mapping[str, str]


def read_marker(directory: str | os.PathLike) -> Marker | None:
    """The verified marker of ``directory``, or ``None`` (absent, unreadable, forged or edited)."""
    p = Path(directory) / MARKER
    try:
        if p.is_symlink() or not p.is_file() or p.stat().st_size > 64 * 1024 * 1024:
            return None
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("generator") != "emac-sim" or doc.get("format") != _FORMAT:
        return None
    command, files, seal = doc.get("command"), doc.get("files"), doc.get("seal")
    if not isinstance(command, str) or not isinstance(files, dict) or not isinstance(seal, str):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) and _is_relpath(k) for k, v in files.items()):
        return None
    if not hmac.compare_digest(seal, _seal(command, files)):
        return None
    return Marker(command, files)


# --------------------------------------------------------------------------- ownership


def _sha256_file(p: Path) -> str | None:
    h = hashlib.sha256()
    try:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return None
    return h.hexdigest()


def _foreign_entry(directory: Path) -> str | None:
    """Why ``directory`` (which exists) may not be replaced, or ``None`` when it may.

    It may be replaced when it is empty, or when it holds a valid marker and nothing but the
    files that marker lists, unchanged (and the directories holding them).
    """
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not names:
        return None
    marker = read_marker(directory)
    if marker is None:
        nested = _nested_output(directory)
        if nested is not None:
            return nested
        hint = " (a MANIFEST.sha256 alone does not mark an emac-sim output)" if (directory / "MANIFEST.sha256").exists() else ""
        return f"is not empty and was not written by emac-sim (holds {names[0]!r}){hint}; choose a new or empty directory"
    listed = set(marker.files)
    needed_dirs = {str(parent) for rel in listed for parent in PurePosixPath(rel).parents}
    for root, dirs, files in os.walk(directory, followlinks=False):
        rel_root = Path(root).relative_to(directory).as_posix()
        for name in sorted(dirs + files):
            full = Path(root) / name
            rel = name if rel_root == "." else f"{rel_root}/{name}"
            if full.is_symlink():
                return f"holds {rel!r}, a symbolic link emac-sim did not write; move it or choose another directory"
            if name in dirs:
                if rel not in needed_dirs:
                    if read_marker(full) is not None:
                        return _nested_message(rel, full)
                    return f"holds {rel + '/'!r}, a folder emac-sim did not write; move it or choose another directory"
                continue
            if rel == MARKER:
                continue
            if rel not in listed:
                return f"holds files emac-sim did not write ({rel}); move them or choose another directory"
            if _sha256_file(full) != marker.files[rel]:
                return f"holds {rel!r}, changed since emac-sim wrote it; move it or choose another directory"
    return None


def _nested_output(directory: Path) -> str | None:
    """A message when ``directory`` (no marker of its own) holds an emac-sim output in a subfolder
    (looked for three levels and 200 folders deep at most: this only words the refusal)."""
    seen = 0
    for root, dirs, _files in os.walk(directory, followlinks=False):
        dirs.sort()
        for name in dirs:
            full = Path(root) / name
            if not full.is_symlink() and read_marker(full) is not None:
                return _nested_message(full.relative_to(directory).as_posix(), full)
        seen += len(dirs)
        if seen > 200:
            break
        if len(Path(root).relative_to(directory).parts) >= 2:
            dirs.clear()
    return None


def _nested_message(rel: str, full: Path) -> str:
    m = read_marker(full)
    by = f" by emac {m.command}" if m is not None else ""
    return (
        f"holds another emac-sim output ({rel}/, written{by}); emac-sim replaces only a directory it wrote as a whole: "
        "choose another directory"
    )


# --------------------------------------------------------------------------- preflight


@dataclass(frozen=True)
class OutputDir:
    """A checked output directory: ``shown`` as the user gave it, ``target`` absolute (links resolved)."""

    shown: str
    target: Path
    command: str

    def fail(self, message: str) -> SpecError:
        return SpecError(self.shown, "", message)


def _name_max(existing: Path) -> int:
    try:
        return int(os.pathconf(existing, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):  # pragma: no cover - platforms without pathconf
        return _NAME_MAX_FALLBACK


def check_output_dir(out: str | os.PathLike, command: str) -> OutputDir:
    """Check that ``out`` can take the output of ``command``, before any work is done.

    Parameters
    ----------
    out
        The output directory as the user gave it (``--out``).
    command
        The emac command writing it (recorded in the marker).

    Returns
    -------
    OutputDir

    Raises
    ------
    SpecError
        One line naming ``out``: it is a file, the current directory or one of its parents, a
        name longer than the file system allows, in a place that cannot be written, or an existing
        directory holding anything emac-sim did not write.
    """
    shown = str(out)
    if not shown or "\x00" in shown:
        raise SpecError("--out", "", "expected a directory name")
    raw = Path(os.path.abspath(out))
    od = OutputDir(shown, raw, command)
    try:
        return _check(od, raw)
    except OSError as exc:
        raise od.fail(f"cannot use this output directory: {exc.strerror or exc}") from None


def _check(od: OutputDir, raw: Path) -> OutputDir:
    """The checks of :func:`check_output_dir` (``raw``: the absolute path as given)."""
    shown, command = od.shown, od.command
    anchor = raw
    while not os.path.lexists(anchor):  # lexists never raises (too long, permission): it says False
        anchor = anchor.parent
    limit = _name_max(anchor if anchor.is_dir() else anchor.parent)
    for part in raw.parts:
        if len(os.fsencode(part)) > limit:
            raise od.fail(f"a name in this path is {len(part)} characters long; the file system allows {limit}")
    if len(os.fsencode(raw)) > 4000:
        raise od.fail("path is too long")
    # follow a symbolic link (the link stays; the directory it points to is replaced)
    if raw.is_symlink():
        target = Path(os.path.realpath(raw))
        if not target.exists():
            raise od.fail(f"is a symbolic link to {str(target)!r}, which does not exist")
    else:
        target = Path(os.path.realpath(raw.parent)) / raw.name if raw.parent != raw else raw
    od = OutputDir(shown, target, command)
    if target.parent == target:
        raise od.fail("is the root directory; choose a subdirectory")
    cwd = Path(os.path.realpath(os.getcwd()))
    if target == cwd or target in cwd.parents:
        where = "the current directory" if target == cwd else "a parent of the current directory"
        raise od.fail(f"is {where}: emac-sim replaces its output directory as a whole; choose a subdirectory such as ./out")
    # nearest existing ancestor must be a writable directory
    existing = target
    while not os.path.lexists(existing):
        existing = existing.parent
    if existing == target:
        if target.is_symlink():  # a link inside the resolved path that points nowhere usable
            raise od.fail("is a symbolic link emac-sim cannot follow")
        if not target.is_dir():
            raise od.fail("output path exists and is not a directory; choose a directory")
        why = _foreign_entry(target)
        if why is not None:
            raise od.fail(f"output directory {why}")
        place = target.parent
    else:
        if not existing.is_dir():
            raise od.fail(f"{str(existing)!r} is a file, so no directory can be created under it")
        place = existing
    if not os.access(place, os.W_OK | os.X_OK):
        raise od.fail(f"cannot write in {str(place)!r} (permission denied)")
    return od


def check_output_file(path: str | os.PathLike, option: str) -> Path:
    """Check, before the work, that a single output file (``--junit``) can be written.

    The file may exist (it is replaced atomically) but must be a regular file; its directory
    must exist or be creatable, and be writable.

    Raises
    ------
    SpecError
        One line naming the option and the path.
    """
    p = Path(os.path.abspath(path))
    shown = f"{option} {path}"
    try:
        if os.path.lexists(p) and not p.is_file():
            raise SpecError(shown, "", "is a directory or a special file; give a file name")
        parent = p.parent
        while not os.path.lexists(parent):
            parent = parent.parent
        if any(len(os.fsencode(part)) > _name_max(parent) for part in p.parts):
            raise SpecError(shown, "", f"a name in this path is longer than the file system allows ({_name_max(parent)})")
        if not parent.is_dir():
            raise SpecError(shown, "", f"{str(parent)!r} is a file, so no file can be created under it")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise SpecError(shown, "", f"cannot write in {str(parent)!r} (permission denied)")
    except OSError as exc:
        raise SpecError(shown, "", f"cannot use this output file: {exc.strerror or exc}") from None
    return p


# --------------------------------------------------------------------------- writing


def _fsync_path(path: Path, directory: bool = False) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0))
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _staged_files(stage: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for root, dirs, names in os.walk(stage):
        dirs.sort()
        for name in sorted(names):
            full = Path(root) / name
            rel = full.relative_to(stage).as_posix()
            if rel == MARKER:
                continue
            if full.is_symlink() or not full.is_file():
                raise RuntimeError(f"staged output holds {rel!r}, which is not a regular file")
            _fsync_path(full)
            digest = _sha256_file(full)
            assert digest is not None
            files[rel] = digest
    return files


def _remove_previous(old: Path, marker: Marker | None) -> None:
    """Remove what emac-sim wrote in ``old`` (a renamed previous output); keep anything else."""
    if marker is not None:
        for rel in marker.files:
            with contextlib.suppress(OSError):
                (old / rel).unlink()
    with contextlib.suppress(OSError):
        (old / MARKER).unlink()
    for root, _dirs, _files in sorted(os.walk(old, topdown=False), key=lambda t: -len(Path(t[0]).parts)):
        with contextlib.suppress(OSError):
            os.rmdir(root)  # only empty directories: a file someone added in the meantime survives


class Staging:
    """A hidden directory beside the target; :meth:`commit` swaps it into place."""

    def __init__(self, od: OutputDir) -> None:
        self.out = od
        parent = od.target.parent
        self._created: list[Path] = []  # missing parents made here, removed again if nothing is committed
        p = parent
        while not os.path.lexists(p):
            self._created.append(p)
            p = p.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix=_TMP_PREFIX, dir=parent))
            os.chmod(self.path, 0o777 & ~_umask())
        except OSError as exc:
            raise od.fail(f"cannot create the output directory: {exc.strerror}") from None

    def final(self, staged: str | os.PathLike) -> Path:
        """Where a staged path will be once committed (as the user named the output)."""
        rel = Path(staged).resolve().relative_to(self.path.resolve())
        return Path(self.out.shown).joinpath(rel)

    def commit(self) -> list[Path]:
        """Seal, flush and swap the staged directory into place; return the final paths (marker last)."""
        od = self.out
        files = _staged_files(self.path)
        with open(self.path / MARKER, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(marker_text(od.command, files))
            fh.flush()
            os.fsync(fh.fileno())
        for root, _dirs, _names in os.walk(self.path):
            _fsync_path(Path(root), directory=True)
        target, parent = od.target, od.target.parent
        try:
            if os.path.lexists(target):
                why = _foreign_entry(target) if target.is_dir() else "path exists and is not a directory"
                if why is not None:  # something changed since the preflight
                    raise od.fail(f"output directory {why}")
                previous = read_marker(target)
                old = Path(tempfile.mkdtemp(prefix=_OLD_PREFIX, dir=parent))
                os.rmdir(old)
                os.rename(target, old)
                try:
                    os.rename(self.path, target)
                except BaseException:
                    os.rename(old, target)
                    raise
                _remove_previous(old, previous)
            else:
                os.rename(self.path, target)
            _fsync_path(parent, directory=True)
        except OSError as exc:
            raise od.fail(f"cannot write the output directory: {exc.strerror or exc}") from None
        return [Path(od.shown).joinpath(*PurePosixPath(rel).parts) for rel in files] + [Path(od.shown) / MARKER]

    def discard(self) -> None:
        """Remove the staged directory (and the parents made for it, when still empty)."""
        shutil.rmtree(self.path, ignore_errors=True)
        if not os.path.lexists(self.out.target):
            for p in self._created:
                with contextlib.suppress(OSError):
                    os.rmdir(p)


@contextlib.contextmanager
def staged_output(out: str | os.PathLike | OutputDir, command: str) -> Iterator[Staging]:
    """Stage an output directory: write into ``staging.path``; it is committed when the block
    ends normally and discarded (the previous output untouched) when it raises.

    ``out`` may be an :class:`OutputDir` from an earlier :func:`check_output_dir` (the check is
    repeated at commit time in any case).
    """
    od = out if isinstance(out, OutputDir) else check_output_dir(out, command)
    stage = Staging(od)
    try:
        yield stage
    except BaseException:
        stage.discard()
        raise
    try:
        stage.commit()
    finally:
        if stage.path.exists():
            stage.discard()


def write_output(out: str | os.PathLike | OutputDir, files: Mapping[str, str | bytes], command: str) -> list[Path]:
    """Write ``files`` (normalised relative path → text or bytes) as the complete contents of ``out``.

    Returns the final paths in the order given, then the marker. Text is written as UTF-8.

    Raises
    ------
    ValueError
        A path that is absolute, not normalised, escapes the directory or names the marker.
    SpecError
        ``out`` is unusable (see :func:`check_output_dir`).
    """
    rels = [check_relpath(r) for r in files]
    od = out if isinstance(out, OutputDir) else check_output_dir(out, command)
    stage = Staging(od)
    try:
        for rel, content in zip(rels, files.values()):
            data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            target = stage.path.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        stage.commit()
    finally:
        if stage.path.exists():
            stage.discard()
    return [Path(od.shown).joinpath(*r.parts) for r in rels] + [Path(od.shown) / MARKER]


def _is_relpath(rel: str) -> bool:
    try:
        check_relpath(rel)
    except ValueError:
        return False
    return True


def check_relpath(rel: str) -> PurePosixPath:
    """A relative, normalised artifact path that stays inside its directory (else ``ValueError``)."""
    p = PurePosixPath(rel)
    if p.is_absolute() or ".." in p.parts or not p.parts or rel != str(p) or "\\" in rel:
        raise ValueError(f"artifact path must be relative and normalised, got {rel!r}")
    if p.parts[0] == MARKER:
        raise ValueError(f"{MARKER} is written by emac-sim itself")
    return p
