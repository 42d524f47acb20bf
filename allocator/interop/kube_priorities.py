"""Pod priorities as allocator priorities.

A pod's priority is the value of its `priorityClassName` in the priority classes input,
else its `spec.priority` (which admission fills in from the class), else the classes'
global default for pods that name no class, else 1. Allocator priorities run from 1 to
1,000,000: lower values (Kubernetes' default is 0) become 1, higher ones 1,000,000.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from allocator.interop.kube_objects import read_objects
from allocator.interop.kube_workloads import KubeWorkload
from allocator.interop.reading import Problems
from allocator.interop.result import MAX_PRIORITY, ImportWarning, clamp_priority

DEFAULT_PRIORITY = 1


@dataclass(frozen=True)
class PriorityClasses:
    """`kubectl get priorityclasses`: value by name, and the global default."""

    values: dict[str, int]
    global_default: int | None


def read_priority_classes(path: str | Path | None, problems: Problems) -> PriorityClasses | None:
    """The classes of a `kubectl get priorityclasses -o json` listing (None without one)."""
    if path is None:
        return None
    values, default = {}, None
    for obj in read_objects(path, "PriorityClass", "priorityclasses", problems, namespaced=False):
        value = obj.data.get("value")
        if isinstance(value, bool) or not isinstance(value, int):
            problems.add(obj.where.at("value"), f"expected a whole number, got {value!r}")
            continue
        values[obj.name] = value
        if obj.data.get("globalDefault") is True:
            default = value
    return PriorityClasses(values, default)


def workload_priority(
    workload: KubeWorkload,
    classes: PriorityClasses | None,
    subject: str,
    warnings: list[ImportWarning],
) -> int:
    """The highest priority among the workload's pods, as an allocator priority."""
    found = []
    for pod in workload.pods:
        value = None
        if pod.priority_class and classes is not None:
            value = classes.values.get(pod.priority_class)
            if value is None:
                warnings.append(
                    ImportWarning(
                        f"pods/{pod.key}",
                        "spec.priorityClassName",
                        f"priority class {pod.priority_class!r} is not in the priority classes "
                        "input",
                    )
                )
        if value is None:
            value = pod.priority
        if value is None and classes is not None and not pod.priority_class:
            value = classes.global_default
        if value is None and pod.priority_class:
            warnings.append(
                ImportWarning(
                    f"pods/{pod.key}",
                    "spec.priorityClassName",
                    f"the value of priority class {pod.priority_class!r} is unknown (no "
                    f"spec.priority, no --priority-classes entry): priority {DEFAULT_PRIORITY}",
                )
            )
        found.append(DEFAULT_PRIORITY if value is None else value)
    value = max(found)
    if value > MAX_PRIORITY:
        warnings.append(
            ImportWarning(
                subject,
                "spec.priority",
                f"priority {value} is above allocator's maximum: planned as {MAX_PRIORITY:,}",
            )
        )
    return clamp_priority(value)
