"""A bench report as text: the table's cells (terminal and markdown), markdown, files.

``COLUMNS`` and ``rows`` are the table every bench has; ``table`` adds the ``loose``
column (IFEval's loose prompt-level accuracy, next to the strict ``final``) when some
cell has instructions tasks.
"""

from __future__ import annotations

import json
from pathlib import Path

from corrigo.bench.report import BenchReport, CellReport
from corrigo.config import Settings
from corrigo.models.pricing import dollars

COLUMNS = [
    "strategy",
    "model",
    "tasks",
    "first",
    "final",
    "lift",
    "vs single",
    "i→c",
    "c→i",
    "calls",
    "tokens",
    "tok/solved",
    "cost",
    "$/solved",
    "seconds",
    "gen FP",
    "gen FN",
    "errors",
]


def model_label(spec: str) -> str:
    """A short name for tables and plots: a scripted file by its name, not its path."""
    provider, _, name = spec.partition(":")
    if provider in {"scripted", "local"} and "/" in name:
        return f"{provider}:{Path(name).name}"
    return spec


def _pass(count: int, n: int, rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%} {count}/{n}"


def _points(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:+.1f} pp"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _per_solved(cell: CellReport) -> str:
    """Dollars per task solved: ``–`` when none was solved, ``?`` when a cost is unknown."""
    if not cell.final_passed:
        return "–"
    return dollars(cell.cost_per_solved)


def has_loose(report: BenchReport) -> bool:
    """Whether some cell has instructions tasks (a loose accuracy next to the strict one)."""
    return any(c.loose is not None for c in report.cells)


def table(report: BenchReport) -> tuple[list[str], list[list[str]]]:
    """The report's columns and rows: ``COLUMNS`` and ``rows``, with a ``loose`` column
    after ``final`` when some cell has instructions tasks."""
    cells = rows(report)
    if not has_loose(report):
        return list(COLUMNS), cells
    at = COLUMNS.index("final") + 1
    for row, c in zip(cells, report.cells, strict=True):
        row.insert(at, _pass(c.loose_passed, c.loose_tasks, c.loose))
    return [*COLUMNS[:at], "loose", *COLUMNS[at:]], cells


def rows(report: BenchReport) -> list[list[str]]:
    """The report's table as text cells, in ``COLUMNS`` order (terminal and markdown)."""
    out = []
    for c in report.cells:
        tasks = f"{c.tasks}" + (f" -{len(c.missing)}" if c.missing else "")
        out.append(
            [
                c.strategy,
                model_label(c.model),
                tasks,
                _pass(c.first_round_passed, c.tasks, c.first_round_pass_rate),
                _pass(c.final_passed, c.tasks, c.final_pass_rate),
                _points(c.lift),
                _points(c.vs_single),
                str(c.fixed),
                str(c.broken),
                str(c.model_calls),
                str(c.tokens),
                f"{c.tokens_per_solved:.0f}",
                dollars(c.cost),
                _per_solved(c),
                f"{c.seconds:.1f}",
                _share(c.generated_false_positive_rate),
                _share(c.generated_false_negative_rate),
                str(c.errors),
            ]
        )
    return out


def to_markdown(report: BenchReport) -> str:
    spec = report.bench
    n = len(report.task_ids) if report.task_ids is not None else "?"
    lines = [
        f"# corrigo bench {spec.id}",
        "",
        f"- suite: `{spec.suite}`"
        + (f" (first {spec.limit})" if spec.limit else "")
        + f", {n} tasks"
        + kinds_note(report),
        f"- strategies: {', '.join(spec.strategies)}",
        f"- models: {', '.join(f'`{m}`' for m in spec.models)}",
        f"- max rounds: {spec.max_rounds}"
        + (f"; max cost per run: {dollars(spec.max_cost)}" if spec.max_cost is not None else "")
        + f"; sandbox: {spec.sandbox}; corrigo {spec.corrigo_version}",
        f"- created: {spec.created_at:%Y-%m-%d %H:%M:%S} UTC; complete: {'yes' if report.complete else 'no'}",
    ]
    if spec.params:
        lines.append(f"- parameters: `{json.dumps(spec.params, sort_keys=True)}`")
    columns, cells = table(report)
    lines += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in cells]
    lines += [
        "",
        "first / final: hidden pass@1 of the first round's candidate and of the returned one;",
        "tasks: with a finished run (-N: N still missing); lift = final −",
        "first round; vs single = final − the `single` strategy's final with the same model.",
        "i→c / c→i: incorrect→correct and correct→incorrect flips on hidden tests. Seconds:",
        "the runs' wall-clock seconds, summed. tok/solved = tokens / max(1, solved).",
        "cost: dollars at the price table's rates (? when a model has no price);",
        "$/solved = cost / tasks solved on hidden tests (– when none was).",
        "gen FP / gen FN: generated tests passing a hidden-failing answer / failing a",
        "hidden-passing one, over tasks with generated tests (- when there are none).",
    ]
    if "math" in report.kinds:
        lines.append("math: hidden = the task's final answer (it never reaches a prompt).")
    if has_loose(report):
        lines += [
            "instructions: first / final are strict (every instruction followed as written);",
            "loose: final replies passing in IFEval's loose mode (also the reply without its",
            "first or last line, or without asterisks), over the instructions tasks.",
        ]
    return "\n".join([*lines, ""])


def kinds_note(report: BenchReport) -> str:
    """The suite's task kinds for a header (`` (math)``), when not only code tasks."""
    if set(report.kinds) <= {"code"}:
        return ""
    if len(report.kinds) == 1:
        return f" ({next(iter(report.kinds))})"
    return " (" + ", ".join(f"{n} {kind}" for kind, n in report.kinds.items()) + ")"


def default_report_dir(settings: Settings, bench_id: str) -> Path:
    return settings.home / "benches" / bench_id


def write_report(report: BenchReport, out_dir: Path) -> dict[str, Path]:
    """Write ``report.md``, ``report.json`` and ``pass_vs_tokens.png`` into ``out_dir``."""
    from corrigo.bench.plot import plot_pass_vs_tokens

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "markdown": out_dir / "report.md",
        "json": out_dir / "report.json",
        "plot": out_dir / "pass_vs_tokens.png",
    }
    paths["markdown"].write_text(to_markdown(report), encoding="utf-8")
    paths["json"].write_text(report.to_json() + "\n", encoding="utf-8")
    plot_pass_vs_tokens(report, paths["plot"])
    return paths
