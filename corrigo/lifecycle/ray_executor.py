"""Runs executed by Ray actors (``corrigo run/bench --ray [ADDRESS]``; ``corrigo[ray]``).

The store is the one source of truth between the driver and the cluster:

- The driver stores each spec as a *queued* run, then hands run ids, never objects, to
  :class:`~corrigo.lifecycle.ray_worker.RunWorker` actors. Only ids and JSON cross the
  cluster; nothing unpicklable is captured: each actor opens its own
  :class:`~corrigo.lifecycle.session.Session` on the store's URL, with its own sandboxes
  and models, built inside the actor from the environment the driver passed (secrets
  travel in the environment only, never in a task or a stored step).
- An actor *claims* a run (the store's compare-and-set ``claim_run``) before it executes
  it, then continues it from its last checkpoint: a queued run from the start, a run whose
  actor died from where it stopped, every stored step served by key (no step written
  twice, no model asked twice for a stored step).
- Each actor holds at most ``per_actor`` runs at once (Ray's ``max_concurrency`` for an
  async actor). When an actor dies (its node lost), the driver starts another one, which
  Ray places on a live node, and hands it the dead actor's runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from corrigo.errors import ConfigError, StoreError
from corrigo.lifecycle.execute import EventCallback
from corrigo.lifecycle.executor import OutcomeCallback
from corrigo.records import Outcome, RunRecord, RunSpec

if TYPE_CHECKING:
    from corrigo.lifecycle.session import Session

_MISSING = "the ray executor needs Ray: pip install 'corrigo[ray]'"
#: Environment variables handed to the actors: corrigo's own and the model servers'.
_PASSED_PREFIXES = ("CORRIGO_", "OPENAI_", "OLLAMA_", "ANTHROPIC_")
#: Of those, what only ``corrigo serve`` reads (its API tokens among them): kept back.
_KEPT_PREFIXES = ("CORRIGO_API_TOKENS", "CORRIGO_SERVE_")
#: How often a run may be handed to a new actor after the one running it died.
MAX_HANDOVERS = 3
#: The CPU share an actor asks for: a token (its runs wait on models, not on CPUs), so
#: that Ray places it only on nodes that offer CPUs.
ACTOR_CPUS = 0.01
#: Seconds before a run another live worker holds is offered again.
BUSY_WAIT = 0.5


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(_MISSING) from None
    return ray


def passed_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The driver's variables the actors get (see ``_PASSED_PREFIXES``); the session's
    settings (the command line's overrides included) are laid over them."""
    env = dict(os.environ if env is None else env)
    return {
        k: v
        for k, v in env.items()
        if k.startswith(_PASSED_PREFIXES) and not k.startswith(_KEPT_PREFIXES)
    }


class RayExecutor:
    """Sends a session's runs to ``actors`` Ray actors, ``per_actor`` runs each at once."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        actors: int = 2,
        per_actor: int = 4,
        store_url: str | None = None,
    ) -> None:
        if actors < 1 or per_actor < 1:
            raise ConfigError("--ray-actors and runs per actor must be at least 1")
        self.address = address or os.environ.get("RAY_ADDRESS") or "auto"
        self.actors, self.per_actor = actors, per_actor
        self._store_url = store_url or ""
        self._pool: list[Any] = []
        self._load: dict[int, int] = {}  # runs in flight per actor (by id())
        self._refs: dict[str, Any] = {}  # run id → the actor call executing it
        self._freed = asyncio.Condition()
        self._placed = 0
        self._connected = False

    async def start(self, session: Session) -> None:
        from corrigo.storage.base import TrajectoryStore

        arg = session._store_arg
        if not self._store_url:
            if isinstance(arg, TrajectoryStore):
                raise ConfigError("the ray executor needs a store URL (its actors open their own)")
            self._store_url = arg or session.settings.resolved_store_url
        ray = _ray()
        if not ray.is_initialized():
            _probe(self.address)
            _check_token(self.address)
            try:
                ray.init(
                    address=self.address,
                    log_to_driver=False,
                    logging_level="ERROR",
                    runtime_env={"env_vars": {**passed_environment(), **session.settings.to_env()}},
                )
            except (ConnectionError, RuntimeError, ValueError) as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ConfigError(
                    f"cannot reach a Ray cluster at {self.address!r}: {first}"
                ) from None
            self._connected = True
            _cluster_news_to_stderr()
        _refuse_sqlite_across_hosts(self._store_url, ray)

    async def close(self) -> None:
        ray = _ray()
        for actor in self._pool:
            ray.kill(actor, no_restart=True)
        self._pool.clear()
        self._load.clear()
        if self._connected:
            ray.shutdown()
            self._connected = False

    async def run_specs(
        self,
        session: Session,
        specs: Sequence[RunSpec],
        *,
        concurrency: int,
        on_outcome: OutcomeCallback | None,
        on_event: EventCallback | None,
    ) -> list[Outcome]:
        records = [await session.store.create_run(s, status="queued") for s in specs]
        return await self._dispatch([r.id for r in records], on_outcome, on_event)

    async def continue_runs(
        self,
        session: Session,
        records: Sequence[RunRecord],
        *,
        concurrency: int,
        on_outcome: OutcomeCallback | None,
        on_event: EventCallback | None,
    ) -> list[Outcome]:
        return await self._dispatch([r.id for r in records], on_outcome, on_event)

    # -- the driver's loop ----------------------------------------------------------------

    def _new_actor(self) -> Any:
        """An actor on the next live node that offers CPUs, in turn (round robin, so
        ``actors`` ≥ such nodes puts one on each). Pinned there: Ray's soft affinity and
        SPREAD both leave actors on the driver's node now and then; if the node is lost
        before the actor starts, the actor fails and is replaced like a dead one."""
        ray = _ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from corrigo.lifecycle.ray_worker import RunWorker

        alive = [n for n in ray.nodes() if n.get("Alive")]
        # A node that offers no CPU (a head, a driver or a server joined with --num-cpus 0)
        # runs no actor, ever: it may lack what the sandbox needs (compose's head has no
        # capabilities) or hold secrets candidate code must not sit beside. The actor's
        # small CPU share says so to Ray too: with no such node alive, it waits for one.
        working = [n for n in alive if (n.get("Resources") or {}).get("CPU", 0) > 0]
        nodes = sorted(n["NodeID"] for n in working)
        placement: Any = "SPREAD"
        if nodes:
            node = nodes[self._placed % len(nodes)]
            placement = NodeAffinitySchedulingStrategy(node_id=node, soft=False)
        self._placed += 1
        worker = ray.remote(RunWorker).options(
            max_concurrency=self.per_actor,
            max_restarts=0,
            num_cpus=ACTOR_CPUS,
            scheduling_strategy=placement,
        )
        return worker.remote(self._store_url)

    async def _dispatch(
        self,
        run_ids: Sequence[str],
        on_outcome: OutcomeCallback | None,
        on_event: EventCallback | None = None,
    ) -> list[Outcome]:
        """Every run id executed once by some actor; outcomes in the given order. Calls
        may overlap (the serve queue makes one per run): they share the actors' slots.
        With ``on_event``, each run's progress events stream back from its actor."""
        from ray.exceptions import ActorUnschedulableError, RayActorError, TaskCancelledError

        from corrigo.liveness import current_owner

        while len(self._pool) < self.actors:
            self._add(self._new_actor())
        waiting = list(run_ids)
        handovers = dict.fromkeys(run_ids, 0)
        running: dict[asyncio.Future[Any], tuple[str, Any]] = {}
        outcomes: dict[str, Outcome] = {}
        try:
            while waiting or running:
                while waiting:
                    actor = min(self._pool, key=lambda a: self._load[id(a)])
                    if self._load[id(actor)] >= self.per_actor:
                        break
                    run_id = waiting.pop(0)
                    self._load[id(actor)] += 1
                    if on_event is None:
                        ref = actor.execute.remote(run_id, current_owner())
                        answer = _awaited(ref)
                    else:
                        ref = actor.execute_streaming.options(num_returns="streaming").remote(
                            run_id, current_owner()
                        )
                        answer = _streamed(ref, on_event)
                    self._refs[run_id] = ref
                    running[asyncio.ensure_future(answer)] = (run_id, actor)
                if not running:  # every slot is another call's: wait for one to free
                    async with self._freed:
                        await self._freed.wait()
                    continue
                done, _ = await asyncio.wait(list(running), return_when=asyncio.FIRST_COMPLETED)
                for future in done:
                    run_id, actor = running.pop(future)
                    if actor is None:  # a busy run's wait is over: offer it again
                        waiting.append(run_id)
                        continue
                    self._refs.pop(run_id, None)
                    await self._release(actor)
                    try:
                        reply = json.loads(future.result())
                    except (RayActorError, ActorUnschedulableError):
                        handovers[run_id] += 1
                        if handovers[run_id] > MAX_HANDOVERS:
                            raise StoreError(
                                f"run {run_id}: its actor died {MAX_HANDOVERS + 1} times"
                            ) from None
                        self._replace(actor)
                        waiting.append(run_id)
                        continue
                    except TaskCancelledError:
                        raise asyncio.CancelledError from None
                    if "error" in reply:
                        raise _error(reply)
                    if "busy" in reply:  # another actor holds it: wait for its owner to go,
                        # without holding up the other runs' results meanwhile
                        running[asyncio.ensure_future(asyncio.sleep(BUSY_WAIT))] = (run_id, None)
                        continue
                    outcome = Outcome.model_validate(reply["outcome"])
                    outcomes[run_id] = outcome
                    if on_outcome is not None:
                        on_outcome(outcome)
        finally:
            for future, (run_id, actor) in running.items():
                future.cancel()
                if actor is not None:
                    self._refs.pop(run_id, None)
                    await self._release(actor)
        return [outcomes[r] for r in run_ids]

    def cancel(self, run_id: str) -> bool:
        """Cancel the run where its actor executes it (stored as cancelled there)."""
        ref = self._refs.get(run_id)
        if ref is None:
            return False
        _ray().cancel(ref)
        return True

    def _add(self, actor: Any) -> None:
        self._pool.append(actor)
        self._load[id(actor)] = 0

    async def _release(self, actor: Any) -> None:
        if id(actor) in self._load:
            self._load[id(actor)] -= 1
        async with self._freed:
            self._freed.notify_all()

    def _replace(self, dead: Any) -> None:
        if dead in self._pool:
            self._pool.remove(dead)
            self._load.pop(id(dead), None)
            self._add(self._new_actor())


async def _awaited(ref: Any) -> Any:
    return await ref


async def _streamed(stream: Any, on_event: EventCallback) -> Any:
    """The last item of an actor's streaming reply; the progress events before it go to
    ``on_event`` as they arrive."""
    async for ref in stream:
        item = await ref
        message = json.loads(item)
        if "event" in message and "task" in message:
            on_event(message["task"], message["event"])
            continue
        return item
    raise StoreError("a Ray actor's reply stream ended without an outcome")


def _error(reply: dict[str, Any]) -> Exception:
    """The actor's CorrigoError raised again in the driver, as the same class."""
    from corrigo.errors import CorrigoError

    known: dict[str, type[CorrigoError]] = {}
    pending: list[type[CorrigoError]] = [CorrigoError]
    while pending:
        cls = pending.pop()
        known[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return known.get(str(reply.get("kind", "")), StoreError)(str(reply["error"]))


def _cluster_news_to_stderr() -> None:
    """Ray prints the cluster's events (a node marked dead, ...) on the driver's stdout,
    which is corrigo's output (a table, or JSON for a program): send them to stderr."""
    from ray._private import worker

    printer = getattr(worker, "print_to_stdstream", None)
    if printer is None or getattr(printer, "corrigo", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        printer({**data, "is_err": True}, ignore_prefix)

    to_stderr.corrigo = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = to_stderr


def _probe(address: str) -> None:
    """Fail at once on a ``host:port`` nobody listens on (Ray would retry for a minute)."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray takes 'auto', host:port or ray://host:port, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"cannot reach a Ray cluster at {address!r}: {reason}") from None


#: Asks the cluster's control store one question with this process's token: exit 0 when
#: answered, 3 when the token is refused, 1 on anything else.
_TOKEN_PROBE = """
import sys
import ray
from ray.exceptions import AuthenticationError
try:
    client = ray._raylet.GcsClient(address=sys.argv[1])
    client.internal_kv_get(b"corrigo-probe", namespace=None, timeout=10)
except AuthenticationError:
    sys.exit(3)
except Exception:
    sys.exit(1)
"""
#: Seconds the probe may take (Ray's client waits about 40 s on a port that is not Ray's).
TOKEN_PROBE_WAIT = 30.0


def _check_token(address: str) -> None:
    """Fail at once when the cluster refuses this driver's token (Ray's token
    authentication) or does not answer as Ray: ``ray.init`` would retry for 20 s or more,
    logging each attempt. The probe runs in a child process, whose log is dropped and
    whose wait is bounded, with this process's environment (the token)."""
    import subprocess
    import sys

    if address == "auto" or "://" in address:
        return
    try:
        done = subprocess.run(
            [sys.executable, "-c", _TOKEN_PROBE, address],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=TOKEN_PROBE_WAIT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"no Ray cluster answers at {address!r} (give the head's GCS port, 6379 by default)"
        ) from None
    if done.returncode == 3:
        raise ConfigError(
            f"the Ray cluster at {address!r} refused this driver's token: set RAY_AUTH_MODE=token "
            "and the cluster's RAY_AUTH_TOKEN"
        )


def _refuse_sqlite_across_hosts(store_url: str, ray: Any) -> None:
    """SQLite is a file on this host: refused when the cluster has a node elsewhere."""
    if not store_url.startswith("sqlite"):
        return
    here = {socket.gethostname(), "127.0.0.1", "localhost"}
    with contextlib.suppress(OSError):
        here.add(socket.gethostbyname(socket.gethostname()))
    here.add(ray.util.get_node_ip_address())
    others = sorted(
        {
            str(n.get("NodeManagerAddress"))
            for n in ray.nodes()
            if n.get("Alive") and str(n.get("NodeManagerAddress")) not in here
        }
    )
    if others:
        raise ConfigError(
            f"a SQLite store is a file on this host, but the Ray cluster has nodes at "
            f"{', '.join(others)}: use a PostgreSQL or Redis store (--store URL)"
        )
