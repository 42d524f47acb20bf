"""The synthetic instances of the ladder and build benchmarks.

Fleets of 8-GPU servers from ``allocator.inventory.generate`` with one workload per four nodes
(25 at 100 nodes, 250 at 1,000, 2,500 at 10,000), so the workload mix grows with the
fleet, scaled so the wanted GPUs come to ``fill`` of the fleet's GPUs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from allocator.domain.build import build_domain
from allocator.domain.tables import Domain
from allocator.inventory.generate import generate_inventory, harden
from allocator.inventory.schema import Inventory

NODES_PER_WORKLOAD = 4


@dataclass(frozen=True)
class LadderInstance:
    nodes: int
    workloads: int
    fill: float = 0.9
    gpu_types: int = 3
    seed: int = 0
    mix: str = "plain"  # or "hard": gangs, spread and shared GPUs (inventory.generate.harden)

    @classmethod
    def of_size(
        cls, nodes: int, fill: float = 0.9, seed: int = 0, mix: str = "plain"
    ) -> LadderInstance:
        return cls(nodes, max(1, nodes // NODES_PER_WORKLOAD), fill, seed=seed, mix=mix)

    def document(self) -> dict:
        document = generate_inventory(
            self.nodes, self.workloads, self.gpu_types, self.seed, self.fill
        )
        return harden(document, self.seed) if self.mix == "hard" else document

    def domain(self) -> Domain:
        document = self.document()
        return build_domain(Inventory.model_validate(document), name=document["name"])

    def as_params(self) -> dict:
        return asdict(self)
