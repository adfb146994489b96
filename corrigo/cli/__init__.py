"""The ``corrigo`` command: parse, build settings, call the public API, render."""

from __future__ import annotations

import os
import sys

from corrigo.cli.app import app, console_err


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes and backend failures are one line on stderr, exit 2.

    Usage errors (unknown options, missing arguments) are typer's own, also exit 2.
    """
    # The command line uses no pydantic plugin; looking for them scans every installed
    # package's entry points (~10 ms a command). Set before the first validator is built.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from rich.markup import escape

    from corrigo.errors import CorrigoError

    try:
        app(args=argv, prog_name="corrigo")
    except CorrigoError as exc:
        console_err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console_err.print("interrupted: unfinished runs were stored as cancelled")
        sys.exit(130)


__all__ = ["app", "main"]
