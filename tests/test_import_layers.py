"""No import cycles and no upward imports (``tools/import_cycles.py --rules``, also run by ``make lint``)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _tool():
    spec = importlib.util.spec_from_file_location("import_cycles", REPO / "tools" / "import_cycles.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["import_cycles"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_the_package_has_no_import_cycle_and_no_upward_import() -> None:
    tool = _tool()
    g = tool.graph(REPO / "emac_sim")
    assert tool.cycles(g) == []
    assert tool.rule_violations(g, tool.graph(REPO / "emac_sim", module_level=True)) == []


def test_an_operator_may_reach_up_only_inside_a_function() -> None:
    tool = _tool()
    g = {"emac_sim.operators.retry": {"emac_sim.engine.codegen"}, "emac_sim.engine.codegen": set()}
    assert tool.rule_violations(g, {"emac_sim.operators.retry": set()}) == []
    assert tool.rule_violations(g, g)[0].startswith("emac_sim.operators.retry imports emac_sim.engine.codegen, a layer above")


def test_a_deferred_import_still_makes_a_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "emac_sim"
    (pkg / "engine").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "engine" / "__init__.py").write_text("")
    (pkg / "engine" / "simulate.py").write_text("from . import dask_backend\n")
    (pkg / "engine" / "dask_backend.py").write_text("def f():\n    from .simulate import simulate\n")
    tool = _tool()
    assert tool.cycles(tool.graph(pkg)) == [["emac_sim.engine.dask_backend", "emac_sim.engine.simulate"]]


def test_upward_and_forbidden_imports_are_reported() -> None:
    tool = _tool()
    g = {
        "emac_sim.core.seeds": {"emac_sim.engine.simulate"},
        "emac_sim.reference": {"emac_sim.kernels.histogram"},
        "emac_sim.engine.simulate": {"emac_sim.core.seeds"},
        "emac_sim.kernels.histogram": set(),
        "emac_sim.newthing": set(),
    }
    bad = tool.rule_violations(g)
    assert any(b.startswith("emac_sim.core.seeds imports emac_sim.engine.simulate, a layer above its own") for b in bad)
    assert "emac_sim.reference imports emac_sim.kernels.histogram (forbidden: emac_sim.engine, emac_sim.kernels)" in bad
    assert not any(b.startswith("emac_sim.engine.simulate") for b in bad)  # a lower layer may be imported
    assert tool.layer_of("emac_sim.newthing") == tool.layer_of("emac_sim")  # the public package's own layer
