"""The typer application and the options every command shares."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from corrigo.config import Settings

app = typer.Typer(
    name="corrigo",
    help="Self-correcting LLM workflows: draft, test, critique, revise, record, replay.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Local models: list and pull.", no_args_is_help=True)
app.add_typer(models_app, name="models")
lessons_app = typer.Typer(help="Lessons carried across tasks.", no_args_is_help=True)
app.add_typer(lessons_app, name="lessons")
sandbox_app = typer.Typer(help="Sandbox housekeeping.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")
suites_app = typer.Typer(help="Offline task suites: list and pull.", no_args_is_help=True)
app.add_typer(suites_app, name="suites")

console = Console(highlight=False)
console_err = Console(stderr=True, highlight=False)
if not console.is_terminal:
    # Piped output (CI logs, files) gets room for the whole table instead of 80 columns.
    console = Console(highlight=False, width=200)

StoreOption = typer.Option(
    None,
    "--store",
    help="SQLAlchemy URL of the trajectory store (default: SQLite in CORRIGO_HOME).",
)
HomeOption = typer.Option(None, "--home", help="Data directory (default: CORRIGO_HOME).")


def settings_for(store: str | None = None, home: Path | None = None, **more: object) -> Settings:
    """Settings from the environment, with the command line's overrides."""
    return Settings.from_env().with_overrides(store_url=store, home=home, **more)


def _register() -> None:
    # Importing the command modules attaches their commands to ``app``.
    from corrigo.cli import (  # noqa: F401
        bench,
        doctor,
        export,
        fork,
        lessons,
        models,
        replay,
        resume,
        run,
        runs,
        sandbox,
        serve,
        suites,
    )


_register()
