"""``corrigo fork``: a new run from a step of a stored one, with other options."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from corrigo.cli.app import HomeOption, StoreOption, app, console, settings_for
from corrigo.cli.render import outcome_table, totals_line
from corrigo.cli.run import _parse_roles


@app.command("fork")
def fork_command(
    run: str = typer.Argument(..., help="The run to fork (an id, a unique prefix, or 'last')."),
    at: int = typer.Option(..., "--at", help="The last step taken from the run (its seq)."),
    strategy: str | None = typer.Option(
        None, "--strategy", "-s", help="Strategy from there on (default: the run's)."
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model for every role from there on (default: the run's)."
    ),
    role: list[str] = typer.Option(
        [], "--role", help="Override one role: reviewer=SPEC (repeatable)."
    ),
    max_rounds: int | None = typer.Option(
        None, "--max-rounds", min=1, help="Rounds at most, counted from the run's start."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """Fork a run at a step: its steps up to there are reused (no model asked, nothing
    executed again), then the fork goes on with the options given."""
    import corrigo

    settings = settings_for(store, home)
    outcome = asyncio.run(
        corrigo.fork(
            run,
            at=at,
            strategy=strategy,
            model=model,
            roles=_parse_roles(role),
            max_rounds=max_rounds,
            settings=settings,
        )
    )
    if as_json:
        console.print_json(json.dumps(outcome.model_dump(mode="json")))
        return
    forked = asyncio.run(corrigo.load_run(outcome.run_id, settings=settings)).record
    parent = forked.spec.forked_from.run_id if forked.spec.forked_from else run
    console.print(f"fork {outcome.run_id} of {parent} at step {at}")
    console.print(outcome_table([outcome]))
    console.print(totals_line([outcome]))
