"""What every command shares: consoles, error handling and exit codes."""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from allocator.io.errors import ExitCode, InputError
from solvers.base import SolverError, UnsupportedRequest

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])
SHOWN_PROBLEMS = 200  # located problems printed for one bad input; the rest are counted


class Format(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def error(message: str) -> None:
    """Print one error line; messages are plain text (ids may contain brackets)."""
    err.print(Text.assemble(("error: ", "bold red"), message), highlight=False)


def fail(message: str, code: ExitCode) -> typer.Exit:
    error(message)
    return typer.Exit(int(code))


def handles_errors(command: F) -> F:
    """Bad input -> its messages and exit 2; anything unexpected -> exit 1, no traceback
    unless ALLOCATOR_DEBUG is set."""

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
            raise typer.Exit(130) from None
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
