"""Where Rasa's events come from: RabbitMQ in production, an HTTP intake in embedded mode.

Both transports hand batches of parsed event bodies to the same handler, which applies a batch in one database
transaction (`handoff.ingest.apply_batch`). An event is acknowledged only after that transaction committed, so
a crash in between means a redelivery, which the handler recognises by the event's key.

RabbitMQ (`AmqpTransport`): this replica subscribes to every partition queue (handoff/topology.py; single
active consumer, so each partition is delivered to one replica at a time, in order). A message holds one event
or, as the outbox sends them, several consecutive events of its partition. Deliveries go into a local line per
worker (HANDOFF_INGEST_WORKERS; a partition always to the same worker, so two workers never share a
conversation, while two partitions' batches commit side by side); a worker applies what arrived in batches of
up to `batch_size` events or `batch_ms` milliseconds after the first, whichever comes first, and then
acknowledges (one `multiple` ack per partition). Failures:

- a malformed event (not JSON, not a tracker event) is dead-lettered at once to `<queue>.dead`, the reason in
  the `x-handoff-reason` header;
- the database unavailable (or a deadlock): the same batch is tried again after a pause, for as long as it
  takes; nothing is acknowledged or dropped meanwhile;
- any other exception is a bug of ours: the batch is applied again one event at a time, in order; the event
  that fails is tried `delivery_limit` times in all (logged, counted as `retried`), then dead-lettered with
  the exception's type as the reason. The events behind it wait meanwhile, so none overtakes it.

With `REDIS_URL`, replicas form a group (handoff/group.py) and a replica yields the partitions that belong to
another member: it subscribes again at the back of the partition's line, then closes its old subscription
(RabbitMQ returns what it had not acknowledged and activates the next in line). A yield at any moment is safe:
an event applied but not yet acknowledged is redelivered and recognised by its key (the claim of a key waits
for a transaction still holding it), so nothing is applied twice or out of order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.exc import DBAPIError, OperationalError

from common.logs import correlated
from handoff import metrics, topology
from handoff.ingest import correlation_ids, parse_many

logger = logging.getLogger(__name__)

Handler = Callable[[list[dict[str, Any]]], Awaitable[None]]


def database_unavailable(exc: BaseException) -> bool:
    """The database is down, restarting or broke a deadlock: not the event's fault, try again."""
    return isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


class EventTransport(Protocol):
    async def start(self, handler: Handler) -> None: ...

    async def stop(self) -> None: ...


class EmbeddedTransport:
    """No RabbitMQ: Rasa's outbox POSTs batches to `/internal/events`; the route calls `deliver`."""

    def __init__(self, batch_size: int = 200) -> None:
        self.batch_size = batch_size
        self._handler: Handler | None = None
        self._lock = asyncio.Lock()

    async def start(self, handler: Handler) -> None:
        self._handler = handler

    async def deliver(self, bodies: list[dict[str, Any]]) -> None:
        """Apply in order (one request at a time, as a partition would); raises if it could not be committed."""
        if self._handler is None:
            raise RuntimeError("transport not started")
        async with self._lock:
            for start in range(0, len(bodies), self.batch_size):
                await self._handler(bodies[start : start + self.batch_size])

    async def stop(self) -> None:
        self._handler = None


@dataclass(eq=False)
class Subscription:
    """This replica's consumer on one partition queue, on a channel of its own (closed to yield it)."""

    index: int
    channel: Any
    worker: int = 0  # which of the replica's workers applies this partition's events
    closed: bool = False
    foreign_seen: bool = False  # a delivery arrived while another member owns the partition
    created: float = field(default_factory=time.monotonic)


@dataclass(eq=False)
class Delivery:
    """One RabbitMQ message: one event, or several of one partition (topology.pack), parsed when taken."""

    sub: Subscription
    message: Any
    bodies: list[dict[str, Any]] = field(default_factory=list)
    bad: list[tuple[bytes, str]] = field(default_factory=list)  # malformed parts, with the reason

    def parse(self) -> int:
        self.bodies, self.bad = parse_many(self.message.body)
        return len(self.bodies) + len(self.bad)

    @property
    def stale(self) -> bool:
        """Its subscription was yielded or its connection was lost: RabbitMQ delivers it again."""
        return self.sub.closed or self.message.channel.is_closed


class Ownership(Protocol):
    generation: int
    member_ttl: float
    members: list[str]

    def owns(self, index: int, partitions: int) -> bool: ...


@dataclass
class AmqpSettings:
    url: str
    exchange: str
    queue: str
    partitions: int
    batch_size: int
    batch_ms: float
    prefetch: int
    delivery_limit: int
    retry_seconds: float = 0.5
    workers: int = 2


class AmqpTransport:
    """Consume the partition queues in batches; see the module docstring."""

    def __init__(self, settings: AmqpSettings, group: Ownership | None = None) -> None:
        self.s = settings
        self.group = group
        self._connection: Any = None
        self._dead: Any = None  # the channel (with publisher confirms) that dead-letters
        self._handler: Handler | None = None
        # one line and one worker per group of partitions (Subscription.worker)
        self._inboxes: list[asyncio.Queue[Delivery]] = [asyncio.Queue() for _ in range(max(1, settings.workers))]
        self._subs: dict[int, Subscription] = {}
        self._generation = -1
        self._tasks: list[asyncio.Task] = []
        self.consumed = 0

    async def start(self, handler: Handler) -> None:
        import aio_pika

        self._handler = handler
        self._connection = await aio_pika.connect_robust(
            self.s.url, timeout=10, client_properties={"connection_name": "handoff"}
        )
        self._dead = await self._connection.channel(publisher_confirms=True)
        await topology.declare_consumer(self._dead, self.s.exchange, self.s.queue, self.s.partitions,
                                        self.s.delivery_limit)
        for index in range(self.s.partitions):
            self._subs[index] = await self._subscribe(index)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._work(inbox)) for inbox in self._inboxes]
        self._tasks.append(loop.create_task(self._rebalance_forever()))
        logger.info("Consuming Rasa events from %d partitions of %s", self.s.partitions, self.s.queue)

    async def _subscribe(self, index: int) -> Subscription:
        channel = await self._connection.channel()
        try:
            await channel.set_qos(prefetch_count=self.s.prefetch)
            queue = await channel.declare_queue(topology.partition_queue(self.s.queue, index), durable=True,
                                                arguments=topology.queue_arguments(self.s.queue, self.s.delivery_limit))
        except BaseException:
            await channel.close()
            raise
        # a stable group of m members gives a member partitions a, a+m, a+2m...: index // m spreads its own
        # partitions over its workers (decided when subscribing, so a partition never has two workers at once)
        members = len(self.group.members) if self.group is not None and self.group.members else 1
        sub = Subscription(index, channel, worker=(index // members) % len(self._inboxes))

        async def on_message(message: Any) -> None:
            if self.group is not None and not self.group.owns(index, self.s.partitions):
                sub.foreign_seen = True
            self._inboxes[sub.worker].put_nowait(Delivery(sub, message))

        await queue.consume(on_message)
        return sub

    async def _work(self, inbox: asyncio.Queue[Delivery]) -> None:
        while True:
            try:
                batch = await self._next_batch(inbox)
                if batch:
                    await self._process(batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let the worker die: what is unacknowledged comes back after a reconnect
                logger.exception("Event batch failed")

    async def _next_batch(self, inbox: asyncio.Queue[Delivery]) -> list[Delivery]:
        """Deliveries holding up to batch_size events, taken until batch_ms after the first; [] after a quiet
        second. Their subscription yielded or their connection lost, they are dropped (RabbitMQ redelivers)."""
        try:
            batch = [await asyncio.wait_for(inbox.get(), timeout=1.0)]
        except asyncio.TimeoutError:
            return []
        deadline = time.monotonic() + self.s.batch_ms / 1000
        events = batch[0].parse()
        while events < self.s.batch_size:
            if inbox.empty():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(inbox.get(), timeout=left))
                except asyncio.TimeoutError:
                    break
            else:
                batch.append(inbox.get_nowait())
            events += batch[-1].parse()
        return [d for d in batch if not d.stale]

    async def _process(self, batch: list[Delivery]) -> None:
        """Malformed parts to the dead letters, the rest applied; then every delivery acknowledged."""
        for delivery in batch:
            for raw, reason in delivery.bad:
                logger.error("Dead-lettering a malformed event from partition %d: %s", delivery.sub.index, reason)
                await self._dead_letter(delivery, raw, reason)
        pairs = [(delivery, body) for delivery in batch for body in delivery.bodies]
        if pairs and not await self._apply_batch([body for _, body in pairs]):
            await self._isolate(pairs, failed_alone=len(pairs) == 1)
        await self._ack(batch)
        self.consumed += len(pairs)

    async def _apply_batch(self, bodies: list[dict[str, Any]]) -> bool:
        """Apply the whole batch in one transaction; False if our code failed on it. While the database is
        unavailable, the same batch is tried again (nothing acknowledged, nothing dropped)."""
        assert self._handler is not None
        pause = self.s.retry_seconds
        while True:
            try:
                await self._handler(bodies)
                return True
            except Exception as exc:
                metrics.count("retried", len(bodies))
                if not database_unavailable(exc):
                    logger.exception("A batch of %d events failed; applying them one by one", len(bodies))
                    return False
                logger.warning("Database unavailable (%s); the batch of %d is tried again", type(exc).__name__,
                               len(bodies))
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)

    async def _isolate(self, pairs: list[tuple[Delivery, dict[str, Any]]], *, failed_alone: bool) -> None:
        """One event at a time, in order: the one our code fails on is retried, then dead-lettered with why;
        the events behind it wait meanwhile. `failed_alone`: the batch was this one event, so its failure
        already counts as the first attempt."""
        assert self._handler is not None
        for (delivery, body), cid in zip(pairs, correlation_ids([body for _, body in pairs]), strict=True):
            with correlated(cid):  # its retries and its dead-lettering are logged with its message's id
                await self._apply_alone(delivery, body, failed_alone)

    async def _apply_alone(self, delivery: Delivery, body: dict[str, Any], failed_alone: bool) -> None:
        """One event: applied, or after `delivery_limit` failures of our code dead-lettered with the reason."""
        assert self._handler is not None
        failures, pause = int(failed_alone), self.s.retry_seconds
        while True:
            try:
                await self._handler([body])
                return
            except Exception as exc:
                if not database_unavailable(exc):
                    failures += 1
                if failures >= self.s.delivery_limit:
                    logger.error("Dead-lettering an event after %d attempts: %r", failures, exc)
                    reason = f"{type(exc).__name__} in our code, {failures} attempts"
                    await self._dead_letter(delivery, json.dumps(body).encode(), reason)
                    return
                metrics.count("retried")
                logger.warning("Event failed (%s); retrying in %.1f s", type(exc).__name__, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, 30.0)

    async def _ack(self, deliveries: list[Delivery]) -> None:
        """One `multiple` ack per partition: every earlier delivery on that channel is in this batch or done."""
        last: dict[int, Delivery] = {}
        for delivery in deliveries:
            last[delivery.sub.index] = delivery
        for delivery in last.values():
            if delivery.sub.closed:
                continue  # yielded meanwhile: RabbitMQ gives them to the next member, which skips them
            try:
                await delivery.message.ack(multiple=True)
            except Exception as exc:  # the channel went away: they come back and are recognised as duplicates
                logger.warning("Acknowledgement lost (%s); the events will be redelivered", type(exc).__name__)

    async def _dead_letter(self, delivery: Delivery, raw: bytes, reason: str) -> None:
        """Publish one event (or an undecodable body) to `<queue>.dead` with the reason, confirmed; the
        delivery it came in is acknowledged with its batch."""
        import aio_pika

        headers: dict[str, Any] = {topology.REASON_HEADER: reason[:300], "x-handoff-partition": delivery.sub.index}
        await self._dead.default_exchange.publish(
            aio_pika.Message(raw, headers=headers, content_type="application/json",
                             delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
            routing_key=topology.dead_queue(self.s.queue),
        )
        metrics.count("dead_lettered")

    async def _rebalance_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                await self._rebalance()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Rebalancing the partitions failed")

    async def _rebalance(self) -> None:
        """Yield the partitions another member owns: all of them when the membership changed, else those
        still delivering to us (not within member_ttl of subscribing, so an expiring member is waited out)."""
        group = self.group
        if group is None:
            return
        generation = group.generation
        force, done = generation != self._generation, True
        for index, sub in list(self._subs.items()):
            if group.owns(index, self.s.partitions):
                continue
            if force or (sub.foreign_seen and time.monotonic() - sub.created >= group.member_ttl):
                done = await self._yield(sub) and done
        if done:  # else the next round tries again
            self._generation = generation

    async def _yield(self, sub: Subscription) -> bool:
        """Subscribe again at the back of the partition's line first, then close the old subscription:
        RabbitMQ activates the next in line and hands it what we had not acknowledged. If subscribing fails,
        the old subscription stays, so a partition is never left without us."""
        try:
            fresh = await self._subscribe(sub.index)
        except Exception:
            logger.warning("Yielding partition %d failed; trying again", sub.index, exc_info=True)
            return False
        sub.closed = True
        self._subs[sub.index] = fresh
        try:
            await sub.channel.close()
        except Exception:
            logger.warning("Closing partition %d's old channel failed", sub.index, exc_info=True)
        logger.debug("Yielded partition %d", sub.index)
        return True

    def problems(self) -> list[str]:
        """Readiness (handoff/health.py): the connection open, a consumer declared on every partition queue
        (active or waiting in line: single active consumer), the workers running. Empty when ready."""
        connection = self._connection
        if connection is None:
            return ["not connected"]
        if connection.is_closed:
            return ["connection closed"]
        missing = [i for i in range(self.s.partitions) if i not in self._subs or self._subs[i].channel.is_closed]
        found = [f"no consumer on partition(s) {', '.join(map(str, missing))}"] if missing else []
        if not self._tasks or any(task.done() for task in self._tasks):
            found.append("ingest workers not running")
        return found

    def status(self) -> dict[str, Any]:
        owned = [i for i in self._subs if self.group is None or self.group.owns(i, self.s.partitions)]
        waiting = sum(inbox.qsize() for inbox in self._inboxes)
        return {"consumed": self.consumed, "partitions_owned": owned, "waiting_locally": waiting}

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._connection is not None:
            await self._connection.close()
            self._connection = None
