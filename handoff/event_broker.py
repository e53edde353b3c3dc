"""Rasa event broker with a durable outbox: no tracker event is lost when RabbitMQ is down or Rasa dies.

Rasa 3.6's `PikaEventBroker` publishes fire-and-forget, drops events until it is connected and keeps the
ones it failed to publish in memory only. This broker writes every event synchronously to a local SQLite
outbox inside `publish()` (Rasa streams events before it saves the tracker, so an event is on disk before
the conversation moves on) and a background task drains the outbox in order:

- to RabbitMQ (`AMQP_URL` set) with publisher confirms, deleting a row only after the broker confirmed it;
- or, with no RabbitMQ (embedded mode), by HTTP POST to the handoff service's `/internal/events`.

Delivery is at-least-once; every event carries `handoff_event_id` so the consumer can drop duplicates.

Rasa loads it from endpoints.yml (`event_broker: type: handoff.event_broker.OutboxEventBroker`). Every
setting may be given there or in the environment (docs/configuration.md). This module must stay light:
it runs inside Rasa and imports nothing of the handoff service but `handoff.topology`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

from rasa.core.brokers.broker import EventBroker

from handoff import topology

logger = logging.getLogger(__name__)


class Outbox:
    """An append-only SQLite queue: `append` is durable on return (WAL, synchronous=FULL)."""

    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)")

    def append(self, body: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO outbox (body) VALUES (?)", (body,))

    def peek(self, limit: int) -> list[tuple[int, str]]:
        with self._lock:
            return list(self._db.execute("SELECT id, body FROM outbox ORDER BY id LIMIT ?", (limit,)))

    def delete_through(self, last_id: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM outbox WHERE id <= ?", (last_id,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class AmqpSink:
    """Publishes batches to the fanout exchange and returns only once RabbitMQ confirmed every message."""

    def __init__(self, url: str, exchange: str, queues: list[str], delivery_limit: int) -> None:
        self.url, self.exchange_name, self.queues, self.delivery_limit = url, exchange, queues, delivery_limit
        self._connection: Any = None
        self._exchange: Any = None

    async def _ensure(self) -> Any:
        import aio_pika

        if self._connection is None or self._connection.is_closed:
            if self._connection is not None:
                await self._connection.close()
            self._connection = await aio_pika.connect_robust(self.url, timeout=10)
            self._exchange = None
        if self._exchange is None:
            channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
            self._exchange, _ = await topology.declare(channel, self.exchange_name, self.queues, self.delivery_limit)
        return self._exchange

    async def send(self, batch: list[tuple[int, str]]) -> None:
        import aio_pika

        exchange = await self._ensure()
        try:
            await asyncio.wait_for(
                asyncio.gather(
                    *(
                        exchange.publish(
                            aio_pika.Message(
                                body.encode(),
                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                content_type="application/json",
                                message_id=json.loads(body).get("handoff_event_id"),
                            ),
                            routing_key="",
                            mandatory=True,
                        )
                        for _, body in batch
                    )
                ),
                timeout=15,
            )
        except Exception:
            self._exchange = None  # re-open the channel next time: it may be closed after an error
            raise

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


class HttpSink:
    """Embedded mode: POST the batch to the handoff service, which commits before answering 200."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/") + "/internal/events"
        self.token = token
        self._session: Any = None

    async def send(self, batch: list[tuple[int, str]]) -> None:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        payload = "[" + ",".join(body for _, body in batch) + "]"
        async with self._session.post(
            self.url,
            data=payload,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        ) as resp:
            if resp.status != 200:
                raise RuntimeError(f"handoff service answered {resp.status}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _setting(kwargs: dict[str, Any], key: str, env: str, default: str) -> str:
    value = kwargs.get(key)
    if value in (None, ""):
        value = os.environ.get(env) or default
    return str(value)


class OutboxEventBroker(EventBroker):
    """Durable outbox in front of RabbitMQ (or of the handoff service's HTTP intake in embedded mode)."""

    def __init__(
        self,
        outbox_path: str,
        sink: AmqpSink | HttpSink,
        batch_size: int = 200,
        max_backoff: float = 5.0,
    ) -> None:
        """Create the broker.

        Args:
            outbox_path: SQLite file of not-yet-confirmed events; put it on a persistent volume per replica.
            sink: where the outbox drains to (RabbitMQ with confirms, or the handoff service over HTTP).
            batch_size: events sent per round trip.
            max_backoff: longest pause, in seconds, between attempts while the sink is unreachable.
        """
        super().__init__()
        self.outbox = Outbox(outbox_path)
        self.sink = sink
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._closing = False

    @classmethod
    async def from_endpoint_config(
        cls, broker_config: Any, event_loop: asyncio.AbstractEventLoop | None = None
    ) -> OutboxEventBroker:
        """Build from endpoints.yml; never fails because RabbitMQ is down (the outbox holds the events)."""
        kwargs = dict(getattr(broker_config, "kwargs", {}) or {})
        amqp = str(getattr(broker_config, "url", None) or os.environ.get("AMQP_URL") or "")
        exchange = _setting(kwargs, "exchange_name", "HANDOFF_EXCHANGE", topology.DEFAULT_EXCHANGE)
        queues = kwargs.get("queues") or [os.environ.get("HANDOFF_QUEUE") or topology.DEFAULT_QUEUE]
        if isinstance(queues, str):
            queues = [queues]
        limit = int(_setting(kwargs, "delivery_limit", "HANDOFF_DELIVERY_LIMIT", str(topology.DEFAULT_DELIVERY_LIMIT)))
        sink: AmqpSink | HttpSink
        if amqp:
            sink = AmqpSink(amqp, exchange, list(queues), limit)
        else:
            sink = HttpSink(
                _setting(kwargs, "handoff_url", "HANDOFF_URL", "http://127.0.0.1:8091"),
                _setting(kwargs, "internal_token", "HANDOFF_INTERNAL_TOKEN", "dev-token"),
            )
        broker = cls(_setting(kwargs, "outbox_path", "HANDOFF_OUTBOX_PATH", "var/rasa-outbox.db"), sink)
        broker.start()
        logger.info("Event outbox draining to %s", type(sink).__name__)
        return broker

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_event_loop().create_task(self._drain_forever())

    def publish(self, event: dict[str, Any]) -> None:
        """Durably record `event` before returning; sending happens in the background."""
        body = dict(event)
        body.setdefault("handoff_event_id", uuid.uuid4().hex)
        self.outbox.append(json.dumps(body, default=str))
        self._wake.set()

    def is_ready(self) -> bool:
        return True  # publishing only needs the local outbox

    async def drain_once(self) -> int:
        """Send one batch; returns how many events left the outbox."""
        batch = self.outbox.peek(self.batch_size)
        if not batch:
            return 0
        await self.sink.send(batch)
        self.outbox.delete_through(batch[-1][0])
        return len(batch)

    async def _drain_forever(self) -> None:
        backoff = 0.2
        while not self._closing:
            try:
                if await self.drain_once() == 0:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), timeout=1.0)
                    except asyncio.TimeoutError:
                        pass
                backoff = 0.2
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("Event outbox: %d waiting, sink unavailable (%s); retrying", len(self.outbox), exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    async def close(self) -> None:
        """Try for a few seconds to empty the outbox; what is left is sent after the next start."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except BaseException:  # noqa: S110 - cancelled on purpose
                pass
        try:
            for _ in range(20):
                if await asyncio.wait_for(self.drain_once(), timeout=5) == 0:
                    break
        except Exception as exc:
            logger.warning("Event outbox: %d events kept for the next start (%s)", len(self.outbox), exc)
        await self.sink.close()
        self.outbox.close()
