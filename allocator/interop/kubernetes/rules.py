"""A workload's pod scheduling constraints as inventory rules.

A constraint becomes an inventory field when both select the same nodes (or keep the
same replicas apart) on the imported cluster: the importer checks that against the
nodes and pods it read. A node selector becomes `node_selector`, `zones`, `regions` or
`gpu_types`; tolerations become the node taints they tolerate; required pod
(anti-)affinity becomes `spread`, `affinity` or `anti_affinity`; a `DoNotSchedule`
topology spread becomes a `spread` cap where a cap says the same. What has no exact
equivalent (preferences, NotIn and the other operators, alternatives) is a warning
naming the pod field, so no constraint is dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property

from allocator.interop.kubernetes.export import PLANNED_NODE_ANNOTATION
from allocator.interop.kubernetes.match import (
    NAME_FIELD,
    node_admits,
    requirement_holds,
    selector_matches,
    tolerates,
)
from allocator.interop.kubernetes.nodes import (
    HOSTNAME_LABEL,
    PRODUCT_LABEL,
    REGION_LABELS,
    ZONE_LABELS,
    KubeNode,
    gpu_model,
)
from allocator.interop.kubernetes.pods import KubePod
from allocator.interop.kubernetes.scheduling import (
    PREFERRED,
    REQUIRED,
    LabelSelector,
    NodeAffinity,
    PodAffinityTerm,
    PodScheduling,
    Requirement,
    Toleration,
    TopologySpread,
)
from allocator.interop.kubernetes.workloads import KubeWorkload
from allocator.interop.result import ImportWarning

SOFT = "a preference, not a rule: not carried over (the inventory's rules are all hard)"
OPERATOR = (
    "not carried over (node_selector matches exact label values; NotIn, Exists, "
    "DoesNotExist, Gt and Lt have no equivalent)"
)
MANY_VALUES = "not carried over (node_selector takes one value per label)"
ALTERNATIVES = "not carried over (the inventory cannot express alternative node selector terms)"
SCOPE_ORDER = ("node", "rack", "fabric", "zone", "region", "site")


@dataclass(frozen=True)
class Cluster:
    """What a pod's constraints are read against: the imported nodes and live pods."""

    nodes: tuple[KubeNode, ...]
    workloads: tuple[KubeWorkload, ...]
    node_pods: tuple[KubePod, ...]  # pods left out of the plan (DaemonSet, static, filtered)
    product_types: dict[str, str]
    rack_label: str | None = None

    @cached_property
    def owner_of(self) -> dict[str, KubeWorkload]:
        """Pod key -> its workload."""
        return {p.key: w for w in self.workloads for p in w.pods}

    def hosts(self, workload: KubeWorkload) -> list[KubeNode]:
        """Nodes some pod of the workload may use: its selectors admit it, and it has GPUs
        when the pods ask for them."""
        specs = {unpinned(p) for p in workload.pods}
        return [
            n
            for n in self.nodes
            if (has_gpus(n) or not uses_gpu(workload))
            and any(node_admits(s, n.name, n.labels) for s in specs)
        ]

    def scope(self, key: str, workloads: Iterable[KubeWorkload]) -> tuple[str | None, str]:
        """The inventory scope whose domains are the topology key's domains on every node the
        workloads may use, or None and why not."""
        nodes = {n.name: n for w in workloads for n in self.hosts(w)}.values()
        scope, value = self._scope_of(key)
        if scope is None:
            return None, (
                f"the inventory has no scope for topology key {key} (it has node, zone, region "
                f"and {'the rack label' if self.rack_label else 'rack with --rack-label'})"
            )
        if scope != "node" and not any(value(n) for n in self.nodes):
            return None, f"no imported node has a {scope}"
        if any(n.labels.get(key) is None or n.labels[key] != value(n) for n in nodes):
            return None, f"not every node it may run on has the label {key} as its {scope}"
        if scope == "node" and len({n.labels[key] for n in nodes}) < len(nodes):
            return None, f"two nodes it may run on share a {key} label"
        return scope, ""

    def _scope_of(self, key: str):
        """(scope, the node's domain in it) for a topology key."""
        if key == HOSTNAME_LABEL:
            return "node", lambda n: n.labels.get(HOSTNAME_LABEL)
        if key in ZONE_LABELS:
            return "zone", lambda n: n.zone
        if key in REGION_LABELS:
            return "region", lambda n: n.region
        if self.rack_label and key == self.rack_label:
            return "rack", lambda n: n.rack
        return None, None


def unpinned(pod: KubePod) -> PodScheduling:
    """The pod's constraints without the pin `allocator export kubernetes` adds: that pin
    is where the last plan put the pod, not a constraint of the workload, and a new plan
    may move the pod again. A term the pin was added to for want of any is dropped."""
    affinity = pod.scheduling.node_affinity
    if affinity is None or not any(t.match_fields for t in affinity.required):
        return pod.scheduling
    terms = tuple(
        replace(t, match_fields=tuple(r for r in t.match_fields if not _is_export_pin(r, pod)))
        for t in affinity.required
    )
    if any(not t.match_expressions and not t.match_fields for t in terms):
        terms = ()
    return replace(pod.scheduling, node_affinity=replace(affinity, required=terms))


def uses_gpu(workload: KubeWorkload) -> bool:
    return workload.requests.gpus > 0 or bool(workload.requests.mig)


def has_gpus(node: KubeNode) -> bool:
    return node.gpus + node.mig_gpus > 0


@dataclass
class PodRules:
    """The inventory rules one pod spec maps to, and the warnings for the rest."""

    node_selector: dict[str, str] = field(default_factory=dict)
    zones: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None
    gpu_types: tuple[str, ...] | None = None
    tolerations: frozenset[str] = frozenset()
    spread: dict[str, int] = field(default_factory=dict)  # scope -> most replicas per domain
    affinity: frozenset[tuple[str, str]] = frozenset()  # (workload, scope)
    anti_affinity: frozenset[tuple[str, str]] = frozenset()
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (field, message)

    def warn(self, field_name: str, message: str) -> None:
        self.warnings.append((field_name, message))

    def cap(self, scope: str, most: int) -> None:
        """Two caps on one scope: the tighter holds."""
        self.spread[scope] = min(most, self.spread.get(scope, most))

    def mapped(self) -> tuple:
        """Everything but the warnings, to compare pod specs by what they map to."""
        return (
            tuple(sorted(self.node_selector.items())),
            self.zones,
            self.regions,
            self.gpu_types,
            self.tolerations,
            tuple(sorted(self.spread.items())),
            self.affinity,
            self.anti_affinity,
        )


def workload_rules(workload: KubeWorkload, cluster: Cluster, warnings: list[ImportWarning]) -> dict:
    """The workload's inventory rule fields, from each distinct pod spec it has."""
    per_spec = []
    seen: set[PodScheduling] = set()
    for pod in workload.pods:
        scheduling = unpinned(pod)
        if scheduling in seen:
            continue
        seen.add(scheduling)
        rules = pod_rules(workload, pod, scheduling, cluster)
        subject = f"workload {workload.id} (pods/{pod.key})"
        warnings.extend(ImportWarning(subject, f, m) for f, m in rules.warnings)
        per_spec.append(rules)
    if len({r.mapped() for r in per_spec}) > 1:
        warnings.append(
            ImportWarning(
                f"workload {workload.id} (pods/{workload.pods[0].key})",
                "spec",
                f"its pods have {len(per_spec)} different sets of scheduling constraints: every "
                "replica is planned with what they allow together (the rules all of them "
                "share, the zones, GPU types and tolerations of any)",
            )
        )
    return _fields(_least_restrictive(per_spec))


def pod_rules(
    workload: KubeWorkload, pod: KubePod, scheduling: PodScheduling, cluster: Cluster
) -> PodRules:
    """The rules of one pod spec of the workload (`scheduling`: the pod's, unpinned)."""
    rules = PodRules()
    _node_rules(workload, scheduling, cluster, rules)
    _toleration_rules(scheduling.tolerations, cluster, rules)
    _pod_affinity_rules(workload, pod, scheduling, cluster, rules)
    _spread_rules(workload, pod, scheduling, cluster, rules)
    return rules


# --- node selectors and node affinity ---------------------------------------------------


@dataclass
class _Wanted:
    """Values a node label must take, from the node selector and a required term."""

    values: tuple[str, ...]
    field_name: str


def _node_rules(
    workload: KubeWorkload, scheduling: PodScheduling, cluster: Cluster, rules: PodRules
) -> None:
    wanted: dict[str, _Wanted] = {}
    for key, value in scheduling.node_selector:
        _want(wanted, key, (value,), "spec.nodeSelector")
    affinity = scheduling.node_affinity
    if affinity is not None:
        _required_terms(affinity, wanted, rules)
        for k, pref in enumerate(affinity.preferred):
            rules.warn(
                f"spec.affinity.nodeAffinity.{PREFERRED}[{k}]",
                f"prefers nodes with [{pref.preference}] (weight {pref.weight}): {SOFT}",
            )
    capable = [n for n in cluster.nodes if has_gpus(n) or not uses_gpu(workload)]
    for key, want in wanted.items():
        _map_label(key, want, capable, cluster, uses_gpu(workload), rules)


def _want(wanted: dict[str, _Wanted], key: str, values: tuple[str, ...], field_name: str) -> None:
    """A label requirement; a second one on the same label narrows the first."""
    found = wanted.get(key)
    if found is None:
        wanted[key] = _Wanted(values, field_name)
    else:
        found.values = tuple(v for v in found.values if v in values)
        found.field_name += f" and {field_name}"


def _required_terms(affinity: NodeAffinity, wanted: dict[str, _Wanted], rules: PodRules) -> None:
    """A single required term is a conjunction: each `In` is mapped, the rest warned."""
    at = f"spec.affinity.nodeAffinity.{REQUIRED}"
    terms = affinity.required
    if len(terms) > 1:
        shown = " or ".join(f"[{t}]" for t in terms)
        rules.warn(at, f"runs only on nodes with {shown}: {ALTERNATIVES}")
        return
    if not terms:
        return
    term = terms[0]
    at += ".nodeSelectorTerms[0]"
    if not term.match_expressions and not term.match_fields:
        rules.warn(at, "an empty term matches no node, so the pod cannot be scheduled: ignored")
    for k, requirement in enumerate(term.match_expressions):
        where = f"{at}.matchExpressions[{k}]"
        if requirement.operator == "In":
            _want(wanted, requirement.key, requirement.values, where)
        else:
            rules.warn(where, f"runs only on nodes with [{requirement}]: {OPERATOR}")
    for k, requirement in enumerate(term.match_fields):
        rules.warn(
            f"{at}.matchFields[{k}]",
            f"runs only on nodes with [field {requirement}]: not carried over (the inventory "
            "selects nodes by label only)",
        )


def _is_export_pin(requirement: Requirement, pod: KubePod) -> bool:
    """`metadata.name In [<node>]` with the pod's `allocator.io/planned-node` annotation."""
    annotations = (pod.data.get("metadata") or {}).get("annotations") or {}
    planned = annotations.get(PLANNED_NODE_ANNOTATION)
    return (
        requirement.key == NAME_FIELD
        and requirement.operator == "In"
        and planned is not None
        and requirement.values == (planned,)
    )


def _map_label(
    key: str,
    want: _Wanted,
    capable: list[KubeNode],
    cluster: Cluster,
    gpu_workload: bool,
    rules: PodRules,
) -> None:
    """zones, regions or gpu_types where they pick the same nodes as the label; else
    node_selector for one value; else a warning."""
    values = want.values
    shown = f"{key} In ({','.join(values)})"
    if not values:
        rules.warn(
            want.field_name,
            f"asks for conflicting values of {key}, so no node fits the pod: not carried over",
        )
        return
    if key in ZONE_LABELS and _same_nodes(capable, key, values, lambda n: n.zone in values):
        rules.zones = _narrowed(rules.zones, values, want, rules)
        return
    if key in REGION_LABELS and _same_nodes(capable, key, values, lambda n: n.region in values):
        rules.regions = _narrowed(rules.regions, values, want, rules)
        return
    if key == PRODUCT_LABEL and gpu_workload:
        types = _product_types(values, cluster.product_types)
        if types and _same_nodes(
            [n for n in capable if n.gpu], key, values, lambda n: n.gpu.type_name in types
        ):
            rules.gpu_types = _narrowed(rules.gpu_types, types, want, rules)
            return
    if len(values) == 1:
        rules.node_selector[key] = values[0]
        return
    rules.warn(want.field_name, f"runs only on nodes with {shown}: {MANY_VALUES}")


def _same_nodes(nodes: list[KubeNode], key: str, values: tuple[str, ...], inside) -> bool:
    """The label picks exactly the nodes the inventory field would."""
    return all((n.labels.get(key) in values) == inside(n) for n in nodes)


def _narrowed(
    current: tuple[str, ...] | None, values: tuple[str, ...], want: _Wanted, rules: PodRules
) -> tuple[str, ...] | None:
    """Two labels that both say the zone (the current and the deprecated one) narrow it."""
    if current is None:
        return tuple(dict.fromkeys(values))
    narrowed = tuple(v for v in current if v in values)
    if not narrowed:
        rules.warn(want.field_name, "conflicts with another label requirement: not carried over")
        return current
    return narrowed


def _product_types(products: tuple[str, ...], known: dict[str, str]) -> tuple[str, ...] | None:
    """GPU types of the products (as the nodes name them, else by the catalog), or None."""
    types: list[str] = []
    for product in products:
        type_name = known.get(product)
        if type_name is None:
            model = gpu_model(product, None)
            if not model.in_catalog:
                return None
            type_name = model.type_name
        if type_name not in types:
            types.append(type_name)
    return tuple(types)


# --- tolerations ------------------------------------------------------------------------


def _toleration_rules(
    tolerations: tuple[Toleration, ...], cluster: Cluster, rules: PodRules
) -> None:
    """The imported nodes' taints the pod tolerates, by name."""
    chosen = [t for t in tolerations if not t.added_by_admission]
    names: set[str] = set()
    expiring: dict[str, int] = {}
    for node in cluster.nodes:
        for taint in node.hard_taints:
            matching = [t for t in chosen if tolerates(t, taint)]
            lasting = [
                t for t in matching if taint.effect != "NoExecute" or t.toleration_seconds is None
            ]
            if lasting:
                names.add(str(taint))
            elif matching:
                expiring[str(taint)] = min(t.toleration_seconds or 0 for t in matching)
    rules.tolerations = frozenset(names)
    for taint, seconds in sorted(expiring.items()):
        rules.warn(
            "spec.tolerations",
            f"tolerates taint {taint} for {seconds} s only, then Kubernetes evicts the pod: "
            "planned as not tolerating it",
        )


# --- pod affinity and anti-affinity -------------------------------------------------------


@dataclass
class _Selected:
    """The live pods a pod affinity term (or a spread selector) selects."""

    own: int = 0
    others: dict[str, int] = field(default_factory=dict)  # workload id -> pods selected
    node_pods: int = 0
    unknown: str = ""  # why the selection cannot be known


def _selected(
    selector: LabelSelector | None,
    pod: KubePod,
    workload: KubeWorkload,
    cluster: Cluster,
    namespaces: frozenset[str] | None,
    extra: tuple[Requirement, ...] = (),
) -> _Selected:
    """Pods in `namespaces` (None: every namespace) that the selector and `extra` select."""
    found = _Selected()
    if selector is None:
        return found  # a term without a label selector selects no pod
    for other in (*(p for w in cluster.workloads for p in w.pods), *cluster.node_pods):
        if namespaces is not None and other.namespace not in namespaces:
            continue
        if not selector_matches(selector, other.labels):
            continue
        if not all(requirement_holds(r, other.labels) for r in extra):
            continue
        owner = cluster.owner_of.get(other.key)
        if owner is None:
            found.node_pods += 1
        elif owner.id == workload.id:
            found.own += 1
        else:
            found.others[owner.id] = found.others.get(owner.id, 0) + 1
    return found


def _term_selection(
    term: PodAffinityTerm, pod: KubePod, workload: KubeWorkload, cluster: Cluster
) -> _Selected:
    namespaces: frozenset[str] | None = frozenset(term.namespaces or (pod.namespace,))
    if term.namespace_selector is not None:
        ns = term.namespace_selector
        if ns.match_labels or ns.match_expressions:
            return _Selected(
                unknown="it selects namespaces by their labels, which the import does not read"
            )
        namespaces = None  # an empty namespace selector: every namespace
    extra = _label_key_requirements(pod, term.match_label_keys, term.mismatch_label_keys)
    return _selected(term.label_selector, pod, workload, cluster, namespaces, extra)


def _label_key_requirements(
    pod: KubePod, same: tuple[str, ...], different: tuple[str, ...] = ()
) -> tuple[Requirement, ...]:
    """`matchLabelKeys` / `mismatchLabelKeys`: the pod's own value of each label."""
    out = [Requirement(k, "In", (pod.labels[k],)) for k in same if k in pod.labels]
    out += [Requirement(k, "NotIn", (pod.labels[k],)) for k in different if k in pod.labels]
    return tuple(out)


def _pod_affinity_rules(
    workload: KubeWorkload,
    pod: KubePod,
    scheduling: PodScheduling,
    cluster: Cluster,
    rules: PodRules,
) -> None:
    for name, terms in (
        ("podAffinity", scheduling.pod_affinity),
        ("podAntiAffinity", scheduling.pod_anti_affinity),
    ):
        if terms is None:
            continue
        anti = name == "podAntiAffinity"
        verb = "apart from" if anti else "near"
        for k, term in enumerate(terms.required):
            mapping = _apart if anti else _near
            mapped, problems = mapping(workload, pod, term, cluster, rules)
            if problems:
                how = "carried over only in part" if mapped else "not carried over"
                rules.warn(
                    f"spec.affinity.{name}.{REQUIRED}[{k}]",
                    f"must run {verb} {term}: {how} ({'; '.join(problems)})",
                )
        for k, weighted in enumerate(terms.preferred):
            rules.warn(
                f"spec.affinity.{name}.{PREFERRED}[{k}]",
                f"prefers to run {verb} {weighted.term} (weight {weighted.weight}): {SOFT}",
            )


def _apart(
    workload: KubeWorkload,
    pod: KubePod,
    term: PodAffinityTerm,
    cluster: Cluster,
    rules: PodRules,
) -> tuple[bool, list[str]]:
    """Its own pods selected: at most one per domain; another workload's: anti-affinity.
    Each selected pod is a rule of its own, so what maps is kept and the rest warned."""
    selected = _term_selection(term, pod, workload, cluster)
    if selected.unknown:
        return False, [selected.unknown]
    whole = {w.id: w for w in cluster.workloads}
    involved = [workload, *(whole[o] for o in selected.others)]
    scope, why = cluster.scope(term.topology_key, involved)
    if scope is None:
        return False, [why]
    problems, mapped = [], False
    if selected.own and selected.own < len(workload.pods):
        problems.append(f"it selects {selected.own} of the workload's {len(workload.pods)} pods")
    elif selected.own:
        rules.cap(scope, 1)
        mapped = True
    for other, count in sorted(selected.others.items()):
        if count < len(whole[other].pods):
            problems.append(f"it selects {count} of the {len(whole[other].pods)} pods of {other}")
        else:
            rules.anti_affinity |= {(other, scope)}
            mapped = True
    if selected.node_pods:
        problems.append(_node_pods_text(selected.node_pods))
    return mapped, problems


def _near(
    workload: KubeWorkload,
    pod: KubePod,
    term: PodAffinityTerm,
    cluster: Cluster,
    rules: PodRules,
) -> tuple[bool, list[str]]:
    """All the pods of one other workload selected: affinity with it. Anything else needs
    one of several workloads nearby, which the inventory cannot say."""
    selected = _term_selection(term, pod, workload, cluster)
    if selected.unknown:
        return False, [selected.unknown]
    if selected.own:
        return False, ["it selects the workload's own pods: no rule keeps replicas together"]
    if selected.node_pods:
        return False, [_node_pods_text(selected.node_pods)]
    if not selected.others:
        return False, ["it selects no pod, so Kubernetes cannot schedule the pod"]
    if len(selected.others) > 1:
        shown = ", ".join(sorted(selected.others))
        return False, [f"it selects pods of several workloads ({shown}); any one of them will do"]
    ((other, count),) = selected.others.items()
    target = next(w for w in cluster.workloads if w.id == other)
    if count < len(target.pods):
        return False, [f"it selects {count} of the {len(target.pods)} pods of {other}"]
    scope, why = cluster.scope(term.topology_key, [workload, target])
    if scope is None:
        return False, [why]
    rules.affinity |= {(other, scope)}
    return True, []


def _node_pods_text(count: int) -> str:
    return (
        f"it selects {count} pod(s) the import leaves out (of a DaemonSet, static, or in a "
        "namespace left out), which are not workloads"
    )


# --- topology spread ------------------------------------------------------------------------


def _spread_rules(
    workload: KubeWorkload,
    pod: KubePod,
    scheduling: PodScheduling,
    cluster: Cluster,
    rules: PodRules,
) -> None:
    for k, spread in enumerate(scheduling.topology_spread):
        at = f"spec.topologySpreadConstraints[{k}]"
        if spread.when_unsatisfiable == "ScheduleAnyway":
            rules.warn(at, f"spreads with {spread}: {SOFT}")
            continue
        scope, cap, why = _spread_cap(workload, pod, scheduling, spread, cluster)
        if why:
            rules.warn(at, f"spreads with {spread}: not carried over ({why})")
        elif scope and cap:
            rules.cap(scope, cap)


def _spread_cap(
    workload: KubeWorkload,
    pod: KubePod,
    scheduling: PodScheduling,
    spread: TopologySpread,
    cluster: Cluster,
) -> tuple[str | None, int | None, str]:
    """(scope, most replicas per domain, why not).

    Kubernetes keeps the count of matching pods in any domain within `maxSkew` of the
    least loaded eligible domain. With no more replicas than domains some domain holds
    none (or every domain one), so that is exactly `max_per_domain: maxSkew`: the formula
    ceil(replicas / domains) + maxSkew - 1 gives the same. With more replicas than
    domains a cap also allows uneven layouts (2+2+0 for 4 replicas over 3 zones at skew
    1) that Kubernetes refuses, so the constraint stays a warning.
    """
    if spread.label_selector is None:
        return None, None, ""  # it counts no pod: never binding
    extra = _label_key_requirements(pod, spread.match_label_keys)
    selected = _selected(
        spread.label_selector, pod, workload, cluster, frozenset((pod.namespace,)), extra
    )
    if selected.own < len(workload.pods) or selected.others or selected.node_pods:
        return None, None, "its label selector does not select exactly the workload's pods"
    scope, why = cluster.scope(spread.topology_key, [workload])
    if scope is None:
        return None, None, why
    domains = {
        n.labels[spread.topology_key]
        for n in cluster.nodes
        if spread.topology_key in n.labels and _counts_for_spread(scheduling, spread, n)
    }
    replicas, skew = len(workload.pods), spread.max_skew
    if not domains:
        return None, None, f"no node it may run on has the label {spread.topology_key}"
    if skew >= replicas:
        return None, None, ""  # never binding
    if (spread.min_domains or 0) > len(domains) or replicas <= len(domains):
        return scope, skew, ""
    if len(domains) == 1:
        return None, None, ""  # one domain: the skew is always 0
    return (
        None,
        None,
        (
            f"{replicas} replicas over {len(domains)} {scope} domains: a cap per domain cannot "
            f"hold their skew to {skew}"
        ),
    )


def _counts_for_spread(scheduling: PodScheduling, spread: TopologySpread, node: KubeNode) -> bool:
    """Whether Kubernetes counts the node's domain (nodeAffinityPolicy, nodeTaintsPolicy)."""
    if spread.node_affinity_policy == "Honor" and not node_admits(
        scheduling, node.name, node.labels
    ):
        return False
    if spread.node_taints_policy == "Honor":
        chosen = scheduling.tolerations
        return all(any(tolerates(t, taint) for t in chosen) for taint in node.hard_taints)
    return True


# --- several pod specs, and the inventory fields ------------------------------------------


def _least_restrictive(per_spec: list[PodRules]) -> PodRules:
    """What every pod spec allows: shared rules, any spec's zones, types and tolerations."""
    if len(per_spec) == 1:
        return per_spec[0]
    first = per_spec[0]
    return PodRules(
        node_selector={
            k: v
            for k, v in first.node_selector.items()
            if all(r.node_selector.get(k) == v for r in per_spec)
        },
        zones=_union([r.zones for r in per_spec]),
        regions=_union([r.regions for r in per_spec]),
        gpu_types=_union([r.gpu_types for r in per_spec]),
        tolerations=frozenset().union(*(r.tolerations for r in per_spec)),
        spread={
            s: max(r.spread[s] for r in per_spec)
            for s in first.spread
            if all(s in r.spread for r in per_spec)
        },
        affinity=frozenset.intersection(*(r.affinity for r in per_spec)),
        anti_affinity=frozenset.intersection(*(r.anti_affinity for r in per_spec)),
    )


def _union(lists: list[tuple[str, ...] | None]) -> tuple[str, ...] | None:
    if any(values is None for values in lists):
        return None
    return tuple(dict.fromkeys(v for values in lists for v in values or ()))


def _fields(rules: PodRules) -> dict:
    """The inventory workload fields, only those that say something, in a stable order."""
    out: dict = {}
    if rules.gpu_types:
        out["gpu_types"] = list(rules.gpu_types)
    if rules.zones:
        out["zones"] = list(rules.zones)
    if rules.regions:
        out["regions"] = list(rules.regions)
    if rules.node_selector:
        out["node_selector"] = dict(sorted(rules.node_selector.items()))
    if rules.tolerations:
        out["tolerations"] = sorted(rules.tolerations)
    if rules.spread:
        out["spread"] = [
            {"across": s, "max_per_domain": rules.spread[s]}
            for s in sorted(rules.spread, key=SCOPE_ORDER.index)
        ]
    for name, pairs in (("affinity", rules.affinity), ("anti_affinity", rules.anti_affinity)):
        if pairs:
            out[name] = [
                {"workload": w, "scope": s}
                for w, s in sorted(pairs, key=lambda p: (p[0], SCOPE_ORDER.index(p[1])))
            ]
    return out
