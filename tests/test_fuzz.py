"""Fuzzing the CLI contract over mutated specs, hostile options and output directories (issue 13).

Every case runs in its own directory through :class:`fuzzkit.Runner` (a worker process, a
per-case budget) and is held to :func:`fuzzkit.contract_problems` (exit 0/1/2, no traceback,
at most two lines on stderr for exit 2, no hang) and :func:`fuzzkit.write_problems` (nothing
written outside ``--out``, no pre-existing user file lost). The mutator is seeded: the default
tier replays the same few hundred cases on every run; the ``slow`` tier runs thousands.

Mutations of the shipped specs (``configs/*.yaml`` and the paper's checkout spec):

- values: any node replaced by a hostile value (extremes such as ``1e-300s`` and ``1e300``,
  NaN, booleans, markup such as ``[/x]``, path-like or 300-character strings, empty
  containers, operators in the wrong place);
- numbers: any number scaled by 10^±(1…300), zeroed or negated;
- keys: deleted, or renamed to YAML booleans and integers, markup, paths, case twins;
- structure: operators nested 1–70 deep (retry, repeat, timeout, optional), forks up to
  5,000 branches wide with quorums, component ids that collide when lower-cased;
- text: characters inserted, deleted or replaced in the YAML.

Each mutated spec then goes to one of ``check``, ``bounds``, ``simulate``, ``compile``,
``whatif`` or ``report`` (small sample counts: the contract, not the statistics, is tested).
"""

from __future__ import annotations

import copy
import math
import os
import random
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fuzzkit import Outcome, Runner, Tally, contract_problems, snapshot, write_problems

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference"
PAPER = REFERENCE / "paper-checkout"

BUDGET = {"check": 60.0, "bounds": 180.0, "simulate": 180.0, "compile": 240.0, "whatif": 240.0, "report": 300.0, "discover": 180.0, "validate": 240.0}


def bases() -> dict[str, tuple[Any, Path | None]]:
    """Name → (parsed spec, directory to copy beside it or None)."""
    out: dict[str, tuple[Any, Path | None]] = {}
    for p in sorted((REPO / "configs").glob("*.yaml")):
        out[p.name] = (yaml.safe_load(p.read_text()), None)
    paper = PAPER / "spec" / "emac.checkout.yaml"
    if paper.is_file():
        out["paper"] = (yaml.safe_load(paper.read_text()), PAPER)
    return out


EXTREMES: list[Any] = [
    0, -1, 1, 1e-300, 1e300, -1e300, 1e308, 2.5, 10**30, -0.0, math.nan, math.inf,
    "0ms", "1e-300s", "1e300s", "1e999s", "-5ms", "0.5ns", "2d", "400ms", "nan", ".inf", "+Inf",
    True, False, None, "", " ", "[/x]", "x[/bold]", "../../escaped", "/etc/x", "a" * 300, "Cart", "true", "7",
    [], [None], [[1, 2]], {}, {"dist": "lognormal"}, {"dist": "constant", "value": 0},
    {"dist": "gamma", "mean": "10ms", "cv": 1e-300}, {"dist": "weibull", "shape": 1e-300, "scale": "1ms"},
    {"dist": "mixture", "components": [{"weight": 1e308, "dist": {"dist": "constant", "value": "1ms"}},
                                       {"weight": 1e308, "dist": {"dist": "constant", "value": "2ms"}}]},
    {"dist": "histogram", "buckets": [[1e-300, 1], [1e300, 2], ["+Inf", 3]]},
    {"type": "series"}, {"type": "choice", "branches": [{"weight": 0}]}, {"ref": ["a"]},
    {"type": "retry", "attempts": 100, "backoff": {"initial": "1s", "multiplier": 1e10}, "step": {"ref": "x"}},
    {"model": "shock", "probability": 1.0}, {"model": "gaussian", "rho": 1e-300},
    "A_minus >= 0.995 && (((((((((((((((((((((((((((((((((((((((((true)))))))))))))))))))))))))))))))))))))))))",
]
# valid but extreme: every value sits on an edge of the documented ranges (docs/semantics.md, Limits)
BOUNDARY_LATENCIES: list[dict[str, Any]] = [
    {"dist": "lognormal", "p50": "1ns", "p99": "100us"}, {"dist": "lognormal", "p50": "1d", "p99": "1d"},
    {"dist": "lognormal", "mu": -20.72, "sigma": 5}, {"dist": "lognormal", "mu": 11.36, "sigma": 5},
    {"dist": "gamma", "mean": "1ns", "cv": 10}, {"dist": "gamma", "mean": "1d", "cv": 0.01},
    {"dist": "gamma", "shape": 0.01, "scale": "1d"}, {"dist": "gamma", "shape": 10000, "scale": "1ns"},
    {"dist": "weibull", "shape": 0.1, "scale": "1d"}, {"dist": "weibull", "shape": 100, "scale": "1ns"},
    {"dist": "pareto", "scale": "1ns", "alpha": 0.5}, {"dist": "pareto", "scale": "1d", "alpha": 100},
    {"dist": "exponential", "mean": "1d"}, {"dist": "exponential", "mean": "1ns"},
    {"dist": "constant", "value": 0}, {"dist": "constant", "value": "1d"},
    {"dist": "empirical", "quantiles": {0.5: "1ns", 0.99: "1d"}}, {"dist": "empirical", "quantiles": {0.01: "1ns"}},
    {"dist": "empirical", "quantiles": {0.0: 0, 1.0: 0}},
    {"dist": "histogram", "buckets": [[0, 1], ["1d", 2], ["+Inf", 1e300]]}, {"dist": "histogram", "buckets": [["1ns", 0], ["+Inf", 5]]},
    {"dist": "mixture", "components": [{"weight": 1e-300, "dist": {"dist": "constant", "value": "1d"}},
                                       {"weight": 1, "dist": {"dist": "pareto", "scale": "1ns", "alpha": 0.5}}]},
]
BOUNDARY_OPERATORS: list[dict[str, Any]] = [
    {"type": "race", "hedgeDelay": "1d"}, {"type": "race", "hedgeDelay": "1ns"}, {"type": "race", "hedgeDelay": 0},
    {"type": "retry", "attempts": 100, "perTryTimeout": "1ns"},
    {"type": "retry", "attempts": 2, "backoff": {"initial": "1d", "multiplier": 1000, "max": "1d"}},
    {"type": "retry", "attempts": 100, "backoff": {"initial": "1ns", "multiplier": 1000, "max": "14m"}},
    {"type": "timeout", "deadline": "1ns"}, {"type": "timeout", "deadline": "1d"},
    {"type": "optional", "probability": 1e-300}, {"type": "repeat", "count": 10_000},
]
HOSTILE_KEYS: list[Any] = [True, False, 7, 0, 1.5, "", "[/x]", "../x", "a b", "Cart", "x" * 300, None]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _get(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def _set(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _operators(doc: Any) -> list[tuple]:
    """Paths of operator nodes (mappings with 'type' or 'ref') under spec.operator."""
    try:
        root = doc["spec"]["operator"]
    except (KeyError, TypeError):
        return []
    return [("spec", "operator", *p) for p in _paths(root) if isinstance(_get(root, p), dict) and ("type" in _get(root, p) or "ref" in _get(root, p))]


def _component_ids(doc: Any) -> list[Any]:
    try:
        comps = doc["spec"]["components"]
        return list(comps) if isinstance(comps, dict) else []
    except (KeyError, TypeError):
        return []


def mutate(rng: random.Random, doc: Any) -> Any:
    """One structural mutation of a parsed spec (returns the new document). A mutation that does
    not apply to what earlier mutations left (a section that is now a string) changes nothing."""
    try:
        return _mutate(rng, copy.deepcopy(doc))
    except (AttributeError, TypeError, KeyError, IndexError, ValueError):
        return doc


def _mutate(rng: random.Random, doc: Any) -> Any:
    paths = _paths(doc)
    kind = rng.choice(["value", "value", "number", "number", "delete", "rename", "nest", "widen", "twin", "name", "guard", "load",
                       "boundary", "boundary", "boundary", "edge-op", "edge-op", "correlation"])
    if kind == "value":
        return _set(doc, rng.choice(paths[1:] or [()]), copy.deepcopy(rng.choice(EXTREMES)))
    if kind == "number":
        nums = [p for p in paths if isinstance(_get(doc, p), (int, float)) and not isinstance(_get(doc, p), bool)]
        if nums:
            p = rng.choice(nums)
            v = _get(doc, p)
            choice = rng.random()
            new = 0 if choice < 0.15 else -v if choice < 0.3 else v * 10.0 ** rng.choice([-300, -100, -10, -1, 1, 10, 100, 300])
            return _set(doc, p, new)
        return doc
    if kind == "delete":
        keyed = [p for p in paths if p and isinstance(p[-1], str)]
        if keyed:
            p = rng.choice(keyed)
            del _get(doc, p[:-1])[p[-1]]
        return doc
    if kind == "rename":
        keyed = [p for p in paths if p and isinstance(p[-1], str) and isinstance(_get(doc, p[:-1]), dict)]
        if keyed:
            p = rng.choice(keyed)
            parent = _get(doc, p[:-1])
            new = rng.choice(HOSTILE_KEYS)
            if new not in parent:
                parent[new] = parent.pop(p[-1])
        return doc
    ops = _operators(doc)
    ids = _component_ids(doc)
    if kind == "nest" and ops:
        p = rng.choice(ops)
        node = _get(doc, p)
        for _ in range(rng.choice([1, 2, 5, 20, 64, 70])):
            t = rng.choice(["retry", "repeat", "timeout", "optional"])
            extra = {"retry": {"attempts": rng.choice([2, 3, 100])}, "repeat": {"count": rng.choice([2, 10, 10_000])},
                     "timeout": {"deadline": rng.choice(["1ns", "400ms", "1d"])}, "optional": {"probability": rng.random()}}[t]
            node = {"type": t, "step": node, **extra}
        return _set(doc, p, node)
    if kind == "widen" and ids:
        n = rng.choice([2, 50, 200, 1000, 5000])
        join = rng.choice(["all", "any", "quorum"])
        op: dict[str, Any] = {"type": "parallel", "join": join, "branches": [{"ref": rng.choice(ids)} for _ in range(n)]}
        if join == "quorum":
            op["k"] = rng.randint(1, n)
        return _set(doc, rng.choice(ops) if ops else ("spec", "operator"), op)
    if kind == "twin" and ids:
        cid = rng.choice(ids)
        comps = doc["spec"]["components"]
        twin = str(cid).swapcase() if str(cid).swapcase() != str(cid) else f"{cid}-"
        comps[twin] = copy.deepcopy(comps[cid])
        root = doc["spec"].get("operator")
        doc["spec"]["operator"] = {"type": "series", "steps": [root, {"ref": twin}]}
        return doc
    if kind == "name":
        doc.setdefault("metadata", {})
        if isinstance(doc["metadata"], dict):
            doc["metadata"]["name"] = rng.choice(["[/x]", "x[/bold]", "../escaped", "/abs/x", "nosuchdir/x", "a" * 300, "Ünïcødé journey", ""])
        return doc
    if kind == "guard":
        long_chain = " && ".join(["A_minus >= 0.9"] * 150)
        guard = rng.choice(["", " ", "(" * 200 + "true" + ")" * 200, "!" * 100 + "true", long_chain, "A_minus >=", "eval('x')"])
        doc.setdefault("spec", {}).setdefault("governance", {})["actions"] = [{"kind": "promote", "guard": guard}]
        return doc
    comps = doc.get("spec", {}).get("components") if isinstance(doc.get("spec"), dict) else None
    if kind == "boundary" and isinstance(comps, dict) and comps:
        c = comps[rng.choice(list(comps))]
        if isinstance(c, dict):
            c[rng.choice(["latency", "latency", "errorLatency"])] = copy.deepcopy(rng.choice(BOUNDARY_LATENCIES))
            c["availability"] = rng.choice([c.get("availability", 0.999), 0.0, 1.0, 1e-300, 1 - 1e-15])
            c.pop("atomicSLORef", None)
        return doc
    if kind == "edge-op" and ops and ids:
        template = copy.deepcopy(rng.choice(BOUNDARY_OPERATORS))
        if template["type"] == "race":
            template["branches"] = [{"ref": rng.choice(ids)} for _ in range(rng.choice([2, 3, 50]))]
        else:
            template["step"] = copy.deepcopy(_get(doc, rng.choice(ops)))
        return _set(doc, rng.choice(ops), template)
    if kind == "correlation" and ids and isinstance(doc.get("spec"), dict):
        name = "fuzz-domain"
        for cid in rng.sample(ids, min(len(ids), rng.choice([2, 3, 6]))):
            c = comps.get(cid) if isinstance(comps, dict) else None
            if isinstance(c, dict) and isinstance(c.setdefault("failureDomains", []), list):
                c["failureDomains"].append(name)
        corr = rng.choice([{"model": "gaussian", "rho": 1.0, "latencyRho": 1.0}, {"model": "gaussian", "rho": 1e-300},
                           {"model": "shock", "beta": 1.0}, {"model": "shock", "probability": 1e-300}, {"model": "gaussian", "latencyRho": 0.999999}])
        fd = doc["spec"].setdefault("failureDomains", {})
        if isinstance(fd, dict) and isinstance(fd.setdefault("rules", []), list):
            fd["rules"].append({"name": name, "correlation": corr})
        return doc
    if kind == "load" and isinstance(doc.get("spec"), dict):
        doc["spec"]["load"] = {"rate": rng.choice([1e-300, 0.001, 400, 1e9, 1e300])}
        return doc
    return doc


def text_mutation(rng: random.Random, text: str) -> str:
    """Insert, delete or replace a few characters of the YAML text."""
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(chars) + 1)
        op = rng.random()
        if op < 0.4:
            chars.insert(i, rng.choice([":", "-", " ", "\n", "[", "{", "&a", "*a", "!!python/object", "'", "\t", "#", "0", "e"]))
        elif op < 0.7 and chars:
            del chars[min(i, len(chars) - 1)]
        elif chars:
            chars[min(i, len(chars) - 1)] = rng.choice(["9", "x", ":", "\n", " "])
    return "".join(chars)


def _dump(doc: Any) -> str:
    try:
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, ValueError, TypeError):
        return yaml.safe_dump({"unrepresentable": True})


def _command(rng: random.Random, spec: str, doc: Any) -> tuple[list[str], list[str]]:
    """A command line for the mutated spec and the paths it may write."""
    cmd = rng.choices(["check", "bounds", "simulate", "compile", "whatif", "report"], weights=[34, 26, 12, 16, 6, 6])[0]
    if cmd == "check":
        return ["check", spec, *rng.choice([[], ["--format", "json"]])], []
    if cmd == "bounds":
        return ["bounds", spec, *rng.choice([[], ["--format", "json"], ["--grid-points", "256"]])], []
    if cmd == "simulate":
        return ["simulate", spec, "--samples", "2000", "--seed", "1", *rng.choice([[], ["--correlation", "shared"], ["--format", "json"]])], []
    if cmd == "compile":
        return ["compile", spec, "--out", "out", "--samples", "2000", *rng.choice([[], ["--format", "json"]])], ["out"]
    if cmd == "whatif":
        ids = _component_ids(doc)
        target = f"components.{ids[0]}.availability" if ids and isinstance(ids[0], str) else "load.rate"
        return ["whatif", spec, "--vary", f"{target}=0.99,0.999", "--samples", "1000", "--seed", "1", "--out", "out"], ["out"]
    return ["report", spec, "--out", "out", "--samples", "2000", "--sweep-samples", "0"], ["out"]


@pytest.fixture(scope="module")
def runner() -> Any:
    """One worker for the module's cases (restarted by the runner after a hang)."""
    with Runner() as r:
        yield r


def run_case(runner: Runner, tally: Tally, case_dir: Path, args: list[str], allowed: list[str], budget: float | None = None) -> Outcome:
    """Run one case in ``case_dir`` and record its contract and file-system problems."""
    before = snapshot(case_dir)
    outcome = runner.run(args, case_dir, budget or BUDGET.get(args[0], 120.0))
    problems = contract_problems(outcome) + write_problems(before, snapshot(case_dir), allowed)
    tally.add(outcome, problems)
    return outcome


def _spec_case(rng: random.Random, base: tuple[Any, Path | None], case_dir: Path) -> tuple[list[str], list[str]]:
    doc, beside = base
    if beside is not None:  # the paper's spec resolves atomicSLORef from ../atomic/openslo
        shutil.copytree(beside / "atomic", case_dir / "atomic")
        (case_dir / "spec").mkdir()
        spec_rel = "spec/emac.checkout.yaml"
    else:
        spec_rel = "spec.yaml"
    for _ in range(rng.choice([1, 1, 2, 3])):
        doc = mutate(rng, doc)
    text = _dump(doc)
    if rng.random() < 0.12:
        text = text_mutation(rng, text)
    (case_dir / spec_rel).write_text(text, encoding="utf-8")
    (case_dir / "notes.txt").write_text("a user's file beside the spec\n")
    if rng.random() < 0.15:  # a user's folder where the output goes: must be refused, not emptied
        (case_dir / "out").mkdir()
        (case_dir / "out" / "MANIFEST.sha256").write_text("0" * 64 + "  notes.txt\n")
    return _command(rng, spec_rel, doc)


def fuzz_specs(tmp_path: Path, cases: int, seed: int) -> Tally:
    rng = random.Random(seed)
    base = bases()
    names = sorted(base)
    tally = Tally()
    with Runner() as runner:
        for i in range(cases):
            case_dir = tmp_path / f"case{i:05d}"
            case_dir.mkdir()
            args, allowed = _spec_case(rng, base[rng.choice(names)], case_dir)
            run_case(runner, tally, case_dir, args, allowed)
            shutil.rmtree(case_dir, ignore_errors=True)
    return tally


def _report(tally: Tally, what: str) -> str:
    shown = "\n".join(tally.problems[:20])
    return f"{what}: {tally.summary()}\n{shown}"


def test_mutated_specs_keep_the_cli_contract(tmp_path: Path) -> None:
    tally = fuzz_specs(tmp_path, cases=300, seed=13)
    print(_report(tally, "mutated specs"))
    assert not tally.problems, _report(tally, "mutated specs")
    assert tally.clean_rejections > 50 and tally.exits.get(0, 0) + tally.exits.get(1, 0) > 50  # both kinds of case were exercised


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1301, 1302, 1303])
def test_mutated_specs_keep_the_cli_contract_slow(tmp_path: Path, seed: int) -> None:
    tally = fuzz_specs(tmp_path, cases=1000, seed=seed)
    print(_report(tally, f"mutated specs, seed {seed}"))
    assert not tally.problems, _report(tally, f"mutated specs, seed {seed}")


# --------------------------------------------------------------------------- output directories


CHECKOUT = REPO / "configs" / "checkout.yaml"
STUDY = REPO / "configs" / "studies" / "fanout.yaml"


def _writers(out: str) -> dict[str, list[str]]:
    """One command line per writer, all writing ``out``."""
    spec = str(CHECKOUT)
    return {
        "compile": ["compile", spec, "--out", out, "--samples", "2000"],
        "whatif": ["whatif", spec, "--vary", "components.paya.availability=0.99,0.999", "--samples", "500", "--seed", "1", "--out", out],
        "report": ["report", spec, "--out", out, "--samples", "2000", "--sweep-samples", "0"],
        "discover": ["discover", "traces.json", "--out", out],
    }


@pytest.fixture(scope="module")
def traces(runner: Runner, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Simulated OTLP traces of the checkout journey, for the discover writer."""
    d = tmp_path_factory.mktemp("traces")
    o = runner.run(["simulate", str(CHECKOUT), "--samples", "200", "--seed", "1", "--traces", "t.json"], d, 180)
    assert o.exit_code == 0, o.short()
    return d / "t.json"


Setup = Callable[[Path], None]


def _user_release(d: Path) -> None:
    (d / "out").mkdir()
    (d / "out" / "app.tar").write_bytes(b"release bytes")
    import hashlib

    (d / "out" / "MANIFEST.sha256").write_text(f"{hashlib.sha256(b'release bytes').hexdigest()}  app.tar\n")


def _empty_subfolder(d: Path) -> None:
    (d / "out" / "keep").mkdir(parents=True)


def _symlink(d: Path) -> None:
    (d / "real").mkdir()
    (d / "out").symlink_to("real")


def _dangling(d: Path) -> None:
    (d / "out").symlink_to("nowhere")


def _file(d: Path) -> None:
    (d / "out").write_text("a file, not a directory")


def _under_file(d: Path) -> None:
    (d / "f").write_text("x")


def _nested_output(d: Path) -> None:
    (d / "out").mkdir()


OUTPUT_PROBES: dict[str, tuple[Setup | None, str, list[str]]] = {
    # name: (set-up, --out as given, paths the case may write)
    "user-release-folder": (_user_release, "out", ["out"]),
    "empty-user-subfolder": (_empty_subfolder, "out", ["out"]),
    "symlink": (_symlink, "out", ["real"]),
    "dangling-symlink": (_dangling, "out", []),
    "dot": (None, ".", []),
    "parent-of-cwd": (None, "..", []),
    "300-char-name": (None, "x" * 300, []),
    "existing-file": (_file, "out", []),
    "under-a-file": (_under_file, "f/out", []),
    "new-nested": (None, "a/b/out", ["a"]),
    "root": (None, "/", []),
}


@pytest.mark.parametrize("probe", sorted(OUTPUT_PROBES))
def test_output_directory_probes(runner: Runner, traces: Path, tmp_path: Path, probe: str) -> None:
    setup, out, allowed = OUTPUT_PROBES[probe]
    tally = Tally()
    for writer, args in _writers(out).items():
        case_dir = tmp_path / writer
        case_dir.mkdir()
        shutil.copy(traces, case_dir / "traces.json")
        (case_dir / "notes.txt").write_text("user file beside --out\n")
        if setup is not None:
            setup(case_dir)
        run_case(runner, tally, case_dir, args, allowed)
    print(_report(tally, f"output probe {probe}"))
    assert not tally.problems, _report(tally, f"output probe {probe}")
    if probe in ("symlink", "new-nested"):
        assert tally.exits.get(0, 0) + tally.exits.get(1, 0) == 4, tally.summary()  # these are usable outputs
    elif probe not in ("new-nested",):
        assert tally.exits.get(2, 0) == 4, tally.summary()  # every writer refuses, in one line


def test_rewriting_an_output_of_another_command_is_recognised(runner: Runner, traces: Path, tmp_path: Path) -> None:
    """A folder any emac-sim command wrote is emac-sim's: another writer may replace it; a user
    file added to it makes every writer refuse and survives."""
    tally = Tally()
    shutil.copy(traces, tmp_path / "traces.json")
    for writer in ("whatif", "compile", "report", "discover", "compile"):
        o = run_case(runner, tally, tmp_path, _writers("out")[writer], ["out"])
        assert o.exit_code in (0, 1), o.short()
    (tmp_path / "out" / "mine.txt").write_text("added by hand")
    for writer in ("compile", "whatif"):
        o = run_case(runner, tally, tmp_path, _writers("out")[writer], ["out"])
        assert o.exit_code == 2 and "mine.txt" in o.stderr, o.short()
    assert not tally.problems, _report(tally, "rewrites")
    assert (tmp_path / "out" / "mine.txt").read_text() == "added by hand"


# --------------------------------------------------------------------------- options


def _fifo(d: Path) -> str:
    os.mkfifo(d / "fifo.yaml")
    return "fifo.yaml"


def _big(d: Path) -> str:
    with open(d / "big.yaml", "wb") as fh:
        fh.truncate(65 * 1024 * 1024)  # sparse: larger than the 64 MiB input limit
    return "big.yaml"


OPTION_PROBES: list[list[str]] = [
    ["check", "/dev/zero"],
    ["check", "/dev/null"],
    ["check", "{fifo}"],
    ["check", "{big}"],
    ["check", "."],
    ["check", "no-such.yaml"],
    ["check", str(CHECKOUT), "--slo-path", "{fifo}"],
    ["check", str(CHECKOUT), "--slo-path", "/dev/zero"],
    ["bounds", str(CHECKOUT), "--grid-points", "20000000"],
    ["bounds", str(CHECKOUT), "--grid-points", "15"],
    ["bounds", str(CHECKOUT), "--grid-points", "-1"],
    ["bounds", str(CHECKOUT), "--confidence", "nan"],
    ["bounds", str(CHECKOUT), "--confidence", "1e400"],
    ["simulate", str(CHECKOUT), "--samples", "nan"],
    ["simulate", str(CHECKOUT), "--samples", "0"],
    ["simulate", str(CHECKOUT), "--samples", "1000", "--target-ci", "nan"],
    ["simulate", str(CHECKOUT), "--samples", "1000", "--confidence", "1"],
    ["simulate", str(CHECKOUT), "--samples", "1000", "--seed", "-1"],
    ["simulate", str(CHECKOUT), "--samples", "1000", "--workers", "0"],
    ["compile", str(CHECKOUT), "--out", "out", "--samples", "-5"],
    ["whatif", str(CHECKOUT), "--vary", "components.paya.availability=0:1:100000", "--samples", "0", "--out", "out"],
    ["whatif", str(CHECKOUT), "--vary", "components.paya.availability=0.9:0.99:40", "--vary", "components.payb.availability=0.9:0.99:40",
     "--samples", "0", "--out", "out"],
    ["whatif", str(CHECKOUT), "--vary", "components.paya.availability=log:0:1:5", "--out", "out"],
    ["whatif", str(CHECKOUT), "--vary", "components.paya.latency.p99=1e300s,2e300s", "--samples", "0", "--out", "out"],
    ["whatif", str(CHECKOUT), "--vary", "nosuch.path=1,2", "--out", "out"],
    ["whatif", str(CHECKOUT), "--vary", "components.paya.availability=0.9,0.99", "--samples", "-1", "--out", "out"],
    ["whatif", str(CHECKOUT), "--find-max", "components.paya.availability", "--subject-to", "availability>=0.99", "--tolerance", "1e-300"],
    ["whatif", str(CHECKOUT), "--vary", "components.paya.availability=0.9,0.99", "--confidence", "nan", "--out", "out"],
    ["whatif", "--study", str(STUDY), "--samples", "0", "--out", "out"],
    ["report", str(CHECKOUT), "--out", "out", "--samples", "0"],
    ["report", str(CHECKOUT), "--out", "out", "--samples", "1000", "--sweep-samples", "-1"],
    ["report", str(CHECKOUT), "--out", "out", "--samples", "1000", "--confidence", "inf"],
    ["validate", str(CHECKOUT), "--samples", "1000", "--junit", "."],
    ["validate", str(CHECKOUT), "--samples", "1000", "--junit", "/dev/null/x.xml"],
    ["validate", "{fifo}"],
    ["validate", "/dev/null"],
    ["discover", "/dev/zero", "--out", "out"],
]


@pytest.mark.parametrize("argv", OPTION_PROBES, ids=[" ".join(a)[:60] for a in OPTION_PROBES])
def test_option_probes(runner: Runner, tmp_path: Path, argv: list[str]) -> None:
    made = {"{fifo}": _fifo, "{big}": _big}
    args = [made[a](tmp_path) if a in made else a for a in argv]
    tally = Tally()
    run_case(runner, tally, tmp_path, args, ["out", "whatif-out"])
    assert not tally.problems, _report(tally, "option probe")
