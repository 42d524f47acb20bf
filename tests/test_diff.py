"""`allocator diff`: two plans of the rules instance compared, as a user runs it."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import INSTANCES
from rich.console import Console

from allocator.output.diff import compare_plans, render_markdown, render_terminal
from allocator.output.plan import Placement, load_plan, row_key
from allocator.output.report import build_report
from allocator.solve.pipeline import load_domain

RULES = INSTANCES / "rules.yaml"
DOWNED = "l40s-a-0"  # a node of the rules instance that runs four replicas in its plan


def allocator(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def solve(inventory: Path, plan: Path, *extra: str | Path) -> dict:
    run = allocator("solve", inventory, "-o", plan, "-q", "--solver", "highs", *extra)
    assert run.returncode == 0, run.stderr
    return json.loads(plan.read_text())


def diff_json(*args: str | Path) -> dict:
    run = allocator("diff", *args, "--format", "json")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def rules_document() -> dict:
    return yaml.safe_load(RULES.read_text())


def with_node_down(doc: dict, node_id: str) -> dict:
    """The group holding `node_id` split into single nodes (same ids), that one down."""
    nodes = []
    for entry in doc["nodes"]:
        count = entry.get("count", 1)
        ids = [f"{entry['id']}-{k}" for k in range(count)] if count > 1 else [entry["id"]]
        if node_id not in ids:
            nodes.append(entry)
            continue
        single = {k: v for k, v in entry.items() if k != "count"}
        nodes += [{**single, "id": i, **({"state": "down"} if i == node_id else {})} for i in ids]
    return {**doc, "nodes": nodes}


@pytest.fixture(scope="module")
def plans(tmp_path_factory) -> dict[str, Path]:
    """Plan A of the rules instance; plan B after DOWNED goes down, made from A; plan C
    of the instance without eval-sweep and with a new workload."""
    folder = tmp_path_factory.mktemp("diff")
    paths = {name: folder / f"{name}.plan.json" for name in ("a", "b", "c")}
    solve(RULES, paths["a"])

    downed = folder / "downed.yaml"
    downed.write_text(yaml.safe_dump(with_node_down(rules_document(), DOWNED), sort_keys=False))
    solve(downed, paths["b"], "--current", paths["a"])

    doc = rules_document()
    doc["workloads"] = [w for w in doc["workloads"] if w["id"] != "eval-sweep"]
    doc["workloads"].append(
        {
            "id": "nightly-eval",
            "kind": "batch",
            "priority": 5,
            "replicas": 2,
            "resources": {"gpus": 1, "cpus": 8, "ram_gib": 64},
            "gpu_types": ["L40S"],
        }
    )
    del doc["current_placement"]["eval-sweep"]
    changed = folder / "changed.yaml"
    changed.write_text(yaml.safe_dump(doc, sort_keys=False))
    solve(changed, paths["c"])
    return {**paths, "downed": downed, "changed": changed, "folder": folder}


def test_diff_of_a_replan_lists_the_moves_the_new_plan_records(plans):
    plan_a = json.loads(plans["a"].read_text())
    plan_b = json.loads(plans["b"].read_text())
    on_downed = Counter(
        row_key(Placement(**p)) for p in plan_a["placements"] if p["node"] == DOWNED
    )
    assert sum(on_downed.values()) == 4

    diff = diff_json(plans["a"], plans["b"])

    assert diff["moves"] == plan_b["moves"]
    assert Counter(m["workload"] for m in diff["moves"] if m["from_node"] == DOWNED) == on_downed
    assert not any(m["to_node"] == DOWNED for m in diff["moves"])
    assert diff["move_counts"] == {
        "total": len(plan_b["moves"]),
        "relocated": sum(bool(m["from_node"] and m["to_node"]) for m in plan_b["moves"]),
        "started": sum(m["from_node"] is None for m in plan_b["moves"]),
        "stopped": sum(m["to_node"] is None for m in plan_b["moves"]),
    }
    cost = {c["name"]: c for c in diff["cost"]}
    total_a, total_b = plan_a["objective"]["cost_per_hour"], plan_b["objective"]["cost_per_hour"]
    assert (cost["cost_per_hour"]["a"], cost["cost_per_hour"]["b"]) == (total_a, total_b)
    assert cost["cost_per_hour"]["change"] == pytest.approx(total_b - total_a, abs=1e-9)
    assert cost["moved_replicas"]["b"] == plan_b["objective"]["moved_replicas"]
    assert diff["notes"] == [
        "the plans were made for different versions of inventory 'rules'",
        "cost and GPU use per zone and rack need the inventory: --inventory INV",
    ]
    assert diff["zones"] is None and diff["racks"] is None


def test_diff_of_a_plan_with_itself_changes_nothing(plans):
    diff = diff_json(plans["a"], plans["a"])
    assert diff["moves"] == []
    assert diff["move_counts"] == {"total": 0, "relocated": 0, "started": 0, "stopped": 0}
    assert diff["workloads"] == []
    assert diff["unplaced_required"] == []
    assert diff["unchanged_workloads"] == 7
    assert [c["name"] for c in diff["cost"]][:3] == [
        "cost_per_hour",
        "hard_shortfall",
        "unplaced_priority",
    ]
    assert all(c["change"] == 0 and c["a"] == c["b"] for c in diff["cost"])


def test_removed_and_new_workloads_show_as_dropped_and_added(plans):
    plan_a = json.loads(plans["a"].read_text())
    plan_c = json.loads(plans["c"].read_text())
    sweep_nodes = sorted(p["node"] for p in plan_a["placements"] if p["workload"] == "eval-sweep")
    assert len(sweep_nodes) == 6
    assert sum(p["workload"] == "nightly-eval" for p in plan_c["placements"]) == 2

    diff = diff_json(plans["a"], plans["c"])

    changes = {w["workload"]: w for w in diff["workloads"]}
    assert changes["eval-sweep"] == {
        "workload": "eval-sweep",
        "placed_a": 6,
        "placed_b": 0,
        "change": -6,
        "status": "dropped",
    }
    assert changes["nightly-eval"] == {
        "workload": "nightly-eval",
        "placed_a": 0,
        "placed_b": 2,
        "change": 2,
        "status": "added",
    }
    assert [m for m in diff["moves"] if m["workload"] == "eval-sweep"] == [
        {"workload": "eval-sweep", "from_node": node, "to_node": None} for node in sweep_nodes
    ]
    assert sum(m["workload"] == "nightly-eval" and m["from_node"] is None for m in diff["moves"])


def test_zone_and_rack_figures_are_the_reports_and_their_difference(plans):
    domain = load_domain(RULES)
    report_a = build_report(domain, load_plan(plans["a"]))
    report_b = build_report(domain, load_plan(plans["b"]))

    diff = diff_json(plans["a"], plans["b"], "--inventory", RULES)

    for key in ("zones", "racks"):
        rows_a, rows_b = getattr(report_a, key), getattr(report_b, key)
        assert [z["group"] for z in diff[key]] == [u.group for u in rows_a]
        for row, ua, ub in zip(diff[key], rows_a, rows_b, strict=True):
            assert (row["cost_per_hour_a"], row["cost_per_hour_b"]) == (
                ua.cost_per_hour,
                ub.cost_per_hour,
            )
            assert row["cost_change"] == pytest.approx(ub.cost_per_hour - ua.cost_per_hour)
            assert (row["gpus_used_a"], row["gpus_used_b"]) == (ua.gpus_used, ub.gpus_used)
            assert row["gpus_used_change"] == ub.gpus_used - ua.gpus_used
            assert (row["gpu_pct_a"], row["gpu_pct_b"]) == (ua.gpu_pct, ub.gpu_pct)
    zones = {z["group"]: z for z in diff["zones"]}
    assert zones["us-east-1a"]["gpus_used_change"] != 0  # the downed node's replicas moved
    node_cost = {c["name"]: c for c in diff["cost"]}["node_cost_per_hour"]
    assert sum(z["cost_per_hour_a"] for z in diff["zones"]) == pytest.approx(node_cost["a"])
    assert sum(z["cost_per_hour_b"] for z in diff["zones"]) == pytest.approx(node_cost["b"])
    assert sum(z["cost_change"] for z in diff["zones"]) == pytest.approx(node_cost["change"])
    assert f"{plans['b']} was made for a different version of {RULES}" in diff["notes"]


def test_a_plan_the_inventory_does_not_know_exits_2_located(plans):
    plan_a = json.loads(plans["a"].read_text())
    first = next(k for k, p in enumerate(plan_a["placements"]) if p["workload"] == "eval-sweep")
    run = allocator("diff", plans["a"], plans["c"], "--inventory", plans["changed"])
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.splitlines()[0] == (
        f"error: {plans['a']}: placements[{first}]: workload 'eval-sweep' is not in the "
        "inventory (was the plan made for another one?)"
    )


def test_an_inventory_given_as_a_plan_exits_2_located(plans):
    run = allocator("diff", RULES, plans["a"])
    assert run.returncode == 2
    assert run.stderr == (
        f"error: {RULES}:1: not an allocator plan: expected a JSON object with "
        "'plan_version: 1' (this looks like an inventory)\n"
    )


def test_output_into_a_missing_folder_exits_2_and_writes_nothing(plans):
    target = plans["folder"] / "missing" / "diff.json"
    run = allocator("diff", plans["a"], plans["b"], "--format", "json", "-o", target)
    assert run.returncode == 2
    assert run.stderr == (
        f"error: {target}: folder '{target.parent}' does not exist; create it first\n"
    )
    assert not target.parent.exists()


def test_markdown_and_html_list_every_move_and_html_stands_alone(plans):
    moves = json.loads(plans["b"].read_text())["moves"]
    assert moves
    markdown = allocator("diff", plans["a"], plans["b"], "--format", "markdown")
    assert markdown.returncode == 0, markdown.stderr
    page = plans["folder"] / "diff.html"
    html = allocator("diff", plans["a"], plans["b"], "--format", "html", "-o", page)
    assert html.returncode == 0, html.stderr
    assert html.stderr == f"diff written to {page}\n"
    text = page.read_text()

    for m in moves:
        source, target = m["from_node"] or "none", m["to_node"] or "none"
        assert f"| {m['workload']} | {source} | {target} |" in markdown.stdout
        assert (
            f'<tr><td>{m["workload"]}</td><td class="word">{source}</td>'
            f'<td class="word">{target}</td></tr>'
        ) in text
    assert text.startswith("<!DOCTYPE html>")
    assert "<style>" in text
    assert "<script" not in text.lower()
    assert not re.search(r"https?://|url\(|@import|<link|<img|<iframe", text, re.IGNORECASE)


def test_terminal_lists_the_first_50_moves_and_counts_the_rest(plans):
    base = load_plan(plans["a"])
    before = [Placement(workload="w", replica=k, node=f"a-{k:02d}") for k in range(60)]
    after = [Placement(workload="w", replica=k, node=f"b-{k:02d}") for k in range(60)]
    diff = compare_plans(
        base.model_copy(update={"placements": before}),
        base.model_copy(update={"placements": after}),
    )
    assert len(diff.moves) == 60

    screen = io.StringIO()
    render_terminal(diff, Console(file=screen, width=200, color_system=None))
    shown = screen.getvalue()
    assert "│ w " in shown
    assert re.search(r"│ w +│ a-49 +│ b-49 +│", shown)
    assert "a-50" not in shown
    assert "... 10 more moves (all of them with --format json/markdown/html)" in shown
    markdown = render_markdown(diff)
    assert all(f"| w | a-{k:02d} | b-{k:02d} |" in markdown for k in range(60))
    assert "more moves" not in markdown


def test_a_plan_placing_nothing_makes_every_replica_a_start(plans):
    plan_a = load_plan(plans["a"])
    diff = compare_plans(plan_a.model_copy(update={"placements": []}), plan_a)
    assert [(m.workload, m.from_node, m.to_node) for m in diff.moves] == sorted(
        (row_key(p), None, p.node) for p in plan_a.placements
    )
    assert diff.started == len(plan_a.placements) and diff.relocated == diff.stopped == 0
