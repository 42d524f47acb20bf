"""What every command's help looks like, and the old spellings still accepted.

Help: arguments are shown in capitals (`allocator check INVENTORY PLAN`), flags without a
value placeholder. Old spellings (docs/cli.md, "Deprecated spellings") are rewritten to
the current ones before parsing, each with a warning; they go in the next release.

This module is imported by every invocation, `--help` included: it imports typer only.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any

import typer
from typer.core import TyperArgument

ROOT_GROUPS = ("import", "export", "roadef", "bench")  # commands that have subcommands


class PlainArgument(TyperArgument):
    """An argument shown as its name in capitals in the usage line: INVENTORY, [PLAN]."""

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.metavar or (self.name or "").upper()
        if self.nargs != 1:
            name += "..."
        return [name if self.required else f"[{name}]"]


def unwrap(text: str) -> str:
    """Paragraphs of a docstring as single lines, so that help is wrapped at the
    terminal's width and not where the source broke its lines; list items stay apart."""
    paragraphs = re.split(r"\n\s*\n", inspect.cleandoc(text))
    joined = []
    for paragraph in paragraphs:
        lines: list[str] = []
        for line in paragraph.splitlines():
            line = line.strip()
            if lines and not line.startswith(("- ", "* ")):
                lines[-1] += " " + line
            else:
                lines.append(line)
        joined.append("\n".join(lines))
    return "\n\n".join(joined)


def polish(command: Any) -> Any:
    """Capital argument names, no placeholder on flags and help in whole paragraphs, on
    a command and everything under it that is already built."""
    if command.help:
        command.help = unwrap(command.help)
    for param in command.params:
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = (param.name or "").upper()
            if type(param) is TyperArgument:
                param.__class__ = PlainArgument
        elif getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
    if not getattr(command, "_polished", False):
        command._polished = True
        made = command.get_help_option

        def help_option(ctx: Any) -> Any:
            option = made(ctx)
            if option is not None:
                option.metavar = ""
            return option

        command.get_help_option = help_option
    for sub in getattr(command, "commands", {}).values():
        polish(sub)
    return command


@dataclass(frozen=True)
class Deprecated:
    """The old spellings of one command: options that became the N-th argument, and
    options renamed."""

    usage: str
    to_argument: dict[str, int] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)


_OUT = {"--out": "--output"}
DEPRECATED: dict[tuple[str, ...], Deprecated] = {
    ("import", "kubernetes"): Deprecated(
        "allocator import kubernetes NODES PODS -o INVENTORY", {"--nodes": 0, "--pods": 1}
    ),
    ("import", "slurm"): Deprecated(
        "allocator import slurm NODES JOBS -o INVENTORY", {"--nodes": 0, "--jobs": 1}
    ),
    ("import", "openb"): Deprecated(
        "allocator import openb NODES PODS -o INVENTORY", {"--nodes": 0, "--pods": 1}
    ),
    ("import", "skypilot"): Deprecated(
        "allocator import skypilot INVENTORY TASKS... -o INVENTORY", {"--fleet": 0}
    ),
    ("export", "kubernetes"): Deprecated(
        "allocator export kubernetes INVENTORY PLAN --pods PODS -o MANIFESTS",
        {"--inventory": 0},
    ),
    ("export", "slurm"): Deprecated(
        "allocator export slurm INVENTORY PLAN -o NODELISTS", {"--inventory": 0}
    ),
    ("export", "roadef"): Deprecated(
        "allocator export roadef MODEL PLAN -o SOLUTION", {"--model": 0}
    ),
    ("batch",): Deprecated("allocator batch INPUTS -o DIR", renamed=_OUT),
    ("sweep",): Deprecated("allocator sweep INVENTORY -o DIR", renamed=_OUT),
    ("bench", "openb"): Deprecated("allocator bench openb -o FILE", renamed=_OUT),
    ("bench", "ladder"): Deprecated("allocator bench ladder -o FILE", renamed=_OUT),
    ("bench", "build"): Deprecated("allocator bench build -o FILE", renamed=_OUT),
    ("bench", "batch"): Deprecated("allocator bench batch -o FILE", renamed=_OUT),
}
_ORDINAL = ("first", "second", "third")


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def command_path(args: list[str]) -> tuple[str, ...]:
    """The command (and subcommand) named by the arguments, options before it skipped."""
    words = [a for a in args if not a.startswith("-")][:2]
    if words and words[0] in ROOT_GROUPS:
        return tuple(words)
    return tuple(words[:1])


def rewrite_deprecated(args: list[str]) -> list[str]:
    """The arguments with old spellings replaced by the current ones, a warning for each."""
    path = command_path(args)
    rules = DEPRECATED.get(path)
    if rules is None:
        return list(args)
    start = args.index(path[-1]) + 1
    head, rest = list(args[:start]), list(args[start:])
    kept: list[str] = []
    moved: dict[int, str] = {}
    i = 0
    while i < len(rest):
        token = rest[i]
        if token == "--":
            kept.extend(rest[i:])
            break
        name, has_value, value = token.partition("=")
        if name in rules.to_argument:
            if not has_value:
                if i + 1 >= len(rest):
                    kept.append(token)  # missing value: the parser says so
                    break
                value = rest[i + 1]
                i += 1
            slot = rules.to_argument[name]
            moved[slot] = value
            _warn(
                f"{name} is deprecated and goes in the next release: give {value} as the "
                f"{_ORDINAL[slot]} argument ({rules.usage})"
            )
        elif name in rules.renamed:
            new = rules.renamed[name]
            kept.append(f"{new}={value}" if has_value else new)
            _warn(f"{name} is deprecated and goes in the next release: use {new} ({rules.usage})")
        else:
            kept.append(token)
        i += 1
    if not moved:
        return head + kept
    values = [moved[slot] for slot in sorted(moved)]
    if sorted(moved) == list(range(len(moved))):
        return head + values + kept  # the first arguments: before the rest
    return head + kept + values  # a later argument: after the ones given in place
