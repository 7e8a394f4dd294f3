"""The worker loop: drain the outbox, then run each periodic task whose interval has passed.

Periodic tasks register with `@periodic(name, seconds)`; a task takes `(db, now)` and returns how much it did.
Each runs in its own transactions and must be safe to run from several processes at once (claim rows, lock
them, or make the update idempotent).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from leadline.services import outbox
from leadline.storage.database import Database
from leadline.storage.types import utcnow

logger = logging.getLogger(__name__)

Task = Callable[[Database, datetime], int]

#: Modules that register periodic tasks (imported by the first `Worker`).
TASK_MODULES: tuple[str, ...] = ("leadline.jobs.tasks",)


@dataclass(frozen=True)
class Periodic:
    name: str
    seconds: float
    run: Task


_TASKS: dict[str, Periodic] = {}


def periodic(name: str, seconds: float) -> Callable[[Task], Task]:
    def register(run: Task) -> Task:
        _TASKS[name] = Periodic(name, seconds, run)
        return run

    return register


def tasks() -> list[Periodic]:
    for module in TASK_MODULES:
        importlib.import_module(module)
    return list(_TASKS.values())


@dataclass
class Worker:
    """One worker's state: when each periodic task last ran. `intervals` overrides a task's interval
    (0 disables it)."""

    db: Database
    intervals: dict[str, float] = field(default_factory=dict)
    _last: dict[str, float] = field(default_factory=dict)

    def tick(self, now: datetime | None = None) -> int:
        """One pass: drain the outbox, run the due periodic tasks, drain again; returns the work done."""
        done = self.drain(now)
        ran = self.run_periodic(now)
        return done + ran + (self.drain(now) if ran else 0)

    def drain(self, now: datetime | None = None) -> int:
        return self._safely("outbox", lambda: outbox.drain(self.db, now=now))

    def run_periodic(self, now: datetime | None = None) -> int:
        """Run each periodic task whose interval has passed (they open their own short transactions; senders
        do their network I/O outside any)."""
        done = 0
        clock = time.monotonic()
        for task in tasks():
            interval = self.intervals.get(task.name, task.seconds)
            if interval <= 0 or clock - self._last.get(task.name, float("-inf")) < interval:
                continue
            self._last[task.name] = clock
            done += self._safely(task.name, lambda t=task: t.run(self.db, now or utcnow()))  # type: ignore[misc]
        return done

    @staticmethod
    def _safely(name: str, work: Callable[[], int]) -> int:
        try:
            return work()
        except Exception:  # the next tick retries; a worker never dies of one failure
            logger.exception("background task %s failed", name)
            return 0
