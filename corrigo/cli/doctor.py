"""``corrigo doctor``: check configuration, store, sandbox and model reachability."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from corrigo.cli.app import HomeOption, StoreOption, app, console, settings_for


@app.command("doctor")
def doctor_command(
    model: str | None = typer.Option(None, "--model", "-m", help="Model spec to check."),
    base_url: str | None = typer.Option(None, "--base-url"),
    sandbox: str | None = typer.Option(None, "--sandbox"),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """Check that corrigo can store, sandbox and reach its model."""
    from corrigo.doctor import run_checks

    settings = settings_for(store=store, home=home, base_url=base_url, sandbox=sandbox)
    checks = asyncio.run(run_checks(settings, model))
    for check in checks:
        mark = "[green]ok  [/green]" if check.ok else "[red]FAIL[/red]"
        console.print(f"{mark} {check.name:<8} {check.detail}")
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
