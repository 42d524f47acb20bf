"""Warnings for what a Kubernetes object says and the inventory cannot express yet.

Each names the object (`nodes/<name>`, or the workload with its first pod) and the field
the constraint came from, and says what the plan may therefore get wrong.
"""

from __future__ import annotations

from allocator.interop.kube_nodes import PRODUCT_LABEL, KubeNode
from allocator.interop.kube_pods import KubePod
from allocator.interop.kube_scheduling import PodScheduling
from allocator.interop.kube_workloads import KubeWorkload
from allocator.interop.result import ImportWarning

NOT_SELECTABLE = "not carried over: the inventory has no node selectors yet"
NOT_AFFINE = "not carried over: the inventory has no pod affinity or spreading rules yet"
NOT_TOLERATED = "not carried over: the inventory has no taints or tolerations yet"


def node_warnings(node: KubeNode, warnings: list[ImportWarning]) -> None:
    """Taints, cordon, readiness, MIG devices and GPU labels of one node."""
    subject = f"nodes/{node.name}"
    for taint in node.taints:
        warnings.append(
            ImportWarning(
                subject,
                "spec.taints",
                f"taint {taint}: {NOT_TOLERATED}; the plan may place pods that do not tolerate it",
            )
        )
    if node.unschedulable:
        warnings.append(
            ImportWarning(
                subject,
                "spec.unschedulable",
                "the node is cordoned: not carried over (the inventory has no node states yet); "
                "the plan may place new replicas on it",
            )
        )
    if node.ready is False:
        warnings.append(
            ImportWarning(
                subject,
                "status.conditions[Ready]",
                "the node is not Ready: not carried over (the inventory has no node states yet)",
            )
        )
    for profile, count in node.mig_devices:
        warnings.append(
            ImportWarning(
                subject,
                f"status.allocatable.nvidia.com/mig-{profile}",
                f"{count} MIG instance(s) of profile {profile}: not planned (only whole GPUs, "
                "nvidia.com/gpu, are counted)",
            )
        )
    if node.gpu and node.gpu.mig_profile:
        warnings.append(
            ImportWarning(
                subject,
                f"metadata.labels.{PRODUCT_LABEL}",
                f"{node.gpu.product!r} is a MIG instance (single strategy): each of the "
                f"{node.gpus} devices is planned as one GPU of {node.gpu.memory_mib} MiB",
            )
        )
    elif node.gpu and not node.gpu.in_catalog:
        warnings.append(
            ImportWarning(
                subject,
                f"metadata.labels.{PRODUCT_LABEL}",
                f"GPU product {node.gpu.product!r} is not in the catalog (or its memory label "
                f"disagrees with it): added under gpu_types with {node.gpu.memory_mib} MiB",
            )
        )
    labelled = node.labels.get("nvidia.com/gpu.count")
    if node.gpus == 0 and labelled and labelled != "0":
        warnings.append(
            ImportWarning(
                subject,
                "status.allocatable.nvidia.com/gpu",
                f"the labels say {labelled} GPUs but none is allocatable: planned as a node "
                "without GPUs",
            )
        )


def constraint_warnings(
    workload: KubeWorkload,
    pod: KubePod,
    scheduling: PodScheduling,
    gpu_types: list[str] | None,
    warnings: list[ImportWarning],
) -> None:
    """Every scheduling constraint of one distinct pod spec of the workload."""
    subject = f"workload {workload.id} (pods/{pod.key})"
    for field_name, wanted in scheduling.described():
        if "nodeSelector" in field_name or "nodeAffinity" in field_name:
            reason = NOT_SELECTABLE
            if gpu_types and PRODUCT_LABEL in wanted:
                reason += f" (its GPU model is, as gpu_types [{', '.join(gpu_types)}])"
        elif "tolerations" in field_name:
            reason = NOT_TOLERATED
        else:
            reason = NOT_AFFINE
        warnings.append(ImportWarning(subject, field_name, f"{wanted}: {reason}"))


def request_warnings(workload: KubeWorkload, subject: str, warnings: list[ImportWarning]) -> None:
    """Requests planned differently from how Kubernetes counts them."""
    requests = workload.requests
    field_name = "spec.containers[*].resources"
    for profile, count in requests.mig:
        warnings.append(
            ImportWarning(
                subject,
                field_name,
                f"requests {count} nvidia.com/mig-{profile}: not carried over (MIG instances "
                "are not planned yet); planned by its CPU, memory and whole GPUs only",
            )
        )
    for name in requests.other:
        warnings.append(
            ImportWarning(subject, field_name, f"requests {name}: not planned by allocator")
        )
    for resource, smallest in (("cpu", "0.001 cores"), ("memory", "1 MiB")):
        if resource in requests.missing:
            warnings.append(
                ImportWarning(
                    subject,
                    f"{field_name}.requests.{resource}",
                    f"no container requests {resource} (the scheduler counts 0): planned with "
                    f"{smallest}",
                )
            )
    if workload.differing_requests:
        warnings.append(
            ImportWarning(
                subject,
                field_name,
                f"its {len(workload.pods)} pods request different resources: every replica is "
                "planned with the largest request of each resource",
            )
        )
