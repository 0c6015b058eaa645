"""Property tests draw the same examples whichever modules are imported (issue 12 §1).

Hypothesis mixes literals of imported local modules into its draws; ``make verify`` and
``make test-all`` once drew other journeys than the test file alone. ``conftest`` pins that
pool (:func:`conftest.pin_hypothesis_constants`). Each run here is a fresh interpreter, the
only way to control what has been imported before the first draw.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent
ODD = 0.9137913791379138  # a literal no strategy would draw by itself

DRAWS = """
import sys
sys.path[:0] = [{tests!r}, {extra!r}]
if {pin}:
    import conftest  # noqa: F401  pins hypothesis' pool of local literals
if {import_extra}:
    import literals_module  # noqa: F401
from hypothesis import given, seed, settings, strategies as st
out = []
@seed(20240612)
@settings(max_examples=400, database=None, deadline=None)
@given(st.floats(0.85, 0.999))
def draw(x):
    out.append(x)
draw()
print(repr(out))
"""


def _draws(tmp_path: Path, *, pin: bool, import_extra: bool) -> list[float]:
    extra = tmp_path / "extra"
    extra.mkdir(exist_ok=True)
    (extra / "literals_module.py").write_text(f"THRESHOLDS = ({ODD!r}, {ODD!r} + 0)\n")
    code = DRAWS.format(tests=str(TESTS), extra=str(extra), pin=pin, import_extra=import_extra)
    env = {**os.environ, "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path / "hypothesis")}
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    return ast.literal_eval(res.stdout)


def test_draws_do_not_depend_on_imported_modules(tmp_path: Path) -> None:
    alone = _draws(tmp_path, pin=True, import_extra=False)
    with_extra = _draws(tmp_path, pin=True, import_extra=True)
    assert alone == with_extra and ODD not in with_extra


def test_without_the_pin_an_imported_literal_leaks_into_the_draws(tmp_path: Path) -> None:
    # what the pin prevents (if hypothesis ever drops the feature, this test says so)
    assert ODD in _draws(tmp_path, pin=False, import_extra=True)
