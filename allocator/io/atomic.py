"""Writing files so that no reader, and no crash, ever sees half of one."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_json_atomic(path: str | Path, payload: object) -> None:
    """Write JSON next to its destination, then rename over it. NaN and infinity are
    refused (ValueError) before anything is written: standard JSON has neither."""
    write_text_atomic(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write next to the destination, then rename over it: a reader never sees half a
    file. The file gets the permissions a plain write would (0666 less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
