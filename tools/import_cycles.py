"""List import cycles among emac_sim's modules (``make lint`` runs it; exit 1 when there are any).

Every ``import`` and ``from … import`` counts, at module level or inside a function (a deferred
import still ties two modules together). An edge goes to the module the statement names:
``from pkg import name`` depends on ``pkg.name`` when that is a module, else on ``pkg``'s
``__init__`` (a re-exported name); ``import a.b`` on ``a.b``. Cycles are the strongly connected
components of the graph with more than one module (or a module importing itself).

``--rules`` also checks the layering: every module belongs to one layer of :data:`LAYERS` and
imports nothing from a layer above its own (lower layers never import upper ones); and the
contracts of :data:`FORBIDDEN`: the reference simulator imports nothing from
``emac_sim.engine`` or ``emac_sim.kernels`` (it is the engine's independent check).

Usage: ``python tools/import_cycles.py [--rules] [PACKAGE_DIR]`` (default: ``emac_sim``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

#: Packages whose modules sit in one layer but whose functions may reach named layers above it,
#: by imports inside functions only (never at module level): each operator module is the one
#: place that holds everything its operator means (its law, bounds, kernel code, limits, discovery), so its
#: methods call into the analytic, engine, spec and discovery layers that the rest of the tree calls them from.
REACHES_UP = {
    "emac_sim.operators": ("emac_sim.analytic", "emac_sim.engine", "emac_sim.spec", "emac_sim.discover"),
}

FORBIDDEN = {
    # module (or package prefix) -> prefixes it must not import
    "emac_sim.reference": ("emac_sim.engine", "emac_sim.kernels"),
}

#: The layers, lowest first: a module may import its own layer and those below, never above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("emac_sim.core", "emac_sim.errors", "emac_sim.units", "emac_sim.kernelcache"),  # foundations
    ("emac_sim.model", "emac_sim.operators", "emac_sim.outdir"),  # the journey IR and its operators; output folders
    ("emac_sim.spec",),  # YAML documents -> IR
    ("emac_sim.analytic", "emac_sim.kernels"),  # exact values and bounds; numba building blocks
    ("emac_sim.engine", "emac_sim.reference"),  # Monte Carlo; the slow reference simulator
    ("emac_sim.check",),  # Monte Carlo vs bounds
    ("emac_sim.budgets",),  # budgets of a consistent model
    ("emac_sim.govern",),  # PASS / FAIL / REVIEW, guards
    ("emac_sim.emit", "emac_sim.evidence", "emac_sim.discover", "emac_sim.studies"),  # renderers, evidence, discovery, studies
    ("emac_sim.pipeline",),  # the commands' orchestration
    ("emac_sim.cli", "emac_sim"),  # the command line and the public API
)


def module_names(root: Path) -> dict[str, Path]:
    """``{"emac_sim.engine.compile": path, "emac_sim.engine": path/__init__.py, ...}``."""
    out: dict[str, Path] = {}
    base = root.parent
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(current: str, is_package: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    pkg = current.split(".") if is_package else current.split(".")[:-1]
    if level > 1:
        pkg = pkg[: len(pkg) - (level - 1)]
    return ".".join(pkg + ([module] if module else []))


def imports_of(name: str, path: Path, modules: dict[str, Path], *, module_level: bool = False) -> set[str]:
    """Modules of the package that ``name`` imports (directly, anywhere in the file; with
    ``module_level`` only the statements run on import, outside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()

    def add(target: str) -> None:
        if target in modules and target != name:
            found.add(target)

    def statements(t: ast.AST):
        if not module_level:
            yield from ast.walk(t)
            return
        for child in ast.iter_child_nodes(t):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only
            yield child
            yield from statements(child)

    for node in statements(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                add(sub if sub in modules else base)
    return found


def graph(root: Path, module_level: bool = False) -> dict[str, set[str]]:
    """Each module's imports (``module_level``: only those run at import time)."""
    modules = module_names(root)
    return {name: imports_of(name, path, modules, module_level=module_level) for name, path in modules.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with a cycle (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for start in sorted(g):
        if start in index:
            continue
        work = [(start, iter(sorted(g[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(g.get(w, ())))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1 or v in g.get(v, ()):
                    out.append(sorted(comp))
    return sorted(out)


def _within(mod: str, prefix: str) -> bool:
    return mod == prefix or mod.startswith(prefix + ".")


def layer_of(mod: str) -> int | None:
    """Index in :data:`LAYERS` of the longest prefix that holds ``mod`` (``None``: unassigned)."""
    best: tuple[int, int] | None = None
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if _within(mod, p) and (best is None or len(p) > best[1]):
                best = (i, len(p))
    return None if best is None else best[0]


def rule_violations(g: dict[str, set[str]], eager: dict[str, set[str]] | None = None) -> list[str]:
    """Layering and :data:`FORBIDDEN` violations of the import graph ``g``; ``eager`` holds each
    module's module-level imports (for :data:`REACHES_UP`; default: all of ``g``)."""
    eager = g if eager is None else eager
    bad = []
    for mod, deps in sorted(g.items()):
        for owner, banned in FORBIDDEN.items():
            if _within(mod, owner):
                for d in sorted(deps):
                    if d.startswith(banned):
                        bad.append(f"{mod} imports {d} (forbidden: {', '.join(banned)})")
        own = layer_of(mod)
        if own is None:
            bad.append(f"{mod} belongs to no layer (add it to LAYERS)")
            continue
        for d in sorted(deps):
            up = layer_of(d)
            if up is not None and up > own:
                reach = next((r for p, r in REACHES_UP.items() if _within(mod, p)), ())
                if any(_within(d, r) for r in reach) and d not in eager.get(mod, set()):
                    continue
                bad.append(f"{mod} imports {d}, a layer above its own ({', '.join(LAYERS[up])} over {', '.join(LAYERS[own])})")
    return bad


def main(argv: list[str]) -> int:
    rules = "--rules" in argv
    args = [a for a in argv if a != "--rules"]
    root = Path(args[0] if args else "emac_sim").resolve()
    g = graph(root)
    found = cycles(g)
    for comp in found:
        print("import cycle among: " + ", ".join(comp))
    bad = rule_violations(g, graph(root, module_level=True)) if rules else []
    for line in bad:
        print("layering: " + line)
    if not found and not bad:
        print(f"no import cycles among {len(g)} modules" + (" and no layering violations" if rules else ""))
    return 1 if found or bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
