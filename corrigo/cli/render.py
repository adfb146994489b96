"""Tables and text the commands print; for math and instructions tasks, each step of
``corrigo show`` as the answer and its check (code tasks are shown by ``cli/runs.py``)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # the records (pydantic) load with the commands that use them
    from corrigo.records import Candidate, Outcome, RunRecord, Step, Task, Verdict


def dollars(value: float | None) -> str:
    """:func:`corrigo.models.pricing.dollars`, imported when a cost is shown: the price
    table's module loads the records, which ``import corrigo.cli`` should not."""
    from corrigo.models.pricing import dollars as text

    return text(value)


def _mark(value: bool | None) -> str:
    if value is None:
        return "-"
    return "[green]pass[/green]" if value else "[red]fail[/red]"


def stop_text(outcome: Outcome) -> str:
    """The stop reason, with the budget that ran out: ``budget_exhausted (tokens)``."""
    if outcome.budget and outcome.stop_reason == "budget_exhausted":
        return f"{outcome.stop_reason} ({outcome.budget})"
    return outcome.stop_reason


def total_cost(outcomes: Sequence[Outcome]) -> float | None:
    """The outcomes' dollars together; None when one of them is unknown."""
    costs = [o.totals.cost for o in outcomes]
    return None if any(c is None for c in costs) else sum(c for c in costs if c is not None)


def cost_per_solved(cost: float | None, solved: int) -> str:
    """Dollars per task solved on hidden tests: ``–`` when none was, ``?`` when unknown."""
    if not solved:
        return "–"
    return dollars(None if cost is None else cost / solved)


def _has_loose(outcomes: Sequence[Outcome]) -> bool:
    """Whether some outcome was scored in IFEval's loose mode (an instructions task)."""
    return any(o.hidden_loose_passed is not None for o in outcomes)


def outcome_table(outcomes: Sequence[Outcome]) -> Table:
    """One row per run; a ``loose`` column (instructions tasks: every instruction
    followed in IFEval's loose mode) only when some outcome has one."""
    table = Table(title="corrigo run", title_justify="left")
    loose = _has_loose(outcomes)
    for name, justify in [
        ("task", "left"),
        ("first round", "center"),
        ("final visible", "center"),
        ("hidden", "center"),
        *([("loose", "center")] if loose else []),
        ("rounds", "right"),
        ("model calls", "right"),
        ("tokens", "right"),
        ("cost", "right"),
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
            *([_mark(o.hidden_loose_passed)] if loose else []),
            str(o.rounds),
            str(o.totals.model_calls),
            str(o.totals.tokens_in + o.totals.tokens_out),
            dollars(o.totals.cost),
            f"{o.totals.seconds:.1f}",
            stop_text(o),
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
    cost = total_cost(outcomes)
    loose = ""
    if _has_loose(outcomes):
        scored = [o for o in outcomes if o.hidden_loose_passed is not None]
        passed = sum(1 for o in scored if o.hidden_loose_passed)
        loose = f", loose pass {passed}/{len(scored)}"
    return (
        f"totals: hidden pass {hidden}/{n} (first round {first}/{n}){loose}, "
        f"visible pass {visible}/{n}; "
        f"incorrect→correct {fixed}, correct→incorrect {broken}; "
        f"model calls {calls}, tokens {tokens}, cost {dollars(cost)} "
        f"({cost_per_solved(cost, hidden)} per solved), run seconds {seconds:.1f}"
    )


_STATUS_STYLE = {
    "queued": "yellow",
    "finished": "green",
    "running": "cyan",
    "interrupted": "bold red",
}
_MARK_STYLE = {True: ("pass", "green"), False: ("fail", "red"), None: ("-", "")}


def runs_table(records: Sequence[RunRecord]) -> Table:
    """One row per run. The cells are Text, not markup, so that a long listing is
    drawn without parsing markup in each of its cells."""
    table = Table(title=Text("stored runs", style="table.title"), title_justify="left")
    for name in ("run", "created", "task", "strategy", "model", "status", "stop", "hidden"):
        table.add_column(Text(name), no_wrap=name in ("run", "created", "status"))
    for r in records:
        o = r.outcome
        models = sorted(set(r.spec.roles.values()))
        run = Text(r.id)
        point = r.spec.forked_from
        if point is not None:
            run.append(f"\nfork of {point.run_id} @{point.step}", style="dim")
        table.add_row(
            run,
            Text(r.created_at.strftime("%Y-%m-%d %H:%M:%S")),
            Text(r.spec.task.id),
            Text(r.spec.strategy),
            Text(", ".join(models)),
            # Styled as markup would: the words, not the cell's padding (Text.assemble).
            Text.assemble((r.status, _STATUS_STYLE.get(r.status, ""))),
            Text(stop_text(o) if o else "-"),
            Text.assemble(_MARK_STYLE[o.hidden_passed if o else None]),
        )
    return table


def code_diff(old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(), new.splitlines(), "previous", "this round", lineterm=""
    )
    return "\n".join(lines) or "(no change)"


def step_title(step: Step) -> str:
    return f"#{step.seq} round {step.round} · {step.role} ({step.node})"


def model_line(step: Step) -> str:
    """A model step's model, tokens, latency and flags, dimmed."""
    usage = step.usage
    extra = "".join(f" · {flag}" for flag in step.flags)
    if step.temperature:
        extra += f" · temperature {step.temperature:g}"
    cost = f" · {dollars(step.cost)}" if step.cost is not None else ""
    return (
        f"[dim]{escape(step.model or '')} · {usage.tokens_in}→{usage.tokens_out} tokens"
        f"{cost} · {usage.latency_ms:.0f} ms{escape(extra)}[/dim]"
    )


# --- math and instructions tasks: the answer and its check, step by step -----------------

TEXT_TITLES = {
    "review": "critique",
    "self_review": "self-review (no outside signal)",
    "rank": "ranking",
    "reflect": "reflection",
    "design_tests": "generated tests",
}
_SHOWN_LINES = 20  # lines of a program's output shown (its last ones)


def answer_step(step: Step, codes: dict[str, str], task: Task) -> list[RenderableType]:
    """A step of a math or instructions run, as ``corrigo show`` prints it: answers as
    text (math: with the final answer; instructions: revisions as a diff), the checker's
    program and what it printed, each check in words, the hidden score apart."""
    if step.kind == "model":
        if step.error:
            return [f"[red]model error:[/red] {escape(step.error)}"]
        parts: list[RenderableType] = [model_line(step)]
        if step.role == "checker":
            return parts + _program_reply(step)
        if step.candidate is None:
            from rich.panel import Panel  # loaded by 'corrigo show' only

            title = TEXT_TITLES.get(step.node, step.node)
            return [*parts, Panel(escape(step.output or ""), title=title, title_align="left")]
        return parts + _answer(step, step.candidate, codes, task)
    verdict = step.verdict
    if verdict is None:
        return []
    if step.node == "check":
        return _program_run(step, verdict)
    if task.kind == "math":
        return _math_verdict(step, verdict)
    return _instructions_verdict(step, verdict)


def _answer(
    step: Step, candidate: Candidate, codes: dict[str, str], task: Task
) -> list[RenderableType]:
    parent = codes.get(candidate.parent or "")
    codes[candidate.key or str(step.seq)] = candidate.code
    parts: list[RenderableType] = []
    if not candidate.extracted:
        what = "no final answer in the reply" if task.kind == "math" else "an empty reply"
        return [f"[yellow]{what}:[/yellow]", escape(step.output or "")]
    if parent is not None:
        parts.append(f"[dim]revises {escape(candidate.parent or '')}[/dim]")
    if task.kind == "math" or parent is None:
        parts.append(escape(candidate.code))
    else:
        from rich.syntax import Syntax  # pygments: only for the steps that show code

        parts.append(Syntax(code_diff(parent, candidate.code), "diff"))
    if task.kind == "math":
        parts.append(f"[bold]final answer: {escape(candidate.answer or '-')}[/bold]")
    return parts


def _program_reply(step: Step) -> list[RenderableType]:
    """The checker's reply: the independent program it wrote (math)."""
    from rich.syntax import Syntax

    from corrigo.agents.math_check import program_code

    code = program_code(step.output or "")
    if code is None:
        return ["[yellow]no program in the reply:[/yellow]", escape(step.output or "")]
    return [
        f"independent program ({escape(step.key)}), asked without any candidate in view:",
        Syntax(code, "python", line_numbers=False),
    ]


def _program_run(step: Step, verdict: Verdict) -> list[RenderableType]:
    """The independent program run in the sandbox: its status and what it printed."""
    result = verdict.evidence
    name = escape(step.key or "program")
    if result is None:
        return [f"{name}: [red]did not run[/red]"]
    status = "[green]passed[/green]" if result.status == "passed" else f"[red]{result.status}[/red]"
    parts: list[RenderableType] = [f"{name} ran in the sandbox: {status}"]
    out = result.stdout.rstrip("\n").splitlines()
    if len(out) <= 1:
        parts.append(f"printed: {escape(out[0]) if out and out[0].strip() else '(nothing)'}")
    else:
        parts.append("printed:")
        parts += [f"  {escape(line)}" for line in out[-_SHOWN_LINES:]]
    for label, text in (("error", result.detail), ("stderr", result.stderr)):
        lines = text.rstrip("\n").splitlines()[-_SHOWN_LINES:]
        if lines:
            parts.append(f"[red]{label}:[/red]")
            parts += [f"  {escape(line)}" for line in lines]
    return parts


def _math_verdict(step: Step, verdict: Verdict) -> list[RenderableType]:
    candidate = step.candidate
    if step.role == "scorer":
        answer = candidate.answer if candidate else None
        which = f" · final answer {escape(answer or '-')}" if candidate else ""
        key = f" ({escape(candidate.key)})" if candidate and candidate.key else ""
        return [f"hidden answer (score only): {_mark(verdict.passed)}{which}{key}"]
    if not (verdict.evidence.tests if verdict.evidence else []):  # no final answer to check
        return [f"check: [red]not checked[/red] — {escape(verdict.feedback)}"]
    from corrigo.agents.math_check import describe

    state, text = describe(verdict, candidate)
    colour = {"agrees": "green", "disagrees": "red"}.get(state, "yellow")
    word, _, rest = text.partition(" ")
    return [f"check: [{colour}]{escape(word)}[/{colour}] {escape(rest)}"]


def _instructions_verdict(step: Step, verdict: Verdict) -> list[RenderableType]:
    """Each instruction followed (✓) or not (✗, with what was asked and found)."""
    tests = verdict.evidence.tests if verdict.evidence else []
    followed = sum(1 for t in tests if t.passed)
    if step.role == "scorer":
        head = (
            f"hidden check (score only): strict {_mark(verdict.passed)}"
            f" · loose {_mark(verdict.loose)}"
        )
    else:
        said = "[green]all followed[/green]" if verdict.passed else "[red]not all followed[/red]"
        head = (
            f"instructions: {said} (strict {followed}/{len(tests)} · loose {_mark(verdict.loose)})"
        )
    parts: list[RenderableType] = [head]
    for test in tests:
        mark = "[green]✓[/green]" if test.passed else "[red]✗[/red]"
        message = f" — {escape(test.message)}" if test.message else ""
        parts.append(f"  {mark} {escape(test.name)}{message}")
    if not tests and verdict.feedback:
        parts.append(escape(verdict.feedback))
    return parts


def answer_outcome(outcome: Outcome, task: Task) -> list[str]:
    """The outcome's lines about the answer of a math or instructions run: the final
    answer against the hidden one (shown to people only after the run; it never
    reaches a prompt), or the reply's strict and loose pass."""
    best = outcome.best
    if task.kind == "math":
        answer = escape(best.answer or "-") if best else "-"
        key = f" ({escape(best.key)})" if best and best.key else ""
        return [
            f"final answer: {answer}{key}",
            f"hidden answer (score only, never in a prompt): {escape(task.answer or '-')} → "
            f"{_mark(outcome.hidden_passed)}",
        ]
    return [
        f"instructions (hidden check): strict {_mark(outcome.hidden_passed)} · "
        f"loose {_mark(outcome.hidden_loose_passed)}"
    ]
