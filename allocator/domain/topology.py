"""The data center's network and power layout, from the file's compact description.

Each site has a spine; each rack a switch with an uplink to its site's spine (given, or
the rack's total NIC bandwidth divided by the oversubscription); sites are joined by WAN
links. Traffic between two racks, or between a rack and a storage system, follows the
shortest path (fewest hops) in this graph, and each direction of each link has its own
capacity. Racks sit in power rows inside sites; rows and sites may cap power.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np

from allocator.inventory.schema import TopologySpec

UNLIMITED_GBPS = float("inf")


def rack_vertex(rack: str) -> str:
    return f"rack:{rack}"


def spine_vertex(site: str) -> str:
    return f"spine:{site}"


@dataclass(frozen=True, eq=False)
class Network:
    """Directed links (one per direction) with capacities, and routes between vertices."""

    graph: nx.DiGraph
    links: tuple[tuple[str, str], ...]
    capacity_gbps: np.ndarray
    site_of_rack: dict[str, str]
    row_of_rack: dict[str, str]
    site_power_cap_kw: dict[str, float]
    row_power_cap_kw: dict[str, float]
    energy_price: dict[str, float]  # $/kWh by site
    pue: dict[str, float]
    pinned: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)  # spine paths
    _routes: dict[tuple[str, str], tuple[int, ...]] = field(default_factory=dict)

    @cached_property
    def link_index(self) -> dict[tuple[str, str], int]:
        return {link: k for k, link in enumerate(self.links)}

    def route(self, source: str, target: str) -> tuple[int, ...]:
        """Link indices on the path from one vertex to another (empty when they coincide)."""
        key = (source, target)
        if key not in self._routes:
            if source == target:
                path: list[str] = [source]
            else:
                pinned = self._pinned_path(source, target)
                if pinned is not None:
                    path = pinned
                else:
                    try:
                        path = nx.shortest_path(self.graph, source, target)
                    except nx.NetworkXNoPath:
                        path = []
            self._routes[key] = (
                tuple(self.link_index[(u, v)] for u, v in itertools.pairwise(path))
                if path
                else (-1,)
            )
        return self._routes[key]

    def _pinned_path(self, source: str, target: str) -> list[str] | None:
        """The path through a pinned sequence of spines, when one joins the two sites."""
        ends = (self._spine_of(source), self._spine_of(target))
        spines = self.pinned.get(ends)
        if spines is None:
            return None
        path = [source] if source != spines[0] else []
        path += list(spines)
        if target != spines[-1]:
            path.append(target)
        if not all(self.graph.has_edge(u, v) for u, v in itertools.pairwise(path)):
            return []
        return path

    def _spine_of(self, vertex: str) -> str:
        if vertex.startswith("rack:"):
            return spine_vertex(self.site_of_rack.get(vertex[5:], ""))
        return vertex

    def link_name(self, k: int) -> str:
        u, v = self.links[k]
        return f"{u} -> {v}"


def build_network(spec: TopologySpec, rack_nic_gbps: dict[str, float]) -> Network:
    """The graph of a topology; `rack_nic_gbps` is each rack's total node NIC bandwidth."""
    graph = nx.DiGraph()
    site_of_rack: dict[str, str] = {}
    row_of_rack: dict[str, str] = {}
    row_caps: dict[str, float] = {}
    for site in spec.sites:
        spine = spine_vertex(site.id)
        graph.add_node(spine)
        racks = list(site.racks)
        for row in site.rows:
            racks += row.racks
            for rack in row.racks:
                row_of_rack[rack] = row.id
            if row.power_cap_kw is not None:
                row_caps[row.id] = row.power_cap_kw
        for rack in racks:
            site_of_rack[rack] = site.id
            uplink = site.rack_uplink_gbps
            if uplink is None and site.oversubscription is not None:
                uplink = rack_nic_gbps.get(rack, UNLIMITED_GBPS) / site.oversubscription
            uplink = UNLIMITED_GBPS if uplink is None else uplink
            graph.add_edge(rack_vertex(rack), spine, gbps=uplink)
            graph.add_edge(spine, rack_vertex(rack), gbps=uplink)
    for link in spec.wan:
        a, b = (spine_vertex(s) for s in link.between)
        graph.add_edge(a, b, gbps=link.gbps)
        graph.add_edge(b, a, gbps=link.gbps)
    links = tuple(graph.edges())
    return Network(
        graph=graph,
        links=links,
        capacity_gbps=np.array([graph.edges[e]["gbps"] for e in links], dtype=np.float64),
        site_of_rack=site_of_rack,
        row_of_rack=row_of_rack,
        site_power_cap_kw={s.id: s.power_cap_kw for s in spec.sites if s.power_cap_kw},
        row_power_cap_kw=row_caps,
        energy_price={s.id: s.energy_price_per_kwh for s in spec.sites},
        pue={s.id: s.pue for s in spec.sites},
        pinned=_pinned(spec),
    )


def _pinned(spec: TopologySpec) -> dict[tuple[str, str], tuple[str, ...]]:
    pinned = {}
    for route in spec.routes:
        path = tuple(spine_vertex(s) for s in (route.between[0], *route.via, route.between[1]))
        pinned[(path[0], path[-1])] = path
        pinned[(path[-1], path[0])] = path[::-1]
    return pinned
