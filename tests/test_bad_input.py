"""Every kind of bad input: a located, actionable message, exit code 2, nothing written."""

from __future__ import annotations

import json

import pytest
import yaml
from builders import inventory, node, workload
from typer.testing import CliRunner

from cli.main import app

GOOD = inventory(
    [node("gpu-a", count=2), node("gpu-b", gpu_type="L4", gpus=1)],
    [workload("llama-70b", replicas={"min": 1, "max": 2}, gpus=4), workload("embed")],
)


def with_change(edit) -> str:
    doc = json.loads(json.dumps(GOOD))
    edit(doc)
    return yaml.safe_dump(doc, sort_keys=False)


CASES = {
    "malformed yaml": (
        "version: 1\nnodes:\n  - id: a\n    gpus: [8\n",
        "inventory.yaml:5:1: malformed YAML: expected ',' or ']', but got '<stream end>'",
    ),
    "tab indentation": (
        "version: 1\nnodes:\n\t- id: a\n",
        "inventory.yaml:3:1: malformed YAML: found character '\\t' that cannot start any token",
    ),
    "duplicate key": (
        "version: 1\nversion: 1\nnodes: []\n",
        "inventory.yaml:2:1: malformed YAML: key 'version' appears twice in the same mapping",
    ),
    "unknown field": (
        with_change(lambda d: d["nodes"][0].update(gpu_typ="H100")),
        "inventory.yaml:10:3: nodes[\"gpu-a\"].gpu_typ: unknown field 'gpu_typ' "
        "(did you mean 'gpu_type'?)",
    ),
    "unknown top-level field": (
        with_change(lambda d: d.update(workload=[])),
        "workload: unknown field 'workload' (did you mean 'workloads'?)",
    ),
    "missing field": (
        with_change(lambda d: d["nodes"][1].pop("cost_per_hour")),
        'inventory.yaml:10:3: nodes["gpu-b"].cost_per_hour: missing required field '
        "'cost_per_hour' (cost of running the node, $/h)",
    ),
    "wrong type": (
        with_change(lambda d: d["nodes"][0].update(gpus="eight")),
        "inventory.yaml:4:3: nodes[\"gpu-a\"].gpus: expected a whole number, got 'eight'",
    ),
    "negative capacity": (
        with_change(lambda d: d["nodes"][0].update(ram_gib=-512)),
        'nodes["gpu-a"].ram_gib: expected a positive number, got -512',
    ),
    "zero capacity": (
        with_change(lambda d: d["nodes"][1].update(cpus=0)),
        'nodes["gpu-b"].cpus: expected a positive number, got 0',
    ),
    "negative replica cpu": (
        with_change(lambda d: d["workloads"][0]["resources"].update(cpus=-2)),
        'workloads["llama-70b"].resources.cpus: expected a number >= 0, got -2',
    ),
    "min above max": (
        with_change(lambda d: d["workloads"][0].update(replicas={"min": 3, "max": 2})),
        'workloads["llama-70b"].replicas: min (3) is greater than max (2)',
    ),
    "unknown gpu type": (
        with_change(lambda d: d["nodes"][0].update(gpu_type="h100")),
        "inventory.yaml:9:3: nodes[\"gpu-a\"].gpu_type: unknown GPU type 'h100' "
        "(did you mean 'H100'?); known types: A10, A100, A100-80GB",
    ),
    "unknown allowed gpu type": (
        with_change(lambda d: d["workloads"][1].update(gpu_types=["L4", "A100-40"])),
        "workloads[\"embed\"].gpu_types[1]: unknown GPU type 'A100-40'",
    ),
    "duplicate node id": (
        with_change(lambda d: d["nodes"][1].update(id="gpu-a")),
        "nodes[1].id: duplicate node id 'gpu-a' (first used by nodes[0])",
    ),
    "group id collision": (
        with_change(lambda d: d["nodes"][1].update(id="gpu-a-1")),
        "nodes[\"gpu-a-1\"].id: node id 'gpu-a-1' is also the id of a node of the group "
        "nodes[0] ('gpu-a')",
    ),
    "duplicate workload id": (
        with_change(lambda d: d["workloads"][1].update(id="llama-70b")),
        "workloads[1].id: duplicate workload id 'llama-70b' (first used by workloads[0])",
    ),
    "unknown workload reference": (
        with_change(lambda d: d.update(current_placement={"llama-7b": ["gpu-a-0"]})),
        "current_placement[\"llama-7b\"]: unknown workload 'llama-7b' (did you mean 'llama-70b'?)",
    ),
    "unknown node reference": (
        with_change(lambda d: d.update(current_placement={"llama-70b": ["gpu-a-7"]})),
        "current_placement[\"llama-70b\"][0]: unknown node 'gpu-a-7' (did you mean 'gpu-a-1'?)",
    ),
    "no replicas and no target": (
        with_change(lambda d: d["workloads"][1].pop("replicas")),
        "workloads[\"embed\"].replicas: missing required field 'replicas' (a number, or "
        "{min, max}); it may be left out only with a throughput target",
    ),
    "throughput on an unknown gpu type": (
        with_change(
            lambda d: d["workloads"][1].update(
                throughput={"target": 100, "per_replica": {"H10": 50}}
            )
        ),
        "workloads[\"embed\"].throughput.per_replica.H10: unknown GPU type 'H10' "
        "(did you mean 'H100'?)",
    ),
    "duplicate variant": (
        with_change(
            lambda d: d["workloads"][1].update(
                variants=[{"name": "int8", "resources": {"gpus": 1, "cpus": 2, "ram_gib": 8}}] * 2
            )
        ),
        "workloads[\"embed\"].variants[1].name: duplicate variant name 'int8'",
    ),
    "unknown priority class": (
        with_change(lambda d: d["workloads"][1].update(priority_class="prod")),
        "workloads[\"embed\"].priority_class: unknown priority class 'prod'; classes are "
        "listed under objective.priority_classes (none listed)",
    ),
    "unknown affinity workload": (
        with_change(lambda d: d["workloads"][1].update(affinity=[{"workload": "llama-7b"}])),
        "workloads[\"embed\"].affinity[0].workload: unknown workload 'llama-7b' "
        "(did you mean 'llama-70b'?)",
    ),
    "survive without min": (
        with_change(
            lambda d: d["workloads"][1].update(replicas={"min": 0, "max": 2}, survive="node")
        ),
        'workloads["embed"].survive: survive keeps min replicas (or the throughput target) '
        "after a loss; this workload has min 0 and no target",
    ),
    "spread over racks without racks": (
        with_change(
            lambda d: d["workloads"][1].update(spread=[{"across": "rack", "max_per_domain": 1}])
        ),
        'workloads["embed"].spread[0].across: no node has a rack (give nodes[].rack, '
        "or use another scope)",
    ),
    "empty file": ("", "inventory.yaml: file is empty; expected a YAML or JSON document"),
    "only comments": ("# nothing here\n", "inventory.yaml: file is empty"),
    "a list": (
        "- a\n- b\n",
        "inventory.yaml:1: not an inventory: expected an allocator "
        "inventory: a mapping with 'version: 1', 'nodes' and 'workloads'; found a list",
    ),
    "kubernetes object": (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
        "this is a Kubernetes object (kind 'Pod'), not an inventory",
    ),
    "some other mapping": (
        "foo: 1\nbar: 2\n",
        "not an inventory: expected an allocator "
        "inventory: a mapping with 'version: 1', 'nodes' and 'workloads'; "
        "found keys: bar, foo",
    ),
    "unsupported version": (
        with_change(lambda d: d.update(version=2)),
        "inventory.yaml:1:1: unsupported inventory version 2; this allocator reads version 1",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_inventory(case, write_inventory, tmp_path):
    text, expected = CASES[case]
    path = write_inventory(text)
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(
        app, ["solve", str(path), "-o", str(out), "--report", str(tmp_path / "r.md")]
    )
    assert result.exit_code == 2, result.output
    assert expected in result.output, result.output
    assert "Traceback" not in result.output
    assert not out.exists() and not (tmp_path / "r.md").exists()
    assert list(tmp_path.iterdir()) == [path]


def test_malformed_json_gives_line_and_column(write_inventory):
    path = write_inventory('{"version": 1,\n "nodes": [\n  {"id": "a",}\n ]\n}\n', "inv.json")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert (
        "inv.json:3:14: malformed JSON: Expecting property name enclosed in double quotes"
        in result.output
    )


def test_json_and_yaml_share_the_schema(write_inventory):
    path = write_inventory(json.dumps(GOOD), "inv.json")
    assert CliRunner().invoke(app, ["validate", str(path)]).exit_code == 0
    bad = json.loads(json.dumps(GOOD))
    bad["nodes"][0]["cpus"] = -1
    path = write_inventory(json.dumps(bad, indent=1), "bad.json")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert 'bad.json:7:4: nodes["gpu-a"].cpus: expected a positive number, got -1' in result.output


def test_all_problems_are_reported_at_once(write_inventory):
    doc = json.loads(json.dumps(GOOD))
    doc["nodes"][0]["cpus"] = -1
    doc["workloads"][1]["replicas"] = "three"
    result = CliRunner().invoke(app, ["validate", str(write_inventory(doc))])
    assert result.exit_code == 2
    assert result.output.count("error:") == 2


def test_missing_file():
    result = CliRunner().invoke(app, ["validate", "no/such/inventory.yaml"])
    assert result.exit_code == 2
    assert "no/such/inventory.yaml: file not found" in result.output


def test_unknown_solver_is_a_usage_error(write_inventory):
    result = CliRunner().invoke(app, ["solve", str(write_inventory(GOOD)), "-s", "gurobi"])
    assert result.exit_code == 2
    assert "unknown solver 'gurobi'" in result.output


def test_a_plan_passed_as_inventory_is_recognised(write_inventory, tmp_path):
    plan = tmp_path / "p.json"
    CliRunner().invoke(app, ["solve", str(write_inventory(GOOD)), "-o", str(plan), "-q"])
    result = CliRunner().invoke(app, ["validate", str(plan)])
    assert result.exit_code == 2
    assert "this is an allocator plan, not an inventory" in result.output


def test_bad_plan_file_is_located(write_inventory, tmp_path):
    inv = write_inventory(GOOD)
    plan = tmp_path / "p.json"
    plan.write_text('{"plan_version": 1, "placements": 3}')
    result = CliRunner().invoke(app, ["check", str(inv), str(plan)])
    assert result.exit_code == 2
    assert "p.json:1:21: placements: expected a list, got 3" in result.output
