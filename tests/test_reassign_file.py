"""Reassignment files: loading with located errors, writing them back, `allocator
reassign`, and `allocator import roadef`."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import ROOT
from test_roadef import EXAMPLE, FIXTURES, SHIPPED, example
from typer.testing import CliRunner

from allocator.interop.roadef import evaluate, read_assignment, read_model
from allocator.interop.roadef.convert import to_reassignment
from allocator.io.errors import InputError
from allocator.reassign.costs import costs, violations
from allocator.reassign.document import move_groups, to_document, write_document
from allocator.reassign.load import load_reassignment
from allocator.reassign.strategy import solve
from cli.main import app

REBALANCE = ROOT / "instances" / "rebalance.yaml"
NODE_FIELDS = ["capacity", "soft_capacity", "node_move_cost", "node_names"]
GLOBAL_FIELDS = [
    "resources",
    "transient",
    "load_weight",
    "workload_move_weight",
    "balance_first",
    "balance_second",
    "balance_target",
    "balance_weight",
]
runner = CliRunner()


def assert_same_model(a, b) -> None:
    """Equal up to the order of workloads and replicas (a file lists replicas by workload)."""
    for name in NODE_FIELDS + GLOBAL_FIELDS:
        assert np.array_equal(np.asarray(getattr(a, name)), np.asarray(getattr(b, name))), name
    # domains are renamed on the way; the partition of nodes is what matters
    for name in ("spread_domain", "dependency_domain"):
        x, y = getattr(a, name), getattr(b, name)
        assert np.array_equal(x[:, None] == x[None, :], y[:, None] == y[None, :]), name
    order = np.argsort(np.argsort(a.replica_names))
    b_order = np.argsort(b.replica_names)[order]  # b's replica at each of a's positions
    assert [b.replica_names[i] for i in b_order] == list(a.replica_names)
    for name in ("need", "current", "replica_move_cost"):
        assert np.array_equal(getattr(a, name), getattr(b, name)[b_order]), name
    a_workload = [a.workload_names[w] for w in a.workload]
    assert a_workload == [b.workload_names[w] for w in b.workload[b_order]]
    a_index = {name: k for k, name in enumerate(a.workload_names)}
    b_min = {b.workload_names[w]: int(v) for w, v in enumerate(b.min_domains)}
    assert all(int(a.min_domains[a_index[n]]) == v for n, v in b_min.items())

    def named(m):
        return {(m.workload_names[x], m.workload_names[y]) for x, y in m.dependencies}

    assert named(a) == named(b)


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_roadef_example_survives_a_round_trip_through_a_file(tmp_path, suffix):
    inst, initial = example()
    model = to_reassignment(inst, initial)
    path = tmp_path / f"example{suffix}"
    write_document(path, to_document(model))
    assert_same_model(model, load_reassignment(path))


@pytest.mark.skipif(not SHIPPED.is_dir(), reason="needs ../shared/data/roadef2012")
@pytest.mark.parametrize("name", ["a1_1", "a1_2"])
def test_import_roadef_writes_the_same_problem(tmp_path, name):
    model_path = SHIPPED / f"model_{name}.txt"
    assignment_path = SHIPPED / f"assignment_{name}.txt"
    out = tmp_path / f"{name}.yaml"
    result = runner.invoke(
        app, ["import", "roadef", str(model_path), str(assignment_path), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    inst = read_model(model_path)
    initial = read_assignment(assignment_path, inst)
    loaded = load_reassignment(out)
    assert_same_model(to_reassignment(inst, initial), loaded)
    assert costs(loaded, loaded.current).total == evaluate(inst, initial).total
    text = out.read_text()
    assert text.startswith("# Written by: allocator import roadef")
    assert len(yaml.safe_load(text)["move_costs"]["between_groups"]) == 4  # 4 groups, not M


def test_move_costs_are_grouped_only_when_groups_say_it_all():
    cost = np.array([[0, 0, 2], [0, 0, 2], [3, 3, 0]])
    groups, group_of = move_groups(cost)
    assert groups.tolist() == [[0, 2], [3, 0]] and list(group_of) == [0, 0, 1]
    odd = np.array([[0, 1, 2], [5, 0, 2], [3, 3, 0]])  # every node its own group
    groups, group_of = move_groups(odd)
    assert len(groups) == 3 and np.array_equal(groups[np.ix_(group_of, group_of)], odd)


def test_rebalance_sample_is_solved_to_optimality_and_the_plan_is_valid(tmp_path):
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["reassign", str(REBALANCE), "-o", str(out), "--time-limit", "30"])
    assert result.exit_code == 0, result.output
    plan = json.loads(out.read_text())
    model = load_reassignment(REBALANCE)
    index = {name: k for k, name in enumerate(model.node_names)}
    assignment = np.array([index[plan["assignment"][r]] for r in model.replica_names])
    assert violations(model, assignment) == []
    assert plan["optimal"] and plan["method"] == "mip"
    assert plan["cost"]["total"] == costs(model, assignment).total == 144
    assert plan["start_cost"] == 198
    assert len(plan["moves"]) == int((assignment != model.current).sum()) == 2
    assert re.search(r"^total +198 +144$", result.output, re.MULTILINE)


def document() -> dict:
    return {
        "version": 1,
        "kind": "reassignment",
        "dimensions": [{"name": "cpu", "load_cost": 1}, {"name": "disk", "transient": True}],
        "nodes": [
            {"id": "a", "capacity": {"cpu": 4, "disk": 4}, "soft_capacity": {"cpu": 2}},
            {"id": "b", "capacity": {"cpu": 4, "disk": 4}},
        ],
        "workloads": [
            {"id": "web", "replicas": [{"id": "web-0", "node": "a", "need": {"cpu": 3, "disk": 1}}]}
        ],
    }


def load(tmp_path: Path, doc: dict) -> object:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_reassignment(path)


def test_small_document_loads_with_defaults(tmp_path):
    model = load(tmp_path, document())
    assert model.resources == ("cpu", "disk")
    assert model.soft_capacity.tolist() == [[2, 4], [4, 4]]  # unset soft = capacity
    assert model.transient.tolist() == [False, True]
    assert model.node_move_cost.tolist() == [[0, 0], [0, 0]]
    assert costs(model, model.current).load == 1


def bad(tmp_path: Path, change) -> list[str]:
    doc = document()
    change(doc)
    with pytest.raises(InputError) as info:
        load(tmp_path, doc)
    return [str(p) for p in info.value.problems]


def test_unknown_names_are_located(tmp_path):
    def change(doc):
        doc["workloads"][0]["replicas"][0]["need"]["gpu"] = 1
        doc["workloads"][0]["replicas"][0]["node"] = "c"
        doc["workloads"][0]["depends_on"] = ["cache"]
        doc["nodes"][1]["capacity"].pop("disk")

    path = tmp_path / "fleet.yaml"
    assert bad(tmp_path, change) == [
        f"{path}:16:3: nodes[\"b\"].capacity: no capacity given for dimension 'disk'",
        f'{path}:22:5: workloads["web"].replicas["web-0"].node: unknown node \'c\'',
        f'{path}:26:7: workloads["web"].replicas["web-0"].need.gpu: unknown dimension '
        "'gpu' (did you mean 'cpu'?)",
        f"{path}:28:5: workloads[\"web\"].depends_on[0]: unknown workload 'cache'",
    ]


def test_duplicates_and_negative_amounts_are_refused(tmp_path):
    def change(doc):
        doc["nodes"][1]["id"] = "a"
        doc["nodes"][0]["capacity"]["cpu"] = -1

    path = tmp_path / "fleet.yaml"
    assert bad(tmp_path, change) == [
        f"{path}:11:5: nodes[0].capacity.cpu: an amount is a whole number in [0, 2^53], got -1",
        f"{path}:15:3: nodes[1].id: duplicate node id 'a'",
    ]


def test_not_a_reassignment_file(tmp_path):
    def change(doc):
        doc["kind"] = "inventory"

    (message,) = bad(tmp_path, change)
    assert "not a reassignment file" in message


def test_cli_refuses_a_current_placement_that_breaks_a_rule(tmp_path):
    doc = document()
    doc["workloads"][0]["replicas"][0]["need"]["cpu"] = 5
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["reassign", str(path)])
    assert result.exit_code == 2
    assert f"{path}: the current placement: a: cpu is 1 over capacity" in result.output
    assert not (tmp_path / "fleet.plan.json").exists()


def test_cli_reassign_on_a_malformed_file_exits_2(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text("version: 1\nkind: reassignment\nnodes: 3\n")
    result = runner.invoke(app, ["reassign", str(path)])
    assert result.exit_code == 2
    assert "nodes" in result.output and "Traceback" not in result.output


def test_import_roadef_of_the_example_then_reassign(tmp_path):
    out = tmp_path / "example.yaml"
    assignment = FIXTURES / "assignment_example.txt"
    result = runner.invoke(app, ["import", "roadef", str(EXAMPLE), str(assignment), "-o", str(out)])
    assert result.exit_code == 0, result.output
    plan = tmp_path / "plan.json"
    result = runner.invoke(app, ["reassign", str(out), "-o", str(plan)])
    assert result.exit_code == 0, result.output
    assert json.loads(plan.read_text())["cost"]["total"] == 2411


def test_export_roadef_writes_the_plan_as_a_challenge_solution(tmp_path):
    fleet, plan, solution = tmp_path / "ex.yaml", tmp_path / "plan.json", tmp_path / "sol.txt"
    assignment = FIXTURES / "assignment_example.txt"
    assert (
        runner.invoke(
            app, ["import", "roadef", str(EXAMPLE), str(assignment), "-o", str(fleet)]
        ).exit_code
        == 0
    )
    assert runner.invoke(app, ["reassign", str(fleet), "-o", str(plan)]).exit_code == 0
    result = runner.invoke(app, ["export", "roadef", str(EXAMPLE), str(plan), "-o", str(solution)])
    assert result.exit_code == 0, result.output
    inst, initial = example()
    assert evaluate(inst, initial, read_assignment(solution, inst)).total == 2411

    data = json.loads(plan.read_text())
    data["assignment"].pop("p1")
    plan.write_text(json.dumps(data))
    result = runner.invoke(
        app, ["export", "roadef", str(EXAMPLE), str(plan), "-o", str(tmp_path / "x")]
    )
    assert result.exit_code == 2
    assert f"{plan}: assignment: the plan does not place process 'p1'" in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("solver", ["highs", "cbc", "cpsat"])
def test_every_exact_backend_proves_the_same_optimum_of_the_sample(solver):
    model = load_reassignment(REBALANCE)
    outcome = solve(model, time_limit=60, solver=solver)
    assert outcome.optimal and outcome.method == "mip"
    assert outcome.costs.total == 144 == costs(model, outcome.assignment).total
    assert violations(model, outcome.assignment) == []


def test_written_files_get_the_permissions_of_a_plain_write(tmp_path):
    umask = os.umask(0o022)
    try:
        out = tmp_path / "plan.json"
        assert runner.invoke(app, ["reassign", str(REBALANCE), "-o", str(out)]).exit_code == 0
        assert stat.S_IMODE(out.stat().st_mode) == 0o644
    finally:
        os.umask(umask)
