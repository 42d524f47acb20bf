"""Where each node sits, at every scope a rule can name.

A scope is a kind of failure domain (node, rack, NVLink/InfiniBand fabric, zone, region,
site); a place is one of its values (one rack, one zone). Rules count replicas per place,
so every node gets an integer place code per scope, computed once per fleet.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from allocator.domain.tables import Fleet

SCOPES = ("node", "rack", "fabric", "zone", "region", "site")
NODE = 0  # index of the node scope: each node is a place of its own
NO_SCOPE = -1


def scope_index(name: str | None) -> int:
    """Index of a scope name in SCOPES; NO_SCOPE for None or ""."""
    return SCOPES.index(name) if name else NO_SCOPE


class ScopeCodes:
    """Place codes of every node at every scope, and the places' names."""

    def __init__(self, fleet: Fleet):
        self._fleet = fleet

    def names(self, scope: int) -> np.ndarray:
        """Names of the places of a scope, in code order."""
        return self._coded[scope][0]

    def code(self, scope: int) -> np.ndarray:
        """Place code of every node at a scope."""
        return self._coded[scope][1]

    @cached_property
    def table(self) -> np.ndarray:
        """(nodes x scopes) place codes."""
        return np.stack([self.code(s) for s in range(len(SCOPES))], axis=1).reshape(
            len(self._fleet), len(SCOPES)
        )

    @cached_property
    def _coded(self) -> list[tuple[np.ndarray, np.ndarray]]:
        fleet = self._fleet
        out = [(np.asarray(fleet.ids, dtype=object), np.arange(len(fleet), dtype=np.int64))]
        for scope in SCOPES[1:]:
            names, code = np.unique(getattr(fleet, scope).astype(str), return_inverse=True)
            out.append((names.astype(object), code.ravel().astype(np.int64)))
        return out
