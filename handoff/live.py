"""Live updates for open inbox pages, across replicas: the SSE route subscribes tabs to the hub.

Whatever replica committed a change (an ingested batch, an agent's action) publishes it once; with
`REDIS_URL` it goes through Redis pub/sub (`<queue>.live`) to every replica, without it straight to this
process's own tabs (the embedded mode). Each replica then fans it out to the tabs open on it, in the order
published. Who receives what is not decided here, and never before the pub/sub: the hub asks its `audience`
(handoff.inbox.live_audience, the ticket API's own access rule and masking, one database read per batch) where
the tab is, when the change arrives, and sends nothing if that fails. Signing out travels the same way, so a
session's streams end at once on every replica.

Each tab gets a bounded queue; a tab too slow to keep up is told to reload instead of holding memory. If the
pub/sub was lost for a while, every tab here is told to reload when it is back (it may have missed changes).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from handoff.models import Agent

logger = logging.getLogger(__name__)

Change = tuple[str, dict[str, Any]]  # (kind: message | ticket, data)
Item = tuple[str, Any]  # ("changes", [Change...]) | ("close", session id) | ("resync", None)


class Subscriber:
    """One open tab: the agent as signed in (id and role, for the access rule) and its web session."""

    def __init__(self, agent: Agent, session_id: str) -> None:
        self.agent = agent
        self.session_id = session_id
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
        self.overflowed = False
        self.closed = False


Delivery = tuple[Subscriber, str, dict[str, Any]]  # (tab, event name, data)
Audience = Callable[[list[Change], list[Subscriber]], Awaitable[Iterable[Delivery]]]


class Bus(Protocol):
    async def start(self, receive: Callable[[Item], None]) -> None: ...
    async def send(self, item: Item) -> None: ...
    async def stop(self) -> None: ...


class LocalBus:
    """No Redis: what this replica publishes is all its tabs will see (one replica, the embedded mode)."""

    def __init__(self) -> None:
        self._receive: Callable[[Item], None] | None = None

    async def start(self, receive: Callable[[Item], None]) -> None:
        self._receive = receive

    async def send(self, item: Item) -> None:
        assert self._receive is not None
        self._receive(item)

    async def stop(self) -> None:
        self._receive = None


class RedisBus:
    """Redis pub/sub on one channel; resubscribes after a lost connection, then asks for a resync."""

    def __init__(self, redis: Any, channel: str) -> None:
        self.redis, self.channel = redis, channel
        self._task: asyncio.Task | None = None

    async def start(self, receive: Callable[[Item], None]) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.channel)  # subscribed before the service takes any event or request
        self._task = asyncio.get_running_loop().create_task(self._listen(pubsub, receive))

    async def _listen(self, pubsub: Any, receive: Callable[[Item], None]) -> None:
        pause = 0.5
        while True:
            try:
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        kind, payload = json.loads(message["data"])
                        receive((kind, payload))
                        pause = 0.5
            except asyncio.CancelledError:
                await pubsub.close()
                raise
            except Exception as exc:
                logger.warning("Live updates: Redis subscription lost (%s); resubscribing", type(exc).__name__)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 10.0)
            try:
                await pubsub.close()
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.channel)
                receive(("resync", None))
            except Exception:
                logger.warning("Live updates: Redis still away", exc_info=True)

    async def send(self, item: Item) -> None:
        await self.redis.publish(self.channel, json.dumps(item, default=str))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


class LiveHub:
    def __init__(self, audience: Audience, bus: Bus | None = None) -> None:
        self.audience = audience
        self.bus: Bus = bus or LocalBus()
        self.subscribers: set[Subscriber] = set()
        self._outgoing: asyncio.Queue[Item] = asyncio.Queue()
        self._incoming: asyncio.Queue[Item] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> None:
        await self.bus.start(self._incoming.put_nowait)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._send_forever()), loop.create_task(self._fan_out_forever())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.bus.stop()

    def subscribe(self, agent: Agent, session_id: str) -> Subscriber:
        sub = Subscriber(agent, session_id)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        self.publish_many([(kind, data)])

    def publish_many(self, changes: list[Change]) -> None:
        """Queue committed changes for every replica's tabs, in order (never blocks)."""
        if changes:
            self._outgoing.put_nowait(("changes", changes))

    def close_session(self, session_id: str) -> None:
        """A signed-out session's tabs, on every replica, stop receiving: their streams end, the pages reload."""
        self._outgoing.put_nowait(("close", session_id))

    async def _send_forever(self) -> None:
        while True:
            item = await self._outgoing.get()
            try:
                await self.bus.send(item)
            except Exception as exc:  # the pub/sub is away: at least this replica's tabs are told
                logger.warning("Live update not shared with other replicas (%s)", type(exc).__name__)
                self._incoming.put_nowait(item)

    async def _fan_out_forever(self) -> None:
        while True:
            items = [await self._incoming.get()]
            while not self._incoming.empty():
                items.append(self._incoming.get_nowait())
            changes: list[Change] = []
            for kind, payload in items:
                if kind == "changes":
                    changes += [(str(k), dict(d)) for k, d in payload]
                    continue
                await self._deliver(changes)  # what came before it, first
                changes = []
                self._end_streams(payload if kind == "close" else None)
            await self._deliver(changes)

    async def _deliver(self, changes: list[Change]) -> None:
        """Send each change, in order, to the tabs the audience lets see it; on any error to none (fail closed)."""
        subs = [sub for sub in self.subscribers if not sub.closed]  # a signed-out tab gets nothing more
        if not subs or not changes:
            return
        try:
            deliveries = list(await self.audience(changes, subs))
        except Exception:
            logger.exception("Live update not sent (the tabs catch up on their next refresh)")
            return
        for sub, event, data in deliveries:
            self._put(sub, f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n")

    def _end_streams(self, session_id: str | None) -> None:
        """End the streams of one session, or (None, after a lost pub/sub) of every tab here."""
        for sub in list(self.subscribers):
            if session_id is None or sub.session_id == session_id:
                sub.closed = True
                self._put(sub, ": stream ends\n\n")  # wakes the stream so it notices

    @staticmethod
    def _put(sub: Subscriber, frame: str) -> None:
        try:
            sub.queue.put_nowait(frame)
        except asyncio.QueueFull:
            sub.overflowed = True

    @property
    def agents_connected(self) -> int:
        return len({s.agent.id for s in self.subscribers})
