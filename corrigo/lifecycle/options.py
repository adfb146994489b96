"""What a caller asks of a run, checked once: options → the strategy → one spec per task.

``RunOptions`` holds the options every entry point takes (``corrigo.run``, the
embeddable graph, the HTTP API, a bench cell, a fork); ``plan`` resolves the strategy
and its parameters and checks the role mapping once, without building a model;
``build_specs`` turns a plan and its tasks into the ``RunSpec`` records that are stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypedDict

from corrigo.agents.kinds import check_task
from corrigo.config import Settings, corrigo_version
from corrigo.errors import UnknownStrategy, UsageError
from corrigo.graphs.registry import Strategy, parse_strategy
from corrigo.models import resolve_specs
from corrigo.models.pricing import require_prices
from corrigo.records import Budgets, Limits, RunSpec, Sampling, Task, new_id


class StrategyOptionArgs(TypedDict, total=False):
    """The keyword arguments of a :class:`RunOptions` but the strategy (for ``**kwargs``
    typing where the strategy is an argument of its own)."""

    model: str | None
    roles: Mapping[str, str] | None
    params: Mapping[str, Any] | None
    sampling: Mapping[str, Sampling] | None
    max_rounds: int
    budgets: Budgets | None
    limits: Limits | None
    sandbox: str | None


class OptionArgs(StrategyOptionArgs, total=False):
    """The keyword arguments that make a :class:`RunOptions` (for ``**kwargs`` typing)."""

    strategy: str


@dataclass(frozen=True)
class RunOptions:
    """How tasks are run: the strategy (a name, optionally with parameters:
    ``"best_of_n(n=5)"``; ``params`` add to them), the model for every role or a
    ``roles`` mapping, sampling per role, rounds, budgets, sandbox limits and backend."""

    strategy: str = "best_of_n"
    model: str | None = None
    roles: Mapping[str, str] | None = None
    params: Mapping[str, Any] | None = None
    sampling: Mapping[str, Sampling] | None = None
    max_rounds: int = 3
    budgets: Budgets | None = None
    limits: Limits | None = None
    sandbox: str | None = None

    @classmethod
    def of(cls, options: RunOptions | None = None, **args: Any) -> RunOptions:
        """``options`` with ``args`` laid over it; an unknown option is a UsageError."""
        unknown = sorted(set(args) - {f.name for f in fields(cls)})
        if unknown:
            raise UsageError(f"unknown run option: {', '.join(unknown)}")
        base = options or cls()
        return replace(base, **args) if args else base


@dataclass(frozen=True)
class Plan:
    """Options resolved once: the strategy record, its parameters as stored, the roles
    it needs, the model spec of every role, and the budgets."""

    options: RunOptions
    strategy: Strategy
    params: dict[str, Any]
    roles: list[str]
    models: dict[str, str]
    budgets: Budgets
    settings: Settings = field(repr=False)


def plan(options: RunOptions, settings: Settings) -> Plan:
    """Check the strategy, its parameters and the role mapping; build no model.
    Raises a CorrigoError subclass."""
    chosen, named = parse_strategy(options.strategy)
    params = {**named, **dict(options.params or {}), "max_rounds": options.max_rounds}
    resolved = chosen.resolve(params)
    roles = list(chosen.roles)
    if resolved.get("lessons") == "learn" and "reflector" not in roles:
        roles.append("reflector")  # writes the lesson of a corrected failure
    models = resolve_specs(options.model, options.roles, settings)
    budgets = (options.budgets or Budgets()).model_copy(update={"max_rounds": options.max_rounds})
    checked = [*roles, *(["checker"] if chosen.math_checks else [])]
    require_prices({models[r] for r in checked}, budgets, settings)  # --max-cost needs prices
    return Plan(options, chosen, params, roles, models, budgets, settings)


def build_specs(
    tasks: Sequence[Task],
    chosen: Plan,
    *,
    store_label: str = "",
    batch_id: str | None = None,
) -> list[RunSpec]:
    """One spec per task, as a run stores it. Checks every task against the strategy."""
    for task in tasks:
        check_task(task)
        if task.kind not in chosen.strategy.kinds:
            raise UnknownStrategy(
                f"strategy {chosen.strategy.name!r} takes {' and '.join(chosen.strategy.kinds)} "
                f"tasks only; task {task.id!r} is a {task.kind} task"
            )
    options = chosen.options
    batch = batch_id or new_id("batch_")
    version = corrigo_version()
    specs = []
    for task in tasks:
        roles = roles_for(chosen.roles, chosen.strategy, task)
        specs.append(
            RunSpec(
                task=task,
                strategy=chosen.strategy.name,
                params=chosen.params,
                roles={r: chosen.models[r] for r in roles},
                sampling={r: (options.sampling or {}).get(r) or Sampling() for r in roles},
                budgets=chosen.budgets,
                limits=options.limits or Limits(),
                sandbox=options.sandbox or chosen.settings.sandbox,
                store=store_label,
                corrigo_version=version,
                batch_id=batch,
            )
        )
    return specs


def roles_for(roles: Sequence[str], strategy: Strategy, task: Task) -> list[str]:
    """A run's roles: the strategy's (without the test designer, which writes tests for
    functions only), plus the checker that writes a math task's independent programs
    (every strategy that checks math answers during a run)."""
    kept = [r for r in roles if task.kind == "code" or r != "test_designer"]
    if task.kind == "math" and strategy.math_checks and "checker" not in kept:
        kept.append("checker")
    return kept
