"""The model, the greedy placers and the checker agree on every workload rule: each rule,
and each pair of rules on one workload, solved by every exact backend and by greedy, gives
a plan the checker accepts; the exact backends reach the same proven optimum."""

from __future__ import annotations

import itertools

import pytest
from builders import inventory, node, workload

from allocator.domain.build import build_domain
from allocator.inventory.schema import Inventory
from allocator.io.errors import ExitCode
from allocator.output.plan import InventoryRef
from allocator.solve.pipeline import solve_domain
from solvers.base import SolveOptions

SOLVERS = ("highs", "cbc", "cpsat", "greedy")

# One rule each, as fields of the workload "svc" (2 to 4 one-GPU replicas).
RULES: dict[str, dict] = {
    "spread rack max": {"spread": [{"across": "rack", "max_per_domain": 1}]},
    "spread zone min": {"spread": [{"across": "zone", "min_domains": 2}]},
    "spread node max": {"spread": [{"across": "node", "max_per_domain": 1}]},
    "spread node min": {"spread": [{"across": "node", "min_domains": 3}]},
    "survive rack": {"survive": "rack"},
    "survive node": {"survive": "node"},
    "gang": {"gang": {}},
    "gang within rack": {"gang": {"within": "rack"}},
    "gang within node": {"gang": {"within": "node"}},
    "affinity zone": {"affinity": [{"workload": "partner", "scope": "zone"}]},
    "affinity node": {"affinity": [{"workload": "partner", "scope": "node"}]},
    "anti-affinity rack": {"anti_affinity": [{"workload": "partner", "scope": "rack"}]},
    "anti-affinity node": {"anti_affinity": [{"workload": "partner", "scope": "node"}]},
    "dedicated tenant": {"tenant": "solo"},
    "zones": {"zones": ["z1"]},
    "node selector": {"node_selector": {"tier": "a"}},
    "toleration": {"tolerations": ["maintenance"]},
    # The inventory's section (not a field of svc): workloads without a tenant ("-": svc,
    # and batch) share 3 GPUs, rounded up to whole replicas.
    "gpu share": {"shares": {"tenants": {"-": {"H100": 3}}}},
}
SECTIONS = ("shares",)  # rules written as sections of the inventory


def fleet_doc(rules: dict) -> dict:
    rules = dict(rules)
    sections = {key: rules.pop(key) for key in SECTIONS if key in rules}
    # Two zones, three racks of two 4-GPU nodes; tier b in rack r3; one tainted node.
    nodes = [
        node("r1", count=2, gpus=4, rack="r1", zone="z1", cost=10, labels={"tier": "a"}),
        node("r2", count=2, gpus=4, rack="r2", zone="z1", cost=11, labels={"tier": "a"}),
        node("r3", count=1, gpus=4, rack="r3", zone="z2", cost=9, labels={"tier": "b"}),
        node("t3", gpus=4, rack="r3", zone="z2", cost=8, taints=["maintenance"]),
    ]
    svc = workload("svc", replicas={"min": 2, "max": 4}, gpus=1, priority=5, **rules)
    loads = [
        svc,
        workload("partner", replicas={"min": 1, "max": 2}, gpus=1, priority=3, tenant="other"),
        workload("batch", replicas={"min": 0, "max": 6}, gpus=2, priority=1),
    ]
    return inventory(nodes, loads, tenants={"solo": {"dedicated": True}}, **sections)


def combined(*names: str) -> dict:
    out: dict = {}
    for name in names:
        for key, value in RULES[name].items():
            out[key] = [*out[key], *value] if isinstance(value, list) and key in out else value
    return out


def solve_all(rules: dict) -> dict:
    domain = build_domain(Inventory.model_validate(fleet_doc(rules)))
    outcomes = {}
    for solver in SOLVERS:
        outcome = solve_domain(
            domain, InventoryRef(name="rules"), solver, SolveOptions(time_limit=20)
        )
        assert [str(v) for v in outcome.violations] == [], solver
        assert outcome.exit_code in (ExitCode.OK, ExitCode.UNPLACED, ExitCode.NO_PLAN), solver
        outcomes[solver] = outcome
    proven = [o for s, o in outcomes.items() if s != "greedy" and o.plan.solver.status == "optimal"]
    values = {tuple(round(lv.value, 6) for lv in o.plan.solver.levels) for o in proven}
    assert len(values) <= 1, values
    return outcomes


@pytest.mark.parametrize("name", RULES)
def test_each_rule_agrees(name):
    solve_all(combined(name))


PAIRS = [
    pair
    for pair in itertools.combinations(RULES, 2)
    # A gang's size is its max; the loader refuses some combinations, skipped here.
    if not (set(pair) <= {"gang", "gang within rack", "gang within node"})
    and not (pair[0].startswith("spread node") and pair[1].startswith("spread node"))
]


@pytest.mark.parametrize("pair", PAIRS, ids=[" + ".join(p) for p in PAIRS])
def test_each_pair_of_rules_agrees(pair):
    solve_all(combined(*pair))
