"""Generated journey kernels on disk: write once per structure, import, let numba cache the machine code.

A kernel's source (``emac_sim.engine.codegen``) is written to ``<cache>/kernels/k_<key>.py``
(atomically, once: numba keys its on-disk cache on the source file's path and modification
time, so a file is never rewritten) and imported as a module; its ``@njit(cache=True)``
functions then compile on first use and load from numba's cache afterwards. ``key`` hashes the
source text and the emac-sim and numba versions, so a new release never loads a stale kernel.

The cache directory is :func:`emac_sim.kernelcache.cache_dir` (the one numba uses). A kernel that
has to be compiled says ``compiling kernel (one time)`` on stderr
(:func:`emac_sim.kernelcache.announce_if_cold`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType

import numba

from ..core.version import __version__
from ..kernelcache import announce_if_cold, cache_dir

_LOCK = threading.Lock()
_LOADED: dict[str, ModuleType] = {}


def kernel_dir() -> Path:
    """Where generated kernel modules live."""
    return cache_dir() / "kernels"


def module_key(source: str) -> str:
    """Cache key of a kernel source: its text, emac-sim's and numba's versions."""
    return hashlib.sha256(f"{__version__}\n{numba.__version__}\n{source}".encode()).hexdigest()[:24]


def _write_once(path: Path, text: str) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        if not path.exists():
            os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def import_source(source: str, file_stem: str, module_prefix: str) -> ModuleType:
    """Import (writing it to the cache first when needed, once per process) the module of a
    generated kernel source as ``<cache>/kernels/<file_stem>_<key>.py``, ``<module_prefix>_<key>``."""
    key = module_key(source)
    with _LOCK:
        mod = _LOADED.get(f"{module_prefix}_{key}")
        if mod is None:
            path = kernel_dir() / f"{file_stem}_{key}.py"
            _write_once(path, source)
            if path.read_text(encoding="utf-8") != source:  # a hash collision or a tampered file
                raise RuntimeError(f"kernel cache file {path} does not hold the expected source; remove it")
            name = f"{module_prefix}_{key}"
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
            _LOADED[name] = mod
    return mod


def load_module(source: str) -> ModuleType:
    """Import (writing it first when needed) the module of a generated kernel source; say so on
    stderr when its kernels have to be compiled."""
    mod = import_source(source, "k", "emac_kernel")
    announce_if_cold(mod.journey, mod.sample_block)
    return mod
