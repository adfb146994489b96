"""Strategies by name, so the CLI, the bench and services find the same builders.

A strategy owns its graph builder, the roles it uses and its parameters (with their
defaults). A strategy may be named with parameters: ``best_of_n(n=5,agree=3)``.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from langgraph.graph import StateGraph

from corrigo.errors import UnknownStrategy

#: Parameters every strategy takes.
COMMON_PARAMS: dict[str, Any] = {
    "max_rounds": None,  # rounds at most (default: the budgets' max_rounds)
    "tests": "auto",  # generated tests: auto (when a task has no visible tests), always, never
    "test_count": 8,
    # Generated tests' expected values count as tests (feedback, second ranking key); with
    # False only their inputs are used, as probes for agreement between candidates.
    "expected": True,
    "fresh": True,  # a fresh sample instead of stopping after a round with nothing new
    "max_stale": 2,
    "temperature": 0.8,  # for samples, fresh attempts and expansions
    # Lessons across tasks (corrigo.graphs.lessons): off, use (recall relevant ones into
    # the solver's prompts), learn (use, and write one from a corrected failure).
    "lessons": "off",
    "lesson_count": 3,
    # The first failing visible test's call, traced line by line into the feedback
    # (corrigo.agents.traces); self_debug turns it on by default.
    "trace": False,
    # The answer a run returns: the best verified candidate, or the last one (intrinsic).
    "keep": "best",
    # math: independent programs that check an answer, at most (graphs/reference.py).
    "checks": 2,
}


@dataclass(frozen=True)
class Strategy:
    name: str
    build: Callable[[], StateGraph[Any, Any, Any, Any]]
    roles: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    # The task kinds it takes (corrigo.records.TASK_KINDS).
    kinds: tuple[str, ...] = ("code", "math", "instructions")
    # Whether it checks math answers during a run, with the checker's programs (single
    # and intrinsic do not).
    math_checks: bool = True

    @property
    def doc(self) -> str:
        module = importlib.import_module(f"corrigo.graphs.strategies.{self.name}")
        return (module.__doc__ or "").strip()

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``given``; unknown parameters are a UsageError."""
        known = {**COMMON_PARAMS, **self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise UnknownStrategy(
                f"strategy {self.name!r} has no parameter(s) {unknown} "
                f"(known: {', '.join(sorted(known))})"
            )
        resolved = {k: v for k, v in {**known, **given}.items() if v is not None}
        for key, value in resolved.items():
            problem = _check(key, value)
            if problem:
                raise UnknownStrategy(f"strategy {self.name!r}: {key}={value!r} {problem}")
        return resolved


_COUNTS = {
    "n",
    "agree",
    "beam",
    "children",
    "solvers",
    "test_count",
    "max_stale",
    "max_rounds",
    "lesson_count",
    "checks",
}


# The largest value of each count: a fan-out is built before any budget is checked, so
# an unbounded one (best_of_n(n=10**8)) would spend memory or calls past every budget.
_MOST = {
    "n": 64,
    "agree": 64,
    "beam": 16,
    "children": 16,
    "solvers": 16,
    "test_count": 50,
    "max_stale": 100,
    "max_rounds": 100,
    "lesson_count": 20,
    "checks": 5,
}


def _check(key: str, value: Any) -> str | None:
    """Why a parameter's value is unusable, or None."""
    if key in _COUNTS and (type(value) is not int or value < 1):
        return "must be a whole number of at least 1"
    if key in _MOST and value > _MOST[key]:
        return f"must be at most {_MOST[key]}"
    if key == "temperature" and (type(value) not in (int, float) or not 0 <= value <= 2):
        return "must be a number from 0 to 2"
    if key == "tests" and value not in ("auto", "always", "never"):
        return "must be auto, always or never"
    if key == "keep" and value not in ("best", "last"):
        return "must be best or last"
    if key == "lessons" and value not in ("off", "use", "learn"):
        return "must be off, use or learn"
    if key in ("expected", "fresh", "trace") and type(value) is not bool:
        return "must be True or False"
    return None


NAMES = (
    "single",
    "refine",
    "self_debug",
    "reflexion",
    "best_of_n",
    "multi_agent",
    "tree_search",
    "intrinsic",
)
_SPEC = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


def get_strategy(name: str) -> Strategy:
    if name not in NAMES:
        raise UnknownStrategy(f"unknown strategy {name!r} (known: {', '.join(NAMES)})")
    module = importlib.import_module(f"corrigo.graphs.strategies.{name}")
    strategy: Strategy = module.STRATEGY
    return strategy


def strategy_names() -> list[str]:
    return list(NAMES)


def parse_strategy(text: str) -> tuple[Strategy, dict[str, Any]]:
    """``"best_of_n(n=5)"`` → (the strategy, ``{"n": 5}``); values are Python literals
    (a bare word is a string)."""
    match = _SPEC.match(text)
    if not match:
        raise UnknownStrategy(f"cannot read strategy {text!r}: use NAME or NAME(key=value,...)")
    strategy = get_strategy(match[1])
    params: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in (match[2] or "").split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip().isidentifier():
            raise UnknownStrategy(f"cannot read strategy parameter {part!r} in {text!r}")
        try:
            params[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            params[key.strip()] = value.strip()
    strategy.resolve(params)
    return strategy, params
