"""`allocator explain`: each small instance leaves a workload short for one reason. Explain
names that reason and its cheapest change; lifting exactly that constraint, by another
edit than explain's own relaxation, places the workload, while lifting an unrelated
constraint of the same instance does not; and the plan's own unplaced reason names the
same constraint family."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from builders import inventory, node, workload
from conftest import INSTANCES

from allocator.domain.build import build_domain
from allocator.evaluate.diagnose import unplaced_causes
from allocator.evaluate.figures import Figures
from allocator.explain import Explanation, explain
from allocator.inventory.load import load_inventory
from allocator.inventory.schema import Inventory
from allocator.output.plan import InventoryRef
from allocator.solve.pipeline import solve_domain

Edit = Callable[[dict], None]


def solve(doc: dict, solver: str = "highs"):
    domain = build_domain(Inventory.model_validate(doc))
    outcome = solve_domain(domain, InventoryRef(name="explain"), solver)
    assert outcome.violations == []
    return outcome


def placed(doc: dict, workload_id: str) -> int:
    return sum(p.workload == workload_id for p in solve(doc).plan.placements)


def edited(doc: dict, edit: Edit) -> dict:
    out = copy.deepcopy(doc)
    edit(out)
    return out


def explained(doc: dict, workload_id: str | None = None) -> list[Explanation]:
    return explain(Inventory.model_validate(doc), "explain", workload=workload_id).explanations


def entry(items: list[dict], item_id: str) -> dict:
    return next(i for i in items if i["id"] == item_id)


@dataclass
class Case:
    doc: dict
    workload: str
    wanted: int
    before: int
    family: str  # the family explain's cheapest change lifts
    tried: list[str]  # the families explain lifts, in its order
    blocking: list[str]  # every family whose lifting alone places more
    change: str  # explain's cheapest change, exactly
    cost_delta: float  # what that change adds to the plan, $/h
    plan_reason: str  # the plan's unplaced reason, exactly
    fix: Edit  # lifts exactly that constraint, otherwise than explain does
    unrelated: Edit  # lifts a constraint of the instance that does not hold it back


def with_gpu_memory(entry: dict, gib: float) -> dict:
    entry["resources"]["gpu_memory_gib"] = gib
    return entry


def gpu_type_case() -> Case:
    doc = inventory(
        [node("l40s", gpu_type="L40S", gpus=4, count=2, zone="z1")],
        [workload("svc", replicas=2, gpus=2, gpu_types=["B200"], zones=["z1"])],
    )
    return Case(
        doc,
        "svc",
        wanted=2,
        before=0,
        family="gpu_type",
        tried=["gpu_type", "zone", "capacity"],
        blocking=["gpu_type"],
        change="allow GPU type L40S",
        cost_delta=10.0,
        plan_reason="no node has an allowed GPU type: needs B200; the fleet has L40S",
        fix=lambda d: d["workloads"][0]["gpu_types"].append("L40S"),
        unrelated=lambda d: d["workloads"][0].pop("zones"),
    )


def gpu_memory_case() -> Case:
    doc = inventory(
        [node("l40s", gpu_type="L40S", gpus=4, count=2, rack="r1")],
        [with_gpu_memory(workload("llm", gpus=1), 64)],
    )

    def more_memory(d: dict) -> None:
        d["gpu_types"] = {"L40S": {"memory_gib": 96}}

    return Case(
        doc,
        "llm",
        wanted=1,
        before=0,
        family="gpu_memory",
        tried=["gpu_memory", "capacity"],
        blocking=["gpu_memory"],
        change="allow GPU types with at least 64 GiB per GPU, e.g. H100 (80 GiB), "
        "H100-PCIE (80 GiB), A100-80GB (80 GiB)",
        cost_delta=10.0,
        plan_reason="needs 64 GiB of GPU memory over 1 GPU(s), 64 GiB per GPU; the largest "
        "allowed GPU has 48 GiB",
        fix=more_memory,
        unrelated=lambda d: d["nodes"][0].update(count=4),
    )


def capacity_case() -> Case:
    # 12 GPUs hold three 4-GPU replicas of four. One more `big` node costs more than one
    # more `small`, but the plan then runs two bigs and switches small off: +$4/h, where
    # another small would add $6/h.
    doc = inventory(
        [node("big", gpus=8, cost=10, region="us"), node("small", gpus=4, cost=6, region="us")],
        [workload("train", replicas=4, gpus=4, regions=["us"])],
    )
    return Case(
        doc,
        "train",
        wanted=4,
        before=3,
        family="capacity",
        tried=["region", "capacity"],
        blocking=["capacity"],
        change="1 more node of type big (8 x H100, $10/h each, $10/h in all)",
        cost_delta=4.0,
        plan_reason="1 replica(s) (required) did not fit: the 2 compatible node(s) are full "
        "(0 GPUs free, 116 CPU cores free, 976 GiB RAM free; no single node has room for one "
        "replica, short of GPUs)",
        fix=lambda d: entry(d["nodes"], "small").update(gpus=8),
        unrelated=lambda d: d["workloads"][0].pop("regions"),
    )


def power_case() -> Case:
    # Each node draws 2 kW when on and 10 kW with all 8 GPUs busy: two replicas need 20 kW
    # in row1, capped at 15.
    doc = inventory(
        [node("h", count=2, gpus=8, rack="r1", busy_watts=10000, idle_watts=2000)],
        [workload("train", replicas=2, gpus=8)],
        topology={
            "sites": [
                {
                    "id": "s1",
                    "power_cap_kw": 100,
                    "rows": [{"id": "row1", "racks": ["r1"], "power_cap_kw": 15}],
                }
            ]
        },
    )
    return Case(
        doc,
        "train",
        wanted=2,
        before=1,
        family="power",
        tried=["power", "capacity"],
        blocking=["power"],
        change="raise row row1's power cap by 5 kW (to 20 kW)",
        cost_delta=10.0,
        plan_reason="1 replica(s) (required) did not fit: 1 compatible node(s) have room, but "
        "the power cap of row row1 is reached",
        fix=lambda d: d["topology"]["sites"][0]["rows"][0].update(power_cap_kw=20),
        unrelated=lambda d: d["topology"]["sites"][0].pop("power_cap_kw"),
    )


def spread_case() -> Case:
    doc = inventory(
        [node("a", rack="r0"), node("b", rack="r1")],
        [workload("svc", replicas=6, spread=[{"across": "rack", "max_per_domain": 2}])],
    )
    return Case(
        doc,
        "svc",
        wanted=6,
        before=4,
        family="spread",
        tried=["spread", "capacity"],
        blocking=["spread"],
        change="set max_per_domain across rack 2 -> 3",
        cost_delta=0.0,
        plan_reason="2 replica(s) (required) not placed: 2 compatible node(s) have room, but "
        "spread across rack allows at most 4 of 6: 2 per rack over the 2 rack(s) it may use",
        fix=lambda d: d["nodes"].append(node("c", rack="r2")),
        unrelated=lambda d: d["nodes"].append(node("a2", rack="r0")),
    )


def tenancy_case() -> Case:
    # bank's replica takes half of the only node; as a dedicated tenant it keeps the rest.
    doc = inventory(
        [node("shared", zone="z1")],
        [
            workload("bank-svc", gpus=4, priority=10, tenant="bank"),
            workload("other", gpus=4, zones=["z1"]),
        ],
        tenants={"bank": {"dedicated": True}},
    )
    return Case(
        doc,
        "other",
        wanted=1,
        before=0,
        family="tenancy",
        tried=["zone", "tenancy", "capacity"],
        blocking=["capacity", "tenancy"],
        change="let tenant bank share nodes (dedicated: false)",
        cost_delta=0.0,
        plan_reason="1 replica(s) (required) not placed: 1 compatible node(s) have room, but "
        "each of them runs replicas of dedicated tenant bank, which shares no node",
        fix=lambda d: d["workloads"][0].pop("tenant"),
        unrelated=lambda d: d["workloads"][1].pop("zones"),
    )


def draining_case() -> Case:
    # Only the H100 nodes of rack r3 have 4 GPUs, and r3 is draining; an L4 node is down too.
    doc = inventory(
        [
            node("h100", count=2, rack="r3", state="draining"),
            node("l4", gpu_type="L4", gpus=1, count=2, rack="r1", cost=2),
            node("old", gpu_type="L4", gpus=1, rack="r2", state="down", cost=2),
        ],
        [workload("train", gpus=4)],
    )
    return Case(
        doc,
        "train",
        wanted=1,
        before=0,
        family="node_state",
        tried=["node_state", "capacity"],
        blocking=["capacity", "node_state"],
        change="bring h100-0 back up (rack r3)",
        cost_delta=10.0,
        plan_reason="the only suitable nodes (2, in rack r3) are draining",
        fix=lambda d: entry(d["nodes"], "h100").pop("state"),
        unrelated=lambda d: entry(d["nodes"], "old").pop("state"),
    )


def nic_case() -> Case:
    # Each replica reads its dataset at 4 Gbps through the node's 10 Gbps NICs: two fit.
    doc = inventory(
        [node("a", rack="r1", nic_gbps=10)],
        [
            workload(
                "svc", replicas=3, gpus=2, storage={"size_tb": 1, "tier": "ssd", "read_gbps": 4}
            )
        ],
        storage=[{"id": "ssd1", "tier": "ssd", "capacity_tb": 20, "read_gbps": 100, "rack": "r1"}],
        topology={"sites": [{"id": "s", "racks": ["r1"]}]},
    )
    return Case(
        doc,
        "svc",
        wanted=3,
        before=2,
        family="network",
        tried=["network", "storage", "capacity"],
        blocking=["capacity", "network"],
        change="NICs of 12 Gbps (now 10) on rack r1",
        cost_delta=0.0,
        plan_reason="1 replica(s) (required) did not fit: the 1 compatible node(s) are full "
        "(4 GPUs free, 56 CPU cores free, 480 GiB RAM free; no single node has room for one "
        "replica, short of NIC bandwidth)",
        fix=lambda d: d["nodes"][0].update(nic_gbps=12),
        unrelated=lambda d: d["storage"][0].update(capacity_tb=40, read_gbps=200),
    )


CASES = {
    case.__name__.removesuffix("_case"): case
    for case in (
        gpu_type_case,
        gpu_memory_case,
        capacity_case,
        power_case,
        spread_case,
        tenancy_case,
        draining_case,
        nic_case,
    )
}


@pytest.mark.parametrize("name", CASES)
def test_explain_names_the_reason_that_lifting_proves(name):
    case = CASES[name]()
    (item,) = explained(case.doc)
    assert (item.workload, item.reached, item.wanted) == (case.workload, case.before, case.wanted)
    assert item.blocking == case.blocking
    assert not item.paired
    best = item.cheapest
    assert best is not None
    assert best.families == (case.family,)
    assert best.change == case.change
    assert best.reached == case.wanted
    assert best.cost_delta_per_hour == pytest.approx(case.cost_delta)
    assert item.tried == case.tried
    assert placed(case.doc, case.workload) == case.before
    assert placed(edited(case.doc, case.fix), case.workload) == case.wanted
    assert placed(edited(case.doc, case.unrelated), case.workload) == case.before


@pytest.mark.parametrize("name", CASES)
def test_the_plan_reason_names_the_family_explain_finds(name):
    case = CASES[name]()
    outcome = solve(case.doc)
    reasons = {u.reason for u in outcome.plan.unplaced if u.workload == case.workload}
    assert reasons == {case.plan_reason}
    causes = unplaced_causes(Figures(outcome.domain, outcome.result.placement))
    cause = causes[outcome.domain.demand.families.index[case.workload]]
    assert (cause.family, cause.text) == (case.family, case.plan_reason)
    (item,) = explained(case.doc)
    assert item.plan_family == case.family
    assert item.plan_reason == case.plan_reason
    assert item.to_dict()["agrees_with_plan"] is True


def test_the_words_say_where_and_why():
    (item,) = explained(draining_case().doc)
    assert item.summary == (
        "train: 0 of 1 replicas placed; needs 4 GPU(s), 4 cores and 16 GiB RAM per replica; "
        "the suitable nodes in rack r3 are draining. Cheapest change: bring h100-0 back up "
        "(rack r3); the plan then costs +$10.00/h."
    )
    (power,) = explained(power_case().doc)
    assert power.findings[0].why == "row row1's power cap (15 kW) is reached"


def test_a_selector_keeping_it_off_nodes_with_room_is_named():
    doc = inventory(
        [node("a", labels={"pool": "x"}, gpus=2), node("b", gpus=8)],
        [workload("svc", replicas=2, gpus=2, node_selector={"pool": "x"})],
    )
    (unplaced,) = solve(doc).plan.unplaced
    assert unplaced.reason.endswith("; 1 node(s) with room are ruled out by its node selector")
    (item,) = explained(doc)
    assert item.blocking == ["capacity", "node_labels"]
    assert item.cheapest is not None
    assert item.cheapest.change == "label nodes b with pool=x"
    assert placed(edited(doc, lambda d: d["nodes"][1].update(labels={"pool": "x"})), "svc") == 2


RULES = {
    "gang": (
        inventory(
            [node("a", rack="r0"), node("b", rack="r1")],
            [workload("job", replicas=3, gpus=4, gang={"within": "rack"})],
        ),
        "gang",
        "let the gang span 2 racks (drop gang.within)",
    ),
    "affinity": (
        inventory(
            [node("a", zone="z0", gpus=2), node("b", zone="z1")],
            [
                workload("cache", gpus=2, priority=5, zones=["z0"]),
                workload(
                    "svc", replicas=2, gpus=2, affinity=[{"workload": "cache", "scope": "zone"}]
                ),
            ],
        ),
        "affinity",
        "drop its affinity with cache",
    ),
    "anti_affinity": (
        inventory(
            [node("a")],
            [
                workload("train", gpus=4, priority=5),
                workload("svc", gpus=2, anti_affinity=[{"workload": "train", "scope": "node"}]),
            ],
        ),
        "anti_affinity",
        "drop its anti-affinity with train",
    ),
    "storage": (
        inventory(
            [node("a", rack="r1")],
            [workload("svc", gpus=2, storage={"size_tb": 50, "tier": "ssd"})],
            storage=[
                {"id": "ssd1", "tier": "ssd", "capacity_tb": 20, "read_gbps": 100, "rack": "r1"}
            ],
            topology={"sites": [{"id": "s", "racks": ["r1"]}]},
        ),
        "storage",
        "+30 TB on ssd1",
    ),
}


@pytest.mark.parametrize("name", RULES)
def test_workload_rules_are_named_alike_by_the_plan_and_explain(name):
    doc, family, change = RULES[name]
    (item,) = explained(doc)
    assert item.plan_family == family
    assert item.cheapest is not None
    assert (item.cheapest.families, item.cheapest.change) == ((family,), change)
    assert family in item.blocking


def tiny() -> dict:
    return load_inventory(INSTANCES / "tiny.yaml").model_dump(mode="json", exclude_defaults=True)


def test_when_no_single_change_helps_pairs_are_tried():
    # finetune-405b wants B200s. Allowed H100s, it still loses to serve-70b's optional
    # replica (priority 10 against 2) for the only H100 with 8 GPUs it could take; with
    # one more H100 node it does not qualify. Both together place it.
    (item,) = explained(tiny())
    assert item.workload == "finetune-405b"
    assert item.tried == ["gpu_type", "capacity", "gpu_type+capacity"]
    assert item.paired
    (finding,) = item.findings
    assert finding.families == ("gpu_type", "capacity")
    assert finding.change == (
        "allow GPU type H100 and 1 more node of type h100 (8 x H100, $80/h each, $80/h in all)"
    )
    assert finding.cost_delta_per_hour == pytest.approx(80.0)

    def allow_h100(d: dict) -> None:
        entry(d["workloads"], "finetune-405b")["gpu_types"] = ["B200", "H100"]

    def one_more_h100(d: dict) -> None:
        entry(d["nodes"], "h100")["count"] = 3

    assert placed(edited(tiny(), allow_h100), "finetune-405b") == 0
    assert placed(edited(tiny(), one_more_h100), "finetune-405b") == 0
    both = edited(edited(tiny(), allow_h100), one_more_h100)
    assert placed(both, "finetune-405b") == 1


def test_a_throughput_target_is_priced_up_to_the_target():
    chat = workload("chat")
    del chat["replicas"]
    chat["throughput"] = {
        "target": 12000,
        "unit": "tokens/s",
        "per_replica": {"H100": 3000, "L40S": 1100},
    }
    doc = inventory(
        [
            node("h100", gpu_type="H100", gpus=1, count=2, cost=10),
            node("l40s", gpu_type="L40S", gpus=1, count=3, cost=3),
        ],
        [chat],
    )
    (item,) = explained(doc)
    assert (item.unit, item.reached, item.wanted, item.required) == ("tokens/s", 9300, 12000, True)
    # Three L40S (3 x 1100) cost $9/h and reach the target; one H100 (3000) costs $10/h.
    assert item.cheapest is not None
    assert item.cheapest.change == "3 more nodes of type l40s (1 x L40S, $3/h each, $9/h in all)"
    assert item.cheapest.reached == 12600


def test_a_plan_cut_short_is_told_apart_from_a_blocked_workload(tmp_path):
    # The greedy placer puts the 8-GPU job on the only node with CPU for the other one;
    # re-solving the same inventory exactly places both.
    doc = inventory(
        [
            node("small-cpu", cpus=16, ram_gib=1024, cost=5),
            node("big-cpu", cpus=64, ram_gib=128, cost=4),
        ],
        [
            workload("gpu-heavy", gpus=8, cpus=1, ram_gib=120, priority=9),
            workload("cpu-heavy", gpus=4, cpus=48, ram_gib=16, priority=1),
        ],
    )
    greedy = solve(doc, "greedy").plan
    report = explain(Inventory.model_validate(doc), "cut", plan=greedy, plan_source="greedy")
    (item,) = report.explanations
    assert (item.workload, item.reached) == ("cpu-heavy", 0)
    assert item.findings == []
    assert item.note == (
        "re-solving the inventory as it is places 1: the plan's greedy search stopped short; "
        "solve again with more time"
    )


def test_the_analysis_stops_at_its_time_limit():
    report = explain(Inventory.model_validate(tiny()), "tiny", time_limit=0.01)
    (item,) = report.explanations
    assert item.not_tried
    assert item.tried + item.not_tried == ["gpu_type", "capacity"]
    assert report.solves == 1 + len(item.tried)


def test_a_placed_workload_has_nothing_to_explain():
    report = explain(Inventory.model_validate(tiny()), "tiny", workload="embed")
    assert report.explanations == []
    assert report.notes == ["embed is placed in full in the plan: nothing to explain"]


# --------------------------------------------------------------------------- the command


def allocator(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_explains_tiny_in_json_and_words(tmp_path):
    run = allocator("explain", str(INSTANCES / "tiny.yaml"), "--format", "json", "-t", "20")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    (item,) = report["workloads"]
    assert item["workload"] == "finetune-405b"
    assert (item["reached"], item["wanted"], item["required"]) == (0, 1, False)
    assert item["blocking"] == ["capacity", "gpu_type"]
    assert item["plan_family"] == "gpu_type" and item["agrees_with_plan"] is True
    assert item["cheapest"]["families"] == ["gpu_type", "capacity"]
    assert item["cheapest"]["cost_delta_per_hour"] == 80.0
    assert set(item) >= {"findings", "needs", "plan_reason", "summary", "tried", "not_tried"}
    assert report["solves"] == 5

    plan = tmp_path / "tiny.plan.json"
    solved = allocator("solve", str(INSTANCES / "tiny.yaml"), "-o", str(plan), "-q")
    assert solved.returncode == 0, solved.stderr
    words = allocator(
        "explain", str(INSTANCES / "tiny.yaml"), "--plan", str(plan), "-w", "finetune-405b"
    )
    assert words.returncode == 0, words.stderr
    text = " ".join(words.stdout.split())
    assert "it may only run on B200; the fleet has H100, L4, L40S" in text
    assert "allow GPU type H100 and 1 more node of type h100" in text
    assert (
        "the plan says: no node has an allowed GPU type: needs B200; the fleet has H100, L4, "
        "L40S" in text
    )


def test_cli_unknown_workload_is_bad_input_with_close_ids(tmp_path: Path):
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(tiny(), sort_keys=False))
    run = allocator("explain", str(path), "--workload", "finetune-40b")
    assert run.returncode == 2
    line = next(
        n for n, text in enumerate(path.read_text().splitlines(), 1) if text == "workloads:"
    )
    assert run.stderr.strip() == (
        f"error: {path}:{line}:1: workloads: unknown workload 'finetune-40b' given to "
        "--workload (did you mean 'finetune-405b'?)"
    )
    assert run.stdout == ""
