"""Small random instances: the planner's optimum equals an exhaustive search's.

The search enumerates every way to spread each workload's replicas over the nodes,
straight from the inventory, sharing no code with the model builder.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocator.domain.build import build_domain
from allocator.inventory.catalog import BUILTIN_GPU_TYPES
from allocator.inventory.schema import Inventory
from allocator.output.plan import InventoryRef
from allocator.solve.pipeline import solve_domain
from solvers.base import SolveOptions, Status

TYPES = ("H100", "L40S", "L4")


@st.composite
def instances(draw) -> dict:
    nodes = []
    for i in range(draw(st.integers(1, 3))):
        gpus = draw(st.sampled_from([0, 1, 2, 4]))
        entry = {
            "id": f"n{i}",
            "gpus": gpus,
            "cpus": draw(st.integers(4, 16)),
            "ram_gib": draw(st.integers(16, 64)),
            "cost_per_hour": draw(st.integers(1, 9)),
        }
        if gpus:
            entry["gpu_type"] = draw(st.sampled_from(TYPES))
        nodes.append(entry)
    workloads = []
    for i in range(draw(st.integers(1, 3))):
        gpus = draw(st.sampled_from([0, 1, 1, 2]))
        hi = draw(st.integers(1, 3))
        resources = {
            "gpus": gpus,
            "cpus": draw(st.integers(1, 8)),
            "ram_gib": draw(st.integers(4, 32)),
        }
        entry = {
            "id": f"w{i}",
            "priority": draw(st.integers(1, 5)),
            "replicas": {"min": draw(st.integers(0, hi)), "max": hi},
            "resources": resources,
        }
        if gpus and draw(st.booleans()):
            resources["gpu_memory_gib"] = draw(st.sampled_from([10, 30, 60]))
        if gpus and draw(st.booleans()):
            entry["gpu_types"] = sorted(draw(st.sets(st.sampled_from(TYPES), min_size=1)))
        workloads.append(entry)
    return {"version": 1, "nodes": nodes, "workloads": workloads}


def brute_force(doc: dict) -> tuple[float, float, float]:
    """Best (shortfall, unplaced priority, cost) over every placement."""
    nodes, loads = doc["nodes"], doc["workloads"]

    def hosts(w: dict, n: dict) -> bool:
        r = w["resources"]
        if r["gpus"] == 0:
            return True
        if n["gpus"] < r["gpus"]:
            return False
        if "gpu_types" in w and n.get("gpu_type") not in w["gpu_types"]:
            return False
        memory = BUILTIN_GPU_TYPES[n["gpu_type"]].memory_gib
        return r.get("gpu_memory_gib", 0) <= r["gpus"] * memory

    def spreads(w: dict) -> list[tuple[int, ...]]:
        options = []
        for counts in itertools.product(range(w["replicas"]["max"] + 1), repeat=len(nodes)):
            if sum(counts) <= w["replicas"]["max"] and all(
                c == 0 or hosts(w, n) for c, n in zip(counts, nodes, strict=True)
            ):
                options.append(counts)
        return options

    best = None
    for choice in itertools.product(*(spreads(w) for w in loads)):
        fits = True
        for k, n in enumerate(nodes):
            for key, cap in (("gpus", n["gpus"]), ("cpus", n["cpus"]), ("ram_gib", n["ram_gib"])):
                if (
                    sum(c[k] * w["resources"][key] for c, w in zip(choice, loads, strict=True))
                    > cap
                ):
                    fits = False
        if not fits:
            continue
        placed = [sum(c) for c in choice]
        shortfall = sum(
            w["priority"] * max(w["replicas"]["min"] - p, 0)
            for w, p in zip(loads, placed, strict=True)
        )
        unplaced = sum(
            w["priority"] * (w["replicas"]["max"] - p) for w, p in zip(loads, placed, strict=True)
        )
        cost = sum(n["cost_per_hour"] for k, n in enumerate(nodes) if any(c[k] for c in choice))
        value = (shortfall, unplaced, cost)
        if best is None or value < best:
            best = value
    return best


def planned(doc: dict, solver: str) -> tuple[float, float, float]:
    domain = build_domain(Inventory.model_validate(doc))
    outcome = solve_domain(domain, InventoryRef(name="random"), solver, SolveOptions(time_limit=30))
    assert outcome.violations == []
    assert outcome.result.status == Status.OPTIMAL
    o = outcome.plan.objective
    return o.hard_shortfall, o.unplaced_priority, o.cost_per_hour


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances())
def test_highs_matches_exhaustive_search(doc):
    assert planned(doc, "highs") == pytest.approx(brute_force(doc))


@pytest.mark.parametrize("solver", ["cbc", "cpsat"])
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=instances())
def test_other_exact_backends_match_exhaustive_search(solver, doc):
    assert planned(doc, solver) == pytest.approx(brute_force(doc))
