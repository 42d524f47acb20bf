"""What every command shares: consoles, error handling and exit codes."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from allocator.io.errors import ExitCode, InputError
from allocator.io.interrupt import INTERRUPT
from solvers.base import SolverError, UnsupportedRequest

FILE_WIDTH = 200  # columns of tables written to a file or a pipe, so names are not cut


def _console(stderr: bool) -> Console:
    """A terminal keeps its width; a file or pipe gets wide lines rather than names
    wrapped mid-word at 80 columns (COLUMNS, when set, wins)."""
    stream = sys.stderr if stderr else sys.stdout
    to_file = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, soft_wrap=True, width=FILE_WIDTH if to_file else None)


out = _console(stderr=False)
err = _console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])
SHOWN_PROBLEMS = 200  # located problems printed for one bad input; the rest are counted


class Format(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


class EngineName(StrEnum):
    """Where work runs in parallel: a local process pool, or Dask distributed."""

    local = "local"
    dask = "dask"


class ResultFormat(StrEnum):
    """What a command that prints a result prints: lines for people, or one JSON document."""

    table = "table"
    json = "json"


FormatOption = Annotated[
    ResultFormat,
    typer.Option("--format", "-f", help="table (for people) or json (one document, for programs)"),
]


def _plain(value: Any) -> Any:
    """numpy scalars as numbers, paths and anything else as text."""
    return value.item() if hasattr(value, "item") else str(value)


def print_json(data: Any) -> None:
    """One JSON document on stdout: what `--format json` prints."""
    sys.stdout.write(json.dumps(data, indent=2, default=_plain) + "\n")
    sys.stdout.flush()


def error(message: str) -> None:
    """Print one error line; messages are plain text (ids may contain brackets)."""
    err.print(Text.assemble(("error: ", "bold red"), message), highlight=False)


def warn(message: str) -> None:
    err.print(Text.assemble(("warning: ", "bold yellow"), message), highlight=False)


def fail(message: str, code: ExitCode) -> typer.Exit:
    error(message)
    return typer.Exit(int(code))


def handles_errors(command: F) -> F:
    """Bad input -> its messages and exit 2; anything unexpected -> exit 1, no traceback
    unless ALLOCATOR_DEBUG is set."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with stops_on_signals():
            try:
                result = command(*args, **kwargs)
            except typer.Exit as done:
                if INTERRUPT.is_set():
                    raise _interrupted() from None
                raise done
            if INTERRUPT.is_set():
                raise _interrupted()
            return result

    def _interrupted() -> typer.Exit:
        return fail(
            "interrupted: stopped on request; outputs written above hold what was found "
            "before the stop",
            ExitCode.INTERRUPTED,
        )

    return _errors_handled(wrapper)  # type: ignore[return-value]


@contextlib.contextmanager
def stops_on_signals() -> Iterator[None]:
    """While a command runs, the first Ctrl-C (or SIGTERM) asks the solvers to stop and
    the command to finish with what it has; the second quits at once."""
    INTERRUPT.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: object) -> None:
        if INTERRUPT.is_set():
            # A solver thread may still be inside native code: leave without unwinding it.
            error("interrupted again: quit at once, nothing more written")
            sys.stderr.flush()
            os._exit(int(ExitCode.INTERRUPTED))
        INTERRUPT.set()
        err.print(
            "stopping: finishing with the best result so far (press Ctrl-C again to quit at once)",
            highlight=False,
        )

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _errors_handled(command: F) -> F:
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InputError as exc:
            for problem in exc.problems[:SHOWN_PROBLEMS]:
                error(str(problem))
            if len(exc.problems) > SHOWN_PROBLEMS:
                error(f"{len(exc.problems) - SHOWN_PROBLEMS:,} more problems not shown")
            raise typer.Exit(int(ExitCode.BAD_INPUT)) from None
        except UnsupportedRequest as exc:
            raise fail(str(exc), ExitCode.BAD_INPUT) from None
        except SolverError as exc:
            raise fail(str(exc), ExitCode.INTERNAL) from None
        except KeyboardInterrupt:
            raise fail("interrupted: quit at once", ExitCode.INTERRUPTED) from None
        except typer.Exit:
            raise
        except Exception as exc:
            if os.environ.get("ALLOCATOR_DEBUG"):
                traceback.print_exc(file=sys.stderr)
            raise fail(
                f"internal error: {type(exc).__name__}: {exc} (set ALLOCATOR_DEBUG=1 "
                "for a traceback, and please report it)",
                ExitCode.INTERNAL,
            ) from None

    return wrapper  # type: ignore[return-value]
