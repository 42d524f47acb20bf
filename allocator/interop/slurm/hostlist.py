"""Slurm hostlist expressions: "gpu-[01-04,07]" <-> gpu-01 gpu-02 gpu-03 gpu-04 gpu-07.

squeue reports the nodes of a job in this compressed form and `scontrol update
ReqNodeList=` takes it, so both directions are needed. Zero padding is kept: a range
whose bounds are written with leading zeros expands to names of that width.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict

_RANGE = re.compile(r"(\d+)(?:-(\d+))?")
_NUMBERED = re.compile(r"^(.*?)(\d+)$")
MAX_HOSTS = 1_000_000


class HostlistError(ValueError):
    """A malformed hostlist expression; the message says where and why."""


def expand_hostlist(expression: str) -> list[str]:
    """Every host name an expression stands for, in the order written.

    Top-level commas separate host patterns; each bracket holds comma-separated numbers
    or ranges, and several brackets in one pattern multiply ("r[1-2]n[1-2]" is four hosts).
    """
    text = expression.strip()
    if not text:
        raise HostlistError("empty hostlist expression")
    hosts: list[str] = []
    for pattern in _split_top_level(text):
        hosts.extend(_expand_pattern(pattern, text))
        if len(hosts) > MAX_HOSTS:
            raise HostlistError(f"hostlist {text!r} expands to more than {MAX_HOSTS:,} hosts")
    return hosts


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
            if depth > 1:
                raise HostlistError(f"nested '[' at position {i + 1} in {text!r}")
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise HostlistError(f"']' without '[' at position {i + 1} in {text!r}")
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise HostlistError(f"'[' is never closed in {text!r}")
    parts.append(text[start:])
    for part in parts:
        if not part.strip():
            raise HostlistError(f"empty host name in {text!r}")
    return [p.strip() for p in parts]


def _expand_pattern(pattern: str, whole: str) -> list[str]:
    pieces = re.split(r"(\[[^\]]*\])", pattern)
    choices: list[list[str]] = []
    for piece in pieces:
        if piece.startswith("["):
            choices.append(_expand_brackets(piece[1:-1], whole))
        elif piece:
            if any(c.isspace() for c in piece):
                raise HostlistError(f"space inside host name {piece!r} in {whole!r}")
            choices.append([piece])
    return ["".join(parts) for parts in itertools.product(*choices)]


def _expand_brackets(body: str, whole: str) -> list[str]:
    if not body:
        raise HostlistError(f"empty brackets '[]' in {whole!r}")
    out: list[str] = []
    for item in body.split(","):
        match = _RANGE.fullmatch(item.strip())
        if match is None:
            raise HostlistError(
                f"expected a number or a range such as 01-04 inside brackets, got {item!r} in "
                f"{whole!r}"
            )
        low_text, high_text = match[1], match[2] or match[1]
        low, high = int(low_text), int(high_text)
        if high < low:
            raise HostlistError(f"range {item!r} runs backwards in {whole!r}")
        if high - low > MAX_HOSTS:
            raise HostlistError(f"range {item!r} is larger than {MAX_HOSTS:,} hosts in {whole!r}")
        width = len(low_text) if low_text.startswith("0") else 0
        out.extend(f"{n:0{width}d}" for n in range(low, high + 1))
    return out


def compress_hostlist(hosts: list[str]) -> str:
    """The shortest bracket form Slurm reads back to the same set of hosts, sorted.

    Hosts are grouped by the text before their trailing number and the width of that
    number (so gpu-01 and gpu-1 stay apart); consecutive numbers become ranges.
    """
    groups: dict[tuple[str, int], set[int]] = defaultdict(set)
    plain: set[str] = set()
    for host in hosts:
        match = _NUMBERED.match(host)
        if match is None:
            plain.add(host)
            continue
        digits = match[2]
        width = len(digits) if digits.startswith("0") and len(digits) > 1 else 0
        groups[(match[1], width)].add(int(digits))
    parts = [(name, name) for name in plain]
    for (prefix, width), numbers in groups.items():
        ordered = sorted(numbers)
        if len(ordered) == 1:
            text = f"{prefix}{ordered[0]:0{width}d}"
        else:
            text = f"{prefix}[{','.join(_ranges(ordered, width))}]"
        parts.append((f"{prefix}{ordered[0]:0{width}d}", text))
    return ",".join(text for _, text in sorted(parts, key=lambda p: (_natural(p[0]), p[0])))


def _ranges(numbers: list[int], width: int) -> list[str]:
    out = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        low, high = f"{start:0{width}d}", f"{prev:0{width}d}"
        out.append(low if start == prev else f"{low}-{high}")
        if n is not None:
            start = prev = n
    return out


def _natural(name: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))
