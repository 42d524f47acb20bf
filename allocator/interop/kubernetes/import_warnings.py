"""Warnings for what a Kubernetes node or pod request says and the inventory cannot say
exactly. (Warnings about pod scheduling constraints come from `rules`.)

Each names the object (`nodes/<name>`, or the workload with its first pod) and the field
it came from, and says what the plan may therefore get wrong.
"""

from __future__ import annotations

from allocator.interop.cloud_gpus import machine_gpus
from allocator.interop.kubernetes.nodes import PRODUCT_LABEL, KubeNode
from allocator.interop.kubernetes.workloads import KubeWorkload
from allocator.interop.result import ImportWarning

SOFT_TAINT = "a preference, not a rule: not carried over (the inventory's taints are all hard)"


def node_warnings(node: KubeNode, warnings: list[ImportWarning]) -> None:
    """Soft taints, MIG devices and GPU labels of one node."""
    subject = f"nodes/{node.name}"
    for taint in node.taints:
        if taint.effect == "PreferNoSchedule":
            warnings.append(ImportWarning(subject, "spec.taints", f"taint {taint}: {SOFT_TAINT}"))
    _mig_warnings(node, subject, warnings)
    if node.gpu and node.gpu.mig_profile:
        warnings.append(
            ImportWarning(
                subject,
                f"metadata.labels.{PRODUCT_LABEL}",
                f"{node.gpu.product!r} is a MIG instance (single strategy): each of the "
                f"{node.gpus} devices is planned as one GPU of {node.gpu.memory_mib} MiB",
            )
        )
    elif node.gpu and not node.gpu.in_catalog and node.gpu.source == PRODUCT_LABEL:
        warnings.append(
            ImportWarning(
                subject,
                f"metadata.labels.{PRODUCT_LABEL}",
                f"GPU product {node.gpu.product!r} is not in the catalog (or its memory label "
                f"disagrees with it): added under gpu_types with {node.gpu.memory_mib} MiB",
            )
        )
    labelled = node.labels.get("nvidia.com/gpu.count")
    machine = machine_gpus(node.instance_type)
    if node.gpus == 0 and not node.mig_devices:
        said = None
        if labelled and labelled != "0":
            said = f"the labels say {labelled} GPUs"
        elif machine is not None:
            said = (
                f"instance type {node.instance_type} has {machine.count} {machine.gpu_type} GPU(s)"
            )
        if said:
            warnings.append(
                ImportWarning(
                    subject,
                    "status.allocatable.nvidia.com/gpu",
                    f"{said} but none is allocatable (is the NVIDIA device plugin running?): "
                    "planned as a node without GPUs",
                )
            )


def _mig_warnings(node: KubeNode, subject: str, warnings: list[ImportWarning]) -> None:
    """MIG instances (mixed strategy): the node is planned with `mig: true`, but the plan
    chooses its own partitioning; or, for a profile the catalog lacks, not at all."""
    if not node.mig_devices:
        return
    shown = ", ".join(f"{count} x {profile}" for profile, count in node.mig_devices)
    field_name = "status.allocatable.nvidia.com/mig-*"
    if node.mig_gpus:
        message = (
            f"MIG instances {shown} on {node.mig_gpus} GPU(s): planned as mig: true with "
            f"{node.gpus + node.mig_gpus} GPUs; the plan chooses the partitioning, which may "
            "differ from the one configured now (applying it means reconfiguring MIG on the node)"
        )
    else:
        type_name = node.gpu.type_name if node.gpu else "none"
        message = (
            f"MIG instances {shown}: not planned (the catalog has no such profile for GPU type "
            f"{type_name}); only whole GPUs, nvidia.com/gpu, are counted"
        )
    warnings.append(ImportWarning(subject, field_name, message))


def request_warnings(workload: KubeWorkload, subject: str, warnings: list[ImportWarning]) -> None:
    """Requests planned differently from how Kubernetes counts them."""
    requests = workload.requests
    field_name = "spec.containers[*].resources"
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
