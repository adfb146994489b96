"""What every model-backed role shares: its prompt templates.

A role is a model plus a prompt template. Templates live in ``prompts/<role>.txt`` for code
tasks and ``prompts/<kind>/<role>.txt`` for the other task kinds (math, instructions): the
system message, then turns, each opened by a line ``=== user ===`` or ``=== assistant ===``,
with ``$name`` fields (``string.Template``), so they read and diff as plain text. An
assistant turn lets a role see an earlier reply as the model's own, in the conversation,
instead of quoted between marks a small model tends to copy.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from string import Template
from typing import Literal, cast

from corrigo.records import Message

_Speaker = Literal["system", "user", "assistant"]
_TURN = re.compile(r"^=== (user|assistant) ===[ \t]*$", re.MULTILINE)


@cache
def prompt_template(role: str, kind: str = "code") -> tuple[tuple[_Speaker, Template], ...]:
    """The template's messages in order, as (role, template) pairs, the system one first."""
    parts = ("prompts", f"{role}.txt") if kind == "code" else ("prompts", kind, f"{role}.txt")
    text = resources.files("corrigo.agents").joinpath(*parts).read_text("utf-8")
    pieces = _TURN.split(text)
    turns: list[tuple[_Speaker, Template]] = [("system", Template(pieces[0].strip()))]
    turns += [
        (cast(_Speaker, speaker), Template(body.strip()))
        for speaker, body in zip(pieces[1::2], pieces[2::2], strict=True)
    ]
    if len(turns) < 2 or turns[-1][0] != "user":
        raise ValueError(f"prompt {'/'.join(parts)} must end with a user turn")
    return tuple(turns)


def render(role: str, kind: str = "code", **fields: str) -> list[Message]:
    return [
        Message(role=speaker, content=template.substitute(fields))
        for speaker, template in prompt_template(role, kind)
    ]
