"""Small shared state of the channel: dedupe marks, 24-hour windows, rate-limit schedules, send records,
reply ids offered to each investor (offers.py), and the live members of the consumer group (intake.py divides
the partitions among them).

`RedisStore` shares it across every Rasa replica (REDIS_URL set); `MemoryStore` is the embedded mode's
per-process equivalent with the same semantics, so the rest of the channel never asks which one it has.

The two rate limiters are *reservations*, computed atomically in one Lua call each, using Redis's clock
so replicas with drifting clocks agree:

* `take_slot` (per phone number throughput): at most `limit` sends in any `window`-second window, counted at
  the moment each send is *taken* (just before its request), not when it was planned: a sender whose event loop
  was busy cannot fire a stale reservation together with fresh ones. Returns 0 (taken) or how long to wait.
* `reserve_paced` (per recipient, Meta's pair rate): GCRA with one send per `interval` and a burst of `burst`.

Both answer with the exact time to wait, so waiting callers do not spin.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

# Lua fragments shared by the scripts below (Redis scripts cannot call each other).
_NOW_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# Sliding window: 0 when a slot was taken now, otherwise the seconds until one frees up.
_TAKE_SLOT_LUA = """
local function take_slot(key, limit, window, member)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) < limit then
    redis.call('ZADD', key, now, member)
    redis.call('PEXPIRE', key, math.ceil(window * 1000) + 1000)
    return 0
  end
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + window - now + 0.001
end
"""

# GCRA: the delay before the reserved send (reservation committed), or -delay when over max_delay (nothing kept).
_RESERVE_PACED_LUA = """
local function reserve_paced(key, interval, burst, max_delay)
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local delay = tat - (burst - 1) * interval - now
  if delay < 0 then delay = 0 end
  if delay > max_delay then return -delay end
  local new_tat = tat + interval
  redis.call('SET', key, tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
  return delay
end
"""

SLIDING_WINDOW_LUA = (
    _NOW_LUA + _TAKE_SLOT_LUA + "return tostring(take_slot(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]))"
)

GCRA_LUA = (
    _NOW_LUA
    + _RESERVE_PACED_LUA
    + "return tostring(reserve_paced(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])))"
)

# The first attempt of a send in one round trip: claim the idempotency key (lease), check the 24-hour window,
# reserve the recipient's pair-rate slot, take a throughput slot. Every await before the request is a chance
# for Rasa's event loop to start another message's inference (~15-20 ms on two cores): one call, not five.
# Returns {verdict, seconds}: go | wait (reserved pair slot due in `seconds`, throughput not taken yet) |
# busy (key claimed by someone else) | window_closed | pair_limited (next slot in `seconds`).
PREPARE_SEND_LUA = (
    _NOW_LUA
    + _TAKE_SLOT_LUA
    + _RESERVE_PACED_LUA
    + """
if not redis.call('SET', KEYS[1], 'pending', 'NX', 'PX', ARGV[1]) then return {'busy', '0'} end
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[2]) == 0 then return {'window_closed', '0'} end
local pair = reserve_paced(KEYS[3], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
if pair < 0 then return {'pair_limited', tostring(-pair)} end
if pair > 0 then return {'wait', tostring(pair)} end
if take_slot(KEYS[4], tonumber(ARGV[6]), tonumber(ARGV[7]), ARGV[8]) > 0 then return {'wait', '0'} end
return {'go', '0'}
"""
)


# An investor message accepted in one round trip: its id claimed once (dedupe), and the investor's 24-hour
# window (re)opened from the time they sent it, never moved backwards by a late duplicate or retry.
ACCEPT_INBOUND_LUA = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
if tonumber(ARGV[3]) > 0 then
  local current = redis.call('GET', KEYS[2])
  if (not current) or tonumber(current) < tonumber(ARGV[2]) then
    redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
  end
end
return 1
"""


# A delivery status, once per (message, status), in one round trip: counted, and kept unless the message already
# has a later one -- Meta does not order status webhooks, and a late 'delivered' must not overwrite 'read'.
RECORD_STATUS_LUA = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[3]) then return 0 end
redis.call('INCR', KEYS[3])
local current = redis.call('GET', KEYS[2])
if current and tonumber(cjson.decode(current)['rank'] or 0) > tonumber(ARGV[2]) then return 1 end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
return 1
"""


# Reply ids offered to one investor (offers.py): a sorted set scored by expiry, so each id lives `ttl` seconds
# from the last time it was offered; expired ids are dropped on the next offer and the set is capped.
OFFER_LUA = (
    _NOW_LUA
    + """
local ttl = tonumber(ARGV[1])
for i = 3, #ARGV do redis.call('ZADD', KEYS[1], now + ttl, ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if excess > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, excess - 1) end
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl * 1000))
return 1
"""
)
OFFERED_LUA = (
    _NOW_LUA
    + """
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if expires and tonumber(expires) > now then return 1 end
return 0
"""
)
MAX_OFFERED = 500  # ids kept per investor (the ones closest to expiry go first)


@dataclass(frozen=True)
class StatusKeys:
    seen: str  # this (message, status) pair was recorded
    record: str  # the message's latest status
    counter: str  # how many of this status


@dataclass(frozen=True)
class SendKeys:
    out: str  # idempotency key of this outgoing message
    window: str | None  # the recipient's 24-hour window; None = templates, no window check
    pair: str  # the recipient's pair-rate schedule
    rate: str  # the number's throughput window


@dataclass(frozen=True)
class SendLimits:
    lease: float
    pair_interval: float
    pair_burst: int
    pair_max_delay: float
    rate_limit: int
    rate_window: float


@dataclass(frozen=True)
class SendPlan:
    """What `prepare_send` found; the Graph client acts on it (graph.py)."""

    verdict: str  # go | wait | busy | window_closed | pair_limited; graph.py adds claimed (slow path)
    seconds: float = 0.0


HEARTBEAT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], math.ceil(ttl * 1000) * 2)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""


class RateLimited(Exception):
    """The wait before the next send would exceed what the caller accepts."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"next slot in {wait:.1f}s")
        self.wait = wait


class StateStore(Protocol):
    async def claim(self, key: str, value: str, ttl: float) -> bool: ...
    async def put(self, key: str, value: str, ttl: float) -> None: ...
    async def get(self, key: str) -> str | None: ...
    async def delete(self, key: str) -> None: ...
    async def incr(self, key: str) -> int: ...
    async def take_slot(self, key: str, limit: int, window: float) -> float: ...
    async def reserve_paced(self, key: str, interval: float, burst: int, max_delay: float) -> float: ...
    async def prepare_send(self, keys: SendKeys, limits: SendLimits) -> SendPlan: ...
    async def accept_inbound(
        self, seen_key: str, seen_ttl: float, window_key: str, timestamp: int, window_ttl: float
    ) -> bool: ...
    async def record_status(self, keys: StatusKeys, record: dict[str, Any], rank: int, ttl: float) -> bool: ...
    async def offer(self, key: str, members: list[str], ttl: float) -> None: ...
    async def offered(self, key: str, member: str) -> bool: ...
    async def heartbeat(self, key: str, member: str, ttl: float) -> list[str]: ...
    async def leave(self, key: str, member: str) -> None: ...
    async def close(self) -> None: ...


class RedisStore:
    """State in Redis, shared by every replica. The client connects lazily (no I/O at construction)."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as aioredis

        self.redis: Any = aioredis.from_url(url, decode_responses=True)
        self._sliding = self.redis.register_script(SLIDING_WINDOW_LUA)
        self._gcra = self.redis.register_script(GCRA_LUA)
        self._heartbeat = self.redis.register_script(HEARTBEAT_LUA)
        self._prepare_send = self.redis.register_script(PREPARE_SEND_LUA)
        self._accept_inbound = self.redis.register_script(ACCEPT_INBOUND_LUA)
        self._record_status = self.redis.register_script(RECORD_STATUS_LUA)
        self._offer = self.redis.register_script(OFFER_LUA)
        self._offered = self.redis.register_script(OFFERED_LUA)

    async def claim(self, key: str, value: str, ttl: float) -> bool:
        return bool(await self.redis.set(key, value, nx=True, px=int(ttl * 1000)))

    async def put(self, key: str, value: str, ttl: float) -> None:
        await self.redis.set(key, value, px=max(int(ttl * 1000), 1))

    async def get(self, key: str) -> str | None:
        value = await self.redis.get(key)
        return None if value is None else str(value)

    async def delete(self, key: str) -> None:
        await self.redis.delete(key)

    async def incr(self, key: str) -> int:
        return int(await self.redis.incr(key))

    async def take_slot(self, key: str, limit: int, window: float) -> float:
        return float(await self._sliding(keys=[key], args=[limit, window, uuid.uuid4().hex]))

    async def reserve_paced(self, key: str, interval: float, burst: int, max_delay: float) -> float:
        delay = float(await self._gcra(keys=[key], args=[interval, burst, max_delay]))
        if delay < 0:
            raise RateLimited(-delay)
        return delay

    async def prepare_send(self, keys: SendKeys, limits: SendLimits) -> SendPlan:
        verdict, seconds = await self._prepare_send(
            keys=[keys.out, keys.window or keys.out, keys.pair, keys.rate],
            args=[
                int(limits.lease * 1000),
                "1" if keys.window else "0",
                limits.pair_interval,
                limits.pair_burst,
                limits.pair_max_delay,
                limits.rate_limit,
                limits.rate_window,
                uuid.uuid4().hex,
            ],
        )
        return SendPlan(str(verdict), float(seconds))

    async def accept_inbound(
        self, seen_key: str, seen_ttl: float, window_key: str, timestamp: int, window_ttl: float
    ) -> bool:
        args = [int(seen_ttl * 1000), timestamp, max(int(window_ttl * 1000), 0)]
        return bool(await self._accept_inbound(keys=[seen_key, window_key], args=args))

    async def record_status(self, keys: StatusKeys, record: dict[str, Any], rank: int, ttl: float) -> bool:
        value = json.dumps({**record, "rank": rank})
        args = [value, rank, int(ttl * 1000)]
        return bool(await self._record_status(keys=[keys.seen, keys.record, keys.counter], args=args))

    async def offer(self, key: str, members: list[str], ttl: float) -> None:
        """Add `members` to the set at `key`, each valid for `ttl` seconds from now (Redis's clock)."""
        await self._offer(keys=[key], args=[ttl, MAX_OFFERED, *members])

    async def offered(self, key: str, member: str) -> bool:
        return bool(await self._offered(keys=[key], args=[member]))

    async def heartbeat(self, key: str, member: str, ttl: float) -> list[str]:
        """Mark `member` alive (Redis's clock) and return every member seen within `ttl`, sorted."""
        return sorted(str(m) for m in await self._heartbeat(keys=[key], args=[member, ttl]))

    async def leave(self, key: str, member: str) -> None:
        await self.redis.zrem(key, member)

    async def close(self) -> None:
        await self.redis.close()


class MemoryStore:
    """The same semantics inside one process (embedded mode, no Redis)."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[str, float]] = {}
        self._slots: dict[str, list[float]] = {}
        self._members: dict[str, dict[str, float]] = {}

    def _live(self, key: str) -> str | None:
        item = self._values.get(key)
        if item is None:
            return None
        if item[1] < time.time():
            del self._values[key]
            return None
        return item[0]

    def _sweep(self) -> None:
        if len(self._values) > 100_000:  # bounded memory: drop expired entries now and then
            now = time.time()
            self._values = {k: v for k, v in self._values.items() if v[1] >= now}

    async def claim(self, key: str, value: str, ttl: float) -> bool:
        if self._live(key) is not None:
            return False
        self._sweep()
        self._values[key] = (value, time.time() + ttl)
        return True

    async def put(self, key: str, value: str, ttl: float) -> None:
        self._values[key] = (value, time.time() + ttl)

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)

    async def incr(self, key: str) -> int:
        value = int(self._live(key) or 0) + 1
        self._values[key] = (str(value), time.time() + 30 * 24 * 3600)
        return value

    async def take_slot(self, key: str, limit: int, window: float) -> float:
        now = time.time()
        slots = [t for t in self._slots.get(key, []) if t > now - window]
        self._slots[key] = slots
        if len(slots) < limit:
            slots.append(now)
            return 0.0
        return slots[0] + window - now + 0.001

    async def reserve_paced(self, key: str, interval: float, burst: int, max_delay: float) -> float:
        now = time.time()
        tat = max(float(self._live(key) or 0.0), now)
        delay = max(0.0, tat - (burst - 1) * interval - now)
        if delay > max_delay:
            raise RateLimited(delay)
        new_tat = tat + interval
        self._values[key] = (str(new_tat), new_tat + 1)
        return delay

    async def prepare_send(self, keys: SendKeys, limits: SendLimits) -> SendPlan:
        """Same steps as PREPARE_SEND_LUA; atomic here because nothing awaits in between."""
        if not await self.claim(keys.out, "pending", limits.lease):
            return SendPlan("busy")
        if keys.window and self._live(keys.window) is None:
            return SendPlan("window_closed")
        try:
            pair = await self.reserve_paced(keys.pair, limits.pair_interval, limits.pair_burst, limits.pair_max_delay)
        except RateLimited as exc:
            return SendPlan("pair_limited", exc.wait)
        if pair > 0:
            return SendPlan("wait", pair)
        if await self.take_slot(keys.rate, limits.rate_limit, limits.rate_window) > 0:
            return SendPlan("wait")
        return SendPlan("go")

    async def accept_inbound(
        self, seen_key: str, seen_ttl: float, window_key: str, timestamp: int, window_ttl: float
    ) -> bool:
        if not await self.claim(seen_key, "1", seen_ttl):
            return False
        current = self._live(window_key)
        if window_ttl > 0 and (current is None or int(current) < timestamp):
            self._values[window_key] = (str(timestamp), time.time() + window_ttl)
        return True

    async def record_status(self, keys: StatusKeys, record: dict[str, Any], rank: int, ttl: float) -> bool:
        if not await self.claim(keys.seen, "1", ttl):
            return False
        await self.incr(keys.counter)
        current = self._live(keys.record)
        if current is None or int(json.loads(current).get("rank", 0)) <= rank:
            self._values[keys.record] = (json.dumps({**record, "rank": rank}), time.time() + ttl)
        return True

    async def offer(self, key: str, members: list[str], ttl: float) -> None:
        self._sweep()
        for member in members:
            self._values[f"{key}\n{member}"] = ("1", time.time() + ttl)

    async def offered(self, key: str, member: str) -> bool:
        return self._live(f"{key}\n{member}") is not None

    async def heartbeat(self, key: str, member: str, ttl: float) -> list[str]:
        now = time.time()
        group = self._members.setdefault(key, {})
        group[member] = now
        for stale in [m for m, seen in group.items() if seen < now - ttl]:
            del group[stale]
        return sorted(group)

    async def leave(self, key: str, member: str) -> None:
        self._members.get(key, {}).pop(member, None)

    async def close(self) -> None:
        return None


def make_store(redis_url: str) -> StateStore:
    if redis_url:
        return RedisStore(redis_url)
    return MemoryStore()
