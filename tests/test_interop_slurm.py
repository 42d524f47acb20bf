"""Slurm import and export: hostlists, scontrol records, GRES/TRES, the sample cluster
field by field, a plan on it, the node lists applied and re-imported, bad input."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from allocator.domain.build import build_domain
from allocator.interop.slurm.hostlist import HostlistError, compress_hostlist, expand_hostlist
from allocator.interop.slurm.importer import export_slurm, import_slurm
from allocator.interop.slurm.nodes import records, split_fields
from allocator.interop.slurm.tres import (
    Gres,
    SlurmFormatError,
    memory_mib,
    parse_gres,
    parse_tres,
    per_node_gres_gpus,
    tres_gpus,
)
from allocator.inventory.load import load_inventory
from allocator.io.errors import InputError
from allocator.output.plan import InventoryRef
from allocator.solve.pipeline import solve_domain
from cli.interop import export_app, import_app
from cli.main import app

DATA = ROOT / "tests" / "data" / "slurm"
NODES, JOBS, PRICES = DATA / "scontrol_show_node.txt", DATA / "squeue.json", DATA / "prices.csv"


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


# --- hostlists ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "hosts"),
    [
        ("gpu-[01-04,07]", ["gpu-01", "gpu-02", "gpu-03", "gpu-04", "gpu-07"]),
        ("node[1-3]", ["node1", "node2", "node3"]),
        ("node[9-11]", ["node9", "node10", "node11"]),
        ("gpu-01", ["gpu-01"]),
        ("a[1-2],b3,c[08-09]", ["a1", "a2", "b3", "c08", "c09"]),
        ("r[1-2]n[01-02]", ["r1n01", "r1n02", "r2n01", "r2n02"]),
        ("cpu-[001-002]", ["cpu-001", "cpu-002"]),
    ],
)
def test_hostlists_expand(expression, hosts):
    assert expand_hostlist(expression) == hosts


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty hostlist expression"),
        ("gpu-[01-04", "'[' is never closed in 'gpu-[01-04'"),
        ("gpu-01]", "']' without '[' at position 7 in 'gpu-01]'"),
        ("gpu-[04-01]", "range '04-01' runs backwards in 'gpu-[04-01]'"),
        ("gpu-[a-b]", "expected a number or a range such as 01-04 inside brackets, got 'a-b'"),
        ("gpu-[]", "empty brackets '[]' in 'gpu-[]'"),
        ("gpu-01,,gpu-02", "empty host name in 'gpu-01,,gpu-02'"),
        ("gpu-[[1]]", "nested '[' at position 6 in 'gpu-[[1]]'"),
    ],
)
def test_malformed_hostlists(expression, message):
    with pytest.raises(HostlistError) as caught:
        expand_hostlist(expression)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("hosts", "expression"),
    [
        (["gpu-07", "gpu-01", "gpu-02", "gpu-03", "gpu-04"], "gpu-[01-04,07]"),
        (["node10", "node9", "node11"], "node[9-11]"),
        (["gpu-01"], "gpu-01"),
        (["login", "gpu-02", "gpu-01", "cpu-1"], "cpu-1,gpu-[01-02],login"),
        (["gpu-1", "gpu-01"], "gpu-01,gpu-1"),
    ],
)
def test_hostlists_compress(hosts, expression):
    assert compress_hostlist(hosts) == expression
    assert sorted(expand_hostlist(expression)) == sorted(set(hosts))


# --- scontrol records, GRES and TRES ----------------------------------------------------


def test_values_with_spaces_are_kept_whole():
    line = (
        "NodeName=gpu-9 CPUTot=8 OS=Linux 6.1.0 #1 SMP PREEMPT_DYNAMIC RealMemory=64000 "
        "State=DOWN+DRAIN Partitions=gpu Reason=gpu xid=79 on GPU 3 [root@2025-03-09T07:12:44] "
        "Comment=(null)"
    )
    assert dict(split_fields(line)) == {
        "NodeName": "gpu-9",
        "CPUTot": "8",
        "OS": "Linux 6.1.0 #1 SMP PREEMPT_DYNAMIC",
        "RealMemory": "64000",
        "State": "DOWN+DRAIN",
        "Partitions": "gpu",
        "Reason": "gpu xid=79 on GPU 3 [root@2025-03-09T07:12:44]",
        "Comment": "(null)",
    }


def test_the_indented_form_is_read_too():
    text = (
        "NodeName=gpu-a100-01 Arch=x86_64 CoresPerSocket=32\n"
        "   CPUAlloc=0 CPUEfctv=128 CPUTot=128 CPULoad=0.60\n"
        "   OS=Linux 6.18.44-fc-v595 #1 SMP PREEMPT_DYNAMIC @0\n"
        "   RealMemory=1031000 AllocMem=0 FreeMem=21593 Sockets=2 Boards=1\n"
        "\n"
        "NodeName=gpu-a100-02 CPUTot=128\n"
        "   RealMemory=1031000\n"
    )
    found = records(text)
    assert [line for line, _ in found] == [1, 6]
    first = dict(split_fields(found[0][1]))
    assert first["OS"] == "Linux 6.18.44-fc-v595 #1 SMP PREEMPT_DYNAMIC @0"
    assert first["CPUEfctv"] == "128" and first["RealMemory"] == "1031000"


def test_a_real_slurm_22_05_record(tmp_path):
    """`scontrol show node` as Slurm 22.05 prints it (indented; GRES not registered)."""
    (tmp_path / "nodes.txt").write_text(
        "NodeName=gpu-a100-01 Arch=x86_64 CoresPerSocket=32\n"
        "   CPUAlloc=0 CPUEfctv=128 CPUTot=128 CPULoad=0.60\n"
        "   AvailableFeatures=a100,sxm4,80gb\n"
        "   ActiveFeatures=a100,sxm4,80gb\n"
        "   Gres=(null)\n"
        "   NodeAddr=127.0.0.1 NodeHostName=localhost Version=22.05.8\n"
        "   OS=Linux 6.18.44-fc-v595 #1 SMP PREEMPT_DYNAMIC @0\n"
        "   RealMemory=1031000 AllocMem=0 FreeMem=21593 Sockets=2 Boards=1\n"
        "   State=IDLE ThreadsPerCore=2 TmpDisk=0 Weight=10 Owner=N/A MCS_label=N/A\n"
        "   Partitions=gpu,a100\n"
        "   BootTime=2026-11-21T09:02:36 SlurmdStartTime=2026-11-21T09:09:12\n"
        "   LastBusyTime=2026-11-21T09:09:12\n"
        "   CfgTRES=cpu=128,mem=1031000M,billing=128\n"
        "   AllocTRES=\n"
        "   CapWatts=n/a\n"
        "   CurrentWatts=0 AveWatts=0\n"
        "   ExtSensorsJoules=n/s ExtSensorsWatts=0 ExtSensorsTemp=n/s\n"
    )
    (tmp_path / "jobs.json").write_text('{"jobs": []}')
    result = import_slurm("nodes.txt", "jobs.json")
    assert result.document["nodes"] == [
        {
            "id": "gpu-a100-01",
            "cpus": 128,
            "ram_gib": 1031000 / 1024,
            "cost_per_hour": 0,
            "labels": {
                "slurm/partitions": "gpu,a100",
                "slurm/features": "a100,sxm4,80gb",
                "partition.gpu": "true",
                "partition.a100": "true",
                "feature.a100": "true",
                "feature.sxm4": "true",
                "feature.80gb": "true",
            },
        }
    ]
    assert result.nodes[0].fields["OS"] == "Linux 6.18.44-fc-v595 #1 SMP PREEMPT_DYNAMIC @0"
    assert result.nodes[0].schedulable


@pytest.mark.parametrize(
    ("text", "gres"),
    [
        ("gpu:a100:8", [Gres("gpu", "a100", 8)]),
        ("gpu:8(S:0-1)", [Gres("gpu", None, 8, "S:0-1")]),
        (
            "gpu:h100:8(S:0-1),shard:h100:64(S:0-1)",
            [Gres("gpu", "h100", 8, "S:0-1"), Gres("shard", "h100", 64, "S:0-1")],
        ),
        ("gpu:tesla:no_consume:2", [Gres("gpu", "tesla", 2)]),
        ("mps:1K", [Gres("mps", None, 1024)]),
        ("gpu:4(S:0,2)", [Gres("gpu", None, 4, "S:0,2")]),
        ("(null)", []),
    ],
)
def test_gres(text, gres):
    assert parse_gres(text) == gres


def test_tres_and_memory():
    tres = parse_tres("cpu=32,mem=256G,node=1,billing=32,gres/gpu=8")
    assert tres == {"cpu": "32", "mem": "256G", "node": "1", "billing": "32", "gres/gpu": "8"}
    assert tres_gpus(tres) == (8, None)
    assert tres_gpus(parse_tres("cpu=8,gres/gpu:a100=8")) == (8, "a100")
    assert tres_gpus(parse_tres("gres/gpu=16,gres/gpu:h100=16")) == (16, "h100")
    assert per_node_gres_gpus("gres/gpu:h100:8") == (8, "h100")
    assert per_node_gres_gpus("gres:gpu:4") == (4, None)
    assert per_node_gres_gpus("cpu:4") is None
    assert memory_mib("256G") == 262144
    assert memory_mib("210304M") == 210304
    assert memory_mib("1T") == 1024**2
    assert memory_mib("500") == 500
    with pytest.raises(SlurmFormatError, match="expected a memory size"):
        memory_mib("lots")
    with pytest.raises(SlurmFormatError, match="expected 'name=value'"):
        parse_tres("cpu=4,gpu")


# --- the sample cluster ---------------------------------------------------------------


def sample():
    return import_slurm(NODES, JOBS, PRICES)


def test_sample_nodes_field_by_field():
    nodes = {n["id"]: n for n in sample().document["nodes"]}
    assert nodes["gpu-h100-01"] == {
        "id": "gpu-h100-01",
        "gpu_type": "H100",  # typed GRES gpu:h100:8
        "gpus": 8,
        "cpus": 192,
        "ram_gib": 2063937 / 1024,  # RealMemory is in MiB ("MB")
        "cost_per_hour": 98.32,  # 8 x 12.29 $/GPU-h
        "labels": {
            "slurm/partitions": "gpu,h100",
            "slurm/features": "h100,hbm3,ib",
            # what a job's partition and features select
            "partition.gpu": "true",
            "partition.h100": "true",
            "feature.h100": "true",
            "feature.hbm3": "true",
            "feature.ib": "true",
        },
    }
    # gres type "a100" refined by the feature "80gb"
    assert [nodes[n]["gpu_type"] for n in ("gpu-a100-01", "gpu-a100-02")] == ["A100-80GB"] * 2
    assert nodes["gpu-a100-01"]["cost_per_hour"] == 40.96
    l4 = nodes["gpu-l4-01"]  # untyped GRES gpu:8, model from the feature "l4"
    assert (l4["gpu_type"], l4["gpus"], l4["cpus"], l4["cost_per_hour"]) == ("L4", 8, 192, 6.4)
    states = {n: e.get("state", "up") for n, e in nodes.items()}
    assert states == {
        "gpu-h100-01": "up",
        "gpu-h100-02": "up",
        "gpu-a100-01": "up",
        "gpu-a100-02": "draining",  # IDLE+DRAIN
        "gpu-l4-01": "down",  # DOWN*
        "cpu-01": "up",
        "gpu-h100-03": "down",  # IDLE+MAINT+RESERVED: in a maintenance reservation
        "gpu-a100-03": "up",
        "gpu-l4-02": "up",
        "cpu-02": "up",
    }
    assert nodes["cpu-01"] == {
        "id": "cpu-01",
        "cpus": 64,
        "ram_gib": (257000 - 2048) / 1024,  # less MemSpecLimit
        "cost_per_hour": 1.536,  # by node name
        "labels": {"slurm/partitions": "cpu", "partition.cpu": "true"},
    }
    assert nodes["cpu-02"]["labels"] == {
        "slurm/partitions": "cpu",
        "slurm/features": "avx512,icelake",
        "partition.cpu": "true",
        "feature.avx512": "true",
        "feature.icelake": "true",
    }
    # job 1008 requires this node by name: it alone gets a node.<name> label
    assert nodes["gpu-l4-02"]["labels"]["node.gpu-l4-02"] == "true"
    assert [n for n, e in nodes.items() if any(k.startswith("node.") for k in e["labels"])] == [
        "gpu-l4-02"
    ]


def test_sample_jobs_field_by_field():
    result = sample()
    workloads = {w["id"]: w for w in result.document["workloads"]}
    assert list(workloads) == [
        "llama-pretrain-1001",
        "eval-sweep-1002",
        "finetune-70b-1003",
        "data-prep-1004",
        "batch-infer-1005",
        "hparam-sweep-1006",
        "mpi-stencil-1007",
        "debug-shell-1008",
    ]  # job 1000 is COMPLETED
    assert workloads["llama-pretrain-1001"] == {
        "id": "llama-pretrain-1001",
        "kind": "batch",
        "priority": 20512,
        "replicas": 2,
        # tres_alloc_str cpu=192,mem=1T over 2 nodes; tres_per_node gres/gpu:h100:8
        "resources": {"gpus": 8, "cpus": 96, "ram_gib": 512},
        "gpu_types": ["H100"],
        "node_selector": {"partition.h100": "true"},
        # one replica per node, all started together
        "spread": [{"across": "node", "max_per_domain": 1}],
        "gang": {},
        "labels": {
            "slurm/job-id": "1001",
            "slurm/state": "RUNNING",
            "slurm/partition": "h100",
            "slurm/user": "alice",
        },
    }
    finetune = workloads["finetune-70b-1003"]
    assert (finetune["replicas"], finetune["resources"], finetune["gpu_types"]) == (
        2,
        {"gpus": 8, "cpus": 64, "ram_gib": 500},
        ["A100-80GB"],  # the GRES type "a100" of the fleet's nodes
    )
    assert (finetune["node_selector"], finetune["spread"], finetune["gang"]) == (
        {"partition.a100": "true"},
        [{"across": "node", "max_per_domain": 1}],
        {},
    )
    data_prep = workloads["data-prep-1004"]
    assert data_prep["resources"] == {"cpus": 16, "ram_gib": 64}
    # partition cpu, and the feature constraint "avx512"
    assert data_prep["node_selector"] == {"partition.cpu": "true", "feature.avx512": "true"}
    assert "gpu_types" not in workloads["batch-infer-1005"]  # untyped gres/gpu:2
    assert workloads["batch-infer-1005"]["resources"]["gpus"] == 2
    assert workloads["batch-infer-1005"]["node_selector"] == {"partition.gpu": "true"}
    assert workloads["hparam-sweep-1006"]["id"] == "hparam-sweep-1006"  # name had a space
    for one_node in ("eval-sweep-1002", "data-prep-1004", "batch-infer-1005"):
        assert not {"spread", "gang", "tenant"} & set(workloads[one_node])
    mpi = workloads["mpi-stencil-1007"]
    assert (mpi["tenant"], mpi["node_selector"]) == ("job-1007", {"partition.cpu": "true"})
    assert result.document["tenants"] == {"job-1007": {"dedicated": True}}  # --exclusive
    assert workloads["debug-shell-1008"]["node_selector"] == {
        "partition.gpu": "true",
        "node.gpu-l4-02": "true",  # required_nodes gpu-l4-02
    }
    assert result.document["current_placement"] == {
        "llama-pretrain-1001": ["gpu-h100-01", "gpu-h100-02"],
        "eval-sweep-1002": ["gpu-a100-01"],
    }
    job = {j.job_id: j for j in result.jobs}["1005"]
    assert (job.state, job.excluded_nodes, job.node_count) == ("PENDING", "gpu-a100-02", 1)
    assert {j.job_id: j.exclusive for j in result.jobs}["1007"] == "true"


def test_sample_warnings():
    assert [str(w) for w in sample().warnings] == [
        "nodes/gpu-h100-02: Gres: shard:h100:64: not planned (only whole GPUs are)",
        "jobs/1005: excluded_nodes: excludes nodes gpu-a100-02: not carried over (node_selector "
        "cannot exclude a node); the plan may place it there",
        "jobs/1006: array_task_string: a pending job array (tasks 0-7): imported as one job",
    ]


def solved():
    result = sample()
    outcome = solve_domain(build_domain(result.inventory), InventoryRef(name="lab"), "highs")
    return result, outcome


def test_sample_solves_to_a_plan_the_checker_accepts():
    _, outcome = solved()
    assert outcome.violations == []
    assert outcome.plan.objective.hard_shortfall == 0
    placed: dict[str, list[str]] = {}
    for p in outcome.plan.placements:
        placed.setdefault(p.workload, []).append(p.node)
    # partition a100 on distinct nodes; gpu-a100-02 is draining, so eval-sweep (partition
    # gpu) must leave gpu-a100-01
    assert sorted(placed["finetune-70b-1003"]) == ["gpu-a100-01", "gpu-a100-03"]
    assert placed["eval-sweep-1002"] == ["gpu-l4-02"]
    assert placed["data-prep-1004"] == ["cpu-02"]  # the node with feature avx512
    assert placed["debug-shell-1008"] == ["gpu-l4-02"]  # the node it requires
    assert placed["mpi-stencil-1007"] == ["cpu-01"]
    alone = [w for w, nodes in placed.items() if "cpu-01" in nodes]
    assert alone == ["mpi-stencil-1007"]  # exclusive: nobody else on its node
    used = {n for nodes in placed.values() for n in nodes}
    assert not used & {"gpu-l4-01", "gpu-h100-03", "gpu-a100-02"}  # down, down, draining


def apply_node_lists(squeue: dict, nodelists: str) -> dict:
    """Jobs started (or requeued and restarted) on the nodes the export lists."""
    doc = copy.deepcopy(squeue)
    jobs = {j["job_id"]: j for j in doc["jobs"]}
    for line in nodelists.splitlines():
        if line.startswith("#"):
            continue
        fields = dict(re.findall(r"(\w+)=(\S+)", line))
        job = jobs[int(fields["JobId"])]
        assert fields["NumNodes"] == fields["Placed"]
        job["nodes"] = fields["NodeList"]
        job["job_state"] = ["RUNNING"]
        job["tres_alloc_str"] = job["tres_req_str"]
    return doc


def test_export_applied_and_reimported_is_the_planned_state(tmp_path):
    result, outcome = solved()
    exported = export_slurm(outcome.plan, result.inventory)
    after = tmp_path / "squeue-after.json"
    after.write_text(
        json.dumps(apply_node_lists(json.loads(JOBS.read_text()), exported.nodelists_text()))
    )
    again = import_slurm(NODES, after, PRICES)
    planned: dict[str, list[str]] = {}
    for p in outcome.plan.placements:
        planned.setdefault(p.workload, []).append(p.node)
    current = {w: sorted(nodes) for w, nodes in again.inventory.current_placement.items()}
    assert current == {w: sorted(nodes) for w, nodes in planned.items()}


def test_export_node_lists_and_script():
    result, outcome = solved()
    exported = export_slurm(outcome.plan, result.inventory)
    lines = exported.nodelists_text().splitlines()
    assert lines[0] == "# Node lists of the Slurm jobs in allocator plan 'lab'."
    assert lines[1] == (
        "JobId=1001 Workload=llama-pretrain-1001 State=RUNNING NumNodes=2 Placed=2 "
        "NodeList=gpu-h100-[01-02]"
    )
    assert lines[3] == (
        "JobId=1003 Workload=finetune-70b-1003 State=PENDING NumNodes=2 Placed=2 "
        "NodeList=gpu-a100-[01,03]"
    )
    script = exported.script_text()
    assert script.startswith("#!/bin/sh\n")
    assert "scontrol update JobId=1003 ReqNodeList=gpu-a100-[01,03]\n" in script
    eval_nodes = next(j for j in exported.jobs if j.job_id == "1002").hostlist
    assert (
        f"# JobId=1002 runs on gpu-a100-01; the plan moves it to {eval_nodes}. A running job "
        "cannot move; to follow the plan:\n"
        f"#   scontrol requeue 1002 && scontrol update JobId=1002 ReqNodeList={eval_nodes}\n"
    ) in script
    assert "JobId=1001" not in script  # kept where it runs
    pending = [line for line in script.splitlines() if line.startswith("scontrol update")]
    assert [line.split()[2] for line in pending] == [
        "JobId=1003",
        "JobId=1004",
        "JobId=1005",
        "JobId=1006",
        "JobId=1007",
        "JobId=1008",
    ]


def test_script_refuses_incomplete_or_shared_node_lists():
    result, outcome = solved()
    placements = [
        p.model_copy(update={"node": "gpu-a100-01"}) if p.workload == "finetune-70b-1003" else p
        for p in outcome.plan.placements
        if p.workload != "data-prep-1004"
    ]
    plan = outcome.plan.model_copy(update={"placements": placements})
    script = export_slurm(plan, result.inventory).script_text()
    assert (
        "# JobId=1003: the plan puts 2 replicas on 1 nodes (gpu-a100-01); Slurm needs 2 "
        "distinct nodes: not pinned"
    ) in script
    assert "# JobId=1004: the plan places it on no node; left as is" in script


def test_priorities_beyond_the_range_are_ranked_not_flattened(tmp_path):
    doc = json.loads(JOBS.read_text())
    job = next(j for j in doc["jobs"] if j["job_id"] == 1006)
    job["priority"] = 4294901759  # the priority/basic plugin counts down from 2^32
    path = tmp_path / "squeue.json"
    path.write_text(json.dumps(doc))
    result = import_slurm(NODES, path, PRICES)
    priorities = {w["id"]: w["priority"] for w in result.document["workloads"]}
    # squeue's order: 1204, 2048, 4096, 8192, 10240, 15360, 20512, 4294901759
    assert priorities == {
        "data-prep-1004": 1,
        "mpi-stencil-1007": 2,
        "debug-shell-1008": 3,
        "batch-infer-1005": 4,
        "eval-sweep-1002": 5,
        "finetune-70b-1003": 6,
        "llama-pretrain-1001": 7,
        "hparam-sweep-1006": 8,
    }
    assert (
        "jobs: priority: squeue's priorities run from 1204 to 4294901759, beyond allocator's "
        "1..1,000,000: each job is planned with the rank of its priority among the 8 distinct "
        "ones (1 for the lowest, 8 for the highest), which keeps their order but not their ratios"
    ) in [str(w) for w in result.warnings]


def test_older_squeue_layout_with_plain_numbers(tmp_path):
    job = {
        "job_id": 77,
        "name": "old",
        "job_state": "RUNNING",
        "partition": "gpu",
        "nodes": "gpu-h100-01",
        "node_count": 1,
        "cpus": 16,
        "tres_req_str": "cpu=16,mem=64G,node=1,billing=16,gres/gpu=2",
        "tres_per_node": "gres:gpu:2",
        "priority": 100,
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"jobs": [job]}))
    result = import_slurm(NODES, path)
    workload = result.document["workloads"][0]
    assert (workload["id"], workload["resources"]) == (
        "old-77",
        {"gpus": 2, "cpus": 16, "ram_gib": 64},
    )
    assert result.document["current_placement"] == {"old-77": ["gpu-h100-01"]}


# --- node states and job constraints ---------------------------------------------------


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("IDLE", "up"),
        ("MIXED", "up"),
        ("ALLOCATED+CLOUD", "up"),
        ("IDLE+DRAIN", "draining"),  # drained
        ("MIXED+DRAIN", "draining"),  # draining: its jobs finish, no new ones start
        ("DRAINED", "draining"),
        ("DRAINING", "draining"),
        ("DOWN", "down"),
        ("DOWN*", "down"),
        ("DOWN+DRAIN", "down"),
        ("IDLE*", "down"),  # not responding
        ("ALLOCATED+NOT_RESPONDING", "down"),
        ("FAIL", "down"),
        ("ALLOCATED+FAIL", "down"),
        ("IDLE+MAINT+RESERVED", "down"),
        ("IDLE$", "down"),  # sinfo's suffix for a maintenance reservation
        ("IDLE+CLOUD+POWERED_DOWN", "down"),
        ("IDLE~", "down"),  # sinfo's suffix for powered off
        ("FUTURE", "down"),
    ],
)
def test_node_states(tmp_path, state, expected):
    (tmp_path / "nodes.txt").write_text(node_line("n-01", State=state) + "\n")
    (tmp_path / "jobs.json").write_text('{"jobs": []}')
    result = import_slurm("nodes.txt", "jobs.json")
    assert result.document["nodes"][0].get("state", "up") == expected
    assert not any(w.field == "State" for w in result.warnings)


def test_a_state_without_an_inventory_state_is_a_warning(tmp_path):
    (tmp_path / "nodes.txt").write_text(
        node_line("n-01", State="IDLE+RESERVED", Reason="reserved-for-demo") + "\n"
    )
    (tmp_path / "jobs.json").write_text('{"jobs": []}')
    result = import_slurm("nodes.txt", "jobs.json")
    assert "state" not in result.document["nodes"][0]
    assert str(result.warnings[0]) == (
        "nodes/n-01: State: IDLE+RESERVED (Reason=reserved-for-demo): not carried over (only "
        "down, drained and draining states have an inventory state); planned as up, so the "
        "plan may place jobs on it"
    )


def pending_job(job_id: int, **fields) -> dict:
    return {
        "job_id": job_id,
        "name": "j",
        "job_state": ["PENDING"],
        "partition": "batch",
        "node_count": {"set": True, "infinite": False, "number": 1},
        "tres_req_str": "cpu=4,mem=16G,node=1",
        **fields,
    }


def job_warnings(result) -> list[str]:
    """The warnings, less the one about nodes without a price (these tests give none)."""
    return [str(w) for w in result.warnings if w.field != "cost_per_hour"]


def imported_jobs(tmp_path, *jobs: dict):
    nodes = [
        node_line(
            "n-01", Partitions="batch", AvailableFeatures="intel,ib", ActiveFeatures="intel,ib"
        ),
        node_line("n-02", Partitions="batch,debug", AvailableFeatures="amd", ActiveFeatures="amd"),
        node_line("n-03", Partitions="batch"),
    ]
    (tmp_path / "nodes.txt").write_text("\n".join(nodes) + "\n")
    (tmp_path / "jobs.json").write_text(json.dumps({"jobs": list(jobs)}))
    return import_slurm("nodes.txt", "jobs.json")


@pytest.mark.parametrize(
    ("constraint", "selected"),
    [
        ("intel", {"feature.intel": "true"}),
        ("intel&ib", {"feature.intel": "true", "feature.ib": "true"}),
        ("intel|amd", None),  # OR
        ("[intel|amd]", None),  # matching OR: one of them for all nodes
        ("intel*2", None),  # a node count
        ("[intel*1&amd*1]", None),
        ("!amd", None),  # negation
        ("(intel&ib)|amd", None),
    ],
)
def test_features_map_when_they_are_a_plain_and(tmp_path, constraint, selected):
    result = imported_jobs(tmp_path, pending_job(7, features=constraint))
    workload = result.document["workloads"][0]
    assert workload["node_selector"] == {"partition.batch": "true", **(selected or {})}
    texts = job_warnings(result)
    if selected:
        assert texts == []
    else:
        assert texts == [
            f"jobs/7: features: constraint {constraint!r} on node features: not carried over "
            "(only a plain AND of feature names, as in 'a&b', is a node_selector; OR, matching "
            "OR [...], counts and negation are not)"
        ]


def test_job_constraints_without_an_exact_rule_are_warnings(tmp_path):
    two = {"set": True, "infinite": False, "number": 2}
    result = imported_jobs(
        tmp_path,
        pending_job(1, partition="batch,debug"),
        pending_job(2, required_nodes="n-[01-02]", node_count=two, tres_req_str="cpu=8,mem=32G"),
        pending_job(3, required_nodes="n-09"),
        pending_job(4, exclusive=["user"]),
        pending_job(5, exclusive=["true"], required_nodes="n-03"),
    )
    workloads = {w["labels"]["slurm/job-id"]: w for w in result.document["workloads"]}
    assert "node_selector" not in workloads["1"]
    assert workloads["2"]["node_selector"] == {"partition.batch": "true"}
    assert (workloads["2"]["spread"], workloads["2"]["gang"]) == (
        [{"across": "node", "max_per_domain": 1}],
        {},
    )
    assert "tenant" not in workloads["4"]
    assert workloads["5"]["tenant"] == "job-5"
    assert workloads["5"]["node_selector"] == {"partition.batch": "true", "node.n-03": "true"}
    assert result.document["tenants"] == {"job-5": {"dedicated": True}}
    assert job_warnings(result) == [
        "jobs/1: partition: runs in any one of partitions batch, debug: not carried over "
        "(node_selector cannot express a choice); the plan may place it outside them",
        "jobs/2: required_nodes: requires nodes n-[01-02]: not carried over (only a one-node "
        "job requiring one known node maps, to node_selector node.<name>)",
        "jobs/3: required_nodes: requires nodes n-09: not carried over (only a one-node job "
        "requiring one known node maps, to node_selector node.<name>)",
        "jobs/4: exclusive: exclusive=user: not carried over (only --exclusive, whole nodes to "
        "itself, is a dedicated tenant)",
    ]
    outcome = solve_domain(build_domain(result.inventory), InventoryRef(name="t"), "highs")
    placed: dict[str, list[str]] = {}
    for p in outcome.plan.placements:
        placed.setdefault(p.workload, []).append(p.node)
    assert len(set(placed["j-2"])) == 2  # distinct nodes
    assert placed["j-5"] == ["n-03"]  # the node it requires, alone (--exclusive)
    assert [w for w, nodes in placed.items() if "n-03" in nodes] == ["j-5"]


# --- bad input ------------------------------------------------------------------------


def node_line(name: str, **fields: str) -> str:
    values = {"CPUTot": "64", "RealMemory": "256000", "State": "IDLE", "Gres": "(null)", **fields}
    return f"NodeName={name} " + " ".join(f"{k}={v}" for k, v in values.items())


def problems_of(tmp_path: Path, nodes: str, jobs: dict | None = None) -> list[str]:
    (tmp_path / "nodes.txt").write_text(nodes)
    (tmp_path / "jobs.json").write_text(json.dumps(jobs or {"jobs": []}, indent=1))
    with pytest.raises(InputError) as caught:
        import_slurm("nodes.txt", "jobs.json")
    return [str(p) for p in caught.value.problems]


def test_bad_node_records(tmp_path):
    nodes = "\n".join(
        [
            node_line("a", CPUTot="many"),
            node_line("b", Gres="gpu:rtx6000:4"),
            node_line("c", Gres="gpu:4"),
            node_line("d", Gres="gpu:a100:4,gpu:v100:2"),
            "Nodes=e CPUTot=4",
        ]
    )
    found = problems_of(tmp_path, nodes + "\n")
    assert found[0] == "nodes.txt:1: nodes/a: CPUTot: expected a whole number, got 'many'"
    assert found[1].startswith(
        "nodes.txt:2: nodes/b: Gres: GPU type 'rtx6000' matches no GPU in allocator's catalog ("
    )
    assert found[2] == (
        "nodes.txt:3: nodes/c: Gres: the GPU model is unknown: gpu:4 has no type (as in "
        "gpu:a100:8), no feature (none) names a GPU in allocator's catalog; map the node or one "
        "of its features in a --gpu-map file (e.g. 'c: A100-80GB')"
    )
    assert found[3] == (
        "nodes.txt:4: nodes/d: Gres: GPUs of 2 types on one node (a100, v100); allocator plans "
        "one GPU type per node"
    )
    assert (
        found[4] == "nodes.txt:5: expected a record starting with NodeName=, got 'Nodes=e CPUTot=4'"
    )


def test_empty_node_dump(tmp_path):
    assert problems_of(tmp_path, "\n") == [
        "nodes.txt: no nodes: expected the output of 'scontrol show node -o'"
    ]


def test_bad_jobs(tmp_path):
    jobs = {
        "jobs": [
            {
                "job_id": 5,
                "job_state": ["RUNNING"],
                "nodes": "n-[01-",
                "tres_req_str": "cpu=4,mem=1G",
            },
            {
                "job_id": 6,
                "job_state": ["RUNNING"],
                "nodes": "ghost-01",
                "tres_req_str": "cpu=4,mem=1G",
            },
            {"job_id": 7, "job_state": ["PENDING"], "tres_req_str": "cpu=4"},
            {
                "job_id": 8,
                "job_state": "PENDING",
                "tres_req_str": "cpu=4,mem=1G,gres/gpu:rtx6000=1",
            },
            {"job_state": "PENDING"},
        ]
    }
    found = problems_of(tmp_path, node_line("n-01") + "\n", jobs)
    assert found == [
        "jobs.json:8:4: jobs/5: nodes: '[' is never closed in 'n-[01-'",
        "jobs.json:16:4: jobs/6: nodes: the job runs on ghost-01, not in the nodes input",
        "jobs.json:24:4: jobs/7: tres_req_str: no memory request: neither mem= in the TRES nor "
        "memory_per_node/_cpu",
        "jobs.json:26:3: jobs/8: tres_per_node: GPU type 'rtx6000' is the GRES type of no node "
        "and matches no GPU in allocator's catalog; map it in a --gpu-map file",
        "jobs.json:31:3: jobs[4]: job_id: expected a job id, got nothing",
    ]


def test_not_squeue_json(tmp_path):
    found = problems_of(tmp_path, node_line("n-01") + "\n", {"nodes": []})
    assert found == [
        "jobs.json:1:1: expected the output of 'squeue --json' (with a 'jobs' list), got no "
        "jobs key"
    ]


# --- command line ---------------------------------------------------------------------


def test_cli_import_solve_export(tmp_path):
    runner = CliRunner()
    imported = runner.invoke(
        import_app,
        [
            "slurm",
            str(NODES),
            str(JOBS),
            "--prices",
            str(PRICES),
            "-o",
            "lab.yaml",
        ],
    )
    assert imported.exit_code == 0, imported.output
    assert "inventory written to lab.yaml: 10 nodes, 8 workloads, 3 warnings" in imported.output
    assert load_inventory("lab.yaml").name == "lab"
    solved = runner.invoke(app, ["solve", "lab.yaml", "-o", "lab.plan.json", "-q"])
    assert solved.exit_code == 0, solved.output
    exported = runner.invoke(
        export_app, ["slurm", "lab.yaml", "lab.plan.json", "-o", "nodelists.txt"]
    )
    assert exported.exit_code == 0, exported.output
    assert Path("nodelists.txt").read_text().startswith("# Node lists of the Slurm jobs")
    script = Path("nodelists.sh")
    assert script.read_text().startswith("#!/bin/sh") and script.stat().st_mode & 0o111


def test_cli_export_needs_an_imported_slurm_inventory(tmp_path):
    runner = CliRunner()
    plan = tmp_path / "tiny.plan.json"
    runner.invoke(app, ["solve", str(ROOT / "instances" / "tiny.yaml"), "-o", str(plan), "-q"])
    result = runner.invoke(
        export_app,
        ["slurm", str(ROOT / "instances" / "tiny.yaml"), str(plan), "-o", "x.txt"],
    )
    assert result.exit_code == 2
    assert "the inventory has no Slurm jobs (workloads labelled 'slurm/job-id')" in result.output
    assert not Path("x.txt").exists()


# --- untyped GRES, the site's own GRES types, --gpu-map, squeue's priority spread ------

UNTYPED = DATA / "untyped_nodes.txt"
UNTYPED_MAP = DATA / "untyped_gpu_map.yaml"
PRIORITIES = DATA / "squeue_priorities.json"


def test_untyped_and_unknown_gres_need_a_gpu_map():
    with pytest.raises(InputError) as caught:
        import_slurm(UNTYPED, PRIORITIES)
    catalog = "H100, H100-PCIE, H200, B200, A100-80GB, A100, L40S, L4, A10G, A10, T4, V100, "
    catalog += "V100-32GB, P100, MI300X"
    assert [str(p) for p in caught.value.problems] == [
        f"{UNTYPED}:1: nodes/dgx-01: Gres: the GPU model is unknown: gpu:8 has no type (as in "
        "gpu:a100:8), no feature (ib, nvlink) names a GPU in allocator's catalog; map the node "
        "or one of its features in a --gpu-map file (e.g. 'dgx-01: A100-80GB')",
        f"{UNTYPED}:2: nodes/dgx-02: Gres: the GPU model is unknown: gpu:8 has no type (as in "
        "gpu:a100:8), no feature (ib, nvlink) names a GPU in allocator's catalog; map the node "
        "or one of its features in a --gpu-map file (e.g. 'dgx-02: A100-80GB')",
        f"{UNTYPED}:3: nodes/ws-01: Gres: GPU type 'rtx6000' matches no GPU in allocator's "
        f"catalog ({catalog}); map it, with the memory of one GPU, in a --gpu-map file (e.g. "
        "'rtx6000: {gpu_type: RTX6000, memory_gib: 48}')",
        f"{UNTYPED}:4: nodes/ws-02: Gres: GPU type 'rtx6000' matches no GPU in allocator's "
        f"catalog ({catalog}); map it, with the memory of one GPU, in a --gpu-map file (e.g. "
        "'rtx6000: {gpu_type: RTX6000, memory_gib: 48}')",
    ]


def test_the_gpu_map_names_untyped_and_unknown_gres():
    result = import_slurm(UNTYPED, PRIORITIES, gpu_map_path=UNTYPED_MAP)
    assert {n["id"]: (n.get("gpu_type"), n.get("gpus", 0)) for n in result.document["nodes"]} == {
        "dgx-01": ("H100", 8),  # gpu:8, mapped by the hostlist dgx-[01-02]
        "dgx-02": ("H100", 8),
        "ws-01": ("RTX6000", 4),  # gpu:rtx6000:4, mapped by its GRES type
        "ws-02": ("RTX6000", 4),
        "a100-01": ("A100", 8),  # gpu:a100:8, no feature says 80 GB: the 40 GB A100 (a warning)
        "a100-02": ("A100", 8),
        "a100-03": ("A100-80GB", 8),  # the feature a100_80gb says it
        "cloud-p4d-01": ("A100", 8),  # gpu:8 on a cloud node: InstanceType=p4d.24xlarge
        "l4-01": ("L4", 4),  # gpu:4 with the feature l4
        "cpu-01": (None, 0),
    }
    assert result.document["gpu_types"] == {"RTX6000": {"memory_gib": 24}}
    sources = {n.name: n.gpu.source for n in result.nodes if n.gpu}
    assert (sources["dgx-01"], sources["ws-01"], sources["cloud-p4d-01"]) == (
        "--gpu-map entry 'dgx-[01-02]'",
        "--gpu-map entry 'rtx6000'",
        "InstanceType",
    )
    workloads = {w["id"]: w for w in result.document["workloads"]}
    assert workloads["ft-rtx-2002"]["gpu_types"] == ["RTX6000"]  # tres_per_node gres/gpu:rtx6000:2
    assert [str(w) for w in result.warnings if w.field == "Gres"] == [
        "nodes/a100-01, nodes/a100-02: Gres: gpu:a100 does not say which A100 these are: planned "
        "as A100 (40 GiB), not A100-80GB (80 GiB); to override, add a feature that says the "
        "memory (80gb) to the nodes, or map them in a --gpu-map file (e.g. 'a100: A100-80GB')"
    ]
    outcome = solve_domain(build_domain(result.inventory), InventoryRef(name="mixed"), "highs")
    assert outcome.violations == []
    placed = {p.workload: p.node for p in outcome.plan.placements}
    assert placed["ft-rtx-2002"] in ("ws-01", "ws-02")


def test_the_gpu_map_settles_what_the_gres_leaves_open(tmp_path):
    gpu_map = tmp_path / "gpus.yaml"
    gpu_map.write_text(UNTYPED_MAP.read_text() + "a100: A100-80GB\n")
    result = import_slurm(UNTYPED, PRIORITIES, gpu_map_path=gpu_map)
    types = {n["id"]: n.get("gpu_type") for n in result.document["nodes"]}
    assert [types[n] for n in ("a100-01", "a100-02", "a100-03")] == ["A100-80GB"] * 3
    assert not [w for w in result.warnings if w.field == "Gres"]
    # a feature that says the memory does it too, without a map
    nodes = tmp_path / "nodes.txt"
    nodes.write_text(node_line("a100-09", Gres="gpu:a100:8", AvailableFeatures="a100,80gb") + "\n")
    (tmp_path / "jobs.json").write_text('{"jobs": []}')
    assert import_slurm(nodes, "jobs.json").document["nodes"][0]["gpu_type"] == "A100-80GB"


def test_squeue_priorities_keep_their_order():
    result = import_slurm(UNTYPED, PRIORITIES, gpu_map_path=UNTYPED_MAP)
    squeue = {
        str(j["job_id"]): j["priority"]["number"]
        for j in json.loads(PRIORITIES.read_text())["jobs"]
    }
    planned = {w["labels"]["slurm/job-id"]: w["priority"] for w in result.document["workloads"]}
    assert squeue == {
        "2001": 4294901757,
        "2002": 4294901000,
        "2003": 100,
        "2004": 1,
        "2005": 4294901000,
        "2006": 0,  # held
    }
    # dense ranks: 0 -> 1, 1 -> 2, 100 -> 3, 4294901000 -> 4, 4294901757 -> 5
    assert planned == {"2001": 5, "2002": 4, "2003": 3, "2004": 2, "2005": 4, "2006": 1}
    for a in squeue:
        for b in squeue:
            assert (squeue[a] < squeue[b]) == (planned[a] < planned[b])
    assert [str(w) for w in result.warnings if w.field == "priority"] == [
        "jobs: priority: squeue's priorities run from 0 to 4294901757, beyond allocator's "
        "1..1,000,000: each job is planned with the rank of its priority among the 5 distinct "
        "ones (1 for the lowest, 5 for the highest), which keeps their order but not their ratios"
    ]


def test_cli_import_with_a_gpu_map(tmp_path):
    runner = CliRunner()
    args = ["slurm", str(UNTYPED), str(PRIORITIES), "-o", "mixed.yaml"]
    refused = runner.invoke(import_app, args)
    assert refused.exit_code == 2
    assert "error: " in refused.output and "nodes/dgx-01: Gres: the GPU model is unknown" in (
        refused.output
    )
    assert "Traceback" not in refused.output and not Path("mixed.yaml").exists()
    imported = runner.invoke(import_app, [*args, "--gpu-map", str(UNTYPED_MAP)])
    assert imported.exit_code == 0, imported.output
    assert "inventory written to mixed.yaml: 10 nodes, 6 workloads, 3 warnings" in imported.output
    assert load_inventory("mixed.yaml").gpu_types["RTX6000"].memory_gib == 24
    bad_map = tmp_path / "bad.yaml"
    bad_map.write_text("rtx6000: {gpu_type: RTX6000, memory_gib: -24}\n")
    rejected = runner.invoke(import_app, [*args, "--gpu-map", str(bad_map)])
    assert rejected.exit_code == 2
    assert (
        f"error: {bad_map}:1:30: rtx6000: memory_gib: expected the memory of one GPU in GiB (a "
        "number > 0), got -24"
    ) in rejected.output
