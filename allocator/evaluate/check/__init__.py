"""The independent plan checker.

It recomputes every rule and figure from the inventory and the plan alone: no model, no
solver, and on purpose not the figures API (`evaluate.figures`) that the plan's own
numbers come from, so that two separate pieces of arithmetic must agree. A plan that
leaves the tool has passed it; `allocator check` runs it on any plan file, including
ones written by other tools or edited by hand. What it checks:

- entries (`entries`): every placement names a workload (and variant) and a node of the
  inventory; no replica is listed twice; per workload, placed + listed unplaced = max,
  the required ones flagged as such, no replica number beyond max, none listed
  unplaced for a workload sized by a throughput target;
- hosts (`hosts`): per replica, the number and indices of its GPUs, the node's GPU type
  (allowed, and giving throughput where there is a target), GPU memory and MIG profile;
  per physical GPU, whole GPUs exclusive, fractions within one GPU and its memory, MIG
  instances within its slices and never mixed with fractions; per node, CPU, RAM, NVMe
  and NIC bandwidth within capacity; down nodes run nothing, draining ones nothing new;
- workload rules: each rule family's own check (`allocator.rules`: spread, gang,
  affinity, dedicated tenants, selectors; surviving a loss is counted in the objective);
- data center (`datacenter`): datasets on known storage of the right tier, within
  capacity and read throughput; traffic within every link; power within every row and
  site cap; peer traffic within one site;
- objective (`objective`): every stated term recomputed, unplaced priority per class,
  the hard shortfall after the worst loss each workload must survive (naming the loss a
  plan hides), throughput per target, moves and the cap on them;
- the rest of what the plan states (`statements`): the value of every objective level
  (and the solver's objective, the last one), each bound on the right side of its value
  with a consistent gap, kW per row and site with their caps, Gbps per loaded link with
  its capacity, the workloads one loss would take below min, the replicas a higher
  class preempts; and no number anywhere in the plan is NaN or infinite.
"""

from __future__ import annotations

from allocator import rules
from allocator.domain.tables import Domain
from allocator.evaluate.check import datacenter, hosts, objective, statements
from allocator.evaluate.check.entries import read_entries, replica_accounting
from allocator.output.plan import PlanFile
from allocator.rules.base import Violation


def check_plan(domain: Domain, plan: PlanFile) -> list[Violation]:
    """Every way the plan breaks the inventory's rules; empty when it is valid."""
    known, out = read_entries(domain, plan)
    out += replica_accounting(domain, plan, known)
    out += hosts.replica_gpus(domain, known)
    out += hosts.gpu_sharing(domain, known)
    out += hosts.capacity(domain, known)
    out += hosts.node_states(domain, known)
    out += datacenter.storage(domain, plan, known)
    out += datacenter.network_and_power(domain, plan, known)
    out += rules.check(domain, known.placed)
    terms = objective.recompute(domain, plan, known)
    out += objective.objective(domain, plan, known, terms)
    out += objective.moves(domain, plan)
    out += statements.levels(domain, plan, terms)
    out += statements.power(domain, plan, known)
    out += statements.links(domain, plan, known)
    out += statements.exposure(domain, plan, known)
    out += statements.preemption(domain, plan, known)
    out += statements.finite(plan)
    return out


__all__ = ["Violation", "check_plan"]
