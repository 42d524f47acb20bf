"""One compiled annealing search on a ROADEF instance, alone: its rate, and what it
reaches from a given starting temperature (how `allocator.reassign.cooperate` chose the
temperatures its two searches start from).

    python benchmarks/anneal_start.py a2_2 --seconds 120 --hot 30 [--cold 0.01] [--seed 0]
    python benchmarks/anneal_start.py a2_2 --rate
    python benchmarks/anneal_start.py b_3 --seconds 60 --hot 3 --polish 30
    python benchmarks/anneal_start.py b_3 --polish 30 --solution solution_b_3.txt

The search descends (`Annealer.descend`, for at most a tenth of the time), then
cools geometrically from `hot` to `cold` times the median cost of a move from the start.
`--rate` times five million steps of moves alone and of trades alone, cold and hot
(the fastest of three timings).
`--polish S` then polishes the search's best (`cooperate.polish`) for at most S seconds;
with `--solution`, it polishes that challenge-format solution instead of searching.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from allocator.interop.roadef import read_assignment, read_model  # noqa: E402
from allocator.interop.roadef.convert import to_reassignment  # noqa: E402
from allocator.reassign.cooperate import polish  # noqa: E402
from allocator.reassign.costs import costs, violations  # noqa: E402
from allocator.reassign.kernel import Annealer  # noqa: E402
from allocator.reassign.search import typical_change  # noqa: E402
from allocator.reassign.state import State  # noqa: E402

RATE_STEPS = 5_000_000  # steps per timing of `--rate`
RATE_REPEATS = 3  # timings of each kind; the fastest is shown (the others met noise)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instance", help="a1_2, a2_2, b_1, ... (model_X.txt, assignment_X.txt)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "roadef2012"))
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--hot", type=float, default=10.0)
    parser.add_argument("--cold", type=float, default=0.01)
    parser.add_argument("--swaps", type=float, default=0.5, help="share of steps that trade")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rate", action="store_true")
    parser.add_argument("--polish", type=float, default=0.0, help="seconds, at most")
    parser.add_argument("--solution", help="polish this solution file instead of searching")
    args = parser.parse_args()
    data = Path(args.data)
    inst = read_model(data / f"model_{args.instance}.txt")
    model = to_reassignment(inst, read_assignment(data / f"assignment_{args.instance}.txt", inst))
    if args.rate:
        Annealer.compile(model, model.current)
        for swaps in (0.0, 1.0):
            for temperature in (0.0, 1e5):
                took = []
                for _ in range(RATE_REPEATS):
                    annealer = Annealer(model, model.current, args.seed)
                    begun = time.perf_counter()
                    taken = annealer.run(RATE_STEPS, temperature, swaps)
                    took.append(time.perf_counter() - begun)
                kind = "trades" if swaps else "moves"
                print(
                    f"{args.instance} {kind} at temperature {temperature:g}: {RATE_STEPS:,} "
                    f"steps in {min(took):.3f} s at best of {RATE_REPEATS} "
                    f"({RATE_STEPS / min(took) / 1e6:.1f} M/s), {taken:,} taken"
                )
        return
    if args.solution:
        solution = np.array(Path(args.solution).read_text().split(), dtype=np.int64)
        _polish(model, Annealer(model, solution, args.seed), args.polish)
        return
    rng = np.random.default_rng(args.seed)
    begun = time.perf_counter()
    end = begun + args.seconds
    scale = typical_change(State(model, model.current), rng)
    annealer = Annealer(model, model.current, args.seed)
    annealer.descend(begun + 0.1 * args.seconds)
    descended, took = annealer.cost, time.perf_counter() - begun
    annealer.anneal(end, args.hot * scale, args.cold * scale, args.swaps)
    print(
        f"{args.instance} seed {args.seed} hot {args.hot} cold {args.cold} swaps {args.swaps}: "
        f"descent {descended:,} in {took:.1f} s, scale {scale:,.0f}, best {annealer.best_cost:,}"
    )
    if args.polish > 0:
        _polish(model, annealer, args.polish)


def _polish(model, annealer: Annealer, seconds: float) -> None:
    """Polish the annealer's best for at most `seconds` (the kernel compiled first) and
    say what that saved, checking the plan from scratch."""
    Annealer.compile(model, model.current)
    before = annealer.best_cost
    begun = time.perf_counter()
    polish(model, annealer, begun + seconds)
    took = time.perf_counter() - begun
    best = annealer.best()
    assert costs(model, best).total == annealer.best_cost and not violations(model, best)
    print(
        f"polished {before:,} to {annealer.best_cost:,} in {took:.1f} s "
        f"({int((best != model.current).sum()):,} replicas moved)"
    )


if __name__ == "__main__":
    main()
