"""Pods that lose their work when moved, and how the import keeps them where they run.

Kubernetes moves a pod by deleting it and creating it again. For a Deployment's replica
that costs nothing (another replica serves meanwhile), but a Job's pod, a training
operator's worker or a bare pod starts its work over, and a StatefulSet pod with a
`hostPath` volume leaves its data on the old node. Unless `--move-jobs` is given, such a
workload is pinned: when all its pods run (on nodes that are not down), a node selector
holds it on their nodes (`kubernetes.io/hostname`, or a label of its own on each of
them when they are several); when some of its pods are pending, a selector would hold
those too, so a large `move_cost` keeps the running ones instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from allocator.interop.kubernetes.nodes import HOSTNAME_LABEL, KubeNode
from allocator.interop.kubernetes.pods import KubePod
from allocator.interop.kubernetes.workloads import TRAINING_OWNERS, KubeWorkload

JOB_OWNERS = ("Job", "CronJob")
# Owners of interchangeable replicas: a moved one is replaced and no work is lost (a
# StatefulSet's data follows its volume claim, unless it lives on the node itself).
REPLACEABLE_OWNERS = ("Deployment", "ReplicaSet", "StatefulSet")
PIN_LABEL_PREFIX = "allocator.io/pinned/"
TRUE = "true"
# $/h-equivalent per running replica moved: more than any node costs, so that no saving
# pays for a move, yet small enough to keep the objective's numbers well scaled.
PINNED_MOVE_COST = 1000.0


def work_lost_on_move(pod: KubePod) -> str | None:
    """Why moving the pod restarts its work, or None when a move loses nothing."""
    kind = pod.owner.kind
    if kind in JOB_OWNERS:
        return "a Job's pod starts its work over when moved"
    if kind in TRAINING_OWNERS:
        return (
            f"a training job's pod ({kind}) restarts training when moved (from its last "
            "checkpoint at best)"
        )
    if kind == "Pod":
        return "a bare pod (no controller) starts its work over when moved"
    if kind == "StatefulSet":
        volume = _host_path_volume(pod)
        if volume is not None:
            return (
                f"a StatefulSet pod with local storage (hostPath volume {volume!r}) leaves its "
                "data behind when moved"
            )
    return None


@dataclass(frozen=True)
class MoveEffect:
    """What moving a pod does to its work, as the export says it."""

    restarts: bool | None  # None: allocator does not know the pod's owner
    why: str

    @property
    def annotation(self) -> str:
        return {True: "true", False: "false", None: "unknown"}[self.restarts]

    def __str__(self) -> str:
        verdict = {True: "yes", False: "no", None: "unknown"}[self.restarts]
        return f"{verdict}: {self.why}"


def move_effect(pod: KubePod) -> MoveEffect:
    """Whether, and why, moving the pod restarts its work."""
    lost = work_lost_on_move(pod)
    if lost is not None:
        return MoveEffect(True, lost)
    kind = pod.owner.kind
    if kind in REPLACEABLE_OWNERS:
        return MoveEffect(False, f"a {kind}'s replica: another takes its place")
    return MoveEffect(None, f"a {kind}'s pod: allocator does not know whether it keeps its work")


def _host_path_volume(pod: KubePod) -> str | None:
    spec = pod.data.get("spec") or {}
    for volume in spec.get("volumes") or []:
        if isinstance(volume, dict) and "hostPath" in volume:
            return str(volume.get("name", "?"))
    return None


@dataclass(frozen=True)
class Pin:
    """How the import keeps a workload whose running pods would lose their work."""

    reason: str
    nodes: tuple[str, ...]  # where its running pods are, in name order
    running: int
    free: int  # its other pods: pending, or on a node that is down
    selector: dict[str, str]  # node labels that hold it there; empty: the move cost does

    @property
    def holds(self) -> str:
        """The rule that keeps it, as the warning names it."""
        if self.selector:
            ((key, value),) = self.selector.items()
            return f"node_selector {key}={value}"
        return f"move_cost {PINNED_MOVE_COST:g}"


def pin_for(workload: KubeWorkload, nodes: dict[str, KubeNode]) -> Pin | None:
    """The pin of a workload whose running pods lose their work when moved, else None."""
    running = [
        p for p in workload.pods if p.node_name in nodes and nodes[p.node_name].state != "down"
    ]
    reasons = [r for p in running if (r := work_lost_on_move(p)) is not None]
    if not reasons:
        return None
    on = tuple(sorted({p.node_name for p in running if p.node_name}))
    free = len(workload.pods) - len(running)
    selector: dict[str, str] = {}
    if not free:
        hostname = _hostname(nodes[on[0]])
        shared = sum(1 for n in nodes.values() if _hostname(n) == hostname)
        if len(on) == 1 and shared == 1:
            selector = {HOSTNAME_LABEL: hostname}
        else:
            selector = {pin_label(workload.id): TRUE}
    return Pin(reasons[0], on, len(running), free, selector)


def _hostname(node: KubeNode) -> str:
    """The node's hostname label (the kubelet sets it to the node's name by default)."""
    return node.labels.get(HOSTNAME_LABEL) or node.name


def pin_label(workload_id: str) -> str:
    """The node label that marks the nodes a workload is pinned to, when several."""
    return PIN_LABEL_PREFIX + workload_id


def pin_node_labels(pins: dict[str, Pin]) -> dict[str, dict[str, str]]:
    """The labels each node needs so that the pins' node selectors pick it."""
    out: dict[str, dict[str, str]] = {}
    for pin in pins.values():
        for node in pin.nodes if pin.selector else ():
            out.setdefault(node, {}).update(pin.selector)
    return out


def pin_message(pin: Pin) -> str:
    """The warning that says the workload is held where it runs, and how."""
    where = ", ".join(pin.nodes)
    them = "it" if pin.running == 1 else "them"
    if pin.selector:
        return f"{pin.reason}: kept on {where} ({pin.holds}); --move-jobs lets the plan move {them}"
    return (
        f"{pin.reason}: its running pod(s) are kept on {where} by {pin.holds} per replica "
        f"moved, which a plan may still pay, not by a node selector, which would hold its "
        f"{pin.free} other pod(s) there too; --move-jobs lets the plan move {them} freely"
    )
