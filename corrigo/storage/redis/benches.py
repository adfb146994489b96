"""Bench specs in the ``redis`` store: a string each, indexed by time and by id."""

from __future__ import annotations

from corrigo.errors import RunNotFound, StoreError
from corrigo.records import BenchSpec
from corrigo.storage.benches import BenchStore
from corrigo.storage.redis.connection import RedisConnection, as_text, decode, score_of


class RedisBenches(RedisConnection, BenchStore):
    """:class:`~corrigo.storage.benches.BenchStore` on Redis."""

    async def save_bench(self, spec: BenchSpec) -> None:
        score = score_of(spec.created_at)
        indexes = [(self._k("benches"), score, spec.id), (self._k("benches", "ids"), 0, spec.id)]
        key = self._k("bench", spec.id)
        with self._errors("BenchSpec"):
            if await self._insert(key, spec.model_dump_json(), indexes):
                return
            raw = await self.client.get(key)
        if raw is None or decode(BenchSpec, raw) != spec:
            raise StoreError(f"bench {spec.id} is already stored with another spec")

    async def get_bench(self, bench_id: str) -> BenchSpec:
        if bench_id == "last":
            with self._errors("BenchSpec"):
                newest = as_text(await self.client.zrevrange(self._k("benches"), 0, 0))
            if not newest:
                raise RunNotFound("no benches in the store yet")
            bench_id = newest[0]
        full = await self._resolve(self._k("benches", "ids"), bench_id, "bench")
        found = await self._strings(BenchSpec, [self._k("bench", full)])
        if not found:
            raise RunNotFound(f"no bench {bench_id!r} in the store")
        return found[0]

    async def list_benches(self, limit: int = 50) -> list[BenchSpec]:
        with self._errors("BenchSpec"):
            ids = as_text(await self.client.zrevrange(self._k("benches"), 0, limit - 1))
        return await self._strings(BenchSpec, [self._k("bench", i) for i in ids])
