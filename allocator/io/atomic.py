"""Writing files so that no reader, and no crash, ever sees half of one.

An output goes to a regular file in a folder that exists: a folder, a symbolic link, a
device or a pipe in its place is refused (InputError, exit 2), and so is a missing parent
folder, rather than created silently. The text is written to a temporary file next to
the destination, flushed to disk, and renamed over it. A command that writes several
outputs checks every target (`writable`) before it writes the first.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

from allocator.io.errors import InputError


def writable(*paths: str | Path | None) -> None:
    """Refuse, all at once, every target that is not a regular file (or a new name) in an
    existing folder. None stands for an output the command was not asked for."""
    problems = []
    for path in paths:
        if path is None:
            continue
        try:
            _check_target(Path(path))
        except InputError as exc:
            problems += exc.problems
    if problems:
        raise InputError(problems)


def _check_target(path: Path) -> None:
    name = str(path)
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None  # a new file, or a parent that is not a folder (said below)
    except OSError as exc:
        raise InputError.single(name, f"cannot write here: {exc.strerror}") from None
    if mode is not None and not stat.S_ISREG(mode):
        kind = (
            "a folder"
            if stat.S_ISDIR(mode)
            else "a symbolic link"
            if stat.S_ISLNK(mode)
            else "a device, pipe or socket"
        )
        raise InputError.single(
            name, f"is {kind}; an output is written only to a regular file (give a file name)"
        )
    parent = path.parent
    if not parent.is_dir():
        what = "is not a folder" if parent.exists() else "does not exist"
        raise InputError.single(name, f"folder {str(parent)!r} {what}; create it first")
    if not os.access(parent, os.W_OK):
        raise InputError.single(name, f"folder {str(parent)!r} is not writable")


def write_json_atomic(path: str | Path, payload: object) -> None:
    """Write JSON next to its destination, then rename over it. NaN and infinity are
    refused (ValueError) before anything is written: standard JSON has neither."""
    write_text_atomic(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write next to the destination, flush it to disk, then rename over it: a reader
    never sees half a file, and a crash leaves the old one. The file gets the permissions
    a plain write would (0666 less the umask)."""
    path = Path(path)
    _check_target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable (where the platform lets a folder be synced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
