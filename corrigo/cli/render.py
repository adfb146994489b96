"""Tables and text the commands print."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from corrigo.records import Outcome, RunRecord, Step


def _mark(value: bool | None) -> str:
    if value is None:
        return "-"
    return "[green]pass[/green]" if value else "[red]fail[/red]"


def outcome_table(outcomes: Sequence[Outcome]) -> Table:
    table = Table(title="corrigo run", title_justify="left")
    for name, justify in [
        ("task", "left"),
        ("first round", "center"),
        ("final visible", "center"),
        ("hidden", "center"),
        ("rounds", "right"),
        ("model calls", "right"),
        ("tokens", "right"),
        ("seconds", "right"),
        ("stop", "left"),
        ("run", "left"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for o in outcomes:
        table.add_row(
            o.task_id,
            _mark(o.first_round_passed),
            _mark(o.visible_passed),
            _mark(o.hidden_passed),
            str(o.rounds),
            str(o.totals.model_calls),
            str(o.totals.tokens_in + o.totals.tokens_out),
            f"{o.totals.seconds:.1f}",
            o.stop_reason,
            o.run_id,
        )
    return table


def flips(outcomes: Sequence[Outcome]) -> tuple[int, int]:
    """(incorrect→correct, correct→incorrect) on hidden tests, first round vs final."""
    fixed = sum(1 for o in outcomes if o.first_round_hidden_passed is False and o.hidden_passed)
    broken = sum(1 for o in outcomes if o.first_round_hidden_passed and o.hidden_passed is False)
    return fixed, broken


def totals_line(outcomes: Sequence[Outcome]) -> str:
    n = len(outcomes)
    hidden = sum(1 for o in outcomes if o.hidden_passed)
    first = sum(1 for o in outcomes if o.first_round_hidden_passed)
    visible = sum(1 for o in outcomes if o.visible_passed)
    fixed, broken = flips(outcomes)
    calls = sum(o.totals.model_calls for o in outcomes)
    tokens = sum(o.totals.tokens_in + o.totals.tokens_out for o in outcomes)
    seconds = sum(o.totals.seconds for o in outcomes)
    return (
        f"totals: hidden pass {hidden}/{n} (first round {first}/{n}), visible pass {visible}/{n}; "
        f"incorrect→correct {fixed}, correct→incorrect {broken}; "
        f"model calls {calls}, tokens {tokens}, run seconds {seconds:.1f}"
    )


_STATUS_STYLE = {
    "queued": "[yellow]queued[/yellow]",
    "finished": "[green]finished[/green]",
    "running": "[cyan]running[/cyan]",
    "interrupted": "[bold red]interrupted[/bold red]",
}


def runs_table(records: Sequence[RunRecord]) -> Table:
    table = Table(title="stored runs", title_justify="left")
    for name in ("run", "created", "task", "strategy", "model", "status", "stop", "hidden"):
        table.add_column(name, no_wrap=name in ("run", "created", "status"))
    for r in records:
        o = r.outcome
        models = sorted(set(r.spec.roles.values()))
        table.add_row(
            r.id,
            r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            escape(r.spec.task.id),
            escape(r.spec.strategy),
            escape(", ".join(models)),
            _STATUS_STYLE.get(r.status, r.status),
            o.stop_reason if o else "-",
            _mark(o.hidden_passed) if o else "-",
        )
    return table


def code_diff(old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), "previous", "this round", lineterm=""
    )
    return "\n".join(lines) or "(no change)"


def step_title(step: Step) -> str:
    return f"#{step.seq} round {step.round} · {step.role} ({step.node})"
