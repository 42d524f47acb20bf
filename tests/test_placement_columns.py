"""A placement's columns satisfy the model: `columns_from_placement` gives every column
its value, the rule families' own included, so that a plan the greedy placers make (the
warm start) or a rounded LP start is one the model accepts."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import INSTANCES

from allocator.domain.build import build_domain
from allocator.evaluate.levels import level_values
from allocator.heuristics.greedy import RULES, greedy_placement
from allocator.inventory.generate import generate_inventory, harden
from allocator.inventory.schema import Inventory
from allocator.model.decode import columns_from_placement, patterns_of_placement
from allocator.model.formulation import build_formulation
from allocator.model.patterns import enumerate_pool
from allocator.model.reduce import reduce
from allocator.solve.pipeline import load_domain


def _hard(nodes: int, seed: int = 0):
    document = harden(generate_inventory(nodes, nodes // 4, 3, seed, 0.9), seed)
    return build_domain(Inventory.model_validate(document), name=document["name"])


def _every_rule():
    """The hard mix plus the rules it lacks: spread over nodes, surviving a node or a
    rack, affinity and anti-affinity at node and rack, a gang on one node."""
    document = harden(generate_inventory(200, 50, 3, 2, 0.8), 2)
    workloads = document["workloads"]
    plain = [
        w
        for w in workloads
        if not {"gang", "spread", "variants", "throughput"} & set(w)
        and isinstance(w["replicas"], dict)
        and 0 < w["replicas"]["min"] < w["replicas"]["max"]
        and "gpus" in w["resources"]
    ]
    assert len(plain) >= 6
    plain[0]["spread"] = [{"across": "node", "min_domains": 2}]
    plain[1]["survive"] = "node"
    plain[2]["survive"] = "rack"
    plain[3]["affinity"] = [{"workload": plain[4]["id"], "scope": "rack"}]
    plain[5]["anti_affinity"] = [{"workload": plain[4]["id"], "scope": "rack"}]
    if len(plain) > 7:
        plain[6]["affinity"] = [{"workload": plain[7]["id"], "scope": "node"}]
    small = next(w for w in plain[8:] if w["resources"]["gpus"] <= 2)
    small["gang"] = {"within": "node"}
    small["replicas"] = 2
    return build_domain(Inventory.model_validate(document), name="every-rule")


CASES = {
    "rules": lambda: load_domain(INSTANCES / "rules.yaml"),
    "dc-east": lambda: load_domain(INSTANCES / "dc-east.yaml"),
    "shares": lambda: load_domain(INSTANCES / "shares.yaml"),
    "medium": lambda: load_domain(INSTANCES / "medium.yaml"),
    "hard-300": lambda: _hard(300),
    "hard-1000": lambda: _hard(1000, 1),
    "every-rule": _every_rule,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_greedy_columns_satisfy_every_row(case):
    inst = reduce(CASES[case]())
    seeds = [greedy_placement(inst, rule) for rule in RULES]
    pool = enumerate_pool(inst)
    for seed in seeds:
        pool = pool.with_patterns(*patterns_of_placement(inst, seed))
    form = build_formulation(inst, pool)
    for rule, seed in zip(RULES, seeds, strict=True):
        assert len(seed.workload), f"{rule} placed nothing"
        x = columns_from_placement(form, seed)
        assert x is not None, f"{rule}: a node's pattern is not in the pool"
        problem = form.problem
        ax = problem.a @ x
        low = np.flatnonzero(ax < problem.row_lo - 1e-6)
        high = np.flatnonzero(ax > problem.row_hi + 1e-6)
        broken = [problem.row_name(i) for i in np.concatenate([low, high])[:10]]
        assert not broken, f"{rule} breaks rows: {broken}"
        assert ((x >= problem.col_lo - 1e-6) & (x <= problem.col_hi + 1e-6)).all()
        fractional = problem.integer & (np.abs(x - np.round(x)) > 1e-6)
        assert not fractional.any(), (
            f"{rule}: fractional {problem.col_name(int(fractional.argmax()))}"
        )
        assert problem.violations(x) == []
        # The columns score the placement as the figures do.
        values = level_values(inst, seed)
        for level, value in zip(form.levels, values, strict=True):
            assert level.value(x) == pytest.approx(value, rel=1e-9, abs=1e-6), level.name
