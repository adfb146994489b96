"""``corrigo sandbox cleanup``: remove sandbox containers a killed corrigo left behind."""

from __future__ import annotations

import typer

from corrigo.cli.app import console, sandbox_app


@sandbox_app.command("cleanup")
def cleanup_command(
    all_: bool = typer.Option(
        False, "--all", help="Also remove containers of running corrigo processes."
    ),
) -> None:
    """Remove labelled sandbox containers whose corrigo process is gone."""
    from corrigo.sandbox.docker import cleanup

    removed = cleanup(include_live=all_)
    console.print(
        f"removed {len(removed)} sandbox container(s)"
        + (": " + ", ".join(removed) if removed else "")
    )
