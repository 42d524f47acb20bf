"""The batch's event log: one JSON object per line, appended and flushed to disk as each
event happens, so a batch killed at any moment leaves a log that says how far it got.

Events: `batch_start`, `skipped` (a plan for the same request exists), `start`, `finish`
(status, exit code, objective, gap, cost, moves, unplaced, seconds, reason),
`worker_lost` (the task is resubmitted), `stopping`, `batch_finish`.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


class EventLog:
    def __init__(self, path: Path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, event: str, **fields: Any) -> None:
        record = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event}
        line = json.dumps({**record, **fields}, allow_nan=False) + "\n"
        os.write(self._fd, line.encode())  # one write per line: whole lines, even if killed
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every whole event of a log (a last line cut short by a kill is skipped)."""
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events
