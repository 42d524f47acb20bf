"""A coarser model for fleets whose rules count replicas in many places (racks).

A rule that counts replicas per rack makes every rack a node group of its own: 10,000
nodes in 627 racks of three node types are 627 groups and 1.3 million assignment columns
where six groups would do. The coarse model is the same fleet with the rules of such
scopes left out (spread caps and minimums there, gangs' "within" there; a gang stays all
or none), so alike nodes merge again. What a cap per place still says of a merged group
stays: at most the cap times the places its nodes sit in (`most_on_group`). Its plan is
then arranged into places so that it keeps the rules left out (`heuristics.arrange`).

Leaving rules out can only lower each objective's optimum, so the coarse plan's bounds
hold for the fleet itself, and an arrangement that keeps every rule scores what the
coarse plan scored: it is as close to optimal as the coarse plan was proven to be.
Where some replicas do not fit, the arrangement less those, completed by the greedy
rules, is a warm start for the full model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from allocator.domain.grouping import by_family
from allocator.domain.replicas import Replicas
from allocator.domain.scopes import NO_SCOPE, NODE, SCOPES
from allocator.domain.tables import Domain
from allocator.evaluate.levels import level_values
from allocator.heuristics.arrange import Alike, arrange
from allocator.heuristics.counts import repair
from allocator.heuristics.greedy import RULES, greedy_placement
from allocator.model.reduce import PackingInstance, group_nodes, reduce
from allocator.rules import scopes_counted
from allocator.rules.spread import SpreadTable

PLACES_KEPT = 16  # a scope of at most this many places keeps its rules in the coarse model
MERGE_AT_LEAST = 2  # coarse only where it divides the node groups at least this much


@dataclass(frozen=True, eq=False)
class Coarse:
    """The fleet with the rules of `scopes` left out, and its reduced instance."""

    domain: Domain
    inst: PackingInstance
    scopes: tuple[int, ...]
    full_groups: int  # node groups of the full model

    @property
    def scope_names(self) -> str:
        return ", ".join(SCOPES[s] for s in self.scopes)

    def arranged(self, domain: Domain, placement: Replicas) -> tuple[Replicas, np.ndarray]:
        """The coarse `placement` traded among alike nodes and slots for `domain`'s
        fleet, and which of its replicas keep every rule there (`counts.repair`)."""
        inst = self.inst
        alike = Alike(inst.groups.of_node, inst.shapes.of_workload, self.scopes, inst.compat)
        moved = arrange(domain, placement, alike)
        return moved, repair(domain, moved.workload, moved.node)


def completed(
    inst: PackingInstance, moved: Replicas, keep: np.ndarray, stop_at: float | None
) -> Replicas:
    """`moved` less the replicas that break a rule, which the better greedy rule places
    again (on the fleet of `inst`)."""
    if keep.all():
        return moved
    kept = moved.take(np.flatnonzero(keep))
    candidates = [greedy_placement(inst, rule, start=kept, stop_at=stop_at) for rule in RULES]
    return min(candidates, key=lambda p: level_values(inst, p))


def coarsening(domain: Domain) -> Coarse | None:
    """The coarse model of `domain`, or None where it would not merge node groups.

    Only spread and gang rules are left out, at scopes of more than PLACES_KEPT places;
    scopes that survival or affinity rules count keep all their rules. A fleet running
    replicas now keeps its full model: trading nodes and slots would move them."""
    if domain.current:
        return None
    rules = domain.rules
    kept = {*rules.survive.tolist(), *rules.relations.scope.tolist()}
    scopes = tuple(
        sorted(
            s
            for s in scopes_counted(domain) - kept - {NODE}
            if len(domain.scopes.names(s)) > PLACES_KEPT
        )
    )
    if not scopes:
        return None
    spread = rules.spread
    keep = ~np.isin(spread.scope, scopes)
    families = len(domain.demand.families)
    looser = replace(
        rules,
        spread=SpreadTable(
            spread.f[keep],
            spread.scope[keep],
            spread.most[keep],
            spread.fewest[keep],
            by_family(spread.f[keep], families),
        ),
        gang=replace(
            rules.gang,
            within=np.where(np.isin(rules.gang.within, scopes), NO_SCOPE, rules.gang.within),
        ),
    )
    coarse = replace(domain, rules=looser)
    full_groups = len(group_nodes(domain))
    coarse_inst = reduce(coarse)
    if len(coarse_inst.groups) * MERGE_AT_LEAST > full_groups:
        return None
    most = _most_on_group(domain, coarse_inst, scopes)
    return Coarse(coarse, replace(coarse_inst, most_on_group=most), scopes, full_groups)


def _most_on_group(
    domain: Domain, inst: PackingInstance, scopes: tuple[int, ...]
) -> np.ndarray | None:
    """What a cap per place left out still says of a coarse group: at most `most` times
    the places of that scope its nodes sit in (inf where nothing caps it)."""
    spread = domain.rules.spread
    capped = np.flatnonzero(np.isin(spread.scope, scopes) & (spread.most >= 0))
    if not len(capped):
        return None
    of_node = inst.groups.of_node
    most = np.full((len(domain.demand.families), len(inst.groups)), np.inf)
    for scope in np.unique(spread.scope[capped]).tolist():
        held = np.unique(np.stack([of_node, domain.scopes.code(scope)], axis=1), axis=0)
        places = np.bincount(held[:, 0], minlength=len(inst.groups))
        rules = capped[spread.scope[capped] == scope]
        np.minimum.at(most, spread.f[rules], spread.most[rules][:, None] * places[None, :])
    return most
