"""The documented example is a valid inventory that plans as the text says."""

from __future__ import annotations

import re

from conftest import ROOT

from allocator.domain import build_domain
from allocator.inventory.load import validate_document
from allocator.pipeline import solve_domain
from allocator.plan import InventoryRef
from allocator.sourcefile import parse_text


def example() -> str:
    text = (ROOT / "docs" / "inventory.md").read_text()
    return re.search(r"## A complete example\n\n```yaml\n(.*?)```", text, re.S).group(1)


def test_inventory_doc_example_is_valid_and_plans():
    inventory = validate_document(parse_text("docs/inventory.md", example()))
    domain = build_domain(inventory)
    assert len(domain.fleet) == 21
    assert domain.fleet.ids[11] == "h100-a-11"
    assert list(domain.fleet.rack[:12]) == ["a-r01"] * 6 + ["a-r02"] * 6
    outcome = solve_domain(domain, InventoryRef(name="doc"), "highs")
    assert outcome.violations == []
    assert outcome.plan.objective.hard_shortfall == 0
    embeddings = [p.node for p in outcome.plan.placements if p.workload == "embeddings"]
    assert {"l4-b-0", "l4-b-1"} <= set(embeddings)  # kept where they run
    started = [m for m in outcome.plan.moves if m.workload == "embeddings"]
    assert [(m.from_node, m.to_node is not None) for m in started] == [(None, True)] * 2
