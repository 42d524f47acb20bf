"""Pod and node scheduling constraints, typed: node selectors, affinity, tolerations, taints.

They are parsed in full, so that malformed ones are reported with their field, and so
that `rules` can map each one into the inventory or, where the inventory has no
exact equivalent (a preference, an operator other than `In`), list it as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from allocator.interop.reading import (
    Problems,
    Where,
    describe,
    items_of,
    mapping,
    sequence,
    string_map,
    text,
)

NODE_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")
LABEL_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
# The DefaultTolerationSeconds admission plugin adds these to every pod: they bound how
# long a pod stays on a failed node and say nothing about where it may be placed.
ADMISSION_TOLERATIONS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


@dataclass(frozen=True)
class Requirement:
    """`key operator values`, as in node selector terms and label selectors."""

    key: str
    operator: str
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.operator in ("Exists", "DoesNotExist"):
            return f"{self.key} {self.operator}"
        shown = ",".join(self.values)
        return f"{self.key} {self.operator} ({shown})"


@dataclass(frozen=True)
class NodeSelectorTerm:
    """All requirements must hold (terms of a node affinity are alternatives)."""

    match_expressions: tuple[Requirement, ...] = ()
    match_fields: tuple[Requirement, ...] = ()

    def __str__(self) -> str:
        parts = [str(r) for r in self.match_expressions]
        parts += [f"field {r}" for r in self.match_fields]
        return " and ".join(parts) or "(empty term)"


@dataclass(frozen=True)
class PreferredNodeTerm:
    weight: int
    preference: NodeSelectorTerm


@dataclass(frozen=True)
class NodeAffinity:
    required: tuple[NodeSelectorTerm, ...] = ()
    preferred: tuple[PreferredNodeTerm, ...] = ()


@dataclass(frozen=True)
class LabelSelector:
    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in self.match_labels]
        parts += [str(r) for r in self.match_expressions]
        return ", ".join(parts) or "every pod"


@dataclass(frozen=True)
class PodAffinityTerm:
    """Pods matching `label_selector` (in `namespaces`), counted per `topology_key` domain.

    `match_label_keys` and `mismatch_label_keys` name labels whose value on the pod itself
    the other pods must share (or must not), e.g. `pod-template-hash`.
    """

    topology_key: str
    label_selector: LabelSelector | None = None
    namespaces: tuple[str, ...] = ()
    namespace_selector: LabelSelector | None = None
    match_label_keys: tuple[str, ...] = ()
    mismatch_label_keys: tuple[str, ...] = ()

    def __str__(self) -> str:
        scope = f" in namespaces {','.join(self.namespaces)}" if self.namespaces else ""
        return f"pods [{self.label_selector or 'none'}]{scope} per {self.topology_key}"


@dataclass(frozen=True)
class WeightedPodAffinityTerm:
    weight: int
    term: PodAffinityTerm


@dataclass(frozen=True)
class PodAffinity:
    """`podAffinity` (run near) or `podAntiAffinity` (run apart)."""

    required: tuple[PodAffinityTerm, ...] = ()
    preferred: tuple[WeightedPodAffinityTerm, ...] = ()


@dataclass(frozen=True)
class Toleration:
    operator: Literal["Equal", "Exists"]
    key: str | None = None
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None

    def __str__(self) -> str:
        key = self.key or "*"
        body = f"{key}={self.value or ''}" if self.operator == "Equal" else f"{key} Exists"
        return f"{body}:{self.effect}" if self.effect else body

    @property
    def added_by_admission(self) -> bool:
        return (
            self.key in ADMISSION_TOLERATIONS
            and self.operator == "Exists"
            and self.effect == "NoExecute"
        )


@dataclass(frozen=True)
class Taint:
    key: str
    effect: str
    value: str | None = None

    def __str__(self) -> str:
        key = f"{self.key}={self.value}" if self.value else self.key
        return f"{key}:{self.effect}"


@dataclass(frozen=True)
class TopologySpread:
    """`topologySpreadConstraints[]`; the policies default as in Kubernetes 1.27 and later."""

    max_skew: int
    topology_key: str
    when_unsatisfiable: str
    label_selector: LabelSelector | None = None
    min_domains: int | None = None
    node_affinity_policy: str = "Honor"
    node_taints_policy: str = "Ignore"
    match_label_keys: tuple[str, ...] = ()

    def __str__(self) -> str:
        return (
            f"max skew {self.max_skew} per {self.topology_key} over pods "
            f"[{self.label_selector or 'none'}] ({self.when_unsatisfiable})"
        )


@dataclass(frozen=True)
class PodScheduling:
    """Everything in a pod spec that restricts or steers where the pod may run."""

    node_selector: tuple[tuple[str, str], ...] = ()
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None
    tolerations: tuple[Toleration, ...] = ()
    topology_spread: tuple[TopologySpread, ...] = field(default=())


def parse_pod_scheduling(spec: dict, where: Where, problems: Problems) -> PodScheduling:
    """The scheduling constraints of a pod spec (`where` is the spec)."""
    selector = string_map(spec.get("nodeSelector"), where.at("nodeSelector"), problems)
    affinity = mapping(spec.get("affinity"), where.at("affinity"), problems) or {}
    at = where.at("affinity")
    return PodScheduling(
        node_selector=tuple(sorted(selector.items())),
        node_affinity=_node_affinity(affinity.get("nodeAffinity"), at.at("nodeAffinity"), problems),
        pod_affinity=_pod_affinity(affinity.get("podAffinity"), at.at("podAffinity"), problems),
        pod_anti_affinity=_pod_affinity(
            affinity.get("podAntiAffinity"), at.at("podAntiAffinity"), problems
        ),
        tolerations=tuple(
            t
            for item, item_where in items_of(
                spec.get("tolerations"), where.at("tolerations"), problems
            )
            if (t := _toleration(item, item_where, problems)) is not None
        ),
        topology_spread=tuple(
            s
            for item, item_where in items_of(
                spec.get("topologySpreadConstraints"),
                where.at("topologySpreadConstraints"),
                problems,
            )
            if (s := _spread(item, item_where, problems)) is not None
        ),
    )


def parse_taints(value: object, where: Where, problems: Problems) -> tuple[Taint, ...]:
    out = []
    for item, item_where in items_of(value, where, problems):
        key = text(item.get("key"), item_where.at("key"), problems, required=True)
        effect = _choice(item.get("effect"), TAINT_EFFECTS, item_where.at("effect"), problems)
        value_text = _scalar_text(item.get("value"), item_where.at("value"), problems)
        if key is not None and effect is not None:
            out.append(Taint(key, effect, value_text))
    return tuple(out)


def _node_affinity(value: object, where: Where, problems: Problems) -> NodeAffinity | None:
    found = mapping(value, where, problems)
    if not found:
        return None
    required: list[NodeSelectorTerm] = []
    hard = mapping(found.get(REQUIRED), where.at(REQUIRED), problems)
    if hard is not None:
        terms_where = where.at(REQUIRED, "nodeSelectorTerms")
        terms = sequence(hard.get("nodeSelectorTerms"), terms_where, problems, required=True)
        if terms == []:
            problems.add(terms_where, "expected at least one node selector term")
        for item, item_where in items_of(terms, terms_where, problems):
            required.append(_node_term(item, item_where, problems))
    preferred = []
    for item, item_where in items_of(found.get(PREFERRED), where.at(PREFERRED), problems):
        weight = _weight(item.get("weight"), item_where.at("weight"), problems)
        preference = mapping(
            item.get("preference"), item_where.at("preference"), problems, required=True
        )
        if weight is not None and preference is not None:
            term = _node_term(preference, item_where.at("preference"), problems)
            preferred.append(PreferredNodeTerm(weight, term))
    return NodeAffinity(tuple(required), tuple(preferred))


def _node_term(item: dict, where: Where, problems: Problems) -> NodeSelectorTerm:
    return NodeSelectorTerm(
        match_expressions=_requirements(
            item.get("matchExpressions"), where.at("matchExpressions"), NODE_OPERATORS, problems
        ),
        match_fields=_requirements(
            item.get("matchFields"), where.at("matchFields"), NODE_OPERATORS, problems
        ),
    )


def _requirements(
    value: object, where: Where, operators: tuple[str, ...], problems: Problems
) -> tuple[Requirement, ...]:
    out = []
    for item, item_where in items_of(value, where, problems):
        key = text(item.get("key"), item_where.at("key"), problems, required=True)
        operator = _choice(item.get("operator"), operators, item_where.at("operator"), problems)
        values_where = item_where.at("values")
        values = sequence(item.get("values"), values_where, problems) or []
        shown = []
        for k, v in enumerate(values):
            found = _scalar_text(v, values_where.at(k), problems)
            if found is not None:
                shown.append(found)
        if operator in ("In", "NotIn") and not values:
            problems.add(values_where, f"operator {operator} needs at least one value")
        elif operator in ("Exists", "DoesNotExist") and values:
            problems.add(values_where, f"operator {operator} takes no values")
        elif operator in ("Gt", "Lt") and (len(values) != 1 or not _is_integer(values[0])):
            problems.add(values_where, f"operator {operator} needs exactly one integer value")
        if key is not None and operator is not None:
            out.append(Requirement(key, operator, tuple(shown)))
    return tuple(out)


def _label_selector(value: object, where: Where, problems: Problems) -> LabelSelector | None:
    found = mapping(value, where, problems)
    if found is None:
        return None
    labels = string_map(found.get("matchLabels"), where.at("matchLabels"), problems)
    return LabelSelector(
        tuple(sorted(labels.items())),
        _requirements(
            found.get("matchExpressions"), where.at("matchExpressions"), LABEL_OPERATORS, problems
        ),
    )


def _pod_affinity(value: object, where: Where, problems: Problems) -> PodAffinity | None:
    found = mapping(value, where, problems)
    if not found:
        return None
    required = []
    for item, item_where in items_of(found.get(REQUIRED), where.at(REQUIRED), problems):
        term = _pod_term(item, item_where, problems)
        if term is not None:
            required.append(term)
    preferred = []
    for item, item_where in items_of(found.get(PREFERRED), where.at(PREFERRED), problems):
        weight = _weight(item.get("weight"), item_where.at("weight"), problems)
        term_where = item_where.at("podAffinityTerm")
        body = mapping(item.get("podAffinityTerm"), term_where, problems, required=True)
        term = _pod_term(body, term_where, problems) if body is not None else None
        if weight is not None and term is not None:
            preferred.append(WeightedPodAffinityTerm(weight, term))
    return PodAffinity(tuple(required), tuple(preferred))


def _pod_term(item: dict, where: Where, problems: Problems) -> PodAffinityTerm | None:
    topology = text(item.get("topologyKey"), where.at("topologyKey"), problems, required=True)
    namespaces_where = where.at("namespaces")
    namespaces = [
        n
        for k, v in enumerate(sequence(item.get("namespaces"), namespaces_where, problems) or [])
        if (n := text(v, namespaces_where.at(k), problems, required=True)) is not None
    ]
    selector = _label_selector(item.get("labelSelector"), where.at("labelSelector"), problems)
    ns_selector = _label_selector(
        item.get("namespaceSelector"), where.at("namespaceSelector"), problems
    )
    if topology is None:
        return None
    return PodAffinityTerm(
        topology,
        selector,
        tuple(namespaces),
        ns_selector,
        _texts(item.get("matchLabelKeys"), where.at("matchLabelKeys"), problems),
        _texts(item.get("mismatchLabelKeys"), where.at("mismatchLabelKeys"), problems),
    )


def _toleration(item: dict, where: Where, problems: Problems) -> Toleration | None:
    operator = item.get("operator", "Equal")
    operator = _choice(operator, ("Equal", "Exists"), where.at("operator"), problems)
    key = text(item.get("key"), where.at("key"), problems)
    value = _scalar_text(item.get("value"), where.at("value"), problems)
    effect = item.get("effect")
    if effect not in (None, ""):
        effect = _choice(effect, TAINT_EFFECTS, where.at("effect"), problems)
    seconds = item.get("tolerationSeconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
        problems.add(
            where.at("tolerationSeconds"), f"expected whole seconds, got {describe(seconds)}"
        )
        seconds = None
    if operator == "Exists" and value:
        problems.add(where.at("value"), "a toleration with operator Exists takes no value")
    if key is None and operator == "Equal":
        problems.add(where.at("key"), "missing; an Equal toleration needs a key")
    if operator is None:
        return None
    return Toleration(operator, key, value, effect or None, seconds)


def _spread(item: dict, where: Where, problems: Problems) -> TopologySpread | None:
    skew = _weight(item.get("maxSkew"), where.at("maxSkew"), problems, low=1, high=None)
    topology = text(item.get("topologyKey"), where.at("topologyKey"), problems, required=True)
    when = _choice(
        item.get("whenUnsatisfiable"),
        ("DoNotSchedule", "ScheduleAnyway"),
        where.at("whenUnsatisfiable"),
        problems,
    )
    selector = _label_selector(item.get("labelSelector"), where.at("labelSelector"), problems)
    min_domains = item.get("minDomains")
    if min_domains is not None:
        min_domains = _weight(min_domains, where.at("minDomains"), problems, low=1, high=None)
    policies = {}
    for key in ("nodeAffinityPolicy", "nodeTaintsPolicy"):
        if item.get(key) is not None:
            policies[key] = _choice(item[key], ("Honor", "Ignore"), where.at(key), problems)
    label_keys = _texts(item.get("matchLabelKeys"), where.at("matchLabelKeys"), problems)
    if skew is None or topology is None or when is None or None in policies.values():
        return None
    return TopologySpread(
        skew,
        topology,
        when,
        selector,
        min_domains,
        policies.get("nodeAffinityPolicy") or "Honor",
        policies.get("nodeTaintsPolicy") or "Ignore",
        label_keys,
    )


def _texts(value: object, where: Where, problems: Problems) -> tuple[str, ...]:
    """A list of label keys (`matchLabelKeys`)."""
    return tuple(
        found
        for k, item in enumerate(sequence(value, where, problems) or [])
        if (found := text(item, where.at(k), problems, required=True)) is not None
    )


def _choice(
    value: object, allowed: tuple[str, ...], where: Where, problems: Problems
) -> str | None:
    if value in allowed:
        return value  # type: ignore[return-value]
    if value is None:
        problems.add(where, f"missing; expected one of {', '.join(allowed)}")
    else:
        problems.add(where, f"expected one of {', '.join(allowed)}, got {describe(value)}")
    return None


def _weight(
    value: object, where: Where, problems: Problems, low: int = 1, high: int | None = 100
) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool)
    if ok and value >= low and (high is None or value <= high):
        return value  # type: ignore[return-value]
    span = f"{low}..{high}" if high is not None else f"at least {low}"
    problems.add(where, f"expected a whole number {span}, got {describe(value)}")
    return None


def _scalar_text(value: object, where: Where, problems: Problems) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        problems.add(where, f"expected text, got {describe(value)}")
        return None
    return str(value)


def _is_integer(value: object) -> bool:
    try:
        int(str(value))
    except ValueError:
        return False
    return True
