"""Per-client-IP rate limits for the public endpoints (snippet batches, form submissions), in memory.

A sliding-window counter: the current fixed window's hits plus the previous window's, weighted by how much of it
still overlaps the sliding window. O(1) per hit with no timer threads (the `limits` library's memory storage
starts an expiry thread every few hits, which cost more than the rest of a snippet request). Each process counts
on its own: behind N processes a client gets up to N times the rate, enough to stop a flood from one address
without a shared store.
"""

from __future__ import annotations

import math
import re
import threading
import time

from fastapi import Request

UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
RATE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day)s?\s*$")


def parse_rate(text: str) -> tuple[int, int]:
    """`"600/minute"`, `"20 per 10 seconds"`... -> (hits, window in seconds)."""
    match = RATE.match(text.lower())
    if match is None:
        raise ValueError(f"{text!r} is not a rate such as 600/minute")
    return int(match.group(1)), int(match.group(2) or 1) * UNITS[match.group(3)]


class IpRateLimit:
    def __init__(self, rate: str, scope: str) -> None:
        self.limit, self.window = parse_rate(rate)
        self.scope = scope
        self._current = -1  # index of the current fixed window
        self._hits: dict[str, int] = {}
        self._previous: dict[str, int] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, now: float) -> bool:
        """Count one hit for `key` at `now` (seconds); False when it is over the limit (and not counted)."""
        index, offset = divmod(now, self.window)
        with self._lock:
            if index != self._current:
                self._previous = self._hits if index == self._current + 1 else {}
                self._hits, self._current = {}, int(index)
            overlap = 1 - offset / self.window
            used = self._hits.get(key, 0) + math.ceil(self._previous.get(key, 0) * overlap)
            if used >= self.limit:
                return False
            self._hits[key] = self._hits.get(key, 0) + 1
            return True

    def allow(self, request: Request) -> bool:
        return self.hit(client_ip(request), time.monotonic())

    @property
    def retry_after(self) -> int:
        return self.window


def client_ip(request: Request) -> str:
    """The peer address; behind a proxy, run uvicorn with --proxy-headers so this is the visitor's."""
    return request.client.host if request.client else "unknown"
