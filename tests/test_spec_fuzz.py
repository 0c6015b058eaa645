"""Fuzzing ``emac check``: mutated specs give exit 0, or exit 2 with one line, never a traceback.

Two kinds of mutation of the example configs: structural (replace, delete, rename or add a
value anywhere in the parsed document, then write YAML) and textual (insert, delete or replace
characters of the YAML text, which mostly exercises the YAML layer).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from emac_sim.cli import app

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
BASES = {p.name: yaml.safe_load(p.read_text()) for p in sorted(CONFIGS.glob("*.yaml"))}
TEXTS = {p.name: p.read_text() for p in sorted(CONFIGS.glob("*.yaml"))}

SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# the slow tier explores fresh random mutations on every run
SETTINGS_SLOW = settings(SETTINGS, max_examples=1500, derandomize=False, database=None)

NASTY = [
    None,
    True,
    0,
    -1,
    1.5,
    1e308,
    math.nan,
    math.inf,
    -math.inf,
    10**400,
    "",
    "x",
    "10 parsecs",
    "-5ms",
    "1e999s",
    "+Inf",
    [],
    [None],
    [[1, 2]],
    {},
    {"dist": "lognormal"},
    {"dist": "mixture", "components": [{"weight": 1, "dist": "constant"}]},
    {"type": "series"},
    {"type": "choice", "branches": [{"weight": 0}]},
    {"ref": "front"},
    {"ref": ["a"]},
    {"model": "shock"},
]

values = st.recursive(
    st.one_of(
        st.sampled_from(NASTY),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.text(max_size=6),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=6,
)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _copy(node: object) -> object:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


@st.composite
def mutated_documents(draw: st.DrawFn) -> object:
    # every drawn value is copied: sampled_from hands out the NASTY objects themselves, and adding
    # into one of them would change the strategy (flaky generation) or nest it in itself (a cycle)
    name = draw(st.sampled_from(sorted(BASES)))
    doc = _copy(BASES[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "rename", "add"]))
        if not path:
            if action == "replace":
                doc = _copy(draw(values))
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]  # type: ignore[index]
        last = path[-1]
        if action == "replace":
            parent[last] = _copy(draw(values))  # type: ignore[index]
        elif action == "delete":
            del parent[last]  # type: ignore[arg-type]
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = parent.pop(last)
        elif action == "add":
            target = parent[last]  # type: ignore[index]
            if isinstance(target, dict):
                target[draw(st.text(min_size=1, max_size=8))] = _copy(draw(values))
            elif isinstance(target, list):
                target.append(_copy(draw(values)))
    return doc


@st.composite
def mutated_texts(draw: st.DrawFn) -> str:
    text = TEXTS[draw(st.sampled_from(sorted(TEXTS)))]
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.one_of(st.sampled_from(list(":-[]{},&*!|>'\"#%@`\t\n ?")), st.text(max_size=3)))
        if kind == "insert":
            text = text[:pos] + piece + text[pos:]
        elif kind == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 20)) :]
        else:
            text = text[:pos] + piece + text[pos + len(piece) :]
    return text


def _assert_clean(path: Path, *extra: str) -> None:
    r = CliRunner().invoke(app, ["check", str(path), *extra], catch_exceptions=True)
    assert r.exception is None or isinstance(r.exception, SystemExit), (r.exception, path.read_text()[:2000])
    assert r.exit_code in (0, 2), (r.exit_code, r.stderr)
    if r.exit_code == 2:
        assert r.stdout == ""
        assert r.stderr.count("\n") == 1 and r.stderr.endswith("\n"), r.stderr
        assert r.stderr.startswith(f"{path}: "), r.stderr
    else:
        assert r.stdout


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@SETTINGS
@given(doc=mutated_documents())
def test_structural_mutations_never_crash(fuzz_dir, doc):
    path = fuzz_dir / "mutated.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    _assert_clean(path, "--format", "json")


@SETTINGS
@given(text=mutated_texts())
def test_text_mutations_never_crash(fuzz_dir, text):
    path = fuzz_dir / "mutated.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _assert_clean(path)


@pytest.mark.slow
@SETTINGS_SLOW
@given(doc=mutated_documents())
def test_many_structural_mutations_never_crash(fuzz_dir, doc):
    test_structural_mutations_never_crash.hypothesis.inner_test(fuzz_dir, doc)


@pytest.mark.slow
@SETTINGS_SLOW
@given(text=mutated_texts())
def test_many_text_mutations_never_crash(fuzz_dir, text):
    test_text_mutations_never_crash.hypothesis.inner_test(fuzz_dir, text)


def test_not_utf8(fuzz_dir):
    path = fuzz_dir / "latin1.yaml"
    path.write_bytes("metadata: {name: caf\u00e9}\n".encode("latin-1"))
    r = CliRunner().invoke(app, ["check", str(path)])
    assert r.exit_code == 2
    assert r.stderr == f"{path}: not UTF-8 text (invalid continuation byte at byte 20)\n"
