"""Kubernetes import and export: the sample cluster field by field, a plan on it, the
export applied and re-imported, bad input with its exact message, the quantity parser."""

from __future__ import annotations

import copy
import json
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from typer.testing import CliRunner

from allocator.domain import build_domain
from allocator.errors import InputError
from allocator.interop import quantity
from allocator.interop.kube_export import pinned_node
from allocator.interop.kube_nodes import gpu_model
from allocator.interop.kubernetes import export_kubernetes, import_kubernetes
from allocator.inventory.load import load_inventory
from allocator.pipeline import solve_domain
from allocator.plan import InventoryRef, Unplaced, load_plan, moves_against
from cli.interop import export_app, import_app
from cli.main import app

DATA = ROOT / "tests" / "data" / "kubernetes"
NODES, PODS = DATA / "nodes.json", DATA / "pods.json"
CLASSES, PRICES = DATA / "priorityclasses.json", DATA / "prices.yaml"
QUANTITY_EXAMPLES = (
    "a number with an optional suffix, e.g. '500m', '4', '1.5', '2e3', '200Gi' or '1M'"
)


def sample(**options):
    defaults = dict(
        priority_classes_path=CLASSES, prices_path=PRICES, rack_label="example.com/rack"
    )
    return import_kubernetes(NODES, PODS, **{**defaults, **options})


def warning_texts(result) -> list[str]:
    return [str(w) for w in result.warnings]


# --- quantities -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("96", Fraction(96)),
        ("1176521528Ki", Fraction(1176521528 * 1024)),
        ("200Gi", Fraction(200 * 2**30)),
        ("1.5", Fraction(3, 2)),
        ("2e3", Fraction(2000)),
        ("1E3", Fraction(1000)),
        ("1M", Fraction(10**6)),
        ("1E", Fraction(10**18)),
        ("12345n", Fraction(12345, 10**9)),
        (".5", Fraction(1, 2)),
        ("5.", Fraction(5)),
        ("+1k", Fraction(1000)),
        ("-1", Fraction(-1)),
        (2, Fraction(2)),
        (0.25, Fraction(1, 4)),
    ],
)
def test_quantity_values_are_exact(text, value):
    assert quantity.parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1.5.5", "500mi", "1 Gi", "Gi", "1e", "1KiB", " 1"])
def test_malformed_quantities_say_what_was_expected(text):
    with pytest.raises(quantity.QuantityError) as caught:
        quantity.parse_quantity(text)
    assert str(caught.value) == f"expected a quantity ({QUANTITY_EXAMPLES}), got {text!r}"


@pytest.mark.parametrize("value", [None, True, [1], float("nan")])
def test_non_quantities_are_rejected(value):
    with pytest.raises(quantity.QuantityError):
        quantity.parse_quantity(value)


def test_quantity_units_and_rounding():
    assert quantity.cores("95500m") == Fraction(191, 2)
    assert quantity.mib("200Gi") == 204800
    assert quantity.gib("200Gi") == 200
    assert quantity.mib("1176521528Ki") == Fraction(1176521528, 1024)
    assert quantity.mib_down(quantity.mib("1176521528Ki")) == 1148946
    assert quantity.mib_up(quantity.mib("1176521528Ki")) == 1148947
    assert quantity.millicores_up(quantity.cores("0.0001")) == 1
    assert quantity.millicores_down(quantity.cores("0.0001")) == 0
    assert quantity.whole("8") == 8
    with pytest.raises(quantity.QuantityError, match=r"whole number of devices, got '0\.5'"):
        quantity.whole("0.5")
    with pytest.raises(quantity.QuantityError, match=r"at least 0, got '-1'"):
        quantity.cores("-1")


# --- GPU models -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("product", "memory", "expected"),
    [
        ("NVIDIA-A100-SXM4-80GB", 81920, "A100-80GB"),
        ("NVIDIA-A100-SXM4-40GB", 40960, "A100"),
        ("NVIDIA-A100-80GB-PCIe", None, "A100-80GB"),
        ("NVIDIA-H100-80GB-HBM3", 81559, "H100"),
        ("NVIDIA-H100-PCIe", 81559, "H100-PCIE"),
        ("NVIDIA-L40S", 46068, "L40S"),
        ("NVIDIA-L4", 23034, "L4"),
        ("NVIDIA-A10G", 23028, "A10G"),
        ("Tesla-T4", 15360, "T4"),
        ("Tesla-V100-SXM2-32GB", 32768, "V100-32GB"),
    ],
)
def test_gpu_products_map_to_catalog_names(product, memory, expected):
    model = gpu_model(product, memory)
    assert (model.type_name, model.in_catalog) == (expected, True)


def test_products_that_are_not_catalog_cards_become_their_own_types():
    nvl = gpu_model("NVIDIA-H100-NVL", 95830)  # an H100 by name, but 94 GB
    assert (nvl.type_name, nvl.in_catalog) == ("NVIDIA-H100-NVL", False)
    mig = gpu_model("NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", 5120)
    assert (mig.type_name, mig.in_catalog, mig.mig_profile) == (
        "NVIDIA-A100-SXM4-40GB-MIG-1g.5gb",
        False,
        "1g.5gb",
    )
    assert gpu_model("NVIDIA-GH200-480GB", 97871).in_catalog is False


# --- the sample cluster ---------------------------------------------------------------


def test_sample_nodes_field_by_field():
    result = sample()
    nodes = {n["id"]: n for n in result.document["nodes"]}
    assert list(nodes) == [
        "gpu-h100-01",
        "gpu-h100-02",
        "gpu-a100-mig-01",
        "gpu-l40s-01",
        "gpu-l4-01",
        "gpu-l4-02",
        "gh200-01",
        "cpu-01",
    ]
    h100 = nodes["gpu-h100-01"]
    assert {k: v for k, v in h100.items() if k != "labels"} == {
        "id": "gpu-h100-01",
        "gpu_type": "H100",
        "gpus": 8,
        # allocatable 191450m less the device plugin DaemonSet pod's 100m
        "cpus": 191.35,
        # 2085411248Ki = 2036534.4 MiB, rounded down, less the DaemonSet pod's 128 MiB
        "ram_gib": (2036534 - 128) / 1024,
        "cost_per_hour": 98.32,
        "region": "us-east-1",
        "zone": "us-east-1a",
        "rack": "r01",
    }
    assert h100["labels"]["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert h100["labels"]["node.kubernetes.io/instance-type"] == "p5.48xlarge"
    assert nodes["gpu-h100-02"]["cpus"] == 191.45
    mig = nodes["gpu-a100-mig-01"]
    assert (mig["gpu_type"], mig["gpus"], mig["cpus"], mig["cost_per_hour"]) == (
        "A100-80GB",
        7,
        95.5,
        40.97,
    )
    assert mig["ram_gib"] == 1146802 / 1024
    assert (nodes["gpu-l40s-01"]["gpu_type"], nodes["gpu-l40s-01"]["cost_per_hour"]) == (
        "L40S",
        7.44,  # 4 GPUs x 1.86 $/GPU-h
    )
    assert [nodes[n]["gpu_type"] for n in ("gpu-l4-01", "gpu-l4-02")] == ["L4", "L4"]
    assert nodes["gh200-01"]["gpu_type"] == "NVIDIA-GH200-480GB"
    assert nodes["gh200-01"]["cost_per_hour"] == 4.2  # priced by node name
    cpu = nodes["cpu-01"]
    assert "gpu_type" not in cpu and "gpus" not in cpu
    assert (cpu["cpus"], cpu["region"], cpu["zone"], cpu["rack"]) == (
        31.75,
        "us-east-1",  # from the deprecated failure-domain.beta.kubernetes.io labels
        "us-east-1a",
        "r01",
    )
    assert result.document["gpu_types"] == {
        "NVIDIA-GH200-480GB": {"memory_gib": 97871 / 1024, "vendor": "nvidia"}
    }


def test_sample_workloads_field_by_field():
    result = sample()
    workloads = {w["id"]: w for w in result.document["workloads"]}
    assert list(workloads) == [
        "ml/finetune-8b",
        "research/notebook-alice",
        "serving/embeddings",
        "serving/llama-70b-infer",
        "serving/router",
    ]
    assert workloads["ml/finetune-8b"] == {
        "id": "ml/finetune-8b",
        "kind": "training",  # from the allocator.io/kind label
        "priority": 1000,
        "replicas": 1,
        # the init container asks for 48 CPUs, more than the 32 of the app container
        "resources": {"gpus": 4, "cpus": 48, "ram_gib": 256},
        "labels": {
            "allocator.io/kind": "training",
            "batch.kubernetes.io/job-name": "finetune-8b",
            "job-name": "finetune-8b",
            "k8s/namespace": "ml",
            "k8s/owner": "Job/finetune-8b",
        },
    }
    llama = workloads["serving/llama-70b-infer"]
    assert llama == {
        "id": "serving/llama-70b-infer",
        "kind": "inference",
        "priority": 100000,
        "replicas": 3,  # two running pods and one pending
        # vllm (16 CPUs, 200Gi) plus the metrics sidecar (250m, 256Mi); GPUs from limits
        "resources": {"gpus": 4, "cpus": 16.25, "ram_gib": 200.25},
        "gpu_types": ["H100"],  # from the nodeSelector on nvidia.com/gpu.product
        "labels": {
            "app": "llama-70b-infer",
            "tier": "serving",
            "k8s/namespace": "serving",
            "k8s/owner": "Deployment/llama-70b-infer",
        },
    }
    embeddings = workloads["serving/embeddings"]
    assert (embeddings["kind"], embeddings["replicas"], embeddings["resources"]) == (
        "inference",
        2,
        {"gpus": 1, "cpus": 4, "ram_gib": 16},
    )
    assert embeddings["labels"] == {
        "app": "embeddings",
        "k8s/namespace": "serving",
        "k8s/owner": "StatefulSet/embeddings",
    }
    notebook = workloads["research/notebook-alice"]
    assert (notebook["kind"], notebook["priority"], notebook["resources"]) == (
        "batch",
        1,  # spec.priority 0 is below allocator's lowest priority
        {"cpus": 2, "ram_gib": 8},  # its MIG request is a warning, not GPUs
    )
    assert notebook["labels"]["k8s/owner"] == "Pod/notebook-alice"
    router = workloads["serving/router"]
    assert (router["replicas"], router["resources"]) == (2, {"cpus": 0.5, "ram_gib": 0.5})
    assert "kube-system/nvidia-device-plugin-daemonset" not in workloads
    assert "ml/data-prep" not in workloads  # its pod Succeeded
    assert result.document["current_placement"] == {
        "research/notebook-alice": ["gpu-a100-mig-01"],
        "serving/embeddings": ["gpu-l4-01", "gpu-l4-02"],
        "serving/llama-70b-infer": ["gpu-h100-01", "gpu-h100-02"],
        "serving/router": ["cpu-01", "cpu-01"],
    }


def test_sample_warnings_name_object_and_field():
    texts = warning_texts(sample())
    expected = [
        "nodes/gpu-h100-02: spec.taints: taint node.kubernetes.io/unschedulable:NoSchedule: "
        "not carried over: the inventory has no taints or tolerations yet; the plan may place "
        "pods that do not tolerate it",
        "nodes/gpu-h100-02: spec.unschedulable: the node is cordoned: not carried over (the "
        "inventory has no node states yet); the plan may place new replicas on it",
        "nodes/gpu-a100-mig-01: status.allocatable.nvidia.com/mig-1g.10gb: 7 MIG instance(s) of "
        "profile 1g.10gb: not planned (only whole GPUs, nvidia.com/gpu, are counted)",
        "nodes/gpu-l40s-01: spec.taints: taint nvidia.com/gpu=present:NoSchedule: not carried "
        "over: the inventory has no taints or tolerations yet; the plan may place pods that do "
        "not tolerate it",
        "nodes/gh200-01: metadata.labels.nvidia.com/gpu.product: GPU product "
        "'NVIDIA-GH200-480GB' is not in the catalog (or its memory label disagrees with it): "
        "added under gpu_types with 97871 MiB",
        "workload ml/finetune-8b (pods/ml/finetune-8b-x7k2p): spec.affinity.nodeAffinity."
        "requiredDuringSchedulingIgnoredDuringExecution: runs only on nodes with "
        "[nvidia.com/gpu.memory Gt (40000)]: not carried over: the inventory has no node "
        "selectors yet",
        "workload research/notebook-alice (pods/research/notebook-alice): "
        "spec.containers[*].resources: requests 1 nvidia.com/mig-1g.10gb: not carried over (MIG "
        "instances are not planned yet); planned by its CPU, memory and whole GPUs only",
        "workload serving/embeddings (pods/serving/embeddings-0): spec.affinity.podAntiAffinity."
        "requiredDuringSchedulingIgnoredDuringExecution[0]: must run apart from pods [app In "
        "(embeddings)] per kubernetes.io/hostname: not carried over: the inventory has no pod "
        "affinity or spreading rules yet",
        "workload serving/llama-70b-infer (pods/serving/llama-70b-infer-7c9d8f6b5d-2xq9l): "
        "spec.nodeSelector: runs only on nodes labelled nvidia.com/gpu.product="
        "NVIDIA-H100-80GB-HBM3: not carried over: the inventory has no node selectors yet (its "
        "GPU model is, as gpu_types [H100])",
        "workload serving/llama-70b-infer (pods/serving/llama-70b-infer-7c9d8f6b5d-2xq9l): "
        "spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]: "
        "prefers to run apart from pods [app=llama-70b-infer] per kubernetes.io/hostname (weight "
        "100): not carried over: the inventory has no pod affinity or spreading rules yet",
        "workload serving/llama-70b-infer (pods/serving/llama-70b-infer-7c9d8f6b5d-2xq9l): "
        "spec.tolerations: tolerates taints nvidia.com/gpu Exists:NoSchedule: not carried over: "
        "the inventory has no taints or tolerations yet",
    ]
    assert texts == expected
    assert not any("node.kubernetes.io/not-ready" in t for t in texts)


def test_typed_records_keep_what_the_inventory_cannot():
    result = sample()
    nodes = {n.name: n for n in result.nodes}
    assert nodes["gpu-h100-02"].unschedulable is True
    assert [str(t) for t in nodes["gpu-l40s-01"].taints] == ["nvidia.com/gpu=present:NoSchedule"]
    assert nodes["gpu-a100-mig-01"].mig_devices == (("1g.10gb", 7),)
    assert nodes["gpu-h100-01"].ready is True
    workloads = {w.id: w for w in result.workloads}
    llama = workloads["serving/llama-70b-infer"].pods[0].scheduling
    assert llama.node_selector == (("nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"),)
    term = llama.pod_anti_affinity.preferred[0]
    assert (term.weight, term.term.topology_key) == (100, "kubernetes.io/hostname")
    assert [t.key for t in llama.tolerations] == [
        "nvidia.com/gpu",
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ]
    finetune = workloads["ml/finetune-8b"].pods[0].scheduling.node_affinity.required[0]
    assert str(finetune.match_expressions[0]) == "nvidia.com/gpu.memory Gt (40000)"


def test_sample_solves_to_a_plan_the_checker_accepts():
    outcome = solve_domain(build_domain(sample().inventory), InventoryRef(name="k8s"), "highs")
    assert outcome.violations == []
    assert outcome.plan.objective.hard_shortfall == 0
    placed = Counter(p.workload for p in outcome.plan.placements)
    assert placed["serving/llama-70b-infer"] == 3
    assert placed["ml/finetune-8b"] == 1


# --- export ---------------------------------------------------------------------------


def apply_manifests(pods_doc: dict, manifests: str) -> dict:
    """What `kubectl apply --force` and the scheduler make of the manifests: each pod is
    deleted and created again, bound to the one node its affinity allows."""
    doc = copy.deepcopy(pods_doc)
    index = {
        (item["metadata"]["namespace"], item["metadata"]["name"]): k
        for k, item in enumerate(doc["items"])
    }
    for manifest in yaml.safe_load_all(manifests):
        if manifest is None:
            continue
        assert (manifest["apiVersion"], manifest["kind"]) == ("v1", "Pod")
        assert "nodeName" not in manifest["spec"] and "status" not in manifest
        terms = manifest["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]["nodeSelectorTerms"]
        allowed = {
            tuple(f["values"])
            for t in terms
            for f in t["matchFields"]
            if f["key"] == "metadata.name"
        }
        assert len(allowed) == 1 and all(t["matchFields"] for t in terms)
        (node,) = allowed.pop()
        assert pinned_node(manifest) == node
        pod = copy.deepcopy(manifest)
        pod["spec"]["nodeName"] = node
        pod["status"] = {"phase": "Running"}
        doc["items"][index[(manifest["metadata"]["namespace"], manifest["metadata"]["name"])]] = pod
    return doc


def planned_state(plan) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in plan.placements:
        out.setdefault(p.workload, []).append(p.node)
    return {w: sorted(nodes) for w, nodes in out.items()}


def test_export_applied_and_reimported_is_the_planned_state(tmp_path):
    outcome = solve_domain(build_domain(sample().inventory), InventoryRef(name="k8s"), "highs")
    plan = outcome.plan
    assert plan.moves, "the sample should need moves and starts"
    exported = export_kubernetes(plan, PODS)
    assert exported.notes == []
    assert {(p.workload, p.from_node, p.to_node) for p in exported.pins} == {
        (m.workload, m.from_node, m.to_node) for m in plan.moves
    }
    applied = tmp_path / "pods-after.json"
    applied.write_text(
        json.dumps(apply_manifests(json.loads(PODS.read_text()), exported.manifests_yaml()))
    )
    again = import_kubernetes(NODES, applied, CLASSES, PRICES, "example.com/rack")
    current = {w: sorted(n) for w, n in again.inventory.current_placement.items()}
    assert current == planned_state(plan)
    assert again.inventory.workloads == sample().inventory.workloads


def test_manifest_is_the_pod_pinned_to_its_node():
    outcome = solve_domain(build_domain(sample().inventory), InventoryRef(name="k8s"), "highs")
    exported = export_kubernetes(outcome.plan, PODS)
    pin = next(p for p in exported.pins if p.workload == "ml/finetune-8b")
    manifest = pin.manifest
    metadata = manifest["metadata"]
    assert metadata["name"] == "finetune-8b-x7k2p" and metadata["namespace"] == "ml"
    assert not {"uid", "resourceVersion", "creationTimestamp", "generateName"} & set(metadata)
    assert metadata["ownerReferences"][0]["kind"] == "Job"  # the Job still owns it
    assert metadata["annotations"] == {"allocator.io/planned-node": pin.to_node}
    assert "priority" not in manifest["spec"]  # recomputed from priorityClassName
    assert manifest["spec"]["priorityClassName"] == "batch-low"
    terms = manifest["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert terms == [
        {  # its own requirement kept, the pin added to the same term
            "matchExpressions": [
                {"key": "nvidia.com/gpu.memory", "operator": "Gt", "values": ["40000"]}
            ],
            "matchFields": [{"key": "metadata.name", "operator": "In", "values": [pin.to_node]}],
        }
    ]


def test_hand_made_plan_gives_moves_starts_and_stops():
    inventory = sample().inventory
    outcome = solve_domain(build_domain(inventory), InventoryRef(name="k8s"), "highs")
    placements = [p for p in outcome.plan.placements if p.workload != "research/notebook-alice"]
    placements = [
        p.model_copy(update={"node": "gpu-h100-01"}) if p.workload == "serving/router" else p
        for p in placements
    ]
    plan = outcome.plan.model_copy(
        update={
            "placements": placements,
            "unplaced": [
                Unplaced(
                    workload="research/notebook-alice", replica=0, required=True, reason="test"
                )
            ],
            "moves": moves_against(inventory.current_placement, placements),
        }
    )
    exported = export_kubernetes(plan, PODS)
    routers = [
        (p.pod, p.from_node, p.to_node, p.action) for p in exported.pins if "router" in p.pod
    ]
    assert routers == [
        ("router-5d4c8b7f9-h2kx8", "cpu-01", "gpu-h100-01", "move"),
        ("router-5d4c8b7f9-p7r2w", "cpu-01", "gpu-h100-01", "move"),
    ]
    assert [(s.pod, s.node) for s in exported.stops] == [("notebook-alice", "gpu-a100-mig-01")]
    summary = exported.summary_markdown()
    assert (
        "| serving/router | serving/router-5d4c8b7f9-h2kx8 | Deployment/router | cpu-01 | "
        "gpu-h100-01 | move |" in summary
    )
    assert "| research/notebook-alice | research/notebook-alice | gpu-a100-mig-01 |" in summary
    assert "kubectl apply --force" in summary


def test_export_notes_pods_that_changed_since_the_plan(tmp_path):
    outcome = solve_domain(build_domain(sample().inventory), InventoryRef(name="k8s"), "highs")
    doc = json.loads(PODS.read_text())
    doc["items"] = [i for i in doc["items"] if not i["metadata"]["name"].startswith("router-")]
    for item in doc["items"]:
        if item["metadata"]["name"] == "embeddings-1":
            item["spec"]["nodeName"] = "gpu-l4-01"  # moved by someone else since the import
    changed = tmp_path / "pods.json"
    changed.write_text(json.dumps(doc))
    exported = export_kubernetes(outcome.plan, changed)
    assert exported.notes == [
        "workload serving/router has no pods in pods.json: nothing is exported for it (create "
        "its pods first)",
        "the pods listing differs from the state the plan was made for; the manifests follow "
        "the listing (re-import and re-plan to be sure)",
    ]


# --- command line ---------------------------------------------------------------------


def test_cli_import_solve_export(tmp_path):
    runner = CliRunner()
    inventory, plan = tmp_path / "cluster.yaml", tmp_path / "cluster.plan.json"
    result = runner.invoke(
        import_app,
        [
            "kubernetes",
            "--nodes", str(NODES),
            "--pods", str(PODS),
            "--priority-classes", str(CLASSES),
            "--prices", str(PRICES),
            "--rack-label", "example.com/rack",
            "-o", str(inventory),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"inventory written to {inventory}: 8 nodes, 5 workloads, 11 warnings" in result.output
    assert "warning: nodes/gpu-h100-02: spec.unschedulable: the node is cordoned" in result.output
    loaded = load_inventory(inventory)
    assert loaded.name == "cluster"
    assert inventory.read_text().startswith("# Written by: allocator import kubernetes")

    solved = runner.invoke(app, ["solve", str(inventory), "-o", str(plan), "-q", "-s", "highs"])
    assert solved.exit_code == 0, solved.output
    assert load_plan(plan).moves

    manifests, summary = tmp_path / "manifests.yaml", tmp_path / "moves.md"
    exported = runner.invoke(
        export_app,
        [
            "kubernetes", str(plan),
            "--inventory", str(inventory),
            "--pods", str(PODS),
            "-o", str(manifests),
            "--summary", str(summary),
        ],
    )  # fmt: skip
    assert exported.exit_code == 0, exported.output
    assert "pod manifest(s) written to" in exported.output
    assert manifests.read_text().startswith("# Pods to (re)create for allocator plan 'cluster'")
    assert summary.read_text().startswith("# Moves for plan `cluster`")


def test_cli_refuses_to_export_a_plan_the_checker_rejects(tmp_path):
    runner = CliRunner()
    inventory, plan = tmp_path / "inv.yaml", tmp_path / "plan.json"
    runner.invoke(
        import_app, ["kubernetes", "--nodes", str(NODES), "--pods", str(PODS), "-o", str(inventory)]
    )
    runner.invoke(app, ["solve", str(inventory), "-o", str(plan), "-q"])
    data = json.loads(plan.read_text())
    data["placements"][0]["node"] = "cpu-01"
    plan.write_text(json.dumps(data))
    out = tmp_path / "m.yaml"
    result = runner.invoke(
        export_app,
        [
            "kubernetes",
            str(plan),
            "--inventory",
            str(inventory),
            "--pods",
            str(PODS),
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 5
    assert not out.exists()


def test_without_prices_every_node_costs_zero_with_a_warning():
    result = import_kubernetes(NODES, PODS)
    assert {n["cost_per_hour"] for n in result.document["nodes"]} == {0}
    assert (
        "nodes/gpu-h100-01, nodes/gpu-h100-02, nodes/gpu-a100-mig-01, nodes/gpu-l40s-01, "
        "nodes/gpu-l4-01, nodes/gpu-l4-02, nodes/gh200-01, nodes/cpu-01: cost_per_hour: no price "
        "found (no --prices file was given; looked up by node name, instance type and GPU type): "
        "set to 0, so the plan cannot weigh what these nodes cost"
    ) in warning_texts(result)


def test_priorities_without_the_classes_file_come_from_spec_priority():
    result = import_kubernetes(NODES, PODS, prices_path=PRICES)
    priorities = {w["id"]: w["priority"] for w in result.document["workloads"]}
    assert priorities == {
        "ml/finetune-8b": 1000,
        "research/notebook-alice": 1,
        "serving/embeddings": 100000,
        "serving/llama-70b-infer": 100000,
        "serving/router": 1,
    }


def test_csv_prices(tmp_path):
    prices = tmp_path / "prices.csv"
    prices.write_text("name,usd_per_hour\np5.48xlarge,90\nL4,0.5\ncpu-01,2\n")
    costs = {
        n["id"]: n["cost_per_hour"]
        for n in import_kubernetes(NODES, PODS, None, prices).document["nodes"]
    }
    assert (costs["gpu-h100-01"], costs["gpu-l4-01"], costs["cpu-01"], costs["gh200-01"]) == (
        90,
        0.5,
        2,
        0,
    )


# --- small clusters and bad input -----------------------------------------------------


def node(name: str, cpu="16", memory="64Gi", gpus=None, labels=None, **extra) -> dict:
    allocatable = {"cpu": cpu, "memory": memory}
    if gpus is not None:
        allocatable["nvidia.com/gpu"] = gpus
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels or {}},
        "status": {"allocatable": allocatable},
        **extra,
    }


def pod(name: str, ns="ml", requests=None, limits=None, node_name=None, **spec) -> dict:
    resources = {}
    if requests is not None:
        resources["requests"] = requests
    if limits is not None:
        resources["limits"] = limits
    body = {"containers": [{"name": "main", "image": "busybox", "resources": resources}], **spec}
    if node_name:
        body["nodeName"] = node_name
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": body,
        "status": {"phase": "Running" if node_name else "Pending"},
    }


def listing(*items) -> dict:
    return {"apiVersion": "v1", "kind": "List", "items": list(items)}


L4_LABELS = {"nvidia.com/gpu.product": "NVIDIA-L4", "nvidia.com/gpu.memory": "23034"}


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """Files written by a test are named relative to it, as a user would type them."""
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, name: str, doc: dict | str) -> Path:
    (tmp_path / name).write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=1))
    return Path(name)


def problems_of(tmp_path, nodes, pods, **options) -> list[str]:
    with pytest.raises(InputError) as caught:
        import_kubernetes(
            write(tmp_path, "nodes.json", nodes), write(tmp_path, "pods.json", pods), **options
        )
    return [str(p) for p in caught.value.problems]


def test_unparseable_quantity_names_pod_and_field(tmp_path):
    found = problems_of(
        tmp_path,
        listing(node("n1")),
        listing(pod("train", requests={"cpu": "2 cores", "memory": "1Gi"})),
    )
    assert found == [
        "pods.json:19:9: pods/ml/train: spec.containers[0].resources.requests.cpu: expected a "
        f"quantity ({QUANTITY_EXAMPLES}), got '2 cores'"
    ]


def test_gpu_node_without_product_label_is_an_error(tmp_path):
    found = problems_of(tmp_path, listing(node("gpu-1", gpus="8")), listing())
    assert found == [
        "nodes.json:10:5: nodes/gpu-1: metadata.labels.nvidia.com/gpu.product: missing; the "
        "node has 8 allocatable nvidia.com/gpu but no GPU model label (is NVIDIA GPU feature "
        "discovery running on it?)"
    ]


def test_unknown_product_needs_its_memory_label(tmp_path):
    labels = {"nvidia.com/gpu.product": "NVIDIA-RTX-PRO-6000"}
    found = problems_of(tmp_path, listing(node("gpu-1", gpus="2", labels=labels)), listing())
    assert len(found) == 1
    assert found[0].startswith(
        "nodes.json:10:5: nodes/gpu-1: metadata.labels.nvidia.com/gpu.memory: missing; GPU "
        "product 'NVIDIA-RTX-PRO-6000' is not in allocator's catalog ("
    )
    assert found[0].endswith("), so its memory must come from this label")


def test_bad_memory_label(tmp_path):
    labels = {**L4_LABELS, "nvidia.com/gpu.memory": "24GB"}
    found = problems_of(tmp_path, listing(node("gpu-1", gpus="1", labels=labels)), listing())
    assert found == [
        "nodes.json:12:6: nodes/gpu-1: metadata.labels.nvidia.com/gpu.memory: expected the "
        "memory of one GPU in MiB (a positive whole number), got '24GB'"
    ]


def test_pod_without_any_request_is_an_error(tmp_path):
    found = problems_of(tmp_path, listing(node("n1")), listing(pod("sleep")))
    assert found == [
        "pods.json:13:5: pods/ml/sleep: spec.containers: no container requests cpu, memory or "
        "nvidia.com/gpu; allocator needs what each replica uses (set resources.requests, or "
        "leave the pod out of the input)"
    ]


def test_partial_input_is_reported_all_at_once(tmp_path):
    broken_node = node("n2")
    del broken_node["status"]["allocatable"]["memory"]
    found = problems_of(
        tmp_path,
        listing(node("n1"), broken_node, {"kind": "Node", "metadata": {}}),
        listing(
            pod("a", requests={"cpu": "1", "memory": "1Gi"}, node_name="ghost"),
            pod("b", requests={"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "0.5"}),
            pod(
                "c",
                requests={"cpu": "1", "memory": "1Gi"},
                affinity={
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {"matchExpressions": [{"key": "zone", "operator": "Within"}]}
                            ]
                        }
                    }
                },
            ),
        ),
    )
    joined = "\n".join(found)
    assert (
        "nodes/n2: status.allocatable.memory: missing; the node's allocatable capacity is needed"
        in joined
    )
    assert "items[2]: metadata.name: missing; expected text" in joined
    assert (
        "pods/ml/a: spec.nodeName: the pod runs on node 'ghost', which is not in the nodes input"
        in joined
    )
    assert (
        "pods/ml/b: spec.containers[0].resources.requests.nvidia.com/gpu: expected a whole number "
        "of devices, got '0.5'" in joined
    )
    assert (
        "pods/ml/c: spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution."
        "nodeSelectorTerms[0].matchExpressions[0].operator: expected one of In, NotIn, Exists, "
        "DoesNotExist, Gt, Lt, got 'Within'" in joined
    )
    assert len(found) == 5


def test_swapped_files_are_named(tmp_path):
    found = problems_of(tmp_path, listing(pod("a", requests={"cpu": "1"})), listing(node("n1")))
    assert found == [
        "nodes.json:7:4: items[0]: kind: expected a Node, found 'Pod' (are the --nodes and --pods "
        "files swapped?)",
        "pods.json:7:4: items[0]: kind: expected a Pod, found 'Node' (are the --nodes and --pods "
        "files swapped?)",
    ]


def test_not_a_listing(tmp_path):
    found = problems_of(tmp_path, {"apiVersion": "v1", "kind": "Service"}, listing())
    assert found == [
        "nodes.json:3:2: kind: expected a List of Node objects or a single Node ('kubectl get "
        "nodes -o json'), got kind 'Service'"
    ]


def test_malformed_json_is_located(tmp_path):
    with pytest.raises(InputError) as caught:
        import_kubernetes(
            write(tmp_path, "nodes.json", '{"items": [\n'), write(tmp_path, "p.json", listing())
        )
    assert str(caught.value).startswith("nodes.json:2:1: malformed JSON: Expecting value")


def test_yaml_and_single_objects_are_accepted(tmp_path):
    nodes = tmp_path / "node.yaml"
    nodes.write_text(yaml.safe_dump(node("gpu-1", gpus="1", labels=L4_LABELS)))
    pods = tmp_path / "pods.yaml"
    pods.write_text(
        yaml.safe_dump(
            listing(
                pod(
                    "serve", requests={"cpu": "500m", "memory": "1Gi"}, limits={"nvidia.com/gpu": 1}
                )
            )
        )
    )
    result = import_kubernetes(nodes, pods)
    assert result.document["nodes"][0]["gpu_type"] == "L4"
    workload = result.document["workloads"][0]
    assert (workload["id"], workload["kind"], workload["resources"]) == (
        "ml/serve",
        "batch",
        {"gpus": 1, "cpus": 0.5, "ram_gib": 1},
    )


def test_request_rules_follow_the_scheduler(tmp_path):
    main = {"name": "main", "image": "x", "resources": {"requests": {"cpu": "2", "memory": "4Gi"}}}
    sidecar = {
        "name": "proxy",
        "image": "x",
        "restartPolicy": "Always",
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
    }
    init = {"name": "init", "image": "x", "resources": {"limits": {"cpu": "6", "memory": "1Gi"}}}
    item = pod("app")
    item["spec"]["containers"] = [main]
    item["spec"]["initContainers"] = [sidecar, init]  # init runs beside the sidecar: 7 CPUs
    item["spec"]["overhead"] = {"cpu": "250m", "memory": "128Mi"}
    result = import_kubernetes(
        write(tmp_path, "n.json", listing(node("n1"))), write(tmp_path, "p.json", listing(item))
    )
    # cpu: max(2 + 1, 6 + 1) + 0.25; memory: max(4 + 1, 1 + 1) GiB + 128 MiB
    assert result.document["workloads"][0]["resources"] == {"cpus": 7.25, "ram_gib": 5.125}


def test_missing_memory_request_is_planned_small_with_a_warning(tmp_path):
    result = import_kubernetes(
        write(tmp_path, "n.json", listing(node("n1"))),
        write(tmp_path, "p.json", listing(pod("web", requests={"cpu": "1"}))),
    )
    assert result.document["workloads"][0]["resources"] == {"cpus": 1, "ram_gib": 1 / 1024}
    assert [str(w) for w in result.warnings][-1] == (
        "workload ml/web (pods/ml/web): spec.containers[*].resources.requests.memory: no "
        "container requests memory (the scheduler counts 0): planned with 1 MiB"
    )


def test_owners_group_pods_into_workloads(tmp_path):
    def owned(name, kind, owner, labels=None):
        item = pod(name, requests={"cpu": "1", "memory": "1Gi"})
        item["metadata"]["ownerReferences"] = [{"kind": kind, "name": owner, "controller": True}]
        item["metadata"]["labels"] = labels or {}
        return item

    pods = listing(
        owned(
            "web-6d4cf56db6-abcde",
            "ReplicaSet",
            "web-6d4cf56db6",
            {"pod-template-hash": "6d4cf56db6"},
        ),
        owned("web-6d4cf56db6-fghij", "ReplicaSet", "web-6d4cf56db6"),
        owned("custom-x", "ReplicaSet", "custom"),  # no template hash: the ReplicaSet itself
        owned("db-0", "StatefulSet", "db"),
        owned("trainer-worker-0", "PyTorchJob", "trainer"),
        owned("web", "Job", "web"),  # same name as the Deployment, another kind
    )
    result = import_kubernetes(
        write(tmp_path, "n.json", listing(node("n1"))), write(tmp_path, "p.json", pods)
    )
    kinds = {w.id: (str(w.owner), w.kind, len(w.pods)) for w in result.workloads}
    assert kinds == {
        "ml/custom": ("ReplicaSet/custom", "inference", 1),
        "ml/db": ("StatefulSet/db", "inference", 1),
        "ml/deployment/web": ("Deployment/web", "inference", 2),
        "ml/job/web": ("Job/web", "batch", 1),
        "ml/trainer": ("PyTorchJob/trainer", "training", 1),
    }


def test_priority_classes(tmp_path):
    classes = listing(
        {"kind": "PriorityClass", "metadata": {"name": "huge"}, "value": 2_000_000_000},
        {
            "kind": "PriorityClass",
            "metadata": {"name": "normal"},
            "value": 500,
            "globalDefault": True,
        },
    )
    pods = listing(
        pod("a", requests={"cpu": "1", "memory": "1Gi"}, priorityClassName="huge"),
        pod("b", requests={"cpu": "1", "memory": "1Gi"}),
        pod("c", requests={"cpu": "1", "memory": "1Gi"}, priorityClassName="missing"),
    )
    result = import_kubernetes(
        write(tmp_path, "n.json", listing(node("n1"))),
        write(tmp_path, "p.json", pods),
        write(tmp_path, "pc.json", classes),
    )
    assert {w["id"]: w["priority"] for w in result.document["workloads"]} == {
        "ml/a": 1_000_000,
        "ml/b": 500,
        "ml/c": 1,
    }
    texts = warning_texts(result)
    assert (
        "workload ml/a (pods/ml/a): spec.priority: priority 2000000000 is above allocator's "
        "maximum: planned as 1,000,000" in texts
    )
    assert (
        "pods/ml/c: spec.priorityClassName: priority class 'missing' is not in the priority "
        "classes input" in texts
    )


def test_cli_reports_bad_input_with_exit_code_2(tmp_path):
    out = tmp_path / "inv.yaml"
    result = CliRunner().invoke(
        import_app,
        [
            "kubernetes",
            "--nodes", str(write(tmp_path, "nodes.json", listing(node("gpu-1", gpus="8")))),
            "--pods", str(write(tmp_path, "pods.json", listing())),
            "-o", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert (
        "error: nodes.json:10:5: nodes/gpu-1: metadata.labels.nvidia.com/gpu.product: missing"
        in result.output
    )
    assert "Traceback" not in result.output
    assert not out.exists()


def test_every_scheduling_constraint_is_listed(tmp_path):
    item = pod(
        "spread",
        requests={"cpu": "1", "memory": "1Gi"},
        nodeSelector={"pool": "batch"},
        affinity={
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 20,
                        "preference": {
                            "matchExpressions": [
                                {"key": "zone", "operator": "In", "values": ["a", "b"]}
                            ]
                        },
                    }
                ]
            },
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "topologyKey": "topology.kubernetes.io/zone",
                        "namespaces": ["data"],
                        "labelSelector": {"matchLabels": {"app": "cache"}},
                    }
                ]
            },
        },
        tolerations=[
            {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}
        ],
        topologySpreadConstraints=[
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "spread"}},
            }
        ],
    )
    result = import_kubernetes(
        write(tmp_path, "n.json", listing(node("n1"))), write(tmp_path, "p.json", listing(item))
    )
    prefix = "workload ml/spread (pods/ml/spread): "
    assert [str(w).removeprefix(prefix) for w in result.warnings[1:]] == [
        "spec.nodeSelector: runs only on nodes labelled pool=batch: not carried over: the "
        "inventory has no node selectors yet",
        "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0]: prefers "
        "nodes with [zone In (a,b)] (weight 20): not carried over: the inventory has no node "
        "selectors yet",
        "spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]: must run "
        "near pods [app=cache] in namespaces data per topology.kubernetes.io/zone: not carried "
        "over: the inventory has no pod affinity or spreading rules yet",
        "spec.tolerations: tolerates taints dedicated=ml:NoSchedule: not carried over: the "
        "inventory has no taints or tolerations yet",
        "spec.topologySpreadConstraints[0]: spreads with max skew 1 per kubernetes.io/hostname "
        "over pods [app=spread] (DoNotSchedule): not carried over: the inventory has no pod "
        "affinity or spreading rules yet",
    ]


def test_bad_kind_label_and_toleration(tmp_path):
    item = pod(
        "web",
        requests={"cpu": "1", "memory": "1Gi"},
        tolerations=[{"operator": "Exists", "value": "x", "effect": "Sometimes"}],
    )
    item["metadata"]["labels"] = {"allocator.io/kind": "serving"}
    found = problems_of(tmp_path, listing(node("n1")), listing(item))
    assert [f.split(": ", 1)[1] for f in found] == [
        "pods/ml/web: metadata.labels.allocator.io/kind: expected one of training, inference, "
        "batch, got 'serving'",
        "pods/ml/web: spec.tolerations[0].value: a toleration with operator Exists takes no value",
        "pods/ml/web: spec.tolerations[0].effect: expected one of NoSchedule, PreferNoSchedule, "
        "NoExecute, got 'Sometimes'",
    ]
