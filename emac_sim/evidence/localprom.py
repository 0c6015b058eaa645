"""A real Prometheus on loopback over backfilled data (the tests' server and the demo's).

:func:`backfill` turns an OpenMetrics file into TSDB blocks with ``promtool tsdb
create-blocks-from openmetrics``; :class:`LocalPrometheus` starts ``prometheus`` on
``127.0.0.1:<free port>`` over that storage with its own configuration (no scrape jobs at all, so
it contacts nothing), waits for ``/-/ready`` and stops it on exit.

Time-based retention counts back from the newest block, not from the wall clock, so old
backfilled data stays; retention is set to 100 years anyway. Queries in emac-sim use range
functions (``increase(x[30d])``) evaluated at an explicit ``--at``, which see every sample in the
window whatever the lookback delta; the lookback is widened to 2 h so that instant selectors typed
by hand also see the hourly demo samples.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

CONFIG = """\
# written by emac-sim: a query-only server over backfilled blocks; it scrapes nothing
global:
  scrape_interval: 1m
  evaluation_interval: 1m
scrape_configs: []
"""


def binaries() -> tuple[str | None, str | None]:
    """Paths of ``prometheus`` and ``promtool`` (``None`` where not installed)."""
    return shutil.which("prometheus"), shutil.which("promtool")


def backfill(openmetrics: Path, storage: Path, promtool: str = "promtool") -> None:
    """Create TSDB blocks in ``storage`` from an OpenMetrics file (blocks of up to 31 days).

    Raises
    ------
    RuntimeError
        promtool failed (its output is in the message).
    """
    storage.mkdir(parents=True, exist_ok=True)
    cmd = [promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet", "--max-block-duration=744h", str(openmetrics), str(storage)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise RuntimeError(f"promtool backfill failed ({res.returncode}): {(res.stderr or res.stdout).strip()[-2000:]}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalPrometheus:
    """``prometheus`` serving ``storage`` on loopback; a context manager.

    Parameters
    ----------
    storage
        TSDB directory (blocks from :func:`backfill`); Prometheus adds its WAL and lock there.
    workdir
        Where the configuration and the server's log go.
    port
        Listen on this port (default: a free one, retried if taken meanwhile).
    web_config
        Optional ``--web.config.file`` (TLS, basic auth); then ``scheme`` must match and
        ``ready_options`` carry what the readiness probe needs (``verify``, ``auth``).
    """

    def __init__(
        self,
        storage: Path,
        workdir: Path,
        *,
        binary: str = "prometheus",
        web_config: Path | None = None,
        scheme: str = "http",
        ready_options: dict[str, Any] | None = None,
        port: int | None = None,
    ) -> None:
        self.storage, self.workdir, self.binary = Path(storage), Path(workdir), binary
        self.web_config, self.scheme = web_config, scheme
        self.ready_options = ready_options or {}
        self.fixed_port = port
        self.port: int | None = port
        self.proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.workdir / "prometheus.log"

    def start(self, timeout: float = 60.0, attempts: int = 3) -> str:
        """Start the server and wait until ``/-/ready`` answers 200; return its URL.

        Raises
        ------
        RuntimeError
            The server exited or did not get ready in time (the log's tail is in the message).
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(CONFIG, encoding="utf-8")
        t0 = time.monotonic()
        for attempt in range(attempts):
            self.port = self.fixed_port or free_port()
            cmd = [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.storage}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=100y",
                "--query.lookback-delta=2h",
                "--log.level=warn",
            ]
            if self.web_config is not None:
                cmd.append(f"--web.config.file={self.web_config}")
            with self.log.open("ab") as log:
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir)
            if self._wait_ready(t0 + timeout):
                self.startup_seconds = time.monotonic() - t0
                return self.url
            code = self.proc.poll()
            self.stop()
            tail = self.log.read_text(encoding="utf-8", errors="replace")[-2000:]
            if code is None or "address already in use" not in tail or self.fixed_port or attempt == attempts - 1:
                raise RuntimeError(f"prometheus did not get ready (exit code {code}); log tail:\n{tail}")
        raise AssertionError("unreachable")

    def _wait_ready(self, deadline: float) -> bool:
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                r = requests.get(f"{self.url}/-/ready", timeout=2, **self.ready_options)
                if r.status_code == 200:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 10 s) and wait for it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self) -> LocalPrometheus:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
