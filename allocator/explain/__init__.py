"""Why a workload is not placed, from a real analysis rather than a rule of thumb.

For each workload a plan leaves short, every constraint family that bears on it is lifted
alone on a copy of the inventory document, and the copy is solved again: the families
whose lifting alone places more of its replicas (or more of its throughput target) are
what blocks it. When none does, pairs of them are tried. Each blocking family is then
priced: nodes of an existing type to add (the count found by re-solving with 1, 2, 4 ...
more), kW of power cap to add (verified by re-solving), GPU types to allow, rules to
loosen. The cheapest change is the one that places the most, then takes nothing from
other workloads, then adds the least $/h to the plan.

Relaxations edit the inventory document, so each relaxed copy goes through the same
validation, domain build, solve and checker as a file does. Every solve has a time
limit of its own (the analysis's time limit over the number of first-round solves) and
the whole analysis one deadline; families left when it passes are listed as not tried.
"""

from allocator.explain.analysis import (
    ExplainReport,
    Explanation,
    Finding,
    explain,
    require_workload,
)
from allocator.explain.pricing import per_hour

__all__ = [
    "ExplainReport",
    "Explanation",
    "Finding",
    "explain",
    "per_hour",
    "require_workload",
]
