"""``corrigo runs`` and ``corrigo show RUN``: stored runs, round by round."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.syntax import Syntax

from corrigo.cli.app import HomeOption, StoreOption, app, console, settings_for
from corrigo.cli.render import code_diff, runs_table, step_title
from corrigo.records import Step


@app.command("runs")
def runs_command(
    limit: int = typer.Option(20, "--limit", "-n", min=1),
    as_json: bool = typer.Option(False, "--json"),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """List stored runs, newest first."""
    import corrigo

    records = asyncio.run(corrigo.list_runs(limit=limit, settings=settings_for(store, home)))
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in records]))
        return
    if not records:
        console.print("no runs stored yet: try 'corrigo run humaneval[:3]'")
        return
    console.print(runs_table(records))


_TEXT_TITLES = {
    "review": "critique",
    "rank": "ranking",
    "reflect": "reflection",
    "design_tests": "generated tests",
}


def _show_step(step: Step, codes: dict[str, str]) -> None:
    """One step; ``codes`` holds the code of every candidate so far, by key, so a
    revision is shown as a diff against the candidate it revised."""
    console.rule(step_title(step), align="left")
    if step.kind == "model":
        if step.error:
            console.print(f"[red]model error:[/red] {escape(step.error)}")
            return
        usage = step.usage
        extra = "".join(f" · {flag}" for flag in step.flags)
        if step.temperature:
            extra += f" · temperature {step.temperature:g}"
        console.print(
            f"[dim]{escape(step.model or '')} · {usage.tokens_in}→{usage.tokens_out} tokens"
            f" · {usage.latency_ms:.0f} ms{escape(extra)}[/dim]"
        )
        candidate = step.candidate
        if candidate is not None:
            parent = codes.get(candidate.parent or "")
            if not candidate.extracted:
                console.print("[yellow]no code in the reply:[/yellow]")
                console.print(escape(step.output or ""))
            elif parent is None:
                console.print(Syntax(candidate.code, "python", line_numbers=False))
            else:
                console.print(f"[dim]revises {escape(candidate.parent or '')}[/dim]")
                console.print(Syntax(code_diff(parent, candidate.code), "diff"))
            codes[candidate.key or str(step.seq)] = candidate.code
            return
        title = _TEXT_TITLES.get(step.node, step.node)
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
    elif verdict.feedback:
        console.print(escape(verdict.feedback))


@app.command("show")
def show_command(
    run_id: str = typer.Argument(..., help="Run id (a unique prefix is enough)."),
    as_json: bool = typer.Option(False, "--json"),
    store: str | None = StoreOption,
    home: Path | None = HomeOption,
) -> None:
    """Print a stored run step by step: code (revisions as diffs), tests, critiques."""
    import corrigo

    stored = asyncio.run(corrigo.load_run(run_id, settings=settings_for(store, home)))
    record = stored.record
    if as_json:
        payload = {
            "run": record.model_dump(mode="json"),
            "steps": [s.model_dump(mode="json") for s in stored.steps],
        }
        console.print_json(json.dumps(payload))
        return
    spec, outcome = record.spec, record.outcome
    console.print(f"[bold]run {record.id}[/bold] · task {spec.task.id} · strategy {spec.strategy}")
    roles = ", ".join(f"{r}={m}" for r, m in spec.roles.items())
    console.print(f"models: {escape(roles)} · sandbox {spec.sandbox} · status {record.status}")
    codes: dict[str, str] = {}
    for step in stored.steps:
        _show_step(step, codes)
    console.rule("outcome", align="left")
    if outcome is None:
        console.print("[yellow]run has not finished[/yellow]")
        return
    console.print(
        f"stop: {outcome.stop_reason} · rounds {outcome.rounds} · first round "
        f"{'pass' if outcome.first_round_passed else 'fail'} · final visible "
        f"{'pass' if outcome.visible_passed else 'fail'} · hidden "
        f"{'-' if outcome.hidden_passed is None else ('pass' if outcome.hidden_passed else 'fail')}"
        f" · model calls {outcome.totals.model_calls} · {outcome.totals.seconds:.1f} s"
    )
    if outcome.error:
        console.print(f"[red]error:[/red] {escape(outcome.error)}")
