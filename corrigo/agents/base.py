"""What every model-backed role shares: its prompt templates.

A role is a model plus a prompt template. Templates live in ``prompts/<role>.txt`` for code
tasks and ``prompts/<kind>/<role>.txt`` for the other task kinds (math, instructions): the
system message, a line ``=== user ===``, then the user message, with ``$name`` fields
(``string.Template``), so they read and diff as plain text.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from string import Template

from corrigo.records import Message

_SPLIT = "=== user ==="


@cache
def prompt_template(role: str, kind: str = "code") -> tuple[Template, Template]:
    parts = ("prompts", f"{role}.txt") if kind == "code" else ("prompts", kind, f"{role}.txt")
    text = resources.files("corrigo.agents").joinpath(*parts).read_text("utf-8")
    system, _, user = text.partition(_SPLIT)
    return Template(system.strip()), Template(user.strip())


def render(role: str, kind: str = "code", **fields: str) -> list[Message]:
    system, user = prompt_template(role, kind)
    return [
        Message(role="system", content=system.substitute(fields)),
        Message(role="user", content=user.substitute(fields)),
    ]
