"""``corrigo export``: stored trajectories as SFT and preference data (TRL, ``datasets``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.markup import escape

from corrigo.cli.app import HomeOption, StoreOption, app, console, settings_for
from corrigo.cli.runs import (
    BatchOption,
    ModelOption,
    SinceOption,
    StrategyOption,
    TaskOption,
    UntilOption,
    selection,
)


@app.command("export")
def export_command(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Folder for sft.jsonl and preference.jsonl (made if missing)."
    ),
    format: str = typer.Option(
        "conversational",
        "--format",
        help="conversational (message lists) or standard (plain text): TRL's two shapes.",
    ),
    allow_unscored: bool = typer.Option(
        False,
        "--allow-unscored",
        help="Also export runs of tasks without hidden tests, trusting their visible tests "
        "(SFT rows only; marked verified_by=visible_tests).",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files in --out."),
    task: str | None = TaskOption,
    strategy: str | None = StrategyOption,
    model: str | None = ModelOption,
    batch: str | None = BatchOption,
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """Write finished runs as training data for TRL: SFT and preference pairs.

    sft.jsonl: the task as the solver was asked it → the run's answer, for runs whose
    answer passed the hidden tests. preference.jsonl: that answer (chosen) against each
    candidate of the same run that failed its visible tests (rejected). Only answers
    that passed hidden tests are ever a target or the chosen side.
    """
    import corrigo

    query = selection(
        task=task, strategy=strategy, model=model, batch=batch, since=since, until=until
    )
    report = asyncio.run(
        corrigo.export_training_data(
            out,
            query=query,
            format=format,  # type: ignore[arg-type]  # checked by export_training_data
            allow_unscored=allow_unscored,
            force=force,
            settings=settings_for(store, home),
        )
    )
    if as_json:
        payload = {
            "runs": report.runs,
            "sft": {"path": str(report.sft_path), "rows": report.sft_rows},
            "preference": {"path": str(report.preference_path), "rows": report.preference_rows},
            "skipped": report.skipped,
        }
        console.print_json(json.dumps(payload))
        return
    if report.runs == 0:
        console.print("no finished runs match the selection: wrote two empty files")
    else:
        console.print(f"{report.runs} finished run{'s' * (report.runs != 1)} read")
    for path, count, what in (
        (report.sft_path, report.sft_rows, "prompt → verified answer"),
        (report.preference_path, report.preference_rows, "chosen vs rejected"),
    ):
        console.print(f"  {escape(str(path))}: {_rows(count)} ({what})")
    for reason, count in sorted(report.skipped.items()):
        console.print(f"  left out {count} run{'s' * (count != 1)}: {escape(reason)}")


def _rows(count: int) -> str:
    return f"{count} row{'s' * (count != 1)}"
