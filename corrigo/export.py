"""Stored trajectories as training data, in the shapes TRL and ``datasets`` read.

Two JSON Lines files come out of one selection of finished runs:

- ``sft.jsonl``: one row per run whose returned answer passed the task's hidden tests,
  the task as the solver was asked it → that answer. A task without hidden tests counts
  only with ``allow_unscored`` (its visible tests decide instead; ``verified_by`` says so).
- ``preference.jsonl``: for each run whose answer passed hidden tests, one row per
  distinct candidate of that run that failed its visible tests: ``chosen`` is the
  passing answer, ``rejected`` the failing one. Only hidden-test-passing answers are
  ever chosen; an unscored run gives no preference rows.

Rows are TRL's *conversational* shape (message lists) or its *standard* one (plain
text), plus columns that trace each row to its run: ``run_id``, ``task_id``, ``kind``,
``strategy``, ``model`` (the solver's spec), ``round`` and ``verified_by``. The prompt
is the solver's first prompt in the run; hidden tests (and a math task's answer) never
reach a prompt in corrigo, so they never reach a prompt in these files either.

What an answer is follows the task's kind, as the solver is asked to write it:

- ``code``: the candidate's program in a ```` ```python ```` fence; scored by the
  hidden tests (``verified_by`` ``hidden_tests``).
- ``math``: the full worked solution, ending in its final answer; scored by the task's
  answer (``hidden_answer``). A rejected solution is one whose check against the
  independent program failed and whose final answer is not the chosen one's (a right
  answer the program wrongly disputed is no counter-example).
- ``instructions``: the reply; scored by the instruction checkers, strict
  (``instructions``). A rejected reply is one that breaks some instruction.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from corrigo.config import Settings
from corrigo.errors import UsageError
from corrigo.records import Candidate, Message, RunQuery, RunRecord, Step, Verdict
from corrigo.storage.base import TrajectoryStore
from corrigo.storage.factory import open_store

ExportFormat = Literal["standard", "conversational"]
FORMATS: tuple[ExportFormat, ...] = ("standard", "conversational")
SFT_FILE = "sft.jsonl"
PREFERENCE_FILE = "preference.jsonl"

Row = dict[str, Any]


@dataclass
class ExportReport:
    """What an export wrote, and why the runs it left out were left out."""

    sft_path: Path
    preference_path: Path
    runs: int = 0  # finished runs selected
    sft_rows: int = 0
    preference_rows: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason → runs


def fence(code: str) -> str:
    """The answer as the model is trained to give it: the code in a python fence."""
    return f"```python\n{code.strip(chr(10)).rstrip()}\n```"


def _solver_prompt(steps: Sequence[Step]) -> list[Message] | None:
    """The messages of the run's first solver call: the task as the solver was asked it."""
    for step in steps:
        if step.kind == "model" and step.role == "solver" and step.messages:
            return list(step.messages)
    return None


def _usable(candidate: Candidate | None) -> bool:
    return candidate is not None and candidate.extracted and bool(candidate.code.strip())


_VERIFIED_BY = {"code": "hidden_tests", "math": "hidden_answer", "instructions": "instructions"}
_FAILED = {
    "code": "answer failed hidden tests",
    "math": "final answer is not the task's answer",
    "instructions": "reply breaks an instruction (strict)",
}


def _failed_candidates(steps: Sequence[Step], chosen: Candidate) -> Iterator[Candidate]:
    """Candidates of the run whose visible check failed, each distinct text once, in the
    order they were made; never the chosen text itself, nor (math) another solution with
    the chosen final answer."""
    verdicts: dict[str, Verdict] = {}
    for step in steps:
        if (
            step.kind == "exec"
            and step.role == "verifier"
            and step.node != "check"  # a math checker's program run, not a candidate
            and step.verdict
            and step.candidate
        ):
            verdicts[step.candidate.key or step.candidate.code] = step.verdict
    seen = {chosen.code.strip()}
    for step in steps:
        candidate = step.candidate
        if step.kind != "model" or candidate is None or not _usable(candidate):
            continue
        verdict = verdicts.get(candidate.key or candidate.code)
        if verdict is None or verdict.passed or candidate.code.strip() in seen:
            continue
        if chosen.answer is not None and _same_answer(chosen.answer, candidate.answer):
            continue
        seen.add(candidate.code.strip())
        yield candidate


def _same_answer(a: str, b: str | None) -> bool:
    from corrigo.checks.answers import same_answer

    return same_answer(a, b)


def training_rows(
    record: RunRecord,
    steps: Sequence[Step],
    *,
    format: ExportFormat = "conversational",
    allow_unscored: bool = False,
) -> tuple[list[Row], list[Row], str | None]:
    """One run's SFT rows (zero or one) and preference rows, and why it gave none (a
    short reason) when it is left out."""
    outcome = record.outcome
    if record.status != "finished" or outcome is None:
        return [], [], "not finished"
    best = outcome.best
    if best is None or not _usable(best):
        return [], [], "no answer"
    from corrigo.agents.kinds import scored

    task = record.spec.task
    if scored(task):
        if outcome.hidden_passed is not True:
            return [], [], _FAILED[task.kind]
        verified_by = _VERIFIED_BY[task.kind]
    elif not allow_unscored:
        return [], [], "no hidden tests (see --allow-unscored)"
    elif not outcome.visible_passed:
        return [], [], "answer failed visible tests"
    else:
        verified_by = "visible_tests"
    messages = _solver_prompt(steps)
    if messages is None:
        return [], [], "no solver prompt stored"

    def answer(code: str) -> Any:
        text = fence(code) if task.kind == "code" else code.strip()
        if format == "standard":
            return text
        return [{"role": "assistant", "content": text}]

    if format == "standard":
        prompt: Any = "\n\n".join(m.content for m in messages)
    else:
        prompt = [{"role": m.role, "content": m.content} for m in messages]
    trace = {
        "run_id": record.id,
        "task_id": task.id,
        "kind": task.kind,
        "strategy": record.spec.strategy,
        "model": record.spec.roles.get("solver", ""),
    }
    sft = [
        {
            "prompt": prompt,
            "completion": answer(best.code),
            **trace,
            "round": best.round,
            "verified_by": verified_by,
        }
    ]
    preference: list[Row] = []
    if verified_by != "visible_tests":
        for rejected in _failed_candidates(steps, best):
            preference.append(
                {
                    "prompt": prompt,
                    "chosen": answer(best.code),
                    "rejected": answer(rejected.code),
                    **trace,
                    "round": rejected.round,
                    "chosen_round": best.round,
                    "verified_by": verified_by,
                }
            )
    return sft, preference, None


class _AtomicFile:
    """A file written under a temporary name in its folder, renamed into place."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        self.handle = self.temp.open("x", encoding="utf-8")

    def write(self, row: Row) -> None:
        self.handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def finish(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()

    def discard(self) -> None:
        self.handle.close()
        with suppress(FileNotFoundError):
            self.temp.unlink()


async def export_training_data(
    out_dir: str | Path,
    *,
    query: RunQuery | None = None,
    format: ExportFormat = "conversational",
    allow_unscored: bool = False,
    force: bool = False,
    store: str | TrajectoryStore | None = None,
    settings: Settings | None = None,
) -> ExportReport:
    """Write ``sft.jsonl`` and ``preference.jsonl`` into ``out_dir`` from the finished
    runs ``query`` selects (its status is always ``finished``; its ``limit`` applies
    only when set, otherwise every matching run is read).

    Both files are written under temporary names and renamed into place once complete.
    Raises UsageError before anything is written when a file exists and ``force`` is not
    set, or for an unknown ``format``.
    """
    if format not in FORMATS:
        raise UsageError(f"unknown export format {format!r} (known: {', '.join(FORMATS)})")
    settings = settings or Settings.from_env()
    query = query or RunQuery()
    limit = query.limit if "limit" in query.model_fields_set else 2**31 - 1
    query = query.model_copy(update={"status": "finished", "limit": limit})
    out = Path(out_dir)
    report = ExportReport(sft_path=out / SFT_FILE, preference_path=out / PREFERENCE_FILE)
    targets = (report.sft_path, report.preference_path)
    if not force:
        for path in targets:
            if path.exists():
                raise UsageError(f"{path} already exists: use --force to overwrite it")
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} is not a directory")

    from corrigo.lifecycle.stored import list_runs

    async with AsyncExitStack() as stack:
        if isinstance(store, TrajectoryStore):
            opened = store
        else:
            url = store or settings.resolved_store_url
            opened = await stack.enter_async_context(open_store(url))
        records = await list_runs(query=query, store=opened)
        files: list[_AtomicFile] = []
        try:
            try:
                out.mkdir(parents=True, exist_ok=True)
                files.extend(_AtomicFile(path) for path in targets)
            except OSError as exc:
                raise UsageError(f"cannot write into {out}: {exc.strerror or exc}") from None
            sft_file, preference_file = files
            # Oldest first: a file's rows follow the order the runs were made in.
            for record in sorted(records, key=lambda r: (r.created_at, r.id)):
                report.runs += 1
                steps = await opened.get_steps(record.id)
                sft, preference, skipped = training_rows(
                    record, steps, format=format, allow_unscored=allow_unscored
                )
                if skipped is not None:
                    report.skipped[skipped] = report.skipped.get(skipped, 0) + 1
                for row in sft:
                    sft_file.write(row)
                for row in preference:
                    preference_file.write(row)
                report.sft_rows += len(sft)
                report.preference_rows += len(preference)
            for file in files:
                file.finish()
            for file in files:
                os.replace(file.temp, file.path)
        finally:
            for file in files:
                file.discard()
    return report
