"""``corrigo run``: tasks through a strategy, with live progress and a summary table."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

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
from corrigo.cli.render import outcome_table, totals_line

MaxCostOption = typer.Option(
    None,
    "--max-cost",
    metavar="DOLLARS",
    help="Dollars each run may spend at most, at the price table's rates "
    "(CORRIGO_PRICES); every model needs a price.",
)


def cost_budget(max_cost: float | None) -> float | None:
    """``--max-cost`` checked: a finite number of dollars, 0 or more."""
    import math

    from corrigo.errors import ConfigError

    if max_cost is not None and not (math.isfinite(max_cost) and max_cost >= 0):
        raise ConfigError(f"--max-cost takes dollars, 0 or more (got {max_cost:g})")
    return max_cost


def _parse_roles(values: list[str]) -> dict[str, str]:
    from corrigo.errors import ConfigError

    roles = {}
    for value in values:
        role, sep, spec = value.partition("=")
        if not sep or not role or not spec:
            raise ConfigError(
                f"--role takes ROLE=SPEC (e.g. reviewer=openai:gpt-4o), got {value!r}"
            )
        roles[role.strip()] = spec.strip()
    return roles


@app.command("run")
def run_command(
    tasks: str = typer.Argument(
        ...,
        help="Task selector: humaneval[:20], humaneval:HumanEval/12, jsonl:PATH, or a pulled suite: gsm[:50], ifeval[:50] (corrigo suites list)",
    ),
    strategy: str = typer.Option(
        "best_of_n",
        "--strategy",
        "-s",
        help="Strategy: single, refine, self_debug, reflexion, best_of_n, multi_agent, intrinsic, "
        "tree_search; with parameters as NAME(key=value,...), e.g. 'best_of_n(n=5)'.",
    ),
    model: str | None = typer.Option(
        None,
        "--model",
        "-m",
        help="Model for every role: openai:NAME, ollama:NAME, local:NAME, scripted:FILE.",
    ),
    role: list[str] = typer.Option(
        [], "--role", help="Override one role: reviewer=SPEC (repeatable)."
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", help="OpenAI-compatible server URL (default: OPENAI_BASE_URL)."
    ),
    max_rounds: int = typer.Option(
        3, "--max-rounds", min=1, help="Rounds of verify→review→refine at most."
    ),
    max_cost: float | None = MaxCostOption,
    sandbox: str | None = typer.Option(
        None, "--sandbox", help="Sandbox backend (default: process)."
    ),
    concurrency: int = typer.Option(4, "--concurrency", "-j", min=1, help="Tasks run at once."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcomes as JSON."),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
    ray: str | None = RayOption,
    ray_actors: int = RayActorsOption,
) -> None:
    """Run tasks through a self-correction strategy and store every step."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    import corrigo

    settings = settings_for(store=store, home=home, base_url=base_url)
    roles = _parse_roles(role)
    budgets = corrigo.Budgets(max_cost=cost_budget(max_cost))
    task_list = corrigo.load_tasks(tasks, home=settings.home)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        console=console_err,
        disable=as_json or not console_err.is_terminal,
    )
    active: dict[str, str] = {}
    with progress:
        bar = progress.add_task(f"{strategy}", total=len(task_list), last="")

        def moved(task_id: str, event: dict[str, object]) -> None:
            # Which round and node each unfinished task is in, from the graph's stream.
            if event.get("event") != "node":
                return
            active[task_id] = f"{task_id} r{event.get('round')} {event.get('node')}"
            progress.update(bar, last=" · ".join(list(active.values())[-3:]))

        def advance(outcome: corrigo.Outcome) -> None:
            active.pop(outcome.task_id, None)
            mark = "pass" if outcome.hidden_passed else outcome.stop_reason
            progress.update(bar, advance=1, last=f"{outcome.task_id}: {mark}")
            if not progress.live.is_started and not as_json:
                console_err.print(f"  {outcome.task_id}: {mark} ({outcome.rounds} rounds)")

        outcomes = asyncio.run(
            corrigo.run(
                task_list,
                strategy=strategy,
                model=model,
                roles=roles,
                max_rounds=max_rounds,
                budgets=budgets,
                sandbox=sandbox,
                settings=settings,
                concurrency=concurrency,
                on_outcome=advance,
                on_event=moved,
                executor=executor_for(ray, ray_actors, concurrency),
            )
        )
    if as_json:
        console.print_json(json.dumps([o.model_dump(mode="json") for o in outcomes]))
        return
    console.print(outcome_table(outcomes))
    console.print(totals_line(outcomes))
