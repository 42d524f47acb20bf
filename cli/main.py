"""The `allocator` application: one typer app, one module per group of commands."""

from __future__ import annotations

import typer

from cli import (
    backends,
    batch,
    bench,
    diff,
    explain,
    generate,
    interop,
    inventory,
    openb_import,
    plans,
    reassign,
    roadef,
    solve,
)

app = typer.Typer(
    name="allocator",
    help="Plan where AI workloads run in a GPU data center.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(solve.solve)
app.command()(inventory.validate)
app.command()(plans.check)
app.command()(plans.report)
app.command()(explain.explain)
app.command()(diff.diff)
app.command()(backends.solvers)
app.command()(inventory.schema)
app.command()(generate.generate)
app.command("reassign")(reassign.reassign_command)
app.command()(batch.batch)
app.command()(batch.sweep)
app.add_typer(interop.import_app, name="import")
app.add_typer(interop.export_app, name="export")
app.add_typer(roadef.app, name="roadef")
app.add_typer(bench.app, name="bench")
interop.import_app.command("openb")(openb_import.import_openb_command)
interop.import_app.command("roadef")(reassign.import_roadef_command)
interop.export_app.command("roadef")(reassign.export_roadef_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
