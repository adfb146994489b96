"""``corrigo resume``: continue runs whose process died, from their last checkpoint."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from corrigo.cli.app import HomeOption, StoreOption, app, console, console_err, settings_for
from corrigo.cli.render import outcome_table, totals_line


@app.command("resume")
def resume_command(
    runs: list[str] = typer.Argument(None, help="Run ids (or unique prefixes) to continue."),
    all_interrupted: bool = typer.Option(
        False, "--all", help="Continue every interrupted run (of --batch when given)."
    ),
    batch: str | None = typer.Option(None, "--batch", help="With --all: only this batch."),
    force: bool = typer.Option(
        False,
        "--force",
        help="Take over runs shown as running (their process is on another host, or hung).",
    ),
    concurrency: int = typer.Option(4, "--concurrency", "-j", min=1, help="Runs at once."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcomes as JSON."),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """Continue interrupted runs: no recorded step is repeated, no model asked twice."""
    import corrigo
    from corrigo.errors import UsageError

    if not runs and not all_interrupted:
        raise UsageError("name the runs to resume, or use --all for every interrupted run")
    if batch and not all_interrupted:
        raise UsageError("--batch selects runs for --all; use it with --all")

    def done(outcome: corrigo.Outcome) -> None:
        if not as_json:
            mark = "pass" if outcome.hidden_passed else outcome.stop_reason
            console_err.print(f"  {outcome.run_id} {outcome.task_id}: {mark}")

    outcomes = asyncio.run(
        corrigo.resume(
            runs or [],
            interrupted=all_interrupted,
            batch_id=batch,
            force=force,
            settings=settings_for(store, home),
            concurrency=concurrency,
            on_outcome=done,
        )
    )
    if as_json:
        console.print_json(json.dumps([o.model_dump(mode="json") for o in outcomes]))
        return
    if not outcomes:
        console.print("no interrupted runs to resume")
        return
    console.print(outcome_table(outcomes))
    console.print(totals_line(outcomes))
