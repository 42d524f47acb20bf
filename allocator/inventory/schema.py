"""Inventory file format, version 1 (YAML or JSON, same schema).

The pydantic models here are the single source of the format: the loader validates
against them, `allocator schema` prints their JSON Schema, and the field descriptions
are what error messages quote.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$"),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=253)]
Labels = dict[str, str]


# Bounds that keep every later array finite and small enough to build: the documented
# limits of the format (docs/inventory.md).
MAX_NODES = 200_000  # nodes in all, node groups expanded
MAX_GPUS_PER_NODE = 128
MAX_REPLICAS = 1_000_000  # replicas.max of one workload
MAX_TOTAL_REPLICAS = 2_000_000  # replicas wanted by all workloads together
AMOUNT = 1e9  # cores, GiB, TB, Gbps, watts, $/h, throughput: any amount per item
PRICE = 1e9
Rate = Annotated[float, Field(ge=0, le=AMOUNT)]  # throughput of one replica


class _Strict(BaseModel):
    # Numbers must be finite: infinity and NaN are refused wherever a float is read.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class MigProfileSpec(_Strict):
    """A Multi-Instance GPU profile: its share of the GPU's compute and memory slices."""

    compute_slices: int = Field(ge=1, le=7, description="compute slices out of 7")
    memory_slices: int = Field(ge=1, le=8, description="memory slices out of 8")
    memory_gib: float = Field(gt=0, le=AMOUNT, description="memory of the instance in GiB")


class GpuTypeSpec(_Strict):
    """A GPU type: a new one, or fields that override a built-in catalog entry."""

    memory_gib: float | None = Field(
        None,
        gt=0,
        le=AMOUNT,
        description="memory of one GPU in GiB (required for types not in the catalog)",
    )
    tflops_bf16: float | None = Field(
        None, gt=0, le=AMOUNT, description="dense BF16/FP16 tensor TFLOPS"
    )
    tdp_watts: float | None = Field(None, gt=0, le=AMOUNT, description="board power in watts")
    vendor: Name | None = Field(None, description="vendor, e.g. nvidia or amd")
    price_per_gpu_hour: float | None = Field(
        None, ge=0, le=PRICE, description="indicative price per GPU-hour (informational)"
    )
    mig_profiles: dict[Name, MigProfileSpec] | None = Field(
        None, description="MIG profiles the type can be partitioned into (replaces the catalog's)"
    )


def _one_or_many_racks(value: Any) -> Any:
    """`rack: r1` is shorthand for `rack: [r1]`."""
    if isinstance(value, str):
        return [value]
    if value is None or isinstance(value, list):
        return value
    raise ValueError(f"expected a rack name or a list of rack names, got {value!r}")


class NodeSpec(_Strict):
    """A node, or a group of identical nodes when `count` > 1."""

    id: Id = Field(description="node id; a group of `count` nodes gets ids `<id>-<n>`")
    count: int = Field(
        1, ge=1, le=MAX_NODES, description="number of identical nodes this entry stands for"
    )
    gpu_type: Name | None = Field(None, description="GPU type name (catalog or gpu_types)")
    gpus: int = Field(0, ge=0, le=MAX_GPUS_PER_NODE, description="number of GPUs per node")
    cpus: float = Field(gt=0, le=AMOUNT, description="CPU cores per node")
    ram_gib: float = Field(gt=0, le=AMOUNT, description="RAM per node in GiB")
    cost_per_hour: float = Field(ge=0, le=PRICE, description="cost of running the node, $/h")
    region: Name | None = Field(None, description="region the node is in")
    zone: Name | None = Field(None, description="zone (failure domain) the node is in")
    rack: Annotated[list[Name] | None, BeforeValidator(_one_or_many_racks)] = Field(
        None,
        description="rack, or for a group a list of racks splits the group into contiguous,"
        " evenly sized blocks",
    )
    fabric: Name | None = Field(
        None,
        description="NVLink or InfiniBand domain the node is in (e.g. an NVL72 rack, an IB"
        " pod); a gang may be kept inside one",
    )
    labels: Labels = Field(default_factory=dict, description="free-form labels, e.g. tenant")
    mig: bool = Field(
        False, description="the plan may partition this node's GPUs into MIG instances"
    )
    taints: list[Name] = Field(
        default_factory=list, description="only workloads that tolerate every taint run here"
    )
    state: Literal["up", "draining", "down"] = Field(
        "up",
        description="up; draining (keeps what runs there now, gets nothing new); down (gets"
        " nothing)",
    )
    nvme_gib: float = Field(
        0, ge=0, le=AMOUNT, description="local NVMe for replicas' scratch space, GiB"
    )
    nic_gbps: float | None = Field(
        None,
        gt=0,
        le=AMOUNT,
        description="network bandwidth of the node's NICs (default: unlimited)",
    )
    idle_watts: float | None = Field(
        None, ge=0, le=AMOUNT, description="power when on but idle (default: 30% of busy_watts)"
    )
    busy_watts: float | None = Field(
        None,
        ge=0,
        le=AMOUNT,
        description="power when fully busy (default: 1.4 x GPUs x GPU TDP + 4 W per core + 150 W)",
    )


def _replicas_from_int(value: Any) -> Any:
    """`replicas: 3` is shorthand for `replicas: {min: 3, max: 3}`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return {"min": value, "max": value}
    return value


class ReplicasSpec(_Strict):
    """How many replicas: `min` are required, up to `max` are placed by priority."""

    min: int = Field(ge=0, le=MAX_REPLICAS, description="replicas that must be placed (hard)")
    max: int = Field(ge=1, le=MAX_REPLICAS, description="replicas wanted at most")

    @model_validator(mode="after")
    def _min_not_above_max(self) -> ReplicasSpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class ResourcesSpec(_Strict):
    """What one replica needs."""

    gpus: int = Field(
        0, ge=0, le=MAX_GPUS_PER_NODE, description="whole GPUs per replica, all on one node"
    )
    gpu_fraction: float | None = Field(
        None, gt=0, lt=1, description="a share of one GPU (in steps of 0.001), shared with others"
    )
    mig_profile: Name | None = Field(None, description="a MIG instance, e.g. 1g.10gb")
    gpu_memory_gib: float = Field(
        0,
        ge=0,
        le=AMOUNT,
        description="GPU memory per replica in GiB, summed over its GPUs (for a fraction: on"
        " the shared GPU)",
    )
    cpus: float = Field(ge=0, le=AMOUNT, description="CPU cores per replica")
    ram_gib: float = Field(ge=0, le=AMOUNT, description="RAM per replica in GiB")
    scratch_gib: float = Field(
        0, ge=0, le=AMOUNT, description="per-replica scratch space on the node's local NVMe, GiB"
    )


Tier = Literal["nvme", "ssd", "hdd", "object"]


class DatasetSpec(_Strict):
    """A workload's shared data: one copy on one storage system, read by every replica."""

    size_tb: float = Field(gt=0, le=AMOUNT, description="size of the dataset or model weights, TB")
    tier: Tier = Field("object", description="slowest acceptable tier (nvme > ssd > hdd > object)")
    read_gbps: float = Field(
        0, ge=0, le=AMOUNT, description="read bandwidth each replica needs, Gbps"
    )


Scope = Literal["node", "rack", "fabric", "zone", "region", "site"]


class ThroughputSpec(_Strict):
    """A service level the replicas must reach together, e.g. tokens/s."""

    target: float = Field(
        gt=0, le=AMOUNT, description="throughput the replicas must reach together"
    )
    unit: Name = Field("requests/s", description="unit of the figures, for reports")
    per_replica: dict[Name, Rate] = Field(
        default_factory=dict,
        description="throughput of one replica on each GPU type (types not listed give none)",
    )


class VariantSpec(_Strict):
    """Another way to run the same model (e.g. int8 on 1 GPU instead of fp16 on 2)."""

    name: Id = Field(description="variant name")
    resources: ResourcesSpec = Field(description="per-replica needs of this variant")
    gpu_types: list[Name] | None = Field(None, min_length=1, description="allowed GPU types")
    throughput: dict[Name, Rate] = Field(
        default_factory=dict, description="throughput of one replica per GPU type"
    )


class SpreadSpec(_Strict):
    """Spread replicas over failure domains."""

    across: Scope = Field(description="node, rack, zone, region or site")
    max_per_domain: int | None = Field(None, ge=1, description="most replicas in one domain")
    min_domains: int | None = Field(None, ge=1, description="fewest domains with a replica")


class GangSpec(_Strict):
    """All replicas placed or none (a multi-node job), optionally inside one domain."""

    within: Scope | None = Field(None, description="keep every member in one rack, zone...")


class RelationSpec(_Strict):
    """Run (or do not run) where another workload runs."""

    workload: Id = Field(description="the other workload")
    scope: Scope = Field("node", description="same node, rack, zone, region or site")


class WorkloadSpec(_Strict):
    """A model to run: a training job, an inference service or a batch job."""

    id: Id = Field(description="workload id")
    kind: Literal["training", "inference", "batch"] = Field(
        "batch", description="training, inference or batch"
    )
    priority: int = Field(
        1, ge=1, le=1_000_000, description="weight of each placed replica; higher places first"
    )
    replicas: Annotated[ReplicasSpec | None, BeforeValidator(_replicas_from_int)] = Field(
        None, description="a number, or {min, max} (required without a throughput target)"
    )
    resources: ResourcesSpec = Field(description="per-replica needs")
    gpu_types: list[Name] | None = Field(
        None, min_length=1, description="GPU types the workload may run on (default: any)"
    )
    labels: Labels = Field(default_factory=dict, description="free-form labels, e.g. tenant")
    storage: DatasetSpec | None = Field(
        None, description="the dataset or weights the replicas read, on one storage system"
    )
    interconnect_gbps: float = Field(
        0,
        ge=0,
        le=AMOUNT,
        description="traffic each replica exchanges with the others (training); such a"
        " workload stays within one site",
    )
    throughput: ThroughputSpec | None = Field(
        None, description="a target the replicas meet together (hard, like min replicas)"
    )
    variants: list[VariantSpec] = Field(
        default_factory=list, description="other ways to run it; each replica uses one"
    )
    gang: GangSpec | None = Field(None, description="all replicas or none")
    spread: list[SpreadSpec] = Field(default_factory=list, description="failure-domain spread")
    survive: Scope | None = Field(
        None,
        description="after losing any one node (rack, zone...) the rest still meet min replicas"
        " or the throughput target",
    )
    regions: list[Name] | None = Field(None, min_length=1, description="allowed regions")
    zones: list[Name] | None = Field(None, min_length=1, description="allowed zones")
    node_selector: Labels = Field(default_factory=dict, description="node labels a node must have")
    tolerations: list[Name] = Field(default_factory=list, description="taints it tolerates")
    tenant: Name | None = Field(None, description="tenant, for dedicated tenants")
    affinity: list[RelationSpec] = Field(
        default_factory=list, description="run only where these workloads run"
    )
    anti_affinity: list[RelationSpec] = Field(
        default_factory=list, description="never run where these workloads run"
    )
    priority_class: Name | None = Field(None, description="a class of objective.priority_classes")
    move_cost: float | None = Field(
        None,
        ge=0,
        le=PRICE,
        description="$/h-equivalent per replica moved off its node (default: the objective's)",
    )


class TenantSpec(_Strict):
    """A tenant: with `dedicated`, its replicas share nodes with no other tenant."""

    dedicated: bool = Field(False, description="nodes it runs on run nothing of other tenants")


GpuShare = Annotated[float, Field(ge=0, le=AMOUNT)]  # GPUs of one type, may be fractional


class SharesSpec(_Strict):
    """GPUs of each type a tenant (or a workload) may use, as `allocator share` writes them
    (`shares.tenants` of its JSON document). A subject listed here is capped on every GPU
    type of the fleet, at 0 on the types it does not list; the cap is its share rounded up
    to whole replicas. Subjects not listed are not capped."""

    tenants: dict[Name, dict[Name, GpuShare]] = Field(
        default_factory=dict,
        description="tenant (a workload's `tenant`, else its tenant label; '-' for none) -> "
        "GPU type -> GPUs",
    )
    workloads: dict[Id, dict[Name, GpuShare]] = Field(
        default_factory=dict, description="workload id -> GPU type -> GPUs"
    )


class SharesFile(BaseModel):
    """What `solve --shares` reads of the document `allocator share` writes: its `shares`
    section; the rest of the document is for people and is not read."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True, allow_inf_nan=False)

    format: Literal["allocator-shares"] | None = Field(
        None, description="'allocator-shares', the document `allocator share -o` writes"
    )
    shares: SharesSpec = Field(description="GPUs of each type per tenant")


class MigrationSpec(_Strict):
    """What moving running replicas costs when there is a current placement."""

    move_cost: float = Field(
        1.0,
        ge=0,
        le=PRICE,
        description="$/h-equivalent per replica moved off (or stopped on) its node",
    )
    max_moves: int | None = Field(None, ge=0, description="most replicas moved or stopped")


class WeightsSpec(_Strict):
    """Weights of the objective terms in weighted mode."""

    cost: float = Field(
        1.0, ge=0, le=PRICE, description="weight of $/h of nodes and storage in use"
    )
    energy: float = Field(
        1.0,
        ge=0,
        le=PRICE,
        description="weight of energy $/h (site price x PUE x power) in the cost",
    )
    unplaced: float = Field(
        100.0,
        ge=0,
        le=PRICE,
        description="$/h-equivalent penalty per priority point of each optional replica left"
        " unplaced",
    )


class ObjectiveSpec(_Strict):
    """What a good plan is.

    Placing every `min` replica always comes first. In `lexicographic` mode the planner
    then places as much priority-weighted optional demand as fits, then minimizes the
    $/h of nodes in use. In `weighted` mode the last two are traded off by `weights`.
    """

    mode: Literal["lexicographic", "weighted"] = Field(
        "lexicographic", description="lexicographic or weighted"
    )
    weights: WeightsSpec = Field(default_factory=WeightsSpec)
    priority_classes: list[Name] = Field(
        default_factory=list,
        description="class names, highest first: each class is placed as fully as possible"
        " before the next (lexicographic mode)",
    )
    migration: MigrationSpec = Field(default_factory=MigrationSpec)


class StorageSystemSpec(_Strict):
    """A storage system: capacity, throughput, price, and where it sits in the network."""

    id: Id = Field(description="storage system id")
    tier: Tier = Field(description="nvme, ssd, hdd or object")
    capacity_tb: float = Field(gt=0, le=AMOUNT, description="usable capacity, TB")
    read_gbps: float = Field(gt=0, le=AMOUNT, description="aggregate read throughput, Gbps")
    cost_per_tb_month: float = Field(
        0, ge=0, le=PRICE, description="price of stored data, $/TB-month"
    )
    rack: Name | None = Field(None, description="rack whose switch it hangs off")
    site: Name | None = Field(None, description="site whose spine it hangs off (no rack)")


class RowSpec(_Strict):
    """Racks that share a power feed."""

    id: Id = Field(description="row id")
    racks: list[Name] = Field(min_length=1, description="racks in the row")
    power_cap_kw: float | None = Field(
        None, gt=0, le=AMOUNT, description="most IT power the row may draw"
    )


class SiteSpec(_Strict):
    """A data center site: its racks (in rows), network, power and energy price."""

    id: Id = Field(description="site id")
    rows: list[RowSpec] = Field(default_factory=list, description="racks grouped in power rows")
    racks: list[Name] = Field(default_factory=list, description="racks outside any row")
    energy_price_per_kwh: float = Field(0, ge=0, le=PRICE, description="price of energy, $/kWh")
    pue: float = Field(
        1.0, ge=1, le=100, description="power usage effectiveness (facility / IT power)"
    )
    power_cap_kw: float | None = Field(
        None, gt=0, le=AMOUNT, description="most IT power the site may draw"
    )
    rack_uplink_gbps: float | None = Field(
        None, gt=0, le=AMOUNT, description="bandwidth from each rack switch to the spine"
    )
    oversubscription: float | None = Field(
        None,
        gt=0,
        le=AMOUNT,
        description="rack uplink = total NIC bandwidth of the rack's nodes / this (used when"
        " rack_uplink_gbps is not given)",
    )


class WanLinkSpec(_Strict):
    """A link between two sites' spines."""

    between: list[Name] = Field(min_length=2, max_length=2, description="the two sites")
    gbps: float = Field(gt=0, le=AMOUNT, description="bandwidth in each direction, Gbps")


class RouteSpec(_Strict):
    """A pinned path between two sites (both directions), instead of the shortest one."""

    between: list[Name] = Field(min_length=2, max_length=2, description="the two sites")
    via: list[Name] = Field(min_length=1, description="sites the traffic passes, in order")


class TopologySpec(_Strict):
    """Sites, their racks and rows, and the WAN between them: the network is a spine per
    site, a switch per rack with an uplink to it, and the WAN links."""

    sites: list[SiteSpec] = Field(min_length=1)
    wan: list[WanLinkSpec] = Field(default_factory=list)
    routes: list[RouteSpec] = Field(
        default_factory=list, description="paths pinned between sites (default: fewest hops)"
    )


class Inventory(_Strict):
    """An allocator inventory: the fleet, the workloads and the objective."""

    version: Literal[1] = Field(description="format version; this release reads 1")
    name: Name | None = Field(None, description="a name for reports")
    description: str | None = None
    gpu_types: dict[Name, GpuTypeSpec] = Field(
        default_factory=dict, description="GPU types to add to or override in the catalog"
    )
    nodes: list[NodeSpec] = Field(min_length=1, description="nodes and node groups")
    workloads: list[WorkloadSpec] = Field(default_factory=list)
    objective: ObjectiveSpec = Field(default_factory=ObjectiveSpec)
    current_placement: dict[Id, list[Id]] = Field(
        default_factory=dict,
        description="where replicas run now: workload id -> one node id per running replica",
    )
    tenants: dict[Name, TenantSpec] = Field(default_factory=dict, description="tenants")
    shares: SharesSpec | None = Field(
        None, description="GPU shares per tenant or workload and GPU type (caps)"
    )
    storage: list[StorageSystemSpec] = Field(default_factory=list, description="storage systems")
    topology: TopologySpec | None = Field(None, description="sites, racks, rows, network and power")


def expanded_node_ids(inventory: Inventory) -> list[list[str]]:
    """Ids of the nodes each entry stands for: `<id>-<n>` for groups, zero-padded."""
    out = []
    for node in inventory.nodes:
        if node.count == 1:
            out.append([node.id])
        else:
            width = len(str(node.count - 1))
            out.append([f"{node.id}-{i:0{width}d}" for i in range(node.count)])
    return out


VARIANT_SEPARATOR = "/"


def row_id(workload_id: str, variant: str | None) -> str:
    """Name of the demand row running `workload_id` as `variant` (None: its own resources):
    how `current_placement` and plans name a replica that runs a variant."""
    return f"{workload_id}{VARIANT_SEPARATOR}{variant}" if variant else workload_id
