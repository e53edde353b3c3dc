"""Who has proved what: verification sessions and one-time-password issuing, kept on the action side only.

The tracker Rasa sends with every action call is the caller's word: its slots can say anything. So access to an
account is never read from slots. It is a record this module writes when the account API has confirmed a code,
keyed by the conversation (the channel that proved the sender, and the sender id), and checked on every answer:

- `verified:<conversation>` -> investor id, expiring after `ACCOUNTS_VERIFICATION_IDLE_SECONDS` without an
  answer (each answer pushes the expiry back), sealed with an HMAC keyed by `ACTIONS_SESSION_KEY`, which only
  the action server holds, so a record written by anything else that can reach Redis is refused;
- `otp:<conversation>` -> the pending code's id and the number it went to, so a tracker cannot point the form
  at another investor's code;
- `issued:<number>` and `issued:<conversation>` -> codes issued in the current window
  (`ACCOUNTS_OTP_MAX_PER_WINDOW` per `ACCOUNTS_OTP_WINDOW_SECONDS`), so nobody can flood an investor with SMS.

Redis (`REDIS_URL`) makes the records shared by every action-server replica; without it (embedded mode, one
process) they live in memory. Keys hold a hash of the conversation, never a phone number. Redis trouble fails
closed: the caller is told the account system is unavailable (`ApiUnavailable`), never let through.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from rasa_sdk import Tracker

from actions.api import ApiUnavailable
from common.config import env_float, env_int, env_secret, env_str

logger = logging.getLogger(__name__)

LAPSED_NOTICE_SECONDS = 24 * 3600


class Records(Protocol):
    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def put(self, key: str, value: dict[str, Any], ttl: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def count(self, key: str, window: float) -> int:
        """Add one to the counter of the current window and return it."""


class MemoryRecords:
    """One process's records (the embedded mode): bounded by expiry, swept on write."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.data: dict[str, tuple[float, Any]] = {}

    def _live(self, key: str) -> Any:
        entry = self.data.get(key)
        if entry is None or entry[0] <= self.clock():
            self.data.pop(key, None)
            return None
        return entry[1]

    def _sweep(self) -> None:
        if len(self.data) > 10_000:
            now = self.clock()
            for key in [k for k, (expires, _) in self.data.items() if expires <= now]:
                del self.data[key]

    async def get(self, key: str) -> dict[str, Any] | None:
        return self._live(key)

    async def put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        self._sweep()
        self.data[key] = (self.clock() + ttl, dict(value))

    async def delete(self, key: str) -> None:
        self.data.pop(key, None)

    async def count(self, key: str, window: float) -> int:
        self._sweep()
        current = self._live(key) or 0
        expires = self.data[key][0] if key in self.data else self.clock() + window
        self.data[key] = (expires, current + 1)
        return int(current + 1)


class RedisRecords:
    """Records in Redis under `prefix`; every key has an expiry. Errors raise `ApiUnavailable` (fail closed)."""

    def __init__(self, url: str, prefix: str) -> None:
        from redis import asyncio as aioredis

        self.prefix = prefix
        self.redis = aioredis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return await getattr(self.redis, method)(*args, **kwargs)
        except Exception as exc:
            raise ApiUnavailable(f"verification store unavailable: {type(exc).__name__}") from exc

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = await self._call("get", self.prefix + key)
        return None if raw is None else dict(json.loads(raw))

    async def put(self, key: str, value: dict[str, Any], ttl: float) -> None:
        await self._call("set", self.prefix + key, json.dumps(value), px=max(int(ttl * 1000), 1))

    async def delete(self, key: str) -> None:
        await self._call("delete", self.prefix + key)

    async def count(self, key: str, window: float) -> int:
        async def _incr() -> int:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.set(self.prefix + key, 0, px=max(int(window * 1000), 1), nx=True)  # the window starts
                pipe.incr(self.prefix + key)
                _, value = await pipe.execute()
            return int(value)

        try:
            return await _incr()
        except Exception as exc:
            raise ApiUnavailable(f"verification store unavailable: {type(exc).__name__}") from exc


@dataclass(frozen=True)
class Conversation:
    """A conversation as its channel proved it: WhatsApp ids come only from signed webhooks (docs/security.md)."""

    channel: str
    sender_id: str

    @classmethod
    def of(cls, tracker: Tracker) -> Conversation:
        return cls(str(tracker.get_latest_input_channel() or "unknown"), str(tracker.sender_id or ""))

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.channel}\x00{self.sender_id}".encode()).hexdigest()[:32]


def _number_key(mobile: str) -> str:
    return hashlib.sha256(mobile.encode()).hexdigest()[:32]


class Sessions:
    """Verification sessions, pending codes and the issuing limit, over one `Records` backend."""

    def __init__(self, records: Records, idle_seconds: float, max_codes: int, window: float,
                 key: str = "dev-session-key") -> None:
        self.records, self.idle_seconds, self.max_codes, self.window = records, idle_seconds, max_codes, window
        self.key = key

    def _seal(self, conversation: Conversation, investor_id: str) -> str:
        """A MAC over (conversation, investor) with a key only the action server holds: a record written into
        Redis by anyone else (a compromised pod sharing the Redis credentials) proves nothing."""
        message = f"{conversation.key}\x00{investor_id}".encode()
        return hmac.new(self.key.encode(), message, hashlib.sha256).hexdigest()

    async def verified_investor(self, conversation: Conversation) -> str | None:
        """The investor this conversation proved to be, if it did and has been active; pushes the expiry back."""
        record = await self.records.get(f"verified:{conversation.key}")
        if record is None:
            return None
        investor_id = str(record.get("investor_id", ""))
        if not hmac.compare_digest(str(record.get("seal", "")), self._seal(conversation, investor_id)):
            logger.warning("actions.session.forged record refused")  # no ids: the key is a hash anyway
            return None
        await self.records.put(f"verified:{conversation.key}", record, self.idle_seconds)
        return investor_id

    async def mint(self, conversation: Conversation, investor_id: str) -> None:
        await self.records.delete(f"otp:{conversation.key}")
        record = {"investor_id": investor_id, "at": time.time(), "seal": self._seal(conversation, investor_id)}
        await self.records.put(f"verified:{conversation.key}", record, self.idle_seconds)
        await self.records.put(f"lapsed:{conversation.key}", {}, LAPSED_NOTICE_SECONDS)

    async def lapsed(self, conversation: Conversation) -> bool:
        """True when this conversation was verified earlier today but is not now (the investor is told why)."""
        return await self.records.get(f"lapsed:{conversation.key}") is not None

    async def end(self, conversation: Conversation) -> None:
        await self.records.delete(f"verified:{conversation.key}")

    async def issue_allowed(self, conversation: Conversation, mobile: str) -> bool:
        """Count one more code for this number and this conversation; False once either is over the limit."""
        by_number = await self.records.count(f"issued:n:{_number_key(mobile)}", self.window)
        by_conversation = await self.records.count(f"issued:c:{conversation.key}", self.window)
        return max(by_number, by_conversation) <= self.max_codes

    async def remember_code(self, conversation: Conversation, otp_id: str, mobile: str) -> None:
        await self.records.put(f"otp:{conversation.key}", {"otp_id": otp_id, "mobile": mobile}, self.window)

    async def pending_code(self, conversation: Conversation) -> dict[str, Any] | None:
        return await self.records.get(f"otp:{conversation.key}")

    async def forget_code(self, conversation: Conversation) -> None:
        await self.records.delete(f"otp:{conversation.key}")


_sessions: dict[int, Sessions] = {}


def get_sessions() -> Sessions:
    """The process's sessions for the running loop (rasa-sdk has no start-up hook; see `get_client`)."""
    loop_id = id(asyncio.get_running_loop())
    made = _sessions.get(loop_id)
    if made is None:
        url = env_str("REDIS_URL", "")
        prefix = env_str("ACCOUNTS_CACHE_PREFIX", "mfa:accounts:") + "session:"
        records: Records = MemoryRecords()
        if url:
            records = RedisRecords(url, prefix)
        made = Sessions(records, idle_seconds=env_float("ACCOUNTS_VERIFICATION_IDLE_SECONDS", 600.0),
                        max_codes=env_int("ACCOUNTS_OTP_MAX_PER_WINDOW", 3),
                        window=env_float("ACCOUNTS_OTP_WINDOW_SECONDS", 900.0),
                        key=env_secret("ACTIONS_SESSION_KEY", "dev-session-key"))
        _sessions.clear()  # one loop per process in the server; tests get a fresh set per loop
        _sessions[loop_id] = made
    return made
