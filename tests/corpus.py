"""Malformed and hostile inputs for every command and importer, each with the exit code
and the message fragment it must give (run by test_corpus.py, each in a process of its
own under a time and memory cap)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parent / "data"
INSTANCES = Path(__file__).resolve().parents[1] / "instances"

Content = str | bytes | Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    name: str
    args: list[str]  # "{d}" stands for the case's folder
    code: int
    fragment: str
    files: dict[str, Content] = field(default_factory=dict)
    kind: str = "inventory"  # what the case is about, for the summary in docs/reliability.md


def node(**extra: object) -> dict:
    return {
        "id": "n",
        "gpus": 8,
        "gpu_type": "H100",
        "cpus": 64,
        "ram_gib": 512,
        "cost_per_hour": 10,
        **extra,
    }


def load(**extra: object) -> dict:
    return {
        "id": "w",
        "replicas": {"min": 1, "max": 2},
        "resources": {"gpus": 1, "cpus": 4, "ram_gib": 16},
        **extra,
    }


def inventory(nodes: list | None = None, workloads: list | None = None, **extra: object) -> str:
    doc = {"version": 1, "nodes": nodes or [node()], "workloads": workloads or [load()], **extra}
    return yaml.safe_dump(doc, sort_keys=False)


def solve(text: Content, code: int, fragment: str, name: str, *more: str) -> Case:
    return Case(
        name,
        ["solve", "{d}/inv.yaml", "-o", "{d}/p.json", "-q", *more],
        code,
        fragment,
        {"inv.yaml": text},
    )


def alias_bomb(depth: int = 10) -> str:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, depth)]
    return "\n".join(lines) + "\n" + inventory()


def valid_plan(folder: Path) -> None:
    """A plan of tiny.yaml, made by the program itself."""
    import subprocess
    import sys

    subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "solve",
            str(INSTANCES / "tiny.yaml"),
            "-o",
            str(folder / "plan.json"),
            "-q",
            "-s",
            "greedy",
        ],
        check=True,
        capture_output=True,
        cwd=INSTANCES.parent,
    )


def tampered_plan(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def make(folder: Path) -> None:
        valid_plan(folder)
        plan = json.loads((folder / "plan.json").read_text())
        change(plan)
        (folder / "plan.json").write_text(json.dumps(plan))

    return make


def copy_of(path: Path, edit: Callable[[str], str] = lambda text: text) -> Content:
    return edit(path.read_text())


TINY = (INSTANCES / "tiny.yaml").read_text()
K8S_NODES = DATA / "kubernetes" / "nodes.json"
K8S_PODS = DATA / "kubernetes" / "pods.json"
SLURM_NODES = DATA / "slurm" / "scontrol_show_node.txt"
SLURM_JOBS = DATA / "slurm" / "squeue.json"
OPENB_NODES = DATA / "openb" / "openb_node_list_all_node.csv"
OPENB_PODS = DATA / "openb" / "openb_pod_list_sample.csv"
ROADEF_MODEL = DATA / "roadef" / "model_example.txt"
ROADEF_ASSIGNMENT = DATA / "roadef" / "assignment_example.txt"
REBALANCE = INSTANCES / "rebalance.yaml"


def nested(depth: int) -> str:
    return "version: 1\nnodes: " + "[" * depth + "]" * depth + "\nworkloads: []\n"


CASES: list[Case] = [
    # ---- syntax and bounds of any YAML or JSON file
    solve("version: 1\nnodes: [\n", 2, "malformed YAML", "unclosed list"),
    Case(
        "malformed json",
        ["validate", "{d}/inv.json"],
        2,
        "malformed JSON",
        {"inv.json": '{"version": 1, "nodes": [}'},
    ),
    solve("", 2, "file is empty", "empty file"),
    solve("# only a comment\n", 2, "file is empty", "only a comment"),
    solve(b"\x89PNG\r\n\x1a\n\x00\x00", 2, "not UTF-8 text", "binary file"),
    solve(b"version: 1\nnodes: []\x00\n", 2, "character code 0 is not allowed", "nul byte"),
    solve(alias_bomb(), 2, "more than 2,000,000 values once its aliases", "alias bomb"),
    solve(
        "version: 1\nnodes: &n [*n]\nworkloads: []\n",
        2,
        "refers to a value that contains",
        "self-referencing alias",
    ),
    solve(nested(200), 2, "nest more than 64 levels", "deep nesting"),
    solve(nested(100_000), 2, "nest more than 64 levels", "very deep nesting"),
    solve("- just\n- a list\n", 2, "not an inventory", "a list"),
    solve("version: 1\nversion: 2\n", 2, "appears twice", "duplicate key"),
    Case(
        "json nested deep",
        ["validate", "{d}/inv.json"],
        2,
        "nest more than 64 levels",
        {"inv.json": '{"a": ' + "[" * 5000 + "]" * 5000 + "}"},
    ),
    Case("missing file", ["validate", "{d}/nope.yaml"], 2, "file not found"),
    Case("a folder", ["validate", "{d}"], 2, "is a directory"),
    # ---- schema: types, ranges, finite numbers
    solve(inventory(version=2), 2, "version", "wrong version"),
    solve(
        inventory([node(cpus=-4)]),
        2,
        'nodes["n"].cpus: expected a positive number',
        "negative cpus",
    ),
    solve(inventory([node(ram_gib=float("inf"))]), 2, "expected a finite number", "ram inf"),
    solve(inventory([node(cost_per_hour=float("nan"))]), 2, "expected a finite number", "cost nan"),
    solve(inventory([node(ram_gib=1e308)]), 2, "expected a number <= 1,000,000,000", "ram 1e308"),
    solve(inventory([node(cost_per_hour=1e300)]), 2, "<= 1,000,000,000", "cost 1e300"),
    solve(inventory([node(gpus=2**70)]), 2, "expected a number <= 128", "gpus 2**70"),
    solve(inventory([node(count=100_000_000)]), 2, "<= 200,000", "count 1e8"),
    solve(inventory([node(count=2**70)]), 2, "<= 200,000", "count 2**70"),
    solve(
        inventory([node(id=f"g{i}", count=150_000) for i in range(2)]),
        2,
        "300,000 nodes in all",
        "too many nodes",
    ),
    solve(
        inventory(workloads=[load(replicas={"min": 0, "max": 10**9})]),
        2,
        "<= 1,000,000",
        "replicas 1e9",
    ),
    solve(
        inventory(workloads=[load(id=f"w{i}", replicas=900_000) for i in range(3)]),
        2,
        "2,700,000 replicas wanted in all",
        "too many replicas",
    ),
    solve(
        inventory(
            workloads=[
                load(replicas=None, throughput={"target": 1e9, "per_replica": {"H100": 0.001}})
            ]
        ),
        2,
        "the target needs",
        "target explosion",
    ),
    solve(
        inventory(workloads=[load(replicas={"min": 3, "max": 2})]),
        2,
        "min (3) is greater",
        "min above max",
    ),
    solve(inventory([node(gpus="eight")]), 2, "expected a whole number", "gpus as text"),
    solve(inventory([node(colour="blue")]), 2, "unknown field 'colour'", "unknown field"),
    solve(inventory([node(gpu_type="H1OO")]), 2, "unknown GPU type 'H1OO'", "unknown gpu type"),
    solve(
        inventory([node(gpu_type=None)]),
        2,
        "missing required field 'gpu_type'",
        "gpus without type",
    ),
    solve(inventory([node(), node()]), 2, "duplicate", "duplicate node id"),
    solve(inventory(workloads=[load(), load()]), 2, "duplicate", "duplicate workload id"),
    solve(
        inventory(workloads=[load(resources={"gpus": 1, "cpus": 4, "ram_gib": 1e12})]),
        2,
        "<= 1,000,000,000",
        "replica ram huge",
    ),
    solve(inventory(workloads=[load(priority=0)]), 2, "priority", "priority zero"),
    solve(
        inventory(workloads=[load(throughput={"target": 5, "per_replica": {"H100": -1}})]),
        2,
        "per_replica",
        "negative rate",
    ),
    solve(
        inventory(workloads=[load(storage={"size_tb": 5, "tier": "tape"})]),
        2,
        "tier",
        "unknown tier",
    ),
    # ---- cross references and rules
    solve(
        inventory(workloads=[load(affinity=[{"workload": "ghost"}])]),
        2,
        "unknown workload 'ghost'",
        "affinity to unknown",
    ),
    solve(
        inventory(workloads=[load(anti_affinity=[{"workload": "w"}])]),
        2,
        "relative to itself",
        "anti-affinity to itself",
    ),
    solve(
        inventory(workloads=[load(spread=[{"across": "rack", "max_per_domain": 1}])]),
        2,
        "no node has a rack",
        "spread over missing racks",
    ),
    solve(
        inventory(workloads=[load(survive="zone")]),
        2,
        "no node has a zone",
        "survive missing zones",
    ),
    solve(
        inventory(workloads=[load(replicas=2, survive="node")]),
        2,
        "raise replicas.max",
        "survive without spare",
    ),
    solve(
        inventory(workloads=[load(gang={"within": "fabric"})]),
        2,
        "no node has a fabric",
        "gang in missing fabric",
    ),
    solve(
        inventory(workloads=[load(priority_class="gold")]),
        2,
        "unknown priority class",
        "unknown class",
    ),
    solve(
        inventory(current_placement={"w": ["ghost-node"]}),
        2,
        "unknown node 'ghost-node'",
        "current on unknown node",
    ),
    solve(
        inventory(current_placement={"ghost": ["n"]}),
        2,
        "unknown workload 'ghost'",
        "current of unknown workload",
    ),
    solve(inventory(current_placement={"w": ["n", "n", "n"]}), 2, "at most 2", "current over max"),
    solve(
        inventory(storage=[{"id": "s", "tier": "ssd", "capacity_tb": 0, "read_gbps": 1}]),
        2,
        "capacity_tb",
        "storage without capacity",
    ),
    solve(
        inventory(topology={"sites": [{"id": "a", "racks": ["r1"], "pue": 0.5}]}),
        2,
        "pue",
        "pue below one",
    ),
    # ---- plans: reading, checking, reporting, re-planning
    Case(
        "plan not json",
        ["check", str(INSTANCES / "tiny.yaml"), "{d}/plan.json"],
        2,
        "malformed",
        {"plan.json": "{not json"},
        "plan",
    ),
    Case(
        "inventory given as plan",
        ["check", str(INSTANCES / "tiny.yaml"), str(INSTANCES / "tiny.yaml")],
        2,
        "not an allocator plan",
        kind="plan",
    ),
    Case(
        "plan given as inventory",
        ["solve", "{d}/plan.json", "-o", "{d}/p.json", "-q"],
        2,
        "this is an allocator plan",
        {"plan.json": valid_plan},
        "plan",
    ),
    Case(
        "plan with unknown node",
        ["report", str(INSTANCES / "tiny.yaml"), "{d}/plan.json"],
        2,
        "node 'ghost' is not in the inventory",
        {"plan.json": tampered_plan(lambda p: p["placements"][0].update(node="ghost"))},
        "plan",
    ),
    Case(
        "plan for another inventory",
        ["report", str(INSTANCES / "small.yaml"), "{d}/plan.json"],
        2,
        "this plan was made for another inventory",
        {"plan.json": valid_plan},
        "plan",
    ),
    Case(
        "plan with nan cost",
        ["check", str(INSTANCES / "tiny.yaml"), "{d}/plan.json"],
        5,
        "[non_finite] objective.cost_per_hour is nan",
        {"plan.json": tampered_plan(lambda p: p["objective"].update(cost_per_hour=float("nan")))},
        "plan",
    ),
    Case(
        "plan with hidden shortfall",
        ["check", str(INSTANCES / "tiny.yaml"), "{d}/plan.json"],
        5,
        "non_finite",
        {"plan.json": tampered_plan(lambda p: p["objective"].update(hard_shortfall=float("nan")))},
        "plan",
    ),
    Case(
        "plan with bound above value",
        ["check", str(INSTANCES / "tiny.yaml"), "{d}/plan.json"],
        5,
        "solver_",
        {"plan.json": tampered_plan(lambda p: p["solver"]["levels"][-1].update(bound=1e6))},
        "plan",
    ),
    Case(
        "plan with wrong replica count",
        ["check", str(INSTANCES / "tiny.yaml"), "{d}/plan.json"],
        5,
        "replica_count",
        {"plan.json": tampered_plan(lambda p: p["placements"].pop())},
        "plan",
    ),
    Case(
        "plan version 9",
        ["check", str(INSTANCES / "tiny.yaml"), "{d}/plan.json"],
        2,
        "plan_version",
        {"plan.json": tampered_plan(lambda p: p.update(plan_version=9))},
        "plan",
    ),
    Case(
        "current plan missing",
        [
            "solve",
            str(INSTANCES / "tiny.yaml"),
            "-o",
            "{d}/p.json",
            "-q",
            "--current",
            "{d}/nope.json",
        ],
        2,
        "file not found",
        kind="plan",
    ),
    # ---- outputs
    Case(
        "output is a folder",
        ["solve", str(INSTANCES / "tiny.yaml"), "-o", "{d}", "-q"],
        2,
        "is a folder",
        kind="output",
    ),
    Case(
        "output folder missing",
        ["solve", str(INSTANCES / "tiny.yaml"), "-o", "{d}/no/p.json", "-q"],
        2,
        "does not exist; create it first",
        kind="output",
    ),
    Case(
        "output under a file",
        ["solve", str(INSTANCES / "tiny.yaml"), "-o", "{d}/f.txt/p.json", "-q"],
        2,
        "is not a folder",
        {"f.txt": "x"},
        "output",
    ),
    Case(
        "output is a device",
        ["solve", str(INSTANCES / "tiny.yaml"), "-o", "/dev/null", "-q"],
        2,
        "is a device",
        kind="output",
    ),
    Case(
        "output is a symlink",
        ["solve", str(INSTANCES / "tiny.yaml"), "-o", "{d}/link", "-q"],
        2,
        "is a symbolic link",
        {"link": lambda d: (d / "link").symlink_to(d / "target")},
        "output",
    ),
    Case(
        "report into a folder",
        ["solve", str(INSTANCES / "tiny.yaml"), "-o", "{d}/p.json", "-q", "--report", "{d}"],
        2,
        "is a folder",
        kind="output",
    ),
    Case("schema into a folder", ["schema", "-o", "{d}"], 2, "is a folder", kind="output"),
    Case(
        "bench out into missing folder",
        ["bench", "build", "--nodes", "100", "--output", "{d}/no/b.json"],
        2,
        "does not exist",
        kind="output",
    ),
    # ---- command line
    Case(
        "unknown solver",
        ["solve", str(INSTANCES / "tiny.yaml"), "-s", "gurobi"],
        2,
        "unknown solver 'gurobi'",
        kind="command",
    ),
    Case(
        "negative time limit",
        ["solve", str(INSTANCES / "tiny.yaml"), "-t", "-5"],
        2,
        "time-limit",
        kind="command",
    ),
    Case(
        "online baseline with storage",
        ["solve", str(INSTANCES / "dc-east.yaml"), "-o", "{d}/p.json", "-q", "-s", "fgd"],
        2,
        "does not model storage",
        kind="command",
    ),
    # ---- batch and sweep
    Case(
        "batch input missing",
        ["batch", "{d}/nowhere.yaml", "--output", "{d}/out"],
        2,
        "nowhere.yaml: file not found",
        kind="batch",
    ),
    Case(
        "batch folder without inventories",
        ["batch", "{d}/empty", "--output", "{d}/out"],
        2,
        "folder holds no *.yaml, *.yml or *.json file",
        {"empty": lambda folder: (folder / "empty").mkdir()},
        kind="batch",
    ),
    Case(
        "batch out is a file",
        ["batch", str(INSTANCES / "tiny.yaml"), "--output", "{d}/f.txt"],
        2,
        "is not a folder; --output names a folder",
        {"f.txt": "x"},
        kind="batch",
    ),
    Case(
        "batch previous is out",
        ["batch", str(INSTANCES / "tiny.yaml"), "--output", "{d}", "--previous", "{d}"],
        2,
        "is also the --output folder",
        kind="batch",
    ),
    Case(
        "batch two inputs one name",
        ["batch", str(INSTANCES / "tiny.yaml"), "{d}/tiny.yaml", "--output", "{d}/out"],
        2,
        "both would write tiny.plan.json",
        {"tiny.yaml": (INSTANCES / "tiny.yaml").read_text()},
        kind="batch",
    ),
    Case(
        "sweep unknown scope",
        ["sweep", str(INSTANCES / "tiny.yaml"), "--output", "{d}/out", "--fail", "aisle:*"],
        2,
        "expected SCOPE:NAME or SCOPE:* with a scope of node, rack",
        kind="batch",
    ),
    Case(
        "sweep unknown zone",
        ["sweep", str(INSTANCES / "rules.yaml"), "--output", "{d}/out", "--fail", "zone:mars"],
        2,
        "no node has zone 'mars'",
        kind="batch",
    ),
    Case(
        "sweep bad growth",
        ["sweep", str(INSTANCES / "tiny.yaml"), "--output", "{d}/out", "--grow", "lots"],
        2,
        "expected a percentage such as 10% or 25%, got 'lots'",
        kind="batch",
    ),
    Case(
        "sweep too many scenarios",
        ["sweep", "{d}/inv.yaml", "--output", "{d}/out", "--fail", "node:*"],
        2,
        "1,201 scenarios; a sweep runs at most 1,000",
        {"inv.yaml": inventory([node(count=1200)])},
        kind="batch",
    ),
    # ---- Kubernetes
    Case(
        "k8s nodes not json",
        [
            "import",
            "kubernetes",
            "{d}/n.json",
            str(K8S_PODS),
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "malformed",
        {"n.json": "{"},
        "kubernetes",
    ),
    Case(
        "k8s nodes binary",
        [
            "import",
            "kubernetes",
            "{d}/n.json",
            str(K8S_PODS),
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "not UTF-8",
        {"n.json": b"\xff\xfe\x00"},
        "kubernetes",
    ),
    Case(
        "k8s nodes a list",
        [
            "import",
            "kubernetes",
            "{d}/n.json",
            str(K8S_PODS),
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "expected",
        {"n.json": "[1, 2]"},
        "kubernetes",
    ),
    Case(
        "k8s pods swapped",
        [
            "import",
            "kubernetes",
            str(K8S_PODS),
            str(K8S_NODES),
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "are the NODES and PODS files swapped?",
        kind="kubernetes",
    ),
    Case(
        "k8s bad quantity",
        [
            "import",
            "kubernetes",
            "{d}/n.json",
            str(K8S_PODS),
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "memory",
        {"n.json": copy_of(K8S_NODES, lambda t: t.replace('"memory": "', '"memory": "lots', 1))},
        "kubernetes",
    ),
    Case(
        "k8s alias bomb",
        [
            "import",
            "kubernetes",
            "{d}/n.yaml",
            str(K8S_PODS),
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "aliases",
        {"n.yaml": alias_bomb()},
        "kubernetes",
    ),
    Case(
        "k8s prices binary",
        [
            "import",
            "kubernetes",
            str(K8S_NODES),
            str(K8S_PODS),
            "--prices",
            "{d}/p.csv",
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "not UTF-8",
        {"p.csv": b"\x80\x81\x82"},
        "kubernetes",
    ),
    Case(
        "k8s gpu-map memory not a number",
        [
            "import",
            "kubernetes",
            str(K8S_NODES),
            str(K8S_PODS),
            "--gpu-map",
            "{d}/m.yaml",
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "m.yaml:2:29: g5g.xlarge: memory_gib: expected the memory of one GPU in GiB (a number > 0)"
        ", got 'lots'",
        {"m.yaml": "# instance types\ng5g.xlarge: {gpu_type: T4G, memory_gib: lots}\n"},
        "kubernetes",
    ),
    Case(
        "k8s gpu-map not a mapping",
        [
            "import",
            "kubernetes",
            str(K8S_NODES),
            str(K8S_PODS),
            "--gpu-map",
            "{d}/m.yaml",
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "m.yaml:1:1: expected a mapping of names to GPU types",
        {"m.yaml": "- A100-80GB\n"},
        "kubernetes",
    ),
    # ---- Slurm
    Case(
        "slurm nodes binary",
        ["import", "slurm", "{d}/n.txt", str(SLURM_JOBS), "-o", "{d}/i.yaml"],
        2,
        "not UTF-8",
        {"n.txt": b"Node\xff\xfe"},
        "slurm",
    ),
    Case(
        "slurm nodes empty",
        ["import", "slurm", "{d}/n.txt", str(SLURM_JOBS), "-o", "{d}/i.yaml"],
        2,
        "no nodes",
        {"n.txt": "\n"},
        "slurm",
    ),
    Case(
        "slurm jobs not json",
        [
            "import",
            "slurm",
            str(SLURM_NODES),
            "{d}/j.json",
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "malformed",
        {"j.json": "{jobs: ["},
        "slurm",
    ),
    Case(
        "slurm bad gres",
        ["import", "slurm", "{d}/n.txt", str(SLURM_JOBS), "-o", "{d}/i.yaml"],
        2,
        "Gres",
        {
            "n.txt": copy_of(
                SLURM_NODES, lambda t: t.replace("Gres=gpu:h100:8", "Gres=gpu:h100:x", 1)
            )
        },
        "slurm",
    ),
    Case(
        "slurm huge cpu count",
        ["import", "slurm", "{d}/n.txt", str(SLURM_JOBS), "-o", "{d}/i.yaml"],
        2,
        '(imported): nodes["gpu-h100-01"].cpus: expected a number <= 1,000,000,000',
        {
            "n.txt": copy_of(
                SLURM_NODES, lambda t: t.replace("CPUEfctv=192", "CPUEfctv=" + "9" * 40, 1)
            )
        },
        "slurm",
    ),
    Case(
        "slurm gpu-map new type without memory",
        [
            "import",
            "slurm",
            str(SLURM_NODES),
            str(SLURM_JOBS),
            "--gpu-map",
            "{d}/m.yaml",
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "m.yaml:1:1: rtx6000: memory_gib: missing; GPU type 'RTX6000' is not in allocator's "
        "catalog",
        {"m.yaml": "rtx6000: RTX6000\n"},
        "slurm",
    ),
    Case(
        "slurm gpu-map unknown field",
        [
            "import",
            "slurm",
            str(SLURM_NODES),
            str(SLURM_JOBS),
            "--gpu-map",
            "{d}/m.yaml",
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "m.yaml:1:29: a100: mem: unknown field 'mem'; an entry has gpu_type and memory_gib",
        {"m.yaml": "a100: {gpu_type: A100-80GB, mem: 80}\n"},
        "slurm",
    ),
    # ---- openb
    Case(
        "openb nodes binary",
        ["import", "openb", "{d}/n.csv", str(OPENB_PODS), "-o", "{d}/i.yaml"],
        2,
        "not UTF-8",
        {"n.csv": b"\xff\xfe\xfa"},
        "openb",
    ),
    Case(
        "openb missing column",
        ["import", "openb", "{d}/n.csv", str(OPENB_PODS), "-o", "{d}/i.yaml"],
        2,
        "model",
        {"n.csv": "sn,cpu_milli\na,1\n"},
        "openb",
    ),
    Case(
        "openb bad number",
        ["import", "openb", "{d}/n.csv", str(OPENB_PODS), "-o", "{d}/i.yaml"],
        2,
        "cpu_milli: expected a whole number, got 'lots'",
        {"n.csv": "sn,cpu_milli,memory_mib,gpu,model\na,lots,1,1,T4\n"},
        "openb",
    ),
    Case(
        "openb huge gpu count",
        ["import", "openb", "{d}/n.csv", str(OPENB_PODS), "-o", "{d}/i.yaml"],
        2,
        "gpus: expected a number <= 128",
        {"n.csv": "sn,cpu_milli,memory_mib,gpu,model\na,1000,1024,99999999999,T4\n"},
        "openb",
    ),
    # ---- SkyPilot
    Case(
        "skypilot task not yaml",
        [
            "import",
            "skypilot",
            str(INSTANCES / "tiny.yaml"),
            "{d}/t.yaml",
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "malformed YAML",
        {"t.yaml": "resources: [\n"},
        "skypilot",
    ),
    Case(
        "skypilot bad accelerator",
        [
            "import",
            "skypilot",
            str(INSTANCES / "tiny.yaml"),
            "{d}/t.yaml",
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "accelerators",
        {"t.yaml": "resources:\n  accelerators: {H100: lots}\n"},
        "skypilot",
    ),
    Case(
        "skypilot fleet binary",
        [
            "import",
            "skypilot",
            "{d}/f.yaml",
            str(DATA / "skypilot" / "serve.yaml"),
            "-o",
            "{d}/i.yaml",
        ],
        2,
        "not UTF-8",
        {"f.yaml": b"\xff\x00"},
        "skypilot",
    ),
    # ---- ROADEF and reassignment files
    Case(
        "roadef model truncated",
        ["roadef", "eval", "{d}/m.txt", str(ROADEF_ASSIGNMENT), str(ROADEF_ASSIGNMENT)],
        2,
        "file ends early",
        {"m.txt": copy_of(ROADEF_MODEL, lambda t: t[:40])},
        "roadef",
    ),
    Case(
        "roadef model binary",
        ["roadef", "eval", "{d}/m.txt", str(ROADEF_ASSIGNMENT), str(ROADEF_ASSIGNMENT)],
        2,
        "number of resources: expected a whole number",
        {"m.txt": b"\xff\xfe\x00\x01"},
        "roadef",
    ),
    Case(
        "roadef huge count",
        ["roadef", "eval", "{d}/m.txt", str(ROADEF_ASSIGNMENT), str(ROADEF_ASSIGNMENT)],
        2,
        "expected a whole number in [0, 20], got '99999999999999999999'",
        {"m.txt": "99999999999999999999 1 1\n"},
        "roadef",
    ),
    Case(
        "roadef assignment out of range",
        ["roadef", "eval", str(ROADEF_MODEL), "{d}/a.txt", "{d}/a.txt"],
        2,
        "machine: expected a whole number in [0, 3], got '7'",
        {"a.txt": "0 7 0\n"},
        "roadef",
    ),
    Case(
        "reassignment not a mapping",
        ["reassign", "{d}/r.yaml", "-o", "{d}/p.json"],
        2,
        "not a reassignment file",
        {"r.yaml": "- a\n"},
        "reassign",
    ),
    Case(
        "reassignment negative capacity",
        ["reassign", "{d}/r.yaml", "-o", "{d}/p.json"],
        2,
        "capacity",
        {
            "r.yaml": copy_of(
                REBALANCE,
                lambda t: t.replace("gpus: 8, cpu_cores: 96", "gpus: -8, cpu_cores: 96", 1),
            )
        },
        "reassign",
    ),
    Case(
        "reassignment alias bomb",
        ["reassign", "{d}/r.yaml", "-o", "{d}/p.json"],
        2,
        "aliases",
        {"r.yaml": alias_bomb()},
        "reassign",
    ),
]
