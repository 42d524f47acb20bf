"""Kubernetes' matching rules, as the scheduler applies them: label selectors against pod
labels, node selector terms against nodes, tolerations against taints.

The importer evaluates them itself to decide whether a constraint maps exactly onto an
inventory rule: which pods a pod affinity term selects, which nodes a pod may use.
"""

from __future__ import annotations

from collections.abc import Mapping

from allocator.interop.kubernetes.scheduling import (
    LabelSelector,
    NodeSelectorTerm,
    PodScheduling,
    Requirement,
    Taint,
    Toleration,
)

NAME_FIELD = "metadata.name"


def requirement_holds(requirement: Requirement, labels: Mapping[str, str]) -> bool:
    """`key operator values` against a label set (Gt and Lt compare whole numbers)."""
    value = labels.get(requirement.key)
    operator = requirement.operator
    if operator == "In":
        return value is not None and value in requirement.values
    if operator == "NotIn":
        return value is None or value not in requirement.values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    try:
        found, bound = int(str(value)), int(requirement.values[0])
    except (ValueError, IndexError):
        return False
    return found > bound if operator == "Gt" else found < bound


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Every `matchLabels` pair and every expression holds (an empty selector matches all)."""
    return all(labels.get(k) == v for k, v in selector.match_labels) and all(
        requirement_holds(r, labels) for r in selector.match_expressions
    )


def term_holds(term: NodeSelectorTerm, node_name: str, labels: Mapping[str, str]) -> bool:
    """One node selector term; an empty term matches no node, as in Kubernetes."""
    if not term.match_expressions and not term.match_fields:
        return False
    fields = {NAME_FIELD: node_name}
    return all(requirement_holds(r, labels) for r in term.match_expressions) and all(
        requirement_holds(r, fields) for r in term.match_fields
    )


def node_admits(scheduling: PodScheduling, node_name: str, labels: Mapping[str, str]) -> bool:
    """The pod's node selector and required node affinity (terms are alternatives) hold."""
    if any(labels.get(k) != v for k, v in scheduling.node_selector):
        return False
    affinity = scheduling.node_affinity
    if affinity is None or not affinity.required:
        return True
    return any(term_holds(t, node_name, labels) for t in affinity.required)


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """An empty key with Exists tolerates every taint; an empty effect matches every effect."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if not toleration.key:
        return toleration.operator == "Exists"
    if toleration.key != taint.key:
        return False
    return toleration.operator == "Exists" or (toleration.value or "") == (taint.value or "")
