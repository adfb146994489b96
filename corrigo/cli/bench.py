"""``corrigo bench``: a task × strategy × model grid, its report, and stored benches.

``corrigo bench SUITE ...`` is ``corrigo bench run SUITE ...``; ``bench report ID``
redraws a stored bench's report; ``bench list`` lists stored benches.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.table import Table
from typer.core import TyperGroup

from corrigo.cli.app import (
    HomeOption,
    RayActorsOption,
    RayOption,
    StoreOption,
    app,
    console,
    console_err,
    executor_for,
    settings_for,
)
from corrigo.cli.run import MaxCostOption, cost_budget


class _RunByDefault(TyperGroup):
    """A group whose first argument, when it names no subcommand, starts ``run``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


bench_app = typer.Typer(
    cls=_RunByDefault,
    help=(
        "Benchmarks across strategies and models: 'corrigo bench SUITE --strategies a,b"
        " --models m1,m2' runs the grid ('bench run'); 'bench report ID' redraws a report."
    ),
    no_args_is_help=True,
)
app.add_typer(bench_app, name="bench")


def _names(values: list[str]) -> list[str]:
    """Comma-separated names, with commas inside parentheses kept: ``best_of_n(n=5,agree=3)``."""
    names: list[str] = []
    for value in values:
        depth, current = 0, ""
        for char in value:
            depth += {"(": 1, ")": -1}.get(char, 0)
            if char == "," and depth <= 0:
                names.append(current.strip())
                current = ""
            else:
                current += char
        names.append(current.strip())
    return [name for name in names if name]


def _parse_params(values: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs; a value is a Python literal, or else a plain string."""
    import ast

    from corrigo.errors import ConfigError

    params: dict[str, Any] = {}
    for value in values:
        name, sep, raw = value.partition("=")
        if not sep or not name.strip().isidentifier():
            raise ConfigError(f"--param takes NAME=VALUE (e.g. tests=always), got {value!r}")
        try:
            params[name.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            params[name.strip()] = raw.strip()
    return params


def _tables(report: Any, width: int) -> list[Table]:
    """The report as one table, or on a narrow terminal as two: pass rates, then costs."""
    from corrigo.bench.render import kinds_note
    from corrigo.bench.render import table as report_table

    spec = report.bench
    columns, cells = report_table(report)  # with "loose" when some cell has instructions tasks
    groups = [list(range(len(columns)))]
    if width < 160:
        quality = ["first", "final", "loose", "lift", "vs single", "i→c", "c→i", "errors"]
        first = [0, 1, *(columns.index(name) for name in quality if name in columns)]
        groups = [first, [0, 1, *(i for i in range(2, len(columns)) if i not in first)]]
    tables = []
    for n, group in enumerate(groups):
        title = f"corrigo bench {spec.id} · {spec.suite}{kinds_note(report)}" if n == 0 else None
        table = Table(
            title=title,
            title_justify="left",
            box=box.SIMPLE_HEAD,
            padding=(0, 1, 0, 0),
            pad_edge=False,
        )
        for i in group:
            name = columns[i]
            if name in {"strategy", "model"}:
                table.add_column(name, overflow="fold", min_width=8)
            else:  # numbers stay whole; headers and pass rates may break at spaces
                header = name.replace(" ", "\n").replace("/", "/\n")
                table.add_column(
                    header, justify="right", no_wrap=name not in {"first", "final", "loose"}
                )
        for row in cells:
            table.add_row(*(row[i] for i in group))
        tables.append(table)
    return tables


def _render(report: Any, out: Path | None, settings: Any, as_json: bool) -> None:
    from corrigo.bench.render import default_report_dir, write_report

    paths = write_report(report, out or default_report_dir(settings, report.bench.id))
    if as_json:
        typer.echo(report.to_json())
        return
    for table in _tables(report, console.width):
        console.print(table)
    if not report.complete:
        missing = sum(len(c.missing) for c in report.cells)
        note = f"{missing} cell task(s) have no finished run" if missing else "suite not loadable"
        console.print(
            f"[yellow]incomplete:[/yellow] {note}; continue with --resume {report.bench.id}"
        )
    console.print(f"report: {paths['markdown']}  {paths['json']}  {paths['plot']}")


@bench_app.command("run")
def run_command(
    suite: str | None = typer.Argument(
        None,
        help="Task selector: humaneval[:20], jsonl:PATH, a pulled suite (gsm[:50], ifeval[:50]) (omit with --resume).",
    ),
    strategies: list[str] = typer.Option(
        [],
        "--strategies",
        "-s",
        help="Strategies, comma-separated (or repeat the option); with parameters: best_of_n(n=5).",
    ),
    models: list[str] = typer.Option(
        [], "--models", "-m", help="Models for every role, comma-separated: openai:NAME, ..."
    ),
    limit: int | None = typer.Option(None, "--limit", "-n", min=1, help="First N tasks only."),
    max_rounds: int = typer.Option(3, "--max-rounds", min=1),
    max_cost: float | None = MaxCostOption,
    param: list[str] = typer.Option(
        [], "--param", help="A parameter for every strategy: NAME=VALUE (repeatable)."
    ),
    concurrency: int = typer.Option(4, "--concurrency", "-j", min=1, help="Tasks run at once."),
    resume: str | None = typer.Option(
        None, "--resume", help="Continue a stored bench (id, unique prefix, or 'last')."
    ),
    sandbox: str | None = typer.Option(None, "--sandbox", help="Sandbox backend."),
    base_url: str | None = typer.Option(None, "--base-url", help="OpenAI-compatible server URL."),
    out: Path | None = typer.Option(
        None, "--out", help="Report folder (default: CORRIGO_HOME/benches/BENCH_ID)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
    ray: str | None = RayOption,
    ray_actors: int = RayActorsOption,
) -> None:
    """Run every task × strategy × model (resumable), then report and plot."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    import corrigo
    from corrigo.bench import CellProgress
    from corrigo.bench.render import model_label

    settings = settings_for(store=store, home=home, base_url=base_url)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        console=console_err,
        disable=as_json or not console_err.is_terminal,
    )
    bars: dict[tuple[str, str], TaskID] = {}

    def on_progress(event: CellProgress) -> None:
        key = (event.strategy, event.model)
        label = f"{event.strategy} · {model_label(event.model)}"
        if event.kind == "planned":
            if not bars and not as_json:
                console_err.print(
                    f"bench {event.bench_id} (continue with: corrigo bench --resume {event.bench_id})"
                )
            bars[key] = progress.add_task(label, total=event.total, completed=event.done, last="")
        elif event.kind == "task" and event.outcome is not None:
            mark = "pass" if event.outcome.hidden_passed else event.outcome.stop_reason
            progress.update(
                bars[key], completed=event.done, last=f"{event.outcome.task_id}: {mark}"
            )
        elif event.kind == "done":
            progress.update(bars[key], completed=event.done, last="done")
            if not progress.live.is_started and not as_json:
                console_err.print(f"  {label}: {event.done}/{event.total} tasks finished")

    with progress:
        report = asyncio.run(
            corrigo.run_bench(
                suite=suite,
                strategies=_names(strategies),
                models=_names(models),
                limit=limit,
                max_rounds=max_rounds,
                max_cost=cost_budget(max_cost),
                params=_parse_params(param),
                sandbox=sandbox,
                resume=resume,
                settings=settings,
                concurrency=concurrency,
                on_progress=on_progress,
                executor=executor_for(ray, ray_actors, concurrency),
            )
        )
    _render(report, out, settings, as_json)


@bench_app.command("report")
def report_command(
    bench_id: str = typer.Argument(..., help="Bench id (a unique prefix, or 'last')."),
    out: Path | None = typer.Option(
        None, "--out", help="Report folder (default: CORRIGO_HOME/benches/BENCH_ID)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """Redraw a stored bench's report (table, report.md, report.json, plot) from the store."""
    import corrigo

    settings = settings_for(store=store, home=home)
    report = asyncio.run(corrigo.bench_report(bench_id, settings=settings))
    _render(report, out, settings, as_json)


@bench_app.command("list")
def list_command(
    limit: int = typer.Option(20, "--limit", "-n", min=1),
    as_json: bool = typer.Option(False, "--json"),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """Stored benches, newest first."""
    from corrigo.bench import list_benches

    benches = asyncio.run(list_benches(limit=limit, settings=settings_for(store, home)))
    if as_json:
        typer.echo(json.dumps([b.model_dump(mode="json") for b in benches], indent=2))
        return
    if not benches:
        console.print("no benches stored yet: try 'corrigo bench humaneval[:5] -s refine -m ...'")
        return
    table = Table(title="stored benches", title_justify="left")
    for name in ("bench", "created", "suite", "strategies", "models"):
        table.add_column(name)
    for b in benches:
        table.add_row(
            b.id,
            b.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            b.suite + (f" (first {b.limit})" if b.limit else ""),
            ", ".join(b.strategies),
            ", ".join(b.models),
        )
    console.print(table)
