"""common/retry.py: the one full-jitter retry loop (the account API client and the Graph API client use it)."""

from __future__ import annotations

import asyncio
import random

import pytest

from common.retry import Backoff, retry


class Flaky:
    """Fails with `errors` in turn, then answers; records the attempt numbers it was called with."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls: list[int] = []

    async def __call__(self, n: int) -> str:
        self.calls.append(n)
        if self.errors:
            raise self.errors.pop(0)
        return f"ok after {n}"


def test_full_jitter_stays_under_the_exponential_cap() -> None:
    backoff = Backoff(base=0.1, cap=0.5)
    random.seed(7)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (9, 0.5)]:
        pauses = [backoff.pause(attempt) for _ in range(200)]
        assert all(0 <= p <= ceiling for p in pauses) and max(pauses) > ceiling / 2
    assert all(0 <= backoff.pause(1, base=0.01) <= 0.01 for _ in range(100))  # a caller's own base


async def test_retries_what_is_retryable_until_it_answers() -> None:
    attempt, seen = Flaky(ValueError("a"), ValueError("b")), []
    result = await retry(attempt, max_attempts=5, backoff=Backoff(0.001, 0.002), retryable=lambda e: True,
                         on_retry=lambda n, exc, pause: seen.append((n, str(exc))))
    assert result == "ok after 3" and attempt.calls == [1, 2, 3] and seen == [(1, "a"), (2, "b")]


async def test_a_permanent_failure_is_raised_at_once() -> None:
    attempt = Flaky(KeyError("gone"), ValueError("never reached"))
    with pytest.raises(KeyError):
        await retry(attempt, max_attempts=5, backoff=Backoff(0.001, 0.002),
                    retryable=lambda e: isinstance(e, ValueError))
    assert attempt.calls == [1]


async def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    attempt = Flaky(*(ValueError(str(i)) for i in range(10)))
    with pytest.raises(ValueError, match="^2$"):
        await retry(attempt, max_attempts=3, backoff=Backoff(0.001, 0.002), retryable=lambda e: True)
    assert attempt.calls == [1, 2, 3]


async def test_a_pause_that_would_end_past_the_deadline_is_not_taken() -> None:
    attempt = Flaky(ValueError("slow"), ValueError("never reached"))
    deadline = asyncio.get_running_loop().time()  # already reached: no pause fits
    with pytest.raises(ValueError, match="slow"):
        await retry(attempt, max_attempts=5, backoff=Backoff(0.001, 0.002), retryable=lambda e: True,
                    deadline=deadline)
    assert attempt.calls == [1]


async def test_base_for_gives_some_failures_a_longer_pause() -> None:
    pauses: list[float] = []
    attempt = Flaky(ValueError("rate limited"), ValueError("other"))
    await retry(attempt, max_attempts=5, backoff=Backoff(0.0, 0.02), retryable=lambda e: True,
                base_for=lambda e: 0.01 if "rate" in str(e) else None,
                on_retry=lambda n, exc, pause: pauses.append(pause))
    assert 0 <= pauses[0] <= 0.01 and pauses[1] == 0.0  # base 0 for the ordinary failure
