"""SkyPilot task YAML as allocator workloads, added to an existing fleet inventory.

A task says what one node of it needs (`resources:`) and how many nodes (`num_nodes`);
a SkyServe service also says how many replicas. Accelerators in any of SkyPilot's
forms ("A100:8", {A100: 8}, ["L4:1", "A10G:1"], {"L4:1", "A10G:1"}, and per candidate
under `any_of`/`ordered`) become the workload's allowed GPU types. Its region or zone
(`infra: aws/us-east-1/us-east-1a`, or `region:`/`zone:`) becomes `regions`/`zones`
where the fleet has nodes there; the nodes of a multi-node task are distinct nodes
started together (a spread of one per node, and a gang).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from allocator.interop.gpu_names import catalog_match
from allocator.interop.reading import Problems, Where, describe, mapping, sequence, string_map
from allocator.interop.result import (
    MAX_PRIORITY,
    ImportResult,
    ImportWarning,
    number,
    safe_id,
    validated,
)
from allocator.inventory.catalog import resolve_gpu_types
from allocator.inventory.load import validate_document
from allocator.io.source import read_document

DEFAULT_CPUS = 4
DEFAULT_MEMORY_GIB_PER_CPU = 4
KIND_LABEL = "allocator.io/kind"
PRIORITY_LABEL = "allocator.io/priority"
KINDS = ("training", "inference", "batch")
LOCATION_KEYS = ("infra", "cloud", "region", "zone")
# `infra` forms whose second part is a Kubernetes context or an SSH node pool, not a region.
CONTEXT_CLOUDS = ("k8s", "kubernetes", "ssh")
WILDCARD = "*"
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|PB)?(\+)?$", re.I)
_GIB_PER_UNIT = {"KB": 1 / 1024**2, "MB": 1 / 1024, "GB": 1, "TB": 1024, "PB": 1024**2}


@dataclass(frozen=True)
class Accelerator:
    """One accelerator choice: SkyPilot's name, the count per node, allocator's type."""

    name: str
    count: float
    gpu_type: str


@dataclass(frozen=True)
class Candidate:
    """One way to run a node of the task: the base resources with one candidate's overrides."""

    accelerators: tuple[Accelerator, ...] = ()
    accelerators_ordered: bool = False  # the list form: try in the order written
    cpus: float | None = None
    memory_gib: float | None = None
    location: str | None = None  # as written: "aws/us-east-1" or "gcp/us-central1"
    cloud: str | None = None
    region: str | None = None
    zone: str | None = None
    context: str | None = None  # `k8s/<context>` or `ssh/<pool>`: no region
    use_spot: bool = False
    instance_type: str | None = None

    @property
    def context_cloud(self) -> bool:
        """`infra: k8s/...` or `ssh/...`: Kubernetes contexts and node pools, not regions."""
        return bool(self.cloud) and str(self.cloud).lower() in CONTEXT_CLOUDS


@dataclass(frozen=True)
class SkyTask:
    """What allocator reads from one task file."""

    id: str
    path: str
    num_nodes: int
    candidates: tuple[Candidate, ...]
    ordered: bool
    service_replicas: tuple[int, int] | None
    kind: str
    priority: int
    where: Where
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Places:
    """The regions and zones the fleet's nodes are in."""

    regions: frozenset[str]
    zones: frozenset[str]


@dataclass
class SkyPilotImport(ImportResult):
    """The inventory plus the task records its new workloads were made from."""

    tasks: list[SkyTask] = field(default_factory=list)


def import_skypilot(task_paths: list[str | Path], fleet_path: str | Path) -> SkyPilotImport:
    """The fleet inventory with one workload added per task file."""
    fleet_doc = read_document(fleet_path)
    fleet = validate_document(fleet_doc)
    known_types = list(resolve_gpu_types(fleet))
    problems = Problems()
    tasks = [t for p in task_paths if (t := read_task(p, known_types, problems)) is not None]
    taken = {w.id: str(fleet_path) for w in fleet.workloads}
    for task in tasks:
        if task.id in taken:
            problems.add(
                task.where,
                f"workload id {task.id!r} is already used in {taken[task.id]}; rename the task",
            )
        taken[task.id] = task.path
    problems.raise_if_any()
    warnings: list[ImportWarning] = []
    document = copy.deepcopy(fleet_doc.data)
    workloads = document.setdefault("workloads", [])
    places = Places(
        regions=frozenset(n.region for n in fleet.nodes if n.region),
        zones=frozenset(n.zone for n in fleet.nodes if n.zone),
    )
    workloads.extend(_workload_entry(task, places, warnings) for task in tasks)
    inventory = validated(document, str(fleet_path))
    return SkyPilotImport(inventory, document, warnings, tasks)


def read_task(path: str | Path, known_types: list[str], problems: Problems) -> SkyTask | None:
    """One task YAML; None (with problems recorded) when it cannot be used."""
    doc = read_document(path)
    where = Where(doc, (), f"tasks/{Path(doc.path).name}")
    data = mapping(doc.data, where, problems, required=True)
    if data is None:
        return None
    known = len(problems.found)
    num_nodes = data.get("num_nodes", 1)
    if isinstance(num_nodes, bool) or not isinstance(num_nodes, int) or num_nodes < 1:
        problems.add(
            where.at("num_nodes"), f"expected a whole number >= 1, got {describe(num_nodes)}"
        )
    resources = mapping(data.get("resources"), where.at("resources"), problems) or {}
    base = _candidate(resources, where.at("resources"), known_types, problems)
    ordered = "ordered" in resources
    key = "ordered" if ordered else "any_of"
    candidates = []
    for k, item in enumerate(
        sequence(resources.get(key), where.at("resources", key), problems) or []
    ):
        item_where = where.at("resources", key, k)
        if mapping(item, item_where, problems, required=True) is not None:
            candidates.append(_override(base, item, item_where, known_types, problems))
    labels_where = where.at("resources", "labels")
    labels = string_map(resources.get("labels"), labels_where, problems)
    service = _service_replicas(data.get("service"), where.at("service"), problems)
    kind = labels.get(KIND_LABEL) or ("inference" if service else "batch")
    if kind not in KINDS:
        problems.add(
            labels_where.at(KIND_LABEL), f"expected one of {', '.join(KINDS)}, got {kind!r}"
        )
    priority = labels.get(PRIORITY_LABEL, "1")
    if not priority.isdigit() or not 1 <= int(priority) <= MAX_PRIORITY:
        problems.add(
            labels_where.at(PRIORITY_LABEL),
            f"expected a whole number 1..{MAX_PRIORITY:,}, got {priority!r}",
        )
    name = data.get("name")
    task_id = safe_id(str(name) if name else Path(doc.path).stem, "task")
    if len(problems.found) > known:
        return None
    return SkyTask(
        id=task_id,
        path=doc.path,
        num_nodes=num_nodes,
        candidates=tuple(candidates) or (base,),
        ordered=ordered,
        service_replicas=service,
        kind=kind,
        priority=int(priority),
        where=where.at("name") if name else where,
        labels=labels,
    )


def _candidate(
    resources: dict, where: Where, known_types: list[str], problems: Problems
) -> Candidate:
    """The task's own `resources:` (what `any_of`/`ordered` candidates start from)."""
    return _override(Candidate(), resources, where, known_types, problems)


def _override(
    base: Candidate, fields: dict, where: Where, known_types: list[str], problems: Problems
) -> Candidate:
    """`base` with the fields given in `fields` (a `resources:` mapping or a candidate)."""
    changes: dict = {}
    if "accelerators" in fields:
        changes["accelerators"] = _accelerators(
            fields["accelerators"], where.at("accelerators"), known_types, problems
        )
        changes["accelerators_ordered"] = isinstance(fields["accelerators"], list)
    if "cpus" in fields:
        changes["cpus"] = _size(fields["cpus"], where.at("cpus"), problems, memory=False)
    if "memory" in fields:
        changes["memory_gib"] = _size(fields["memory"], where.at("memory"), problems, memory=True)
    if any(fields.get(k) for k in LOCATION_KEYS):
        changes.update(_location(fields, base))
    if "use_spot" in fields:
        changes["use_spot"] = fields["use_spot"] is True
    if fields.get("instance_type"):
        changes["instance_type"] = str(fields["instance_type"])
    return replace(base, **changes)


def _location(fields: dict, base: Candidate) -> dict:
    """cloud, region, zone (or a Kubernetes context) from `infra: <cloud>/<region>/<zone>`
    (a `*` part is any), or from the older `cloud:`, `region:`, `zone:`, each of which
    overrides the one it inherits."""
    if fields.get("infra"):
        location = str(fields["infra"])
        parts = [None if p in ("", WILDCARD) else p for p in location.split("/")]
        cloud, second, zone = [*parts, None, None][:3]
        if cloud and cloud.lower() in CONTEXT_CLOUDS:
            return dict(location=location, cloud=cloud, region=None, zone=None, context=second)
        return dict(location=location, cloud=cloud, region=second, zone=zone, context=None)
    found = {k: getattr(base, k) for k in ("cloud", "region", "zone")}
    found.update({k: str(fields[k]) for k in found if fields.get(k)})
    location = "/".join(v for v in found.values() if v)
    return dict(location=location, context=None, **found)


def _accelerators(
    value: object, where: Where, known_types: list[str], problems: Problems
) -> tuple[Accelerator, ...]:
    if value is None:
        return ()
    pairs: list[tuple[str, object]] = []
    if isinstance(value, str):
        pairs = [_split_accelerator(value)]
    elif isinstance(value, dict):  # {A100: 8}, or the set form {"A100:1": None}
        for key, count in value.items():
            pairs.append(_split_accelerator(str(key)) if count is None else (str(key), count))
    elif isinstance(value, list):
        for k, item in enumerate(value):
            if not isinstance(item, str):
                problems.add(
                    where.at(k), f"expected 'NAME:COUNT' such as 'A100:8', got {describe(item)}"
                )
                continue
            pairs.append(_split_accelerator(item))
    else:
        problems.add(where, f"expected 'NAME:COUNT' such as 'A100:8', got {describe(value)}")
        return ()
    out = []
    for name, count in pairs:
        amount = _count(count)
        if amount is None:
            problems.add(where, f"expected a positive count for {name!r}, got {count!r}")
            continue
        gpu_type = catalog_match(name, known=known_types)
        if gpu_type is None:
            problems.add(
                where,
                f"unknown accelerator {name!r}; allocator's GPU types are {', '.join(known_types)} "
                "(add it under gpu_types in the fleet inventory)",
            )
            continue
        out.append(Accelerator(name, amount, gpu_type))
    return tuple(out)


def _split_accelerator(text: str) -> tuple[str, object]:
    name, sep, count = text.strip().partition(":")
    return name.strip(), count.strip() if sep else 1


def _count(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        amount = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return amount if math.isfinite(amount) and amount > 0 else None


def _size(value: object, where: Where, problems: Problems, memory: bool) -> float | None:
    """`4`, `"4+"` (at least 4), and for memory `"64GB"`, `"32+"` (GiB when no unit)."""
    if value is None:
        return None
    match = None if isinstance(value, bool) else _SIZE.match(str(value).strip())
    if match is None or (match[2] and not memory):
        example = "'32+', '64' or '64GB'" if memory else "'4+' or '8'"
        problems.add(where, f"expected a size such as {example}, got {describe(value)}")
        return None
    amount = float(match[1]) * (_GIB_PER_UNIT[match[2].upper()] if match[2] else 1)
    if amount <= 0:
        problems.add(where, f"expected a positive size, got {describe(value)}")
        return None
    return amount


def _service_replicas(value: object, where: Where, problems: Problems) -> tuple[int, int] | None:
    service = mapping(value, where, problems)
    if service is None:
        return None
    policy = mapping(service.get("replica_policy"), where.at("replica_policy"), problems)
    if policy is not None:
        low = policy.get("min_replicas", 1)
        high = policy.get("max_replicas", low)
        at = where.at("replica_policy")
    else:
        low = high = service.get("replicas", 1)
        at = where.at("replicas")
    for amount in (low, high):
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
            problems.add(at, f"expected a whole number of replicas, got {describe(amount)}")
            return None
    if high < max(low, 1):
        problems.add(at, f"max_replicas ({high}) is below min_replicas ({low})")
        return None
    return low, high


Warn = Callable[[str, str], None]


def _workload_entry(task: SkyTask, places: Places, warnings: list[ImportWarning]) -> dict:
    subject = f"tasks/{Path(task.path).name}"

    def warn(field_name: str, message: str) -> None:
        warnings.append(ImportWarning(subject, field_name, message))

    gpus, gpu_types = _gpus(task, warn)
    cpus, ram_gib = _sizes(task, warn)
    where = _where_rules(task, places, warn)
    locations = _placement_warnings(task, warn)
    if task.service_replicas:
        low, high = task.service_replicas
        replicas: int | dict = {"min": low * task.num_nodes, "max": high * task.num_nodes}
    else:
        replicas = task.num_nodes
    resources: dict = {"gpus": gpus} if gpus else {}
    resources.update(cpus=number(cpus), ram_gib=number(ram_gib))
    entry: dict = {
        "id": task.id,
        "kind": task.kind,
        "priority": task.priority,
        "replicas": replicas,
        "resources": resources,
    }
    if gpu_types:
        entry["gpu_types"] = gpu_types
    entry.update(where)
    entry.update(_node_rules(task, warn))
    labels = {k: v for k, v in task.labels.items() if k not in (KIND_LABEL, PRIORITY_LABEL)}
    labels["skypilot/task"] = Path(task.path).name
    if locations:
        labels["skypilot/infra"] = ",".join(locations)
    entry["labels"] = labels
    return entry


def _gpus(task: SkyTask, warn: Warn) -> tuple[int, list[str]]:
    """GPUs per replica (the first accelerator's count) and the types offered with it."""
    choices = [a for c in task.candidates for a in c.accelerators]
    if not choices:
        return 0, []
    first = choices[0]
    gpus = math.ceil(first.count)
    if gpus != first.count:
        warn(
            "resources.accelerators",
            f"{first.name}:{first.count:g} is a fraction of a GPU: planned as {gpus} whole GPU",
        )
    gpu_types: list[str] = []
    for choice in choices:
        if math.ceil(choice.count) != gpus:
            warn(
                "resources.accelerators",
                f"{choice.name}:{choice.count:g} asks for a different count than "
                f"{first.name}:{first.count:g}: left out (a workload has one GPU count)",
            )
        elif choice.gpu_type not in gpu_types:
            gpu_types.append(choice.gpu_type)
    ordered = task.ordered or any(c.accelerators_ordered for c in task.candidates)
    if len(gpu_types) > 1 and ordered:
        warn(
            "resources.accelerators",
            f"{', '.join(gpu_types)} in order of preference: allocator treats them as "
            "equally good (the order is not carried over)",
        )
    return gpus, gpu_types


def _sizes(task: SkyTask, warn: Warn) -> tuple[float, float]:
    """CPUs and GiB per replica: the largest any candidate asks for, else the defaults."""
    cpus = [c.cpus for c in task.candidates if c.cpus is not None]
    memory = [c.memory_gib for c in task.candidates if c.memory_gib is not None]
    cpu = max(cpus) if cpus else DEFAULT_CPUS
    ram = max(memory) if memory else DEFAULT_MEMORY_GIB_PER_CPU * cpu
    if not cpus:
        warn("resources.cpus", f"not given (SkyPilot sizes the VM): planned with {cpu} CPUs")
    if not memory:
        warn("resources.memory", f"not given (SkyPilot sizes the VM): planned with {ram:g} GiB")
    return cpu, ram


def _where_rules(task: SkyTask, places: Places, warn: Warn) -> dict:
    """`zones` when every candidate names a zone, else `regions` when every one names a
    region, provided the fleet has nodes in one of them; else a warning. The cloud is
    never carried over: the fleet's nodes have none."""
    located = [c for c in task.candidates if c.location]
    if not located:
        return {}
    shown = ", ".join(sorted({str(c.location) for c in located}))
    key, names = _named_places(task.candidates)
    if key is None:
        warn("resources.infra", f"runs only in {shown}: not carried over ({_why_not(located)})")
        return {}
    known = places.zones if key == "zones" else places.regions
    if not set(names) & known:
        reason = f"no node of the fleet is in {key[:-1]} {', '.join(names)}"
        warn("resources.infra", f"runs only in {shown}: not carried over ({reason})")
        return {}
    clouds = sorted({c.cloud for c in task.candidates if c.cloud})
    if clouds:
        warn(
            "resources.infra",
            f"cloud {', '.join(clouds)}: not carried over (the fleet's nodes have no cloud; "
            f"its {key} are)",
        )
    return {key: names}


def _named_places(candidates: tuple[Candidate, ...]) -> tuple[str | None, list[str]]:
    """("zones", names) when every candidate names a zone, else ("regions", names) when
    every one names a region; candidates are alternatives, so their places add up."""
    for key, attr in (("zones", "zone"), ("regions", "region")):
        names = [getattr(c, attr) for c in candidates]
        if all(names):
            return key, list(dict.fromkeys(names))
    return None, []


def _why_not(located: list[Candidate]) -> str:
    """Why a task's locations give no regions or zones."""
    contexts = sorted({str(c.location) for c in located if c.context_cloud})
    if contexts:
        return f"{', '.join(contexts)}: a Kubernetes context or node pool, not a region"
    return "a candidate names only a cloud, or no place, so it may run in any region"


def _node_rules(task: SkyTask, warn: Warn) -> dict:
    """The nodes of a multi-node task are distinct machines, all launched together."""
    if task.num_nodes == 1:
        return {}
    rules: dict = {"spread": [{"across": "node", "max_per_domain": 1}]}
    if task.service_replicas is None:
        rules["gang"] = {}
    else:
        warn(
            "num_nodes",
            f"each service replica is {task.num_nodes} nodes launched together: not carried "
            "over (a gang would bind all replicas of the service together)",
        )
    return rules


def _placement_warnings(task: SkyTask, warn: Warn) -> list[str]:
    """What the task wants to run on, beyond GPUs, sizes and place; its locations."""
    locations = sorted({c.location for c in task.candidates if c.location})
    if any(c.use_spot for c in task.candidates):
        warn("resources.use_spot", "spot capacity: not carried over (the fleet has no spot nodes)")
    instance_types = sorted({c.instance_type for c in task.candidates if c.instance_type})
    if instance_types:
        warn("resources.instance_type", f"{', '.join(instance_types)}: not carried over")
    return locations
