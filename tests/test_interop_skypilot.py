"""SkyPilot tasks added to a fleet: the sample tasks field by field, every accelerator
form, a plan on the result, bad task files with their exact messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from typer.testing import CliRunner

from allocator.domain.build import build_domain
from allocator.interop.skypilot import import_skypilot
from allocator.inventory.load import load_inventory
from allocator.io.errors import InputError
from allocator.output.plan import InventoryRef
from allocator.solve.pipeline import solve_domain
from cli.interop import import_app
from cli.main import app

DATA = ROOT / "tests" / "data" / "skypilot"
FLEET = DATA / "fleet.yaml"
TASKS = [
    DATA / n for n in ("finetune.yaml", "serve.yaml", "eval.yaml", "preprocess.yaml", "embed.yaml")
]


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def added(result) -> dict[str, dict]:
    return {w["id"]: w for w in result.document["workloads"][1:]}


def test_sample_tasks_field_by_field():
    result = import_skypilot(TASKS, FLEET)
    workloads = added(result)
    assert workloads["llama-finetune"] == {
        "id": "llama-finetune",
        "kind": "training",  # from the allocator.io/kind label
        "priority": 50,  # from the allocator.io/priority label
        "replicas": 2,  # num_nodes
        "resources": {"gpus": 8, "cpus": 64, "ram_gib": 512},  # "64+" and "512+": the minimum
        "gpu_types": ["A100-80GB"],
        "regions": ["us-east-1"],  # infra aws/us-east-1: the fleet has nodes there
        # its 2 nodes are distinct machines, launched together
        "spread": [{"across": "node", "max_per_domain": 1}],
        "gang": {},
        "labels": {
            "team": "research",
            "skypilot/task": "finetune.yaml",
            "skypilot/infra": "aws/us-east-1",
        },
    }
    assert workloads["llama-8b-serve"] == {
        "id": "llama-8b-serve",
        "kind": "inference",  # a SkyServe service
        "priority": 1,
        "replicas": {"min": 1, "max": 3},  # replica_policy
        "resources": {"gpus": 1, "cpus": 8, "ram_gib": 32},  # memory "32GB"
        "gpu_types": ["L4", "A10G"],  # the set form {L4:1, A10G:1}
        "labels": {"skypilot/task": "serve.yaml"},
    }
    assert workloads["eval-harness"] == {
        "id": "eval-harness",
        "kind": "batch",
        "priority": 1,
        "replicas": 1,
        "resources": {"gpus": 1, "cpus": 8, "ram_gib": 64},
        "gpu_types": ["H100", "A100-80GB"],  # the ordered candidates
        # region us-central1: no node of the fleet is there, so a warning, not regions
        "labels": {"skypilot/task": "eval.yaml", "skypilot/infra": "gcp/us-central1"},
    }
    assert workloads["preprocess"] == {  # no name: the file's
        "id": "preprocess",
        "kind": "batch",
        "priority": 1,
        "replicas": 1,
        "resources": {"cpus": 16, "ram_gib": 64},  # no accelerators: CPU-only
        "labels": {"skypilot/task": "preprocess.yaml"},
    }
    assert workloads["embed-corpus"] == {
        "id": "embed-corpus",
        "kind": "batch",
        "priority": 1,
        "replicas": 1,
        "resources": {"gpus": 1, "cpus": 8, "ram_gib": 32},
        "gpu_types": ["L4"],
        "zones": ["us-east-1b"],  # infra aws/*/us-east-1b: any region, that zone
        "labels": {"skypilot/task": "embed.yaml", "skypilot/infra": "aws/*/us-east-1b"},
    }
    fleet = yaml.safe_load(FLEET.read_text())
    assert result.document["nodes"] == fleet["nodes"]
    assert result.document["workloads"][0] == fleet["workloads"][0]


def test_sample_warnings():
    assert [str(w) for w in import_skypilot(TASKS, FLEET).warnings] == [
        "tasks/finetune.yaml: resources.infra: cloud aws: not carried over (the fleet's nodes "
        "have no cloud; its regions are)",
        "tasks/finetune.yaml: resources.use_spot: spot capacity: not carried over (the fleet has "
        "no spot nodes)",
        "tasks/eval.yaml: resources.accelerators: H100, A100-80GB in order of preference: "
        "allocator treats them as equally good (the order is not carried over)",
        "tasks/eval.yaml: resources.infra: runs only in gcp/us-central1: not carried over (no "
        "node of the fleet is in region us-central1)",
        "tasks/embed.yaml: resources.infra: cloud aws: not carried over (the fleet's nodes have "
        "no cloud; its zones are)",
    ]


def test_sample_solves_to_a_plan_the_checker_accepts():
    result = import_skypilot(TASKS, FLEET)
    outcome = solve_domain(build_domain(result.inventory), InventoryRef(name="lab"), "highs")
    assert outcome.violations == []
    assert outcome.plan.objective.hard_shortfall == 0
    placed: dict[str, list[str]] = {}
    for p in outcome.plan.placements:
        placed.setdefault(p.workload, []).append(p.node)
    # two distinct A100 nodes (8 GPUs each would not fit twice on one node anyway)
    assert sorted(placed["llama-finetune"]) == ["a100-0", "a100-1"]
    assert placed["embed-corpus"][0].startswith("l4-")  # zone us-east-1b


def task(tmp_path: Path, text: str, name: str = "task.yaml") -> Path:
    (tmp_path / name).write_text(text)
    return Path(name)


def resources_of(tmp_path: Path, text: str) -> dict:
    result = import_skypilot([task(tmp_path, text)], FLEET)
    return result.document["workloads"][-1]


@pytest.mark.parametrize(
    ("accelerators", "gpus", "types"),
    [
        ("H100:8", 8, ["H100"]),
        ("L4", 1, ["L4"]),
        ("{A100-80GB: 4}", 4, ["A100-80GB"]),
        ("{L4:1, A10G:1}", 1, ["L4", "A10G"]),
        ("[L4:2, H100:2]", 2, ["L4", "H100"]),
        ("['A100-80GB-SXM:8']", 8, ["A100-80GB"]),
        ("H100-MEGA:8", 8, ["H100"]),
        ("V100-32GB:4", 4, ["V100-32GB"]),
        ("a100:1", 1, ["A100"]),
    ],
)
def test_accelerator_forms(tmp_path, accelerators, gpus, types):
    workload = resources_of(tmp_path, f"resources:\n  accelerators: {accelerators}\n  cpus: 4\n")
    assert workload["resources"]["gpus"] == gpus
    assert workload["gpu_types"] == types


def test_candidates_inherit_and_override(tmp_path):
    text = (
        "name: multi\n"
        "resources:\n"
        "  accelerators: H100:8\n"
        "  cpus: 32+\n"
        "  any_of:\n"
        "    - infra: aws/us-west-2\n"
        "    - infra: gcp\n"
        "      accelerators: A100-80GB:8\n"
        "      memory: 1TB\n"
    )
    result = import_skypilot([task(tmp_path, text)], FLEET)
    workload = result.document["workloads"][-1]
    assert workload["gpu_types"] == ["H100", "A100-80GB"]
    assert workload["resources"] == {"gpus": 8, "cpus": 32, "ram_gib": 1024}
    assert workload["labels"]["skypilot/infra"] == "aws/us-west-2,gcp"
    assert "regions" not in workload  # the gcp candidate may run in any region
    tasks = result.tasks[0]
    assert [c.location for c in tasks.candidates] == ["aws/us-west-2", "gcp"]
    assert [(c.cloud, c.region) for c in tasks.candidates] == [("aws", "us-west-2"), ("gcp", None)]
    assert [c.memory_gib for c in tasks.candidates] == [None, 1024]


def test_counts_that_differ_and_fractions_are_warnings(tmp_path):
    text = "resources:\n  accelerators: [L4:0.5, H100:2]\n  cpus: 2\n  memory: 8\n"
    result = import_skypilot([task(tmp_path, text)], FLEET)
    workload = result.document["workloads"][-1]
    assert (workload["resources"]["gpus"], workload["gpu_types"]) == (1, ["L4"])
    assert [str(w) for w in result.warnings] == [
        "tasks/task.yaml: resources.accelerators: L4:0.5 is a fraction of a GPU: planned as 1 "
        "whole GPU",
        "tasks/task.yaml: resources.accelerators: H100:2 asks for a different count than "
        "L4:0.5: left out (a workload has one GPU count)",
    ]


def test_missing_cpus_and_memory_use_documented_defaults(tmp_path):
    result = import_skypilot([task(tmp_path, "resources:\n  accelerators: L4\n")], FLEET)
    assert result.document["workloads"][-1]["resources"] == {"gpus": 1, "cpus": 4, "ram_gib": 16}
    assert [str(w) for w in result.warnings] == [
        "tasks/task.yaml: resources.cpus: not given (SkyPilot sizes the VM): planned with 4 CPUs",
        "tasks/task.yaml: resources.memory: not given (SkyPilot sizes the VM): planned with 16 GiB",
    ]


def test_service_with_fixed_replicas(tmp_path):
    text = "service:\n  readiness_probe: /\n  replicas: 2\nresources:\n  cpus: 2\n  memory: 4\n"
    workload = resources_of(tmp_path, text)
    assert (workload["kind"], workload["replicas"]) == ("inference", {"min": 2, "max": 2})


@pytest.mark.parametrize(
    ("place", "rule", "warning"),
    [
        ("infra: aws/us-east-1/us-east-1b", {"zones": ["us-east-1b"]}, "cloud aws"),
        ("infra: aws/us-east-1", {"regions": ["us-east-1"]}, "cloud aws"),
        ("infra: '*/*/us-east-1a'", {"zones": ["us-east-1a"]}, None),
        ("region: us-east-1", {"regions": ["us-east-1"]}, None),
        ("cloud: aws\n  zone: us-east-1a", {"zones": ["us-east-1a"]}, "cloud aws"),
        (
            "any_of:\n    - zone: us-east-1a\n    - zone: us-east-1b",
            {"zones": ["us-east-1a", "us-east-1b"]},
            None,
        ),
        (
            "infra: k8s/lab-context",
            {},
            "runs only in k8s/lab-context: not carried over (k8s/lab-context: a Kubernetes "
            "context or node pool, not a region)",
        ),
        (
            "infra: aws",
            {},
            "runs only in aws: not carried over (a candidate names only a cloud, or no place, so "
            "it may run in any region)",
        ),
        (
            "infra: gcp/europe-west4",
            {},
            "runs only in gcp/europe-west4: not carried over (no node of the fleet is in region "
            "europe-west4)",
        ),
    ],
)
def test_regions_and_zones_map_where_the_fleet_has_nodes(tmp_path, place, rule, warning):
    text = f"resources:\n  {place}\n  cpus: 2\n  memory: 8\n"
    result = import_skypilot([task(tmp_path, text)], FLEET)
    workload = result.document["workloads"][-1]
    assert {k: workload[k] for k in ("zones", "regions") if k in workload} == rule
    texts = [str(w) for w in result.warnings]
    if warning is None:
        assert texts == []
    elif warning.startswith("cloud"):
        assert texts == [
            f"tasks/task.yaml: resources.infra: {warning}: not carried over (the fleet's nodes "
            f"have no cloud; its {next(iter(rule))} are)"
        ]
    else:
        assert texts == [f"tasks/task.yaml: resources.infra: {warning}"]


def test_a_multi_node_service_replica_is_not_a_gang(tmp_path):
    text = (
        "num_nodes: 2\nservice:\n  readiness_probe: /\n  replicas: 2\n"
        "resources:\n  accelerators: L4\n  cpus: 2\n  memory: 8\n"
    )
    result = import_skypilot([task(tmp_path, text)], FLEET)
    workload = result.document["workloads"][-1]
    assert workload["replicas"] == {"min": 4, "max": 4}
    assert workload["spread"] == [{"across": "node", "max_per_domain": 1}]
    assert "gang" not in workload
    assert [str(w) for w in result.warnings] == [
        "tasks/task.yaml: num_nodes: each service replica is 2 nodes launched together: not "
        "carried over (a gang would bind all replicas of the service together)"
    ]


def problems_of(tmp_path: Path, *texts: str, fleet: Path = FLEET) -> list[str]:
    paths = [task(tmp_path, text, f"t{k}.yaml") for k, text in enumerate(texts)]
    with pytest.raises(InputError) as caught:
        import_skypilot(paths, fleet)
    return [str(p) for p in caught.value.problems]


def test_bad_tasks(tmp_path):
    found = problems_of(
        tmp_path,
        "resources:\n  accelerators: tpu-v4-8\n",
        "resources:\n  cpus: lots\n  memory: 12 parsecs\n",
        "num_nodes: 0\nresources:\n  accelerators: H100:many\n",
        "- just\n- a list\n",
    )
    assert found[0].startswith(
        "t0.yaml:2:3: tasks/t0.yaml: resources.accelerators: unknown accelerator 'tpu-v4-8'; "
        "allocator's GPU types are H100, H100-PCIE"
    )
    assert found[0].endswith("(add it under gpu_types in the fleet inventory)")
    assert found[1:] == [
        "t1.yaml:2:3: tasks/t1.yaml: resources.cpus: expected a size such as '4+' or '8', got "
        "'lots'",
        "t1.yaml:3:3: tasks/t1.yaml: resources.memory: expected a size such as '32+', '64' or "
        "'64GB', got '12 parsecs'",
        "t2.yaml:1:1: tasks/t2.yaml: num_nodes: expected a whole number >= 1, got 0",
        "t2.yaml:3:3: tasks/t2.yaml: resources.accelerators: expected a positive count for "
        "'H100', got 'many'",
        "t3.yaml:1:1: tasks/t3.yaml: expected a mapping, got a list",
    ]


def test_task_names_must_not_clash_with_the_fleet(tmp_path):
    found = problems_of(tmp_path, "name: notebooks\nresources:\n  cpus: 1\n  memory: 1\n")
    assert found == [
        f"t0.yaml:1:1: tasks/t0.yaml: name: workload id 'notebooks' is already used in {FLEET}; "
        "rename the task"
    ]


def test_bad_fleet_is_reported_as_the_loader_does(tmp_path):
    (tmp_path / "fleet.yaml").write_text("version: 1\nnodes: []\n")
    found = problems_of(tmp_path, "resources:\n  cpus: 1\n", fleet=Path("fleet.yaml"))
    assert found == ["fleet.yaml:2:1: nodes: expected at least 1 entry, got an empty list"]


def test_cli_adds_tasks_to_a_fleet(tmp_path):
    runner = CliRunner()
    result = runner.invoke(import_app, ["skypilot", str(FLEET), *map(str, TASKS), "-o", "lab.yaml"])
    assert result.exit_code == 0, result.output
    assert "inventory written to lab.yaml: 4 nodes, 6 workloads, 5 warnings" in result.output
    assert "warning: tasks/eval.yaml: resources.infra: runs only in gcp/us-central1" in (
        result.output
    )
    assert [w.id for w in load_inventory("lab.yaml").workloads] == [
        "notebooks",
        "llama-finetune",
        "llama-8b-serve",
        "eval-harness",
        "preprocess",
        "embed-corpus",
    ]
    solved = runner.invoke(app, ["solve", "lab.yaml", "-o", "lab.plan.json", "-q"])
    assert solved.exit_code == 0, solved.output


def test_cli_bad_task_exits_2_and_writes_nothing(tmp_path):
    path = task(tmp_path, "resources:\n  accelerators: Gaudi3:8\n")
    result = CliRunner().invoke(import_app, ["skypilot", str(FLEET), str(path), "-o", "out.yaml"])
    assert result.exit_code == 2
    assert (
        "error: task.yaml:2:3: tasks/task.yaml: resources.accelerators: unknown accelerator "
        "'Gaudi3'" in result.output
    )
    assert not Path("out.yaml").exists()


def test_bad_kind_and_priority_labels(tmp_path):
    found = problems_of(
        tmp_path,
        "resources:\n  cpus: 1\n  memory: 1\n  labels:\n"
        "    allocator.io/kind: serving\n    allocator.io/priority: high\n",
    )
    assert found == [
        "t0.yaml:5:5: tasks/t0.yaml: resources.labels.allocator.io/kind: expected one of "
        "training, inference, batch, got 'serving'",
        "t0.yaml:6:5: tasks/t0.yaml: resources.labels.allocator.io/priority: expected a whole "
        "number 1..1,000,000, got 'high'",
    ]
