"""The documented example is a valid inventory that plans as the text says."""

from __future__ import annotations

import re

from conftest import ROOT

from allocator.domain.build import build_domain
from allocator.inventory.load import validate_document
from allocator.io.source import parse_text
from allocator.output.plan import InventoryRef
from allocator.solve.pipeline import solve_domain


def example() -> str:
    text = (ROOT / "docs" / "inventory.md").read_text()
    return re.search(r"## A complete example\n\n```yaml\n(.*?)```", text, re.S).group(1)


def test_inventory_doc_example_is_valid_and_plans():
    inventory = validate_document(parse_text("docs/inventory.md", example()))
    domain = build_domain(inventory)
    assert len(domain.fleet) == 22
    assert domain.fleet.ids[11] == "h100-a-11"
    assert list(domain.fleet.rack[:12]) == ["a-r01"] * 6 + ["a-r02"] * 6
    outcome = solve_domain(domain, InventoryRef(name="doc"), "highs")
    assert outcome.violations == []
    assert outcome.plan.objective.hard_shortfall == 0
    placed = {(p.workload, p.node) for p in outcome.plan.placements}
    # Four quarter-GPU replicas share one L4: the one on l4-b-0 stays, l4-b-1's moves
    # over (a node less), two start there.
    assert {node for w, node in placed if w == "embeddings"} == {"l4-b-0"}
    moves = sorted(
        (m.from_node or "", m.to_node) for m in outcome.plan.moves if m.workload == "embeddings"
    )
    assert moves == [("", "l4-b-0"), ("", "l4-b-0"), ("l4-b-1", "l4-b-0")]
    assert ("data-prep", "cpu-1") in placed  # cpu-1 is draining: data-prep stays there
    assert {u.workload for u in outcome.plan.storage} == {"llama3-70b-chat", "pretrain"}
    assert any(p.workload == "small-llm" and p.node == "a100-mig" for p in outcome.plan.placements)


def test_inventory_doc_example_keeps_its_workload_rules():
    inventory = validate_document(parse_text("docs/inventory.md", example()))
    domain = build_domain(inventory)
    plan = solve_domain(domain, InventoryRef(name="doc"), "highs").plan
    (code,) = plan.throughput
    assert code.workload == "code-assist" and code.met and code.achieved >= 20000
    nodes = {w: {p.node for p in plan.placements if p.workload == w} for w in ("pretrain",)}
    racks = {domain.fleet.rack[domain.fleet.index[n]] for n in nodes["pretrain"]}
    assert len(racks) == 1  # the gang stays in one rack
    chat = {p.node for p in plan.placements if p.workload == "llama3-70b-chat"}
    assert not chat & nodes["pretrain"]  # anti-affinity on nodes
    # Workloads without a class come after the listed classes.
    assert list(plan.objective.unplaced_by_class) == ["production", "batch", "unclassed"]
