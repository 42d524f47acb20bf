from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
INSTANCES = ROOT / "instances"
OPENB_SAMPLE = Path(__file__).resolve().parent / "data" / "openb"


@pytest.fixture(scope="module")
def openb_domain():
    """The openb sample's arrived tasks on its nodes: groups whose patterns are too many to
    list, for column generation."""
    from allocator.domain.build import build_domain
    from allocator.interop.openb.importer import import_openb

    imported = import_openb(
        OPENB_SAMPLE / "openb_node_list_all_node.csv",
        OPENB_SAMPLE / "openb_pod_list_sample.csv",
        seed=2,
    )
    return build_domain(imported.inventory)


@pytest.fixture
def write_inventory(tmp_path: Path):
    """Write an inventory dict (or raw text) to a file and return its path."""

    def write(content: dict | str, name: str = "inventory.yaml") -> Path:
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
        return path

    return write
