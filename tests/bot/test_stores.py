"""The stores named in endpoints.yml follow the environment: SQL trackers survive a restart, locks go to Redis."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig, read_endpoint_config

from bot import paths
from bot.stores import EnvSQLTrackerStore
from handoff.event_broker import HttpSink, OutboxEventBroker


def endpoint(name: str) -> EndpointConfig | None:
    return read_endpoint_config(str(paths.ENDPOINTS), name)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_conversations_survive_a_new_store_instance(
    backend: str, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/tracker.db" if backend == "sqlite" else postgres_url
    monkeypatch.setenv("TRACKER_STORE_URL", url)
    sender = f"91{uuid.uuid4().int % 10**10:010d}"
    domain = Domain.empty()
    store = TrackerStore.create(endpoint("tracker_store"), domain)
    tracker = DialogueStateTracker(sender, [])
    tracker.update(UserUttered("mera portfolio kitna hai", {"name": "check_portfolio", "confidence": 0.99}))
    await store.save(tracker)

    restarted = TrackerStore.create(endpoint("tracker_store"), domain)  # a new process would do exactly this
    loaded = await restarted.retrieve(sender)
    assert loaded is not None and loaded.latest_message is not None
    assert loaded.latest_message.text == "mera portfolio kitna hai"


def test_locks_are_shared_through_redis_when_configured(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert isinstance(LockStore.create(endpoint("lock_store")), InMemoryLockStore)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("RASA_LOCK_PREFIX", f"test{uuid.uuid4().hex[:6]}")
    first, second = LockStore.create(endpoint("lock_store")), LockStore.create(endpoint("lock_store"))
    assert isinstance(first, RedisLockStore) and isinstance(second, RedisLockStore)
    lock = first.issue_ticket("919800000001")  # one replica takes a ticket ...
    assert second.get_or_create_lock("919800000001").last_issued == lock  # ... the other one sees it
    first.cleanup("919800000001", lock)


class CountingOutbox(OutboxEventBroker):
    """The real outbox broker (SQLite file, HTTP sink never reached), recording each durable write's size."""

    writes: list[int]

    def publish_many(self, events: list[dict[str, Any]]) -> None:
        self.writes.append(len(events))
        super().publish_many(events)


async def test_a_turn_is_streamed_to_the_outbox_in_one_write_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{tmp_path}/tracker.db")
    broker = CountingOutbox(str(tmp_path / "outbox.db"), HttpSink("http://127.0.0.1:1", "unused"))
    broker.writes = []
    store = EnvSQLTrackerStore(domain=Domain.empty(), event_broker=broker)
    sender = "919800000042"
    tracker = DialogueStateTracker(sender, [])
    for event in [
        UserUttered("nav of flexi cap", {"name": "check_nav", "confidence": 0.95}),
        ActionExecuted("action_check_nav"),
        SlotSet("scheme", "Flexi Cap"),
        BotUttered("The NAV of Flexi Cap is 123.45."),
        ActionExecuted("action_listen"),
    ]:
        tracker.update(event)
    await store.save(tracker)
    assert broker.writes == [5]  # one fsync for the turn, not five
    rows = [json.loads(body) for _, body in broker.outbox.peek(10)]
    assert [(r["sender_id"], r["event"]) for r in rows] == [
        (sender, "user"), (sender, "action"), (sender, "slot"), (sender, "bot"), (sender, "action")
    ]
    assert len(broker.outbox) == 5
    broker.outbox.close()
