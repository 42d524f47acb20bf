"""Stopping on request: every backend ends its solve within a second or two of an
interrupt, and `allocator solve` writes its best verified plan and exits 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import INSTANCES

from allocator.io.interrupt import INTERRUPT
from allocator.model.problem import Problem
from solvers import registry
from solvers.base import SolveOptions


def hard_knapsack() -> Problem:
    rng = np.random.default_rng(7)
    weights = rng.integers(10_000, 20_000, size=(4, 90)).astype(float)
    return Problem(
        a=sp.csr_array(weights),
        row_lo=np.full(4, -np.inf),
        row_hi=weights.sum(axis=1) / 2,
        col_lo=np.zeros(90),
        col_hi=np.ones(90),
        integer=np.ones(90, dtype=bool),
        cost=-rng.integers(10_000, 20_000, 90).astype(float),
    )


@pytest.mark.parametrize("name", ["highs", "cbc", "cpsat"])
def test_a_backend_stops_soon_after_an_interrupt(name):
    INTERRUPT.clear()
    timer = threading.Timer(1.0, INTERRUPT.set)
    timer.start()
    started = time.perf_counter()
    try:
        solution = registry.get(name).solve(hard_knapsack(), SolveOptions(time_limit=120))
    finally:
        timer.cancel()
        INTERRUPT.clear()
    assert time.perf_counter() - started < 5.0
    assert solution.status.value in ("feasible", "time_limit", "optimal")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_solve_writes_its_best_plan_and_exits_130(tmp_path, sig):
    plan = tmp_path / "dc.plan.json"
    command = [sys.executable, "-m", "cli.main", "solve", str(INSTANCES / "dc-east.yaml")]
    child = subprocess.Popen(
        [*command, "-o", str(plan), "-q", "--time-limit", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # the installed code, as the tests import it: a checkout's own copy would compile
        # its numba kernels afresh, and a compile runs on past Ctrl-C
        cwd=tmp_path,
    )
    time.sleep(4)
    sent = time.perf_counter()
    child.send_signal(sig)
    _, err = child.communicate(timeout=30)
    assert time.perf_counter() - sent < 5.0, err
    assert child.returncode == 130, err
    assert "stopping: finishing with the best result so far" in err
    assert "interrupted: stopped on request" in err
    checked = subprocess.run(
        [sys.executable, "-m", "cli.main", "check", str(INSTANCES / "dc-east.yaml"), str(plan)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stderr
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]  # no temporary left
