"""Errors raised for bad user input.

Every error a user can cause is a :class:`SpecError`: it renders as one line
``FILE: PATH: what is wrong`` and the CLI turns it into exit code 2.
"""

from __future__ import annotations

import decimal
import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

TOO_EXTREME = "numbers too extreme to compute with"


class _Located:
    """A one-line message about a place in the inputs: ``file``, ``path`` inside it, ``message``."""

    def __init__(self, file: str, path: str, message: str) -> None:
        self.file = _printable(str(file))
        self.path = _printable(str(path))
        self.message = " ".join(str(message).split())
        super().__init__(self.line())

    def line(self) -> str:  # pragma: no cover - each subclass renders its own line
        raise NotImplementedError


class SpecError(_Located, ValueError):
    """Bad input: names the file, the path inside it and what is wrong.

    Parameters
    ----------
    file
        The file the problem is in (as the user named it), or ``"<spec>"``.
    path
        Dotted path inside the document, e.g. ``spec.operator.steps[2].branches[1]``.
    message
        What is wrong, in one line.
    """

    def line(self) -> str:
        """The one-line rendering ``FILE: PATH: message``."""
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}: {where}{self.message}"


def _printable(text: str) -> str:
    """Escape newlines and other control characters (a YAML key may hold them) to keep one line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class SpecWarning(_Located, UserWarning):
    """Something in the inputs looks wrong or was skipped, but the command can go on (a bare
    ``70`` seconds beside ``18ms``; an unreadable SLO file beside the spec).

    Issued with :func:`warnings.warn` by the loader; the CLI prints each as one line on stderr,
    ``FILE: PATH: warning: message``, and goes on.
    """

    def line(self) -> str:
        """The one-line rendering ``FILE: PATH: warning: message``."""
        where = f"{self.path}: " if self.path else ""
        return f"{self.file}: {where}warning: {self.message}"


def numeric_layer(what: str) -> Callable[[F], F]:
    """Decorate a numeric entry point taking a journey first: an overflow inside it (numbers the
    load-time ranges let through but the arithmetic cannot hold) becomes a one-line
    :class:`SpecError` naming the journey's file, never a traceback.

    Only overflow is caught (``OverflowError``, ``FloatingPointError``, decimal overflow); other
    exceptions are bugs and stay visible.
    """

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(journey: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(journey, *args, **kwargs)
            except (OverflowError, FloatingPointError, decimal.Overflow) as exc:
                source = getattr(journey, "source", "<spec>")
                raise SpecError(source, "", f"{what}: {TOO_EXTREME} ({type(exc).__name__}: {exc})") from None

        return wrapper  # type: ignore[return-value]

    return deco
