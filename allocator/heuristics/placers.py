"""Heuristic placers selectable like solver backends (`--solver greedy`, `--solver fgd`):
each takes the reduced instance and returns a node-level placement, with no bound.

`greedy` is the better (by the objective's levels) of first-fit-decreasing and best-fit;
the online schedulers (FGD, best-fit, ...) place replica by replica as a cluster
scheduler would, the baselines a batch plan should beat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from allocator.domain.replicas import Replicas
from allocator.evaluate.levels import level_values
from allocator.heuristics.greedy import RULES, greedy_placement
from allocator.heuristics.online.adapter import online_placement
from allocator.heuristics.online.policies import POLICIES
from allocator.model.reduce import PackingInstance


@dataclass(frozen=True)
class Placer:
    name: str
    place: Callable[[PackingInstance, int], Replicas]  # (instance, seed) -> placement
    summary: str


def _best_greedy(inst: PackingInstance, seed: int) -> Replicas:
    del seed  # the greedy rules are deterministic
    placements = [greedy_placement(inst, rule) for rule in RULES]
    return min(placements, key=lambda p: level_values(inst, p))


def _online(policy: str) -> Callable[[PackingInstance, int], Replicas]:
    def place(inst: PackingInstance, seed: int) -> Replicas:
        return online_placement(inst, policy, seed)

    return place


PLACERS: dict[str, Placer] = {
    "greedy": Placer(
        "greedy", _best_greedy, "first-fit-decreasing and best-fit, the better of the two"
    ),
    **{
        policy: Placer(policy, _online(policy), "online scheduler, one replica at a time")
        for policy in POLICIES
    },
}
