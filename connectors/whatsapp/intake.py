"""Durable, ordered intake: the webhook acknowledges Meta only once a message is safe, and each investor's
messages are handled one at a time, in order, by exactly one Rasa replica.

RabbitMQ (AMQP_URL set): `N` quorum queues `{prefix}.intake.{i}` bound to the direct exchange
`{prefix}.intake` with routing key `i = sha1(wa_id) % N`. Every replica subscribes to every partition with
prefetch 1; the queues are `x-single-active-consumer`, so RabbitMQ delivers each partition to one replica at a
time and hands it to another when that replica dies (its unacknowledged message is redelivered). An investor
therefore always lands on the same partition, and a partition is processed strictly sequentially: no two
messages of one investor run at once across replicas (which Rasa 3.6's non-atomic RedisLockStore cannot
guarantee), and they are handled in queue order. Publishing uses publisher confirms and persistent messages,
so the webhook's 200 means the message is replicated to the quorum queue's log. Consumers acknowledge only
after Rasa handled the message (`message.process()`); a message that keeps failing is rejected back until the
queue's `x-delivery-limit` is reached, then RabbitMQ dead-letters it (at-least-once dead-lettering) through
`{prefix}.dlx` into `{prefix}.dlq`, and its last error is kept in the state store for `connectors.whatsapp.dlq`.

Embedded mode (no AMQP_URL): one asyncio queue and worker per investor in this process. Ordered and
serialised per investor, but not durable: a crash loses what was queued. Fine for a laptop, not for production.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from common.pii import mask_phone
from connectors.whatsapp.models import InboundMessage
from connectors.whatsapp.store import StateStore

logger = logging.getLogger(__name__)

Handler = Callable[[InboundMessage], Awaitable[None]]
ERROR_TTL = 14 * 24 * 3600


def partition_of(wa_id: str, partitions: int) -> int:
    """Stable across processes and Python versions (unlike hash())."""
    return int.from_bytes(hashlib.sha1(wa_id.encode()).digest()[:8], "big") % partitions  # noqa: S324


def error_key(prefix: str, message_id: str) -> str:
    return f"{prefix}:dlq-error:{message_id}"


class Intake(Protocol):
    kind: str

    async def start(self, handler: Handler) -> None: ...
    async def put(self, messages: list[InboundMessage]) -> None: ...
    async def close(self) -> None: ...


class LocalIntake:
    """Embedded mode: per-investor asyncio queues, a worker per busy investor, failures retried then dropped."""

    kind = "local"

    def __init__(self, store: StateStore, prefix: str = "wa", delivery_limit: int = 5) -> None:
        self.store = store
        self.prefix = prefix
        self.delivery_limit = delivery_limit
        self._queues: dict[str, asyncio.Queue[InboundMessage]] = defaultdict(asyncio.Queue)
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._handler: Handler | None = None
        self.dead_letters: list[tuple[InboundMessage, str]] = []

    async def start(self, handler: Handler) -> None:
        self._handler = handler
        for wa_id, queue in self._queues.items():
            if not queue.empty():
                self._ensure_worker(wa_id)

    async def put(self, messages: list[InboundMessage]) -> None:
        for message in messages:
            self._queues[message.wa_id].put_nowait(message)
            if self._handler is not None:
                self._ensure_worker(message.wa_id)

    def _ensure_worker(self, wa_id: str) -> None:
        task = self._workers.get(wa_id)
        if task is None or task.done():
            self._workers[wa_id] = asyncio.create_task(self._work(wa_id))

    async def _work(self, wa_id: str) -> None:
        queue = self._queues[wa_id]
        assert self._handler is not None
        while not queue.empty():
            message = queue.get_nowait()
            for attempt in range(1, self.delivery_limit + 1):
                try:
                    await self._handler(message)
                    break
                except Exception as exc:
                    logger.exception("whatsapp.intake.failed id=%s attempt=%d", message.id, attempt)
                    if attempt == self.delivery_limit:
                        self.dead_letters.append((message, repr(exc)))
                        await self.store.put(error_key(self.prefix, message.id), repr(exc), ERROR_TTL)
        if queue.empty():
            self._queues.pop(wa_id, None)
            self._workers.pop(wa_id, None)

    async def drain(self) -> None:
        """Wait until every queued message was handled (tests, shutdown)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def close(self) -> None:
        for task in self._workers.values():
            task.cancel()
        self._workers.clear()


class AmqpIntake:
    """RabbitMQ partitions with single active consumer; see the module docstring for why."""

    kind = "amqp"

    def __init__(
        self,
        url: str,
        store: StateStore,
        prefix: str = "wa",
        partitions: int = 16,
        delivery_limit: int = 5,
    ) -> None:
        self.url = url
        self.store = store
        self.prefix = prefix
        self.partitions = partitions
        self.delivery_limit = delivery_limit
        self.exchange_name = f"{prefix}.intake"
        self.dlx_name = f"{prefix}.dlx"
        self.dlq_name = f"{prefix}.dlq"
        self._connection: Any = None
        self._publish_channel: Any = None
        self._exchange: Any = None
        self._consume_channels: list[Any] = []
        self._lock = asyncio.Lock()

    def queue_name(self, partition: int) -> str:
        return f"{self.prefix}.intake.{partition}"

    def queue_arguments(self) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-single-active-consumer": True,
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": self.dlx_name,
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",  # required by at-least-once dead-lettering
        }

    async def connect(self) -> None:
        """Connect (robustly: reconnects and re-declares after a broker restart) and declare the topology."""
        import aio_pika

        async with self._lock:
            if self._connection is not None:
                return
            connection = await aio_pika.connect_robust(self.url, client_properties={"connection_name": "whatsapp"})
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            dlx = await channel.declare_exchange(self.dlx_name, aio_pika.ExchangeType.FANOUT, durable=True)
            dlq = await channel.declare_queue(self.dlq_name, durable=True, arguments={"x-queue-type": "quorum"})
            await dlq.bind(dlx)
            exchange = await channel.declare_exchange(self.exchange_name, aio_pika.ExchangeType.DIRECT, durable=True)
            for i in range(self.partitions):
                queue = await channel.declare_queue(self.queue_name(i), durable=True, arguments=self.queue_arguments())
                await queue.bind(exchange, routing_key=str(i))
            self._connection, self._publish_channel, self._exchange = connection, channel, exchange

    async def put(self, messages: list[InboundMessage]) -> None:
        """Return only when RabbitMQ confirmed every message (raises otherwise: the webhook answers 503)."""
        import aio_pika

        if self._exchange is None:
            await self.connect()
        by_investor: dict[str, list[InboundMessage]] = defaultdict(list)
        for message in messages:
            by_investor[message.wa_id].append(message)

        async def publish_in_order(batch: list[InboundMessage]) -> None:
            for message in batch:  # sequential per investor: confirms in order, queue order = send order
                await self._exchange.publish(
                    aio_pika.Message(
                        message.to_json(),
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=message.id,
                        headers={"wa_id": message.wa_id, "timestamp": message.timestamp},
                    ),
                    routing_key=str(partition_of(message.wa_id, self.partitions)),
                    timeout=10,
                )

        await asyncio.gather(*(publish_in_order(batch) for batch in by_investor.values()))

    async def start(self, handler: Handler) -> None:
        """Subscribe to every partition; RabbitMQ makes this replica active on those nobody else holds."""
        if self._connection is None:
            await self.connect()
        connection = self._connection
        assert connection is not None
        for i in range(self.partitions):
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=1)
            queue = await channel.declare_queue(self.queue_name(i), durable=True, arguments=self.queue_arguments())

            async def on_message(incoming: Any, _partition: int = i) -> None:
                async with incoming.process(requeue=True, ignore_processed=True):
                    try:
                        message = InboundMessage.from_json(incoming.body)
                    except Exception as exc:  # not ours / corrupted: straight to the DLQ, no retries
                        logger.error("whatsapp.intake.undecodable partition=%d error=%r", _partition, exc)
                        await self.store.put(error_key(self.prefix, str(incoming.message_id)), repr(exc), ERROR_TTL)
                        await incoming.reject(requeue=False)
                        return
                    try:
                        await handler(message)
                    except Exception as exc:
                        count = (incoming.headers or {}).get("x-delivery-count", 0)
                        logger.exception(
                            "whatsapp.intake.failed id=%s from=%s deliveries=%s",
                            message.id,
                            mask_phone(message.wa_id),
                            count,
                        )
                        await self.store.put(error_key(self.prefix, message.id), repr(exc), ERROR_TTL)
                        raise

            await queue.consume(on_message)
            self._consume_channels.append(channel)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._publish_channel = self._exchange = None
        self._consume_channels = []


def make_intake(amqp_url: str, store: StateStore, prefix: str, partitions: int, delivery_limit: int) -> Intake:
    if amqp_url:
        return AmqpIntake(amqp_url, store, prefix=prefix, partitions=partitions, delivery_limit=delivery_limit)
    return LocalIntake(store, prefix=prefix, delivery_limit=delivery_limit)
