"""Where the compiled numba kernels are cached, and the one-line notice when they must be compiled.

Every process that runs the kernels (the ``emac`` command, the Python API, the test suite, Dask
workers) uses one cache directory, so kernels compiled once are loaded from disk afterwards
(a journey's generated kernel compiles in seconds; loading it takes milliseconds). The
directory is, in order of precedence:

1. ``$EMAC_CACHE_DIR``;
2. ``$NUMBA_CACHE_DIR`` (numba's own setting, honoured when set);
3. ``$XDG_CACHE_HOME/emac-sim``;
4. ``~/.cache/emac-sim``.

:func:`configure` runs when this module is imported, which :mod:`emac_sim` does first, before any module imports numba (numba
reads ``NUMBA_CACHE_DIR`` once, at its own import); when numba was imported earlier it updates
numba's configuration directly, which still applies to every kernel emac-sim defines later.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

NOTICE = "compiling kernel (one time)"

_lock = threading.Lock()
_announced: set[tuple[str, ...]] = set()
_silenced = False


def resolve_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The kernel cache directory for the environment ``env`` (default ``os.environ``), by the
    precedence in the module docstring."""
    env = os.environ if env is None else env
    for key in ("EMAC_CACHE_DIR", "NUMBA_CACHE_DIR"):
        if env.get(key):
            return Path(env[key]).expanduser()
    base = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(base).expanduser() / "emac-sim"


def configure() -> Path:
    """Point numba's cache at :func:`resolve_cache_dir` (created if missing) and return it.

    An unwritable location falls back to a per-user directory under the system's temporary
    directory, so a read-only home never stops a run (it only costs the cache).
    """
    path = resolve_cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
        writable = os.access(path, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        uid = os.getuid() if hasattr(os, "getuid") else "user"
        path = Path(tempfile.gettempdir()) / f"emac-sim-{uid}"
        path.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:  # numba imported before emac_sim: its settings were read already
        numba_config.CACHE_DIR = str(path)
    return path


def cache_dir() -> Path:
    """The directory numba caches emac-sim's kernels in (set by :func:`configure`)."""
    return Path(os.environ.get("NUMBA_CACHE_DIR") or resolve_cache_dir())


def is_cold(dispatcher: Any) -> bool:
    """True when ``dispatcher`` (an ``@njit(cache=True)`` function) has no usable cache entry
    yet: its index file is missing, or was written for another version of its source."""
    if getattr(dispatcher, "signatures", None):
        return False  # already compiled (or loaded) in this process
    cache = getattr(dispatcher, "_cache", None)
    try:
        return not cache._cache_file._load_index()  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - numba internals changed: stay quiet rather than guess
        return False


def announce_if_cold(*dispatchers: Any) -> bool:
    """Print :data:`NOTICE` on stderr when any of ``dispatchers`` (the functions of one kernel)
    must be compiled: once per kernel and process. Returns True when it printed."""
    key = tuple(f"{getattr(d, '__module__', '')}.{getattr(d, '__qualname__', d)}" for d in dispatchers)
    with _lock:
        if _silenced or key in _announced:
            return False
        _announced.add(key)
        if not any(is_cold(d) for d in dispatchers):
            return False
        print(f"{NOTICE}; cached in {cache_dir()}", file=sys.stderr, flush=True)
        return True


def mark_announced() -> None:
    """Stop announcing (in-process test runners that assert stderr byte for byte)."""
    global _silenced
    _silenced = True


configure()
