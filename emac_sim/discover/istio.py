"""Istio traffic policy → operators: route weights → ``choice``, retries → ``retry``, timeout →
``timeout`` (DESIGN §8).

A ``VirtualService`` applies to the component whose service is one of its ``hosts`` (short name:
``reviews.default.svc.cluster.local`` → ``reviews``). Its HTTP route used is the first one
without ``match`` conditions (the default route), else the first route; a note says so when
there were several. For that route:

- two or more weighted destinations replace the component's ``ref`` by a ``choice`` between
  one component per destination (``<component>-<subset>`` or the destination host), each with
  the component's traced availability and latency (traces rarely tell versions apart), weights
  from ``route[i].weight``;
- ``retries.attempts`` (Istio counts *retries*) gives ``retry`` with ``attempts + 1`` tries and
  ``perTryTimeout``; ``retries`` observed in the traces are replaced by the configured policy,
  and an attempt count seen in traces above the configured one is a conflict;
- ``timeout`` wraps the result in ``timeout``.

``DestinationRule`` subsets are checked: a route naming a subset the rule does not define is a
note. Every field keeps its provenance as ``file:spec.http[i].route[j].weight``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SpecError
from ..units import parse_duration
from .domains import _docs
from .stats import Evidence
from .structure import INode


@dataclass
class RoutePolicy:
    """The traffic policy Istio applies to calls of one host."""

    host: str
    file: str
    path: str
    destinations: list[tuple[str, float, str]] = field(default_factory=list)  # (name, weight, provenance)
    attempts: int | None = None
    per_try_timeout: float | None = None
    retries_field: str | None = None
    timeout: float | None = None
    timeout_field: str | None = None
    notes: list[str] = field(default_factory=list)


def short_host(h: str) -> str:
    return h.split(".")[0]


def read_istio(path: str | Path) -> dict[str, RoutePolicy]:
    """Policies per short host name from VirtualService / DestinationRule manifests."""
    docs = _docs(Path(path))
    subsets: dict[str, set[str]] = {}
    vss = []
    for f, d in docs:
        if not isinstance(d, dict):
            continue
        kind = d.get("kind")
        spec = d.get("spec") or {}
        if kind == "DestinationRule" and spec.get("host"):
            subsets.setdefault(short_host(str(spec["host"])), set()).update(
                str(s.get("name")) for s in spec.get("subsets") or [] if isinstance(s, dict)
            )
        elif kind == "VirtualService":
            vss.append((f, d))
    out: dict[str, RoutePolicy] = {}
    for f, d in vss:
        spec = d.get("spec") or {}
        hosts = spec.get("hosts") or []
        routes = spec.get("http") or []
        if not isinstance(routes, list) or not routes:
            continue
        pick = next((i for i, r in enumerate(routes) if isinstance(r, dict) and not r.get("match")), 0)
        r = routes[pick]
        if not isinstance(r, dict):
            raise SpecError(f, f"spec.http[{pick}]", "expected a mapping")
        base = f"spec.http[{pick}]"
        for h in hosts:
            pol = RoutePolicy(short_host(str(h)), f, base)
            if len(routes) > 1:
                pol.notes.append(f"{f}: {len(routes)} HTTP routes; the default route {base} was used")
            for j, dest in enumerate(r.get("route") or []):
                if not isinstance(dest, dict):
                    continue
                dd = dest.get("destination") or {}
                dhost = short_host(str(dd.get("host", h)))
                subset = dd.get("subset")
                name = f"{pol.host}-{subset}" if subset else dhost
                w = dest.get("weight", 100 if len(r.get("route") or []) == 1 else 0)
                try:
                    w = float(w)
                except (TypeError, ValueError):
                    raise SpecError(f, f"{base}.route[{j}].weight", f"expected a number, got {w!r}") from None
                pol.destinations.append((name, w, f"{f}:{base}.route[{j}].weight"))
                if subset and dhost in subsets and subset not in subsets[dhost]:
                    pol.notes.append(f"{f}: subset {subset!r} of {dhost} is not defined by any DestinationRule")
            ret = r.get("retries")
            if isinstance(ret, dict) and "attempts" in ret:
                try:
                    pol.attempts = int(ret["attempts"])
                except (TypeError, ValueError):
                    raise SpecError(f, f"{base}.retries.attempts", f"expected a whole number, got {ret['attempts']!r}") from None
                pol.retries_field = f"{f}:{base}.retries"
                if "perTryTimeout" in ret:
                    try:
                        pol.per_try_timeout = parse_duration(ret["perTryTimeout"])
                    except ValueError as exc:
                        raise SpecError(f, f"{base}.retries.perTryTimeout", str(exc)) from None
            if r.get("timeout") is not None:
                try:
                    pol.timeout = parse_duration(r["timeout"])
                except ValueError as exc:
                    raise SpecError(f, f"{base}.timeout", str(exc)) from None
                pol.timeout_field = f"{f}:{base}.timeout"
            out[pol.host] = pol
    return out


def apply_policies(root: INode, services: dict[str, str], policies: dict[str, RoutePolicy]) -> tuple[INode, dict[str, str], list[str], list[str]]:
    """Apply Istio policies to every ``ref`` of a component whose service has one.

    Parameters
    ----------
    root
        Inferred tree.
    services
        component id → service name.
    policies
        From :func:`read_istio`.

    Returns
    -------
    (root, new_components, notes, conflicts)
        ``new_components``: id → the component it was split from (weighted destinations).
    """
    notes: list[str] = []
    conflicts: list[str] = []
    new: dict[str, str] = {}
    used: set[str] = set()

    def visit(n: INode) -> INode:
        if n.op == "retry" and n.kids and n.kids[0].op == "ref":
            comp = n.kids[0].params["component"]
            pol = policies.get(services.get(comp, comp))
            if pol is not None and pol.attempts is not None:
                observed = n.params["attempts"]
                if observed > pol.attempts + 1:
                    conflicts.append(f"{comp}: traces show {observed} attempts, Istio allows {pol.attempts + 1} ({pol.retries_field})")
                return visit(n.kids[0])  # the configured policy replaces the observed one
        if n.op == "ref":
            comp = n.params["component"]
            pol = policies.get(services.get(comp, comp))
            if pol is None:
                return n
            used.add(pol.host)
            node = n
            dests = [d for d in pol.destinations if d[1] > 0]
            if len(dests) >= 2:
                kids = []
                for name, _, _ in dests:
                    new[name] = comp
                    kids.append(INode("ref", params={"component": name}))
                total = sum(w for _, w, _ in dests)
                ev = Evidence(
                    1,
                    1.0,
                    1.0,
                    [p for _, _, p in dests],
                    {"weights": [w / total for _, w, _ in dests]},
                    what="choice (Istio route weights)",
                    fixed=1.0,
                )
                node = INode("choice", kids, {"weights": [w for _, w, _ in dests]}, ev)
            if pol.attempts is not None and pol.attempts > 0:
                params: dict = {"attempts": pol.attempts + 1}
                if pol.per_try_timeout is not None:
                    params["perTryTimeout"] = pol.per_try_timeout
                ev = Evidence(
                    1,
                    1.0,
                    1.0,
                    [str(pol.retries_field)],
                    {"attempts": pol.attempts + 1, "perTryTimeoutSeconds": pol.per_try_timeout},
                    what="retry (Istio retries)",
                    fixed=1.0,
                )
                node = INode("retry", [node], params, ev)
            if pol.timeout is not None and pol.timeout > 0:
                ev = Evidence(
                    1, 1.0, 1.0, [str(pol.timeout_field)], {"deadlineSeconds": pol.timeout}, what="timeout (Istio route timeout)", fixed=1.0
                )
                node = INode("timeout", [node], {"deadline": pol.timeout}, ev)
            notes.extend(pol.notes)
            return node
        n.kids = [visit(k) for k in n.kids]
        return n

    root = visit(root)
    for host in sorted(set(policies) - used):
        notes.append(f"Istio policy for host {host!r} ({policies[host].file}) matches no traced component")
    return root, new, sorted(set(notes)), conflicts
