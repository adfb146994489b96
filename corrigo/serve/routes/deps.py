"""What the routes share, as FastAPI dependencies over ``request.app.state``.

:func:`~corrigo.serve.app.create_app` puts the configuration on the app's state; its
lifespan adds the opened store and the running queue. A route names what it needs in
its signature (``store: StoreDep``) instead of reaching into the state itself:

    @router.get("/runs/{run_id}")
    async def get_run(run_id: str, store: StoreDep) -> RunRecord: ...
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from corrigo.config import Settings
from corrigo.serve import auth
from corrigo.serve.config import ServeConfig
from corrigo.serve.queue import RunQueue
from corrigo.storage.base import TrajectoryStore


def config(request: Request) -> ServeConfig:
    found: ServeConfig = request.app.state.config
    return found


def settings(request: Request) -> Settings:
    found: Settings = request.app.state.settings
    return found


def store(request: Request) -> TrajectoryStore:
    found: TrajectoryStore = request.app.state.store
    return found


def queue(request: Request) -> RunQueue:
    found: RunQueue = request.app.state.queue
    return found


ConfigDep = Annotated[ServeConfig, Depends(config)]
SettingsDep = Annotated[Settings, Depends(settings)]
StoreDep = Annotated[TrajectoryStore, Depends(store)]
QueueDep = Annotated[RunQueue, Depends(queue)]
CallerDep = Annotated[str, Depends(auth.require_caller)]  # the token's fingerprint, or 401
