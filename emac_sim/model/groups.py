"""Connected groups of items under a symmetric "linked" relation (union–find)."""

from __future__ import annotations

from collections.abc import Callable


def connected_groups(n: int, linked: Callable[[int, int], bool]) -> list[list[int]]:
    """Partition ``range(n)`` into the connected components of ``linked``.

    ``linked(i, j)`` is asked for ``i < j`` only, and not at all once i and j are already
    connected, so it should be a pure predicate. Groups come ordered by their smallest member,
    members in increasing order.
    """
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i in range(n):
        for j in range(i + 1, n):
            if find(i) != find(j) and linked(i, j):
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(find(i), []).append(i)
    return list(groups.values())
