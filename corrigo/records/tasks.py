"""Tasks: what a run is asked to do, with the tests that check it."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from corrigo.records.base import Record


class TestCase(Record):
    """One test: Python statements run after the candidate program is loaded."""

    __test__ = False  # not a pytest class

    name: str
    code: str


TaskKind = Literal["code", "math", "instructions"]
TASK_KINDS: tuple[TaskKind, ...] = ("code", "math", "instructions")


class Instruction(Record):
    """One verifiable instruction of an ``instructions`` task: an IFEval/IFBench
    instruction id (``change_case:english_lowercase``) and its checker's arguments."""

    id: str
    kwargs: dict[str, Any] = Field(default_factory=dict)


class Task(Record):
    """A task. ``kind`` says what an answer is and how it is checked:

    - ``code``: a Python function named ``entry_point``, run against tests in the sandbox;
    - ``math``: a final answer to a word problem; ``answer`` (hidden: it only scores, it
      never reaches a prompt, a critique or feedback) is compared as mathematics;
    - ``instructions``: a written reply checked by programmatic checkers, one per
      instruction (the prompt itself states every instruction).
    """

    id: str
    prompt: str
    kind: TaskKind = "code"
    entry_point: str = ""
    # Code placed before the candidate's code when it runs (HumanEval: the prompt's
    # imports, helpers and signature; a docstring-only function is valid Python, so a
    # candidate that redefines it wins).
    preamble: str = ""
    visible_tests: list[TestCase] = Field(default_factory=list)
    hidden_tests: list[TestCase] = Field(default_factory=list)
    answer: str | None = None
    instructions: list[Instruction] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
