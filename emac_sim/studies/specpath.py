"""Addressing and changing one value inside an EmaC spec document (``emac whatif --vary``).

A *spec path* names a value relative to the document's ``spec`` mapping, with the same spelling
the loader uses in its error messages::

    components.paya.availability
    components.cart.capacity.replicas
    operator.steps[2].hedgeDelay
    load.rate
    failureDomains.payment-network.rho

Segments are separated by dots; ``[i]`` indexes a list; a key holding dots or brackets may be
quoted, ``components."svc.v2".availability`` or ``components["svc.v2"].availability``. A leading
``spec.`` is accepted and ignored.

``failureDomains.<name>.<key>`` addresses the rule *by name* inside ``spec.failureDomains.rules``
(the paper's list form). Correlation keys (``rho``, ``latencyRho``, ``probability``, ``beta``,
``model``) live in the rule's ``correlation`` mapping, which is created when missing (as
``{model: shock}`` for ``probability``/``beta``; the loader's default model is gaussian). A domain
that components name in their ``failureDomains`` but that has no rule yet gets one.

Mutation works on the parsed YAML document (plain dicts and lists), never on the frozen journey:
the changed document goes through the normal loader, so a bad value fails with the loader's
one-line error naming its path (``spec.components.paya.availability: must be a probability``).
"""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError

Segment = str | int

_CORRELATION_KEYS = ("model", "rho", "latencyRho", "probability", "beta")
_SHOCK_KEYS = ("probability", "beta")
_TOKEN = re.compile(
    r"""
    \s*(?:
        "(?P<dq>[^"]*)"              # "quoted key"
      | '(?P<sq>[^']*)'              # 'quoted key'
      | \[\s*(?P<idx>-?\d+)\s*\]     # [3]
      | \[\s*"(?P<bdq>[^"]*)"\s*\]   # ["key"]
      | \[\s*'(?P<bsq>[^']*)'\s*\]   # ['key']
      | (?P<key>[^.\[\]"']+)         # bare key
      | (?P<dot>\.)
    )
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class SpecPath:
    """A parsed spec path: ``segments`` are mapping keys (str) and list indices (int)."""

    text: str
    segments: tuple[Segment, ...]
    source: str = "--vary"  # the option or study file the path came from (named in errors)

    def __str__(self) -> str:
        return self.text

    @property
    def display(self) -> str:
        """The path as the loader prints it, rooted at ``spec``."""
        return render_path(("spec", *self.segments))


def render_path(segments: tuple[Segment, ...] | list[Segment]) -> str:
    """``('spec', 'operator', 'steps', 2)`` → ``spec.operator.steps[2]``."""
    out = ""
    for s in segments:
        if isinstance(s, int):
            out += f"[{s}]"
        elif re.fullmatch(r"[^.\[\]\"']+", s):
            out += f".{s}" if out else s
        else:
            out += f'."{s}"' if out else f'"{s}"'
    return out


def parse_path(text: str, source: str = "--vary") -> SpecPath:
    """Parse a spec path (see the module docstring).

    Raises
    ------
    SpecError
        Empty or malformed paths, naming ``source`` (the option or study file it came from).
    """
    raw = text.strip()
    if not raw:
        raise SpecError(source, "", "empty spec path")
    segs: list[Segment] = []
    pos = 0
    expect_key = True  # a bare/quoted key is allowed here (start, or after a dot)
    while pos < len(raw):
        m = _TOKEN.match(raw, pos)
        if m is None or m.end() == pos:
            raise SpecError(source, raw, f"malformed spec path near {raw[pos:]!r}")
        pos = m.end()
        if m.group("dot") is not None:
            if expect_key:
                raise SpecError(source, raw, "malformed spec path: empty segment")
            expect_key = True
            continue
        if m.group("idx") is not None:
            if expect_key or not segs:
                raise SpecError(source, raw, "malformed spec path: an index [i] must follow a key")
            segs.append(int(m.group("idx")))
            continue
        key = next(g for g in (m.group("dq"), m.group("sq"), m.group("bdq"), m.group("bsq"), m.group("key")) if g is not None)
        bracketed = m.group("bdq") is not None or m.group("bsq") is not None
        if not bracketed and not expect_key:
            raise SpecError(source, raw, f"malformed spec path: missing '.' before {key!r}")
        if bracketed and expect_key and segs:
            raise SpecError(source, raw, "malformed spec path: empty segment")
        segs.append(key.strip() if not bracketed else key)
        expect_key = False
    if expect_key:
        raise SpecError(source, raw, "malformed spec path: ends with '.'")
    if segs and segs[0] == "spec":
        segs = segs[1:]
    if not segs:
        raise SpecError(source, raw, "the path must name a value inside spec")
    return SpecPath(text=raw, segments=tuple(segs), source=source)


# --------------------------------------------------------------------------- navigation


class _Nav:
    """Walks a document along a path, creating mappings where that is safe."""

    def __init__(self, file: str, path: SpecPath, create: bool) -> None:
        self.file = file
        self.path = path
        self.create = create

    def fail(self, walked: list[Segment], message: str) -> SpecError:
        if self.path.source.startswith("--"):  # a path given on the command line: name the option and the path as typed
            return SpecError(self.path.source, self.path.text, message)
        return SpecError(self.file, render_path(["spec", *walked]), message)

    def resolve(self, doc: Any) -> tuple[Any, Segment, list[Segment]]:
        """(container, final key or index, walked real path) for the value the path names."""
        if not isinstance(doc, dict) or not isinstance(doc.get("spec"), dict):
            raise SpecError(self.file, "spec", "document has no spec mapping")
        node: Any = doc["spec"]
        segs = list(self.path.segments)
        walked: list[Segment] = []
        if segs[0] == "failureDomains" and len(segs) >= 3 and isinstance(segs[1], str) and segs[1] != "rules":
            node, walked, segs = self._domain(doc["spec"], segs)
        for i, seg in enumerate(segs[:-1]):
            node = self._step(node, seg, walked, nxt=segs[i + 1])
            walked.append(seg)
        last = segs[-1]
        self._check_last(node, last, walked)
        return node, last, walked

    def _step(self, node: Any, seg: Segment, walked: list[Segment], nxt: Segment) -> Any:
        if isinstance(seg, int):
            if not isinstance(node, list):
                raise self.fail(walked, f"cannot index [{seg}]: not a list")
            if not -len(node) <= seg < len(node):
                raise self.fail(walked, f"index [{seg}] out of range (the list has {len(node)} entries)")
            return node[seg]
        if not isinstance(node, dict):
            raise self.fail(walked, f"cannot take key {seg!r}: not a mapping")
        if seg in node and node[seg] is not None:
            return node[seg]
        if not self.create or not self._creatable(walked) or isinstance(nxt, int):
            raise self.fail(walked, self._missing(node, seg, walked))
        node[seg] = {}
        return node[seg]

    def _check_last(self, node: Any, last: Segment, walked: list[Segment]) -> None:
        if isinstance(last, int):
            if not isinstance(node, list):
                raise self.fail(walked, f"cannot index [{last}]: not a list")
            if not -len(node) <= last < len(node):
                raise self.fail(walked, f"index [{last}] out of range (the list has {len(node)} entries)")
            return
        if not isinstance(node, dict):
            raise self.fail(walked, f"cannot set key {last!r}: not a mapping")
        if last not in node and not (self.create and self._creatable(walked)):
            raise self.fail(walked, self._missing(node, last, walked))

    @staticmethod
    def _creatable(walked: list[Segment]) -> bool:
        # never invent a component, an operator node or a top-level section the path mistyped
        if not walked:
            return True  # a new section (load:); the loader rejects unknown ones with did-you-mean
        if walked[0] == "components" and len(walked) < 2:
            return False
        return walked[0] != "operator"

    @staticmethod
    def _missing(node: dict, seg: Segment, walked: list[Segment]) -> str:
        keys = [str(k) for k in node]
        what = "component" if walked == ["components"] else "key"
        hint = difflib.get_close_matches(str(seg), keys, n=1, cutoff=0.6)
        if hint:
            return f"no {what} {seg!r} (did you mean {hint[0]!r}?)"
        return f"no {what} {seg!r}" + (f" (has: {', '.join(keys)})" if keys else "")

    def _domain(self, spec: dict, segs: list[Segment]) -> tuple[Any, list[Segment], list[Segment]]:
        """Resolve ``failureDomains.<name>...`` to the rule (and its correlation mapping)."""
        name = str(segs[1])
        fd = spec.get("failureDomains")
        if fd is None:
            fd = spec["failureDomains"] = {}
        if not isinstance(fd, dict):
            raise self.fail(["failureDomains"], "expected a mapping with 'rules'")
        rules = fd.get("rules")
        if rules is None:
            rules = fd["rules"] = []
        if not isinstance(rules, list):
            raise self.fail(["failureDomains", "rules"], "expected a list")
        index = next((i for i, r in enumerate(rules) if isinstance(r, dict) and r.get("name") == name), None)
        if index is None:
            known = _referenced_domains(spec)
            if name not in known:
                names = sorted(known | {str(r.get("name")) for r in rules if isinstance(r, dict)})
                hint = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
                dym = f" (did you mean {hint[0]!r}?)" if hint else (f" (known: {', '.join(names)})" if names else "")
                raise self.fail(["failureDomains"], f"no failure domain named {name!r}{dym}")
            if not self.create:
                raise self.fail(["failureDomains"], f"failure domain {name!r} has no rule")
            rules.append({"name": name})
            index = len(rules) - 1
        rule = rules[index]
        walked: list[Segment] = ["failureDomains", "rules", index]
        rest = list(segs[2:])
        if isinstance(rest[0], str) and rest[0] in _CORRELATION_KEYS:
            corr = rule.get("correlation")
            if corr is None:
                if not self.create:
                    raise self.fail(walked, f"failure domain {name!r} declares no correlation")
                corr = rule["correlation"] = {"model": "shock"} if rest[0] in _SHOCK_KEYS else {}
            rule_node: Any = corr
            walked = [*walked, "correlation"]
        else:
            rule_node = rule
        if len(rest) == 1:
            return rule_node, walked, rest
        # deeper paths continue from the rule (or its correlation) with the generic walker
        node = rule_node
        for i, seg in enumerate(rest[:-1]):
            node = self._step(node, seg, walked, nxt=rest[i + 1])
            walked = [*walked, seg]
        return node, walked, rest[-1:]


def _referenced_domains(spec: dict) -> set[str]:
    out: set[str] = set()
    comps = spec.get("components")
    if isinstance(comps, dict):
        for c in comps.values():
            if isinstance(c, dict) and isinstance(c.get("failureDomains"), list):
                out.update(str(x) for x in c["failureDomains"])
    return out


def get_value(doc: Any, path: SpecPath, file: str = "<spec>") -> Any:
    """The value ``path`` names in ``doc`` (``None`` when an optional key is absent).

    Raises
    ------
    SpecError
        When the path cannot exist in this document (unknown component, index out of range).
    """
    probe = copy.deepcopy(doc)
    node, last, _ = _Nav(file, path, create=True).resolve(probe)
    if isinstance(last, int):
        return node[last]
    return node.get(last)


def set_value(doc: Any, path: SpecPath, value: Any, file: str = "<spec>") -> Any:
    """Return a deep copy of ``doc`` with the value at ``path`` replaced by ``value``.

    Missing mappings along the way are created (``load``, ``capacity``, a domain's
    ``correlation``), but never a component, an operator node or a list entry. The result is
    not validated here: pass it to :func:`emac_sim.spec.loader.parse_document`.

    Raises
    ------
    SpecError
        The path does not fit the document (the message names the deepest valid prefix).
    """
    out = copy.deepcopy(doc)
    node, last, _ = _Nav(file, path, create=True).resolve(out)
    node[last] = copy.deepcopy(value)
    return out


def resolved_path(doc: Any, path: SpecPath, file: str = "<spec>") -> str:
    """The document path a spec path lands on, e.g. ``spec.failureDomains.rules[2].correlation.rho``."""
    probe = copy.deepcopy(doc)
    _, last, walked = _Nav(file, path, create=True).resolve(probe)
    return render_path(["spec", *walked, last])


def operator_nodes(doc: Any) -> list[tuple[str, dict]]:
    """Every operator mapping of ``doc`` in pre-order with its spec path (``operator.steps[2]``).

    Follows ``steps``/``branches`` lists and ``step`` mappings, the keys the loader reads; a
    ``ref`` leaf is included as its own mapping.
    """
    out: list[tuple[str, dict]] = []

    def walk(node: Any, path: str) -> None:
        if not isinstance(node, dict):
            return
        out.append((path, node))
        for key in ("steps", "branches"):
            items = node.get(key)
            if isinstance(items, list):
                for i, child in enumerate(items):
                    walk(child, f"{path}.{key}[{i}]")
        if isinstance(node.get("step"), dict):
            walk(node["step"], f"{path}.step")

    spec = doc.get("spec") if isinstance(doc, dict) else None
    if isinstance(spec, dict):
        walk(spec.get("operator"), "operator")
    return out
