"""The time limit holds on every path: reading, the whole MIP, the search, the check.

The exact MIP gets only the time left, runs apart and is stopped by force at its
deadline or memory limit; the search then goes on from the best it has. The b_1 run is
the challenge's own setting on a set-B instance, timed from outside the program.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from test_roadef import example
from typer.testing import CliRunner

from allocator.interop.roadef import evaluate
from allocator.interop.roadef.convert import to_reassignment
from allocator.reassign import strategy
from allocator.reassign.strategy import solve
from cli.roadef import app
from solvers.base import Capability, Solution, SolveOptions, Status
from solvers.registry import get


def shared_data() -> Path:
    """The challenge instances: $ALLOCATOR_ROADEF_DATA, else ../shared/data/roadef2012."""
    configured = os.environ.get("ALLOCATOR_ROADEF_DATA")
    return Path(configured) if configured else ROOT.parent / "shared" / "data" / "roadef2012"


class StubBackend:
    """A MIP backend that answers with `answer(problem, options)` (run in the child)."""

    name = "stub"
    capabilities = frozenset({Capability.LP, Capability.MIP})

    def __init__(self, answer):
        self.answer = answer

    def solve(self, problem, options) -> Solution:
        return self.answer(problem, options)


def use_backend(monkeypatch, answer) -> None:
    monkeypatch.setattr(strategy, "get", lambda name: StubBackend(answer))


def test_b_1_ends_within_the_time_limit_with_a_valid_solution(tmp_path):
    data = shared_data()
    model, initial = data / "model_b_1.txt", data / "assignment_b_1.txt"
    if not (model.is_file() and initial.is_file()):
        pytest.skip(f"the challenge instance b_1 is not in {data}")
    solution = tmp_path / "solution_b_1.txt"
    command = [sys.executable, "-m", "cli.main", "roadef", "solve", str(model), str(initial)]
    command += ["-o", str(solution), "--time-limit", "20", "--seed", "0", "--quiet"]
    began = time.perf_counter()  # before the interpreter starts: the program's whole life
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - began
    assert done.returncode == 0, done.stderr
    assert wall <= 22.0, f"{wall:.1f} s of wall time for a 20 s limit"
    checked = CliRunner().invoke(app, ["eval", str(model), str(initial), str(solution)])
    assert checked.exit_code == 0, checked.output
    assert "feasible" in checked.output


def test_the_whole_mip_gets_only_the_time_left(monkeypatch):
    seen = {}

    def record(backend, problem, options, stop_at):
        seen.update(limit=options.time_limit, stop_at=stop_at, asked=time.perf_counter())
        return None

    monkeypatch.setattr(strategy, "exact", record)
    inst, initial = example()
    started = time.perf_counter() - 2.0  # as if reading had taken 2 s of a 3 s limit
    outcome = solve(to_reassignment(inst, initial), time_limit=3.0, started=started)
    assert seen["limit"] <= started + 3.0 - seen["asked"]
    assert seen["stop_at"] <= started + 3.0
    assert evaluate(inst, initial, outcome.assignment).feasible


def test_the_whole_mip_finishes_within_the_time_left():
    inst, initial = example()
    started = time.perf_counter() - 1.0
    outcome = solve(to_reassignment(inst, initial), time_limit=30.0, started=started)
    assert outcome.method == "mip" and outcome.optimal and outcome.costs.total == 2411
    assert outcome.wall_s < 30.0


def test_a_mip_that_overruns_its_limit_is_stopped_and_the_search_takes_over(monkeypatch):
    def hang(problem, options):
        time.sleep(600)  # far past options.time_limit, as a stuck backend would
        raise AssertionError("not reached")

    use_backend(monkeypatch, hang)
    inst, initial = example()
    began = time.perf_counter()
    outcome = solve(to_reassignment(inst, initial), time_limit=2.0)
    assert time.perf_counter() - began < 5.0  # not the 600 s the backend wanted
    assert outcome.method == "anneal+lns"
    result = evaluate(inst, initial, outcome.assignment)
    assert result.feasible and result.total == outcome.costs.total <= 4200


def test_a_mip_that_stops_without_a_solution_falls_back_to_the_search(monkeypatch):
    use_backend(monkeypatch, lambda problem, options: Solution(Status.TIME_LIMIT, "stub"))
    inst, initial = example()
    outcome = solve(to_reassignment(inst, initial), time_limit=2.0)
    assert outcome.method == "anneal+lns" and not outcome.optimal
    result = evaluate(inst, initial, outcome.assignment)
    assert result.feasible and result.total == outcome.costs.total <= 4200


def test_a_mip_stopped_on_a_limit_hands_its_best_to_the_search(monkeypatch):
    def stopped(problem, options):  # a node limit: its incumbent is the start it was given
        return Solution(Status.FEASIBLE, "stub", x=np.asarray(options.warm_start, dtype=float))

    use_backend(monkeypatch, stopped)
    inst, initial = example()
    outcome = solve(to_reassignment(inst, initial), time_limit=2.0)
    assert outcome.method == "mip+anneal+lns"
    result = evaluate(inst, initial, outcome.assignment)
    assert result.feasible and result.total == outcome.costs.total <= 4200


def test_a_mip_above_its_memory_limit_is_stopped(monkeypatch):
    def grow(problem, options):
        time.sleep(600)

    use_backend(monkeypatch, grow)
    assert strategy._resident_mib(os.getpid()) > 10  # this process, read from /proc
    # The child's resident memory as the parent reads it: past the limit at once.
    monkeypatch.setattr(strategy, "_resident_mib", lambda pid: strategy.EXACT_MEMORY_MIB + 1)
    searched = []
    search = strategy.search
    monkeypatch.setattr(
        strategy, "search", lambda *a, **k: searched.append(time.perf_counter()) or search(*a, **k)
    )
    inst, initial = example()
    began = time.perf_counter()
    outcome = solve(to_reassignment(inst, initial), time_limit=6.0)
    # stopped for memory long before its 6 s ran out: the search had most of them
    assert searched and searched[0] - began < 3.0
    assert outcome.method == "anneal+lns"
    assert evaluate(inst, initial, outcome.assignment).feasible


def test_exact_hands_back_the_backends_answer():
    inst, initial = example()
    part = strategy.build(to_reassignment(inst, initial), initial)
    bounds = []
    options = SolveOptions(time_limit=10.0, rel_gap=0.0, progress=lambda *b: bounds.append(b))
    found = strategy.exact(get("highs"), part.problem, options, time.perf_counter() + 10.0)
    assert found is not None and found.status is Status.OPTIMAL
    assert found.objective == pytest.approx(2411)


def test_the_limit_counts_the_programs_start_only_when_it_was_started_for_the_command(
    monkeypatch,
):
    import cli.roadef

    # Inside a test runner that has run for a while, its age is not the command's.
    assert cli.roadef.seconds_before_command() == 0.0
    monkeypatch.setattr("sys.argv", ["allocator", "roadef", "solve", "m.txt", "a.txt"])
    assert cli.roadef.seconds_before_command() > 0
