"""Per-client-IP rate limits for the public endpoints (snippet batches, form submissions), in memory.

Each process counts on its own (the `limits` library's moving window): behind N processes a client gets up to N
times the rate, which is enough to stop a flood from one address without a shared store.
"""

from __future__ import annotations

from fastapi import Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class IpRateLimit:
    def __init__(self, rate: str, scope: str) -> None:
        self.item: RateLimitItem = parse(rate)
        self.scope = scope
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def allow(self, request: Request) -> bool:
        return self._limiter.hit(self.item, self.scope, client_ip(request))

    @property
    def retry_after(self) -> int:
        return int(self.item.get_expiry())


def client_ip(request: Request) -> str:
    """The peer address; behind a proxy, run uvicorn with --proxy-headers so this is the visitor's."""
    return request.client.host if request.client else "unknown"
