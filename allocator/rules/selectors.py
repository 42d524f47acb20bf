"""Selectors: the nodes a workload may run on by its own rules: allowed zones and regions,
node labels it selects, and node taints it tolerates.

They only filter: a (workload, node group) pair they exclude gets no model column, the
greedy placers never see such a node, and the checker flags a replica placed on one.
Table: per demand row, in the demand itself (zones, regions, selector, tolerations).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from allocator.rules.base import Placed, RuleFamily, Violation

if TYPE_CHECKING:
    from allocator.domain.compatibility import NodeColumns
    from allocator.domain.tables import Demand, Domain


def _allowed_values(values: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows x distinct values) whether each row allows each value, and each node's value.
    Only rows that name values are looked at; the others allow every value."""
    names, code = np.unique(values.astype(str), return_inverse=True)
    ok = np.ones((len(wanted), len(names)), dtype=bool)
    for row in np.flatnonzero([w is not None for w in wanted]):
        ok[row] = np.isin(names, list(wanted[row]))
    return ok, code.ravel()


def _labels_ok(fleet: NodeColumns, demand: Demand) -> np.ndarray:
    """(rows x distinct label sets) whether the set has every label the row selects."""
    return np.array(
        [
            [all(labels.get(k) == v for k, v in selector.items()) for labels in fleet.label_sets]
            for selector in demand.selector
        ],
        dtype=bool,
    ).reshape(len(demand), len(fleet.label_sets))


def _taints_ok(fleet: NodeColumns, demand: Demand) -> np.ndarray:
    """(rows x distinct taint sets) whether the row tolerates every taint of the set."""
    return np.array(
        [[taints <= tolerated for taints in fleet.taint_sets] for tolerated in demand.tolerations],
        dtype=bool,
    ).reshape(len(demand), len(fleet.taint_sets))


def allowed(fleet: NodeColumns, demand: Demand) -> np.ndarray:
    """(rows x nodes) where each demand row may run by its selectors."""
    zones, zone = _allowed_values(fleet.zone, demand.zones)
    regions, region = _allowed_values(fleet.region, demand.regions)
    return (
        zones[:, zone]
        & regions[:, region]
        & _labels_ok(fleet, demand)[:, fleet.label_set]
        & _taints_ok(fleet, demand)[:, fleet.taint_set]
    )


def check(domain: Domain, placed: Placed) -> list[Violation]:
    fleet, demand = domain.fleet, domain.demand
    if not len(placed.row):
        return []
    w, n = placed.row, placed.node
    # What runs on a draining node stays there as it is, whatever rules it breaks now.
    kept = (fleet.state[n] == "draining") & (domain.running_now[n, w] > 0)
    zones, zone = _allowed_values(fleet.zone, demand.zones)
    regions, region = _allowed_values(fleet.region, demand.regions)
    bad = {
        "zone": ~zones[w, zone[n]],
        "region": ~regions[w, region[n]],
        "labels": ~_labels_ok(fleet, demand)[w, fleet.label_set[n]],
        "taints": ~_taints_ok(fleet, demand)[w, fleet.taint_set[n]],
    }
    out = []
    for k in np.flatnonzero(~kept & np.any(list(bad.values()), axis=0)):
        wi, ni = int(w[k]), int(n[k])
        replica = f" replica {placed.replica[k]}" if placed.replica is not None else ""
        who = f"{demand.ids[wi]}{replica} on {fleet.ids[ni]}"
        if bad["zone"][k]:
            out.append(Violation("placement_rule", f"{who}: zone {fleet.zone[ni]} is not allowed"))
        if bad["region"][k]:
            out.append(
                Violation("placement_rule", f"{who}: region {fleet.region[ni]} is not allowed")
            )
        if bad["labels"][k]:
            labels = fleet.label_sets[fleet.label_set[ni]]
            missing = {a: v for a, v in demand.selector[wi].items() if labels.get(a) != v}
            out.append(Violation("placement_rule", f"{who}: the node lacks labels {missing}"))
        if bad["taints"][k]:
            untolerated = fleet.taint_sets[fleet.taint_set[ni]] - demand.tolerations[wi]
            out.append(
                Violation(
                    "placement_rule",
                    f"{who}: the node's taints {sorted(untolerated)} are not tolerated",
                )
            )
    return out


def unmet(domain: Domain, w: int) -> str:
    """Which selector of row w leaves no node (the first that does, as an operator would
    relax them: region, zone, labels, taints)."""
    fleet, demand = domain.fleet, domain.demand
    one = np.array([w])
    zones, zone = _allowed_values(fleet.zone, demand.zones[one])
    regions, region = _allowed_values(fleet.region, demand.regions[one])
    checks = []
    if demand.regions[w] is not None:
        allowed_regions = ", ".join(sorted(demand.regions[w]))
        checks.append((regions[0, region], f"no node is in an allowed region ({allowed_regions})"))
    if demand.zones[w] is not None:
        allowed_zones = ", ".join(sorted(demand.zones[w]))
        checks.append((zones[0, zone], f"no node is in an allowed zone ({allowed_zones})"))
    if demand.selector[w]:
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(demand.selector[w].items()))
        checks.append(
            (
                _labels_ok(fleet, demand)[w, fleet.label_set],
                f"no node has the labels it selects ({wanted})",
            )
        )
    checks.append(
        (
            _taints_ok(fleet, demand)[w, fleet.taint_set],
            "every otherwise allowed node has a taint it does not tolerate",
        )
    )
    left = np.ones(len(fleet), dtype=bool)
    for ok, reason in checks:
        left &= ok
        if not left.any():
            return reason
    return "no node meets its placement rules"


FAMILY = RuleFamily(name="selectors", check=check)
