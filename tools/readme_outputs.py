"""Rerun the README's console examples and write their real output back (or show the drift).

Usage: ``python tools/readme_outputs.py [--check]`` from the repository root, after
``make setup``, with ``../shared`` beside the checkout.

Every fenced ``console`` block holds commands (lines starting with ``$ ``, continued with a
trailing backslash) each followed by its output. Each command runs in ``bash`` from the
repository root, stdout and stderr together, and its output replaces the lines that follow it in
the block. ``$ echo $?`` prints the exit code of the command before it. The evidence demo
(``python -m emac_sim.evidence.demo``) is started once in the background when a block starts it
and its first lines are kept as written; it is stopped at the end. Commands write where the
README says (``out/``, ``runs/``: both ignored). ``--check`` writes nothing and exits 1 when an
output differs.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = "python -m emac_sim.evidence.demo"
WIDTH = "100"  # the terminal width the README's tables are printed at


def _blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(first, end) line indexes of each console block's body."""
    out, start = [], None
    for i, line in enumerate(lines):
        if start is None and line.strip() == "```console":
            start = i + 1
        elif start is not None and line.strip() == "```":
            out.append((start, i))
            start = None
    return out


def _commands(body: list[str]) -> list[tuple[str, int, int]]:
    """(command, first output line, end) within one block body."""
    cmds: list[tuple[str, int, int]] = []
    i = 0
    while i < len(body):
        if not body[i].startswith("$ "):
            i += 1
            continue
        cmd = body[i][2:]
        while cmd.endswith("\\") and i + 1 < len(body):
            i += 1
            cmd = cmd[:-1] + " " + body[i].strip()
        j = i + 1
        while j < len(body) and not body[j].startswith("$ "):
            j += 1
        cmds.append((cmd, i + 1, j))
        i = j
    return cmds


def main(argv: list[str]) -> int:
    check = "--check" in argv
    path = REPO / "README.md"
    lines = path.read_text(encoding="utf-8").split("\n")
    env = {**os.environ, "COLUMNS": WIDTH, "NO_COLOR": "1", "TERM": "dumb"}
    demo: subprocess.Popen | None = None
    new: list[str] = []
    pos = 0
    last_rc = 0
    try:
        for first, end in _blocks(lines):
            new += lines[pos:first]
            body = lines[first:end]
            kept = 0
            for cmd, o0, o1 in _commands(body):
                new += body[kept:o0]
                if cmd.startswith(DEMO):
                    if demo is None:
                        argv_demo = cmd.split("#", 1)[0].split()
                        demo = subprocess.Popen(argv_demo, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
                        assert demo.stdout is not None
                        demo.stdout.readline()
                    new += body[o0:o1]
                elif cmd.strip() == "echo $?":
                    new += [str(last_rc)]
                else:
                    res = subprocess.run(["bash", "-c", cmd], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
                    last_rc = res.returncode
                    text = (res.stdout + res.stderr).rstrip("\n")
                    new += [ln.rstrip() for ln in text.split("\n")] if text else []
                kept = o1
            new += body[kept:]
            pos = end
        new += lines[pos:]
    finally:
        if demo is not None:
            demo.terminate()
            demo.wait(timeout=30)
    if new == lines:
        print("README outputs are current")
        return 0
    if check:
        sys.stdout.writelines(difflib.unified_diff([ln + "\n" for ln in lines], [ln + "\n" for ln in new], "README.md", "README.md (rerun)"))
        return 1
    path.write_text("\n".join(new), encoding="utf-8")
    print("README outputs rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
