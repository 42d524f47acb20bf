"""Shrinking the instance before modelling.

Identical nodes become one group with a count, and workloads whose replicas need the
same resources share one shape. The model is then sized by distinct groups and
shapes, not by raw node and replica counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from allocator.domain.compatibility import compatibility
from allocator.domain.scopes import scope_index
from allocator.domain.tables import Domain
from allocator.domain.units import MILLI, node_capacity, replica_demand
from allocator.inventory.catalog import MIG_COMPUTE_SLICES, MIG_MEMORY_SLICES, GpuType
from allocator.rules import scopes_counted, shape_rules

_UNLIMITED = 2**31  # fit of a shape that needs nothing a node has


@dataclass(frozen=True, eq=False)
class NodeGroups:
    """Nodes merged by everything the model distinguishes; members kept in node order."""

    of_node: np.ndarray  # group index of each node
    order: np.ndarray  # node indices sorted by group (stable: node order within a group)
    start: np.ndarray  # group g's members are order[start[g]:start[g + 1]]
    gpu_type: np.ndarray
    gpus: np.ndarray
    cpu_m: np.ndarray
    ram_mib: np.ndarray
    cost: np.ndarray
    gpu_memory_mib: np.ndarray
    mig: np.ndarray
    gpu_types: tuple[GpuType, ...]
    nvme_mib: np.ndarray
    nic_mbps: np.ndarray
    state: np.ndarray
    rack: np.ndarray
    site: np.ndarray
    row: np.ndarray
    idle_w: np.ndarray
    busy_w: np.ndarray
    zone: np.ndarray
    fabric: np.ndarray
    region: np.ndarray
    label_set: np.ndarray
    label_sets: tuple[dict[str, str], ...]
    taint_set: np.ndarray
    taint_sets: tuple[frozenset[str], ...]

    def __len__(self) -> int:
        return len(self.gpus)

    @property
    def count(self) -> np.ndarray:
        return np.diff(self.start)

    def members(self, g: int) -> np.ndarray:
        return self.order[self.start[g] : self.start[g + 1]]

    @cached_property
    def capacity(self) -> np.ndarray:
        """(groups x resources) capacity of one node of each group (NODE_RESOURCES)."""
        return node_capacity(self)


WHOLE, FRACTION, MIG = 0, 1, 2  # how a shape uses GPUs (WHOLE includes CPU-only)


@dataclass(frozen=True, eq=False)
class Shapes:
    """Distinct per-replica needs.

    `demand` is what a replica takes from its node (whole GPUs, CPU, RAM). Shapes that
    share a GPU also need room on one GPU: `milli` and `gpu_mem_mib` for a fraction,
    the MIG profile's slices for a MIG instance (which depend on the GPU type).
    """

    of_workload: np.ndarray  # shape index of each workload
    demand: np.ndarray  # (shapes x resources)
    kind: np.ndarray  # WHOLE, FRACTION or MIG
    milli: np.ndarray
    gpu_mem_mib: np.ndarray
    mig_profile: np.ndarray
    # Node-level rules: a workload with one has a shape of its own, so patterns can obey it.
    per_node_max: np.ndarray  # most replicas of the shape on one node
    tenant: np.ndarray  # dedicated tenant of the shape's workloads, "" for none
    apart: np.ndarray  # (pairs x 2) shapes that never share a node
    together: np.ndarray  # (pairs x 2) shape a runs only on nodes that run shape b
    fill_each_node: np.ndarray  # bool: one replica on each node holding the shape, first
    counted: np.ndarray  # bool: a rule counts its replicas per node (patterns list every count)

    def __len__(self) -> int:
        return len(self.demand)

    def mig_slices(self, s: int, gpu_type: GpuType) -> tuple[int, int]:
        """(compute, memory) slices of MIG shape s on a GPU of `gpu_type`."""
        profile = gpu_type.mig_profiles[self.mig_profile[s]]
        return profile.compute_slices, profile.memory_slices


@dataclass(frozen=True, eq=False)
class PackingInstance:
    """The reduced instance every formulation and heuristic works from."""

    domain: Domain
    groups: NodeGroups
    shapes: Shapes
    compat: np.ndarray  # (workloads x groups) bool
    # (workloads x groups) replicas that stay where they run: on draining nodes, which
    # keep what they run and take nothing new (each such node is a group of its own).
    pinned: np.ndarray
    # (workloads x groups) replicas each node of the group runs now.
    current: np.ndarray
    # (families x groups) most replicas of each workload on the nodes of each group, where
    # a rule counted per place the groups do not split by caps it (`solve.coarse`).
    most_on_group: np.ndarray | None = None

    def pair_rate(self, w: np.ndarray, g: np.ndarray) -> np.ndarray:
        """Throughput of one replica of row w on a node of group g (0 off its GPU types)."""
        rate = self.domain.demand.rate
        gpu_type = self.groups.gpu_type[g]
        if rate.shape[1] == 0:
            return np.zeros(len(w))
        return np.where(gpu_type >= 0, rate[w, np.maximum(gpu_type, 0)], 0.0)

    @cached_property
    def group_places(self) -> np.ndarray:
        """(groups x scopes) place code of each group (a group never spans a place of a
        scope some rule counts at, nor a rack where there is a topology)."""
        return self.domain.scopes.table[self.groups.order[self.groups.start[:-1]]]

    @cached_property
    def fixed_groups(self) -> np.ndarray:
        """Groups whose content is given, not planned: nodes that are not up."""
        return np.flatnonzero(self.groups.state != "up")

    @cached_property
    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """Compatible (workload, group) pairs, workload-major: the model's sparse index."""
        w, g = np.nonzero(self.compat)
        return w, g

    @cached_property
    def fit(self) -> np.ndarray:
        """(shapes x groups) how many replicas of a shape fit on one empty node of a group."""
        fit = max_fit(self.groups.capacity, self.shapes.demand)
        shapes, groups = self.shapes, self.groups
        for s in np.flatnonzero(shapes.kind == FRACTION):
            per_gpu = np.full(len(groups), MILLI // shapes.milli[s])
            if shapes.gpu_mem_mib[s] > 0:
                per_gpu = np.minimum(per_gpu, groups.gpu_memory_mib // shapes.gpu_mem_mib[s])
            fit[s] = np.minimum(fit[s], per_gpu * groups.gpus)
        for s in np.flatnonzero(shapes.kind == MIG):
            per_gpu = np.zeros(len(groups), dtype=np.int64)
            for g in np.flatnonzero(groups.mig & (groups.gpu_type >= 0)):
                gpu_type = groups.gpu_types[groups.gpu_type[g]]
                if shapes.mig_profile[s] in gpu_type.mig_profiles:
                    compute, memory = shapes.mig_slices(int(s), gpu_type)
                    per_gpu[g] = min(MIG_COMPUTE_SLICES // compute, MIG_MEMORY_SLICES // memory)
            fit[s] = np.minimum(fit[s], per_gpu * groups.gpus)
        return fit


def max_fit(capacity: np.ndarray, demand: np.ndarray) -> np.ndarray:
    """(shapes x groups) floor(capacity / demand) over the resources a shape uses."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(
            demand[:, None, :] > 0,
            capacity[None, :, :] // np.maximum(demand[:, None, :], 1),
            _UNLIMITED,
        )
    return np.minimum(ratio.min(axis=2), _UNLIMITED)


def group_nodes(domain: Domain) -> NodeGroups:
    """Merge nodes that no rule tells apart. Racks matter once there is a topology
    (network and power are per rack); every node that is not up stays on its own."""
    fleet = domain.fleet
    columns = [
        node_capacity(fleet),
        fleet.gpu_type[:, None],
        np.round(fleet.cost * 1e6).astype(np.int64)[:, None],
        fleet.mig[:, None],
        np.round(fleet.idle_w * 1e3).astype(np.int64)[:, None],
        np.round(fleet.busy_w * 1e3).astype(np.int64)[:, None],
        np.where(fleet.state == "up", -1, np.arange(len(fleet)))[:, None],
        _codes(fleet.zone)[:, None],
        _codes(fleet.region)[:, None],
        fleet.label_set[:, None],
        fleet.taint_set[:, None],
    ]
    counted = scopes_counted(domain)
    if domain.has_topology or scope_index("rack") in counted:
        columns.append(_codes(fleet.rack)[:, None])
    if scope_index("fabric") in counted:
        columns.append(_codes(fleet.fabric)[:, None])
    if domain.current:
        columns.append(_content_codes(domain)[:, None])
    key = np.concatenate(columns, axis=1).astype(np.int64)
    _, first, of_node = np.unique(key, axis=0, return_index=True, return_inverse=True)
    of_node = of_node.ravel()
    # Number groups by their first node so the order follows the file.
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    of_node = rank[of_node]
    first = np.sort(first)
    order = np.argsort(of_node, kind="stable")
    start = np.concatenate([[0], np.cumsum(np.bincount(of_node, minlength=len(first)))])
    return NodeGroups(
        of_node=of_node,
        order=order,
        start=start,
        gpu_type=fleet.gpu_type[first],
        gpus=fleet.gpus[first],
        cpu_m=fleet.cpu_m[first],
        ram_mib=fleet.ram_mib[first],
        cost=fleet.cost[first],
        gpu_memory_mib=fleet.gpu_memory_mib[first],
        mig=fleet.mig[first],
        gpu_types=fleet.gpu_types,
        nvme_mib=fleet.nvme_mib[first],
        nic_mbps=fleet.nic_mbps[first],
        state=fleet.state[first],
        rack=fleet.rack[first],
        site=fleet.site[first],
        row=fleet.row[first],
        idle_w=fleet.idle_w[first],
        busy_w=fleet.busy_w[first],
        zone=fleet.zone[first],
        fabric=fleet.fabric[first],
        region=fleet.region[first],
        label_set=fleet.label_set[first],
        label_sets=fleet.label_sets,
        taint_set=fleet.taint_set[first],
        taint_sets=fleet.taint_sets,
    )


def _content_codes(domain: Domain) -> np.ndarray:
    """Nodes running the same replicas now get the same code (moves are counted per node)."""
    content: dict[int, dict[int, int]] = {}
    for workload, nodes in domain.current.items():
        w = domain.demand.index[workload]
        for node_id in nodes:
            per = content.setdefault(domain.fleet.index[node_id], {})
            per[w] = per.get(w, 0) + 1
    seen: dict[tuple, int] = {(): 0}
    codes = np.zeros(len(domain.fleet), dtype=np.int64)
    for n, per in content.items():
        codes[n] = seen.setdefault(tuple(sorted(per.items())), len(seen))
    return codes


def current_replicas(domain: Domain, groups: NodeGroups) -> np.ndarray:
    """(workloads x groups) replicas each node of a group runs now (the same on each)."""
    first = groups.order[groups.start[:-1]]
    return domain.running_now[first].toarray().T


def _codes(values: np.ndarray) -> np.ndarray:
    return np.unique(values.astype(str), return_inverse=True)[1].ravel()


def group_shapes(domain: Domain) -> Shapes:
    """Demand rows merged by what a replica needs; a row with a rule about single nodes
    keeps a shape of its own (`rules`), so that node patterns can obey the rule."""
    d = domain.demand
    node_rules = shape_rules(domain)
    kind = np.where(d.gpu_milli > 0, FRACTION, np.where(d.mig_profile != "", MIG, WHOLE))
    profile_id = np.unique(d.mig_profile.astype(str), return_inverse=True)[1].ravel()
    # GPU memory shapes only what a shared GPU holds; for whole GPUs it is a filter.
    shared_memory = np.where(kind == FRACTION, d.gpu_mem_mib, 0)
    need = replica_demand(d)
    tag = np.where(node_rules.own_shape, np.arange(len(d)), -1)
    tenant = node_rules.tenant
    extra = np.stack(
        [
            kind,
            d.gpu_milli,
            shared_memory,
            np.where(kind == MIG, profile_id, -1),
            tag,
            _codes(tenant) if len(d) else tag,
        ],
        axis=1,
    ).reshape(len(d), 6)
    key = np.concatenate([need, extra], axis=1).astype(np.int64)
    _, first, of_workload = np.unique(key, axis=0, return_index=True, return_inverse=True)
    of_workload = of_workload.ravel()
    per_node_max = np.full(len(first), _UNLIMITED, dtype=np.int64)
    np.minimum.at(per_node_max, of_workload, node_rules.per_node_max)
    fill_each_node = np.zeros(len(first), dtype=bool)
    np.logical_or.at(fill_each_node, of_workload, node_rules.fill_each_node)
    counted = np.zeros(len(first), dtype=bool)
    np.logical_or.at(counted, of_workload, node_rules.own_shape)
    return Shapes(
        of_workload=of_workload,
        demand=need[first],
        kind=kind[first],
        milli=d.gpu_milli[first],
        gpu_mem_mib=shared_memory[first],
        mig_profile=d.mig_profile[first],
        per_node_max=per_node_max,
        tenant=tenant[first] if len(d) else tenant,
        apart=of_workload[node_rules.apart].reshape(-1, 2),
        together=of_workload[node_rules.together].reshape(-1, 2),
        fill_each_node=fill_each_node,
        counted=counted,
    )


def reduce(domain: Domain) -> PackingInstance:
    groups = group_nodes(domain)
    pinned = pinned_replicas(domain, groups)
    compat = compatibility(groups, domain.demand)
    # A row that runs only on nodes running another runs only where that one may run.
    together = shape_rules(domain).together
    for _ in range(len(together)):
        narrowed = compat.copy()
        for needer, needed in together:
            narrowed[needer] &= compat[needed]
        if (narrowed == compat).all():
            break
        compat = narrowed
    return PackingInstance(
        domain=domain,
        groups=groups,
        shapes=group_shapes(domain),
        compat=compat | (pinned > 0),
        pinned=pinned,
        current=current_replicas(domain, groups),
    )


def pinned_replicas(domain: Domain, groups: NodeGroups) -> np.ndarray:
    """(workloads x groups) replicas running now on draining nodes (one node per group)."""
    draining = np.flatnonzero(domain.fleet.state == "draining")
    by_group = sp.csr_array(
        (np.ones(len(draining), dtype=np.int64), (groups.of_node[draining], draining)),
        shape=(len(groups), len(domain.fleet)),
    )
    return (by_group @ domain.running_now).toarray().T
