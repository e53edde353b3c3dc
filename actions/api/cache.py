"""Short-lived cache for account data that may be slightly stale (NAV, portfolio, mobile look-up).

Redis when `REDIS_URL` is set, so every action-server replica shares it; an in-process TTL cache otherwise
(the embedded mode). A cache failure is never an investor-visible failure: it is logged and treated as a miss.
Entries carry the time they were stored, so a caller can serve a stale copy (within its own limit) when the API
is down.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class Cache(Protocol):
    async def get(self, key: str) -> tuple[Any, float] | None: ...

    async def set(self, key: str, value: Any, keep_seconds: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def delete_prefix(self, prefix: str) -> None:
        """Drop every entry whose key starts with `prefix` (e.g. all of one investor's portfolio views)."""
        ...

    async def close(self) -> None: ...


class MemoryCache:
    """TTL dict for one process; bounded so a long-running action server cannot grow without limit."""

    def __init__(self, max_entries: int = 10000, clock: Any = time.time) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self.data: dict[str, tuple[float, float, Any]] = {}

    async def get(self, key: str) -> tuple[Any, float] | None:
        entry = self.data.get(key)
        if entry is None:
            return None
        expires, stored_at, value = entry
        if expires <= self.clock():
            self.data.pop(key, None)
            return None
        return value, stored_at

    async def set(self, key: str, value: Any, keep_seconds: float) -> None:
        if len(self.data) >= self.max_entries:
            now = self.clock()
            expired = [k for k, (exp, _, _) in self.data.items() if exp <= now]
            for k in expired or list(self.data)[: self.max_entries // 10]:
                self.data.pop(k, None)
        now = self.clock()
        self.data[key] = (now + keep_seconds, now, value)

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)

    async def delete_prefix(self, prefix: str) -> None:
        for key in [k for k in self.data if k.startswith(prefix)]:
            self.data.pop(key, None)

    async def close(self) -> None:
        self.data.clear()


class RedisCache:
    """JSON values in Redis under `prefix`, with an explicit expiry on every key."""

    def __init__(self, url: str, prefix: str) -> None:
        from redis import asyncio as aioredis

        self.prefix = prefix
        self.redis = aioredis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)

    async def get(self, key: str) -> tuple[Any, float] | None:
        try:
            raw = await self.redis.get(self.prefix + key)
        except Exception as exc:  # any Redis trouble is a cache miss, never a failed answer
            logger.warning("cache get failed: %s", exc)
            return None
        if raw is None:
            return None
        entry = json.loads(raw)
        return entry["v"], float(entry["t"])

    async def set(self, key: str, value: Any, keep_seconds: float) -> None:
        try:
            payload = json.dumps({"v": value, "t": time.time()})
            await self.redis.set(self.prefix + key, payload, px=max(int(keep_seconds * 1000), 1))
        except Exception as exc:
            logger.warning("cache set failed: %s", exc)

    async def delete(self, key: str) -> None:
        try:
            await self.redis.delete(self.prefix + key)
        except Exception as exc:
            logger.warning("cache delete failed: %s", exc)

    async def delete_prefix(self, prefix: str) -> None:
        """SCAN for the keys (glob characters in the prefix matched literally) and delete them in batches."""
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", self.prefix + prefix) + "*"
        try:
            batch: list[bytes] = []
            async for key in self.redis.scan_iter(match=pattern, count=500):
                batch.append(key)
                if len(batch) >= 500:
                    await self.redis.delete(*batch)
                    batch.clear()
            if batch:
                await self.redis.delete(*batch)
        except Exception as exc:
            logger.warning("cache delete failed: %s", exc)

    async def close(self) -> None:
        await self.redis.close()
