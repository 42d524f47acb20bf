"""A plan as Kubernetes manifests: each pod the plan moves or starts, pinned to its node.

Kubernetes cannot re-bind a pod: `spec.nodeName` and the affinity of an existing pod are
immutable, and a `v1/Binding` is a create-only subresource: `kubectl apply` creates it and
then fails to read it back, applying it twice fails, and it only binds pods that no node
has yet. So
each pod is written out whole, as it is, with `spec.nodeName` removed and a required
node affinity on `metadata.name` (the way DaemonSet pods are pinned) added to every
node selector term; `kubectl apply --force` replaces the running pod with it, and the
scheduler still checks resources and taints on the chosen node.

A move is a restart: each moved pod says whether that loses work (a Job's pod, a bare
pod, ...: see `pinning`), in an annotation and a comment of its manifest and a column
of the summary.
"""

from __future__ import annotations

import copy
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from allocator.interop.kubernetes.pinning import MoveEffect, move_effect
from allocator.interop.kubernetes.pods import KubePod, Owner, read_pods
from allocator.interop.kubernetes.scheduling import REQUIRED
from allocator.interop.kubernetes.workloads import KubeWorkload, group_workloads
from allocator.interop.reading import Problems
from allocator.output.plan import PlanFile

PLANNED_NODE_ANNOTATION = "allocator.io/planned-node"
MOVED_FROM_ANNOTATION = "allocator.io/moved-from"
RESTARTS_WORK_ANNOTATION = "allocator.io/move-restarts-work"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SERVER_METADATA = (
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "managedFields",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generateName",
)
CONTROLLED = ("Deployment", "StatefulSet", "ReplicaSet", "Job")


@dataclass(frozen=True)
class PodPin:
    """One pod to (re)create on the node the plan chose."""

    workload: str
    namespace: str
    pod: str
    owner: Owner
    from_node: str | None
    to_node: str
    manifest: dict
    effect: MoveEffect | None = None  # what a move does to the pod's work; None for a start

    @property
    def action(self) -> str:
        return "move" if self.from_node else "start"

    @property
    def restart_note(self) -> str:
        """Whether the move restarts the pod's work, and why, as the summary says it."""
        return str(self.effect) if self.effect else "-"

    def manifest_yaml(self) -> str:
        """The manifest, after a comment that says what it does to the pod's work."""
        if self.effect:
            what = f"# move {self.namespace}/{self.pod}: {self.from_node} -> {self.to_node}; "
            what += f"restarts its work: {self.restart_note}\n"
        else:
            what = f"# start {self.namespace}/{self.pod} on {self.to_node}\n"
        body = yaml.safe_dump(self.manifest, sort_keys=False, default_flow_style=False, width=100)
        return f"---\n{what}{body}"


@dataclass(frozen=True)
class PodStop:
    """A running pod the plan leaves without a node."""

    workload: str
    namespace: str
    pod: str
    node: str


@dataclass
class KubernetesExport:
    plan_name: str
    pins: list[PodPin] = field(default_factory=list)
    stops: list[PodStop] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def manifests_yaml(self) -> str:
        header = (
            f"# Pods to (re)create for allocator plan {self.plan_name!r}, each pinned to its\n"
            "# planned node. Apply with: kubectl apply --force -f <this file>\n"
        )
        if not self.pins:
            return header + "# The plan moves and starts no pod: nothing to apply.\n"
        return header + "".join(p.manifest_yaml() for p in self.pins)

    def summary_markdown(self) -> str:
        lines = [f"# Moves for plan `{self.plan_name}`", ""]
        if self.pins:
            lines += [
                "| workload | pod | owner | from | to | action | restarts work |",
                "|---|---|---|---|---|---|---|",
            ]
            lines += [
                f"| {p.workload} | {p.namespace}/{p.pod} | {p.owner} | {p.from_node or '-'} | "
                f"{p.to_node} | {p.action} | {p.restart_note} |"
                for p in self.pins
            ]
            moves = [p.effect for p in self.pins if p.effect]
            if moves:
                restarting = sum(1 for e in moves if e.restarts)
                unknown = sum(1 for e in moves if e.restarts is None)
                lines += [
                    "",
                    f"{restarting} of the {len(moves)} moves restart work (the pod starts over "
                    "on its new node, or leaves its local data behind)"
                    + (f"; for {unknown} allocator cannot tell" if unknown else "")
                    + ".",
                ]
        else:
            lines.append("The plan moves and starts no pod.")
        if self.stops:
            lines += [
                "",
                "## Pods the plan stops",
                "",
                "| workload | pod | node |",
                "|---|---|---|",
            ]
            lines += [f"| {s.workload} | {s.namespace}/{s.pod} | {s.node} |" for s in self.stops]
            lines += [
                "",
                "Delete them (`kubectl delete pod -n <namespace> <pod>`); a controller-owned pod "
                "comes back unless its owner is scaled down.",
            ]
        lines += [
            "",
            "## How to apply",
            "",
            "`kubectl apply --force -f <manifests>`: a pod cannot be re-pinned in place, so "
            "kubectl deletes each listed pod and creates it again with a required node affinity "
            "on `metadata.name`; the scheduler then binds it to the planned node if it still fits.",
        ]
        if any(p.owner.kind in CONTROLLED for p in self.pins):
            lines += [
                "",
                "Pods owned by a Deployment, StatefulSet or Job are recreated by their controller "
                "as soon as they are deleted: apply when the controller is paused or scaled so "
                "that it does not race the pinned pods, or expect it to replace some of them.",
            ]
        if self.notes:
            lines += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


def export_kubernetes(plan: PlanFile, pods_path: str | Path) -> KubernetesExport:
    """Pinned manifests for every pod the plan moves or starts, against the pods listing."""
    problems = Problems()
    pods = read_pods(pods_path, problems)
    problems.raise_if_any()
    workloads = {w.id: w for w in group_workloads(pods)}
    planned: dict[str, Counter[str]] = defaultdict(Counter)
    for placement in plan.placements:
        planned[placement.workload][placement.node] += 1
    result = KubernetesExport(plan.inventory.name)
    for workload_id in sorted(set(planned) - set(workloads)):
        result.notes.append(
            f"workload {workload_id} has no pods in {Path(pods_path).name}: nothing is exported "
            "for it (create its pods first)"
        )
    in_plan = set(planned) | {u.workload for u in plan.unplaced}
    # Namespaces the import left out (kube-system, ...) have no workload in the plan at all.
    covered = {w.namespace for w in workloads.values() if w.id in in_plan}
    left_alone: Counter[str] = Counter()
    for workload_id, workload in workloads.items():
        if workload_id in in_plan:
            _export_workload(workload, planned.get(workload_id, Counter()), result)
        elif workload.namespace in covered:
            result.notes.append(f"workload {workload_id} is not in the plan: left as it is")
        else:
            left_alone[workload.namespace] += 1
    if left_alone:
        shown = ", ".join(f"{ns} ({n})" for ns, n in sorted(left_alone.items()))
        result.notes.append(
            f"the workloads of namespaces the plan has none of are left as they are: {shown}"
        )
    planned_moves = Counter(
        (m.workload, m.from_node, m.to_node) for m in plan.moves if m.workload in workloads
    )
    exported = Counter((p.workload, p.from_node, p.to_node) for p in result.pins)
    exported += Counter((s.workload, s.node, None) for s in result.stops)
    if planned_moves != exported:
        result.notes.append(
            "the pods listing differs from the state the plan was made for; the manifests "
            "follow the listing (re-import and re-plan to be sure)"
        )
    return result


def _export_workload(
    workload: KubeWorkload, planned: Counter[str], result: KubernetesExport
) -> None:
    running: dict[str, list[KubePod]] = defaultdict(list)
    pending: list[KubePod] = []
    for pod in workload.pods:
        (running[pod.node_name] if pod.node_name else pending).append(pod)
    leaving: list[tuple[str, KubePod]] = []
    for node in sorted(running):
        keep = min(len(running[node]), planned[node])
        leaving += [(node, pod) for pod in running[node][keep:]]
    arriving = sorted(
        Counter({n: c - min(c, len(running.get(n, []))) for n, c in planned.items()}).elements()
    )
    for k, to_node in enumerate(arriving):
        if k < len(leaving):
            from_node, pod = leaving[k]
        elif pending:
            from_node, pod = None, pending.pop(0)
        else:
            result.notes.append(
                f"workload {workload.id}: no pending pod left to start on {to_node} "
                "(scale its owner up, then export again)"
            )
            continue
        effect = move_effect(pod) if from_node else None
        result.pins.append(
            PodPin(
                workload.id,
                pod.namespace,
                pod.name,
                workload.owner,
                from_node,
                to_node,
                pinned_manifest(pod, to_node, from_node, effect),
                effect,
            )
        )
    for node, pod in leaving[len(arriving) :]:
        result.stops.append(PodStop(workload.id, pod.namespace, pod.name, node))


def pinned_manifest(
    pod: KubePod, node: str, moved_from: str | None = None, effect: MoveEffect | None = None
) -> dict:
    """The pod as `kubectl apply` takes it, required to run on `node` and nowhere else;
    a moved pod says whether the move restarts its work."""
    source = pod.data.get("metadata") or {}
    metadata = {k: copy.deepcopy(v) for k, v in source.items() if k not in SERVER_METADATA}
    metadata["namespace"] = pod.namespace
    annotations = {k: v for k, v in (source.get("annotations") or {}).items() if k != LAST_APPLIED}
    annotations[PLANNED_NODE_ANNOTATION] = node
    if moved_from:
        annotations[MOVED_FROM_ANNOTATION] = moved_from
    if effect is not None:
        annotations[RESTARTS_WORK_ANNOTATION] = effect.annotation
    metadata["annotations"] = annotations
    spec = copy.deepcopy(pod.data["spec"])
    spec.pop("nodeName", None)
    if spec.get("priorityClassName"):
        spec.pop("priority", None)  # admission recomputes it from the class
    pin_to_node(spec, node)
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def pin_to_node(spec: dict, node: str) -> None:
    """Add `metadata.name In [node]` to every required node selector term (terms are ORed)."""
    affinity = spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    required = node_affinity.setdefault(REQUIRED, {})
    pin = {"key": "metadata.name", "operator": "In", "values": [node]}
    terms = []
    for term in required.get("nodeSelectorTerms") or [{}]:
        term = dict(term)
        others = [f for f in term.get("matchFields") or [] if f.get("key") != "metadata.name"]
        term["matchFields"] = [*others, pin]
        terms.append(term)
    required["nodeSelectorTerms"] = terms


def pinned_node(manifest: dict) -> str | None:
    """The node a manifest written by `pinned_manifest` is pinned to."""
    annotations = (manifest.get("metadata") or {}).get("annotations") or {}
    return annotations.get(PLANNED_NODE_ANNOTATION)
