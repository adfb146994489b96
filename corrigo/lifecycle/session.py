"""One session: what every run in a process shares, opened once and closed together.

A :class:`Session` holds the store (opened from a URL, or the caller's), the LangGraph
checkpointer on it, the sandboxes by backend name (started on first use), and the
models by spec (built, checked and put behind the reply cache once). ``corrigo run``,
``resume`` and ``fork``, the serve queue, the bench grid and the embeddable graph all
set up their runs through one, so a run is made the same way wherever it starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

from corrigo.config import Settings
from corrigo.lifecycle.execute import EventCallback, execute
from corrigo.lifecycle.executor import Executor, LocalExecutor
from corrigo.lifecycle.stored import enter_store
from corrigo.models import ChatModel, check_models, close_models, get_model
from corrigo.records import ForkPoint, Outcome, RunRecord, RunSpec, Step
from corrigo.sandbox.base import Sandbox, get_sandbox
from corrigo.storage.base import TrajectoryStore


class Session:
    """Started with ``async with``; leaving it stops the sandboxes, closes the models it
    built and the store it opened (a store handed in stays open: it is the caller's)."""

    def __init__(
        self,
        settings: Settings | None = None,
        store: str | TrajectoryStore | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self._store_arg = store
        #: Where the session's runs execute (``corrigo.lifecycle.executor``): this
        #: process's event loop unless told otherwise.
        self.executor: Executor = executor or LocalExecutor()
        self._stack = AsyncExitStack()
        self._models: dict[str, ChatModel] = {}
        self._checked: set[str] = set()
        self._sandboxes: dict[str, Sandbox] = {}
        self._sandbox_lock = asyncio.Lock()
        self._store: TrajectoryStore | None = None
        #: The store runs write to: the session's store, unless a caller (the serve
        #: queue) puts a view of it here that treats some writes differently.
        self.runs: TrajectoryStore | None = None
        self.checkpointer: Any = None
        self._reply_cache: Any = None

    @property
    def store(self) -> TrajectoryStore:
        if self._store is None:
            raise RuntimeError("the session is not open: use 'async with Session(...)'")
        return self._store

    async def __aenter__(self) -> Session:
        from corrigo.storage.checkpoint import open_checkpointer

        try:
            # The executor first: one that cannot start (a cluster out of reach) leaves
            # no store opened, let alone written.
            await self.executor.start(self)
            self._stack.push_async_callback(self.executor.close)
            self._store = await enter_store(self._stack, self._store_arg, self.settings)
            self.checkpointer = await self._stack.enter_async_context(
                open_checkpointer(self._store)
            )
        except BaseException:
            await self._stack.aclose()
            raise
        self.runs = self._store
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close what the session opened; also safe on a session never entered (models
        can be built and checked before the store is opened)."""
        try:
            await close_models(self._models)
        finally:
            self._models.clear()
            await self._stack.aclose()

    # -- models ---------------------------------------------------------------------------

    async def models(self, roles: Mapping[str, str]) -> dict[str, ChatModel]:
        """role → model for a role mapping (role → spec). A model is built and checked
        once per spec and shared by every run of the session, behind the reply cache
        when one is configured. Scripted models are built anew on every call: their
        replies are a sequence, so each caller (a run, a bench cell) starts its own."""
        built: dict[str, ChatModel] = {}
        out: dict[str, ChatModel] = {}
        for role, spec in roles.items():
            if spec not in built:
                built[spec] = await self._model(spec)
            out[role] = built[spec]
        return out

    async def _model(self, spec: str) -> ChatModel:
        if spec in self._models:
            return self._models[spec]
        model = get_model(spec, self.settings)
        if spec not in self._checked:
            await check_models({"any": model})
            self._checked.add(spec)
        if spec.startswith("scripted:"):
            return model  # never shared, never cached
        if self.settings.reply_cache is not None:
            model = self._cached(model, self.settings.reply_cache)
        self._models[spec] = model
        return model

    def _cached(self, model: ChatModel, path: Path) -> ChatModel:
        """``model`` behind the session's reply cache (one per session: every model that
        uses the file shares its index and its appends)."""
        from corrigo.models.cache import CachedModel, ReplyCache

        if self._reply_cache is None:
            self._reply_cache = ReplyCache(path)
        return CachedModel(model, self._reply_cache)

    async def check(self, roles: Mapping[str, str]) -> None:
        """Build and check the models of ``roles`` now (bad input fails before a run)."""
        await self.models(roles)

    # -- sandboxes ------------------------------------------------------------------------

    async def sandbox(self, name: str | None = None) -> Sandbox:
        """The sandbox backend ``name`` (default: the settings'), started on first use."""
        name = name or self.settings.sandbox
        async with self._sandbox_lock:
            if name not in self._sandboxes:
                box = await self._stack.enter_async_context(get_sandbox(name))
                self._sandboxes[name] = box
            return self._sandboxes[name]

    # -- runs -----------------------------------------------------------------------------

    async def execute(
        self,
        spec: RunSpec,
        *,
        roles: Mapping[str, ChatModel] | None = None,
        on_event: EventCallback | None = None,
        log: Any = None,
        run_id: str | None = None,
    ) -> Outcome:
        """Run ``spec`` as a new stored run (``roles``: models already picked for it). A
        fork's spec (``forked_from``) starts with its parent's steps up to the fork point."""
        assert self.runs is not None, "the session is not open"
        if log is None and spec.forked_from is not None:
            from corrigo.graphs.context import StepLog

            log = StepLog(self.runs, "", borrowed=await self.fork_past(spec.forked_from))
        return await execute(
            spec,
            roles=roles if roles is not None else await self.models(spec.roles),
            sandbox=await self.sandbox(spec.sandbox),
            store=self.runs,
            run_id=run_id,
            log=log,
            on_event=on_event,
            checkpointer=self.checkpointer,
            data_dir=self.settings.home,
        )

    async def continue_run(
        self,
        record: RunRecord,
        *,
        roles: Mapping[str, ChatModel] | None = None,
        on_event: EventCallback | None = None,
        claim: bool = True,
    ) -> Outcome:
        """Continue a stored, unfinished run (queued, or interrupted) from its last
        checkpoint, every step it stored served by key and new steps numbered after
        them. With ``claim`` it is first claimed from the owner it was read with: when
        another process took it meanwhile, StoreError is raised and nothing runs."""
        from corrigo.graphs.context import StepLog
        from corrigo.liveness import current_owner

        assert self.runs is not None, "the session is not open"
        if claim:
            await self.runs.claim_run(record.id, current_owner(), expected=record.owner)
        steps = await self.runs.get_steps(record.id)
        point = record.spec.forked_from
        log = StepLog(
            self.runs,
            record.id,
            prior={s.key: s for s in steps if s.key},
            prior_stored=True,
            start_seq=max((s.seq for s in steps), default=0),
            borrowed=await self.fork_past(point) if point is not None else None,
        )
        return await execute(
            record.spec,
            roles=roles if roles is not None else await self.models(record.spec.roles),
            sandbox=await self.sandbox(record.spec.sandbox),
            store=self.runs,
            run_id=record.id,
            log=log,
            on_event=on_event,
            checkpointer=self.checkpointer,
            resume=True,
            data_dir=self.settings.home,
        )

    async def fork_past(self, point: ForkPoint) -> dict[str, Step]:
        """A fork's past: its parent's steps up to the fork point, by key. They are served
        to the fork's graph as an exact replay serves them (no model asked, nothing
        executed) and stored again as the fork's own steps."""
        assert self.runs is not None, "the session is not open"
        steps = await self.runs.get_steps(point.run_id)
        return {s.key: s for s in steps if s.seq <= point.step and s.key}
