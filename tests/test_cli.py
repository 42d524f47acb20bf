"""The command line end to end, as a user runs it (subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from builders import inventory, node, workload
from conftest import INSTANCES

from allocator.inventory.load import load_inventory
from allocator.reassign.load import load_reassignment


def allocator(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_solve_check_report_round_trip(tmp_path):
    plan, md = tmp_path / "tiny.plan.json", tmp_path / "report.md"
    run = allocator(
        "solve",
        str(INSTANCES / "tiny.yaml"),
        "-o",
        str(plan),
        "--report",
        str(md),
        "--format",
        "json",
        "--solver",
        "highs",
    )
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["cost_per_hour"] == 185.0
    assert summary["cost_per_month"] == 185.0 * 730
    assert {z["group"] for z in summary["zones"]} == {"us-east-1a", "us-east-1b"}
    assert f"plan written to {plan}" in run.stderr
    written = json.loads(plan.read_text())
    assert written["plan_version"] == 1
    assert written["solver"]["status"] == "optimal"
    assert "## Utilization per rack" in md.read_text()

    check = allocator("check", str(INSTANCES / "tiny.yaml"), str(plan))
    assert check.returncode == 0, check.stderr
    assert "valid plan" in check.stdout

    report = allocator("report", str(INSTANCES / "tiny.yaml"), str(plan), "--format", "markdown")
    assert report.returncode == 0
    assert "| finetune-405b | 1 | 0 | no node has an allowed GPU type: needs B200" in report.stdout

    written["placements"][0]["node"] = "l4-0"
    plan.write_text(json.dumps(written))
    rejected = allocator("check", str(INSTANCES / "tiny.yaml"), str(plan))
    assert rejected.returncode == 5
    assert "[gpu_type]" in rejected.stderr


def test_default_plan_path_is_next_to_the_caller(tmp_path):
    run = allocator("solve", str(INSTANCES / "tiny.yaml"), "-q", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "tiny.plan.json").exists()


def test_impossible_required_demand_exits_3_with_a_partial_plan(tmp_path):
    doc = inventory(
        [node("a", gpu_type="L4", gpus=1)],
        [workload("big", replicas=1, gpus=8), workload("small", replicas=1)],
    )
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc))
    plan = tmp_path / "plan.json"
    run = allocator("solve", str(path), "-o", str(plan), "-q")
    assert run.returncode == 3, run.stderr
    assert "required replicas cannot all be placed (proven)" in run.stderr
    written = json.loads(plan.read_text())
    assert [p["workload"] for p in written["placements"]] == ["small"]
    assert written["unplaced"] == [
        {
            "workload": "big",
            "replica": 0,
            "required": True,
            "reason": "no node of type L4 has 8 GPUs; the most on one node is 1",
        }
    ]


def test_unproven_shortfall_exits_4(tmp_path):
    # Both greedy rules put the high-priority 8-GPU job on big-cpu (cheaper, and the
    # tighter fit), the only node with enough CPU for the other job; an exact solver
    # places both.
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
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump(doc))
    greedy = allocator("solve", str(path), "-s", "greedy", "-q", "-o", str(tmp_path / "g.json"))
    assert greedy.returncode == 4, greedy.stderr
    assert "the greedy placer left required replicas unplaced" in greedy.stderr
    exact = allocator("solve", str(path), "-q", "-o", str(tmp_path / "e.json"))
    assert exact.returncode == 0, exact.stderr


def test_validate_schema_solvers_generate(tmp_path):
    run = allocator("validate", str(INSTANCES / "small.yaml"))
    assert run.returncode == 0
    assert (
        "valid inventory 'small': 54 nodes in 6 distinct shapes, 210 GPUs of 3 types" in run.stdout
    )

    schema = json.loads(allocator("schema").stdout)
    assert schema["title"] == "Inventory"
    assert set(schema["required"]) == {"version", "nodes"}

    solvers = allocator("solvers")
    for name in ("highs", "cbc", "cpsat", "greedy", "auto"):
        assert name in solvers.stdout

    out = tmp_path / "gen.yaml"
    gen = allocator(
        "generate",
        "--nodes",
        "40",
        "--workloads",
        "12",
        "--gpu-types",
        "2",
        "--seed",
        "3",
        "-o",
        str(out),
    )
    assert gen.returncode == 0
    generated = load_inventory(out)
    assert sum(n.count for n in generated.nodes) == 40
    assert len(generated.workloads) == 12
    solved = allocator("solve", str(out), "-q", "-o", str(tmp_path / "gen.plan.json"))
    assert solved.returncode == 0, solved.stderr


def test_instances_are_valid():
    for path in sorted(INSTANCES.glob("*.yaml")):
        if "\nkind: reassignment\n" in path.read_text():
            assert load_reassignment(path).num_replicas > 0, path
        else:
            assert load_inventory(path).version == 1, path


def test_a_reassignment_file_is_not_taken_for_an_inventory():
    run = allocator("validate", str(INSTANCES / "rebalance.yaml"))
    assert run.returncode == 2
    assert "this is a reassignment file, not an inventory; use 'allocator reassign'" in run.stderr


def test_replanning_from_a_previous_plan_moves_nothing(tmp_path):
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    inventory_path = str(INSTANCES / "rules.yaml")
    assert allocator("solve", inventory_path, "-o", str(first), "-q").returncode == 0
    run = allocator("solve", inventory_path, "-o", str(second), "-q", "--current", str(first))
    assert run.returncode == 0, run.stderr
    plan = json.loads(second.read_text())
    assert plan["moves"] == [] and plan["objective"]["migration_cost_per_hour"] == 0
    assert (
        plan["objective"]["cost_per_hour"]
        == json.loads(first.read_text())["objective"]["cost_per_hour"]
        - json.loads(first.read_text())["objective"]["migration_cost_per_hour"]
    )


def test_a_previous_plan_that_does_not_match_the_inventory_is_rejected(tmp_path):
    plan = tmp_path / "old.json"
    assert allocator("solve", str(INSTANCES / "tiny.yaml"), "-o", str(plan), "-q").returncode == 0
    run = allocator(
        "solve",
        str(INSTANCES / "small.yaml"),
        "-o",
        str(tmp_path / "p.json"),
        "--current",
        str(plan),
    )
    assert run.returncode == 2
    assert (
        f"{plan}: names none of the inventory's workloads and nodes: was it made for another "
        "inventory?" in run.stderr
    )
    assert not (tmp_path / "p.json").exists()
