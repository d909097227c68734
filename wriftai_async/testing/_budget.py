"""The emulator's budget mode: N requests per second per token, then 429s.

As the service does (see the API notes): requests are counted per access
token in windows of one second of Unix time; past N in a window, the answer
is a 429 whose ``x-ratelimit-reset`` is the Unix second at which the window
ends. Refused requests do not count against the budget. With it, a fleet of
clients sharing one token can be tried locally (``wriftai-async emulator
--budget N``).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ._routing import AsyncHandler

__all__ = ["Budget", "make_budget_middleware"]


class Budget:
    """Counts one emulator's requests against ``per_second`` per token.

    ``accepted`` and ``refused`` count every request the budget saw (those
    refused were answered 429), for tests and benchmarks to read;
    ``busiest`` is the most requests accepted for one token in one window.
    """

    def __init__(
        self, per_second: int, *, clock: Callable[[], float] = time.time
    ) -> None:
        if isinstance(per_second, bool) or not isinstance(per_second, int):
            raise TypeError("budget must be an int (requests per second)")
        if per_second < 1:
            raise ValueError(f"budget must be >= 1, got {per_second!r}")
        self.per_second = per_second
        self.accepted: int = 0
        self.refused: int = 0
        self.busiest: int = 0
        self._clock = clock
        self._lock = threading.Lock()
        self._window = -1
        # Only the current window's counts: bounded by the tokens seen in it.
        self._counts: dict[str, int] = {}

    def __repr__(self) -> str:
        return (
            f"Budget({self.per_second}/s, accepted={self.accepted}, "
            f"refused={self.refused})"
        )

    def take(self, token: str) -> int | None:
        """Count one request; ``None`` if allowed, else the window's reset."""
        now = self._clock()
        window = math.floor(now)
        with self._lock:
            if window != self._window:
                self._window = window
                self._counts.clear()
            count = self._counts.get(token, 0)
            if count >= self.per_second:
                self.refused += 1
                return window + 1
            self._counts[token] = count + 1
            self.accepted += 1
            self.busiest = max(self.busiest, count + 1)
            return None

    def reset_counts(self) -> None:
        """Zero ``accepted``, ``refused`` and ``busiest`` (the windows stay)."""
        with self._lock:
            self.accepted = self.refused = self.busiest = 0


def make_budget_middleware(budget: Budget) -> Any:  # aiohttp's type is untyped
    @web.middleware
    async def spend_budget(
        request: web.Request, handler: AsyncHandler
    ) -> web.StreamResponse:
        reset = budget.take(request.headers.get("Authorization", ""))
        if reset is None:
            return await handler(request)
        return web.json_response(
            {"detail": f"Rate limit exceeded: {budget.per_second} requests per second"},
            status=429,
            headers={"x-ratelimit-reset": str(reset)},
        )

    return spend_budget
