"""Anneal on every core given, with the compiled kernel, the searches sharing their best.

One search runs here and, where a second core is free and processes can fork, another
in a child process with its own seed and its own starting temperature: how hot a search
must start to leave the start's basin and still cool in time depends on the fleet (tens
of replicas per node want it hotter than hundreds), so the two take different ones. The
time is cut into rounds; at each round's start a search goes on from the best either has
found when that is better than its own, descends, and anneals from its temperature down
to COLD. When the annealing ends, each search polishes its best (`polish`: every move,
and every trade between moved replicas, priced rather than drawn) before it publishes
it. The best is shared through memory both processes see: a cost and an assignment
under one lock. S41, the ROADEF/EURO 2012 winner, ran two such processes.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized, SynchronizedArray

import numpy as np

from allocator.io.interrupt import INTERRUPT
from allocator.io.progress import PROGRESS
from allocator.reassign.costs import costs
from allocator.reassign.kernel import Annealer
from allocator.reassign.model import Reassignment
from allocator.reassign.search import settle, typical_change
from allocator.reassign.state import State

HOTS = (30.0, 3.0)  # starting temperatures, in typical move costs, one per search
COLD = 0.01  # where each round ends, in typical move costs
ROUNDS = 1  # restarts from the shared best, each with a fresh cooling
JOIN_GRACE_S = 1.0  # how long past the deadline the child may take to stop


@dataclass
class _Shared:
    """The best assignment either search has found, and its cost."""

    cost: Synchronized
    assignment: SynchronizedArray

    def offer(self, annealer: Annealer) -> None:
        """Publish the search's best if it is better than the shared one."""
        with self.cost.get_lock():
            if annealer.best_cost < self.cost.value:
                np.frombuffer(self.assignment.get_obj(), dtype=np.int64)[:] = annealer.best()
                self.cost.value = annealer.best_cost

    def take(self) -> tuple[int, np.ndarray]:
        with self.cost.get_lock():
            return self.cost.value, np.frombuffer(self.assignment.get_obj(), dtype=np.int64).copy()


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def anneal_together(
    model: Reassignment,
    start: np.ndarray,
    seed: int,
    deadline: float,
    workers: int | None = None,
    polish_by: float | None = None,
) -> np.ndarray:
    """The best assignment found from `start` (feasible) by `workers` searches (default:
    two where two cores are free) annealing until `deadline`, a `time.perf_counter`
    moment, each then polishing its best (`polish`) until `polish_by` at the latest."""
    workers = min(cores(), len(HOTS)) if workers is None else workers
    scale = typical_change(State(model, start), np.random.default_rng(seed))
    context = multiprocessing.get_context("fork") if _can_fork() else None
    if context is None:
        workers = 1
    context = context or multiprocessing.get_context()
    shared = _Shared(
        context.Value("q", costs(model, start).total),
        context.Array("q", np.asarray(start, dtype=np.int64).tolist()),
    )
    Annealer.compile(model, start)  # before forking, so that the child needs not
    children = [
        context.Process(
            target=_search,
            args=(
                model,
                start,
                seed + k,
                (HOTS[k % len(HOTS)],),
                scale,
                deadline,
                shared,
                polish_by,
            ),
            daemon=True,
        )
        for k in range(1, workers)
    ]
    for child in children:
        child.start()
    try:
        hots = HOTS if workers == 1 else HOTS[:1]  # alone, it takes each in turn
        _search(model, start, seed, hots, scale, deadline, shared, polish_by, report=True)
    finally:
        last = deadline if polish_by is None else max(deadline, polish_by)
        for child in children:
            child.join(max(last - time.perf_counter(), 0.0) + JOIN_GRACE_S)
            if child.is_alive():
                child.kill()
                child.join()
    return shared.take()[1]


def _search(
    model: Reassignment,
    start: np.ndarray,
    seed: int,
    hots: tuple[float, ...],
    scale: float,
    deadline: float,
    shared: _Shared,
    polish_by: float | None = None,
    report: bool = False,
) -> None:
    """One search: ROUNDS rounds (at least one per temperature) of restarting from the
    shared best, descending and annealing from the round's temperature in `hots` (in
    turn) to COLD, both times `scale`, each round's best published as it ends; then,
    with `polish_by`, its best polished and published."""
    annealer = Annealer(model, start, seed)
    begun = time.perf_counter()
    span = max(deadline - begun, 0.0)
    rounds = max(ROUNDS, len(hots))  # every temperature gets its round
    for k in range(rounds):
        if INTERRUPT.is_set():
            break
        end = begun + span * (k + 1) / rounds
        cost, best = shared.take()
        if cost < annealer.best_cost:
            annealer.restart(best)
        if report:
            PROGRESS.stage(f"annealing, round {k + 1} of {rounds}")
        annealer.descend(end, stop=INTERRUPT.is_set)
        hot = hots[k % len(hots)] * scale
        annealer.anneal(end, hot, COLD * scale, stop=INTERRUPT.is_set)
        shared.offer(annealer)
        if report:
            PROGRESS.bounds(shared.take()[0], None)
    if polish_by is not None and not INTERRUPT.is_set():
        if report:
            PROGRESS.stage("polishing")
        polish(model, annealer, polish_by, stop=INTERRUPT.is_set)
        shared.offer(annealer)
        if report:
            PROGRESS.bounds(shared.take()[0], None)


def polish(
    model: Reassignment,
    annealer: Annealer,
    deadline: float,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Improve the annealer's best until nothing changes or `deadline`: send moved
    replicas home where that costs nothing, alone or trading places (`settle`), then
    sweep every replica to its best node and trade moved replicas where that saves
    (`Annealer.polish`), in turn. An annealing run ends with moves it drew too rarely to
    take: on ROADEF's b_3, one replica that saves 5.7 million on one node of 100, moves
    that replicas going home make possible by freeing the transient dimensions they held,
    and trades that take two moved replicas nearer their homes at no load cost."""
    assignment = annealer.best()
    while time.perf_counter() < deadline and not stop():
        state = State(model, assignment)
        settle(state, deadline)
        annealer.restart(state.assignment)
        annealer.polish(deadline, stop)
        polished = annealer.best()
        if np.array_equal(polished, assignment):
            return
        assignment = polished


def _can_fork() -> bool:
    """Forking is possible, and allowed (a daemonic worker may not start processes)."""
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )
