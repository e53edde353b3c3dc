"""Fault injection: added latency, a random error rate and a full outage, switchable at run time.

Tests and benchmarks flip these through `PUT /admin/faults` on the running process, so one stand-in serves a
whole suite; the environment (`ACCOUNTS_FAULT_*`) sets the state at start-up. State is per process: run the
stand-in with one worker when faults matter (the default).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Faults:
    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0
    outage: bool = False
    # Share of injected errors on writes that happen *after* the write was applied (a lost response): the case
    # idempotency keys exist for.
    lost_response_share: float = 0.5
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("rng")
        return data

    def update(self, values: dict[str, Any]) -> None:
        """Apply a partial update from the admin endpoint; unknown keys or bad values raise ValueError."""
        for key, value in values.items():
            if key == "seed":
                self.rng.seed(value)
                continue
            if key not in {"latency_ms", "latency_jitter_ms", "error_rate", "outage", "lost_response_share"}:
                raise ValueError(f"unknown fault setting {key!r}")
            if key == "outage":
                if not isinstance(value, bool):
                    raise ValueError("outage must be true or false")
                self.outage = value
                continue
            number = float(value)
            if number < 0 or (key in {"error_rate", "lost_response_share"} and number > 1):
                raise ValueError(f"{key} out of range")
            setattr(self, key, number)

    def reset(self) -> None:
        self.latency_ms = self.latency_jitter_ms = self.error_rate = 0.0
        self.outage = False
        self.lost_response_share = 0.5

    async def delay(self) -> None:
        total = self.latency_ms + (self.rng.uniform(0, self.latency_jitter_ms) if self.latency_jitter_ms else 0.0)
        if total > 0:
            await asyncio.sleep(total / 1000)

    def roll_error(self) -> bool:
        return self.error_rate > 0 and self.rng.random() < self.error_rate

    def roll_lost_response(self) -> bool:
        return self.rng.random() < self.lost_response_share
