"""Durable, ordered intake: the webhook acknowledges Meta only once a message is safe, and each investor's
messages are handled one at a time, in order, by exactly one Rasa replica.

RabbitMQ (AMQP_URL set): `N` quorum queues `{prefix}.intake.{i}` bound to the direct exchange
`{prefix}.intake` with routing key `i = sha1(wa_id) % N`. Every replica subscribes to every partition with
prefetch 1; the queues are `x-single-active-consumer`, so RabbitMQ delivers each partition to one replica at a
time and hands it to the next waiting one at once when that replica dies (its unacknowledged message is
redelivered). An investor therefore always lands on one partition, and a partition is processed strictly
sequentially: no two messages of one investor run at once across replicas (which Rasa 3.6's non-atomic
RedisLockStore cannot guarantee), and they are handled in queue order. Publishing uses publisher confirms and
persistent messages, so the webhook's 200 means the message is in the quorum queue's replicated log.
Consumers acknowledge only after Rasa handled the message (`message.process()`); a message that keeps
failing is rejected back until the queue's `x-delivery-limit` is reached, then RabbitMQ dead-letters it
(at-least-once dead-lettering) through `{prefix}.dlx` into `{prefix}.dlq`, and its last error is kept in the
state store for `connectors.whatsapp.dlq`.

Spreading partitions over replicas. RabbitMQ 3.10's single active consumer makes the *first* subscriber
active (consumer priorities only steer it from 4.0), so on its own every partition would stay with the replica
that started first and the others would be idle standbys: adding replicas would add no throughput. So the
replicas form a group: each heartbeats into a Redis sorted set (`{prefix}:members`, Redis's clock, 10 s
expiry), and with the sorted list of live members, partition `i` belongs to `members[i % len(members)]`.
A replica that is active on a partition it does not own *yields* it: it waits until it is between two
messages (holding the partition's lock), closes that partition's channel -- RabbitMQ returns any message it
had prefetched to the head of the queue and activates the next subscriber -- and subscribes again, now at
the back of the line. It yields every foreign partition once when the membership changes, and again whenever
a delivery shows it is still active on one (a broker restart reshuffles the lines). Safety never depends on
the membership view: two replicas with different views still get one active consumer per queue from
RabbitMQ; a wrong view only costs balance. Cost: a prefetched message returned by a yield counts one delivery
towards `x-delivery-limit` on RabbitMQ 3.x, which a stable group does not repeat.

Embedded mode (no AMQP_URL): one asyncio queue and worker per investor in this process. Ordered and
serialised per investor, but not durable: a crash loses what was queued. Fine for a laptop, not for production.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from common.pii import mask_phone
from common.queues import declare_dead_letter_queue, declare_partitions, partition_of, quorum_arguments
from connectors.whatsapp import metrics
from connectors.whatsapp.models import InboundMessage
from connectors.whatsapp.settings import WhatsAppSettings
from connectors.whatsapp.store import StateStore

logger = logging.getLogger(__name__)

Handler = Callable[[InboundMessage], Awaitable[None]]
ERROR_TTL = 14 * 24 * 3600
QUEUE_SAMPLE_SECONDS = 15.0  # how often a consumer reads its partitions' depth and consumers for /metrics
DEAD_LETTERS_KEPT = 100  # embedded mode: the last ones in memory, for tests and a developer's look


def error_key(prefix: str, message_id: str) -> str:
    return f"{prefix}:dlq-error:{message_id}"


def seen_key(prefix: str, message_id: str) -> str:
    """The claim of one investor message id (Meta retries a webhook for up to 7 days)."""
    return f"{prefix}:seen:{message_id}"


def window_key(prefix: str, wa_id: str) -> str:
    """The investor's 24-hour customer-service window: opened here, checked before each send (graph.py)."""
    return f"{prefix}:window:{wa_id}"


async def accept_inbound(store: StateStore, settings: WhatsAppSettings, message_id: str, wa_id: str,
                         timestamp: int) -> bool:
    """Claim an investor message's id (False: a duplicate) and (re)open their 24-hour window from the time they
    sent it -- one round trip, on the webhook's acknowledgement path."""
    # Never longer than the window itself: a timestamp in the future does not open it for longer.
    remaining = min(settings.window_seconds, settings.window_seconds - (time.time() - timestamp))
    return await store.accept_inbound(seen_key(settings.prefix, message_id), settings.dedupe_ttl,
                                      window_key(settings.prefix, wa_id), timestamp, remaining)


class Intake(Protocol):
    kind: str

    async def start(self, handler: Handler) -> None: ...
    async def put(self, messages: list[InboundMessage]) -> None: ...
    async def close(self) -> None: ...
    def status(self) -> dict[str, Any]: ...
    def problems(self, consuming: bool) -> list[str]:
        """What keeps this intake from taking (and, when `consuming`, handling) messages; empty when ready."""


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
        # The last few messages given up on (the error is in the state store for each, as with RabbitMQ).
        self._dead: deque[tuple[InboundMessage, str]] = deque(maxlen=DEAD_LETTERS_KEPT)

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
                        self._dead.append((message, repr(exc)))
                        metrics.INTAKE_DEAD.inc()
                        await self.store.put(error_key(self.prefix, message.id), repr(exc), ERROR_TTL)
        if queue.empty():
            self._queues.pop(wa_id, None)
            self._workers.pop(wa_id, None)

    @property
    def dead_letters(self) -> list[tuple[InboundMessage, str]]:
        """The most recent messages given up on, oldest first (at most `DEAD_LETTERS_KEPT`)."""
        return list(self._dead)

    def status(self) -> dict[str, Any]:
        return {"kind": self.kind, "busy_investors": len(self._workers)}

    def problems(self, consuming: bool) -> list[str]:
        return []  # in-process: ready whenever the process is

    async def drain(self) -> None:
        """Wait until every queued message was handled (tests, shutdown)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    async def close(self) -> None:
        for task in self._workers.values():
            task.cancel()
        self._workers.clear()


@dataclass(eq=False)
class _Partition:
    """One subscription: its channel, and the lock that is held while a message of it is being handled."""

    index: int
    channel: Any
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closing: bool = False
    created: float = field(default_factory=time.monotonic)


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
        balance_interval: float = 2.0,
        member_ttl: float = 10.0,
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
        self._lock = asyncio.Lock()
        # The consumer group (module docstring): who we are, who is alive, which partitions we subscribe to.
        self.member_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.balance_interval = balance_interval
        self.member_ttl = member_ttl
        self.balanced = False
        self._members: list[str] = []
        self._parts: dict[int, _Partition] = {}
        self._yielding: set[int] = set()
        self._handler: Handler | None = None
        self._balance_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def queue_name(self, partition: int) -> str:
        return f"{self.prefix}.intake.{partition}"

    def queue_arguments(self) -> dict[str, Any]:
        """Dead letters go through the fanout `{prefix}.dlx` into `{prefix}.dlq`."""
        return quorum_arguments(self.delivery_limit, self.dlx_name)

    async def connect(self) -> None:
        """Connect (robustly: reconnects and re-declares after a broker restart) and declare the topology."""
        import aio_pika

        async with self._lock:
            if self._connection is not None:
                return
            connection = await aio_pika.connect_robust(self.url, client_properties={"connection_name": "whatsapp"})
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            await declare_dead_letter_queue(channel, self.dlq_name, exchange=self.dlx_name)
            exchange = await channel.declare_exchange(self.exchange_name, aio_pika.ExchangeType.DIRECT, durable=True)
            await declare_partitions(channel, exchange, self.queue_name, self.partitions, self.queue_arguments())
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
        """Subscribe to every partition, then join the group that divides them (see the module docstring)."""
        if self._connection is None:
            await self.connect()
        assert self._connection is not None
        self._handler = handler
        for i in range(self.partitions):
            self._parts[i] = await self._subscribe(i)
        add_callback = getattr(getattr(self._connection, "reconnect_callbacks", None), "add", None)
        if add_callback is not None:
            # After a broker restart the consumers re-register in random order: yield foreign partitions again.
            add_callback(lambda *_: self._forget_view())
        try:
            await self._balance_once()
        except Exception:  # Redis away: consume anyway (safety comes from RabbitMQ); balance when it is back
            logger.exception("whatsapp.intake.balance_failed member=%s", self.member_id)
        self._balance_task = asyncio.create_task(self._balance_forever())

    async def _subscribe(self, index: int) -> _Partition:
        assert self._connection is not None and self._handler is not None
        handler = self._handler
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=1)
        queue = await channel.declare_queue(self.queue_name(index), durable=True, arguments=self.queue_arguments())
        part = _Partition(index, channel)

        async def on_message(incoming: Any) -> None:
            async with part.lock:
                if part.closing:
                    return  # this channel is being closed: RabbitMQ hands the message to the next consumer
                await self._deliver(incoming, index, handler)
            if not self.owns(index):
                self._spawn(self._yield(index))

        await queue.consume(on_message)
        return part

    async def _deliver(self, incoming: Any, index: int, handler: Handler) -> None:
        async with incoming.process(requeue=True, ignore_processed=True):
            try:
                message = InboundMessage.from_json(incoming.body)
            except Exception as exc:  # not ours / corrupted: straight to the DLQ, no retries
                logger.error("whatsapp.intake.undecodable partition=%d error=%r", index, exc)
                await self.store.put(error_key(self.prefix, str(incoming.message_id)), repr(exc), ERROR_TTL)
                await incoming.reject(requeue=False)
                metrics.INTAKE_DEAD.inc()
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
                if int(count) >= self.delivery_limit:  # the last redelivery: RabbitMQ dead-letters it on return
                    metrics.INTAKE_DEAD.inc()
                raise

    # ----- the consumer group ------------------------------------------------------------------------------
    def owns(self, index: int) -> bool:
        members = self._members
        return not members or self.member_id not in members or members[index % len(members)] == self.member_id

    def _forget_view(self) -> None:
        self._members = []
        self.balanced = False

    async def _balance_forever(self) -> None:
        sampled_at = 0.0
        while True:
            await asyncio.sleep(self.balance_interval)
            try:
                await self._balance_once()
                if time.monotonic() - sampled_at >= QUEUE_SAMPLE_SECONDS:
                    sampled_at = time.monotonic()
                    await self.sample_queues()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis or the broker briefly away: keep the current view, try again
                logger.exception("whatsapp.intake.balance_failed member=%s", self.member_id)

    async def sample_queues(self) -> None:
        """Each partition's waiting messages and consumers, as RabbitMQ counts them (passive declares)."""
        if self._connection is None:
            return
        channel = await self._connection.channel()  # its own: a missing queue closes the channel it is asked on
        try:
            for index in range(self.partitions):
                queue = await channel.declare_queue(self.queue_name(index), passive=True)
                result = queue.declaration_result
                metrics.intake_queue(index, int(result.message_count), int(result.consumer_count))
        finally:
            await channel.close()

    async def _balance_once(self) -> None:
        for index in range(self.partitions):  # a subscription lost in a failed yield: every partition needs us
            if index not in self._parts and index not in self._yielding:
                self._parts[index] = await self._subscribe(index)
        members = await self.store.heartbeat(f"{self.prefix}:members", self.member_id, self.member_ttl)
        if members == self._members and self.balanced:
            return
        self._members, self.balanced = members, False
        foreign = [i for i in range(self.partitions) if not self.owns(i)]
        logger.info(
            "whatsapp.intake.members n=%d me=%s owned=%d", len(members), self.member_id, self.partitions - len(foreign)
        )
        await asyncio.gather(*(self._yield(i, force=True) for i in foreign))
        self.balanced = self._members == members

    async def _yield(self, index: int, force: bool = False) -> None:
        """Let the partition's owner become its active consumer: close our channel between two messages."""
        part = self._parts.get(index)
        if part is None or part.closing or self.owns(index):
            return
        if not force and time.monotonic() - part.created < self.member_ttl:
            # Yielded (or subscribed) recently and active again: the owner may be gone but not yet expired.
            # Each yield returns the prefetched message, which counts towards its delivery limit: wait it out.
            return
        async with part.lock:
            if part.closing or self._parts.get(index) is not part:
                return
            part.closing = True
            del self._parts[index]  # until subscribed again; _balance_once re-subscribes if that fails
            self._yielding.add(index)
            try:
                try:
                    await part.channel.close()
                except Exception:
                    logger.warning("whatsapp.intake.yield_close_failed partition=%d", index, exc_info=True)
                self._parts[index] = await self._subscribe(index)
            finally:
                self._yielding.discard(index)
        logger.debug("whatsapp.intake.yielded partition=%d", index)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def problems(self, consuming: bool) -> list[str]:
        found = []
        if self._connection is None or self._connection.is_closed:
            found.append("rabbitmq: not connected")
        elif consuming and not self._parts:
            found.append("rabbitmq: no partition subscribed")
        return found

    def status(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "member": self.member_id,
            "members": len(self._members),
            "balanced": self.balanced,
            "owned": [i for i in range(self.partitions) if self._parts and self.owns(i)],
        }

    async def close(self) -> None:
        if self._balance_task is not None:
            self._balance_task.cancel()
            self._balance_task = None
        for task in list(self._tasks):
            task.cancel()
        if self._parts:
            try:  # the others take our partitions at their next heartbeat, not after our expiry
                await self.store.leave(f"{self.prefix}:members", self.member_id)
            except Exception:
                logger.warning("whatsapp.intake.leave_failed member=%s", self.member_id, exc_info=True)
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._publish_channel = self._exchange = None
        self._parts = {}
        self._members = []
        self.balanced = False


def make_intake(settings: WhatsAppSettings, store: StateStore) -> Intake:
    s = settings
    if s.amqp_url:
        return AmqpIntake(
            s.amqp_url,
            store,
            prefix=s.prefix,
            partitions=s.partitions,
            delivery_limit=s.delivery_limit,
            balance_interval=s.balance_interval,
            member_ttl=5 * s.balance_interval,
        )
    return LocalIntake(store, prefix=s.prefix, delivery_limit=s.delivery_limit)
