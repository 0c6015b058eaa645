"""Action guards: a small, safe expression language (DESIGN §7). No ``eval``.

Grammar (precedence low → high)::

    guard      := or
    or         := and ( "||" and )*
    and        := unary ( "&&" unary )*
    unary      := "!" unary | comparison
    comparison := operand ( ("<" | "<=" | ">" | ">=" | "==" | "!=") operand )?
    operand    := NUMBER | NAME | "conf" "(" "delta" ")" | "true" | "false" | "(" or ")"

Numbers may carry a duration unit (``400ms``, ``0.4s``, ``250us``), converted to seconds.
Names (:data:`NUMERIC_NAMES`, :data:`BOOLEAN_NAMES`):

- ``A_minus`` / ``A_plus``: the pessimistic and optimistic (independent) journey availability;
- ``width``: ``A_plus − A_minus``;
- ``p50_U``, ``p90_U``, ``p99_U``, ``p999_U``: upper latency bound of that quantile, seconds;
- ``conf(delta)``: confidence of the model delta (the candidate / discovered model);
- ``no_unresolved_domain_conflict``: true when no failure-domain conflict awaits resolution.

Types are checked when the guard is parsed: comparisons take numbers, ``&&``/``||``/``!`` take
conditions, and a guard must be a condition. Chained comparisons (``a < b < c``) are refused.

Evaluation is strict about missing values: a guard that mentions a value that is not known
(e.g. a candidate that states no confidence) evaluates to *unknown*, and an unknown guard never
allows its action. The PromQL compilation (:func:`to_promql`) has the same semantics: a missing
series yields NaN, and NaN is carried through to the result, which then fails ``== 1``.

A quantity the spec does not model at all (:data:`NOT_MODELLED`: latency bounds of a journey
without latency models) is not unknown but absent: the decision does not gate on it, so a
comparison that mentions it is left out (it holds), in the evaluation and in the PromQL alike.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Union

NUMERIC_NAMES: tuple[str, ...] = ("A_minus", "A_plus", "width", "p50_U", "p90_U", "p99_U", "p999_U", "conf(delta)")
BOOLEAN_NAMES: tuple[str, ...] = ("no_unresolved_domain_conflict",)
FUNCTIONS = {"conf": ("delta",)}
MAX_GUARD_LENGTH = 2000
MAX_GUARD_DEPTH = 32
"""Deepest nesting of parentheses and ``!`` a guard may use."""
_UNITS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}


class _NotModelled:
    """Marker value of a quantity the spec does not model (see the module docstring)."""

    def __repr__(self) -> str:
        return "NOT_MODELLED"


NOT_MODELLED = _NotModelled()


class GuardSyntaxError(ValueError):
    """A guard that does not parse or type-check; the message names the column (1-based)."""


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    kind: str  # NUM NAME OP LPAREN RPAREN END
    text: str
    col: int  # 1-based
    value: float | None = None


_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?P<unit>µs|us|ms|s)?(?![A-Za-z0-9_.])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||<=|>=|==|!=|<|>|!)
  | (?P<lparen>\()
  | (?P<rparen>\))
    """,
    re.X,
)


def tokenize(text: str) -> list[Token]:
    """Split a guard into tokens.

    Raises
    ------
    GuardSyntaxError
        On a character that starts no token, with a hint for ``&``, ``|``, ``=``.
    """
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m or m.end() == pos:
            ch = text[pos]
            hint = {"&": " (use && for and)", "|": " (use || for or)", "=": " (use == to compare)"}.get(ch, "")
            if ch.isdigit() or (ch == "." and text[pos + 1 : pos + 2].isdigit()):
                raise GuardSyntaxError(f"malformed number at column {pos + 1}")
            raise GuardSyntaxError(f"unexpected character {ch!r} at column {pos + 1}{hint}")
        col = pos + 1
        if m.group("num") is not None:
            value = float(m.group("num")) * _UNITS.get(m.group("unit") or "s", 1.0)
            out.append(Token("NUM", m.group(0), col, value))
        elif m.group("name") is not None:
            out.append(Token("NAME", m.group("name"), col))
        elif m.group("op") is not None:
            out.append(Token("OP", m.group("op"), col))
        elif m.group("lparen") is not None:
            out.append(Token("LPAREN", "(", col))
        elif m.group("rparen") is not None:
            out.append(Token("RPAREN", ")", col))
        pos = m.end()
    out.append(Token("END", "", len(text) + 1))
    return out


# --------------------------------------------------------------------------- syntax tree


@dataclass(frozen=True)
class Num:
    value: float
    text: str


@dataclass(frozen=True)
class Var:
    name: str  # one of NUMERIC_NAMES or BOOLEAN_NAMES


@dataclass(frozen=True)
class BoolLit:
    value: bool


@dataclass(frozen=True)
class Compare:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not:
    operand: Expr


@dataclass(frozen=True)
class And:
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Or:
    left: Expr
    right: Expr


Expr = Union[Num, Var, BoolLit, Compare, Not, And, Or]

_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
_SYMBOLS = {"and": "&&", "or": "||", "not": "!"}


def _is_numeric(e: Expr) -> bool:
    return isinstance(e, Num) or (isinstance(e, Var) and e.name in NUMERIC_NAMES)


def unparse(e: Expr) -> str:
    """Canonical text of an expression (fully parenthesised where it matters)."""
    if isinstance(e, Num):
        return e.text
    if isinstance(e, Var):
        return e.name
    if isinstance(e, BoolLit):
        return "true" if e.value else "false"
    if isinstance(e, Compare):
        return f"{unparse(e.left)} {e.op} {unparse(e.right)}"
    if isinstance(e, Not):
        inner = unparse(e.operand)
        return f"!{inner}" if isinstance(e.operand, (Var, BoolLit)) else f"!({inner})"
    op = "&&" if isinstance(e, And) else "||"
    parts = []
    for side in (e.left, e.right):
        s = unparse(side)
        parts.append(f"({s})" if isinstance(side, (And, Or)) and type(side) is not type(e) else s)
    return f" {op} ".join(parts)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0
        self.depth = 0

    def nest(self, t: Token) -> None:
        self.depth += 1
        if self.depth > MAX_GUARD_DEPTH:
            raise GuardSyntaxError(f"nested more than {MAX_GUARD_DEPTH} levels deep at column {t.col} (parentheses and '!')")

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def describe(self, t: Token) -> str:
        return "the end of the guard" if t.kind == "END" else repr(t.text)

    def parse(self) -> Expr:
        if self.tok.kind == "END":
            raise GuardSyntaxError("empty guard")
        e = self.parse_or()
        if self.tok.kind != "END":
            t = self.tok
            hint = " (a comparison cannot be chained; join conditions with &&)" if t.text in _COMPARISONS else ""
            if t.text in ("and", "or", "not"):
                hint = f" (use {_SYMBOLS[t.text]})"
            raise GuardSyntaxError(f"unexpected {self.describe(t)} at column {t.col}{hint}")
        self.need_condition(e, 1, "the guard")
        return e

    def need_condition(self, e: Expr, col: int, where: str) -> None:
        if _is_numeric(e):
            raise GuardSyntaxError(f"{where} at column {col} is a number ({unparse(e)}), expected a condition such as {unparse(e)} >= 0.99")

    def parse_or(self) -> Expr:
        col = self.tok.col
        left = self.parse_and()
        while self.tok.kind == "OP" and self.tok.text == "||":
            op = self.advance()
            self.need_condition(left, col, "the left side of '||'")
            col = self.tok.col
            right = self.parse_and()
            self.need_condition(right, col, f"the right side of '||' (column {op.col})")
            left = Or(left, right)
        return left

    def parse_and(self) -> Expr:
        col = self.tok.col
        left = self.parse_unary()
        while self.tok.kind == "OP" and self.tok.text == "&&":
            op = self.advance()
            self.need_condition(left, col, "the left side of '&&'")
            col = self.tok.col
            right = self.parse_unary()
            self.need_condition(right, col, f"the right side of '&&' (column {op.col})")
            left = And(left, right)
        return left

    def parse_unary(self) -> Expr:
        if self.tok.kind == "OP" and self.tok.text == "!":
            self.nest(self.advance())
            col = self.tok.col
            operand = self.parse_unary()
            self.need_condition(operand, col, "the operand of '!'")
            self.depth -= 1
            return Not(operand)
        return self.parse_comparison()

    def parse_comparison(self) -> Expr:
        col = self.tok.col
        left = self.parse_operand()
        if self.tok.kind == "OP" and self.tok.text in _COMPARISONS:
            op = self.advance()
            rcol = self.tok.col
            right = self.parse_operand()
            for side, c in ((left, col), (right, rcol)):
                if not _is_numeric(side):
                    raise GuardSyntaxError(f"'{op.text}' at column {op.col} compares numbers, but {unparse(side)} (column {c}) is a condition")
            return Compare(op.text, left, right)
        return left

    def parse_operand(self) -> Expr:
        t = self.tok
        if t.kind == "NUM":
            self.advance()
            assert t.value is not None
            return Num(t.value, t.text)
        if t.kind == "LPAREN":
            self.nest(self.advance())
            inner = self.parse_or()
            if self.tok.kind != "RPAREN":
                raise GuardSyntaxError(f"expected ')' to close '(' at column {t.col}, got {self.describe(self.tok)} at column {self.tok.col}")
            self.advance()
            self.depth -= 1
            return inner
        if t.kind == "NAME":
            self.advance()
            if t.text in ("true", "false"):
                return BoolLit(t.text == "true")
            if t.text in FUNCTIONS:
                return self.parse_call(t)
            if t.text in NUMERIC_NAMES or t.text in BOOLEAN_NAMES:
                return Var(t.text)
            if t.text in _SYMBOLS:
                raise GuardSyntaxError(f"unknown name {t.text!r} at column {t.col} (use {_SYMBOLS[t.text]})")
            known = [n for n in (*NUMERIC_NAMES, *BOOLEAN_NAMES) if "(" not in n] + ["conf"]
            hint = difflib.get_close_matches(t.text, known, n=1, cutoff=0.6)
            dym = f" (did you mean {hint[0]!r}?)" if hint else f" (known: {', '.join((*NUMERIC_NAMES, *BOOLEAN_NAMES))})"
            raise GuardSyntaxError(f"unknown name {t.text!r} at column {t.col}{dym}")
        raise GuardSyntaxError(f"expected a number, a name or '(' at column {t.col}, got {self.describe(t)}")

    def parse_call(self, fn: Token) -> Expr:
        args = FUNCTIONS[fn.text]
        if self.tok.kind != "LPAREN":
            raise GuardSyntaxError(f"{fn.text} at column {fn.col} is a function: write {fn.text}({', '.join(args)})")
        self.advance()
        a = self.tok
        if a.kind != "NAME" or a.text not in args:
            raise GuardSyntaxError(f"{fn.text}() at column {fn.col} takes {' or '.join(args)}, got {self.describe(a)}")
        self.advance()
        if self.tok.kind != "RPAREN":
            raise GuardSyntaxError(f"expected ')' after {fn.text}({a.text} at column {self.tok.col}")
        self.advance()
        return Var(f"{fn.text}({a.text})")


def parse_guard(text: str) -> Expr:
    """Parse and type-check a guard expression.

    Raises
    ------
    GuardSyntaxError
        A :class:`ValueError` whose message says what is wrong and at which column.

    Examples
    --------
    >>> unparse(parse_guard("A_minus >= 0.995 && conf(delta) >= 0.8"))
    'A_minus >= 0.995 && conf(delta) >= 0.8'
    """
    if not isinstance(text, str):
        raise GuardSyntaxError(f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_GUARD_LENGTH:
        raise GuardSyntaxError(f"guard is {len(text)} characters long, more than {MAX_GUARD_LENGTH}")
    return _Parser(text).parse()


def validate_guard(text: str) -> None:
    """Raise :class:`GuardSyntaxError` (a ``ValueError``) when ``text`` is not a valid guard."""
    parse_guard(text)


def names(e: Expr) -> Iterator[str]:
    """Names a guard refers to, in order of appearance (with repeats)."""
    if isinstance(e, Var):
        yield e.name
    elif isinstance(e, Compare):
        yield from names(e.left)
        yield from names(e.right)
    elif isinstance(e, Not):
        yield from names(e.operand)
    elif isinstance(e, (And, Or)):
        yield from names(e.left)
        yield from names(e.right)


# --------------------------------------------------------------------------- evaluation

Value = Union[float, bool, None, _NotModelled]


@dataclass(frozen=True)
class Term:
    """One comparison or boolean name of a guard and how it came out (``None``: unknown)."""

    text: str
    result: bool | None
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"term": self.text, "result": self.result, "detail": self.detail}


@dataclass(frozen=True)
class Evaluation:
    """Result of a guard: ``value`` True (allows), False (blocks) or None (unknown: blocks)."""

    guard: str
    value: bool | None
    terms: tuple[Term, ...]
    missing: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return self.value is True

    @property
    def status(self) -> str:
        return {True: "allowed", False: "blocked", None: "unknown"}[self.value]

    def explanation(self) -> str:
        """One line: which terms fail and which values are unknown."""
        if self.value is True:
            return "every condition holds"
        parts = []
        failed = [t.detail for t in self.terms if t.result is False]
        if failed:
            parts.append("fails: " + "; ".join(failed))
        if self.missing:
            parts.append("unknown: no value for " + ", ".join(self.missing))
        return " | ".join(parts) if parts else "does not hold"


def _fmt(v: float) -> str:
    return f"{v:.10g}"


def _value(e: Expr, env: Mapping[str, Value]) -> float | None:
    if isinstance(e, Num):
        return e.value
    assert isinstance(e, Var)
    v = env.get(e.name)
    if v is None or isinstance(v, (bool, _NotModelled)):
        return None
    v = float(v)
    return None if math.isnan(v) else v


_OPS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


def _eval(e: Expr, env: Mapping[str, Value], terms: list[Term]) -> bool | None:
    if isinstance(e, BoolLit):
        return e.value
    if isinstance(e, Var):  # boolean name
        v = env.get(e.name)
        r = None if v is None else bool(v)
        terms.append(Term(e.name, r, f"{e.name} is {'unknown' if r is None else str(r).lower()}"))
        return r
    if isinstance(e, Compare):
        text = unparse(e)
        absent = [n for n in names(e) if env.get(n) is NOT_MODELLED]
        if absent:
            terms.append(Term(text, True, f"{text}: left out ({', '.join(absent)} not modelled)"))
            return True
        a, b = _value(e.left, env), _value(e.right, env)
        if a is None or b is None:
            terms.append(Term(text, None, f"{text}: unknown"))
            return None
        r = bool(_OPS[e.op](a, b))
        shown = f"{_fmt(a)} {e.op if r else _NEGATED[e.op]} {_fmt(b)}"
        terms.append(Term(text, r, f"{text}: {shown}"))
        return r
    if isinstance(e, Not):
        r = _eval(e.operand, env, terms)
        return None if r is None else not r
    left = _eval(e.left, env, terms)
    right = _eval(e.right, env, terms)
    if left is None or right is None:
        return None  # strict: an unknown value anywhere makes the guard unknown
    return (left and right) if isinstance(e, And) else (left or right)


def evaluate_guard(guard: str | Expr, env: Mapping[str, Value]) -> Evaluation:
    """Evaluate a guard against known values.

    Parameters
    ----------
    guard
        Guard text or a parsed expression.
    env
        Values by name (:data:`NUMERIC_NAMES` as floats — latency in seconds —,
        :data:`BOOLEAN_NAMES` as bools); a missing name or ``None`` is unknown;
        :data:`NOT_MODELLED` leaves the comparisons that mention it out.

    Returns
    -------
    Evaluation
        Strict three-valued result: unknown as soon as any value it mentions is unknown.
    """
    text = guard if isinstance(guard, str) else unparse(guard)
    expr = parse_guard(guard) if isinstance(guard, str) else guard
    terms: list[Term] = []
    value = _eval(expr, env, terms)
    missing = tuple(dict.fromkeys(n for n in names(expr) if _missing(env.get(n))))
    if missing:
        value = None
    return Evaluation(guard=text, value=value, terms=tuple(terms), missing=missing)


def _missing(v: Value) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


# --------------------------------------------------------------------------- PromQL


def left_out(guard: str | Expr, omit: frozenset[str] | set[str]) -> list[str]:
    """The comparisons of ``guard`` that mention a name in ``omit`` (not modelled), in order."""
    expr = parse_guard(guard) if isinstance(guard, str) else guard
    out: list[str] = []

    def walk(e: Expr) -> None:
        if isinstance(e, Compare):
            if any(n in omit for n in names(e)):
                out.append(unparse(e))
        elif isinstance(e, Not):
            walk(e.operand)
        elif isinstance(e, (And, Or)):
            walk(e.left)
            walk(e.right)

    walk(expr)
    return out


def to_promql(guard: str | Expr, series: Mapping[str, str], omit: frozenset[str] | set[str] = frozenset()) -> str:
    """Compile a guard into a PromQL scalar expression that is 1 when it holds, 0 when it fails.

    Parameters
    ----------
    guard
        Guard text or parsed expression.
    series
        PromQL selector per name (``{"A_minus": 'journey:checkout:availability_bound{bound="pessimistic"}'}``).
        A boolean name's series holds a count that must be 0 (``no_unresolved_domain_conflict``
        ↔ ``unresolved conflicts == 0``).
    omit
        Names the spec does not model: comparisons that mention them compile to ``1`` (left out,
        as :func:`evaluate_guard` does with :data:`NOT_MODELLED`).

    Notes
    -----
    Every series read is wrapped in ``scalar()``; a missing series is NaN and ``+ 0 * x`` carries
    it to the result, so a guard over missing data is never 1 (the strict semantics of
    :func:`evaluate_guard`).
    """
    expr = parse_guard(guard) if isinstance(guard, str) else guard

    def ref(name: str) -> str:
        if name not in series:
            raise KeyError(f"no series for {name!r}")
        return f"scalar({series[name]})"

    def num(e: Expr) -> str:
        return _promql_number(e.value) if isinstance(e, Num) else ref(e.name)  # type: ignore[union-attr]

    def nan_guard(parts: list[Expr]) -> str:
        return "".join(f" + 0 * {ref(p.name)}" for p in parts if isinstance(p, Var))

    def go(e: Expr) -> str:
        if isinstance(e, BoolLit):
            return "1" if e.value else "0"
        if isinstance(e, Var):
            r = ref(e.name)
            return f"(({r} == bool 0) + 0 * {r})"
        if isinstance(e, Compare):
            if any(n in omit for n in names(e)):
                return "1"
            return f"(({num(e.left)} {e.op} bool {num(e.right)}){nan_guard([e.left, e.right])})"
        if isinstance(e, Not):
            return f"(1 - {go(e.operand)})"
        if isinstance(e, And):
            return f"({go(e.left)} * {go(e.right)})"
        left, right = go(e.left), go(e.right)
        return f"({left} + {right} - {left} * {right})"  # or, on 0/1 values; NaN carries through

    return go(expr)


def _promql_number(v: float) -> str:
    text = repr(float(v))
    return text[:-2] if text.endswith(".0") else text
