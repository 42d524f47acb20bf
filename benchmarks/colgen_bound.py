"""Column generation of the openb pattern LP bound on its own: time, rounds, LP and pricing
seconds, and of the pricing the seconds spent bounding each group's best pattern (the
`--bound-limit` part of `allocator bench openb`, with the split that command does not
show), per trace and seed.

    python benchmarks/colgen_bound.py 42 default gpushare100 [--data DIR] [--limit 300]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import allocator.solve.strategy as strategy  # noqa: E402
from allocator.domain.build import build_domain  # noqa: E402
from allocator.interop.openb import load_trace  # noqa: E402
from allocator.interop.openb.importer import openb_inventory  # noqa: E402
from allocator.model.colgen import generate_columns  # noqa: E402
from allocator.model.pricing_bound import PatternBound  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("seed", type=int)
    parser.add_argument("traces", nargs="+")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "openb"))
    parser.add_argument("--limit", type=float, default=300.0)
    args = parser.parse_args()
    last: dict = {}
    bounding = [0.0]
    bound_of = PatternBound.bound

    def timed_bound(self, value):
        started = time.perf_counter()
        try:
            return bound_of(self, value)
        finally:
            bounding[0] += time.perf_counter() - started

    def watched(*a, **k):
        result = generate_columns(*a, **k)
        last.update(
            rounds=result.rounds,
            lp_s=round(result.lp_s, 1),
            pricing_s=round(result.pricing_s, 1),
            pattern_bound_s=round(bounding[0], 2),
            converged=result.converged,
        )
        return result

    strategy.generate_columns = watched  # the bound's own call, watched
    PatternBound.bound = timed_bound  # type: ignore[method-assign]
    for name in args.traces:
        imported = openb_inventory(load_trace(args.data, name), seed=args.seed, arrived=1.0)
        domain = build_domain(imported.inventory, name=name)
        started = time.perf_counter()
        bounding[0] = 0.0
        bound = strategy.level_bound(domain, "unplaced_priority", args.limit)
        seconds = time.perf_counter() - started
        row = {"trace": name, "seed": args.seed, "bound": bound, "s": round(seconds, 1), **last}
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
