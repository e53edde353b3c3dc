"""The replicas consuming one queue, and which partitions belong to whom (needs REDIS_URL).

RabbitMQ 3.x's single active consumer activates whichever replica subscribed first, so on its own every
partition would stay with the first replica and the others would idle as standbys. So each replica heartbeats
into a Redis sorted set `<queue>:members` (scored by Redis's own clock; a member that missed its heartbeats for
`member_ttl` seconds drops out) and, with the members sorted, partition `i` belongs to `members[i % n]`. The
transport yields the partitions that are not its own (handoff/transport.py). Safety never depends on this
view: two replicas that disagree still get one active consumer per partition from RabbitMQ; a wrong view only
costs balance. Without Redis (or while it is away) a replica owns what RabbitMQ gives it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from typing import Any

logger = logging.getLogger(__name__)

# ZADD me now; drop members older than the TTL; keep the set alive; return the members (all in Redis's clock)
_HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 3)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


class Group:
    """Membership of one consumer group; `generation` goes up whenever the member list changes."""

    def __init__(self, redis: Any, key: str, *, interval: float = 2.0, member_ttl: float = 10.0) -> None:
        self.redis = redis
        self.key = key
        self.interval = interval
        self.member_ttl = member_ttl
        self.member_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.members: list[str] = []
        self.generation = 0
        self._script = redis.register_script(_HEARTBEAT)
        self._task: asyncio.Task | None = None

    def owns(self, index: int, partitions: int) -> bool:
        members = self.members
        if not members or self.member_id not in members:
            return True
        return members[index % len(members)] == self.member_id

    async def beat(self) -> list[str]:
        raw = await self._script(keys=[self.key], args=[self.member_id, int(self.member_ttl * 1000)])
        members = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in raw)
        if members != self.members:
            logger.info("Consumer group %s: %d member(s)", self.key, len(members))
            self.members = members
            self.generation += 1
        return members

    async def start(self) -> None:
        try:
            await self.beat()
        except Exception:  # Redis away: consume anyway (RabbitMQ keeps it safe), join when it is back
            logger.exception("Consumer group %s: first heartbeat failed", self.key)
        self._task = asyncio.get_running_loop().create_task(self._beat_forever())

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("Consumer group %s: heartbeat failed", self.key, exc_info=True)

    def status(self) -> dict[str, Any]:
        return {"member": self.member_id, "members": len(self.members)}

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        try:  # the others take our partitions at their next heartbeat, not after our expiry
            await self.redis.zrem(self.key, self.member_id)
        except Exception:
            logger.warning("Consumer group %s: leaving failed", self.key, exc_info=True)
