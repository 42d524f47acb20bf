"""Pod priorities as allocator priorities, and priority classes as the objective's classes.

A pod's priority is the value of its `priorityClassName` in the priority classes input,
else its `spec.priority` (which admission fills in from the class), else the classes'
global default for pods that name no class, else 1. Allocator priorities run from 1 to
1,000,000: lower values (Kubernetes' default is 0) become 1, higher ones 1,000,000.

A workload's class is its pods' `priorityClassName` (the global default class for pods
naming none); `objective.priority_classes` lists the classes used, highest value first,
so that a lower class never displaces a higher one, as Kubernetes preemption has it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from allocator.interop.kubernetes.objects import read_objects
from allocator.interop.kubernetes.pods import KubePod
from allocator.interop.kubernetes.workloads import KubeWorkload
from allocator.interop.reading import Problems
from allocator.interop.result import MAX_PRIORITY, ImportWarning, clamp_priority

DEFAULT_PRIORITY = 1


@dataclass(frozen=True)
class PriorityClasses:
    """`kubectl get priorityclasses`: value by name, and the global default."""

    values: dict[str, int]
    global_default: int | None
    default_name: str | None = None


def read_priority_classes(path: str | Path | None, problems: Problems) -> PriorityClasses | None:
    """The classes of a `kubectl get priorityclasses -o json` listing (None without one)."""
    if path is None:
        return None
    values, default, default_name = {}, None, None
    for obj in read_objects(path, "PriorityClass", "priorityclasses", problems, namespaced=False):
        value = obj.data.get("value")
        if isinstance(value, bool) or not isinstance(value, int):
            problems.add(obj.where.at("value"), f"expected a whole number, got {value!r}")
            continue
        values[obj.name] = value
        if obj.data.get("globalDefault") is True:
            default, default_name = value, obj.name
    return PriorityClasses(values, default, default_name)


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


def pod_class(pod: KubePod, classes: PriorityClasses | None) -> str | None:
    """The class a pod belongs to: the one it names, else the global default class."""
    if pod.priority_class:
        return pod.priority_class
    return classes.default_name if classes is not None else None


def class_value(pod: KubePod, classes: PriorityClasses | None) -> int | None:
    """The value of the pod's class: from the classes input, else its `spec.priority`."""
    name = pod_class(pod, classes)
    if name is None:
        return None
    if classes is not None and name in classes.values:
        return classes.values[name]
    return pod.priority


def workload_class(
    workload: KubeWorkload, classes: PriorityClasses | None, warnings: list[ImportWarning]
) -> tuple[str, int] | None:
    """(class, value) of the workload's highest pod whose class value is known."""
    known = [
        (v, pod_class(p, classes), p)
        for p in workload.pods
        if (v := class_value(p, classes)) is not None
    ]
    if not known:
        return None
    value, name, pod = max(known, key=lambda k: k[0])
    names = sorted({pod_class(p, classes) or "none" for p in workload.pods})
    if len(names) > 1:
        warnings.append(
            ImportWarning(
                f"workload {workload.id} (pods/{pod.key})",
                "spec.priorityClassName",
                f"its pods are of different priority classes ({', '.join(names)}): planned in "
                f"class {name}, the highest",
            )
        )
    return name, value


def class_values(found: dict[str, tuple[str, int] | None]) -> dict[str, int]:
    """Value of each class the workloads are in (the highest seen, should pods disagree)."""
    values: dict[str, int] = {}
    for entry in found.values():
        if entry is not None:
            values[entry[0]] = max(entry[1], values.get(entry[0], entry[1]))
    return values


def class_order(found: dict[str, tuple[str, int] | None]) -> list[str]:
    """The classes the workloads are in, highest value first (ties by name)."""
    values = class_values(found)
    return sorted(values, key=lambda n: (-values[n], n))


def unclassed_warnings(
    workloads: list[KubeWorkload],
    found: dict[str, tuple[str, int] | None],
    warnings: list[ImportWarning],
) -> None:
    """The plan places workloads without a class after every class: say so when one of
    them outranks a class in Kubernetes."""
    values = class_values(found)
    if not values:
        return
    lowest = min(values, key=lambda n: (values[n], n))
    for workload in workloads:
        if found.get(workload.id) is not None:
            continue
        value = max((p.priority or 0) for p in workload.pods)
        if value > values[lowest]:
            warnings.append(
                ImportWarning(
                    f"workload {workload.id} (pods/{workload.pods[0].key})",
                    "spec.priority",
                    f"priority {value} without a priority class: the plan places it after "
                    f"every class, even class {lowest} ({values[lowest]}), which Kubernetes "
                    "ranks below it",
                )
            )
