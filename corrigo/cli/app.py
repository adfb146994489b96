"""The typer application and the options every command shares.

Each command lives in a module of :mod:`corrigo.cli` that attaches it to ``app`` when
imported. Only the invoked command's module is imported (``corrigo runs`` loads
``cli/runs.py`` alone, not the modules of bench, serve...): :class:`Commands` imports a
module when its command is looked up, and all of them when the commands are listed
(``corrigo --help``, a mistyped command).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import typer
import typer.main
from rich.console import Console
from typer.core import TyperGroup

from corrigo.config import Settings

#: The module of :mod:`corrigo.cli` that defines each command, in the order they are
#: imported to list them all (which is the order ``corrigo --help`` shows them in).
COMMANDS = {
    "bench": "bench",
    "doctor": "doctor",
    "export": "export",
    "fork": "fork",
    "lessons": "lessons",
    "models": "models",
    "replay": "replay",
    "resume": "resume",
    "run": "run",
    "runs": "runs",
    "show": "runs",
    "sandbox": "sandbox",
    "serve": "serve",
    "suites": "suites",
}


class Commands(TyperGroup):
    """The ``corrigo`` group, whose commands are imported when they are asked for."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        module = COMMANDS.get(cmd_name)
        self._load([module] if module else COMMANDS.values())
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: Any) -> list[str]:
        self._load(COMMANDS.values())
        return super().list_commands(ctx)

    def _load(self, modules: Iterable[str]) -> None:
        missing = [m for m in modules if f"corrigo.cli.{m}" not in sys.modules]
        if not missing:
            return
        for module in dict.fromkeys(missing):
            importlib.import_module(f"corrigo.cli.{module}")
        # The click commands of everything attached to ``app`` so far, in its order.
        self.commands = dict(typer.main.get_group(app).commands)


app = typer.Typer(
    name="corrigo",
    cls=Commands,
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
RayOption = typer.Option(
    None,
    "--ray",
    metavar="ADDRESS",
    help="Execute the runs on a Ray cluster: 'auto' (the one 'ray start' made here, or "
    "RAY_ADDRESS), host:port or ray://host:port. Needs corrigo[ray] and a PostgreSQL or "
    "Redis store when a node is on another host.",
)
RayActorsOption = typer.Option(
    2, "--ray-actors", min=1, help="Ray actors to run on (each takes -j runs at once)."
)


def executor_for(ray: str | None, actors: int, per_actor: int) -> Any:
    """The executor the command line asked for: this process, or Ray at ``ray``."""
    from corrigo.lifecycle.executor import get_executor

    if ray is None:
        return None
    return get_executor("ray", ray, actors=actors, per_actor=per_actor)


def settings_for(store: str | None = None, home: Path | None = None, **more: object) -> Settings:
    """Settings from the environment, with the command line's overrides."""
    return Settings.from_env().with_overrides(store_url=store, home=home, **more)
