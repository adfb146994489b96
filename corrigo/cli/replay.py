"""``corrigo replay RUN``: re-execute a stored run from its records."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path

import typer

from corrigo.cli.app import HomeOption, StoreOption, app, console, settings_for


@app.command("replay")
def replay_command(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
    reverify: bool = typer.Option(
        False, "--reverify", help="Run the candidates again in a real sandbox."
    ),
    as_json: bool = typer.Option(False, "--json"),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """Replay a stored run with its recorded replies (no model calls); compare every step."""
    import corrigo

    async def go() -> corrigo.ReplayReport:
        stored = await corrigo.load_run(run_id, settings=settings_for(store, home))
        return await corrigo.replay_run(stored, reverify=reverify)

    report = asyncio.run(go())
    if as_json:
        data = asdict(report)
        data["all_matched"] = report.all_matched
        console.print_json(json.dumps(data))
    else:
        # Columns as wide as the longest role and node (self_review, design_tests...).
        role_width = max([9, *(len(s.role) for s in report.steps)])
        node_width = max([7, *(len(s.node) for s in report.steps)])
        for step in report.steps:
            mark = "[green]match[/green]" if step.matched else f"[red]MISMATCH[/red] {step.reason}"
            console.print(
                f"  #{step.seq:<3} {step.role:<{role_width}} {step.node:<{node_width}} {mark}"
            )
        verdict = "every step matched" if report.all_matched else "steps differ"
        console.print(
            f"replay ({report.mode}) of {report.run_id}: {len(report.steps)} steps, {verdict}; "
            f"model calls {report.model_calls} (served {report.replies_served} recorded replies); "
            f"stop reason {report.stop_reason} (recorded {report.recorded_stop_reason})"
        )
    if not report.all_matched:
        raise typer.Exit(1)
