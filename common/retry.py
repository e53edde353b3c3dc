"""Retries with exponential backoff and full jitter: the one loop every client of a remote system uses.

Full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"): before retry n the caller sleeps
U(0, min(cap, base * 2^(n-1))), so clients that failed together do not come back together. What is worth
retrying, and how many times, is the caller's decision (`retryable`); a call budget (`deadline`, on the event
loop's clock) stops the retries early when the next pause would end past it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, capped."""

    base: float
    cap: float

    def pause(self, attempt: int, base: float | None = None) -> float:
        """Seconds to sleep after failed attempt `attempt` (1-based); `base` overrides the usual one."""
        return random.uniform(0, min(self.cap, (self.base if base is None else base) * 2 ** (attempt - 1)))


async def retry(
    attempt: Callable[[int], Awaitable[T]],
    *,
    max_attempts: int,
    backoff: Backoff,
    retryable: Callable[[Exception], bool],
    deadline: float | None = None,
    base_for: Callable[[Exception], float | None] = lambda exc: None,
    on_retry: Callable[[int, Exception, float], None] = lambda attempt, exc, pause: None,
) -> T:
    """`await attempt(n)` for n = 1, 2, ... until it returns; re-raise its exception when that is not
    `retryable`, after `max_attempts`, or when the pause would end at or past `deadline` (loop time).

    `base_for(exc)` may give a larger base for a failure that asks for a longer wait (a rate limit);
    `on_retry(n, exc, pause)` is told before each pause (logs, counters).
    """
    loop = asyncio.get_running_loop()
    n = 0
    while True:
        n += 1
        try:
            return await attempt(n)
        except Exception as exc:
            if not retryable(exc) or n >= max_attempts:
                raise
            pause = backoff.pause(n, base_for(exc))
            if deadline is not None and loop.time() + pause >= deadline:
                raise
            on_retry(n, exc, pause)
        await asyncio.sleep(pause)
