"""Where Rasa's events come from: RabbitMQ in production, an HTTP intake in embedded mode.

Both transports implement `EventTransport` and hand each raw event body to the same handler, which applies
it in one database transaction (`handoff.ingest`). A transport acknowledges an event only after that
transaction committed, so a crash between the two means a redelivery, which the handler recognises.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError, OperationalError

from handoff import topology

logger = logging.getLogger(__name__)

Handler = Callable[[list[dict[str, Any]]], Awaitable[None]]
MAX_BATCH = 100


class PoisonEvent(ValueError):
    """An event that can never be applied (malformed); it goes to the dead-letter queue at once."""


class EventTransport(Protocol):
    async def start(self, handler: Handler) -> None: ...

    async def stop(self) -> None: ...


class EmbeddedTransport:
    """No RabbitMQ: Rasa's outbox POSTs batches to `/internal/events`; the route calls `deliver`."""

    def __init__(self) -> None:
        self._handler: Handler | None = None

    async def start(self, handler: Handler) -> None:
        self._handler = handler

    async def deliver(self, bodies: list[dict[str, Any]]) -> None:
        if self._handler is None:
            raise RuntimeError("transport not started")
        for start in range(0, len(bodies), MAX_BATCH):
            await self._handler(bodies[start : start + MAX_BATCH])

    async def stop(self) -> None:
        self._handler = None


class AmqpTransport:
    """Consume the quorum queue with manual acknowledgement, applying what has arrived in batches.

    Deliveries are queued locally and applied strictly in order, up to MAX_BATCH per database transaction
    (one commit for a burst instead of one per event); each is acknowledged after that commit. Malformed
    events are rejected without requeue (dead-lettered at once). If a batch fails, its events are retried
    one by one so a single poison event cannot hold back the others; a database outage requeues the event
    after a pause, and an event that keeps failing is dead-lettered by the queue's delivery limit.
    """

    def __init__(self, url: str, exchange: str, queue: str, prefetch: int, delivery_limit: int) -> None:
        self.url, self.exchange, self.queue_name = url, exchange, queue
        self.prefetch, self.delivery_limit = prefetch, delivery_limit
        self._connection: Any = None
        self._handler: Handler | None = None
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._worker: asyncio.Task | None = None
        self.consumed = 0

    async def start(self, handler: Handler) -> None:
        import aio_pika

        self._handler = handler
        self._connection = await aio_pika.connect_robust(self.url, timeout=10)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=self.prefetch)
        _, (queue,) = await topology.declare(channel, self.exchange, [self.queue_name], self.delivery_limit)
        self._worker = asyncio.get_event_loop().create_task(self._work())
        await queue.consume(self._on_message)
        logger.info("Consuming Rasa events from queue %s", self.queue_name)

    async def _on_message(self, message: Any) -> None:
        self._inbox.put_nowait(message)

    async def _work(self) -> None:
        while True:
            batch = [await self._inbox.get()]
            while len(batch) < MAX_BATCH and not self._inbox.empty():
                batch.append(self._inbox.get_nowait())
            try:
                await self._apply(batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the worker die: unacknowledged events come back after a reconnect
                logger.exception("Event batch failed")

    async def _apply(self, batch: list[Any]) -> None:
        assert self._handler is not None
        good: list[tuple[Any, dict[str, Any]]] = []
        for message in batch:
            try:
                body = json.loads(message.body)
                if not isinstance(body, dict) or not body.get("sender_id") or not body.get("event"):
                    raise PoisonEvent("not a Rasa tracker event")
                good.append((message, body))
            except ValueError as exc:
                logger.error("Dead-lettering a malformed event: %s", exc)
                await message.reject(requeue=False)
        if not good:
            return
        try:
            await self._handler([body for _, body in good])
        except Exception as exc:
            if len(good) == 1:
                await self._fail(good[0][0], exc)
                return
            for message, body in good:  # isolate the event that broke the batch
                try:
                    await self._handler([body])
                except Exception as one_exc:
                    await self._fail(message, one_exc)
                    continue
                await message.ack()
                self.consumed += 1
            return
        for message, _ in good:
            await message.ack()
        self.consumed += len(good)

    async def _fail(self, message: Any, exc: Exception) -> None:
        if isinstance(exc, OperationalError | DBAPIError):
            logger.warning("Database unavailable (%s); event requeued", exc.__class__.__name__)
            await asyncio.sleep(1.0)
            await message.nack(requeue=True)
        elif isinstance(exc, ValueError | TypeError | KeyError):
            logger.error("Dead-lettering an event that cannot be applied: %s", exc)
            await message.reject(requeue=False)
        else:
            logger.error("Event failed (%r); requeued, dead-lettered after %d deliveries", exc, self.delivery_limit)
            await message.nack(requeue=True)

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
