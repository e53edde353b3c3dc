"""Rasa's tracker and lock stores, chosen from the environment so one endpoints.yml serves every deployment.

Rasa expands `${VAR}` in endpoints.yml but has no defaults, and a store type cannot depend on whether a
variable is set. These two classes, named in endpoints.yml, read:

- `TRACKER_STORE_URL` (default `sqlite:///var/rasa-tracker.db`): conversations survive a Rasa restart;
  PostgreSQL in production (`postgresql://user:pass@host/db`).
- `REDIS_URL` (unset: in-process locks): with several Rasa replicas the per-conversation lock must be
  shared, so it lives in Redis.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore

DEFAULT_TRACKER_STORE_URL = "sqlite:///var/rasa-tracker.db"


class EnvSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on the database named by TRACKER_STORE_URL."""

    def __init__(self, domain: Any = None, host: str | None = None, event_broker: Any = None, **kwargs: Any) -> None:
        url = host or os.environ.get("TRACKER_STORE_URL") or DEFAULT_TRACKER_STORE_URL
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(domain=domain, host=url, event_broker=event_broker, **kwargs)


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
