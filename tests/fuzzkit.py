"""Shared machinery for fuzzing ``emac`` commands (spec, option, output and trace fuzzers).

The CLI contract every case is held to (DESIGN §9, issue 13):

- the exit code is 0, 1 or 2;
- no traceback, on either stream, and no exception escaping the command;
- exit 2 prints at most two lines on stderr (the one-line error, and at most one warning);
- the command finishes within its budget (a per-case timeout, never a wall-clock assertion on
  speed: a case past its budget is a *hang*);
- nothing is written outside the paths the case allows (its ``--out`` and named output files),
  and no file that existed before the case and was not written by emac-sim is lost or changed.

:class:`Runner` keeps one worker process that imports emac-sim once and runs each case
in-process with typer's ``CliRunner`` (fast: no interpreter start per case); a case that
outlives its budget gets the worker killed and replaced. :func:`snapshot` and
:func:`write_problems` check the file system around a case; :func:`contract_problems` checks
the outcome. Both return human-readable problems (empty: the case is clean) so that a fuzzer
can run every case and report all violations at once.

Run as a script (``python tests/fuzzkit.py --worker``) this module is the worker itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_ERROR_LINES = 2


@dataclass
class Outcome:
    """What one case produced."""

    args: list[str]
    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    exception: str | None = None  # formatted traceback of an exception that escaped the command
    seconds: float = 0.0
    timed_out: bool = False

    def short(self) -> str:
        err = self.stderr.strip().splitlines()
        return f"emac {' '.join(self.args)} -> exit {self.exit_code}: {err[-1] if err else ''}"[:400]


@dataclass
class Tally:
    """Counts over a fuzz run: cases, exit codes, clean rejections, tracebacks, hangs, other problems."""

    cases: int = 0
    exits: dict[int, int] = field(default_factory=dict)
    tracebacks: int = 0
    hangs: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome, problems: Sequence[str]) -> None:
        self.cases += 1
        if outcome.exit_code is not None:
            self.exits[outcome.exit_code] = self.exits.get(outcome.exit_code, 0) + 1
        self.tracebacks += any(p.startswith("traceback") for p in problems)
        self.hangs += outcome.timed_out
        self.problems.extend(f"{outcome.short()}\n    {p}" for p in problems)

    @property
    def clean_rejections(self) -> int:
        return self.exits.get(2, 0)

    def summary(self) -> str:
        codes = ", ".join(f"exit {k}: {v}" for k, v in sorted(self.exits.items()))
        return (
            f"{self.cases} cases ({codes}); clean rejections {self.clean_rejections}; "
            f"tracebacks {self.tracebacks}; hangs {self.hangs}; other problems {len(self.problems)}"
        )


# --------------------------------------------------------------------------- the contract


def contract_problems(o: Outcome) -> list[str]:
    """Violations of the CLI contract by one outcome (empty list: clean)."""
    out: list[str] = []
    if o.timed_out:
        return [f"hang: no answer within the budget ({o.seconds:.0f} s)"]
    if o.exit_code not in (0, 1, 2):
        out.append(f"exit code {o.exit_code} (expected 0, 1 or 2)")
    if o.exception is not None:
        out.append("traceback: an exception escaped the command:\n" + o.exception[-2000:])
    elif "Traceback (most recent call last)" in o.stderr or "Traceback (most recent call last)" in o.stdout:
        out.append("traceback printed:\n" + o.stderr[-2000:])
    if o.exit_code == 2:
        lines = [ln for ln in o.stderr.splitlines() if ln.strip()]
        if not lines:
            out.append("exit 2 without a message on stderr")
        elif len(lines) > MAX_ERROR_LINES:
            out.append(f"exit 2 with {len(lines)} lines on stderr (at most {MAX_ERROR_LINES}):\n" + "\n".join(lines[:8]))
    return out


# --------------------------------------------------------------------------- the file system around a case


def _digest(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under ``root``: relative path → ``dir``, ``link:<target>``, ``other`` or the
    file's sha256, prefixed ``owned:`` for files an emac-sim marker lists (they may be replaced)."""
    from emac_sim.outdir import MARKER, read_marker

    out: dict[str, str] = {}
    owned: set[str] = set()
    for dirpath, dirs, files in os.walk(root, followlinks=False):
        d = Path(dirpath)
        marker = read_marker(d)
        if marker is not None:
            base = d.relative_to(root)
            for rel in (*marker.files, MARKER):
                owned.add((base / rel).as_posix())
                owned |= {(base / parent).as_posix() for parent in Path(rel).parents if parent != Path(".")}
        for name in dirs + files:
            p = d / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = f"link:{os.readlink(p)}"
            elif name in dirs:
                out[rel] = "dir"
            elif p.is_file():
                out[rel] = _digest(p)
            else:
                out[rel] = "other"
    return {rel: ("owned:" + v if rel in owned else v) for rel, v in out.items()}


def _inside(rel: str, allowed: Iterable[str]) -> bool:
    return any(rel == a or rel.startswith(a.rstrip("/") + "/") for a in allowed)


def write_problems(before: dict[str, str], after: dict[str, str], allowed: Iterable[str]) -> list[str]:
    """What a case did to the file system that it must not have done.

    ``allowed``: relative paths (directories or files) the case may create or replace. Anything
    new elsewhere is a write outside ``--out``; any entry that existed before and was not an
    emac-sim file (``owned:``) must still exist, unchanged, wherever it was.
    """
    allowed = [a for a in allowed if a]
    problems = []
    for rel, kind in sorted(after.items()):
        if rel not in before and not _inside(rel, allowed) and not any(_inside(a, [rel]) for a in allowed):
            problems.append(f"wrote outside --out: {rel} ({'directory' if kind == 'dir' else 'file'})")
    for rel, kind in sorted(before.items()):
        if kind.startswith("owned:"):
            continue
        now = after.get(rel)
        if now is None:
            problems.append(f"lost a pre-existing {'directory' if kind == 'dir' else 'file'}: {rel}")
        elif now.removeprefix("owned:") != kind:
            problems.append(f"changed a pre-existing file: {rel}")
    return problems


# --------------------------------------------------------------------------- running cases


class Runner:
    """Runs ``emac`` commands in a persistent worker process, one at a time, each with a budget.

    Parameters
    ----------
    env
        Extra environment for the worker (``PYTHONPATH`` and ``NUMBA_CACHE_DIR`` are set to this
        checkout's unless given).
    """

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "NUMBA_CACHE_DIR": str(REPO / ".numba_cache"), **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.restarts = 0

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=self.env,
                start_new_session=True,
            )
        return self.proc

    def _kill(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
            self.proc = None
            self.restarts += 1

    def run(self, args: Sequence[object], cwd: Path, budget: float, stdin: str = "") -> Outcome:
        """Run ``emac ARGS`` in ``cwd``; kill the worker when it takes longer than ``budget`` seconds."""
        argv = [str(a) for a in args]
        for attempt in range(2):
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            t0 = time.monotonic()
            try:
                proc.stdin.write(json.dumps({"args": argv, "cwd": str(cwd), "stdin": stdin}) + "\n")
                proc.stdin.flush()
            except BrokenPipeError:
                self._kill()
                continue
            ready, _, _ = select.select([proc.stdout], [], [], budget)
            elapsed = time.monotonic() - t0
            if not ready:
                self._kill()
                return Outcome(argv, None, seconds=elapsed, timed_out=True)
            line = proc.stdout.readline()
            if not line:  # the worker died (out of memory, a crash in native code)
                self._kill()
                if attempt == 0:
                    continue
                return Outcome(argv, None, exception="the worker process died", seconds=elapsed)
            d = json.loads(line)
            return Outcome(argv, d["exit_code"], d["stdout"], d["stderr"], d["exception"], elapsed)
        return Outcome(argv, None, exception="the worker could not be started")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._kill()
        self.proc = None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _worker() -> None:
    """Answer one JSON request per line: run the command in-process, reply with the outcome."""
    import traceback

    from typer.testing import CliRunner

    from emac_sim.cli import app

    # the replies own the real stdout; anything a library prints at the C level goes to stderr
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    runner = CliRunner()
    for line in sys.stdin:
        req = json.loads(line)
        os.chdir(req["cwd"])
        res = runner.invoke(app, req["args"], input=req.get("stdin") or None, catch_exceptions=True)
        exc = None
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            exc = "".join(traceback.format_exception(*res.exc_info)) if res.exc_info else repr(res.exception)
        replies.write(json.dumps({"exit_code": res.exit_code, "stdout": res.stdout, "stderr": res.stderr, "exception": exc}) + "\n")
        replies.flush()


if __name__ == "__main__" and "--worker" in sys.argv:
    _worker()
