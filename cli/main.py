"""The `allocator` application: one typer app, one module per group of commands.

A command's module (and the numerical stack it imports) loads only when that command
runs or shows its help: `allocator --help`, `--version` and shell completion of command
names stay fast. The table below gives each command's module and its one-line help.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from cli.conventions import polish, rewrite_deprecated

# name -> (module:attribute, one-line help). An attribute is a command function or a
# typer app (a group of commands).
COMMANDS: dict[str, tuple[str, str]] = {
    "solve": ("cli.solve:solve", "Plan where every workload runs; write a verified plan."),
    "validate": ("cli.inventory:validate", "Check an inventory file and summarize it."),
    "check": ("cli.plans:check", "Verify a plan against an inventory."),
    "report": ("cli.plans:report", "Cost and utilization report of a plan."),
    "explain": ("cli.explain:explain", "Why workloads are unplaced or short."),
    "diff": ("cli.diff:diff", "Compare two plans: moves, placed or dropped, cost."),
    "solvers": ("cli.backends:solvers", "Which solver backends are installed and working."),
    "schema": ("cli.inventory:schema", "Print the JSON Schema of the inventory format."),
    "generate": ("cli.generate:generate", "Write a synthetic inventory of a GPU fleet."),
    "reassign": ("cli.reassign:reassign_command", "Rebalance a running fleet at least cost."),
    "batch": ("cli.batch:batch", "Plan many inventories unattended; resumable."),
    "sweep": ("cli.batch:sweep", "Plan what-if scenarios of one inventory as a batch."),
    "share": ("cli.share:share", "Fair shares of each GPU type per workload and tenant."),
    "import": ("cli.interop:import_app", "Build an inventory from a cluster or a trace."),
    "export": ("cli.interop:export_app", "Write a plan back for Kubernetes, Slurm, ROADEF."),
    "roadef": ("cli.roadef:app", "ROADEF/EURO 2012 machine reassignment files."),
    "bench": ("cli.bench:app", "Benchmarks anyone can rerun."),
}


def load_command(name: str) -> Any:
    """The click command behind `name`, built from its module."""
    target, _ = COMMANDS[name]
    module_name, attribute = target.split(":")
    value = getattr(importlib.import_module(module_name), attribute)
    if isinstance(value, typer.Typer):
        command: Any = typer.main.get_group(value)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(value)
        command = typer.main.get_command(single)
    return polish(command)


class LazyGroup(TyperGroup):
    """Lists every command from the table; builds one only when it is invoked (or asked
    for its help)."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.commands, *(name for name in COMMANDS if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        # Listing the commands needs only their names and one-line help.
        short = COMMANDS[cmd_name][1]
        return TyperCommand(cmd_name, help=short, short_help=short)

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if ctx.parent is None:
            polish(self)
            args = rewrite_deprecated(args)
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else None
        if name in COMMANDS and name not in self.commands:
            self.commands[name] = load_command(name)
        return super().resolve_command(ctx, args)


def package_version() -> str:
    try:
        return version("allocator")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        print(f"allocator {package_version()}")
        raise typer.Exit()


app = typer.Typer(
    name="allocator",
    cls=LazyGroup,
    help="Plan where AI workloads run in a GPU data center.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="print allocator's version and exit",
        ),
    ] = False,
) -> None:
    """Plan where AI workloads run in a GPU data center (docs/cli.md: the conventions every
    command follows)."""


def main() -> None:
    app(prog_name="allocator")


if __name__ == "__main__":
    main()
