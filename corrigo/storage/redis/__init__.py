"""The ``redis`` store: runs, steps, lessons and benches on plain Redis types.

Only core data types are used (strings, hashes, sorted sets, a few Lua scripts): no
RedisJSON, no RediSearch. Records are the JSON text pydantic writes, never pickle.
Every key starts with the prefix (``corrigo`` unless the URL says ``?prefix=...``):

=================================  ===========  ============================================
key                                type         holds
=================================  ===========  ============================================
P:meta                             hash         ``layout`` (this package's key layout, 1)
P:run:<id>                         string       RunRecord JSON
P:steps:<run id>                   hash         seq → Step JSON
P:runs                             sorted set   run ids by created_at (µs since 1970)
P:runs:ids                         sorted set   run ids, score 0 (prefix lookups by lex)
P:runs:status:<status>             sorted set   run ids by created_at (queued, running,
                                                finished)
P:runs:task:<task id>              sorted set   run ids by created_at
P:runs:tasks                       sorted set   task ids, score 0 (``task_id="x*"`` by lex)
P:runs:strategy:<strategy>         sorted set   run ids by created_at
P:runs:model:<model spec>          sorted set   run ids by created_at (every role's model)
P:runs:batch:<batch id>            sorted set   run ids by created_at
P:lesson:<id>                      hash         ``record`` (Lesson JSON as added),
                                                ``uses``, ``helped``, ``status``
P:lessons                          sorted set   lesson ids by created_at
P:lessons:ids                      sorted set   lesson ids, score 0
P:lessons:scope:<scope key>        sorted set   lesson ids by created_at
P:lessons:status:<status>          sorted set   lesson ids by created_at
P:scope:<scope key>                hash         ``runs``, ``passed``
P:bench:<id>                       string       BenchSpec JSON
P:benches / P:benches:ids          sorted sets  bench ids by created_at / score 0
P:tmp:<random>                     sorted set   a query's intersection, deleted in the
                                                same transaction that made it
P:cp:...                           (various)    LangGraph checkpoints, see
                                                :mod:`corrigo.storage.redis.checkpoint`
=================================  ===========  ============================================

``list_runs`` reads one sorted set newest first (``ZREVRANGEBYSCORE ... LIMIT``), or
intersects the filters' sets in a MULTI transaction; then one ``MGET``. Creating or
deleting a record and its index entries is one Lua script (atomic); ``append_step`` is
``HSETNX`` in a script that also checks the run exists; ``claim_run`` and
``finish_run`` are WATCH/MULTI compare-and-set; lesson counters are ``HINCRBY`` in one
script, so concurrent runs never lose a count.

Retention: ``prune_runs(older_than=..., keep=...)`` deletes finished runs created before
``older_than`` and those beyond the ``keep`` newest finished ones (either criterion
deletes), with their steps; running runs are never touched. ``?keep=N`` in the URL
prunes that way whenever a run finishes. Both parameters are removed from the URL
before it reaches redis-py: ``redis://127.0.0.1:6379/0?prefix=team-a&keep=10000``.

The modules follow the contracts: :mod:`.connection` (client, key names, errors,
shared reads), :mod:`.scripts` (the Lua scripts), :mod:`.runs`, :mod:`.lessons` and
:mod:`.benches` (one part of the store each), :mod:`.store`, which puts them together
as :class:`RedisStore`, and :mod:`.checkpoint`, LangGraph's checkpoints on the same
server.
"""

from corrigo.storage.redis.store import RedisStore

__all__ = ["RedisStore"]
