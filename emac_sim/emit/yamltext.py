"""Deterministic YAML text for generated artifacts.

The style follows what Go's ``gopkg.in/yaml.v2`` writes (Prometheus, Sloth, kubectl): block
style, sequences not indented under their key, 80-column folding of long plain scalars, literal
blocks (``|`` / ``|-``) for multi-line strings such as PromQL, and double quotes around strings a
YAML reader would otherwise take for a number or a boolean (``"99.9"``, ``"true"``). Floats are
written with Python's ``repr`` (shortest text that round-trips). Mapping order is kept as given,
so the caller decides the order and the bytes are a pure function of the data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

_STR_TAG = "tag:yaml.org,2002:str"


class _Dumper(yaml.SafeDumper):
    """SafeDumper with Go-like string styles and exact floats; never emits aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _resolves_to_non_string(value: str) -> bool:
    resolver = yaml.resolver.Resolver()
    return resolver.resolve(yaml.ScalarNode, value, (True, False)) != _STR_TAG


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if value == "" or _resolves_to_non_string(value):
        return dumper.represent_scalar(_STR_TAG, value, style='"')
    if "\n" in value:
        return dumper.represent_scalar(_STR_TAG, value, style="|")
    return dumper.represent_scalar(_STR_TAG, value)


def _represent_float(dumper: yaml.SafeDumper, value: float) -> yaml.Node:
    if math.isnan(value):
        text = ".nan"
    elif math.isinf(value):
        text = ".inf" if value > 0 else "-.inf"
    else:
        text = repr(value)
        if "." not in text and "e" not in text:
            text += ".0"
    return dumper.represent_scalar("tag:yaml.org,2002:float", text)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(float, _represent_float)


def plain(obj: Any) -> Any:
    """Convert to plain YAML/JSON data: numpy scalars → Python numbers, tuples → lists.

    Mapping keys become strings; mapping order is kept.
    """
    if isinstance(obj, bool) or obj is None or isinstance(obj, (str, int)):
        return obj
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) or (isinstance(obj, Sequence) and not isinstance(obj, (str, bytes))):
        return [plain(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(plain(v) for v in obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return plain(obj.item())
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy array
        return plain(obj.tolist())
    raise TypeError(f"cannot write {type(obj).__name__} to YAML")


def dump(data: Any, *, width: int = 80) -> str:
    """One YAML document as text (no ``---`` marker), deterministic for the same data."""
    return yaml.dump(plain(data), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=width, default_flow_style=False)


def dump_all(documents: Sequence[Any], *, width: int = 80) -> str:
    """Several YAML documents separated by ``---`` lines."""
    return "---\n".join(dump(d, width=width) for d in documents)
