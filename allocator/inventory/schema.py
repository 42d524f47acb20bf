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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class MigProfileSpec(_Strict):
    """A Multi-Instance GPU profile: its share of the GPU's compute and memory slices."""

    compute_slices: int = Field(ge=1, le=7, description="compute slices out of 7")
    memory_slices: int = Field(ge=1, le=8, description="memory slices out of 8")
    memory_gib: float = Field(gt=0, description="memory of the instance in GiB")


class GpuTypeSpec(_Strict):
    """A GPU type: a new one, or fields that override a built-in catalog entry."""

    memory_gib: float | None = Field(
        None, gt=0, description="memory of one GPU in GiB (required for types not in the catalog)"
    )
    tflops_bf16: float | None = Field(None, gt=0, description="dense BF16/FP16 tensor TFLOPS")
    tdp_watts: float | None = Field(None, gt=0, description="board power in watts")
    vendor: Name | None = Field(None, description="vendor, e.g. nvidia or amd")
    price_per_gpu_hour: float | None = Field(
        None, ge=0, description="indicative price per GPU-hour (informational)"
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
    count: int = Field(1, ge=1, description="number of identical nodes this entry stands for")
    gpu_type: Name | None = Field(None, description="GPU type name (catalog or gpu_types)")
    gpus: int = Field(0, ge=0, description="number of GPUs per node")
    cpus: float = Field(gt=0, description="CPU cores per node")
    ram_gib: float = Field(gt=0, description="RAM per node in GiB")
    cost_per_hour: float = Field(ge=0, description="cost of running the node, $/h")
    region: Name | None = Field(None, description="region the node is in")
    zone: Name | None = Field(None, description="zone (failure domain) the node is in")
    rack: Annotated[list[Name] | None, BeforeValidator(_one_or_many_racks)] = Field(
        None,
        description="rack, or for a group a list of racks splits the group into contiguous,"
        " evenly sized blocks",
    )
    labels: Labels = Field(default_factory=dict, description="free-form labels, e.g. tenant")
    mig: bool = Field(
        False, description="the plan may partition this node's GPUs into MIG instances"
    )


def _replicas_from_int(value: Any) -> Any:
    """`replicas: 3` is shorthand for `replicas: {min: 3, max: 3}`."""
    if isinstance(value, int) and not isinstance(value, bool):
        return {"min": value, "max": value}
    return value


class ReplicasSpec(_Strict):
    """How many replicas: `min` are required, up to `max` are placed by priority."""

    min: int = Field(ge=0, description="replicas that must be placed (hard)")
    max: int = Field(ge=1, description="replicas wanted at most")

    @model_validator(mode="after")
    def _min_not_above_max(self) -> ReplicasSpec:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class ResourcesSpec(_Strict):
    """What one replica needs."""

    gpus: int = Field(0, ge=0, description="whole GPUs per replica, all on one node")
    gpu_fraction: float | None = Field(
        None, gt=0, lt=1, description="a share of one GPU (in steps of 0.001), shared with others"
    )
    mig_profile: Name | None = Field(None, description="a MIG instance, e.g. 1g.10gb")
    gpu_memory_gib: float = Field(
        0,
        ge=0,
        description="GPU memory per replica in GiB, summed over its GPUs (for a fraction: on"
        " the shared GPU)",
    )
    cpus: float = Field(ge=0, description="CPU cores per replica")
    ram_gib: float = Field(ge=0, description="RAM per replica in GiB")


class WorkloadSpec(_Strict):
    """A model to run: a training job, an inference service or a batch job."""

    id: Id = Field(description="workload id")
    kind: Literal["training", "inference", "batch"] = Field(
        "batch", description="training, inference or batch"
    )
    priority: int = Field(
        1, ge=1, le=1_000_000, description="weight of each placed replica; higher places first"
    )
    replicas: Annotated[ReplicasSpec, BeforeValidator(_replicas_from_int)] = Field(
        description="a number, or {min, max}"
    )
    resources: ResourcesSpec = Field(description="per-replica needs")
    gpu_types: list[Name] | None = Field(
        None, min_length=1, description="GPU types the workload may run on (default: any)"
    )
    labels: Labels = Field(default_factory=dict, description="free-form labels, e.g. tenant")


class WeightsSpec(_Strict):
    """Weights of the objective terms in weighted mode."""

    cost: float = Field(1.0, ge=0, description="weight of $/h of nodes in use")
    unplaced: float = Field(
        100.0,
        ge=0,
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
