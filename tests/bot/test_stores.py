"""The stores named in endpoints.yml follow the environment: SQL trackers survive a restart, locks go to Redis."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig, read_endpoint_config

from bot import paths


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
