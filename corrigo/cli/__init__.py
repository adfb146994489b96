"""The ``corrigo`` command: parse, build settings, call the public API, render."""

from __future__ import annotations

import sys

from corrigo.cli.app import app, console_err


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes and backend failures are one line on stderr, exit 2."""
    from corrigo.errors import CorrigoError

    try:
        app(args=argv, standalone_mode=False, prog_name="corrigo")
    except CorrigoError as exc:
        console_err.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console_err.print("[yellow]interrupted[/yellow]")
        sys.exit(130)
    except _click_errors() as exc:  # type: ignore[misc]
        exc.show()
        sys.exit(exc.exit_code)


def _click_errors() -> tuple[type[Exception], ...]:
    import click

    return (click.ClickException,)


__all__ = ["app", "main"]
