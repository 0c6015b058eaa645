"""Safe YAML reading: syntax errors with line numbers, duplicate keys refused, alias bombs refused.

PyYAML keeps anchors as shared objects, so a "billion laughs" document parses quickly but any
traversal afterwards explodes. We compose the node graph first, measure its expanded size with
memoisation (cost proportional to the distinct nodes), and refuse documents that would expand
beyond :data:`MAX_EXPANDED_NODES` before constructing a single Python object.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import yaml

from ..errors import SpecError

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_EXPANDED_NODES = 1_000_000


# libyaml's parser when present (about 10x faster); duplicate keys are found on the node
# graph by _find_duplicate_key, so both loaders behave the same
_StrictLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _find_duplicate_key(node: yaml.Node, path: str, seen: set[int]) -> tuple[str, str, int, int] | None:
    """First mapping key given twice: (path of the key, key text, first line, second line), 1-based.

    Walks the composed node graph once per distinct node (aliases are not re-entered), so the
    cost is bounded by the document's size, not by its alias expansion.
    """
    if id(node) in seen:
        return None
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for i, child in enumerate(node.value):
            hit = _find_duplicate_key(child, f"{path}[{i}]", seen)
            if hit:
                return hit
    elif isinstance(node, yaml.MappingNode):
        first: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                key = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                child_path = f"{path}.{key_node.value}" if path else str(key_node.value)
                if key in first:
                    return child_path, key_node.value, first[key], line
                first[key] = line
            else:
                child_path = f"{path}.?" if path else "?"
            hit = _find_duplicate_key(value_node, child_path, seen)
            if hit:
                return hit
    return None


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


def display_path(p: str | os.PathLike) -> str:
    """``p`` relative to the current directory when that is shorter, else absolute (for messages)."""
    absolute = os.path.abspath(p)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:  # another drive on Windows
        return absolute
    return relative if len(relative) <= len(absolute) else absolute


def load_yaml_documents(path: str | os.PathLike, display: str | None = None) -> list[object]:
    """Read every YAML document in ``path`` safely.

    Raises
    ------
    SpecError
        Missing or unreadable file, oversized file, syntax error (with line), duplicate key,
        or an alias expansion beyond :data:`MAX_EXPANDED_NODES`.
    """
    shown = display or str(path)
    data = read_input_bytes(path, shown, MAX_FILE_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(shown, "", f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return load_yaml_text(text, shown)


def read_input_bytes(path: str | os.PathLike, shown: str, limit: int) -> bytes:
    """The bytes of a regular input file of at most ``limit`` bytes.

    Devices (``/dev/zero``), FIFOs, sockets and directories are refused before reading (a FIFO
    would block, a device never end), and at most ``limit + 1`` bytes are ever read, so a file
    growing while it is read cannot exhaust memory either.

    Raises
    ------
    SpecError
        One line naming the file: missing, not a regular file, too large or unreadable.
    """
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise SpecError(shown, "", "file not found") from None
    except OSError as exc:
        raise SpecError(shown, "", f"cannot read file: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise SpecError(shown, "", "is a directory, expected a YAML file")
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a file"
        raise SpecError(shown, "", f"is {kind}, not a regular file; save the input to a file first")
    if st.st_size > limit:
        raise SpecError(shown, "", f"file is {st.st_size} bytes, larger than the {limit} byte limit")
    try:
        with open(p, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise SpecError(shown, "", f"cannot read file: {exc.strerror}") from None
    if len(data) > limit:
        raise SpecError(shown, "", f"file is larger than the {limit} byte limit")
    return data


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
            dup = _find_duplicate_key(node, "", set())
            if dup is not None:
                where, key, line1, line2 = dup
                raise SpecError(shown, where, f"{key!r} defined twice (lines {line1} and {line2})")
            docs.append(loader.construct_document(node))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"line {mark.line + 1}" if mark is not None else ""
        what = exc.problem or exc.context or "syntax error"
        if exc.problem and exc.context:
            started = exc.context_mark
            if started is not None and mark is not None and started.line != mark.line:
                what = f"{exc.problem} ({exc.context} started on line {started.line + 1})"
            else:
                what = f"{exc.problem} ({exc.context})"
        if isinstance(exc, yaml.constructor.ConstructorError):
            raise SpecError(shown, line, f"unsupported YAML: {what}") from None
        raise SpecError(shown, line, f"YAML syntax error: {what}") from None
    except yaml.YAMLError as exc:
        raise SpecError(shown, "", f"YAML error: {exc}") from None
    except RecursionError:
        raise SpecError(shown, "", "YAML nesting too deep") from None
    finally:
        loader.dispose()
    return docs


def scalar_text(v: object) -> str:
    """A YAML scalar as the string a Go program (Sloth, Kubernetes) reads it into: ``true`` /
    ``false`` for booleans (Python would write ``True``), ``""`` for null, else ``str(v)``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return "" if v is None else str(v)
