"""Group commit for the snippet endpoint: batches arriving while a write runs are stored together.

Thousands of browsers each send a few page views; one transaction per request would spend most of its time on
fixed costs (the scoring model and segment lookups, the commit). Requests hand their parsed batch to this writer
and wait; whoever starts the drain stores everything pending in one transaction at its turn at the writer, then
answers each request with its own result. A request is still answered only after its events are committed.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.concurrency import run_in_threadpool

from leadline.api.deps import ConnectionGates
from leadline.services.tracking import CollectResult, Delivery, collect_many
from leadline.storage.database import Database

logger = logging.getLogger(__name__)
#: At most this many requests per transaction (a transaction stays well under 100 ms).
MAX_GROUP = 100

Waiting = tuple[Delivery, "asyncio.Future[CollectResult]"]


class CollectWriter:
    def __init__(self, db: Database, gates: ConnectionGates) -> None:
        self.db = db
        self.gates = gates
        self._pending: list[Waiting] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, delivery: Delivery) -> CollectResult:
        future: asyncio.Future[CollectResult] = asyncio.get_running_loop().create_future()
        self._pending.append((delivery, future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        return await future

    def _store(self, group: list[Delivery]) -> list[CollectResult]:
        with self.db.write() as session:
            return collect_many(session, group)

    async def _run(self, group: list[Delivery]) -> list[CollectResult]:
        # SQLite work is short and has one writer: inline beats a thread hop. PostgreSQL waits on the network.
        return self._store(group) if self.db.is_sqlite else await run_in_threadpool(self._store, group)

    async def _drain(self) -> None:
        try:
            while self._pending:
                async with self.gates.write:
                    group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
                    try:
                        results = await self._run([delivery for delivery, _ in group])
                    except Exception:
                        if len(group) == 1:
                            raise
                        # One bad batch must not fail the others: store them one by one.
                        logger.exception("grouped snippet write failed; storing its batches one by one")
                        results = []
                        for delivery, future in group:
                            try:
                                results.extend(await self._run([delivery]))
                            except Exception as exc:
                                if not future.done():
                                    future.set_exception(exc)
                                results.append(CollectResult())
                for (_, future), result in zip(group, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        except Exception as exc:
            for _, future in self._pending:
                if not future.done():
                    future.set_exception(exc)
            self._pending = []
            raise
        finally:
            self._task = None
