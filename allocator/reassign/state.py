"""An assignment with everything a move changes kept up to date.

Moving one replica changes two nodes' use, its workload's domain counts and the move
counters; keeping those incrementally lets the search price a move to every node in one
array expression instead of re-costing the whole assignment.
"""

from __future__ import annotations

import numpy as np

from allocator.reassign.costs import domain_counts, held, usage
from allocator.reassign.model import Reassignment


class State:
    """A feasible assignment and its derived counts; `move` keeps them consistent."""

    def __init__(self, model: Reassignment, assignment: np.ndarray):
        self.model = model
        self.assignment = np.array(assignment, dtype=np.int64)
        self.used = usage(model, self.assignment)
        self.held = held(model, self.assignment)
        self.in_spread, self.in_dep = (
            domain_counts(
                model.workload, domain[self.assignment], model.num_workloads, domain.max() + 1
            )
            for domain in (model.spread_domain, model.dependency_domain)
        )
        self.domains = (self.in_spread > 0).sum(axis=1)
        moved = self.assignment != model.current
        self.moved = np.bincount(model.workload[moved], minlength=model.num_workloads)
        self.moved_histogram = np.bincount(self.moved, minlength=model.num_replicas + 2)
        self._top = int(self.moved.max(initial=0))  # kept by _count_moved: priced every move
        self.siblings = np.split(
            np.argsort(model.workload, kind="stable"),
            np.cumsum(np.bincount(model.workload, minlength=model.num_workloads))[:-1],
        )

    @property
    def most_moved(self) -> int:
        return self._top

    def most_moved_if(self, workload: int, count: int) -> int:
        """The largest per-workload move count once `workload` has `count` moved replicas."""
        top = self.most_moved
        if count >= top:
            return count
        if self.moved[workload] < top or self.moved_histogram[top] > 1:
            return top
        below = np.flatnonzero(self.moved_histogram[:top])  # every other workload
        return max(count, int(below[-1])) if len(below) else count

    def move(self, replica: int, node: int) -> None:
        m = self.model
        source = int(self.assignment[replica])
        if source == node:
            return
        need = m.need[replica]
        origin = int(m.current[replica])
        w = int(m.workload[replica])
        self.used[source] -= need
        self.used[node] += need
        if source == origin:
            self.held[origin, m.transient] += need[m.transient]
            self._count_moved(w, +1)
        elif node == origin:
            self.held[origin, m.transient] -= need[m.transient]
            self._count_moved(w, -1)
        for counts, domain in (
            (self.in_spread, m.spread_domain),
            (self.in_dep, m.dependency_domain),
        ):
            counts[w, domain[source]] -= 1
            counts[w, domain[node]] += 1
        self.domains[w] = int((self.in_spread[w] > 0).sum())
        self.assignment[replica] = node

    def rules_hold(self, workloads: list[int], left: list[int], domains_before: np.ndarray) -> bool:
        """After moves of replicas of `workloads` off the nodes `left`: do those workloads
        still span enough domains and have what they need nearby, and does every workload
        that needs them still find them in the domains they left?"""
        m = self.model
        for w, node, before in zip(workloads, left, domains_before, strict=True):
            if self.domains[w] < min(m.min_domains[w], before):
                return False
            needs = m.depends_on[w]
            if len(needs):
                here = np.unique(m.dependency_domain[self.assignment[self.siblings[w]]])
                if not (self.in_dep[np.ix_(needs, here)] > 0).all():
                    return False
            domain = m.dependency_domain[node]
            if self.in_dep[w, domain] == 0:
                needers = m.needed_by[w]
                if len(needers) and (self.in_dep[needers, domain] > 0).any():
                    return False
        return True

    def _count_moved(self, workload: int, step: int) -> None:
        was = int(self.moved[workload])
        self.moved_histogram[was] -= 1
        self.moved[workload] += step
        self.moved_histogram[was + step] += 1
        if was + step > self._top:
            self._top = was + step
        elif was == self._top and self.moved_histogram[was] == 0:
            self._top = was + step  # it was the only workload at the top
