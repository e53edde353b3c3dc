"""The handoff service's ingest counters, in one place (prometheus_client, the process's default registry).

- `mfa_handoff_events_total{outcome}`: Rasa tracker events by what became of them: `applied` (committed),
  `duplicate` (a redelivery of an event already applied), `dead_lettered` (malformed, or still failing after
  the retries; the reason travels in a header), `retried` (an attempt that failed, because of our code or the
  database, and is tried again rather than dropped).

`/health` shows the same values (`snapshot()`), so tests and operators without Prometheus can read them.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, Counter

OUTCOMES = ("applied", "duplicate", "dead_lettered", "retried")

EVENTS = Counter("mfa_handoff_events_total", "Rasa tracker events by outcome", ["outcome"])


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
