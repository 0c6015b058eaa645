"""Safe YAML reading: syntax errors with line numbers, duplicate keys refused, alias bombs refused.

PyYAML keeps anchors as shared objects, so a "billion laughs" document parses quickly but any
traversal afterwards explodes. We compose the node graph first, measure its expanded size with
memoisation (cost proportional to the distinct nodes), and refuse documents that would expand
beyond :data:`MAX_EXPANDED_NODES` before constructing a single Python object.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from ..errors import SpecError

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_EXPANDED_NODES = 1_000_000


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # the base class reports unhashable keys
            if key in seen:
                raise _DuplicateKey(key, seen[key] + 1, key_node.start_mark.line + 1)
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _StrictLoader.construct_mapping)


class _DuplicateKey(Exception):
    def __init__(self, key: object, first: int, again: int) -> None:
        self.key, self.first, self.again = key, first, again


def _expanded_size(node: yaml.Node, memo: dict[int, int], limit: int) -> int:
    """Number of nodes after alias expansion (memoised on node identity, capped at limit+1)."""
    nid = id(node)
    if nid in memo:
        return memo[nid]
    memo[nid] = limit + 1  # a cycle counts as infinite
    size = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            size += _expanded_size(child, memo, limit)
            if size > limit:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            size += _expanded_size(k, memo, limit) + _expanded_size(v, memo, limit)
            if size > limit:
                break
    memo[nid] = min(size, limit + 1)
    return memo[nid]


def load_yaml_documents(path: str | os.PathLike, display: str | None = None) -> list[object]:
    """Read every YAML document in ``path`` safely.

    Raises
    ------
    SpecError
        Missing or unreadable file, oversized file, syntax error (with line), duplicate key,
        or an alias expansion beyond :data:`MAX_EXPANDED_NODES`.
    """
    shown = display or str(path)
    p = Path(path)
    if not p.exists():
        raise SpecError(shown, "", "file not found")
    if p.is_dir():
        raise SpecError(shown, "", "is a directory, expected a YAML file")
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError(shown, "", f"file is {size} bytes, larger than the {MAX_FILE_BYTES} byte limit")
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(shown, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise SpecError(shown, "", f"cannot read file: {exc.strerror}") from None
    return load_yaml_text(text, shown)


def load_yaml_text(text: str, shown: str) -> list[object]:
    """Parse YAML text; see :func:`load_yaml_documents`."""
    loader = _StrictLoader(text)
    docs: list[object] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            if _expanded_size(node, {}, MAX_EXPANDED_NODES) > MAX_EXPANDED_NODES:
                raise SpecError(
                    shown,
                    f"line {node.start_mark.line + 1}",
                    f"YAML aliases expand to more than {MAX_EXPANDED_NODES:,} nodes (alias bomb?); refusing",
                )
            docs.append(loader.construct_document(node))
    except _DuplicateKey as dup:
        raise SpecError(shown, f"line {dup.again}", f"duplicate key {dup.key!r} (first defined on line {dup.first})") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}" if mark is not None else ""
        what = exc.problem or exc.context or "syntax error"
        raise SpecError(shown, line, f"YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise SpecError(shown, "", f"YAML error: {exc}") from None
    except RecursionError:
        raise SpecError(shown, "", "YAML nesting too deep") from None
    finally:
        loader.dispose()
    return docs
