"""Re-placing running replicas over arbitrary resource dimensions (see `model`).

`Reassignment` holds the problem as arrays, `costs` prices and checks an assignment from
scratch, `state`/`moves`/`search` improve one incrementally, `mip` writes it (or the part
on a few nodes) as a neutral MIP, and `solve` picks between them within a time limit.
The ROADEF/EURO 2012 importer (`allocator.interop.roadef.convert`) produces one.
"""

from allocator.reassign.costs import Costs, costs, lower_bound, violations
from allocator.reassign.model import Reassignment
from allocator.reassign.strategy import InfeasibleStart, ReassignOutcome, solve

__all__ = [
    "Costs",
    "InfeasibleStart",
    "ReassignOutcome",
    "Reassignment",
    "costs",
    "lower_bound",
    "solve",
    "violations",
]
