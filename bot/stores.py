"""Rasa's tracker and lock stores, chosen from the environment so one endpoints.yml serves every deployment.

Rasa expands `${VAR}` in endpoints.yml but has no defaults, and a store type cannot depend on whether a
variable is set. These two classes, named in endpoints.yml, read:

- `TRACKER_STORE_URL` (default `sqlite:///var/rasa-tracker.db`): conversations survive a Rasa restart;
  PostgreSQL in production (`postgresql://user:pass@host/db`).
- `REDIS_URL` (unset: in-process locks): with several Rasa replicas the per-conversation lock must be
  shared, so it lives in Redis.

One-time passwords never outlive their use: before a tracker is saved -- and so before its new events are
streamed to the event broker, RabbitMQ and the handoff service, which Rasa does inside `save` -- the investor's
answer to the code question, any `otp` entity and the `otp` slot are masked in place (`forget_codes`). The
action server has already checked the code with the account API by then.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActiveLoop, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot import metrics
from common.logs import configure_logging

DEFAULT_TRACKER_STORE_URL = "sqlite:///var/rasa-tracker.db"
CODE_SLOT, CODE_ENTITY, MASK = "otp", "otp", "******"


def _forget_in_message(event: UserUttered, whole_text: bool) -> None:
    """Mask the code in one investor message: every code-like number when it answered the code question."""
    for entity in event.entities or []:
        if entity.get("entity") == CODE_ENTITY:
            entity["value"] = MASK
    if whole_text and event.text:
        # Every digit: the bot accepts a code written many ways ("otp482913", "4 8 2 9 1 3"), masks need not guess.
        event.text = re.sub(r"\d", "*", event.text)
        if isinstance(event.parse_data, dict):
            event.parse_data["text"] = event.text


def forget_codes(events: Any) -> None:
    """Mask one-time passwords in these events, in place (same text lengths, so entity offsets still hold)."""
    asking_for_code = False
    for event in events:
        if isinstance(event, SlotSet) and event.key == "requested_slot":
            asking_for_code = event.value == CODE_SLOT
        elif isinstance(event, ActiveLoop) and event.name is None:
            asking_for_code = False
        elif isinstance(event, SlotSet) and event.key == CODE_SLOT and event.value not in (None, MASK):
            event.value = MASK
        elif isinstance(event, UserUttered):
            has_code = any(e.get("entity") == CODE_ENTITY for e in event.entities or [])
            _forget_in_message(event, whole_text=asking_for_code or has_code)


def _forget_in_tracker(tracker: DialogueStateTracker) -> None:
    forget_codes(tracker.events)
    if tracker.slots.get(CODE_SLOT) is not None and tracker.slots[CODE_SLOT].value not in (None, MASK):
        tracker.slots[CODE_SLOT].value = MASK


class EnvSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on the database named by TRACKER_STORE_URL."""

    def __init__(self, domain: Any = None, host: str | None = None, event_broker: Any = None, **kwargs: Any) -> None:
        url = host or os.environ.get("TRACKER_STORE_URL") or DEFAULT_TRACKER_STORE_URL
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        configure_logging("rasa")  # Rasa's CLI configured its own logging; ours masks PII (common/logs.py)
        metrics.serve()
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)

    async def save(self, tracker: DialogueStateTracker) -> None:
        _forget_in_tracker(tracker)
        await super().save(tracker)

    async def _stream_new_events(self, event_broker: Any, new_events: list[Any], sender_id: str) -> None:
        """A turn's events in one durable write when the broker can (handoff's outbox: one fsync, not six)."""
        bodies = [{"sender_id": sender_id, **event.as_dict()} for event in new_events]
        if hasattr(event_broker, "publish_many"):
            event_broker.publish_many(bodies)
        else:
            for body in bodies:
                event_broker.publish(body)


class EnvLockStore(LockStore):
    """Redis locks when REDIS_URL is set, in-process locks otherwise (Rasa instantiates this class by name)."""

    def __new__(cls, endpoint_config: Any = None) -> LockStore:
        url = os.environ.get("REDIS_URL")
        if not url:
            return InMemoryLockStore()
        parsed = urlparse(url)
        return RedisLockStore(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 6379,
            db=int((parsed.path or "/0").lstrip("/") or 0),
            password=parsed.password,
            use_ssl=parsed.scheme == "rediss",
            key_prefix=os.environ.get("RASA_LOCK_PREFIX", "rasa"),
        )
