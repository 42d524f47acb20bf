"""Which pods the import plans, and which it leaves where they are.

The control plane's namespaces (kube-system, kube-public, kube-node-lease) run the
cluster itself and are left out unless `--namespace` names them; `--namespace` keeps only
the namespaces it names, `--exclude-namespace` leaves more out. Pods of a DaemonSet, and
static pods, run on every node they match: node overhead, not workloads to place. A
left-out pod that is bound to a node still uses it, so its requests come off that node's
capacity, as the scheduler counts them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from allocator.interop.kubernetes.pods import KubePod
from allocator.interop.result import ImportWarning

DEFAULT_EXCLUDED_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")


@dataclass(frozen=True)
class PodFilter:
    """`--namespace` (only these, when given) and `--exclude-namespace` (also not these)."""

    namespaces: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def admits(self, namespace: str) -> bool:
        if namespace in self.excluded:
            return False
        if self.namespaces:
            return namespace in self.namespaces
        return namespace not in DEFAULT_EXCLUDED_NAMESPACES


@dataclass
class PodSelection:
    """The pods to plan, and those left out by each filter."""

    planned: list[KubePod] = field(default_factory=list)
    by_namespace: list[KubePod] = field(default_factory=list)
    per_node: list[KubePod] = field(default_factory=list)

    @property
    def left_out(self) -> list[KubePod]:
        return [*self.by_namespace, *self.per_node]


def select_pods(pods: list[KubePod], pod_filter: PodFilter) -> PodSelection:
    """Namespaces first, then per-node pods among those the namespaces admit."""
    selection = PodSelection()
    for pod in pods:
        if not pod_filter.admits(pod.namespace):
            selection.by_namespace.append(pod)
        elif pod.node_bound:
            selection.per_node.append(pod)
        else:
            selection.planned.append(pod)
    return selection


def filter_warnings(selection: PodSelection, pod_filter: PodFilter) -> list[ImportWarning]:
    """How many pods each filter left out, and what became of their requests."""
    warnings = []
    if selection.by_namespace:
        counts = Counter(p.namespace for p in selection.by_namespace)
        shown = ", ".join(f"{ns}: {n}" for ns, n in sorted(counts.items()))
        if pod_filter.namespaces:
            why = f"--namespace keeps only {', '.join(pod_filter.namespaces)}"
        else:
            why = (
                f"{', '.join(DEFAULT_EXCLUDED_NAMESPACES)} are left out unless --namespace "
                "names them"
            )
        if pod_filter.excluded:
            why += f"; --exclude-namespace leaves out {', '.join(pod_filter.excluded)}"
        warnings.append(
            ImportWarning(
                "pods",
                "metadata.namespace",
                f"{_pods(len(selection.by_namespace))} left out by namespace ({shown}; {why})"
                f"{_overhead(selection.by_namespace)}",
            )
        )
    if selection.per_node:
        counts = Counter(_per_node_owner(p) for p in selection.per_node)
        shown = ", ".join(f"{owner}: {n}" for owner, n in sorted(counts.items()))
        warnings.append(
            ImportWarning(
                "pods",
                "metadata.ownerReferences",
                f"{_pods(len(selection.per_node))} of DaemonSets and static pods left out "
                f"({shown}; they run on every node they match, so they are node overhead, not "
                f"workloads to place){_overhead(selection.per_node)}",
            )
        )
    return warnings


def _per_node_owner(pod: KubePod) -> str:
    """A DaemonSet by name; static pods (owned by their node) together."""
    if pod.owner.kind == "DaemonSet":
        return f"DaemonSet {pod.namespace}/{pod.owner.name}"
    return "static pods"


def _pods(count: int) -> str:
    return f"{count} pod" if count == 1 else f"{count} pods"


def _overhead(pods: list[KubePod]) -> str:
    bound = sum(1 for p in pods if p.node_name)
    if not bound:
        return ""
    if bound == 1:
        return "; the one bound to a node has its requests taken off that node's capacity"
    return f"; the {bound} bound to nodes have their requests taken off those nodes' capacity"
