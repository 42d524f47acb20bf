"""openb import: the hand-written sample field by field, the seeded arrival prefix, prices,
the command, and a plan of the imported inventory."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import typer
from conftest import ROOT
from typer.testing import CliRunner

from allocator.domain.build import build_domain
from allocator.interop.openb import arrival_prefix, build_arrivals, read_nodes, read_tasks
from allocator.interop.openb.importer import UNDISCLOSED_GPU_MEMORY_GIB, gpu_type_name, import_openb
from allocator.inventory.load import load_inventory
from allocator.io.errors import InputError
from allocator.output.plan import InventoryRef
from allocator.solve.pipeline import solve_domain
from cli.openb_import import import_openb_command
from solvers.base import SolveOptions

DATA = ROOT / "tests" / "data" / "openb"
NODES = DATA / "openb_node_list_all_node.csv"
PODS = DATA / "openb_pod_list_sample.csv"


def by_id(entries: list[dict]) -> dict[str, dict]:
    return {e["id"]: e for e in entries}


def test_gpu_nodes_become_groups_by_shape():
    doc = import_openb(NODES, PODS).document
    nodes = by_id(doc["nodes"])
    assert list(nodes) == [
        "openb-G2-8gpu-96cpu-768gib",
        "openb-P100-2gpu-64cpu-256gib",
        "openb-V100M32-8gpu-96cpu-384gib",
        "openb-T4-4gpu-32cpu-128gib",
    ]
    assert nodes["openb-G2-8gpu-96cpu-768gib"] == {
        "id": "openb-G2-8gpu-96cpu-768gib",
        "count": 2,
        "gpu_type": "G2",
        "gpus": 8,
        "cpus": 96,
        "ram_gib": 768,
        "cost_per_hour": 0,
        "labels": {"openb/model": "G2"},
    }
    assert nodes["openb-V100M32-8gpu-96cpu-384gib"]["gpu_type"] == "V100-32GB"
    assert nodes["openb-P100-2gpu-64cpu-256gib"]["gpu_type"] == "P100"
    assert nodes["openb-T4-4gpu-32cpu-128gib"]["ram_gib"] == 128


def test_all_nodes_keeps_cpu_only_nodes():
    nodes = by_id(import_openb(NODES, PODS, all_nodes=True).document["nodes"])
    cpu = nodes["openb-cpu-32cpu-256gib"]
    assert cpu == {
        "id": "openb-cpu-32cpu-256gib",
        "count": 1,
        "cpus": 32,
        "ram_gib": 256,
        "cost_per_hour": 0,
        "labels": {"openb/model": "none"},
    }
    assert len(nodes) == 5


def test_gpu_types_outside_the_catalog_get_an_entry():
    doc = import_openb(NODES, PODS).document
    # G2 is on nodes; G1 is only named by a task's gpu_spec. Catalog types get no entry.
    assert doc["gpu_types"] == {
        "G1": {"memory_gib": UNDISCLOSED_GPU_MEMORY_GIB, "vendor": "nvidia"},
        "G2": {"memory_gib": UNDISCLOSED_GPU_MEMORY_GIB, "vendor": "nvidia"},
    }
    assert [gpu_type_name(m) for m in ("V100M16", "V100M32", "P100", "T4", "A10", "G3")] == [
        "V100",
        "V100-32GB",
        "P100",
        "T4",
        "A10",
        "G3",
    ]


def test_tasks_become_workloads_by_shape():
    workloads = by_id(import_openb(NODES, PODS).document["workloads"])
    assert list(workloads) == [
        "gpu8-cpu64-ram256gib",
        "gpu4-cpu32-ram64gib-on-G2+V100-32GB",
        "gpu1-cpu12-ram16gib",
        "gpu0.500-cpu8-ram30gib-on-T4",
        "gpu0.460-cpu6-ram12gib",
        "gpu0.250-cpu2-ram4gib-on-G1",
        "cpu-cpu4-ram8gib",
    ]
    assert workloads["gpu1-cpu12-ram16gib"] == {
        "id": "gpu1-cpu12-ram16gib",
        "kind": "batch",
        "priority": 1000,
        "replicas": {"min": 0, "max": 1},
        "resources": {"gpus": 1, "cpus": 12, "ram_gib": 16},
    }
    shared = workloads["gpu0.460-cpu6-ram12gib"]
    assert shared["resources"] == {"gpu_fraction": 0.46, "cpus": 6, "ram_gib": 12}
    assert shared["priority"] == 460
    assert shared["replicas"] == {"min": 0, "max": 2}
    assert "gpu_types" not in shared
    # Two tasks whose gpu_spec differ in order and a repeated model are one shape.
    four = workloads["gpu4-cpu32-ram64gib-on-G2+V100-32GB"]
    assert four["gpu_types"] == ["G2", "V100-32GB"]
    assert four["replicas"] == {"min": 0, "max": 2}
    assert four["priority"] == 4000
    assert four["resources"] == {"gpus": 4, "cpus": 32, "ram_gib": 64}
    assert workloads["gpu0.500-cpu8-ram30gib-on-T4"]["gpu_types"] == ["T4"]
    assert workloads["gpu8-cpu64-ram256gib"]["priority"] == 8000
    cpu = workloads["cpu-cpu4-ram8gib"]
    assert cpu["priority"] == 1
    assert cpu["resources"] == {"cpus": 4, "ram_gib": 8}


def test_summary_of_all_tasks():
    arrived = import_openb(NODES, PODS).arrived
    assert arrived is not None
    assert (arrived.seed, arrived.fraction, arrived.count, arrived.trace_tasks) == (
        None,
        None,
        9,
        9,
    )
    assert arrived.gpu_request_milli == 1000 + 2 * 460 + 2 * 4000 + 500 + 8000 + 250
    assert arrived.cpu_only == 1
    assert arrived.capacity_milli == 30_000


@pytest.mark.parametrize("fraction", [0.5, 1.0, 1.2])
def test_seeded_arrival_prefix_matches_the_simulator_order(fraction):
    result = import_openb(NODES, PODS, seed=7, arrived=fraction)
    arrived = result.arrived
    assert arrived is not None and arrived.seed == 7 and arrived.fraction == fraction
    nodes, tasks = read_nodes(NODES).with_gpus(), read_tasks(PODS)
    sequence = build_arrivals(tasks, nodes, 7)
    request = tasks.gpu_request_milli[sequence.task]
    count = arrival_prefix(request, 30_000, fraction)
    assert arrived.count == count
    assert arrived.gpu_request_milli == int(request[:count].sum())
    assert arrived.gpu_request_milli >= fraction * 30_000 > request[: count - 1].sum()
    # Every arrival is one replica of the workload of its shape.
    assert sum(w.replicas.max for w in result.inventory.workloads) == count
    wanted = Counter(tasks.names[sequence.task[:count]].tolist())
    assert wanted["openb-pod-0000"] == next(
        w.replicas.max for w in result.inventory.workloads if w.id == "gpu1-cpu12-ram16gib"
    )


def test_arrival_share_needs_a_seed_and_a_sensible_value():
    with pytest.raises(InputError, match="needs a seed"):
        import_openb(NODES, PODS, arrived=1.0)
    with pytest.raises(InputError, match="outside"):
        import_openb(NODES, PODS, seed=1, arrived=1.5)


def test_prices_per_gpu_type(tmp_path):
    prices = tmp_path / "prices.csv"
    prices.write_text("name,usd_per_hour\nG2,1.5\nV100-32GB,2\n", encoding="utf-8")
    result = import_openb(NODES, PODS, prices_path=prices)
    cost = {n["id"]: n["cost_per_hour"] for n in result.document["nodes"]}
    assert cost["openb-G2-8gpu-96cpu-768gib"] == 12  # by the openb model name, per GPU
    assert cost["openb-V100M32-8gpu-96cpu-384gib"] == 16  # by the catalog name
    assert cost["openb-T4-4gpu-32cpu-128gib"] == 0
    [warning] = result.warnings
    assert "openb-T4-4gpu-32cpu-128gib" in str(warning) and "P100" in str(warning)


def test_imported_sample_plans_everything_but_the_g1_task():
    result = import_openb(NODES, PODS)
    domain = build_domain(result.inventory)
    outcome = solve_domain(domain, InventoryRef(name="sample"), "highs", SolveOptions(seed=1))
    assert outcome.violations == []
    unplaced = outcome.plan.objective.unplaced_priority
    assert unplaced == 250  # only the G1 task: no node has that model
    [left] = outcome.plan.unplaced
    assert left.workload == "gpu0.250-cpu2-ram4gib-on-G1"
    placed = Counter(p.workload for p in outcome.plan.placements)
    assert placed["gpu0.460-cpu6-ram12gib"] == 2


def test_command_writes_an_inventory_the_loader_accepts(tmp_path):
    app = typer.Typer()
    app.command("openb")(import_openb_command)
    app.command("other")(lambda: None)  # a group, as under `allocator import`
    output = tmp_path / "sample.yaml"
    args = ["openb", str(NODES), str(PODS), "-o", str(output)]
    run = CliRunner().invoke(app, [*args, "--seed", "3", "--arrived", "0.8"])
    assert run.exit_code == 0, run.output
    inventory = load_inventory(output)
    assert inventory.name == "sample"
    text = output.read_text(encoding="utf-8")
    assert text.startswith("# Written by: allocator import openb")
    assert "--seed 3 --arrived 0.8" in text
    assert "inventory written to" in run.output
    total = np.sum([w.replicas.max for w in inventory.workloads])
    assert total >= 1


def test_command_reports_bad_input(tmp_path):
    app = typer.Typer()
    app.command("openb")(import_openb_command)
    app.command("other")(lambda: None)
    bad = tmp_path / "pods.csv"
    bad.write_text("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1000,10,2,500\n")
    args = ["openb", str(NODES), str(bad), "-o", str(tmp_path / "x.yaml")]
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 2
    assert "takes whole GPUs" in run.output
    assert not (tmp_path / "x.yaml").exists()
