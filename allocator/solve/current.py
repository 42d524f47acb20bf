"""What runs now, read from a previous plan and reconciled with today's inventory.

Between two plans the fleet changes: nodes are decommissioned, jobs finish, services
shrink. The previous plan is still the best account of what runs, so each difference is
reconciled with a warning instead of refusing the plan:

- a replica on a node the inventory no longer has runs nowhere: it needs a new home, and
  placing it counts as a start, not a move;
- the replicas of a workload (or variant) the inventory no longer has are gone;
- replicas beyond a workload's `max` today stop: the last ones the plan lists go first.

One warning per vanished node, per vanished workload and per shrunk workload, so a rack
taken out of service reads as a handful of lines, not thousands. A plan that shares no
workload and no node with the inventory is refused: it was made for another one.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from allocator.inventory.schema import Inventory, expanded_node_ids, row_id
from allocator.io.errors import InputError
from allocator.output.plan import PlanFile, row_key


@dataclass(frozen=True)
class Current:
    """Where replicas run now (workload row -> one node per replica) and what was dropped
    from the previous plan to get there."""

    running: dict[str, list[str]]
    warnings: list[str]


def reconcile(inventory: Inventory, plan: PlanFile, source: str) -> Current:
    """The placement of `plan` (read from `source`) that can still be true today."""
    rows = {w.id for w in inventory.workloads}
    rows |= {row_id(w.id, v.name) for w in inventory.workloads for v in w.variants}
    nodes = {n for ids in expanded_node_ids(inventory) for n in ids}
    most = {w.id: w.replicas.max for w in inventory.workloads if w.replicas is not None}

    gone_rows: Counter[str] = Counter()
    homeless: dict[str, Counter[str]] = defaultdict(Counter)
    kept: dict[str, list[tuple[str, str]]] = defaultdict(list)  # workload -> (row, node)
    for p in plan.placements:
        row = row_key(p)
        if row not in rows:
            gone_rows[row] += 1
        elif p.node not in nodes:
            homeless[p.node][row] += 1
        else:
            kept[p.workload].append((row, p.node))

    known_nodes = sum(p.node in nodes for p in plan.placements)
    if (
        plan.placements
        and not known_nodes
        and len(gone_rows) == len({row_key(p) for p in plan.placements})
    ):
        raise InputError.single(
            source,
            "names none of the inventory's workloads and nodes: was it made for another inventory?",
        )
    warnings = [
        f"{source}: {_row_words(row)} is no longer in the inventory: "
        f"{_replicas(count)} that ran {_were(count)} gone"
        for row, count in sorted(gone_rows.items())
    ]
    warnings += [
        f"{source}: node {node!r} is no longer in the inventory: "
        f"{_replicas(sum(by_row.values()))} that ran there ({_listing(by_row)}) "
        f"{'needs' if sum(by_row.values()) == 1 else 'need'} a new home"
        for node, by_row in sorted(homeless.items())
    ]
    running: dict[str, list[str]] = {}
    for workload, placed in sorted(kept.items()):
        limit = most.get(workload)
        if limit is not None and len(placed) > limit:
            stopped = placed[limit:]
            placed = placed[:limit]
            warnings.append(
                f"{source}: workload {workload!r} ran {limit + len(stopped)} replicas and "
                f"may run at most {limit} now: {_replicas(len(stopped))} "
                f"{'stops' if len(stopped) == 1 else 'stop'} (on "
                f"{_listing(Counter(node for _, node in stopped))})"
            )
        for row, node in placed:
            running.setdefault(row, []).append(node)
    return Current(running, warnings)


def _row_words(row: str) -> str:
    workload, _, variant = row.partition("/")
    return f"variant {variant!r} of workload {workload!r}" if variant else f"workload {row!r}"


def _replicas(count: int) -> str:
    return f"{count} replica" + ("s" if count != 1 else "")


def _were(count: int) -> str:
    return "is" if count == 1 else "are"


def _listing(counts: Counter[str], shown: int = 5) -> str:
    """`a x2, b` for the most common few, then how many more."""
    items = [f"{k} x{n}" if n > 1 else k for k, n in counts.most_common(shown)]
    if len(counts) > shown:
        items.append(f"{len(counts) - shown} more")
    return ", ".join(items)
