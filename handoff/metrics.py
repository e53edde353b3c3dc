"""The handoff service's ingest counters, in one place (prometheus_client, the process's default registry).

- `mfa_handoff_events_total{outcome}`: Rasa tracker events by what became of them: `applied` (committed),
  `duplicate` (a redelivery of an event already applied), `dead_lettered` (malformed, or still failing after
  the retries; the reason travels in a header), `retried` (an attempt that failed, because of our code or the
  database, and is tried again rather than dropped).
- `mfa_handoff_ingest_lag_seconds`: from an event's timestamp in Rasa to the commit of its batch here.
- `mfa_handoff_wait_seconds`: from a ticket's opening to an agent taking it (claimed or auto-assigned, the first
  time); `mfa_handoff_handle_seconds`: from an agent taking it to its closing. Observed in the transaction that
  makes the change (a rolled-back claim still counts once: a rare over-count, never a missed ticket).

`/health` shows the same values (`snapshot()`), so tests and operators without Prometheus can read them.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram

OUTCOMES = ("applied", "duplicate", "dead_lettered", "retried")

EVENTS = Counter("mfa_handoff_events_total", "Rasa tracker events by outcome", ["outcome"])
LAG = Histogram("mfa_handoff_ingest_lag_seconds", "From an event's timestamp in Rasa to its commit in the inbox.",
                buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0))

WAIT = Histogram("mfa_handoff_wait_seconds", "From a ticket's opening to an agent taking it.",
                 buckets=(10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0))
HANDLE = Histogram("mfa_handoff_handle_seconds", "From an agent taking a ticket to its closing.",
                   buckets=(60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0))


def taken(opened_at: dt.datetime | None, assigned_at: dt.datetime | None) -> None:
    """A ticket was taken by an agent for the first time."""
    if opened_at is not None and assigned_at is not None:
        WAIT.observe(max(0.0, (assigned_at - opened_at).total_seconds()))


def closed(assigned_at: dt.datetime | None, resolved_at: dt.datetime | None) -> None:
    """An agent closed a ticket they held (one closed by the bot resuming was never handled)."""
    if assigned_at is not None and resolved_at is not None:
        HANDLE.observe(max(0.0, (resolved_at - assigned_at).total_seconds()))


def count(outcome: str, amount: int = 1) -> None:
    """Count `amount` events with `outcome` (one of OUTCOMES)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    if amount:
        EVENTS.labels(outcome=outcome).inc(amount)


def snapshot() -> dict[str, int]:
    """The event counters by outcome, for /health."""
    values = {o: REGISTRY.get_sample_value("mfa_handoff_events_total", {"outcome": o}) for o in OUTCOMES}
    return {outcome: int(value or 0) for outcome, value in values.items()}


def lag(bodies: list[dict[str, Any]]) -> None:
    """Observe, for each committed event with a timestamp, how long it took from Rasa to the inbox."""
    now = time.time()
    for body in bodies:
        ts = body.get("timestamp")
        if isinstance(ts, int | float) and not isinstance(ts, bool):
            LAG.observe(max(0.0, now - ts))
