"""Running one measurement in a fresh Python process, so its peak memory is its own.

The parent reaps the child with ``os.wait4``, whose resource usage covers that child
and the processes it waited for (a CBC binary, say) and nothing else; a run that
outlives its limit is killed with its whole process group. The child reports through
JSON lines on stdout, marked so that nothing a library prints is mistaken for one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

MARK = "@bench "
_POLL_S = 0.05


@dataclass(frozen=True)
class ChildRun:
    """How a child process ended and what it reported."""

    returncode: int | None  # None when it was killed at the time limit
    reports: list[dict[str, Any]] = field(default_factory=list)  # each with "received_s"
    stderr_tail: str = ""
    wall_s: float = 0.0
    peak_rss_mib: float = 0.0  # largest resident set of the child or any process it reaped
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def last(self) -> dict[str, Any] | None:
        return self.reports[-1] if self.reports else None


def run_child(task: str, params: dict[str, Any], timeout: float) -> ChildRun:
    """Run ``allocator.bench.worker`` on one task; kill it after ``timeout`` seconds."""
    command = [sys.executable, "-m", "allocator.bench.worker", task, json.dumps(params)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, killed as a whole
    )
    stdout: list[tuple[float, str]] = []
    stderr: list[tuple[float, str]] = []
    readers = [
        threading.Thread(target=_drain, args=(proc.stdout, stdout, started), daemon=True),
        threading.Thread(target=_drain, args=(proc.stderr, stderr, started), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        timed_out = _wait_for_exit(proc.pid, started + timeout)
    finally:  # also when the parent is interrupted
        _kill_group(proc.pid)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(timeout=5)
    reports = [
        {**json.loads(line[len(MARK) :]), "received_s": at}
        for at, line in stdout
        if line.startswith(MARK)
    ]
    return ChildRun(
        returncode=None if timed_out else proc.returncode,
        reports=reports,
        stderr_tail="".join(line for _, line in stderr)[-2000:],
        wall_s=wall,
        peak_rss_mib=usage.ru_maxrss / 1024,  # KiB on Linux
        timed_out=timed_out,
    )


def report(payload: dict[str, Any]) -> None:
    """In the child: send one JSON report to the parent."""
    sys.stdout.write(MARK + json.dumps(payload) + "\n")
    sys.stdout.flush()


def _wait_for_exit(pid: int, deadline: float) -> bool:
    """Wait until the child exits, without reaping it; True when the deadline came first.

    While the child is an unreaped zombie its process group id cannot be reused, so
    killing the group afterwards reaches only processes it started.
    """
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.perf_counter() > deadline:
            return True
        time.sleep(_POLL_S)
    return False


def _drain(stream: Any, into: list[tuple[float, str]], started: float) -> None:
    """Collect lines with the time each arrived (seconds since the child started)."""
    for line in stream:
        into.append((time.perf_counter() - started, line))
    stream.close()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
