"""Live progress: the backends report their incumbent and bound as they move, `solve`
shows the stages and an improving incumbent on a terminal, and nothing changes when the
output is not a terminal."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys

import pytest
from conftest import INSTANCES, ROOT
from test_signals import hard_knapsack

from allocator.io.progress import ProgressBoard
from cli.live import describe
from solvers import registry
from solvers.base import SolveOptions


@pytest.mark.parametrize("name", ["highs", "cbc", "cpsat"])
def test_a_backend_reports_its_incumbent_and_bound_as_they_move(name):
    seen: list[tuple[float | None, float | None]] = []
    solution = registry.get(name).solve(
        hard_knapsack(), SolveOptions(time_limit=20, progress=lambda i, b: seen.append((i, b)))
    )
    incumbents = [i for i, _ in seen if i is not None]
    bounds = [b for _, b in seen if b is not None]
    assert bounds and solution.objective is not None
    assert all(b <= solution.objective + 1e-6 for b in bounds)  # a minimum's bound is below
    if name != "cpsat":  # CP-SAT may prove the optimum before a callback sees a solution
        assert incumbents and min(incumbents) == pytest.approx(solution.objective)
    assert all(b >= a - 1e-6 for a, b in zip(incumbents[1:], incumbents, strict=False))


def test_the_board_reports_the_level_stage_and_gap():
    board = ProgressBoard()
    board.start(limit_s=60)
    board.level(2, 3, "cost_per_hour")
    board.stage("MIP (highs)")
    board.bounds(15_413.6, None)
    board.bounds(None, 15_270.8)
    board.bounds(float("nan"), float("inf"))  # not finite: ignored
    line = describe("solve dc-east.yaml", board.snapshot())
    assert re.fullmatch(
        r"solve dc-east\.yaml · level 3/3 cost_per_hour · MIP \(highs\) · \d+\.\d s / 60 s · "
        r"incumbent 15,414 · bound 15,271 · gap 0\.93%",
        line,
    ), line
    board.level(0, 3, "hard_shortfall")  # a new level starts without figures
    assert board.snapshot().incumbent is None and board.snapshot().gap is None


def run_in_terminal(*args: str) -> tuple[int, str]:
    """Run the command line with a pseudo-terminal as its stdout and stderr."""
    pid, fd = pty.fork()
    if pid == 0:  # the child
        os.chdir(ROOT)
        os.environ["COLUMNS"] = "220"
        os.execv(sys.executable, [sys.executable, "-m", "cli.main", *args])
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


def frames(output: str) -> list[str]:
    """The progress lines a terminal was shown, escape codes removed."""
    pieces = re.split(r"\r|\n|\x1b\[2K|\x1b\[1A", output)
    plain = [re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", p).strip() for p in pieces]
    return [p for p in plain if " · " in p]


def test_solve_on_a_terminal_shows_stages_and_an_improving_incumbent(tmp_path):
    code, output = run_in_terminal(
        "solve", str(INSTANCES / "dc-east.yaml"), "-o", str(tmp_path / "p.json"), "-t", "12"
    )
    assert code == 0, output
    shown = frames(output)
    parts = [f.split(" · ") for f in shown]
    stages = {p[2] if p[1].startswith("level ") else p[1] for p in parts}
    assert len(stages - {"starting"}) >= 3, stages
    assert "MIP and search over node groups (auto)" in stages, stages
    assert any("level 2/3 unplaced_priority · MIP" in f for f in shown), shown[-5:]
    assert any(re.search(r"\d+\.\d s / 12 s", f) for f in shown)
    values = [
        float(m.group(1).replace(",", ""))
        for f in shown
        if "unplaced_priority · MIP" in f and (m := re.search(r"incumbent ([\d,.]+)", f))
    ]
    assert len(set(values)) >= 2, values  # the incumbent moved while it was shown
    assert values == sorted(values, reverse=True)  # and only ever improved
    assert "Summary" in output  # the report follows, the progress line cleared


def test_without_a_terminal_nothing_of_it_is_printed(tmp_path):
    plan = str(tmp_path / "p.json")
    run = subprocess.run(
        [sys.executable, "-m", "cli.main", "solve", str(INSTANCES / "tiny.yaml"), "-o", plan],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == f"plan written to {tmp_path / 'p.json'}\n"
    assert "\x1b" not in run.stdout and " · " not in run.stdout


def test_batch_on_a_terminal_shows_instances_done_against_the_total(tmp_path):
    folder = tmp_path / "inventories"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / f"{name}.yaml").write_text((INSTANCES / "tiny.yaml").read_text())
    code, output = run_in_terminal(
        "batch", str(folder), "-o", str(tmp_path / "out"), "-w", "1", "-t", "20"
    )
    assert code == 0, output
    plain = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", output)
    # The bar counts instances against the total, with the time elapsed, and names the
    # last one done (the screen refreshes a few times a second, so steps may be skipped).
    assert re.search(r"planning .*0/2 0:00:\d\d", plain), plain[-600:]
    assert re.search(r"[ab]: planned, \$185\.00/h, [\d.]+ s .*2/2 0:00:\d\d", plain)
