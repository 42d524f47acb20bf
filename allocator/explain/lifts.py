"""The constraint families explain can lift, each as a small edit of a copy of the inventory
document, and when a family applies to a workload at all."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

from allocator.inventory.schema import AMOUNT

MAX_ADDED_NODES = 256  # nodes of one type the capacity relaxation adds

Doc = dict[str, Any]


def workload_spec(doc: Doc, wid: str) -> dict:
    return next(w for w in doc["workloads"] if w["id"] == wid)


def ways(spec: dict) -> list[dict]:
    """The workload's own resources and each variant: every way it may run."""
    return [spec, *spec.get("variants", [])]


def sites(doc: Doc) -> list[dict]:
    return list((doc.get("topology") or {}).get("sites", []))


def replicas_wanted(spec: dict) -> int:
    """Replicas the workload asks for at most (for a throughput target: as many as its
    slowest way of running needs to meet it)."""
    if spec.get("replicas"):
        return int(spec["replicas"]["max"])
    target = spec.get("throughput") or {}
    rates = [r for r in (target.get("per_replica") or {}).values() if r > 0]
    rates += [r for v in spec.get("variants", []) for r in v.get("throughput", {}).values() if r]
    return math.ceil(target.get("target", 1) / min(rates)) if rates else 1


def add_nodes(doc: Doc, entry: int, count: int) -> None:
    """Append `count` new, up nodes shaped and placed like nodes entry `entry`."""
    original = doc["nodes"][entry]
    taken = {n["id"] for n in doc["nodes"]}
    new_id = f"{original['id']}+added"
    while new_id in taken:
        new_id += "+"
    added = {**copy.deepcopy(original), "id": new_id, "count": count}
    added.pop("state", None)
    if added.get("rack"):
        added["rack"] = added["rack"][:count]
    doc["nodes"].append(added)


def lift_gpu_types(doc: Doc, wid: str) -> None:
    """Lets the workload, and each of its variants, run on any GPU type."""
    for way in ways(workload_spec(doc, wid)):
        way.pop("gpu_types", None)


def lift_gpu_memory(doc: Doc, wid: str) -> None:
    """Drops the GPU memory its replicas need: as if GPUs with memory enough were
    allowed."""
    for way in ways(workload_spec(doc, wid)):
        way["resources"].pop("gpu_memory_gib", None)


def lift_regions(doc: Doc, wid: str) -> None:
    """Lets the workload run in any region."""
    workload_spec(doc, wid).pop("regions", None)


def lift_zones(doc: Doc, wid: str) -> None:
    """Lets the workload run in any zone."""
    workload_spec(doc, wid).pop("zones", None)


def lift_node_labels(doc: Doc, wid: str) -> None:
    """Drops the node labels the workload selects."""
    workload_spec(doc, wid).pop("node_selector", None)


def lift_taints(doc: Doc, wid: str) -> None:
    """Lets the workload tolerate every taint of the fleet."""
    spec = workload_spec(doc, wid)
    spec["tolerations"] = sorted(set(spec.get("tolerations", [])) | _fleet_taints(doc))


def lift_spread(doc: Doc, wid: str) -> None:
    """Drops the workload's spread rules (most per domain, fewest domains)."""
    workload_spec(doc, wid).pop("spread", None)


def lift_survive(doc: Doc, wid: str) -> None:
    """Drops the loss the workload must survive."""
    workload_spec(doc, wid).pop("survive", None)


def lift_gang(doc: Doc, wid: str) -> None:
    """Lets the workload place some of its replicas, anywhere, instead of all or none."""
    workload_spec(doc, wid).pop("gang", None)


def lift_affinity(doc: Doc, wid: str) -> None:
    """Drops the workloads it must run beside."""
    workload_spec(doc, wid).pop("affinity", None)


def lift_anti_affinity(doc: Doc, wid: str) -> None:
    """Drops the workloads it must keep apart from, and other workloads' rules that keep
    apart from it."""
    workload_spec(doc, wid).pop("anti_affinity", None)
    for other in doc["workloads"]:
        rules = [r for r in other.get("anti_affinity", []) if r["workload"] != wid]
        if "anti_affinity" in other:
            other["anti_affinity"] = rules


def lift_tenancy(doc: Doc, wid: str) -> None:
    """Lets every dedicated tenant share nodes."""
    for spec in doc.get("tenants", {}).values():
        spec["dedicated"] = False


def lift_node_state(doc: Doc, wid: str) -> None:
    """Brings every draining or down node back up."""
    for entry in doc["nodes"]:
        entry.pop("state", None)


def lift_power(doc: Doc, wid: str) -> None:
    """Drops the power caps of every row and site."""
    for site in sites(doc):
        site.pop("power_cap_kw", None)
        for row in site.get("rows", []):
            row.pop("power_cap_kw", None)


def lift_network(doc: Doc, wid: str) -> None:
    """Makes every NIC, rack uplink and WAN link as wide as the format allows (wide, not
    unlimited: every link keeps a finite capacity)."""
    for entry in doc["nodes"]:
        entry["nic_gbps"] = AMOUNT
    for site in sites(doc):
        site.pop("oversubscription", None)
        site["rack_uplink_gbps"] = AMOUNT
    for link in (doc.get("topology") or {}).get("wan", []):
        link["gbps"] = AMOUNT


def lift_storage(doc: Doc, wid: str) -> None:
    """Gives every storage system all the space and read throughput the format allows."""
    for system in doc.get("storage", []):
        system["capacity_tb"] = AMOUNT
        system["read_gbps"] = AMOUNT


def lift_capacity(doc: Doc, wid: str) -> None:
    """Adds, next to every node entry, as many more nodes like it as the workload has
    replicas (at most MAX_ADDED_NODES)."""
    count = min(replicas_wanted(workload_spec(doc, wid)), MAX_ADDED_NODES)
    for entry in range(len(doc["nodes"])):
        add_nodes(doc, entry, count)


def _fleet_taints(doc: Doc) -> set[str]:
    return {t for entry in doc["nodes"] for t in entry.get("taints", [])}


def uses(*fields: str) -> Callable[[Doc, str], bool]:
    """Whether the workload (or a variant) gives one of these fields."""
    return lambda doc, wid: any(way.get(f) for way in ways(workload_spec(doc, wid)) for f in fields)


def needs_gpu_memory(doc: Doc, wid: str) -> bool:
    return any(w["resources"].get("gpu_memory_gib", 0) > 0 for w in ways(workload_spec(doc, wid)))


def meets_taints(doc: Doc, wid: str) -> bool:
    return bool(_fleet_taints(doc) - set(workload_spec(doc, wid).get("tolerations", [])))


def kept_apart(doc: Doc, wid: str) -> bool:
    return bool(workload_spec(doc, wid).get("anti_affinity")) or any(
        r["workload"] == wid for w in doc["workloads"] for r in w.get("anti_affinity", [])
    )


def has_dedicated_tenant(doc: Doc, wid: str) -> bool:
    return any(t.get("dedicated") for t in doc.get("tenants", {}).values())


def has_idle_nodes(doc: Doc, wid: str) -> bool:
    return any(entry.get("state", "up") != "up" for entry in doc["nodes"])


def has_power_caps(doc: Doc, wid: str) -> bool:
    return any(
        s.get("power_cap_kw") or any(r.get("power_cap_kw") for r in s.get("rows", []))
        for s in sites(doc)
    )


def has_traffic_limits(doc: Doc, wid: str) -> bool:
    spec = workload_spec(doc, wid)
    traffic = (
        spec.get("interconnect_gbps", 0) > 0 or (spec.get("storage") or {}).get("read_gbps", 0) > 0
    )
    limits = any("nic_gbps" in n for n in doc["nodes"]) or any(
        "rack_uplink_gbps" in s or "oversubscription" in s for s in sites(doc)
    )
    return traffic and (limits or bool((doc.get("topology") or {}).get("wan")))


def reads_storage(doc: Doc, wid: str) -> bool:
    return bool(workload_spec(doc, wid).get("storage")) and bool(doc.get("storage"))


def always(doc: Doc, wid: str) -> bool:
    return True
