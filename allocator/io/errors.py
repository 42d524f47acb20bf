"""Exit codes and the input error that carries actionable problems to the user."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    INTERNAL = 1
    BAD_INPUT = 2
    UNPLACED = 3
    NO_PLAN = 4
    PLAN_REJECTED = 5
    BATCH_INCOMPLETE = 6  # a batch or sweep: some instance got no plan
    INTERRUPTED = 130  # stopped on request (Ctrl-C, SIGTERM), as shells report SIGINT


@dataclass(frozen=True)
class InputProblem:
    """One thing wrong with an input file, located as precisely as we can."""

    file: str
    message: str
    entry: str | None = None
    field: str | None = None
    line: int | None = None
    column: int | None = None

    @property
    def where(self) -> str:
        place = self.file
        if self.line is not None:
            place += f":{self.line}"
            if self.column is not None:
                place += f":{self.column}"
        return place

    @property
    def subject(self) -> str:
        if self.entry and self.field:
            joiner = "" if self.field.startswith("[") else "."
            return f"{self.entry}{joiner}{self.field}"
        return self.entry or self.field or ""

    def __str__(self) -> str:
        subject = f" {self.subject}:" if self.subject else ""
        return f"{self.where}:{subject} {self.message}"


class InputError(Exception):
    """Bad input: every problem found, so the user can fix them in one pass."""

    def __init__(self, problems: list[InputProblem]):
        self.problems = sorted(
            problems, key=lambda p: (p.file, p.line or 0, p.column or 0, p.subject)
        )
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def single(cls, file: str, message: str, **where: object) -> InputError:
        return cls([InputProblem(file, message, **where)])  # type: ignore[arg-type]
