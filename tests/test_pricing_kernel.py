"""The compiled pricing loops give what the numpy code they stand in for gives."""

from __future__ import annotations

import numpy as np
import pytest
from builders import inventory, node, workload

from allocator.domain.build import build_domain
from allocator.inventory.schema import Inventory
from allocator.model import pricing_kernel
from allocator.model.nodepack import NodePacker
from allocator.model.patterns import shape_bounds
from allocator.model.pricing import relaxed_patterns
from allocator.model.pricing_bound import PatternBound
from allocator.model.reduce import reduce

pytest.importorskip("numba")


def _shared(id: str, replicas: int, cpus: float, **resources) -> dict:
    entry = workload(id, replicas=replicas, cpus=cpus)
    entry["resources"] = {"cpus": cpus, "ram_gib": 8, **resources}
    return entry


@pytest.fixture(scope="module")
def mixed():
    """Nodes with MIG, shared and whole GPUs and CPU limits that bind; shapes of every kind."""
    mig = [{"id": "m1", "gpu_type": "H100", "gpus": 8, "cpus": 48, "ram_gib": 512,
            "cost_per_hour": 10, "mig": True}]  # fmt: skip
    nodes = [*mig, node("h1", cpus=40), node("l1", gpu_type="L4", gpus=4, cpus=24), node("c1")]
    mig_workloads = [
        {**_shared(f"mig{k}", 9, 2, mig_profile=profile), "gpu_types": ["H100"]}
        for k, profile in enumerate(["1g.10gb", "2g.20gb", "3g.40gb"])
    ]
    workloads = [
        workload("one", replicas=6, cpus=6),
        workload("two", replicas=3, gpus=2, cpus=10),
        workload("cpu", replicas=5, gpus=0, cpus=8),
        _shared("quarter", 12, 3, gpu_fraction=0.25),
        _shared("half", 7, 1, gpu_fraction=0.5),
        _shared("third", 5, 2, gpu_fraction=0.3),
        *mig_workloads,
    ]
    return reduce(build_domain(Inventory.model_validate(inventory(nodes, workloads))))


def _both(monkeypatch, run):
    """run() with the compiled loops, then with numpy."""
    compiled = run()
    monkeypatch.setattr(pricing_kernel, "AVAILABLE", False)
    plain = run()
    monkeypatch.setattr(pricing_kernel, "AVAILABLE", True)
    return compiled, plain


def _same_patterns(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        all(np.array_equal(x, y) for x, y in zip(p, q, strict=True))
        for p, q in zip(a, b, strict=True)
    )


def test_filling_a_node_in_any_order_gives_the_numpy_packers_node(mixed, monkeypatch):
    rng = np.random.default_rng(11)
    kinds = set()
    for g in range(len(mixed.groups)):
        for _ in range(40):
            order = rng.integers(0, len(mixed.shapes), size=rng.integers(1, 25))
            limit = rng.integers(1, 6, size=len(order))

            def fill(order=order, limit=limit, g=g):
                packer = NodePacker(mixed, g)
                packer.fill(order, limit)
                return packer

            compiled, plain = _both(monkeypatch, fill)
            for name in ("free", "mode", "left", "content", "whole"):
                assert np.array_equal(getattr(compiled, name), getattr(plain, name)), name
            kinds.update(compiled.mode.tolist())
    assert kinds == {0, 1, 2, 3}  # free, whole, shared and MIG GPUs were all filled


def test_suggested_patterns_and_the_pattern_bound_are_those_of_numpy(mixed, monkeypatch):
    rng = np.random.default_rng(12)
    bounds = shape_bounds(mixed)
    suggested = 0
    for g in range(len(mixed.groups)):
        for _ in range(10):
            value = rng.random(len(mixed.shapes)) * (rng.random(len(mixed.shapes)) < 0.8) * 100
            lam = rng.random(mixed.shapes.demand.shape[1] - 1) * rng.choice([0.0, 0.5, 2.0])

            def price(value=value, lam=lam, g=g):
                upper = PatternBound(mixed, g, bounds[g])
                return upper.bound(value), relaxed_patterns(mixed, g, value, bounds[g], lam)

            (bound, patterns), (plain_bound, plain_patterns) = _both(monkeypatch, price)
            assert bound == pytest.approx(plain_bound, rel=1e-12, abs=1e-9)
            assert _same_patterns(patterns, plain_patterns)
            suggested += len(patterns)
    assert suggested > 50
