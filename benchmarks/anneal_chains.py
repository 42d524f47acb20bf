"""Compiled annealing searches side by side on a ROADEF instance: how far a short run at
each starting temperature lifts the descended cost, and what two searches on one
cooling reach, alone or going with the winner at each epoch's end.

    python benchmarks/anneal_chains.py a2_2 --probe
    python benchmarks/anneal_chains.py a2_2 --seconds 120 --hot 30 --epochs 12 --noise 3

`--probe` descends from the start, then runs 400 steps per replica at each temperature
of a ladder (times the median cost of a move from the start) from the descended plan,
printing the cost's lift after each quarter of the run.

Otherwise two searches (this process and a forked one, one core each) descend for at
most a tenth of the time, then cool geometrically from `hot` to `cold` over the rest,
cut into `epochs`. At each epoch's end both print their current cost and how far it
wandered (its standard deviation over the epoch's second half). With `--noise K`, a
search whose cost is above the other's by more than K times its own wander takes the
other's plan; without it the searches stay apart, and the better of the two is kept.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from allocator.interop.roadef import read_assignment, read_model  # noqa: E402
from allocator.interop.roadef.convert import to_reassignment  # noqa: E402
from allocator.reassign.kernel import CHUNK_S, SWAP_SHARE, Annealer  # noqa: E402
from allocator.reassign.model import Reassignment  # noqa: E402
from allocator.reassign.search import typical_change  # noqa: E402
from allocator.reassign.state import State  # noqa: E402

LADDER = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instance", help="a1_2, a2_2, b_1, ... (model_X.txt, assignment_X.txt)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "roadef2012"))
    parser.add_argument("--probe", action="store_true")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--hot", type=float, default=30.0)
    parser.add_argument("--cold", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--noise", type=float, default=None, help="go with the winner")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = Path(args.data)
    inst = read_model(data / f"model_{args.instance}.txt")
    model = to_reassignment(inst, read_assignment(data / f"assignment_{args.instance}.txt", inst))
    scale = typical_change(State(model, model.current), np.random.default_rng(args.seed))
    Annealer.compile(model, model.current)
    if args.probe:
        probe(model, scale, args.seed)
    else:
        side_by_side(model, scale, args)


def probe(model: Reassignment, scale: float, seed: int) -> None:
    annealer = Annealer(model, model.current, seed)
    annealer.descend(time.perf_counter() + 30.0)
    plan, base = annealer.best(), annealer.cost
    print(f"descended to {base:,}; typical move cost {scale:,.0f}")
    for level in LADDER:
        annealer.restart(plan)
        lifts = []
        for _ in range(4):
            annealer.run(100 * model.num_replicas, level * scale, SWAP_SHARE)
            lifts.append(annealer.cost / base - 1)
        print(f"  {level:>5} x: lift " + " ".join(f"{x:+.2f}" for x in lifts))


def side_by_side(model: Reassignment, scale: float, args: argparse.Namespace) -> None:
    context = multiprocessing.get_context("fork")
    size = model.num_replicas
    current = context.Array("q", 2, lock=False)
    wander = context.Array("d", 2, lock=False)
    plans = context.Array("q", 2 * size, lock=False)
    best = context.Array("q", 2, lock=False)
    meet = context.Barrier(2)
    begun = time.perf_counter()
    end = begun + args.seconds

    def search(slot: int) -> None:
        shared_plans = np.frombuffer(plans, dtype=np.int64).reshape(2, size)
        annealer = Annealer(model, model.current, args.seed * 10 + slot)
        annealer.descend(begun + 0.1 * args.seconds)
        start, span = time.perf_counter(), end - time.perf_counter()
        lowest, taken = annealer.best_cost, 0
        hot, cold = args.hot * scale, args.cold * scale
        for epoch in range(args.epochs):
            until, steps, seen = start + span * (epoch + 1) / args.epochs, 1000, []
            while (now := time.perf_counter()) < until:
                annealer.run(steps, hot * (cold / hot) ** ((now - start) / span), SWAP_SHARE)
                seen.append(annealer.cost)
                took = time.perf_counter() - now
                steps = int(min(max(steps * CHUNK_S / max(took, 1e-6), 100), steps * 4))
            lowest = min(lowest, annealer.best_cost)
            shared_plans[slot] = annealer.s[0]
            current[slot] = annealer.cost
            wander[slot] = float(np.std(seen[len(seen) // 2 :])) if seen else 0.0
            meet.wait(30)
            other = 1 - slot
            if slot == 0:
                print(
                    f"epoch {epoch + 1}: {current[0]:,} (wander {wander[0]:,.0f}) and "
                    f"{current[1]:,} (wander {wander[1]:,.0f})",
                    flush=True,
                )
            if (
                args.noise is not None
                and epoch + 1 < args.epochs
                and current[other] < current[slot] - args.noise * wander[slot]
            ):
                annealer.restart(shared_plans[other].copy())
                taken += 1
            meet.wait(30)
        best[slot] = lowest
        print(f"search {slot}: best {lowest:,}, took the other's plan {taken} times", flush=True)

    child = context.Process(target=search, args=(1,))
    child.start()
    search(0)
    child.join()
    print(
        f"{args.instance} seed {args.seed} hot {args.hot} epochs {args.epochs} "
        f"noise {args.noise}: best {min(best[:]):,}"
    )


if __name__ == "__main__":
    main()
