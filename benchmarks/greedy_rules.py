"""Each greedy rule on its own on a ladder fleet: time, objective levels, checker verdict.

The greedy backend runs both rules and keeps the better plan; this times each rule apart,
as BENCHMARKS.md ("Greedy placer at fleet scale") reports it.

    python benchmarks/greedy_rules.py 10000 [--mix hard] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from allocator.bench.instances import LadderInstance  # noqa: E402
from allocator.evaluate.check import check_plan  # noqa: E402
from allocator.evaluate.levels import level_values  # noqa: E402
from allocator.heuristics.greedy import RULES, greedy_placement  # noqa: E402
from allocator.heuristics.placers import Placer  # noqa: E402
from allocator.model.reduce import reduce  # noqa: E402
from allocator.output.plan import InventoryRef  # noqa: E402
from allocator.output.planfile import plan_file  # noqa: E402
from allocator.solve.pipeline import solver_report  # noqa: E402
from allocator.solve.strategy import _plan_heuristic  # noqa: E402
from solvers.base import SolveOptions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("nodes", type=int)
    parser.add_argument("--mix", choices=("plain", "hard"), default="plain")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    domain = LadderInstance.of_size(args.nodes, 0.9, args.seed, args.mix).domain()
    instance = reduce(domain)
    row: dict = {
        "nodes": args.nodes,
        "mix": args.mix,
        "groups": len(instance.groups),
        "setup_s": round(time.perf_counter() - started, 2),
    }
    for rule in RULES:
        started = time.perf_counter()
        placement = greedy_placement(instance, rule)
        seconds = time.perf_counter() - started
        placer = Placer(rule, lambda i, s, rule=rule: greedy_placement(i, rule), "")
        result = _plan_heuristic(instance, placer, SolveOptions(), time.perf_counter())
        plan = plan_file(domain, InventoryRef(name="x"), result.placement,
                         solver_report(result, SolveOptions()))  # fmt: skip
        row[rule] = {
            "s": round(seconds, 3),
            "levels": [round(v, 4) for v in level_values(instance, placement)],
            "violations": len(check_plan(domain, plan)),
        }
    print(json.dumps(row))


if __name__ == "__main__":
    main()
