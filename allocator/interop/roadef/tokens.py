"""Reading the challenge's flat integer streams, token by token, with located errors.

The official checker reads every file with ``ifstream >> int`` until the end: line breaks
carry no meaning, so files are split on whitespace only. Large model files (b_10 holds
about 25 million numbers) are converted in one vectorized pass; token positions (line,
column) are only worked out when a message needs one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from allocator.io.errors import InputError, InputProblem

INT_MAX = 2**31 - 1  # every number in the challenge files is a C++ int
WHITESPACE = b" \t\n\r\v\f"  # what ``std::isspace`` skips in the "C" locale

_SPACE = np.zeros(256, dtype=bool)
_SPACE[list(WHITESPACE)] = True
_DIGIT_OR_SPACE = _SPACE.copy()
_DIGIT_OR_SPACE[list(b"0123456789")] = True


def expectation(maximum: int) -> str:
    """What a field accepts, in words."""
    return "0 or 1" if maximum == 1 else f"a whole number in [0, {maximum}]"


class Tokens:
    """The numbers of one file, plus where each token sits for error messages.

    ``values`` holds the leading well-formed tokens (plain decimal digits). When a token
    is not a non-negative integer, ``values`` stops just before it and ``bad`` is its
    index: the reader reports it when the field it should have been is asked for.
    """

    def __init__(self, name: str, raw: bytes):
        self.name = name
        self.raw = raw
        self._starts: np.ndarray | None = None
        self._ends: np.ndarray | None = None
        data = np.frombuffer(raw, dtype=np.uint8)
        bad_bytes = np.flatnonzero(~_DIGIT_OR_SPACE[data])
        if len(bad_bytes) == 0:
            self.bad: int | None = None
            self.values = _to_int64(raw)
        else:
            self.bad = int(np.searchsorted(self.starts, bad_bytes[0], side="right") - 1)
            self.values = _to_int64(raw[: int(self.starts[self.bad])])

    @classmethod
    def read(cls, path: str | Path, what: str) -> Tokens:
        """Read a file; a missing or unreadable one is bad input, not a crash."""
        name = str(path)
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            raise InputError.single(name, f"file not found; expected {what}") from None
        except IsADirectoryError:
            raise InputError.single(name, f"is a directory; expected {what}") from None
        except OSError as exc:
            raise InputError.single(name, f"cannot read file: {exc.strerror}") from None
        return cls(name, raw)

    @property
    def count(self) -> int:
        """Number of tokens in the file, well-formed or not."""
        return len(self.values) if self.bad is None else len(self.starts)

    @property
    def starts(self) -> np.ndarray:
        if self._starts is None:
            self._locate()
        assert self._starts is not None
        return self._starts

    @property
    def ends(self) -> np.ndarray:
        if self._ends is None:
            self._locate()
        assert self._ends is not None
        return self._ends

    def _locate(self) -> None:
        word = ~_SPACE[np.frombuffer(self.raw, dtype=np.uint8)]
        edges = np.diff(word.astype(np.int8), prepend=np.int8(0), append=np.int8(0))
        self._starts = np.flatnonzero(edges == 1)
        self._ends = np.flatnonzero(edges == -1)

    def text(self, index: int) -> str:
        """The token as written (shortened when very long), for messages."""
        token = self.raw[int(self.starts[index]) : int(self.ends[index])]
        shown = token[:40].decode("utf-8", errors="backslashreplace")
        return repr(shown + ("..." if len(token) > 40 else ""))

    def where(self, index: int) -> tuple[int, int]:
        """1-based line and column of token ``index``; the end of the file past the last."""
        if index < self.count:
            offset = int(self.starts[index])
        elif self.count:
            offset = int(self.ends[-1])
        else:
            offset = len(self.raw)
        line = self.raw.count(b"\n", 0, offset) + 1
        column = offset - (self.raw.rfind(b"\n", 0, offset) + 1) + 1
        return line, column

    def problem(self, index: int, message: str) -> InputProblem:
        line, column = self.where(index)
        return InputProblem(self.name, message, line=line, column=column)

    def error(self, index: int, message: str) -> InputError:
        return InputError([self.problem(index, message)])


def _to_int64(raw: bytes) -> np.ndarray:
    """Digits-and-whitespace text to int64 (over-long tokens saturate; callers bound them)."""
    if not raw.strip():
        return np.zeros(0, dtype=np.int64)
    return np.fromstring(raw.decode("ascii"), dtype=np.int64, sep=" ")


Describe = Callable[[int, int], str]


class TokenReader:
    """Hands out the next values of a stream, checking each against its field's limit.

    Every failure names the field that was expected at that token ("machine 3: capacity
    of resource 1"), its token number, line and column.
    """

    def __init__(self, tokens: Tokens):
        self.tokens = tokens
        self.pos = 0

    def one(self, maximum: int, what: str) -> int:
        """One value in [0, maximum]."""
        return int(self.rows(1, [maximum], lambda _row, _col: what)[0, 0])

    def rows(self, count: int, maxima: Sequence[int], describe: Describe) -> np.ndarray:
        """``count`` records of ``len(maxima)`` values each, as a (count, width) array.

        ``describe(row, column)`` names a field for messages; ``maxima[column]`` bounds it.
        """
        width = len(maxima)
        need = count * width
        values = self.tokens.values
        start = self.pos
        have = max(0, min(need, len(values) - start))
        limits = np.asarray(maxima, dtype=np.int64)
        block = values[start : start + have]
        full = have // width
        if full:
            over = np.flatnonzero((block[: full * width].reshape(full, width) > limits).ravel())
            if len(over):
                self._out_of_range(start + int(over[0]), int(over[0]), width, limits, describe)
        rest = block[full * width :]
        over = np.flatnonzero(rest > limits[: len(rest)])
        if len(over):
            offset = full * width + int(over[0])
            self._out_of_range(start + offset, offset, width, limits, describe)
        if have < need:
            self._missing(start + have, have, width, limits, describe)
        self.pos = start + need
        return block.reshape(count, width)

    def finish(self, after: str) -> None:
        """Every token must have been consumed, as the checker asserts."""
        if self.pos < self.tokens.count:
            extra = self.tokens.count - self.pos
            raise self.tokens.error(
                self.pos,
                f"token {self.pos + 1}: unexpected {self.tokens.text(self.pos)} after {after}; "
                f"the file has {extra} token{'s' if extra > 1 else ''} too many",
            )

    def _subject(self, offset: int, width: int, describe: Describe) -> str:
        return describe(offset // width, offset % width)

    def _out_of_range(
        self, index: int, offset: int, width: int, limits: np.ndarray, describe: Describe
    ) -> None:
        subject = self._subject(offset, width, describe)
        raise self.tokens.error(
            index,
            f"token {index + 1}: {subject}: expected {expectation(int(limits[offset % width]))}"
            f", got {self.tokens.text(index)}",
        )

    def _missing(
        self, index: int, offset: int, width: int, limits: np.ndarray, describe: Describe
    ) -> None:
        subject = self._subject(offset, width, describe)
        wanted = expectation(int(limits[offset % width]))
        if index == self.tokens.bad:
            raise self.tokens.error(
                index,
                f"token {index + 1}: {subject}: expected {wanted}, got {self.tokens.text(index)}",
            )
        if index == 0:
            raise self.tokens.error(index, f"file is empty: expected {subject} ({wanted}) first")
        raise self.tokens.error(
            index,
            f"file ends early after {index} tokens: expected {subject} ({wanted}) next",
        )
