"""The operator tree's base and its leaf (DESIGN §3).

A request's outcome at any node is ``(ok, t)``: a success flag and elapsed seconds. ``Node`` is
the base of the tree; :class:`Ref` — one call of a component — is its only leaf, handled by each
layer itself (a leaf's law, sampler and reference call are the layer's own business). Every
composite operator (series, parallel, race, …) is a subclass of
:class:`emac_sim.operators.base.Operator` living in its own module of :mod:`emac_sim.operators`,
which holds everything the operator means.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar


def fmt_seconds(seconds: float) -> str:
    """``200ms`` / ``1.5s`` for expressions."""
    return f"{seconds * 1e3:g}ms" if seconds < 1 else f"{seconds:g}s"


class Node:
    """Base of the operator tree: structure and walks. ``op`` is the spec ``type``."""

    op: ClassVar[str] = ""
    is_leaf: ClassVar[bool] = False

    def children_named(self) -> tuple[tuple[str, Node], ...]:
        """``(field, child)`` pairs, e.g. ``("steps[2]", node)``, in evaluation order."""
        return ()

    @property
    def children(self) -> tuple[Node, ...]:
        return tuple(c for _, c in self.children_named())

    def walk(self) -> Iterator[Node]:
        """Pre-order traversal."""
        yield self
        for c in self.children:
            yield from c.walk()

    def refs(self) -> Iterator[str]:
        """Component ids referenced, in tree order (with repeats)."""
        for n in self.walk():
            if isinstance(n, Ref):
                yield n.component

    def paths(self, path: str = "root") -> Iterator[tuple[str, Node]]:
        """Pre-order ``(path, node)`` pairs; the root is ``path``, children ``root.steps[1]`` etc."""
        yield path, self
        for name, child in self.children_named():
            yield from child.paths(f"{path}.{name}")


@dataclass(frozen=True)
class Ref(Node):
    """Leaf: one call to ``component``; (ok, t) is the component's draw."""

    component: str
    op: ClassVar[str] = "ref"
    is_leaf: ClassVar[bool] = True

    def __str__(self) -> str:
        return self.component
