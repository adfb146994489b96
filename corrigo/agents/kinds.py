"""What a task's kind means to the agents: the answer in a reply, and how it is checked.

- ``code``: the reply's program (:mod:`corrigo.agents.extract`), run against tests in
  the sandbox (:mod:`corrigo.agents.verifier`).
- ``math``: the worked solution, and its final answer (:mod:`corrigo.checks.answers`);
  checked against an independent program run in the sandbox
  (:mod:`corrigo.agents.math_check`), scored against the hidden answer.
- ``instructions``: the reply itself, checked by IFEval's/IFBench's checkers
  (:mod:`corrigo.checks.instructions`); the visible check and the hidden score are the
  same checkers (the prompt states every instruction, so nothing is hidden but the
  verdict's use): strict for the pass, loose reported beside it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from corrigo.agents.extract import MAX_REPLY, extract_code
from corrigo.errors import TaskFormatError
from corrigo.records import Candidate, ExecResult, Task, Verdict

NO_REPLY_FEEDBACK = "The reply was empty, so no instruction could be checked. Write the reply."


def scored(task: Task) -> bool:
    """Whether the task has something hidden to score an answer with."""
    if task.kind == "math":
        return task.answer is not None
    if task.kind == "instructions":
        return bool(task.instructions)
    return bool(task.hidden_tests)


def check_task(task: Task) -> None:
    """Raise TaskFormatError when a task of a new kind cannot be checked as given (tasks
    built in code reach runs without a task file's checks)."""
    if task.kind == "math":
        from corrigo.checks.answers import check_answer

        problem = check_answer(task.answer) if task.answer is not None else None
        if problem:
            raise TaskFormatError(f"task {task.id!r}: answer {task.answer!r} {problem}")
    elif task.kind == "instructions":
        from corrigo.checks.instructions import validate

        try:
            validate(task.instructions, task.prompt)
        except TaskFormatError as exc:
            raise TaskFormatError(f"task {task.id!r}: {exc}") from None


def read_reply(task: Task, text: str) -> tuple[str, str | None, bool, str | None]:
    """``(code, answer, extracted, flag)`` of a proposing reply: the candidate's text, its
    final answer (math), whether there is anything to check, and the flag when not."""
    if task.kind == "math":
        from corrigo.checks.answers import extract_answer

        answer = extract_answer(text[:MAX_REPLY])
        return (
            text.strip()[:MAX_REPLY],
            answer,
            answer is not None,
            (None if answer is not None else "no_answer"),
        )
    if task.kind == "instructions":
        reply = _without_quoting(_without_thinking(text))[:MAX_REPLY]
        return reply, None, bool(reply.strip()), None if reply.strip() else "no_reply"
    code = extract_code(text, task.entry_point)
    return code or "", None, code is not None, None if code is not None else "no_code"


_OPEN, _CLOSE = "<<<", ">>>"


def _without_quoting(text: str) -> str:
    """The reply without ``<<<``/``>>>`` lines around it: small models copied them from
    revising prompts that quoted the previous reply between them (23 of 50 refine runs on
    ``ifeval[:50]`` with Qwen2.5-Coder-1.5B), and they are never the reply's. The
    instructions prompts now give the previous reply as the model's own turn instead; this
    stays for prompts of the user's and replies stored before. Only whole lines at the very
    start and end are taken off."""
    lines = text.strip().splitlines()
    while lines and lines[0].strip() == _OPEN:
        lines.pop(0)
    while lines and lines[-1].strip() == _CLOSE:
        lines.pop()
    return "\n".join(lines).strip()


def _without_thinking(text: str) -> str:
    """A reasoning model's reply without its ``<think>`` block."""
    if "</think>" in text:
        return text.split("</think>", 1)[1].strip()
    return "" if text.lstrip().startswith("<think>") else text.strip()


async def instructions_verdict(
    task: Task, candidate: Candidate, *, hidden: bool, nltk_data: Path | None = None
) -> Verdict:
    """The instruction checkers on the candidate's reply (in a worker thread: they are
    CPU work on text). Hidden verdicts carry no feedback."""
    from corrigo.checks import instructions

    if not candidate.extracted:
        return Verdict(
            passed=False, score=0.0, feedback="" if hidden else NO_REPLY_FEEDBACK, loose=False
        )
    checked = await asyncio.to_thread(
        instructions.check, candidate.code, task.instructions, task.prompt, nltk_data
    )
    tests = instructions.results(checked)
    strict = sum(1 for c in checked if c.strict)
    passed = strict == len(checked)
    evidence = ExecResult(status="passed" if passed else "failed", tests=tests)
    return Verdict(
        passed=passed,
        score=strict / len(checked) if checked else 0.0,
        feedback="" if hidden else instructions.feedback(checked),
        evidence=evidence,
        loose=all(c.loose for c in checked),
    )


async def math_hidden_verdict(task: Task, candidate: Candidate) -> Verdict:
    from corrigo.agents.math_check import hidden_verdict

    return await asyncio.to_thread(hidden_verdict, task, candidate)
