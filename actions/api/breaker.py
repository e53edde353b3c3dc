"""A small circuit breaker, so that while the account API is down every action fails fast instead of waiting.

Counts call-level failures (after retries), not single attempts: a flaky API that answers on the second try
should not open it, a dead one should after a few investor turns.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """closed → (N consecutive failures) → open for `reset_seconds` → half-open: one trial call decides."""

    def __init__(self, failure_threshold: int = 3, reset_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trial_in_flight = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.reset_seconds:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open only one trial at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self.trial_in_flight:
            self.trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.trial_in_flight = False

    def record_failure(self) -> None:
        self.trial_in_flight = False
        self.failures += 1
        if self.opened_at is not None or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()
