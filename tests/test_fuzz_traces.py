"""Trace fuzzing: a seeded mutator over real-shaped trace files, run through ``emac discover``.

Seeds: the export-form fixtures (``data/discover/forms``: OTLP request and JSON Lines, Jaeger
api_v3 / api_v2 / UI download / trace list, Zipkin span and trace lists and a single span, CSV,
the paper's trace and deployment evidence), the other discovery fixtures, and the shared
reference traces (``../shared/reference/traces``: Zipkin samples, the head of the Online
Boutique CSV) when present. Case ``i`` picks a seed file and mutates it with ``random.Random(i)``:
structural mutations on the decoded document (hostile values in any field, deleted or duplicated
members, ids pointing at themselves or at nothing, lists emptied, wrapped or shuffled) and byte
mutations (cut short, flipped or inserted bytes, gzip magic, gzip, BOM, deep nesting). Every
tenth case puts several mutated files in a folder (with a README); cases on the paper's evidence
also run with ``--spec`` and ``--accepted``.

Every case must: exit 0, 1 or 2; raise nothing (no traceback); say why in at most two lines of
stderr when it exits 2; finish within ``BUDGET_S``; write nothing outside ``--out`` (a user's file
beside it stays as it was). A few hundred cases run in the default tier, thousands under
the ``slow`` marker; ``test_fuzz_summary`` prints the counts.
"""

from __future__ import annotations

import copy
import csv
import gzip
import io
import json
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from emac_sim.cli import app

HERE = Path(__file__).parent
DATA = HERE / "data" / "discover"
REFERENCE = HERE.resolve().parents[1] / "shared" / "reference"
N_DEFAULT = 300
N_SLOW = 3000
BUDGET_S = 60.0  # per case, on a loaded 2-core CI machine (a hang is found by the alarm, not by timing)
STATS: Counter = Counter()

HOSTILE: list = [
    None, True, False, 0, -1, 1.5, 1e300, -1e300, float("inf"), 10**16, 10**20, -(2**63), 2**64, "", " ", "\ud800", "NaN", "1e400",
    "-5", "0x10", "ffffffffffffffffffffffffffffffff", "a" * 3000, [], [1], {}, {"a": {"b": [None]}}, [[[[]]]], "\x00", "é€😀", "null",
]  # fmt: skip
ID_KEYS = ("traceId", "spanId", "parentSpanId", "id", "parentId", "traceID", "spanID", "trace_id", "span_id", "parent_span_id")


# --------------------------------------------------------------------------- seeds


def _seeds() -> list[Path]:
    out = sorted((DATA / "forms").iterdir())
    out += sorted(p for p in DATA.iterdir() if p.is_file())
    out += sorted((DATA / "malformed").iterdir())
    out += sorted((DATA / "paper_replay").rglob("*.yaml"))
    ref = REFERENCE / "traces"
    if ref.is_dir():
        out += sorted((ref / "zipkin").glob("*.json"))
        out += sorted((ref / "csv").glob("*.csv"))
    rep = REFERENCE / "paper-replay" / "baseline_separate_domains" / "trace-evidence.yaml"
    if rep.is_file():
        out.append(rep)
    return out


SEEDS = _seeds()


def _head_lines(path: Path, n: int = 300) -> str:
    with open(path, encoding="utf-8") as fp:
        return "".join(line for _, line in zip(range(n), fp))


# --------------------------------------------------------------------------- mutator


def _paths(doc, limit: int = 4000) -> list[tuple]:
    """(container, key) of every value in a decoded document (breadth first, bounded)."""
    out, queue = [], [doc]
    while queue and len(out) < limit:
        c = queue.pop(0)
        items = c.items() if isinstance(c, dict) else enumerate(c) if isinstance(c, list) else ()
        for k, v in items:
            out.append((c, k))
            if isinstance(v, (dict, list)):
                queue.append(v)
    return out


def _mutate_doc(doc, rng: random.Random, ops: int):
    doc = copy.deepcopy(doc)
    ids = [c[k] for c, k in _paths(doc) if isinstance(c, dict) and k in ID_KEYS]
    for _ in range(ops):
        paths = _paths(doc)
        if not paths:
            return rng.choice(HOSTILE)
        c, k = rng.choice(paths)
        op = rng.random()
        if op < 0.4:
            c[k] = rng.choice(HOSTILE)
        elif op < 0.55:
            del c[k]
        elif op < 0.65 and isinstance(c, dict) and k in ID_KEYS and ids:
            c[k] = rng.choice([rng.choice(ids), c.get("spanId", c.get("id", c[k])), "ffffffffffffffff"])  # elsewhere, itself, nothing
        elif op < 0.75 and isinstance(c, list):
            c.insert(rng.randrange(len(c) + 1), copy.deepcopy(c[k]))
        elif op < 0.82 and isinstance(c[k], list):
            c[k] = [] if rng.random() < 0.5 else c[k][: rng.randrange(len(c[k]) + 1)]
        elif op < 0.9:
            c[k] = [c[k]] if rng.random() < 0.5 else {"value": c[k]}
        elif isinstance(c[k], list):
            rng.shuffle(c[k])
        else:
            c[k] = rng.choice(HOSTILE)
    return doc


def _json_text(doc, rng: random.Random) -> bytes:
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.5, allow_nan=True)
    return text.encode("utf-8", "surrogatepass")  # a raw lone surrogate is invalid UTF-8: also a case


def _mutate_text(name: str, raw: str, rng: random.Random) -> bytes:
    ops = rng.randint(1, 6)
    suffix = name.rsplit(".", 1)[-1]
    try:
        if suffix == "jsonl":
            lines = [json.loads(x) for x in raw.splitlines() if x.strip()]
            return b"\n".join(_json_text(_mutate_doc(x, rng, ops), rng) for x in lines)
        if suffix == "json":
            return _json_text(_mutate_doc(json.loads(raw), rng, ops), rng)
        if suffix == "yaml":
            return yaml.safe_dump(_mutate_doc(yaml.safe_load(raw), rng, ops), allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")
        if suffix == "csv":
            rows = list(csv.reader(io.StringIO(raw)))
            for _ in range(ops):
                r = rng.randrange(len(rows))
                if rows[r] and rng.random() < 0.8:
                    rows[r][rng.randrange(len(rows[r]))] = str(rng.choice(HOSTILE))
                elif rows[r]:
                    del rows[r][rng.randrange(len(rows[r]))]  # a ragged row
            buf = io.StringIO()
            csv.writer(buf, lineterminator="\n").writerows(rows)
            return buf.getvalue().encode("utf-8", "surrogatepass")
    except (ValueError, yaml.YAMLError, RecursionError):
        pass  # a seed that does not decode (the malformed fixtures): bytes only
    return raw.encode("utf-8")


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    op = rng.random()
    if op < 0.3:
        return data[: rng.randrange(len(data) + 1)]  # cut short
    if op < 0.45:
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            if b:
                b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if op < 0.55:
        i = rng.randrange(len(data) + 1)
        return data[:i] + rng.choice([b"{", b"[", b"]", b'"', b",", b"\\u", b"\xff\xfe", b"\n", b"\x00" * 9]) + data[i:]
    if op < 0.63:
        return b"\x1f\x8b" + data  # gzip magic, no gzip data
    if op < 0.73:
        return gzip.compress(data[: rng.randrange(len(data) + 1)] if rng.random() < 0.3 else data)
    if op < 0.8:
        return b"\xef\xbb\xbf" + data
    if op < 0.85:
        depth = rng.choice([50, 5000, 200_000])
        return b"[" * depth + data + b"]" * depth
    return b""


def make_case(i: int, root: Path) -> tuple[list[Path], list[str]]:
    """Write case ``i`` under ``root/in``; return the paths to pass and extra options."""
    rng = random.Random(i)
    inp = root / "in"
    inp.mkdir()
    folder = i % 10 == 9
    picks = [rng.choice(SEEDS) for _ in range(rng.randint(2, 4) if folder else 1)]
    written = []
    for n, seed in enumerate(picks):
        raw = _head_lines(seed) if seed.suffix == ".csv" and seed.stat().st_size > 200_000 else seed.read_text(encoding="utf-8", errors="replace")
        data = _mutate_text(seed.name, raw, rng) if rng.random() < 0.85 else raw.encode("utf-8")
        if rng.random() < 0.35:
            data = _mutate_bytes(data, rng)
        target = (inp / "sub" if folder and n % 2 else inp) / f"{n}-{seed.name}"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes(data)
        written.append(target)
    extra: list[str] = []
    if folder:
        (inp / "README.md").write_text("exported traces\n")
        paths = [inp]
    else:
        paths = written
    spec = REFERENCE / "paper-checkout" / "spec" / "emac.checkout.yaml"
    accepted = REFERENCE / "paper-replay" / "baseline.accepted-model.yaml"
    if any("evidence" in p.name for p in picks) and accepted.is_file() and rng.random() < 0.7:
        extra = ["--spec", str(spec), "--accepted", str(accepted)]
    if rng.random() < 0.2:
        extra.append("--strict")
    return paths, extra


# --------------------------------------------------------------------------- the contract


class CaseTimeout(Exception):
    """The case ran past its budget (raised by SIGALRM inside the run)."""


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run_case(i: int, root: Path) -> str:
    """Run case ``i`` and check the contract; returns the outcome (``exit0``, ``exit1``, ``exit2``)."""
    paths, extra = make_case(i, root)
    out = root / "out"  # a new folder: emac-sim refuses one holding files it did not write (issue 13)
    (root / "keep.txt").write_text("a file the user put here, beside --out\n")
    before = {k: v for k, v in _tree(root).items() if not k.startswith("out/")}
    args = ["discover", *map(str, paths), "--out", str(out), "--format", "json", *extra]

    def alarm(signum, frame):  # noqa: ANN001, ARG001
        raise CaseTimeout(f"case {i} ran past {BUDGET_S:g} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, BUDGET_S)
    t0 = time.monotonic()
    cwd = os.getcwd()
    os.chdir(root)  # anything written to the working folder shows up in the tree below
    try:
        r = CliRunner().invoke(app, args, catch_exceptions=True)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        os.chdir(cwd)
    elapsed = time.monotonic() - t0
    what = f"case {i}: emac {' '.join(args)}"
    if isinstance(r.exception, CaseTimeout):
        STATS["hangs"] += 1
        pytest.fail(f"{what}: hang (over {BUDGET_S:g} s)")
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        STATS["tracebacks"] += 1
        pytest.fail(f"{what}: traceback: {type(r.exception).__name__}: {r.exception}")
    assert r.exit_code in (0, 1, 2), f"{what}: exit {r.exit_code}"
    assert "Traceback" not in r.output, f"{what}: {r.output[-2000:]}"
    if r.exit_code == 2:
        lines = r.stderr.splitlines()
        assert 1 <= len(lines) <= 2, f"{what}: {len(lines)} stderr lines: {r.stderr[:2000]}"
        assert r.stdout == "", what
    else:
        json.loads(r.stdout)  # one JSON object
    assert elapsed <= BUDGET_S, f"{what}: {elapsed:.1f} s"
    after = _tree(root)
    assert {k: v for k, v in after.items() if not k.startswith("out/")} == before, f"{what}: wrote or changed files outside --out"
    outcome = f"exit{r.exit_code}"
    STATS[outcome] += 1
    STATS["cases"] += 1
    return outcome


@pytest.mark.parametrize("i", range(N_DEFAULT))
def test_fuzz_trace_case(i: int, tmp_path: Path) -> None:
    run_case(i, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("i", range(N_DEFAULT, N_DEFAULT + N_SLOW))
def test_fuzz_trace_case_slow(i: int, tmp_path: Path) -> None:
    run_case(i, tmp_path)


def test_fuzz_summary(capsys: pytest.CaptureFixture) -> None:
    """Print the counts of the cases run so far in this session (run it last: ``-p no:randomly``)."""
    with capsys.disabled():
        print(
            f"\ntrace fuzz: {STATS['cases']} cases, {STATS['exit0']} exit 0, {STATS['exit1']} exit 1, "
            f"{STATS['exit2']} clean rejections (exit 2), {STATS['tracebacks']} tracebacks, {STATS['hangs']} hangs"
        )
    assert STATS["tracebacks"] == 0 and STATS["hangs"] == 0
    # a suite whose every case is refused would exercise nothing but the refusal
    if STATS["cases"] >= 50:
        assert STATS["exit0"] + STATS["exit1"] >= STATS["cases"] // 4, dict(STATS)
