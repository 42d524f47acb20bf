"""Kubernetes import and export: the sample cluster field by field, a plan on it, the
export applied and re-imported, bad input with its exact message, the quantity parser."""

from __future__ import annotations

import copy
import json
from fractions import Fraction
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from typer.testing import CliRunner

from allocator.domain.build import build_domain
from allocator.interop.kubernetes import quantity
from allocator.interop.kubernetes.export import pinned_node
from allocator.interop.kubernetes.importer import export_kubernetes, import_kubernetes
from allocator.interop.kubernetes.nodes import gpu_model
from allocator.interop.kubernetes.pinning import move_effect
from allocator.inventory.load import load_inventory
from allocator.io.errors import InputError
from allocator.output.plan import InventoryRef, Unplaced, load_plan, moves_against
from allocator.solve.pipeline import solve_domain
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
        "gpu-h100-03",
        "gpu-l40s-02",
        "gpu-l4-03",
        "gpu-l4-04",
    ]
    h100 = nodes["gpu-h100-01"]
    assert h100 == {
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
        # only the labels some pod's node selector or node affinity names
        "labels": {
            "node.kubernetes.io/instance-type": "p5.48xlarge",
            "nvidia.com/gpu.memory": "81559",
            "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
            "topology.kubernetes.io/region": "us-east-1",
            "topology.kubernetes.io/zone": "us-east-1a",
        },
    }
    assert nodes["gpu-h100-02"]["cpus"] == 191.45
    # cordoned: draining, and its node.kubernetes.io/unschedulable taint says no more
    assert nodes["gpu-h100-02"]["state"] == "draining"
    assert "taints" not in nodes["gpu-h100-02"]
    # not Ready (Unknown): down, and the controller's unreachable taints say no more
    assert (nodes["gpu-h100-03"]["state"], nodes["gpu-h100-03"]["zone"]) == ("down", "us-east-1c")
    assert "taints" not in nodes["gpu-h100-03"]
    assert not {"state", "taints", "mig"} & set(h100)
    mig = nodes["gpu-a100-mig-01"]
    # 7 whole GPUs allocatable plus the one cut into 7 x 1g.10gb (nvidia.com/gpu.count: 8)
    assert (mig["gpu_type"], mig["gpus"], mig["mig"], mig["cpus"], mig["cost_per_hour"]) == (
        "A100-80GB",
        8,
        True,
        95.5,
        40.97,
    )
    assert mig["ram_gib"] == 1146802 / 1024
    assert (nodes["gpu-l40s-01"]["gpu_type"], nodes["gpu-l40s-01"]["cost_per_hour"]) == (
        "L40S",
        7.44,  # 4 GPUs x 1.86 $/GPU-h
    )
    assert nodes["gpu-l40s-01"]["taints"] == ["nvidia.com/gpu=present:NoSchedule"]
    assert nodes["gpu-l40s-02"]["taints"] == [
        "nvidia.com/gpu=present:NoSchedule",
        "example.com/pool=research:NoExecute",
    ]
    assert nodes["gpu-l40s-02"]["labels"]["example.com/pool"] == "research"
    # a PreferNoSchedule taint is soft: a warning, not a taint
    assert "taints" not in nodes["gpu-l4-04"]
    assert [nodes[n]["gpu_type"] for n in ("gpu-l4-01", "gpu-l4-02")] == ["L4", "L4"]
    assert nodes["gh200-01"]["gpu_type"] == "NVIDIA-GH200-480GB"
    assert nodes["gh200-01"]["cost_per_hour"] == 4.2  # priced by node name
    cpu = nodes["cpu-01"]
    assert cpu == {
        "id": "cpu-01",
        "cpus": 31.75,
        "ram_gib": 125244 / 1024,  # 128250532Ki, rounded down to MiB
        "cost_per_hour": 1.536,
        "region": "us-east-1",  # from the deprecated failure-domain.beta.kubernetes.io labels
        "zone": "us-east-1a",
        "rack": "r01",
    }
    assert result.document["gpu_types"] == {
        "NVIDIA-GH200-480GB": {"memory_gib": 97871 / 1024, "vendor": "nvidia"}
    }


def test_sample_workloads_field_by_field():
    result = sample()
    workloads = {w["id"]: w for w in result.document["workloads"]}
    assert list(workloads) == [
        "ml/finetune-8b",
        "research/notebook-alice",
        "research/rag-eval",
        "serving/embeddings",
        "serving/guardrails",
        "serving/llama-70b-infer",
        "serving/llama-8b-chat",
        "serving/reranker",
        "serving/router",
    ]
    assert workloads["ml/finetune-8b"] == {
        "id": "ml/finetune-8b",
        "kind": "training",  # from the allocator.io/kind label
        "priority": 1000,
        "replicas": 1,
        # the init container asks for 48 CPUs, more than the 32 of the app container
        "resources": {"gpus": 4, "cpus": 48, "ram_gib": 256},
        # its node affinity (nvidia.com/gpu.memory Gt 40000) is a warning
        "priority_class": "batch-low",
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
        # nvidia.com/gpu Exists:NoSchedule, as the taints of the imported nodes
        "tolerations": ["nvidia.com/gpu=present:NoSchedule"],
        "priority_class": "inference-high",
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
    # required anti-affinity with its own pods per kubernetes.io/hostname
    assert embeddings["spread"] == [{"across": "node", "max_per_domain": 1}]
    assert embeddings["labels"] == {
        "app": "embeddings",
        "k8s/namespace": "serving",
        "k8s/owner": "StatefulSet/embeddings",
    }
    assert workloads["serving/reranker"] == {
        "id": "serving/reranker",
        "kind": "inference",
        "priority": 100000,
        "replicas": 2,
        "resources": {"gpus": 1, "cpus": 4, "ram_gib": 16},
        "zones": ["us-east-1b"],  # nodeSelector topology.kubernetes.io/zone
        # key nvidia.com/gpu, operator Exists, no effect: every effect of that key
        "tolerations": ["nvidia.com/gpu=present:NoSchedule"],
        # DoNotSchedule, maxSkew 1 per hostname: 2 replicas, 4 nodes in its zone
        "spread": [{"across": "node", "max_per_domain": 1}],
        # required pod affinity with app=embeddings per zone
        "affinity": [{"workload": "serving/embeddings", "scope": "zone"}],
        "priority_class": "inference-high",
        "labels": {
            "app": "reranker",
            "k8s/namespace": "serving",
            "k8s/owner": "Deployment/reranker",
        },
    }
    chat = workloads["serving/llama-8b-chat"]
    assert {k: v for k, v in chat.items() if k != "labels"} == {
        "id": "serving/llama-8b-chat",
        "kind": "inference",
        "priority": 100000,
        "replicas": 4,
        "resources": {"gpus": 1, "cpus": 8, "ram_gib": 32},
        "tolerations": ["nvidia.com/gpu=present:NoSchedule"],  # Equal, value present
        # apart from job-name=finetune-8b in namespace ml, per node; its zone spread
        # (4 replicas over 3 zones) is a warning
        "anti_affinity": [{"workload": "ml/finetune-8b", "scope": "node"}],
        "priority_class": "inference-high",
    }
    # required anti-affinity with its own pods per zone
    assert workloads["serving/guardrails"]["spread"] == [{"across": "zone", "max_per_domain": 1}]
    assert {k: v for k, v in workloads["research/rag-eval"].items() if k != "labels"} == {
        "id": "research/rag-eval",
        "kind": "batch",
        "priority": 1000,
        "replicas": 2,
        "resources": {"gpus": 1, "cpus": 8, "ram_gib": 32},
        # one required term: its In expressions map, its NotIn is a warning
        "gpu_types": ["L40S", "L4"],  # nvidia.com/gpu.product In (NVIDIA-L40S, NVIDIA-L4)
        "regions": ["us-east-1"],  # topology.kubernetes.io/region In (us-east-1)
        "node_selector": {"example.com/pool": "research"},  # In with one value
        "tolerations": ["example.com/pool=research:NoExecute", "nvidia.com/gpu=present:NoSchedule"],
        # apart from pods labelled tier=serving in namespace serving: two workloads
        "anti_affinity": [
            {"workload": "serving/llama-70b-infer", "scope": "node"},
            {"workload": "serving/llama-8b-chat", "scope": "node"},
        ],
        "priority_class": "batch-low",
    }
    assert workloads["research/rag-eval"]["labels"] == {
        "batch.kubernetes.io/job-name": "rag-eval",
        "job-name": "rag-eval",
        "k8s/namespace": "research",
        "k8s/owner": "Job/rag-eval",
    }
    notebook = workloads["research/notebook-alice"]
    assert (notebook["kind"], notebook["priority"], notebook["resources"]) == (
        "batch",
        1,  # spec.priority 0 is below allocator's lowest priority
        {"mig_profile": "1g.10gb", "cpus": 2, "ram_gib": 8},  # one nvidia.com/mig-1g.10gb
    )
    assert "priority_class" not in notebook  # it names no class
    assert notebook["labels"]["k8s/owner"] == "Pod/notebook-alice"
    router = workloads["serving/router"]
    assert (router["replicas"], router["resources"]) == (2, {"cpus": 0.5, "ram_gib": 0.5})
    assert "kube-system/nvidia-device-plugin-daemonset" not in workloads
    assert "ml/data-prep" not in workloads  # its pod Succeeded
    # classes by value, highest first (the system classes name no imported pod)
    assert result.document["objective"] == {"priority_classes": ["inference-high", "batch-low"]}
    assert result.document["current_placement"] == {
        "research/notebook-alice": ["gpu-a100-mig-01"],
        "serving/embeddings": ["gpu-l4-01", "gpu-l4-02"],
        "serving/guardrails": ["gpu-l4-04"],
        "serving/llama-70b-infer": ["gpu-h100-01", "gpu-h100-02"],
        "serving/llama-8b-chat": ["gpu-l4-03", "gpu-l40s-01"],
        "serving/reranker": ["gpu-l40s-01"],
        "serving/router": ["cpu-01", "cpu-01"],
    }


def test_sample_warnings_name_object_and_field():
    texts = warning_texts(sample())
    required = "requiredDuringSchedulingIgnoredDuringExecution"
    preferred = "preferredDuringSchedulingIgnoredDuringExecution"
    operators = (
        "not carried over (node_selector matches exact label values; NotIn, Exists, "
        "DoesNotExist, Gt and Lt have no equivalent)"
    )
    soft = "a preference, not a rule: not carried over (the inventory's rules are all hard)"
    assert texts == [
        # the device plugin's DaemonSet pod, in kube-system
        "pods: metadata.namespace: 1 pod left out by namespace (kube-system: 1; kube-system, "
        "kube-public, kube-node-lease are left out unless --namespace names them); the one "
        "bound to a node has its requests taken off that node's capacity",
        "nodes/gpu-a100-mig-01: status.allocatable.nvidia.com/mig-*: MIG instances 7 x 1g.10gb "
        "on 1 GPU(s): planned as mig: true with 8 GPUs; the plan chooses the partitioning, "
        "which may differ from the one configured now (applying it means reconfiguring MIG on "
        "the node)",
        "nodes/gh200-01: metadata.labels.nvidia.com/gpu.product: GPU product "
        "'NVIDIA-GH200-480GB' is not in the catalog (or its memory label disagrees with it): "
        "added under gpu_types with 97871 MiB",
        "nodes/gpu-l4-04: spec.taints: taint example.com/capacity-type=spot:PreferNoSchedule: a "
        "preference, not a rule: not carried over (the inventory's taints are all hard)",
        "workload ml/finetune-8b (pods/ml/finetune-8b-x7k2p): spec.affinity.nodeAffinity."
        f"{required}.nodeSelectorTerms[0].matchExpressions[0]: runs only on nodes with "
        f"[nvidia.com/gpu.memory Gt (40000)]: {operators}",
        "workload research/notebook-alice (pods/research/notebook-alice): spec.nodeName: a bare "
        "pod (no controller) starts its work over when moved: kept on gpu-a100-mig-01 "
        "(node_selector kubernetes.io/hostname=gpu-a100-mig-01); --move-jobs lets the plan "
        "move it",
        "workload research/rag-eval (pods/research/rag-eval-0-h4k7m): spec.affinity."
        f"nodeAffinity.{required}.nodeSelectorTerms[0].matchExpressions[3]: runs only on nodes "
        f"with [example.com/capacity-type NotIn (spot)]: {operators}",
        "workload research/rag-eval (pods/research/rag-eval-0-h4k7m): spec.affinity."
        f"nodeAffinity.{preferred}[0]: prefers nodes with [node.kubernetes.io/instance-type In "
        f"(g6e.12xlarge)] (weight 50): {soft}",
        "workload serving/llama-70b-infer (pods/serving/llama-70b-infer-7c9d8f6b5d-2xq9l): "
        f"spec.affinity.podAntiAffinity.{preferred}[0]: prefers to run apart from pods "
        f"[app=llama-70b-infer] per kubernetes.io/hostname (weight 100): {soft}",
        "workload serving/llama-8b-chat (pods/serving/llama-8b-chat-5f7c9b8d6-4vx8n): "
        "spec.topologySpreadConstraints[0]: spreads with max skew 1 per "
        "topology.kubernetes.io/zone over pods [app=llama-8b-chat] (DoNotSchedule): not carried "
        "over (4 replicas over 3 zone domains: a cap per domain cannot hold their skew to 1)",
        "workload serving/llama-8b-chat (pods/serving/llama-8b-chat-5f7c9b8d6-4vx8n): "
        "spec.topologySpreadConstraints[1]: spreads with max skew 1 per kubernetes.io/hostname "
        f"over pods [app=llama-8b-chat] (ScheduleAnyway): {soft}",
    ]
    assert not any("node.kubernetes.io/not-ready" in t for t in texts)


def test_typed_records_keep_what_was_read():
    result = sample()
    nodes = {n.name: n for n in result.nodes}
    assert nodes["gpu-h100-02"].unschedulable is True
    assert [str(t) for t in nodes["gpu-l40s-01"].taints] == ["nvidia.com/gpu=present:NoSchedule"]
    assert nodes["gpu-a100-mig-01"].mig_devices == (("1g.10gb", 7),)
    assert (nodes["gpu-a100-mig-01"].gpus, nodes["gpu-a100-mig-01"].mig_gpus) == (7, 1)
    assert nodes["gpu-h100-01"].ready is True
    unreachable = nodes["gpu-h100-03"]
    assert (unreachable.ready, unreachable.state) == (False, "down")
    assert [str(t) for t in unreachable.taints] == [
        "node.kubernetes.io/unreachable:NoSchedule",
        "node.kubernetes.io/unreachable:NoExecute",
    ]
    assert unreachable.hard_taints == ()  # the state says it
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
    spread = workloads["serving/reranker"].pods[0].scheduling.topology_spread[0]
    assert (spread.max_skew, spread.topology_key, spread.when_unsatisfiable) == (
        1,
        "kubernetes.io/hostname",
        "DoNotSchedule",
    )
    assert (spread.node_affinity_policy, spread.node_taints_policy) == ("Honor", "Ignore")


def test_sample_solves_to_a_plan_the_checker_accepts():
    outcome = solve_domain(build_domain(sample().inventory), InventoryRef(name="k8s"), "highs")
    assert outcome.violations == []
    assert outcome.plan.objective.hard_shortfall == 0
    placed: dict[str, list[str]] = {}
    for p in outcome.plan.placements:
        placed.setdefault(p.workload, []).append(p.node)
    assert len(placed["serving/llama-70b-infer"]) == 3
    assert placed["ml/finetune-8b"] == ["gpu-a100-mig-01"]  # 80 GB, whole GPUs beside MIG
    assert placed["research/notebook-alice"] == ["gpu-a100-mig-01"]  # mig: true
    assert sorted(placed["research/rag-eval"]) == ["gpu-l40s-02"] * 2  # the research pool
    zone = {n["id"]: n.get("zone") for n in sample().document["nodes"]}
    assert {zone[n] for n in placed["serving/reranker"]} == {"us-east-1b"}
    assert len(set(placed["serving/reranker"])) == 2  # one per node
    assert len({zone[n] for n in placed["serving/guardrails"]}) == 2  # one per zone
    assert not set(placed["serving/llama-8b-chat"]) & set(placed["ml/finetune-8b"])
    assert "gpu-h100-03" not in {n for nodes in placed.values() for n in nodes}  # down


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
    again = import_kubernetes(NODES, applied, CLASSES, PRICES, "example.com/rack", move_jobs=True)
    current = {w: sorted(n) for w, n in again.inventory.current_placement.items()}
    assert current == planned_state(plan)
    assert again.inventory.workloads == sample(move_jobs=True).inventory.workloads
    # the Jobs the plan started now run, so a re-import keeps them where they run
    (finetune_node,) = planned_state(plan)["ml/finetune-8b"]
    pinned = import_kubernetes(NODES, applied, CLASSES, PRICES, "example.com/rack")
    selectors = {w.id: w.node_selector for w in pinned.inventory.workloads if w.node_selector}
    assert selectors["ml/finetune-8b"] == {"kubernetes.io/hostname": finetune_node}


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
            "kubernetes", str(NODES), str(PODS), "--priority-classes", str(CLASSES),
            "--prices", str(PRICES),
            "--rack-label", "example.com/rack",
            "-o", str(inventory),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"inventory written to {inventory}: 12 nodes, 9 workloads, 11 warnings" in result.output
    assert "warning: nodes/gpu-l4-04: spec.taints: taint example.com/capacity-type" in result.output
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
            "kubernetes", str(inventory), str(plan),
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
    runner.invoke(import_app, ["kubernetes", str(NODES), str(PODS), "-o", str(inventory)])
    runner.invoke(app, ["solve", str(inventory), "-o", str(plan), "-q"])
    data = json.loads(plan.read_text())
    data["placements"][0]["node"] = "cpu-01"
    plan.write_text(json.dumps(data))
    out = tmp_path / "m.yaml"
    result = runner.invoke(
        export_app,
        [
            "kubernetes",
            str(inventory),
            str(plan),
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
        "nodes/gpu-l4-01, nodes/gpu-l4-02, nodes/gh200-01, nodes/cpu-01, nodes/gpu-h100-03, "
        "nodes/gpu-l40s-02, nodes/gpu-l4-03, nodes/gpu-l4-04: cost_per_hour: no price found (no "
        "--prices file was given; looked up by node name, instance type and GPU type): set to 0, "
        "so the plan cannot weigh what these nodes cost"
    ) in warning_texts(result)


def test_priorities_without_the_classes_file_come_from_spec_priority():
    result = import_kubernetes(NODES, PODS, prices_path=PRICES)
    classes = {
        w["id"]: (w["priority"], w.get("priority_class")) for w in result.document["workloads"]
    }
    assert classes == {
        "ml/finetune-8b": (1000, "batch-low"),
        "research/notebook-alice": (1, None),
        "research/rag-eval": (1000, "batch-low"),
        "serving/embeddings": (100000, "inference-high"),
        "serving/guardrails": (100000, "inference-high"),
        "serving/llama-70b-infer": (100000, "inference-high"),
        "serving/llama-8b-chat": (100000, "inference-high"),
        "serving/reranker": (100000, "inference-high"),
        "serving/router": (1, None),
    }
    # ordered by the pods' spec.priority, which admission set from the class
    assert result.document["objective"] == {"priority_classes": ["inference-high", "batch-low"]}


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
        "nodes.json:10:5: nodes/gpu-1: metadata.labels: the node has 8 allocatable "
        "nvidia.com/gpu but no label says which GPU: nvidia.com/gpu.product (NVIDIA GPU feature "
        "discovery) is not set; cloud.google.com/gke-accelerator (GKE) is not set; "
        "node.kubernetes.io/instance-type / beta.kubernetes.io/instance-type is not set; name "
        "the GPU type of the node, or of one of these values, in a --gpu-map file (e.g. "
        "'gpu-1: A100-80GB')"
    ]


def test_unknown_product_needs_its_memory_label(tmp_path):
    labels = {"nvidia.com/gpu.product": "NVIDIA-RTX-PRO-6000"}
    found = problems_of(tmp_path, listing(node("gpu-1", gpus="2", labels=labels)), listing())
    assert len(found) == 1
    assert found[0].startswith(
        "nodes.json:10:5: nodes/gpu-1: metadata.labels.nvidia.com/gpu.memory: missing; GPU "
        "product 'NVIDIA-RTX-PRO-6000' is not in allocator's catalog ("
    )
    assert found[0].endswith(
        "), so its memory must come from this label or from a --gpu-map entry, e.g. "
        "'NVIDIA-RTX-PRO-6000: {gpu_type: NVIDIA-RTX-PRO-6000, memory_gib: 48}'"
    )


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
        "nodes.json:7:4: items[0]: kind: expected a Node, found 'Pod' (are the NODES and PODS "
        "files swapped?)",
        "pods.json:7:4: items[0]: kind: expected a Pod, found 'Node' (are the NODES and PODS "
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
            str(write(tmp_path, "nodes.json", listing(node("gpu-1", gpus="8")))),
            str(write(tmp_path, "pods.json", listing())),
            "-o", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert (
        "error: nodes.json:10:5: nodes/gpu-1: metadata.labels: the node has 8 allocatable "
        "nvidia.com/gpu but no label says which GPU" in result.output
    )
    assert "Traceback" not in result.output
    assert not out.exists()


# --- scheduling constraints, one mapping at a time ----------------------------------------

REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"
ZONE, REGION = "topology.kubernetes.io/zone", "topology.kubernetes.io/region"
HOST = "kubernetes.io/hostname"
SMALL = {"cpu": "1", "memory": "1Gi"}


def placed_node(name, zone=None, region=None, gpus=None, labels=None, taints=None, **extra):
    """A node with the labels the kubelet and NVIDIA feature discovery set."""
    found = {HOST: name, **(L4_LABELS if gpus else {}), **(labels or {})}
    if zone:
        found[ZONE] = zone
    if region:
        found[REGION] = region
    spec = {"taints": taints} if taints else {}
    return node(name, gpus=gpus, labels=found, spec=spec, **extra)


def owned(item: dict, kind: str, owner: str, labels: dict | None = None) -> dict:
    item["metadata"]["ownerReferences"] = [{"kind": kind, "name": owner, "controller": True}]
    item["metadata"]["labels"] = dict(labels or {})
    return item


def imported(tmp_path, nodes: list, pods: list, **options):
    return import_kubernetes(
        write(tmp_path, "n.json", listing(*nodes)),
        write(tmp_path, "p.json", listing(*pods)),
        **options,
    )


def rule_warnings(result) -> list[str]:
    """The warnings, less the one about nodes without a price (these tests give none)."""
    return [t for t in warning_texts(result) if ": cost_per_hour: " not in t]


def workload_of(result, workload_id: str) -> dict:
    return next(w for w in result.document["workloads"] if w["id"] == workload_id)


def rule_fields(result, workload_id: str) -> dict:
    """The workload's rule fields: all but what every workload has."""
    common = ("id", "kind", "priority", "replicas", "resources", "labels")
    return {k: v for k, v in workload_of(result, workload_id).items() if k not in common}


def test_taints_and_node_states(tmp_path):
    def condition(status):
        return {
            "status": {"allocatable": SMALL, "conditions": [{"type": "Ready", "status": status}]}
        }

    nodes = [
        placed_node(
            "tainted",
            taints=[
                {"key": "dedicated", "value": "ml", "effect": "NoSchedule"},
                {"key": "maintenance", "effect": "NoExecute"},
                {"key": "spot", "value": "true", "effect": "PreferNoSchedule"},
            ],
        ),
        placed_node(
            "cordoned",
            taints=[{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}],
        ),
        placed_node(
            "not-ready",
            taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}],
            **condition("False"),
        ),
        placed_node("unknown", **condition("Unknown")),
        placed_node("ready", **condition("True")),
    ]
    nodes[1]["spec"]["unschedulable"] = True
    result = imported(tmp_path, nodes, [])
    found = {n["id"]: (n.get("taints"), n.get("state", "up")) for n in result.document["nodes"]}
    assert found == {
        "tainted": (["dedicated=ml:NoSchedule", "maintenance:NoExecute"], "up"),
        "cordoned": (None, "draining"),
        "not-ready": (None, "down"),
        "unknown": (None, "down"),
        "ready": (None, "up"),
    }
    assert rule_warnings(result)[0] == (
        "nodes/tainted: spec.taints: taint spot=true:PreferNoSchedule: a preference, not a rule: "
        "not carried over (the inventory's taints are all hard)"
    )


def test_tolerations_become_the_taints_they_tolerate(tmp_path):
    nodes = [
        placed_node(
            "gpu",
            taints=[
                {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
                {"key": "nvidia.com/gpu", "value": "present", "effect": "NoExecute"},
            ],
        ),
        placed_node(
            "shared",
            taints=[
                {"key": "dedicated", "value": "ml", "effect": "NoSchedule"},
                {"key": "dedicated", "value": "web", "effect": "NoSchedule"},
                {"key": "maintenance", "effect": "NoExecute"},
            ],
        ),
    ]
    tolerations = {
        "any-effect": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
        "one-effect": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "equal": [{"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoSchedule"}],
        "everything": [{"operator": "Exists"}],
        "for-a-while": [
            {
                "key": "maintenance",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 60,
            }
        ],
    }
    pods = [pod(name, requests=SMALL, tolerations=t) for name, t in tolerations.items()]
    result = imported(tmp_path, nodes, pods)
    found = {w["id"]: w.get("tolerations") for w in result.document["workloads"]}
    assert found == {
        "ml/any-effect": ["nvidia.com/gpu=present:NoExecute", "nvidia.com/gpu=present:NoSchedule"],
        "ml/one-effect": ["nvidia.com/gpu=present:NoSchedule"],
        "ml/equal": ["dedicated=ml:NoSchedule"],
        "ml/everything": [
            "dedicated=ml:NoSchedule",
            "dedicated=web:NoSchedule",
            "maintenance:NoExecute",
            "nvidia.com/gpu=present:NoExecute",
            "nvidia.com/gpu=present:NoSchedule",
        ],
        "ml/for-a-while": None,
    }
    assert rule_warnings(result) == [
        "workload ml/for-a-while (pods/ml/for-a-while): spec.tolerations: tolerates taint "
        "maintenance:NoExecute for 60 s only, then Kubernetes evicts the pod: planned as not "
        "tolerating it"
    ]


def test_node_selector_and_one_required_term(tmp_path):
    nodes = [
        placed_node("a1", zone="z1", region="r1", labels={"pool": "a"}),
        placed_node("b2", zone="z2", region="r1", labels={"pool": "b"}),
    ]

    def term(*expressions):
        return {
            "nodeAffinity": {
                REQUIRED: {"nodeSelectorTerms": [{"matchExpressions": list(expressions)}]}
            }
        }

    def expr(key, operator, *values):
        return {"key": key, "operator": operator, **({"values": list(values)} if values else {})}

    pods = [
        pod("selector", requests=SMALL, nodeSelector={"pool": "a", ZONE: "z1"}),
        pod(
            "affinity",
            requests=SMALL,
            affinity=term(
                expr(ZONE, "In", "z1", "z2"), expr(REGION, "In", "r1"), expr("pool", "In", "a")
            ),
        ),
        pod(
            "narrowed",
            requests=SMALL,
            nodeSelector={"pool": "a"},
            affinity=term(expr("pool", "In", "a", "b")),
        ),
        pod("choice", requests=SMALL, affinity=term(expr("pool", "In", "a", "b"))),
        pod(
            "operators",
            requests=SMALL,
            affinity=term(expr("pool", "NotIn", "b"), expr("gpu", "Exists")),
        ),
        pod(
            "alternatives",
            requests=SMALL,
            affinity={
                "nodeAffinity": {
                    REQUIRED: {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [expr("pool", "In", "a")]},
                            {"matchExpressions": [expr(ZONE, "In", "z2")]},
                        ]
                    }
                }
            },
        ),
    ]
    result = imported(tmp_path, nodes, pods)
    assert rule_fields(result, "ml/selector") == {"zones": ["z1"], "node_selector": {"pool": "a"}}
    assert rule_fields(result, "ml/affinity") == {
        "zones": ["z1", "z2"],
        "regions": ["r1"],
        "node_selector": {"pool": "a"},
    }
    assert rule_fields(result, "ml/narrowed") == {"node_selector": {"pool": "a"}}
    for name in ("choice", "operators", "alternatives"):
        assert rule_fields(result, f"ml/{name}") == {}
    at = f"spec.affinity.nodeAffinity.{REQUIRED}"
    assert rule_warnings(result) == [
        f"workload ml/alternatives (pods/ml/alternatives): {at}: runs only on nodes with [pool "
        f"In (a)] or [{ZONE} In (z2)]: not carried over (the inventory cannot express "
        "alternative node selector terms)",
        f"workload ml/choice (pods/ml/choice): {at}.nodeSelectorTerms[0].matchExpressions[0]: "
        "runs only on nodes with pool In (a,b): not carried over (node_selector takes one "
        "value per label)",
        f"workload ml/operators (pods/ml/operators): {at}.nodeSelectorTerms[0].matchExpressions"
        "[0]: runs only on nodes with [pool NotIn (b)]: not carried over (node_selector matches "
        "exact label values; NotIn, Exists, DoesNotExist, Gt and Lt have no equivalent)",
        f"workload ml/operators (pods/ml/operators): {at}.nodeSelectorTerms[0].matchExpressions"
        "[1]: runs only on nodes with [gpu Exists]: not carried over (node_selector matches "
        "exact label values; NotIn, Exists, DoesNotExist, Gt and Lt have no equivalent)",
    ]
    # the nodes keep the labels that selectors name, and no others
    assert {n["id"]: n["labels"] for n in result.document["nodes"]} == {
        "a1": {"pool": "a", REGION: "r1", ZONE: "z1"},
        "b2": {"pool": "b", REGION: "r1", ZONE: "z2"},
    }
    outcome = solve_domain(build_domain(result.inventory), InventoryRef(name="t"), "highs")
    on = {p.workload: p.node for p in outcome.plan.placements}
    assert (on["ml/selector"], on["ml/affinity"], on["ml/narrowed"]) == ("a1", "a1", "a1")


def test_a_zone_label_some_nodes_lack_stays_a_label_selector(tmp_path):
    old = {"failure-domain.beta.kubernetes.io/zone": "z1"}  # the deprecated label only
    nodes = [placed_node("old", labels=old), placed_node("new", zone="z1")]
    result = imported(tmp_path, nodes, [pod("web", requests=SMALL, nodeSelector={ZONE: "z1"})])
    assert [n["zone"] for n in result.document["nodes"]] == ["z1", "z1"]
    # zones: [z1] would allow node old, which Kubernetes refuses: the label is kept instead
    assert rule_fields(result, "ml/web") == {"node_selector": {ZONE: "z1"}}


def test_gpu_products_map_to_gpu_types_only_when_they_pick_the_same_nodes(tmp_path):
    def a100(name, product):
        return placed_node(
            name,
            gpus="1",
            labels={"nvidia.com/gpu.product": product, "nvidia.com/gpu.memory": "81920"},
        )

    sxm, pcie = "NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-80GB-PCIe"
    nodes = [a100("sxm", sxm), a100("pcie", pcie)]
    gpu = {"nvidia.com/gpu": "1"}
    pods = [
        pod(
            "both",
            requests=SMALL,
            limits=gpu,
            affinity={
                "nodeAffinity": {
                    REQUIRED: {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {
                                        "key": "nvidia.com/gpu.product",
                                        "operator": "In",
                                        "values": [sxm, pcie],
                                    }
                                ]
                            }
                        ]
                    }
                }
            },
        ),
        pod("one", requests=SMALL, limits=gpu, nodeSelector={"nvidia.com/gpu.product": sxm}),
        pod("cpu-only", requests=SMALL, nodeSelector={"nvidia.com/gpu.product": sxm}),
    ]
    result = imported(tmp_path, nodes, pods)
    assert rule_fields(result, "ml/both") == {"gpu_types": ["A100-80GB"]}
    # both nodes are A100-80GB: gpu_types would allow pcie, so the product label stays
    assert rule_fields(result, "ml/one") == {"node_selector": {"nvidia.com/gpu.product": sxm}}
    assert rule_fields(result, "ml/cpu-only") == {"node_selector": {"nvidia.com/gpu.product": sxm}}


def three_zones() -> list[dict]:
    return [placed_node(f"n{k}", zone=f"z{k}") for k in (1, 2, 3)]


def replicas(prefix: str, count: int, labels: dict, **spec) -> list[dict]:
    """`count` pods of one ReplicaSet-less owner (a StatefulSet), with the same spec."""
    return [
        owned(pod(f"{prefix}-{k}", requests=SMALL, **spec), "StatefulSet", prefix, labels)
        for k in range(count)
    ]


def anti(selector: dict, key: str, **term) -> dict:
    return {
        "podAntiAffinity": {REQUIRED: [{"labelSelector": selector, "topologyKey": key, **term}]}
    }


def test_required_pod_anti_affinity(tmp_path):
    pods = [
        *replicas("web", 2, {"app": "web"}, affinity=anti({"matchLabels": {"app": "web"}}, HOST)),
        *replicas(
            "cache", 2, {"app": "cache"}, affinity=anti({"matchLabels": {"app": "web"}}, ZONE)
        ),
        *replicas(
            "api",
            2,
            {"app": "api"},
            affinity=anti(
                {"matchExpressions": [{"key": "app", "operator": "In", "values": ["api", "web"]}]},
                HOST,
            ),
        ),
        *replicas(
            "batch",
            1,
            {"app": "batch"},
            affinity=anti(
                {"matchLabels": {"app": "web"}},
                HOST,
                namespaceSelector={"matchLabels": {"team": "x"}},
            ),
        ),
    ]
    pods[-1]["metadata"]["name"] = "batch-0"
    result = imported(tmp_path, [*three_zones(), placed_node("n4", zone="z3")], pods)
    assert rule_fields(result, "ml/web") == {"spread": [{"across": "node", "max_per_domain": 1}]}
    assert rule_fields(result, "ml/cache") == {
        "anti_affinity": [{"workload": "ml/web", "scope": "zone"}]
    }
    # its own pods and web's: one per node, and never beside web
    assert rule_fields(result, "ml/api") == {
        "spread": [{"across": "node", "max_per_domain": 1}],
        "anti_affinity": [{"workload": "ml/web", "scope": "node"}],
    }
    assert rule_fields(result, "ml/batch") == {}
    assert rule_warnings(result) == [
        f"workload ml/batch (pods/ml/batch-0): spec.affinity.podAntiAffinity.{REQUIRED}[0]: must "
        f"run apart from pods [app=web] per {HOST}: not carried over (it selects namespaces by "
        "their labels, which the import does not read)"
    ]
    outcome = solve_domain(build_domain(result.inventory), InventoryRef(name="t"), "highs")
    assert outcome.violations == [] and outcome.plan.objective.hard_shortfall == 0


def test_anti_affinity_with_some_of_its_own_pods_is_a_warning(tmp_path):
    pods = replicas(
        "db", 2, {"app": "db"}, affinity=anti({"matchLabels": {"role": "primary"}}, HOST)
    )
    pods[0]["metadata"]["labels"]["role"] = "primary"
    result = imported(tmp_path, three_zones(), pods)
    assert rule_fields(result, "ml/db") == {}
    assert rule_warnings(result)[0].endswith(
        f"must run apart from pods [role=primary] per {HOST}: not carried over (it selects 1 of "
        "the workload's 2 pods)"
    )


def test_a_scope_needs_its_label_on_every_node_the_workload_may_use(tmp_path):
    nodes = [
        *three_zones(),
        placed_node("old", labels={"failure-domain.beta.kubernetes.io/zone": "z1"}),
    ]
    result = imported(
        tmp_path,
        nodes,
        replicas("web", 2, {"app": "web"}, affinity=anti({"matchLabels": {"app": "web"}}, ZONE)),
    )
    assert rule_fields(result, "ml/web") == {}
    assert rule_warnings(result)[0].endswith(
        f"not carried over (not every node it may run on has the label {ZONE} as its zone)"
    )
    rack = imported(
        tmp_path,
        three_zones(),
        replicas(
            "web",
            2,
            {"app": "web"},
            affinity=anti({"matchLabels": {"app": "web"}}, "example.com/row"),
        ),
    )
    assert rule_warnings(rack)[0].endswith(
        "not carried over (the inventory has no scope for topology key example.com/row (it has "
        "node, zone, region and rack with --rack-label))"
    )


def near(selector: dict, key: str) -> dict:
    return {"podAffinity": {REQUIRED: [{"labelSelector": selector, "topologyKey": key}]}}


def test_required_pod_affinity(tmp_path):
    pods = [
        *replicas("cache", 2, {"app": "cache"}),
        *replicas("web", 1, {"app": "web"}),
        *replicas("api", 2, {"app": "api"}, affinity=near({"matchLabels": {"app": "cache"}}, ZONE)),
        *replicas(
            "either",
            1,
            {"app": "either"},
            affinity=near(
                {
                    "matchExpressions": [
                        {"key": "app", "operator": "In", "values": ["cache", "web"]}
                    ]
                },
                HOST,
            ),
        ),
        *replicas(
            "self", 2, {"app": "self"}, affinity=near({"matchLabels": {"app": "self"}}, ZONE)
        ),
        *replicas(
            "lonely", 1, {"app": "lonely"}, affinity=near({"matchLabels": {"app": "nobody"}}, ZONE)
        ),
    ]
    result = imported(tmp_path, three_zones(), pods)
    assert rule_fields(result, "ml/api") == {
        "affinity": [{"workload": "ml/cache", "scope": "zone"}]
    }
    for name in ("either", "self", "lonely"):
        assert rule_fields(result, f"ml/{name}") == {}
    at = f"spec.affinity.podAffinity.{REQUIRED}[0]"
    assert rule_warnings(result) == [
        f"workload ml/either (pods/ml/either-0): {at}: must run near pods [app In (cache,web)] "
        f"per {HOST}: not carried over (it selects pods of several workloads (ml/cache, ml/web); "
        "any one of them will do)",
        f"workload ml/lonely (pods/ml/lonely-0): {at}: must run near pods [app=nobody] per {ZONE}: "
        "not carried over (it selects no pod, so Kubernetes cannot schedule the pod)",
        f"workload ml/self (pods/ml/self-0): {at}: must run near pods [app=self] per {ZONE}: not "
        "carried over (it selects the workload's own pods: no rule keeps replicas together)",
    ]


def spread_over(key: str, skew: int = 1, when: str = "DoNotSchedule", **more) -> list[dict]:
    return [
        {
            "maxSkew": skew,
            "topologyKey": key,
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": more.pop("app")}},
            **more,
        }
    ]


@pytest.mark.parametrize(
    ("count", "skew", "more", "rule"),
    [
        (2, 1, {}, [{"across": "zone", "max_per_domain": 1}]),  # 2 replicas, 3 zones
        (3, 2, {}, [{"across": "zone", "max_per_domain": 2}]),
        (4, 1, {"minDomains": 4}, [{"across": "zone", "max_per_domain": 1}]),  # min counts 0
        (2, 2, {}, None),  # a skew of 2 never binds 2 replicas
        (4, 1, {}, None),  # a warning: 2+2+0 fits a cap of 2, not the skew
    ],
)
def test_topology_spread_maps_to_a_cap_where_a_cap_is_the_same(tmp_path, count, skew, more, rule):
    pods = replicas(
        "web",
        count,
        {"app": "web"},
        topologySpreadConstraints=spread_over(ZONE, skew, app="web", **more),
    )
    result = imported(tmp_path, three_zones(), pods)
    assert rule_fields(result, "ml/web") == ({"spread": rule} if rule else {})
    if count == 4 and not more:
        assert rule_warnings(result) == [
            "workload ml/web (pods/ml/web-0): spec.topologySpreadConstraints[0]: spreads with max "
            f"skew 1 per {ZONE} over pods [app=web] (DoNotSchedule): not carried over (4 replicas "
            "over 3 zone domains: a cap per domain cannot hold their skew to 1)"
        ]
    else:
        assert rule_warnings(result) == []


def test_topology_spread_counts_only_the_domains_kubernetes_counts(tmp_path):
    selected = replicas(
        "web",
        3,
        {"app": "web"},
        nodeSelector={"pool": "a"},
        topologySpreadConstraints=spread_over(ZONE, app="web"),
    )
    nodes = [
        placed_node(f"n{k}", zone=f"z{k}", labels={"pool": "a" if k < 3 else "b"})
        for k in (1, 2, 3)
    ]
    result = imported(tmp_path, nodes, selected)
    # 3 replicas over the 2 zones its node selector leaves: not a cap
    assert rule_fields(result, "ml/web") == {"node_selector": {"pool": "a"}}
    assert "3 replicas over 2 zone domains" in rule_warnings(result)[0]
    soft = imported(
        tmp_path,
        three_zones(),
        replicas(
            "web",
            2,
            {"app": "web"},
            topologySpreadConstraints=spread_over(HOST, when="ScheduleAnyway", app="web"),
        ),
    )
    assert rule_fields(soft, "ml/web") == {}
    assert rule_warnings(soft)[0].endswith(
        f"spreads with max skew 1 per {HOST} over pods [app=web] (ScheduleAnyway): a preference, "
        "not a rule: not carried over (the inventory's rules are all hard)"
    )
    wider = imported(
        tmp_path,
        three_zones(),
        [
            *replicas(
                "web",
                2,
                {"app": "web", "tier": "front"},
                topologySpreadConstraints=spread_over(ZONE, app="web"),
            ),
            *replicas("api", 1, {"app": "web", "tier": "api"}),
        ],
    )
    assert rule_fields(wider, "ml/web") == {}
    assert rule_warnings(wider)[0].endswith(
        "not carried over (its label selector does not select exactly the workload's pods)"
    )


def mig_node(name: str, whole: str, mig: dict, count: str | None = None) -> dict:
    labels = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.memory": "81920"}
    if count:
        labels["nvidia.com/gpu.count"] = count
    item = placed_node(name, gpus=whole, labels=labels)
    item["status"]["allocatable"].update({f"nvidia.com/mig-{p}": n for p, n in mig.items()})
    return item


def test_mig_nodes_and_requests(tmp_path):
    nodes = [
        # every GPU partitioned (no nvidia.com/gpu left): 2 x 3g.40gb fill one GPU's slices
        mig_node("all-mig", "0", {"3g.40gb": "2"}),
        # the count label says 8 GPUs: 6 whole ones and 2 cut into 14 x 1g.10gb
        mig_node("mixed", "6", {"1g.10gb": "14"}, count="8"),
        # a profile the catalog does not know for an 80 GB A100: whole GPUs only
        mig_node("odd", "2", {"1g.12gb": "7"}),
    ]
    pods = [
        pod("one", requests=SMALL, limits={"nvidia.com/mig-3g.40gb": "1"}),
        pod("two", requests=SMALL, limits={"nvidia.com/mig-1g.10gb": "2"}),
        pod("both", requests=SMALL, limits={"nvidia.com/gpu": "1", "nvidia.com/mig-1g.10gb": "1"}),
        pod("odd-one", requests=SMALL, limits={"nvidia.com/mig-1g.12gb": "1"}),
    ]
    result = imported(tmp_path, nodes, pods)
    found = {
        n["id"]: (n.get("gpu_type"), n.get("gpus"), n.get("mig")) for n in result.document["nodes"]
    }
    assert found == {
        "all-mig": ("A100-80GB", 1, True),
        "mixed": ("A100-80GB", 8, True),
        "odd": ("A100-80GB", 2, None),
    }
    resources = {w["id"]: w["resources"] for w in result.document["workloads"]}
    assert resources == {
        "ml/both": {"gpus": 1, "cpus": 1, "ram_gib": 1},
        "ml/odd-one": {"cpus": 1, "ram_gib": 1},
        "ml/one": {"mig_profile": "3g.40gb", "cpus": 1, "ram_gib": 1},
        "ml/two": {"cpus": 1, "ram_gib": 1},
    }
    texts = rule_warnings(result)
    assert texts[2] == (
        "nodes/odd: status.allocatable.nvidia.com/mig-*: MIG instances 7 x 1g.12gb: not planned "
        "(the catalog has no such profile for GPU type A100-80GB); only whole GPUs, "
        "nvidia.com/gpu, are counted"
    )
    field = "spec.containers[*].resources"
    planned = "planned by its CPU, memory and whole GPUs only"
    assert texts[3:] == [
        f"workload ml/both (pods/ml/both): {field}: requests 1 nvidia.com/mig-1g.10gb: not "
        f"carried over (an inventory replica asks for whole GPUs or a MIG instance, not both); "
        f"{planned}",
        f"workload ml/odd-one (pods/ml/odd-one): {field}: requests 1 nvidia.com/mig-1g.12gb: not "
        f"carried over (the catalog has no MIG profile 1g.12gb); {planned}",
        f"workload ml/two (pods/ml/two): {field}: requests 2 nvidia.com/mig-1g.10gb: not carried "
        f"over (an inventory replica asks for one MIG instance at most); {planned}",
    ]
    outcome = solve_domain(build_domain(result.inventory), InventoryRef(name="t"), "highs")
    # on a node with mig: true (not on odd, whose MIG profile is unknown)
    assert [p.node for p in outcome.plan.placements if p.workload == "ml/one"] in (
        ["all-mig"],
        ["mixed"],
    )


def test_priority_classes_by_value_and_the_global_default(tmp_path):
    classes = listing(
        {"kind": "PriorityClass", "metadata": {"name": "low"}, "value": 10},
        {"kind": "PriorityClass", "metadata": {"name": "high"}, "value": 1000},
        {
            "kind": "PriorityClass",
            "metadata": {"name": "normal"},
            "value": 100,
            "globalDefault": True,
        },
    )
    pods = [
        pod("a", requests=SMALL, priorityClassName="low"),
        pod("b", requests=SMALL),
        pod("c", requests=SMALL, priorityClassName="high"),
    ]
    result = imported(
        tmp_path,
        [placed_node("n1")],
        pods,
        priority_classes_path=write(tmp_path, "pc.json", classes),
    )
    found = {w["id"]: (w["priority"], w["priority_class"]) for w in result.document["workloads"]}
    assert found == {"ml/a": (10, "low"), "ml/b": (100, "normal"), "ml/c": (1000, "high")}
    assert result.document["objective"] == {"priority_classes": ["high", "normal", "low"]}


def test_a_pod_without_a_class_that_outranks_a_class_is_a_warning(tmp_path):
    pods = [
        pod("batch", requests=SMALL, priorityClassName="batch", priority=10),
        pod("web", requests=SMALL, priority=50),
    ]
    result = imported(tmp_path, [placed_node("n1")], pods)
    assert result.document["objective"] == {"priority_classes": ["batch"]}
    assert "priority_class" not in workload_of(result, "ml/web")
    assert rule_warnings(result) == [
        "workload ml/web (pods/ml/web): spec.priority: priority 50 without a priority class: the "
        "plan places it after every class, even class batch (10), which Kubernetes ranks below it"
    ]


def test_pods_of_one_workload_with_different_constraints(tmp_path):
    nodes = [
        placed_node("a1", zone="z1", labels={"pool": "a"}),
        placed_node("a2", zone="z2", labels={"pool": "a"}),
    ]
    pods = [
        owned(
            pod("web-0", requests=SMALL, nodeSelector={"pool": "a", ZONE: "z1"}),
            "StatefulSet",
            "web",
        ),
        owned(
            pod("web-1", requests=SMALL, nodeSelector={"pool": "a", ZONE: "z2"}),
            "StatefulSet",
            "web",
        ),
    ]
    result = imported(tmp_path, nodes, pods)
    # each replica may run where any of the pods may: the shared label, either zone
    assert rule_fields(result, "ml/web") == {"zones": ["z1", "z2"], "node_selector": {"pool": "a"}}
    assert rule_warnings(result) == [
        "workload ml/web (pods/ml/web-0): spec: its pods have 2 different sets of scheduling "
        "constraints: every replica is planned with what they allow together (the rules all of "
        "them share, the zones, GPU types and tolerations of any)"
    ]


def test_a_running_pod_that_does_not_tolerate_its_node_is_a_warning(tmp_path):
    tainted = placed_node(
        "n1", taints=[{"key": "dedicated", "value": "ml", "effect": "NoSchedule"}]
    )
    nodes, pods = [tainted, placed_node("n2")], [pod("web", requests=SMALL, node_name="n1")]
    result = imported(tmp_path, nodes, pods, move_jobs=True)
    assert rule_warnings(result) == [
        "workload ml/web (pods/ml/web): spec.nodeName: runs on node n1 without tolerating its "
        "taint(s) dedicated=ml:NoSchedule: the plan moves it off"
    ]
    assert workload_of(result, "ml/web").get("tolerations") is None
    assert result.document["current_placement"] == {"ml/web": ["n1"]}
    # a bare pod loses its work when moved: kept on n1, tolerating its taint as it does now
    kept = imported(tmp_path, nodes, pods)
    assert rule_fields(kept, "ml/web") == {
        "node_selector": {HOST: "n1"},
        "tolerations": ["dedicated=ml:NoSchedule"],
    }
    assert rule_warnings(kept) == [
        "workload ml/web (pods/ml/web): spec.nodeName: a bare pod (no controller) starts its "
        "work over when moved: kept on n1 (node_selector kubernetes.io/hostname=n1); "
        "--move-jobs lets the plan move it"
    ]


def test_the_pin_of_an_exported_manifest_is_not_a_constraint(tmp_path):
    pin = {
        "nodeAffinity": {
            REQUIRED: {
                "nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}
                ]
            }
        }
    }
    pinned = pod("pinned", requests=SMALL, node_name="n1", affinity=pin)
    pinned["metadata"]["annotations"] = {"allocator.io/planned-node": "n1"}
    by_hand = pod("by-hand", requests=SMALL, node_name="n1", affinity=copy.deepcopy(pin))
    nodes = [placed_node("n1"), placed_node("n2")]
    result = imported(tmp_path, nodes, [pinned, by_hand], move_jobs=True)
    assert rule_fields(result, "ml/pinned") == rule_fields(result, "ml/by-hand") == {}
    assert rule_warnings(result) == [
        f"workload ml/by-hand (pods/ml/by-hand): spec.affinity.nodeAffinity.{REQUIRED}."
        "nodeSelectorTerms[0].matchFields[0]: runs only on nodes with [field metadata.name In "
        "(n1)]: not carried over (the inventory selects nodes by label only)"
    ]


def test_bad_topology_spread_fields(tmp_path):
    item = pod(
        "web",
        requests=SMALL,
        topologySpreadConstraints=[
            {
                "maxSkew": 1,
                "topologyKey": ZONE,
                "whenUnsatisfiable": "DoNotSchedule",
                "minDomains": 0,
                "nodeTaintsPolicy": "Sometimes",
                "matchLabelKeys": "pod-template-hash",
            }
        ],
    )
    found = problems_of(tmp_path, listing(node("n1")), listing(item))
    assert [f.split(": ", 1)[1] for f in found] == [
        "pods/ml/web: spec.topologySpreadConstraints[0].minDomains: expected a whole number at "
        "least 1, got 0",
        "pods/ml/web: spec.topologySpreadConstraints[0].nodeTaintsPolicy: expected one of Honor, "
        "Ignore, got 'Sometimes'",
        "pods/ml/web: spec.topologySpreadConstraints[0].matchLabelKeys: expected a list, got "
        "'pod-template-hash'",
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


# --- managed clusters: GPU labels, namespace filters, pinned jobs ------------------------

GKE_NODES, GKE_PODS = DATA / "gke-nodes.json", DATA / "gke-pods.json"
EKS_NODES, EKS_PODS, EKS_GPU_MAP = (
    DATA / "eks-nodes.json",
    DATA / "eks-pods.json",
    DATA / "eks-gpu-map.yaml",
)
GKE_DEFAULT = "gke-ml-prod-default-pool-5b7d3c2a-q8xz"
GKE_T4 = "gke-ml-prod-t4-pool-1f2e3d4c-7h2k"
GKE_L4 = "gke-ml-prod-l4-pool-8c3e2a1f-2kq9"
GKE_A100 = "gke-ml-prod-a100-pool-3a9b8c7d-m4n5"
GKE_H100 = "gke-ml-prod-h100-pool-6e5d4c3b-w7x2"


def eks_node(ip: str) -> str:
    return f"ip-{ip.replace('.', '-')}.us-west-2.compute.internal"


def gpus_of(result) -> dict[str, tuple[str | None, int]]:
    return {n["id"]: (n.get("gpu_type"), n.get("gpus", 0)) for n in result.document["nodes"]}


def test_gke_nodes_get_their_gpu_from_the_accelerator_label():
    result = import_kubernetes(GKE_NODES, GKE_PODS)
    assert gpus_of(result) == {
        GKE_DEFAULT: (None, 0),
        GKE_T4: ("T4", 1),  # nvidia-tesla-t4 on an n1-standard-8, a type with no GPU of its own
        GKE_L4: ("L4", 2),  # nvidia-l4
        GKE_A100: ("A100", 2),  # nvidia-tesla-a100 is the 40 GB card
        GKE_H100: ("H100", 8),  # nvidia-h100-80gb
    }
    assert "gpu_types" not in result.document  # every one is a catalog type
    nodes = {n["id"]: n for n in result.document["nodes"]}
    assert nodes[GKE_DEFAULT] == {
        "id": GKE_DEFAULT,
        # 7910m less what runs there outside the plan: fluentbit-gke 100m, kube-proxy 100m,
        # node-exporter 100m, kube-dns 260m, konnectivity-agent 10m
        "cpus": 7.34,
        # 29202620Ki = 28518 MiB (rounded down) less 200 + 128 + 110 + 30 MiB
        "ram_gib": (28518 - 468) / 1024,
        "cost_per_hour": 0,
        "region": "us-central1",
        "zone": "us-central1-a",
    }
    assert nodes[GKE_T4] == {
        "id": GKE_T4,
        "gpu_type": "T4",
        "gpus": 1,
        # less fluentbit-gke, kube-proxy, node-exporter and the GPU device plugin (50m)
        "cpus": 7.56,
        "ram_gib": (26177 - 378) / 1024,
        "cost_per_hour": 0,
        "region": "us-central1",
        "zone": "us-central1-a",
        # the label eval-batch's nodeSelector names, and the hostname train-resnet is held by
        "labels": {
            "cloud.google.com/gke-accelerator": "nvidia-tesla-t4",
            "kubernetes.io/hostname": GKE_T4,
        },
        "taints": ["nvidia.com/gpu=present:NoSchedule"],
    }
    assert {n.name: n.gpu.source for n in result.nodes if n.gpu} == {
        GKE_T4: "cloud.google.com/gke-accelerator",
        GKE_L4: "cloud.google.com/gke-accelerator",
        GKE_A100: "cloud.google.com/gke-accelerator",
        GKE_H100: "cloud.google.com/gke-accelerator",
    }


def test_gke_control_plane_and_daemonsets_are_left_out():
    result = import_kubernetes(GKE_NODES, GKE_PODS)
    assert [w["id"] for w in result.document["workloads"]] == [
        "ml/eval-batch",
        "ml/nightly-embed-28934520",  # the CronJob's earlier run Succeeded: left out
        "ml/train-resnet",
        "serving/llm-chat",
    ]
    texts = warning_texts(result)
    assert texts[:2] == [
        # fluentbit-gke x5, kube-proxy x5, the GPU device plugin x4, kube-dns, konnectivity-agent
        "pods: metadata.namespace: 16 pods left out by namespace (kube-system: 16; kube-system, "
        "kube-public, kube-node-lease are left out unless --namespace names them); the 16 bound "
        "to nodes have their requests taken off those nodes' capacity",
        "pods: metadata.ownerReferences: 5 pods of DaemonSets and static pods left out "
        "(DaemonSet monitoring/node-exporter: 5; they run on every node they match, so they are "
        "node overhead, not workloads to place); the 5 bound to nodes have their requests taken "
        "off those nodes' capacity",
    ]
    # the control plane planned on request: its Deployments become workloads, while its
    # DaemonSet and static pods are still node overhead
    with_system = import_kubernetes(GKE_NODES, GKE_PODS, namespaces=("kube-system", "serving"))
    assert [w["id"] for w in with_system.document["workloads"]] == [
        "kube-system/konnectivity-agent",
        "kube-system/kube-dns",
        "serving/llm-chat",
    ]
    assert warning_texts(with_system)[:2] == [
        "pods: metadata.namespace: 8 pods left out by namespace (ml: 3, monitoring: 5; "
        "--namespace keeps only kube-system, serving); the 7 bound to nodes have their requests "
        "taken off those nodes' capacity",
        "pods: metadata.ownerReferences: 14 pods of DaemonSets and static pods left out "
        "(DaemonSet kube-system/fluentbit-gke: 5, DaemonSet kube-system/nvidia-gpu-device-plugin-"
        "small-cos: 4, static pods: 5; they run on every node they match, so they are node "
        "overhead, not workloads to place); the 14 bound to nodes have their requests taken off "
        "those nodes' capacity",
    ]
    # a planned Deployment's requests are its own, no longer the node's overhead
    default = next(n for n in with_system.document["nodes"] if n["id"] == GKE_DEFAULT)
    assert default["cpus"] == 7.61  # 7.34 + kube-dns 260m + konnectivity-agent 10m
    excluded = import_kubernetes(GKE_NODES, GKE_PODS, exclude_namespaces=("serving",))
    assert [w["id"] for w in excluded.document["workloads"]] == [
        "ml/eval-batch",
        "ml/nightly-embed-28934520",
        "ml/train-resnet",
    ]
    assert warning_texts(excluded)[0] == (
        "pods: metadata.namespace: 18 pods left out by namespace (kube-system: 16, serving: 2; "
        "kube-system, kube-public, kube-node-lease are left out unless --namespace names them; "
        "--exclude-namespace leaves out serving); the 18 bound to nodes have their requests "
        "taken off those nodes' capacity"
    )
    l4 = next(n for n in excluded.document["nodes"] if n["id"] == GKE_L4)
    assert l4["cpus"] == 7.54  # llm-chat's 16 CPUs and its 2 GPUs, all the node has, stay taken
    assert not {"gpu_type", "gpus"} & set(l4)


def test_gke_running_jobs_are_pinned_unless_they_may_move():
    result = import_kubernetes(GKE_NODES, GKE_PODS)
    assert rule_fields(result, "ml/train-resnet") == {
        "node_selector": {"kubernetes.io/hostname": GKE_A100},
        "tolerations": ["nvidia.com/gpu=present:NoSchedule"],
    }
    assert rule_fields(result, "ml/nightly-embed-28934520")["node_selector"] == {
        "kubernetes.io/hostname": GKE_T4
    }
    # pending: nothing to lose, so its own selector stands
    assert rule_fields(result, "ml/eval-batch")["node_selector"] == {
        "cloud.google.com/gke-accelerator": "nvidia-h100-80gb"
    }
    assert "node_selector" not in rule_fields(result, "serving/llm-chat")  # a Deployment
    assert [t for t in warning_texts(result) if ": spec.nodeName: " in t] == [
        "workload ml/nightly-embed-28934520 (pods/ml/nightly-embed-28934520-mz4qt): spec.nodeName: "
        f"a Job's pod starts its work over when moved: kept on {GKE_T4} (node_selector "
        f"kubernetes.io/hostname={GKE_T4}); --move-jobs lets the plan move it",
        "workload ml/train-resnet (pods/ml/train-resnet-7x9kq): spec.nodeName: a Job's pod "
        f"starts its work over when moved: kept on {GKE_A100} (node_selector "
        f"kubernetes.io/hostname={GKE_A100}); --move-jobs lets the plan move it",
    ]
    outcome = solve_domain(build_domain(result.inventory), InventoryRef(name="gke"), "highs")
    assert outcome.violations == []
    placed = planned_state(outcome.plan)
    assert placed["ml/train-resnet"] == [GKE_A100]
    assert placed["ml/nightly-embed-28934520"] == [GKE_T4]
    assert placed["ml/eval-batch"] == [GKE_H100]

    movable = import_kubernetes(GKE_NODES, GKE_PODS, move_jobs=True)
    assert rule_fields(movable, "ml/train-resnet") == {
        "tolerations": ["nvidia.com/gpu=present:NoSchedule"]
    }
    assert not [t for t in warning_texts(movable) if ": spec.nodeName: " in t]
    assert movable.document["current_placement"] == result.document["current_placement"]


def test_gke_export_says_which_moves_restart_work():
    inventory = import_kubernetes(GKE_NODES, GKE_PODS, move_jobs=True).inventory
    outcome = solve_domain(build_domain(inventory), InventoryRef(name="gke"), "highs")
    placements, chat_moved = [], False
    for p in outcome.plan.placements:
        if p.workload == "ml/train-resnet" or (p.workload == "serving/llm-chat" and not chat_moved):
            chat_moved = chat_moved or p.workload == "serving/llm-chat"
            p = p.model_copy(update={"node": GKE_H100})
        placements.append(p)
    plan = outcome.plan.model_copy(
        update={
            "placements": placements,
            "moves": moves_against(inventory.current_placement, placements),
        }
    )
    exported = export_kubernetes(plan, GKE_PODS)
    assert exported.notes == [
        "the workloads of namespaces the plan has none of are left as they are: kube-system (2)"
    ]
    moves = {p.pod: (p.from_node, p.to_node, str(p.effect)) for p in exported.pins if p.effect}
    assert moves == {
        "train-resnet-7x9kq": (
            GKE_A100,
            GKE_H100,
            "yes: a Job's pod starts its work over when moved",
        ),
        "llm-chat-6d5f8b9c7-9wz4t": (
            GKE_L4,
            GKE_H100,
            "no: a Deployment's replica: another takes its place",
        ),
    }
    by_pod = {p.pod: p for p in exported.pins}
    assert by_pod["train-resnet-7x9kq"].manifest["metadata"]["annotations"] == {
        "allocator.io/planned-node": GKE_H100,
        "allocator.io/moved-from": GKE_A100,
        "allocator.io/move-restarts-work": "true",
    }
    assert (
        by_pod["llm-chat-6d5f8b9c7-9wz4t"].manifest["metadata"]["annotations"][
            "allocator.io/move-restarts-work"
        ]
        == "false"
    )
    manifests = exported.manifests_yaml()
    assert (
        f"# move ml/train-resnet-7x9kq: {GKE_A100} -> {GKE_H100}; restarts its work: yes: a "
        "Job's pod starts its work over when moved\n" in manifests
    )
    assert (
        f"# move serving/llm-chat-6d5f8b9c7-9wz4t: {GKE_L4} -> {GKE_H100}; restarts its work: "
        "no: a Deployment's replica: another takes its place\n" in manifests
    )
    assert len([d for d in yaml.safe_load_all(manifests) if d]) == len(exported.pins)
    summary = exported.summary_markdown()
    assert (
        f"| ml/train-resnet | ml/train-resnet-7x9kq | Job/train-resnet | {GKE_A100} | {GKE_H100} "
        "| move | yes: a Job's pod starts its work over when moved |" in summary
    )
    assert (
        "| serving/llm-chat | serving/llm-chat-6d5f8b9c7-9wz4t | Deployment/llm-chat | "
        f"{GKE_L4} | {GKE_H100} | move | no: a Deployment's replica: another takes its place |"
        in summary
    )
    assert (
        "1 of the 2 moves restart work (the pod starts over on its new node, or leaves its "
        "local data behind)." in summary
    )


def test_eks_instance_types_name_the_gpus_and_the_gpu_map_names_the_rest(tmp_path):
    with pytest.raises(InputError) as caught:
        import_kubernetes(EKS_NODES, EKS_PODS)
    assert [str(p) for p in caught.value.problems] == [
        f"{EKS_NODES}:933:17: nodes/{eks_node('10.0.4.12')}: metadata.labels: the node has 1 "
        "allocatable nvidia.com/gpu but no label says which GPU: nvidia.com/gpu.product (NVIDIA "
        "GPU feature discovery) is not set; cloud.google.com/gke-accelerator (GKE) is not set; "
        "node.kubernetes.io/instance-type 'g5g.xlarge' is not a GPU instance type allocator "
        "knows; name the GPU type of the node, or of one of these values, in a --gpu-map file "
        "(e.g. 'g5g.xlarge: A100-80GB')"
    ]
    result = import_kubernetes(EKS_NODES, EKS_PODS, gpu_map_path=EKS_GPU_MAP)
    assert gpus_of(result) == {
        eks_node("10.0.1.17"): (None, 0),  # m5.2xlarge
        eks_node("10.0.1.204"): ("A100-80GB", 8),  # p4de.24xlarge
        eks_node("10.0.2.88"): ("A100-80GB", 8),  # p4de.24xlarge
        eks_node("10.0.2.131"): ("H100", 8),  # p5.48xlarge
        eks_node("10.0.3.45"): ("A100", 8),  # p4d.24xlarge: the 40 GB A100
        eks_node("10.0.3.77"): ("A10G", 4),  # g5.12xlarge
        eks_node("10.0.3.92"): ("L4", 1),  # g6.xlarge
        eks_node("10.0.3.140"): ("L40S", 1),  # g6e.2xlarge
        eks_node("10.0.4.12"): ("T4G", 1),  # g5g.xlarge, from the --gpu-map file
    }
    assert result.document["gpu_types"] == {"T4G": {"memory_gib": 16, "vendor": "nvidia"}}
    sources = {n.name: n.gpu.source for n in result.nodes if n.gpu}
    assert sources[eks_node("10.0.3.45")] == "node.kubernetes.io/instance-type"
    assert sources[eks_node("10.0.4.12")] == "--gpu-map entry 'g5g.xlarge'"


def test_eks_pods_that_lose_their_work_are_pinned():
    result = import_kubernetes(EKS_NODES, EKS_PODS, gpu_map_path=EKS_GPU_MAP)
    p4de = [eks_node("10.0.1.204"), eks_node("10.0.2.88")]
    cpu = eks_node("10.0.1.17")
    # a PyTorchJob on two nodes: a label of its own on both holds it there
    assert rule_fields(result, "training/llama-ft") == {
        "node_selector": {"allocator.io/pinned/training/llama-ft": "true"},
        "tolerations": ["nvidia.com/gpu:NoSchedule"],
    }
    nodes = {n["id"]: n for n in result.document["nodes"]}
    pinned_by_label = sorted(
        n
        for n, e in nodes.items()
        if "allocator.io/pinned/training/llama-ft" in e.get("labels", {})
    )
    assert pinned_by_label == sorted(p4de)
    # local data (a hostPath volume) and a bare pod: held on their node
    assert rule_fields(result, "data/vector-db") == {
        "node_selector": {"kubernetes.io/hostname": cpu}
    }
    assert rule_fields(result, "default/debug-shell") == {
        "node_selector": {"kubernetes.io/hostname": cpu}
    }
    # a StatefulSet whose data is on a claim, and a Deployment: free to move
    assert rule_fields(result, "data/redis") == {}
    assert rule_fields(result, "serving/vllm-llama-8b") == {
        "tolerations": ["nvidia.com/gpu:NoSchedule"]
    }
    # one pod running, one pending: a selector would hold both, so a move cost keeps it
    assert rule_fields(result, "ml/embed-backfill") == {
        "tolerations": ["nvidia.com/gpu:NoSchedule"],
        "move_cost": 1000.0,
    }
    assert (
        "workload ml/embed-backfill (pods/ml/embed-backfill-0-hx7kq): spec.nodeName: a Job's pod "
        f"starts its work over when moved: its running pod(s) are kept on {eks_node('10.0.3.92')} "
        "by move_cost 1000 per replica moved, which a plan may still pay, not by a node "
        "selector, which would hold its 1 other pod(s) there too; --move-jobs lets the plan move "
        "it freely"
    ) in warning_texts(result)
    assert (
        "workload training/llama-ft (pods/training/llama-ft-master-0): spec.nodeName: a "
        "training job's pod (PyTorchJob) restarts training when moved (from its last checkpoint "
        "at best): kept "
        f"on {p4de[0]}, {p4de[1]} (node_selector allocator.io/pinned/training/llama-ft=true); "
        "--move-jobs lets the plan move them"
    ) in warning_texts(result)

    outcome = solve_domain(build_domain(result.inventory), InventoryRef(name="eks"), "highs")
    assert outcome.violations == []
    placed = planned_state(outcome.plan)
    assert placed["training/llama-ft"] == sorted(p4de)
    assert placed["data/vector-db"] == placed["default/debug-shell"] == [cpu]
    assert eks_node("10.0.3.92") in placed["ml/embed-backfill"]

    movable = import_kubernetes(EKS_NODES, EKS_PODS, gpu_map_path=EKS_GPU_MAP, move_jobs=True)
    assert not any(
        k.startswith("allocator.io/pinned/")
        for n in movable.document["nodes"]
        for k in n.get("labels", {})
    )
    assert all("move_cost" not in w for w in movable.document["workloads"])


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"node.kubernetes.io/instance-type": "p4d.24xlarge"}, "A100"),
        ({"node.kubernetes.io/instance-type": "p4de.24xlarge"}, "A100-80GB"),
        ({"node.kubernetes.io/instance-type": "p5.48xlarge"}, "H100"),
        ({"node.kubernetes.io/instance-type": "g5.xlarge"}, "A10G"),
        ({"node.kubernetes.io/instance-type": "g5.48xlarge"}, "A10G"),
        ({"node.kubernetes.io/instance-type": "g6.12xlarge"}, "L4"),
        ({"node.kubernetes.io/instance-type": "g6e.48xlarge"}, "L40S"),
        ({"beta.kubernetes.io/instance-type": "Standard_ND96asr_v4"}, "A100"),
        ({"node.kubernetes.io/instance-type": "Standard_ND96amsr_A100_v4"}, "A100-80GB"),
        ({"node.kubernetes.io/instance-type": "Standard_ND96isr_H100_v5"}, "H100"),
        ({"node.kubernetes.io/instance-type": "Standard_NC24ads_A100_v4"}, "A100-80GB"),
        ({"node.kubernetes.io/instance-type": "Standard_NC4as_T4_v3"}, "T4"),
        ({"node.kubernetes.io/instance-type": "a2-ultragpu-1g"}, "A100-80GB"),
        ({"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}, "A100"),
        ({"cloud.google.com/gke-accelerator": "nvidia-a100-80gb"}, "A100-80GB"),
        ({"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}, "H100"),
        ({"cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}, "T4"),
        ({"cloud.google.com/gke-accelerator": "nvidia-l4"}, "L4"),
        # feature discovery first, then GKE's label, then the instance type
        (
            {
                "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
                "node.kubernetes.io/instance-type": "p4d.24xlarge",
            },
            "A100-80GB",
        ),
        (
            {
                "cloud.google.com/gke-accelerator": "nvidia-l4",
                "node.kubernetes.io/instance-type": "a2-highgpu-1g",
            },
            "L4",
        ),
    ],
)
def test_cloud_labels_name_catalog_gpus(tmp_path, labels, expected):
    result = imported(tmp_path, [node("gpu-1", gpus="1", labels=labels)], [])
    assert gpus_of(result) == {"gpu-1": (expected, 1)}


def test_the_gpu_map_names_gpus_by_node_label_or_value(tmp_path):
    (tmp_path / "gpus.yaml").write_text(
        "example.com/gpu-model=rtx-a6000: {gpu_type: RTX-A6000, memory_gib: 48}\n"
        "gpu-2: H100-PCIE        # the product label says H100; this node knows better\n"
        "nvidia-tesla-p4: {gpu_type: P4, memory_gib: 7.5}\n"
    )
    nodes = [
        node("gpu-1", gpus="2", labels={"example.com/gpu-model": "rtx-a6000"}),
        node("gpu-2", gpus="2", labels={"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}),
        node("gpu-3", gpus="1", labels={"cloud.google.com/gke-accelerator": "nvidia-tesla-p4"}),
    ]
    result = imported(tmp_path, nodes, [], gpu_map_path="gpus.yaml")
    assert gpus_of(result) == {
        "gpu-1": ("RTX-A6000", 2),
        "gpu-2": ("H100-PCIE", 2),
        "gpu-3": ("P4", 1),
    }
    assert result.document["gpu_types"] == {
        "P4": {"memory_gib": 7.5, "vendor": "nvidia"},
        "RTX-A6000": {"memory_gib": 48, "vendor": "nvidia"},
    }
    found = problems_of(tmp_path, listing(nodes[2]), listing())
    assert found == [
        "nodes.json:10:5: nodes/gpu-3: metadata.labels: the node has 1 allocatable "
        "nvidia.com/gpu but no label says which GPU: nvidia.com/gpu.product (NVIDIA GPU feature "
        "discovery) is not set; cloud.google.com/gke-accelerator 'nvidia-tesla-p4' is not a GKE "
        "accelerator allocator knows; node.kubernetes.io/instance-type / "
        "beta.kubernetes.io/instance-type is not set; name the GPU type of the node, or of one of "
        "these values, in a --gpu-map file (e.g. 'nvidia-tesla-p4: A100-80GB')"
    ]


def test_bad_gpu_map_entries_name_file_entry_and_field(tmp_path):
    (tmp_path / "gpus.yaml").write_text(
        "# site GPUs\n"
        "rtx6000: RTX6000\n"
        "a100: {gpu_type: A100, memory_gib: 80}\n"
        "l4: {gpu_type: L4, mem: 24}\n"
        "t4g: {gpu_type: T4G, memory_gib: lots}\n"
        "p4: [P4]\n"
        "gpu-[01-: L4\n"
    )
    with pytest.raises(InputError) as caught:
        imported(tmp_path, [node("n1")], [], gpu_map_path="gpus.yaml")
    catalog = "H100, H100-PCIE, H200, B200, A100-80GB, A100, L40S, L4, A10G, A10, T4, V100, "
    catalog += "V100-32GB, P100, MI300X"
    assert [str(p) for p in caught.value.problems] == [
        "gpus.yaml:2:1: rtx6000: memory_gib: missing; GPU type 'RTX6000' is not in allocator's "
        f"catalog ({catalog}), so the map must give the memory of one GPU in GiB",
        "gpus.yaml:3:24: a100: memory_gib: 80 GiB, but the catalog's A100 has 40 GiB: name "
        "A100-80GB, or leave memory_gib out",
        "gpus.yaml:4:20: l4: mem: unknown field 'mem'; an entry has gpu_type and memory_gib",
        "gpus.yaml:5:22: t4g: memory_gib: expected the memory of one GPU in GiB (a number > 0), "
        "got 'lots'",
        "gpus.yaml:6:1: p4: expected a GPU type name or {gpu_type, memory_gib}, got a list",
        "gpus.yaml:7:1: gpu-[01-: a key with brackets is a hostlist: '[' is never closed in "
        "'gpu-[01-'",
    ]


def test_an_instance_type_with_gpus_none_allocatable_is_a_warning(tmp_path):
    labels = {"node.kubernetes.io/instance-type": "g6e.xlarge"}
    result = imported(tmp_path, [node("gpu-1", labels=labels)], [])
    assert gpus_of(result) == {"gpu-1": (None, 0)}
    assert rule_warnings(result) == [
        "nodes/gpu-1: status.allocatable.nvidia.com/gpu: instance type g6e.xlarge has 1 L40S "
        "GPU(s) but none is allocatable (is the NVIDIA device plugin running?): planned as a "
        "node without GPUs"
    ]


def test_cli_gpu_map_namespace_filters_and_move_jobs(tmp_path):
    runner = CliRunner()
    args = ["kubernetes", str(EKS_NODES), str(EKS_PODS), "-o", "eks.yaml"]
    refused = runner.invoke(import_app, args)
    assert refused.exit_code == 2
    assert "metadata.labels: the node has 1 allocatable nvidia.com/gpu but no label" in (
        refused.output
    )
    assert "--gpu-map" in refused.output and "Traceback" not in refused.output
    assert not Path("eks.yaml").exists()
    imported_ok = runner.invoke(
        import_app,
        [
            *args,
            "--gpu-map", str(EKS_GPU_MAP),
            "--namespace", "training",
            "--namespace", "data",
            "--exclude-namespace", "data",
            "--move-jobs",
        ],
    )  # fmt: skip
    assert imported_ok.exit_code == 0, imported_ok.output
    assert "inventory written to eks.yaml: 9 nodes, 1 workloads, 2 warnings" in imported_ok.output
    loaded = load_inventory("eks.yaml")
    assert [w.id for w in loaded.workloads] == ["training/llama-ft"]
    assert loaded.workloads[0].node_selector == {}  # --move-jobs: free to move
    assert loaded.gpu_types["T4G"].memory_gib == 16


@pytest.mark.parametrize(
    ("owner", "volumes", "annotation", "why"),
    [
        ("Job", [], "true", "a Job's pod starts its work over when moved"),
        (
            "MPIJob",
            [],
            "true",
            "a training job's pod (MPIJob) restarts training when moved (from its last "
            "checkpoint at best)",
        ),
        (None, [], "true", "a bare pod (no controller) starts its work over when moved"),
        (
            "StatefulSet",
            [{"name": "cache", "hostPath": {"path": "/mnt/nvme"}}],
            "true",
            "a StatefulSet pod with local storage (hostPath volume 'cache') leaves its data "
            "behind when moved",
        ),
        (
            "StatefulSet",
            [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}],
            "false",
            "a StatefulSet's replica: another takes its place",
        ),
        ("ReplicaSet", [], "false", "a ReplicaSet's replica: another takes its place"),
        (
            "Workflow",
            [],
            "unknown",
            "a Workflow's pod: allocator does not know whether it keeps its work",
        ),
    ],
)
def test_what_a_move_does_to_a_pods_work(tmp_path, owner, volumes, annotation, why):
    item = pod("db-0", requests=SMALL, node_name="n1", volumes=volumes)
    if owner:
        owned(item, owner, "db")
    result = imported(tmp_path, [placed_node("n1")], [item])
    effect = move_effect(result.workloads[0].pods[0])
    assert (effect.annotation, effect.why) == (annotation, why)
    pinned = "node_selector" in result.document["workloads"][0]
    assert pinned == (annotation == "true")
