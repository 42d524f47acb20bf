"""Grouping pods into workloads: one per owner (Deployment, StatefulSet, Job, ...).

A workload's replicas are its live pods; its per-replica need is the largest request
among them; its id is `<namespace>/<owner name>` (with the owner kind in between when
two owners of different kinds share a name).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from allocator.interop.kubernetes.pods import KubePod, Owner, PodRequests
from allocator.interop.kubernetes.scheduling import PodScheduling

INFERENCE_OWNERS = ("Deployment", "StatefulSet", "ReplicaSet")
TRAINING_OWNERS = ("PyTorchJob", "TFJob", "MPIJob", "JAXJob", "XGBoostJob", "PaddleJob", "TrainJob")
# Pod labels that differ from pod to pod of one owner, or only restate the owner.
VOLATILE_LABELS = (
    "pod-template-hash",
    "controller-revision-hash",
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "batch.kubernetes.io/job-completion-index",
    "controller-uid",
    "batch.kubernetes.io/controller-uid",
)
NAMESPACE_LABEL = "k8s/namespace"
OWNER_LABEL = "k8s/owner"


@dataclass(frozen=True)
class KubeWorkload:
    """The pods of one owner, as one allocator workload."""

    id: str
    namespace: str
    owner: Owner
    kind: str
    pods: tuple[KubePod, ...]
    requests: PodRequests
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def placed_on(self) -> list[str]:
        """Nodes its pods run on now, one entry per placed pod (pods in name order)."""
        return [p.node_name for p in self.pods if p.node_name]

    @property
    def schedulings(self) -> list[tuple[KubePod, PodScheduling]]:
        """Each distinct set of scheduling constraints, with the first pod that has it."""
        seen: list[tuple[KubePod, PodScheduling]] = []
        for pod in self.pods:
            if all(pod.scheduling != s for _, s in seen):
                seen.append((pod, pod.scheduling))
        return seen

    @property
    def differing_requests(self) -> bool:
        return len({p.requests for p in self.pods}) > 1


def group_workloads(pods: list[KubePod]) -> list[KubeWorkload]:
    """Live pods that are not per-node overhead, grouped by owner, in a stable order."""
    groups: dict[tuple[str, str, str], list[KubePod]] = defaultdict(list)
    for pod in pods:
        if not pod.node_bound:
            groups[(pod.namespace, pod.owner.kind, pod.owner.name)].append(pod)
    ids = defaultdict(list)
    for namespace, kind, name in groups:
        ids[f"{namespace}/{name}"].append(kind)
    out = []
    for (namespace, kind, name), members in groups.items():
        short = f"{namespace}/{name}"
        workload_id = short if len(ids[short]) == 1 else f"{namespace}/{kind.lower()}/{name}"
        members = sorted(members, key=lambda p: p.name)
        out.append(
            KubeWorkload(
                id=workload_id,
                namespace=namespace,
                owner=Owner(kind, name),
                kind=_kind(kind, members),
                pods=tuple(members),
                requests=_largest(members),
                labels=_shared_labels(members, namespace, Owner(kind, name)),
            )
        )
    return sorted(out, key=lambda w: w.id)


def _kind(owner_kind: str, pods: list[KubePod]) -> str:
    for pod in pods:
        if pod.kind_label:
            return pod.kind_label
    if owner_kind in TRAINING_OWNERS:
        return "training"
    if owner_kind in INFERENCE_OWNERS:
        return "inference"
    return "batch"


def _largest(pods: list[KubePod]) -> PodRequests:
    first = pods[0].requests
    if all(p.requests == first for p in pods):
        return first
    mig: dict[str, int] = {}
    for pod in pods:
        for name, count in pod.requests.mig:
            mig[name] = max(mig.get(name, 0), count)
    return PodRequests(
        cpu_m=max(p.requests.cpu_m for p in pods),
        memory_mib=max(p.requests.memory_mib for p in pods),
        gpus=max(p.requests.gpus for p in pods),
        mig=tuple(sorted(mig.items())),
        other=tuple(sorted({n for p in pods for n in p.requests.other})),
        missing=tuple(r for r in ("cpu", "memory") if all(r in p.requests.missing for p in pods)),
    )


def _shared_labels(pods: list[KubePod], namespace: str, owner: Owner) -> dict[str, str]:
    shared = dict(pods[0].labels)
    for pod in pods[1:]:
        shared = {k: v for k, v in shared.items() if pod.labels.get(k) == v}
    for key in VOLATILE_LABELS:
        shared.pop(key, None)
    return {**dict(sorted(shared.items())), NAMESPACE_LABEL: namespace, OWNER_LABEL: str(owner)}
