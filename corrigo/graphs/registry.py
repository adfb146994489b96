"""Strategies by name, so the CLI, the bench and services find the same builders."""

from __future__ import annotations

from collections.abc import Callable

from langgraph.graph import StateGraph

from corrigo.errors import UnknownStrategy

Builder = Callable[..., StateGraph]


def _refine() -> Builder:
    from corrigo.graphs.refine import build_refine

    return build_refine


STRATEGIES: dict[str, Callable[[], Builder]] = {"refine": _refine}


def get_strategy(name: str) -> Builder:
    """The builder for ``name``: ``build(roles, sandbox, store, budgets, **params)``."""
    loader = STRATEGIES.get(name)
    if loader is None:
        known = ", ".join(sorted(STRATEGIES))
        raise UnknownStrategy(f"unknown strategy {name!r} (known: {known})")
    return loader()


def strategy_names() -> list[str]:
    return sorted(STRATEGIES)
