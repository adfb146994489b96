"""``corrigo runs`` (with filters), ``corrigo runs prune`` and ``corrigo show RUN``:
stored runs, round by round."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import RenderableType
from rich.markup import escape

from corrigo.cli.app import HomeOption, StoreOption, app, console, settings_for
from corrigo.cli.render import (
    TEXT_TITLES,
    answer_outcome,
    answer_step,
    code_diff,
    model_line,
    runs_table,
    step_title,
    stop_text,
)

if TYPE_CHECKING:  # the records (pydantic) load with the commands that use them
    from corrigo.config import Settings
    from corrigo.lifecycle.stored import StoredRun
    from corrigo.records import RunQuery, RunRecord, Step, Task

_STATUSES = ("queued", "running", "finished", "interrupted")
_AGE = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Everything there is: list_runs needs a limit, and prune or export want every match.
ALL = 2**31 - 1


def parse_when(text: str, option: str, now: datetime | None = None) -> datetime:
    """A moment from the command line, in UTC: an ISO date or datetime (local time
    unless it says otherwise) or an age back from now (``7d``, ``12h``, ``30m``)."""
    from corrigo.errors import UsageError

    value = text.strip()
    match = _AGE.fullmatch(value.lower())
    try:
        if match:
            age = timedelta(**{_UNITS[match[2]]: int(match[1])})
            return (now or datetime.now(UTC)) - age
        moment = datetime.fromisoformat(value)
        return (moment.astimezone() if moment.tzinfo is None else moment).astimezone(UTC)
    except (ValueError, OverflowError):
        raise UsageError(
            f"{option} takes a date (2025-01-31), a datetime (2025-01-31T14:00) or an age "
            f"(7d, 12h, 30m), not {text!r}"
        ) from None


def selection(
    *,
    limit: int = ALL,
    status: str | None = None,
    task: str | None = None,
    strategy: str | None = None,
    model: str | None = None,
    batch: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> RunQuery:
    """The query the selection options describe; UsageError for a value that cannot be read."""
    from corrigo.errors import UsageError
    from corrigo.records import RunQuery

    if status is not None and status not in _STATUSES:
        raise UsageError(f"--status takes {', '.join(_STATUSES)}, not {status!r}")
    now = datetime.now(UTC)
    after = parse_when(since, "--since", now) if since is not None else None
    before = parse_when(until, "--until", now) if until is not None else None
    if after is not None and before is not None and after >= before:
        raise UsageError("--since must be earlier than --until: no run can match both")
    return RunQuery(
        limit=limit,
        status=status,  # type: ignore[arg-type]  # checked above
        task_id=task or None,
        strategy=strategy or None,
        model=model or None,
        batch_id=batch or None,
        since=after,
        until=before,
    )


TaskOption = typer.Option(
    None, "--task", help="Task id, exactly; or a prefix ending in '*' (--task 'HumanEval/1*')."
)
StrategyOption = typer.Option(None, "--strategy", "-s", help="Strategy name (refine, best_of_n…).")
ModelOption = typer.Option(
    None, "--model", "-m", help="A model spec any role used, exactly (scripted:FILE, local:NAME…)."
)
BatchOption = typer.Option(None, "--batch", help="Batch id (one 'corrigo run', or a bench cell).")
SinceOption = typer.Option(
    None, "--since", help="Created at or after: 2025-01-31, 2025-01-31T14:00, or an age: 7d, 12h."
)
UntilOption = typer.Option(
    None, "--until", help="Created before: a date, datetime or age, as for --since."
)

runs_app = typer.Typer(
    help="List stored runs, newest first (with filters); 'corrigo runs prune' deletes old ones.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(runs_app, name="runs")


@runs_app.callback(invoke_without_command=True)
def runs_command(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="Show at most this many."),
    status: str | None = typer.Option(
        None,
        "--status",
        help="queued (waiting in a server), running, finished or interrupted (its process is gone).",
    ),
    task: str | None = TaskOption,
    strategy: str | None = StrategyOption,
    model: str | None = ModelOption,
    batch: str | None = BatchOption,
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    as_json: bool = typer.Option(False, "--json", help="Print the run records as JSON."),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """List stored runs, newest first; every filter given must match."""
    if ctx.invoked_subcommand is not None:
        return
    import corrigo

    query = selection(
        limit=limit,
        status=status,
        task=task,
        strategy=strategy,
        model=model,
        batch=batch,
        since=since,
        until=until,
    )
    records = asyncio.run(corrigo.list_runs(query=query, settings=settings_for(store, home)))
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in records]))
        return
    if not records:
        filtered = query.model_dump(exclude={"limit", "schema_version"}, exclude_none=True)
        if filtered:
            console.print("no stored runs match these filters")
        else:
            console.print("no runs stored yet: try 'corrigo run humaneval[:3]'")
        return
    console.print(runs_table(records))
    stopped = sum(1 for r in records if r.status == "interrupted")
    if stopped:
        console.print(
            f"{stopped} interrupted (their process is gone): continue with "
            "'corrigo resume RUN' or 'corrigo resume --all'",
            emoji=False,  # none to replace: rich's table of emoji codes stays unloaded
        )


@runs_app.command("prune")
def prune_command(
    older_than: str | None = typer.Option(
        None,
        "--older-than",
        help="Delete finished runs created before this: an age (30d, 12h) or a date/datetime.",
    ),
    keep: int | None = typer.Option(
        None, "--keep", help="Delete all but the N newest finished runs."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="List the runs that would be deleted; delete nothing."
    ),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """Delete finished runs and their steps; running and interrupted runs always stay."""
    import corrigo
    from corrigo.errors import UsageError

    if older_than is None and keep is None:
        raise UsageError("say which runs to prune: --older-than AGE (e.g. 30d), --keep N, or both")
    if keep is not None and keep < 0:
        raise UsageError(f"--keep takes a count of runs to keep (0 or more), not {keep}")
    cutoff = parse_when(older_than, "--older-than") if older_than is not None else None
    settings = settings_for(store, home)
    which = " and ".join(
        part
        for part in (
            f"created before {cutoff:%Y-%m-%d %H:%M:%S} UTC" if cutoff else "",
            f"beyond the {keep} newest" if keep is not None else "",
        )
        if part
    )
    if not dry_run:
        deleted = asyncio.run(corrigo.prune_runs(older_than=cutoff, keep=keep, settings=settings))
        console.print(f"deleted {deleted} finished run{'s' * (deleted != 1)} ({which})")
        return
    doomed = asyncio.run(_would_prune(cutoff, keep, settings))
    if doomed:
        console.print(runs_table(doomed))
    count = len(doomed)
    console.print(
        f"dry run: would delete {count} finished run{'s' * (count != 1)} ({which}); "
        "nothing was deleted"
    )


async def _would_prune(
    cutoff: datetime | None, keep: int | None, settings: Settings
) -> list[RunRecord]:
    """The runs ``prune_runs(older_than=cutoff, keep=keep)`` deletes: finished ones created
    before the cutoff, and those beyond the ``keep`` newest finished."""
    import corrigo
    from corrigo.records import RunQuery

    doomed: dict[str, RunRecord] = {}
    async with corrigo.open_store(settings.resolved_store_url) as store:
        if cutoff is not None:
            old = RunQuery(status="finished", until=cutoff, limit=ALL)
            doomed.update((r.id, r) for r in await corrigo.list_runs(query=old, store=store))
        if keep is not None:
            finished = RunQuery(status="finished", limit=ALL)
            extra = (await corrigo.list_runs(query=finished, store=store))[keep:]
            doomed.update((r.id, r) for r in extra)
    return sorted(doomed.values(), key=lambda r: (r.created_at, r.id), reverse=True)


def _syntax(code: str, lexer: str) -> RenderableType:
    from rich.syntax import Syntax  # pygments: loaded by 'corrigo show' only

    return Syntax(code, lexer, line_numbers=False)


def _show_step(step: Step, codes: dict[str, str], task: Task | None = None) -> None:
    """One step; ``codes`` holds the code of every candidate so far, by key, so a
    revision is shown as a diff against the candidate it revised."""
    console.rule(step_title(step), align="left")
    if task is not None and task.kind != "code":
        for part in answer_step(step, codes, task):
            console.print(part)
        return
    if step.kind == "model":
        if step.error:
            console.print(f"[red]model error:[/red] {escape(step.error)}")
            return
        console.print(model_line(step))
        candidate = step.candidate
        if candidate is not None:
            parent = codes.get(candidate.parent or "")
            if not candidate.extracted:
                console.print("[yellow]no code in the reply:[/yellow]")
                console.print(escape(step.output or ""))
            elif parent is None:
                console.print(_syntax(candidate.code, "python"))
            else:
                console.print(f"[dim]revises {escape(candidate.parent or '')}[/dim]")
                console.print(_syntax(code_diff(parent, candidate.code), "diff"))
            codes[candidate.key or str(step.seq)] = candidate.code
            return
        from rich.panel import Panel  # loaded by 'corrigo show' only

        title = TEXT_TITLES.get(step.node, step.node)
        console.print(Panel(escape(step.output or ""), title=title, title_align="left"))
        return
    verdict = step.verdict
    if verdict is None:
        return
    if step.node == "probe" and verdict.evidence is not None:
        console.print("outputs on the probe inputs (for agreement between candidates):")
        from corrigo.agents.verifier import probe_outputs

        tests = verdict.evidence.tests
        for test, output in zip(tests, probe_outputs(tests), strict=True):
            console.print(f"  {escape(test.name)} → {escape(output)}")
        return
    which = "hidden tests (score only)" if step.role == "scorer" else "visible tests"
    console.print(
        f"{which}: {'[green]passed' if verdict.passed else '[red]failed'}[/] "
        f"(score {verdict.score:.2f})"
    )
    if verdict.evidence is not None:
        for test in verdict.evidence.tests:
            mark = "[green]✓[/green]" if test.passed else "[red]✗[/red]"
            message = f" — {escape(test.message)}" if test.message else ""
            console.print(f"  {mark} {escape(test.name)}{message}")
            if test.trace is not None:
                from corrigo.agents.extract import assemble_program
                from corrigo.agents.traces import render_trace

                # Trace lines count in the program as it ran (the candidate's code inside the
                # task's prompt): only with that program is each line shown with its text.
                code = step.candidate.code if step.candidate else ""
                program = assemble_program(task, code) if task and code else ""
                console.print(escape(render_trace(test.trace, program)), highlight=False)
    elif verdict.feedback:
        console.print(escape(verdict.feedback))


async def _load(
    run_id: str, settings: Settings, with_forks: bool
) -> tuple[StoredRun, list[RunRecord]]:
    """A stored run, and its forks when asked, read through one open store."""
    import corrigo
    from corrigo.lifecycle.stored import forks_of

    async with corrigo.open_store(settings.resolved_store_url) as opened:
        stored = await corrigo.load_run(run_id, store=opened, settings=settings)
        forks = await forks_of(stored.record, store=opened, settings=settings) if with_forks else []
        return stored, forks


def _family(record: RunRecord, forks: list[RunRecord]) -> list[str]:
    """A run's parent (when it is a fork) and its forks, one line each."""
    lines = []
    parent = record.spec.forked_from
    if parent is not None:
        lines.append(
            f"forked from {parent.run_id} at step {parent.step}: "
            f"steps 1–{parent.step} are that run's"
        )
    for fork in reversed(forks):  # oldest first
        point = fork.spec.forked_from
        at = f" at step {point.step}" if point is not None else ""
        stop = f" · {fork.outcome.stop_reason}" if fork.outcome else f" · {fork.status}"
        lines.append(f"fork {fork.id}{at} · {fork.spec.strategy}{stop}")
    return lines


@app.command("show")
def show_command(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
    as_json: bool = typer.Option(False, "--json"),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """Print a stored run step by step: code (revisions as diffs), tests, critiques;
    for math and instructions tasks the answers and their checks."""
    stored, forks = asyncio.run(_load(run_id, settings_for(store, home), not as_json))
    record = stored.record
    if as_json:
        payload = {
            "run": record.model_dump(mode="json"),
            "steps": [s.model_dump(mode="json") for s in stored.steps],
        }
        console.print_json(json.dumps(payload))
        return
    spec, outcome = record.spec, record.outcome
    kind = f" · {spec.task.kind} task" if spec.task.kind != "code" else ""
    console.print(
        f"[bold]run {record.id}[/bold] · task {spec.task.id} · strategy {spec.strategy}{kind}"
    )
    roles = ", ".join(f"{r}={m}" for r, m in spec.roles.items())
    console.print(f"models: {escape(roles)} · sandbox {spec.sandbox} · status {record.status}")
    for line in _family(record, forks):
        console.print(line)
    codes: dict[str, str] = {}
    for step in stored.steps:
        _show_step(step, codes, spec.task)
    console.rule("outcome", align="left")
    if outcome is None:
        console.print("[yellow]run has not finished[/yellow]")
        return
    from corrigo.models.pricing import dollars

    console.print(
        f"stop: {stop_text(outcome)} · rounds {outcome.rounds} · first round "
        f"{'pass' if outcome.first_round_passed else 'fail'} · final visible "
        f"{'pass' if outcome.visible_passed else 'fail'} · hidden "
        f"{'-' if outcome.hidden_passed is None else ('pass' if outcome.hidden_passed else 'fail')}"
        f" · model calls {outcome.totals.model_calls} · cost {dollars(outcome.totals.cost)}"
        f" · {outcome.totals.seconds:.1f} s"
    )
    if spec.task.kind != "code":
        for line in answer_outcome(outcome, spec.task):
            console.print(line)
    if outcome.error:
        console.print(f"[red]error:[/red] {escape(outcome.error)}")
