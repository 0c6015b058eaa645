"""Incremental JSON reading: walk the outer structure of a large document, decode its items.

Trace exports are one big JSON value (``{"resourceSpans": [...]}``, ``{"data": [...]}``, a
Zipkin ``[...]``) or JSON Lines. Decoding one with :func:`json.load` builds the whole document as
Python objects first, several times the file's size. :class:`JsonStream` instead walks the
containers we care about key by key and item by item, and decodes only the leaves we ask for
(one span, one resource) with the C decoder (:meth:`json.JSONDecoder.raw_decode`) on a bounded
text buffer. Peak memory is one buffer chunk plus the largest single item.

A document cut short (an exporter killed mid-write) or a syntax error raises
:class:`~emac_sim.errors.SpecError` naming the character offset.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import SpecError

_DECODER = json.JSONDecoder()
_WS = " \t\r\n"
CHUNK_CHARS = 1 << 20


def open_text(path: str | Path) -> io.TextIOBase:
    """Open a (possibly gzip-compressed) UTF-8 text file."""
    p = Path(path)
    with open(p, "rb") as fb:
        magic = fb.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(p, "rb"), encoding="utf-8-sig")
    return open(p, encoding="utf-8-sig")


class JsonStream:
    """A cursor over a JSON text that is read in chunks.

    Parameters
    ----------
    fp
        Text file object (UTF-8).
    name
        File name used in error messages.
    chunk
        Characters read per refill.
    """

    def __init__(self, fp: io.TextIOBase, name: str, chunk: int = CHUNK_CHARS) -> None:
        self.fp = fp
        self.name = name
        self.chunk = chunk
        self.buf = ""
        self.pos = 0
        self.base = 0  # characters dropped from the front of buf so far
        self.eof = False

    # ------------------------------------------------------------------ buffer

    def _fill(self) -> bool:
        """Read one more chunk; False at end of file."""
        if self.eof:
            return False
        try:
            more = self.fp.read(self.chunk)
        except UnicodeDecodeError as exc:
            raise SpecError(self.name, f"character {self.base + len(self.buf)}", f"not UTF-8 text ({exc.reason})") from None
        except (OSError, EOFError) as exc:
            raise SpecError(self.name, f"character {self.base + len(self.buf)}", f"cannot read: {exc}") from None
        if not more:
            self.eof = True
            return False
        if self.pos > self.chunk:
            self.base += self.pos
            self.buf = self.buf[self.pos :]
            self.pos = 0
        self.buf += more
        return True

    def offset(self) -> int:
        """Character offset of the cursor in the whole text."""
        return self.base + self.pos

    def fail(self, message: str, at: int | None = None) -> SpecError:
        return SpecError(self.name, f"character {self.offset() if at is None else at}", message)

    def peek(self) -> str | None:
        """Next non-whitespace character (not consumed), ``None`` at end of file."""
        while True:
            buf, n = self.buf, len(self.buf)
            p = self.pos
            while p < n and buf[p] in _WS:
                p += 1
            self.pos = p
            if p < n:
                return buf[p]
            if not self._fill():
                return None

    def expect(self, ch: str, what: str) -> None:
        c = self.peek()
        if c is None:
            raise self.fail(f"truncated JSON: file ends where {what} was expected")
        if c != ch:
            raise self.fail(f"invalid JSON: expected {what}, found {c!r}")
        self.pos += 1

    # ------------------------------------------------------------------ values

    def value(self) -> Any:
        """Decode the next complete JSON value and move past it."""
        if self.peek() is None:
            raise self.fail("truncated JSON: file ends where a value was expected")
        while True:
            try:
                val, end = _DECODER.raw_decode(self.buf, self.pos)
            except RecursionError:
                raise self.fail("invalid JSON: nested too deeply") from None
            except json.JSONDecodeError as exc:
                near_end = exc.pos >= len(self.buf) - 8 or exc.msg.startswith("Unterminated string")
                if near_end and self._fill():
                    continue
                if near_end:
                    raise self.fail("truncated JSON: file ends inside a value", self.base + exc.pos) from None
                raise self.fail(f"invalid JSON: {exc.msg}", self.base + exc.pos) from None
            # a number at the very end of the buffer may continue in the next chunk
            if end == len(self.buf) and not self.eof and self._fill():
                continue
            self.pos = end
            return val

    def skip(self) -> None:
        """Move past the next value without keeping it (decoded, then dropped)."""
        self.value()

    def items(self) -> Iterator[None]:
        """Iterate an array: consumes ``[``; before each yield the cursor is at an item, which the
        caller must consume (``value()``, ``skip()`` or a nested walk); consumes ``]``."""
        self.expect("[", "'['")
        if self.peek() == "]":
            self.pos += 1
            return
        while True:
            start = self.offset()
            yield
            if self.offset() == start:
                raise self.fail("internal: array item not consumed")
            c = self.peek()
            if c == ",":
                self.pos += 1
                continue
            if c == "]":
                self.pos += 1
                return
            if c is None:
                raise self.fail("truncated JSON: file ends inside an array")
            raise self.fail(f"invalid JSON: expected ',' or ']' in an array, found {c!r}")

    def members(self) -> Iterator[str]:
        """Iterate an object: consumes ``{``; yields each key with the cursor at its value, which
        the caller must consume; consumes ``}``."""
        self.expect("{", "'{'")
        if self.peek() == "}":
            self.pos += 1
            return
        while True:
            if self.peek() != '"':
                if self.peek() is None:
                    raise self.fail("truncated JSON: file ends inside an object")
                raise self.fail(f"invalid JSON: expected a quoted key, found {self.peek()!r}")
            key = self.value()
            self.expect(":", "':' after a key")
            start = self.offset()
            yield key
            if self.offset() == start:
                raise self.fail("internal: object member not consumed")
            c = self.peek()
            if c == ",":
                self.pos += 1
                continue
            if c == "}":
                self.pos += 1
                return
            if c is None:
                raise self.fail("truncated JSON: file ends inside an object")
            raise self.fail(f"invalid JSON: expected ',' or '}}' in an object, found {c!r}")
