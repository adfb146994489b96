"""What every model-backed role shares: prompt files, and one recorded model call.

A role is a model plus a prompt template. Templates live in ``prompts/<role>.txt``: the
system message, a line ``=== user ===``, then the user message, with ``$name`` fields
(``string.Template``), so they read and diff as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from string import Template

from corrigo.errors import ModelError
from corrigo.models import ChatModel
from corrigo.records import Candidate, Message, Step

_SPLIT = "=== user ==="


@cache
def prompt_template(role: str) -> tuple[Template, Template]:
    text = resources.files("corrigo.agents").joinpath("prompts", f"{role}.txt").read_text("utf-8")
    system, _, user = text.partition(_SPLIT)
    return Template(system.strip()), Template(user.strip())


def render(role: str, **fields: str) -> list[Message]:
    system, user = prompt_template(role)
    return [
        Message(role="system", content=system.substitute(fields)),
        Message(role="user", content=user.substitute(fields)),
    ]


@dataclass(frozen=True)
class CallResult:
    """A model call's reply (None on error) and its step, not yet stored."""

    text: str | None
    step: Step

    @property
    def error(self) -> str | None:
        return self.step.error


async def ask(
    model: ChatModel,
    messages: list[Message],
    *,
    run_id: str,
    seq: int,
    round: int,
    role: str,
    node: str,
    task_id: str,
) -> CallResult:
    """Call ``model`` once; a model failure becomes a step with ``error`` set."""
    try:
        reply = await model.complete(messages, role=role, task_id=task_id)
    except ModelError as exc:
        step = Step(
            run_id=run_id,
            seq=seq,
            round=round,
            role=role,
            node=node,
            kind="model",
            messages=messages,
            model=model.spec,
            error=str(exc),
        )
        return CallResult(text=None, step=step)
    step = Step(
        run_id=run_id,
        seq=seq,
        round=round,
        role=role,
        node=node,
        kind="model",
        messages=messages,
        output=reply.text,
        model=reply.model,
        usage=reply.usage,
    )
    return CallResult(text=reply.text, step=step)


def with_candidate(step: Step, code: str | None) -> tuple[Step, Candidate]:
    """The step with the candidate extracted from its reply attached."""
    candidate = Candidate(
        code=code or "", round=step.round, step_seq=step.seq, extracted=code is not None
    )
    return step.model_copy(update={"candidate": candidate}), candidate
