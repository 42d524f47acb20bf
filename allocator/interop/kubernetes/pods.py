"""Kubernetes Pod objects: what one replica requests, who owns it, where it runs now.

A pod's request follows the scheduler's rules: a container's request defaults to its
limit; app containers and sidecars (init containers with `restartPolicy: Always`) add
up; a regular init container runs alone (with the sidecars started before it), so the
pod needs the larger of the two; `spec.overhead` is added on top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from allocator.interop.kubernetes import quantity
from allocator.interop.kubernetes.nodes import GPU_RESOURCE, MIG_RESOURCE_PREFIX
from allocator.interop.kubernetes.objects import KubeObject, read_objects
from allocator.interop.kubernetes.scheduling import PodScheduling, parse_pod_scheduling
from allocator.interop.reading import (
    Problems,
    Where,
    describe,
    items_of,
    mapping,
    report_duplicates,
    sequence,
    string_map,
    text,
)

KIND_LABEL = "allocator.io/kind"
KINDS = ("training", "inference", "batch")
TERMINATED_PHASES = ("Succeeded", "Failed")
# Owners whose pods are per-node overhead, not workloads to place.
NODE_BOUND_OWNERS = ("DaemonSet", "Node")
_TEMPLATE_HASH = re.compile(r"^(?P<base>.+)-[bcdfghjklmnpqrstvwxz2456789]{5,10}$")


@dataclass(frozen=True)
class Owner:
    """The object a pod belongs to; a bare pod owns itself (kind `Pod`)."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class PodRequests:
    """One pod's needs in allocator units (rounded up)."""

    cpu_m: int
    memory_mib: int
    gpus: int
    mig: tuple[tuple[str, int], ...] = ()
    other: tuple[str, ...] = ()  # extended resources allocator does not plan
    missing: tuple[str, ...] = ()  # "cpu" / "memory" that no container requests
    requested: bool = True  # some container names cpu, memory or nvidia.com/gpu (maybe as 0)


@dataclass(frozen=True)
class KubePod:
    """What allocator reads from one Pod object."""

    namespace: str
    name: str
    phase: str
    node_name: str | None
    requests: PodRequests
    owner: Owner
    priority_class: str | None
    priority: int | None
    kind_label: str | None
    labels: dict[str, str]
    scheduling: PodScheduling
    where: Where
    data: dict

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def node_bound(self) -> bool:
        return self.owner.kind in NODE_BOUND_OWNERS


def read_pods(pods_path: str | Path, problems: Problems) -> list[KubePod]:
    """The live pods of a listing (Succeeded and Failed pods are left out)."""
    objects = read_objects(pods_path, "Pod", "pods", problems, namespaced=True)
    pods = [p for o in objects if not is_terminated(o) and (p := read_pod(o, problems)) is not None]
    report_duplicates([p.key for p in pods], "pods", str(pods_path), problems)
    return pods


def check_planned(pods: list[KubePod], node_names: set[str], problems: Problems) -> None:
    """Pods to plan must run on an imported node and ask for something; pods left out of
    the plan need neither."""
    for pod in pods:
        if pod.node_name and pod.node_name not in node_names:
            problems.add(
                pod.where.at("spec", "nodeName"),
                f"the pod runs on node {pod.node_name!r}, which is not in the nodes input",
            )
        requests = pod.requests
        if len(requests.missing) == 2 and not requests.gpus and not requests.mig:
            shown = (
                "every cpu and memory request is 0"
                if requests.requested
                else "no container requests cpu, memory or nvidia.com/gpu"
            )
            problems.add(
                pod.where.at("spec", "containers"),
                f"{shown}; allocator needs what each replica uses (set resources.requests, "
                "or leave the pod out of the input)",
            )


def is_terminated(obj: KubeObject) -> bool:
    status = obj.data.get("status")
    return isinstance(status, dict) and status.get("phase") in TERMINATED_PHASES


def read_pod(obj: KubeObject, problems: Problems) -> KubePod | None:
    """One live pod; None (with problems recorded) when it cannot be used."""
    where, data = obj.where, obj.data
    known = len(problems.found)
    meta = data.get("metadata") or {}
    labels = string_map(meta.get("labels"), where.at("metadata", "labels"), problems)
    spec = mapping(data.get("spec"), where.at("spec"), problems, required=True)
    if spec is None:
        return None
    node_name = text(spec.get("nodeName"), where.at("spec", "nodeName"), problems)
    status = mapping(data.get("status"), where.at("status"), problems) or {}
    phase = status.get("phase") or ("Running" if node_name else "Pending")
    owner = _owner(meta, labels, obj.name, where.at("metadata", "ownerReferences"), problems)
    requests = _requests(spec, where.at("spec"), problems)
    kind_label = labels.get(KIND_LABEL)
    if kind_label is not None and kind_label not in KINDS:
        problems.add(
            where.at("metadata", "labels", KIND_LABEL),
            f"expected one of {', '.join(KINDS)}, got {kind_label!r}",
        )
    priority = spec.get("priority")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)):
        problems.add(
            where.at("spec", "priority"), f"expected a whole number, got {describe(priority)}"
        )
        priority = None
    priority_class = text(
        spec.get("priorityClassName"), where.at("spec", "priorityClassName"), problems
    )
    scheduling = parse_pod_scheduling(spec, where.at("spec"), problems)
    if len(problems.found) > known or requests is None or owner is None:
        return None
    return KubePod(
        namespace=obj.namespace or "default",
        name=obj.name,
        phase=str(phase),
        node_name=node_name,
        requests=requests,
        owner=owner,
        priority_class=priority_class,
        priority=priority,
        kind_label=kind_label,
        labels=labels,
        scheduling=scheduling,
        where=where,
        data=data,
    )


def _owner(
    meta: dict, labels: dict[str, str], pod_name: str, where: Where, problems: Problems
) -> Owner | None:
    refs = list(items_of(meta.get("ownerReferences"), where, problems))
    if not refs:
        return Owner("Pod", pod_name)
    ref, ref_where = next(((r, w) for r, w in refs if r.get("controller") is True), refs[0])
    kind = text(ref.get("kind"), ref_where.at("kind"), problems, required=True)
    name = text(ref.get("name"), ref_where.at("name"), problems, required=True)
    if kind is None or name is None:
        return None
    if kind == "ReplicaSet":
        deployment = _deployment_of(name, labels.get("pod-template-hash"))
        if deployment is not None:
            return Owner("Deployment", deployment)
    return Owner(kind, name)


def _deployment_of(replica_set: str, template_hash: str | None) -> str | None:
    """A Deployment names its ReplicaSets `<deployment>-<pod-template-hash>`."""
    if template_hash and replica_set.endswith(f"-{template_hash}"):
        return replica_set[: -len(template_hash) - 1]
    match = _TEMPLATE_HASH.match(replica_set)
    return match["base"] if match else None


Amounts = dict[str, Fraction]


def _requests(spec: dict, where: Where, problems: Problems) -> PodRequests | None:
    known = len(problems.found)
    total = _pod_total(spec, where, problems)
    if len(problems.found) > known:
        return None
    return _in_allocator_units(total)


def _pod_total(spec: dict, where: Where, problems: Problems) -> Amounts:
    """The pod's request by resource name, as the scheduler adds up its containers."""
    containers_where = where.at("containers")
    containers = sequence(spec.get("containers"), containers_where, problems, required=True)
    if containers == []:
        problems.add(containers_where, "expected at least one container")
    app = [_container(c, w, problems) for c, w in items_of(containers, containers_where, problems)]
    sidecars: list[Amounts] = []
    init_peaks: list[Amounts] = []
    init_where = where.at("initContainers")
    for container, container_where in items_of(spec.get("initContainers"), init_where, problems):
        amounts = _container(container, container_where, problems)
        if container.get("restartPolicy") == "Always":
            sidecars.append(amounts)
        else:
            init_peaks.append(_sum([amounts, *sidecars]))
    total = _max([_sum([*app, *sidecars]), *init_peaks])
    return _sum([total, _amounts(spec.get("overhead"), where.at("overhead"), problems)])


def _in_allocator_units(total: Amounts) -> PodRequests:
    """Whole millicores and MiB (rounded up), whole devices, and what allocator leaves out."""
    mig = tuple(
        (name[len(MIG_RESOURCE_PREFIX) :], int(amount))
        for name, amount in sorted(total.items())
        if name.startswith(MIG_RESOURCE_PREFIX) and amount > 0
    )
    planned = (GPU_RESOURCE, *(MIG_RESOURCE_PREFIX + m for m, _ in mig))
    other = tuple(sorted(n for n, a in total.items() if "/" in n and a > 0 and n not in planned))
    return PodRequests(
        cpu_m=quantity.millicores_up(total.get("cpu", Fraction(0))),
        memory_mib=quantity.mib_up(total.get("memory", Fraction(0)) / quantity.BYTES_PER_MIB),
        gpus=int(total.get(GPU_RESOURCE, 0)),
        mig=mig,
        other=other,
        missing=tuple(r for r in ("cpu", "memory") if total.get(r, 0) == 0),
        requested=any(name in total for name in ("cpu", "memory", GPU_RESOURCE)),
    )


def _container(container: dict, where: Where, problems: Problems) -> Amounts:
    """A container's requests, each defaulting to its limit as Kubernetes does."""
    resources_where = where.at("resources")
    resources = mapping(container.get("resources"), resources_where, problems) or {}
    requests = _amounts(resources.get("requests"), resources_where.at("requests"), problems)
    limits = _amounts(resources.get("limits"), resources_where.at("limits"), problems)
    return {**limits, **requests}


def _amounts(value: object, where: Where, problems: Problems) -> Amounts:
    found = mapping(value, where, problems) or {}
    out: Amounts = {}
    for name, raw in found.items():
        name = str(name)
        try:
            if name == GPU_RESOURCE or name.startswith(MIG_RESOURCE_PREFIX):
                out[name] = Fraction(quantity.whole(raw))
            else:
                out[name] = quantity.parse_nonnegative(raw)
        except quantity.QuantityError as exc:
            problems.add(where.at(name), str(exc))
    return out


def _sum(parts: list[Amounts]) -> Amounts:
    out: Amounts = {}
    for part in parts:
        for name, amount in part.items():
            out[name] = out.get(name, Fraction(0)) + amount
    return out


def _max(parts: list[Amounts]) -> Amounts:
    out: Amounts = {}
    for part in parts:
        for name, amount in part.items():
            out[name] = max(out.get(name, Fraction(0)), amount)
    return out
