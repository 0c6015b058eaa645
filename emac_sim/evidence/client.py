"""Instant queries against the Prometheus HTTP API (``POST /api/v1/query``), built on requests.

Why requests: it is the maintained, ubiquitous HTTP client (connection pooling, TLS verification
against certifi or a given CA bundle, proxies from the environment, basic auth) and was already
installed beside the project's other dependencies; nothing here needs HTTP/2 or asyncio.

Connection details come from the URL and the environment, never from the spec:

- ``EMAC_PROMETHEUS_TOKEN``: bearer token (``Authorization: Bearer …``);
- ``EMAC_PROMETHEUS_USER`` / ``EMAC_PROMETHEUS_PASSWORD``: basic auth (``user:password@`` in the
  URL works too; it is removed from the URL before anything is printed);
- ``EMAC_PROMETHEUS_CA``: CA bundle (PEM) that signs the server's certificate. TLS verification
  is always on (``REQUESTS_CA_BUNDLE`` is honoured as well); there is no switch to turn it off;
- ``EMAC_PROMETHEUS_TIMEOUT``: seconds per query (default 30), sent to the server as its
  evaluation timeout too.

Credentials are never printed: the shown URL has no user information, and every error message
is scrubbed of the token and the password.

Queries run concurrently (at most :data:`MAX_CONCURRENT` at a time), each thread with its own
:class:`requests.Session` (sessions are not documented as thread-safe).
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests

from ..errors import SpecError

ENV_TOKEN = "EMAC_PROMETHEUS_TOKEN"
ENV_USER = "EMAC_PROMETHEUS_USER"
ENV_PASSWORD = "EMAC_PROMETHEUS_PASSWORD"
ENV_CA = "EMAC_PROMETHEUS_CA"
ENV_TIMEOUT = "EMAC_PROMETHEUS_TIMEOUT"
DEFAULT_TIMEOUT = 30.0
MAX_CONCURRENT = 8

_ERRNO = re.compile(r"\[Errno -?\d+\]\s*([^'\")\]]+)")
_TLS = re.compile(r"(certificate verify failed[^'\")\]]*|hostname [^'\")\]]* doesn't match[^'\")\]]*|wrong version number)")


class QueryFailed(Exception):
    """One query got no usable answer; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        self.reason = " ".join(str(reason).split())
        super().__init__(self.reason)


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector (or a scalar, with no labels)."""

    labels: tuple[tuple[str, str], ...]
    value: float

    def label(self, name: str) -> str | None:
        return dict(self.labels).get(name)

    def describe(self) -> str:
        return "{" + ", ".join(f'{k}="{v}"' for k, v in self.labels) + "}"


def _cli_error(message: str) -> SpecError:
    return SpecError("<command line>", "--prometheus", message)


class PrometheusClient:
    """A Prometheus server reached over HTTP(S); use as a context manager (closes its sessions).

    Parameters
    ----------
    url
        Base URL, e.g. ``http://127.0.0.1:9090`` or ``https://example.org/prometheus``
        (``/api/v1/query`` is appended). User information in it becomes basic auth.
    environ
        Where to read the ``EMAC_PROMETHEUS_*`` variables (default ``os.environ``).

    Raises
    ------
    SpecError
        A URL that is not ``http(s)://host[:port][/path]``, a bearer token together with basic
        auth, a user without a password, an unreadable CA file or a bad timeout.
    """

    def __init__(self, url: str, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _cli_error(f"expected a URL such as http://127.0.0.1:9090, got {_without_userinfo(url)!r}")
        if parts.query or parts.fragment:
            raise _cli_error("the URL must not carry a query string or fragment")
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise _cli_error(f"malformed port in {_without_userinfo(url)!r}") from None
        netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
        self.url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        user, password = env.get(ENV_USER) or None, env.get(ENV_PASSWORD) or None
        if parts.username is not None:
            if user is not None:
                raise _cli_error(f"basic auth given twice: in the URL and in {ENV_USER}")
            user, password = parts.username, parts.password
        token = env.get(ENV_TOKEN) or None
        if user is not None and password is None:
            raise _cli_error(f"basic auth user given without a password ({ENV_PASSWORD})")
        if password is not None and user is None:
            raise _cli_error(f"{ENV_PASSWORD} given without {ENV_USER}")
        if token is not None and user is not None:
            raise _cli_error(f"give either a bearer token ({ENV_TOKEN}) or basic auth ({ENV_USER}/{ENV_PASSWORD}), not both")
        self._token = token
        self._basic = (user, password) if user is not None and password is not None else None
        self._secrets = tuple(s for s in (token, password) if s)
        ca = env.get(ENV_CA) or None
        if ca is not None and not Path(ca).is_file():
            raise SpecError(ca, "", f"CA bundle named by {ENV_CA} not found")
        self._verify: bool | str = ca if ca is not None else True
        raw_timeout = env.get(ENV_TIMEOUT)
        try:
            self.timeout = float(raw_timeout) if raw_timeout else DEFAULT_TIMEOUT
        except ValueError:
            self.timeout = float("nan")
        if not (self.timeout > 0 and math.isfinite(self.timeout)):
            raise SpecError("<environment>", ENV_TIMEOUT, f"must be a positive number of seconds, got {raw_timeout!r}")
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    # -- what may be shown

    @property
    def display(self) -> str:
        """The base URL as shown to users (never with credentials)."""
        return self.url

    @property
    def auth(self) -> str:
        """``bearer``, ``basic`` or ``none`` (the kind only, never the secret)."""
        return "bearer" if self._token else "basic" if self._basic else "none"

    def scrub(self, text: str) -> str:
        """``text`` with every credential replaced by ``***``."""
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

    # -- sessions

    def _session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            from ..core.version import __version__

            s = requests.Session()
            s.headers["User-Agent"] = f"emac-sim/{__version__}"
            if self._token is not None:
                s.headers["Authorization"] = f"Bearer {self._token}"
            if self._basic is not None:
                s.auth = self._basic
            self._local.session = s
            with self._lock:
                self._sessions.append(s)
        return s

    def close(self) -> None:
        with self._lock:
            for s in self._sessions:
                s.close()
            self._sessions.clear()

    def __enter__(self) -> PrometheusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries

    def query(self, expr: str, at: float) -> list[Sample]:
        """Evaluate ``expr`` at Unix time ``at`` (seconds).

        Returns
        -------
        list of Sample
            The instant vector (a scalar result is one sample without labels); values are floats,
            NaN and ±inf included as Prometheus sent them.

        Raises
        ------
        QueryFailed
            The server could not be reached or did not answer in time, TLS verification failed,
            an HTTP error, a PromQL error (``bad_data: parse error …``), or an answer that is not
            an instant vector or scalar.
        """
        try:
            return self._query(expr, at)
        except QueryFailed as err:
            raise QueryFailed(self.scrub(err.reason)) from None

    def _query(self, expr: str, at: float) -> list[Sample]:
        form = {"query": expr, "time": f"{at:.3f}", "timeout": f"{self.timeout:g}s"}
        try:
            # verify per request: a session's own setting loses to REQUESTS_CA_BUNDLE in requests
            resp = self._session().post(f"{self.url}/api/v1/query", data=form, timeout=self.timeout, verify=self._verify)
        except requests.exceptions.SSLError as err:
            m = _TLS.search(str(err))
            raise QueryFailed(f"TLS verification failed ({m.group(1) if m else type(err).__name__}); give the server's CA in {ENV_CA}") from None
        except requests.exceptions.Timeout:
            raise QueryFailed(f"no answer from {self.display} within {self.timeout:g} s ({ENV_TIMEOUT})") from None
        except requests.exceptions.ConnectionError as err:
            m = _ERRNO.search(str(err))
            raise QueryFailed(f"cannot reach {self.display}: {m.group(1).strip() if m else type(err).__name__}") from None
        except requests.exceptions.RequestException as err:
            raise QueryFailed(f"request to {self.display} failed: {type(err).__name__}") from None
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            if resp.status_code != 200:
                raise QueryFailed(f"HTTP {resp.status_code} {resp.reason}{_auth_hint(resp.status_code)}")
            raise QueryFailed(f"the answer from {self.display} is not Prometheus API JSON (is this a Prometheus server?)")
        if body.get("status") != "success":
            kind, msg = body.get("errorType", f"HTTP {resp.status_code}"), body.get("error", resp.reason)
            raise QueryFailed(f"{kind}: {msg}")
        return _samples(body.get("data"))

    def query_many(self, exprs: Sequence[str], at: float) -> list[list[Sample] | QueryFailed]:
        """Evaluate every expression at ``at``, concurrently; results in the order given
        (a failed query is returned as its :class:`QueryFailed`, not raised)."""

        def one(expr: str) -> list[Sample] | QueryFailed:
            try:
                return self.query(expr, at)
            except QueryFailed as err:
                return err

        if not exprs:
            return []
        with ThreadPoolExecutor(max_workers=min(MAX_CONCURRENT, len(exprs)), thread_name_prefix="emac-prometheus") as pool:
            return list(pool.map(one, exprs))


def _samples(data: object) -> list[Sample]:
    if not isinstance(data, dict):
        raise QueryFailed("the answer has no data")
    kind, result = data.get("resultType"), data.get("result")
    try:
        if kind == "scalar":
            return [Sample((), float(result[1]))]  # type: ignore[index]
        if kind == "vector":
            out = []
            for item in result:  # type: ignore[union-attr]
                labels = tuple(sorted((str(k), str(v)) for k, v in item["metric"].items()))
                out.append(Sample(labels, float(item["value"][1])))
            return out
    except (TypeError, KeyError, IndexError, ValueError):
        raise QueryFailed(f"malformed {kind} in the answer") from None
    raise QueryFailed(f"expected an instant vector or a scalar, got a {kind}")


def _auth_hint(status: int) -> str:
    if status in (401, 403):
        return f": check the credentials ({ENV_TOKEN}, or {ENV_USER} and {ENV_PASSWORD})"
    return ""


def _without_userinfo(url: str) -> str:
    """``url`` with any ``user:password@`` removed (for error messages about the URL itself)."""
    return re.sub(r"^(\s*[A-Za-z][A-Za-z0-9+.-]*://)?[^/]*@", lambda m: m.group(1) or "", url)
