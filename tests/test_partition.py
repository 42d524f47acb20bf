"""Planning a fleet in parts (allocator.solve.partition): the split, the merged plan
against the whole inventory, and `allocator solve --partitions`."""

from __future__ import annotations

import json

import pytest
from conftest import INSTANCES
from typer.testing import CliRunner

from allocator.bench.instances import LadderInstance
from allocator.evaluate.check import check_plan
from allocator.inventory.generate import generate_inventory
from allocator.solve import partition
from allocator.solve.partition import solve_partitioned, split_inventory
from allocator.solve.pipeline import Request, solve_request
from cli.main import app
from solvers.base import SolveOptions

OPTIONS = SolveOptions(time_limit=20, seed=0)


def ladder(nodes: int = 100) -> dict:
    return LadderInstance.of_size(nodes, 0.9, 0).document()


def data_of(document: dict) -> bytes:
    return json.dumps(document).encode()


@pytest.mark.parametrize("by", ["zone", "random"])
@pytest.mark.parametrize("parts", [2, 4, 8])
def test_every_node_and_workload_lands_in_exactly_one_part(by, parts):
    document = ladder()
    split = split_inventory(document, parts, by, seed=3)
    nodes = [n for p in split.parts for n in p.nodes]
    workloads = [w for p in split.parts for w in p.workloads]
    assert len(nodes) == len(set(nodes)) == sum(n["count"] for n in document["nodes"])
    assert sorted(workloads) == sorted(w["id"] for w in document["workloads"])
    assert all(p.nodes for p in split.parts)
    # Two zones: more parts than that cut the zones along racks.
    assert split.level == ("node" if by == "random" else "zone" if parts <= 2 else "rack")


def test_zone_restricted_workloads_go_with_their_zones():
    document = generate_inventory(40, 16, seed=1)
    pinned = {w["id"] for w in document["workloads"][::3]}
    for w in document["workloads"]:
        if w["id"] in pinned:
            w["zones"] = ["zone-b"]
    split = split_inventory(document, 2, "zone")
    for part in split.parts:
        for w in pinned & set(part.workloads):
            assert "zone-b" in part.zones, (w, part.zones)
    assert all(len(p.zones) == 1 for p in split.parts)


def test_a_zone_cut_along_racks_keeps_its_mix_of_gpu_types_in_every_part():
    def rack(name: str, gpu_type: str) -> dict:
        return {"id": name, "count": 2, "gpus": 8, "gpu_type": gpu_type, "cpus": 64,
                "ram_gib": 512, "cost_per_hour": 10, "zone": "z", "rack": name}  # fmt: skip

    nodes = [rack(f"a{k}", "A100") for k in range(4)] + [rack(f"h{k}", "H100") for k in range(4)]
    document = {"version": 1, "nodes": nodes, "workloads": []}
    split = split_inventory(document, 4, "zone")
    assert split.level == "rack"
    for part in split.parts:
        # Rack names sort by type; a cut in name order would give each part one type.
        assert {n.split("-")[0][0] for n in part.nodes} == {"a", "h"}, part.nodes


def test_one_part_gives_the_whole_plan():
    data = data_of(ladder())
    whole = solve_request(Request("fleet.json", data, "auto", OPTIONS))
    merged = solve_partitioned("fleet.json", 1, "zone", "auto", OPTIONS, inventory=data)
    assert not merged.violations
    assert merged.plan.placements == whole.plan.placements
    assert merged.plan.objective == whole.plan.objective


@pytest.mark.parametrize("by", ["zone", "random"])
def test_merged_plan_passes_the_checker_and_is_no_better_than_the_optimum(by):
    data = data_of(ladder())
    whole = solve_request(Request("fleet.json", data, "auto", OPTIONS))
    assert whole.plan.solver.status == "optimal"
    merged = solve_partitioned("fleet.json", 2, by, "auto", OPTIONS, "local", 2, inventory=data)
    assert merged.violations == []
    assert check_plan(merged.domain, merged.plan) == []
    levels = [lv.value for lv in merged.plan.solver.levels]
    best = [lv.value for lv in whole.plan.solver.levels]
    assert [round(v, 6) for v in levels] >= [round(v, 6) for v in best]
    if merged.plan.objective.unplaced_priority == whole.plan.objective.unplaced_priority:
        assert merged.plan.objective.cost_per_hour >= whole.plan.objective.cost_per_hour - 1e-6


def test_shared_limits_are_divided_and_the_plan_keeps_within_them():
    path = INSTANCES / "dc-east.yaml"
    for by in ("zone", "random"):
        merged = solve_partitioned(path, 2, by, "auto", OPTIONS, "local", 2)
        assert merged.violations == [], by


def test_a_part_that_fails_is_reported(monkeypatch):
    def broken(request):
        raise RuntimeError("solver crashed")

    monkeypatch.setattr(partition, "solve_request", broken)
    data = data_of(ladder())
    merged = solve_partitioned("fleet.json", 1, "zone", "auto", OPTIONS, inventory=data)
    assert merged.parts[0].status == "failed"
    assert merged.plan.warnings == ["part 0 of 1 has no plan: RuntimeError: solver crashed"]
    assert merged.plan.placements == []
    assert merged.violations == []
    assert merged.exit_code == 4


def test_parts_on_dask():
    pytest.importorskip("distributed")
    data = data_of(ladder())
    merged = solve_partitioned(
        "fleet.json", 2, "random", "auto", OPTIONS, "dask", 1, inventory=data
    )
    assert merged.violations == []
    assert merged.engine.startswith("dask (LocalCluster)")


def test_cli_solves_in_parts(tmp_path):
    plan = tmp_path / "p.plan.json"
    run = CliRunner().invoke(
        app,
        ["solve", str(INSTANCES / "small.yaml"), "--partitions", "2", "-o", str(plan), "-q"],
    )
    assert run.exit_code == 0, run.output
    check = CliRunner().invoke(app, ["check", str(INSTANCES / "small.yaml"), str(plan)])
    assert check.exit_code == 0, check.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--partition-by", "rack"],
            "error: --partition-by: unknown way 'rack'; expected zone or random",
        ),
        (["--engine", "ray"], "error: --engine: unknown engine 'ray'; expected local or dask"),
        (
            ["--current", "x.plan.json"],
            "error: --current: not with --partitions: the parts are planned from the "
            "inventory alone",
        ),
        (
            ["--partitions", "9"],
            "error: --partitions: 9 parts of 7 node(s): at most one part per node",
        ),
    ],
)
def test_cli_refuses_bad_partition_options(tmp_path, options, message):
    args = ["solve", str(INSTANCES / "tiny.yaml"), "-o", str(tmp_path / "t.plan.json")]
    run = CliRunner().invoke(app, [*args, "--partitions", "2", *options])
    assert run.exit_code == 2, run.output
    assert run.stderr.strip().splitlines()[-1] == message
    assert not (tmp_path / "t.plan.json").exists()


def test_cli_refuses_zero_partitions():
    run = CliRunner().invoke(app, ["solve", str(INSTANCES / "tiny.yaml"), "--partitions", "0"])
    assert run.exit_code == 2
    assert "--partitions" in run.output
