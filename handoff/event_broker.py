"""Rasa event broker with a durable outbox: no tracker event is lost when RabbitMQ is down or Rasa dies.

Rasa 3.6's `PikaEventBroker` publishes fire-and-forget, drops events until it is connected and keeps the
ones it failed to publish in memory only. This broker writes every event synchronously to a local SQLite
outbox inside `publish()` (Rasa streams events before it saves the tracker, so an event is on disk before
the conversation moves on) and a background task drains the outbox in order:

- to RabbitMQ (`AMQP_URL` set) with publisher confirms, deleting a row only after the broker confirmed it;
- or, with no RabbitMQ (embedded mode), by HTTP POST to the handoff service's `/internal/events`.

Delivery is at-least-once; every event carries `handoff_event_id` so the consumer can drop duplicates.

Poison never blocks the stream: an event the handoff service refuses (a 4xx other than an authentication or
rate-limit answer) or one larger than `HANDOFF_EVENT_MAX_BYTES` is moved to the outbox's `dead_letters` table
with its reason, and the events behind it go on. Operators inspect and replay them with
`python -m handoff.event_broker list|replay|purge [--outbox PATH]` (docs/runbook.md).

Rasa loads it from endpoints.yml (`event_broker: type: handoff.event_broker.OutboxEventBroker`). Every
setting may be given there or in the environment (docs/configuration.md). This module must stay light:
it runs inside Rasa and imports nothing of the handoff service but `handoff.topology` and `handoff.dlq`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sqlite3
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from rasa.core.brokers.broker import EventBroker

from bot import metrics
from common.logs import configure_logging
from common.pii import mask_text
from handoff import topology
from handoff.dlq import describe

logger = logging.getLogger(__name__)


class Outbox:
    """An append-only SQLite queue: `append` is durable on return (WAL, synchronous=FULL).

    `append_many` writes a turn's events in one transaction: one fsync instead of one per event, which is what
    Rasa's loop spent most of its time on at a few hundred messages a second (docs/handoff.md, "Figures").
    The backlog is counted in memory (one process owns an outbox file) so the metric costs no table scan."""

    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS dead_letters (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL,"
            " reason TEXT NOT NULL, at REAL NOT NULL)"
        )
        self._count = int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def append(self, body: str) -> None:
        self.append_many([body])

    def append_many(self, bodies: list[str]) -> None:
        if not bodies:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT INTO outbox (body) VALUES (?)", [(b,) for b in bodies])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._count += len(bodies)

    def bury(self, body: str, reason: str, outbox_id: int | None = None) -> None:
        """Move one event to the dead letters (out of the outbox, if it was in it) in one transaction."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT INTO dead_letters (body, reason, at) VALUES (?, ?, ?)",
                             (body, reason[:500], time.time()))
            removed = 0
            if outbox_id is not None:
                removed = self._db.execute("DELETE FROM outbox WHERE id = ?", (outbox_id,)).rowcount
            self._db.execute("COMMIT")
            self._count = max(0, self._count - removed)

    def dead_letters(self, limit: int = 100) -> list[tuple[int, str, str, float]]:
        with self._lock:
            return list(self._db.execute("SELECT id, body, reason, at FROM dead_letters ORDER BY id LIMIT ?",
                                         (limit,)))

    def resurrect(self, ids: list[int]) -> int:
        """Put dead letters back at the end of the outbox (after the cause is fixed); returns how many."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            moved = 0
            for dead_id in ids:
                row = self._db.execute("SELECT body FROM dead_letters WHERE id = ?", (dead_id,)).fetchone()
                if row is not None:
                    self._db.execute("INSERT INTO outbox (body) VALUES (?)", (row[0],))
                    self._db.execute("DELETE FROM dead_letters WHERE id = ?", (dead_id,))
                    moved += 1
            self._db.execute("COMMIT")
            self._count += moved
            return moved

    def purge(self, ids: list[int]) -> int:
        with self._lock:
            return sum(self._db.execute("DELETE FROM dead_letters WHERE id = ?", (i,)).rowcount for i in ids)

    def peek(self, limit: int) -> list[tuple[int, str]]:
        with self._lock:
            return list(self._db.execute("SELECT id, body FROM outbox ORDER BY id LIMIT ?", (limit,)))

    def delete_through(self, last_id: int) -> None:
        """Forget what the sink confirmed, without an fsync of its own (synchronous=NORMAL for this one commit).

        A delete lost to a power cut only sends those events again, and the consumers recognise them by key
        (at least once, by design); so the drain loop does not wait on the disk for it, which under load was
        half of its fsyncs. The next append's FULL commit syncs the log, this delete included."""
        with self._lock:
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                removed = self._db.execute("DELETE FROM outbox WHERE id <= ?", (last_id,)).rowcount
            finally:
                self._db.execute("PRAGMA synchronous=FULL")
            self._count = max(0, self._count - removed)

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        with self._lock:
            self._db.close()


class AmqpSink:
    """Publishes batches to the fanout exchange and returns only once RabbitMQ confirmed every message.

    Each event's routing key is its conversation's partition (handoff/topology.py), so the handoff replicas
    apply one conversation's events in order; a partition's events of one batch travel in one message.
    `mandatory`: a message no partition queue takes (no consumer has declared them yet, or `partitions` differs
    from the consumers') is returned, and its events stay in the outbox."""

    def __init__(self, url: str, exchange: str, partitions: int = topology.DEFAULT_PARTITIONS) -> None:
        self.url, self.exchange_name, self.partitions = url, exchange, partitions
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
            self._exchange = await topology.declare_exchange(channel, self.exchange_name)
        return self._exchange

    async def send(self, batch: list[tuple[int, str]]) -> None:
        """One message per partition (a JSON array of its events, in order; topology.pack), all confirmed."""
        import aio_pika

        exchange = await self._ensure()
        messages = [
            (key, aio_pika.Message(payload, delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                   content_type="application/json", message_id=first_id))
            for key, payload, first_id in topology.pack([body for _, body in batch], self.partitions)
        ]
        try:
            await asyncio.wait_for(
                asyncio.gather(
                    *(exchange.publish(message, routing_key=key, mandatory=True) for key, message in messages)
                ),
                timeout=15,
            )
        except Exception:
            self._exchange = None  # re-open the channel next time: it may be closed after an error
            raise

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


class Refused(Exception):
    """The sink looked at the event and will never take it (not a transient failure): dead-letter it."""


class Failed(RuntimeError):
    """The sink is up but failed on this batch (HTTP 500): a bug or a poison event, not an outage."""


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
            expect100=True,  # a body over the service's limit is refused (413) before it is sent, not cut off
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        ) as resp:
            if resp.status in (400, 404, 409, 413, 415, 422):
                raise Refused(f"handoff service refused it: {resp.status} {(await resp.text())[:200]}")
            if resp.status == 500:
                raise Failed(f"handoff service failed on it: 500 {(await resp.text())[:200]}")
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
        max_event_bytes: int = 262_144,
    ) -> None:
        """Create the broker.

        Args:
            outbox_path: SQLite file of not-yet-confirmed events; put it on a persistent volume per replica.
            sink: where the outbox drains to (RabbitMQ with confirms, or the handoff service over HTTP).
            batch_size: events sent per round trip.
            max_backoff: longest pause, in seconds, between attempts while the sink is unreachable.
            max_event_bytes: a larger event goes straight to the dead letters (it would be refused anyway).
        """
        super().__init__()
        self.outbox = Outbox(outbox_path)
        self.sink = sink
        self.batch_size = batch_size
        self.max_backoff = max_backoff
        self.max_event_bytes = max_event_bytes
        self.poison_after = 5  # an event the service fails on (500) this many times alone is dead-lettered
        self._failures: dict[int, int] = {}
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
        partitions = int(_setting(kwargs, "partitions", "HANDOFF_PARTITIONS", str(topology.DEFAULT_PARTITIONS)))
        sink: AmqpSink | HttpSink
        if amqp:
            sink = AmqpSink(amqp, exchange, partitions)
        else:
            sink = HttpSink(
                _setting(kwargs, "handoff_url", "HANDOFF_URL", "http://127.0.0.1:8091"),
                _setting(kwargs, "internal_token", "HANDOFF_INTERNAL_TOKEN", "dev-token"),
            )
        broker = cls(_setting(kwargs, "outbox_path", "HANDOFF_OUTBOX_PATH", "var/rasa-outbox.db"), sink,
                     max_event_bytes=int(_setting(kwargs, "max_event_bytes", "HANDOFF_EVENT_MAX_BYTES", "262144")))
        broker.start()
        logger.info("Event outbox draining to %s", type(sink).__name__)
        return broker

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_event_loop().create_task(self._drain_forever())

    def publish(self, event: dict[str, Any]) -> None:
        """Durably record `event` before returning; sending happens in the background."""
        self.publish_many([event])

    def publish_many(self, events: list[dict[str, Any]]) -> None:
        """Durably record a turn's events, in order, in one write (bot/stores.py streams a turn through this)."""
        encoded: list[str] = []
        for event in events:
            body = dict(event)
            body.setdefault("handoff_event_id", uuid.uuid4().hex)
            text = json.dumps(body, default=str)
            if len(text.encode()) > self.max_event_bytes:
                logger.error("Event outbox: event %s of %d bytes dead-lettered (limit %d)",
                             body["handoff_event_id"], len(text.encode()), self.max_event_bytes)
                self.outbox.bury(text, f"larger than {self.max_event_bytes} bytes")
                metrics.OUTBOX_DEAD.inc()
                continue
            encoded.append(text)
            metrics.observe_event(body)
        self.outbox.append_many(encoded)
        metrics.OUTBOX_BACKLOG.set(len(self.outbox))
        if encoded:
            self._wake.set()

    def is_ready(self) -> bool:
        return True  # publishing only needs the local outbox

    async def drain_once(self) -> int:
        """Send one batch; returns how many events left the outbox."""
        batch = self.outbox.peek(self.batch_size)
        if not batch:
            return 0
        try:
            await self.sink.send(batch)
        except (Refused, Failed):
            return await self._send_one_by_one(batch)
        self.outbox.delete_through(batch[-1][0])
        metrics.OUTBOX_BACKLOG.set(len(self.outbox))
        return len(batch)

    async def _send_one_by_one(self, batch: list[tuple[int, str]]) -> int:
        """A refused batch: find the poison, in order; it goes to the dead letters, the rest goes on."""
        for row_id, body in batch:
            try:
                await self.sink.send([(row_id, body)])
            except Failed as exc:
                self._failures[row_id] = self._failures.get(row_id, 0) + 1
                if self._failures[row_id] < self.poison_after:
                    raise  # retried with backoff: a bug fixed by a deploy, or a passing fault
                self._bury(row_id, body, Refused(f"{exc} ({self.poison_after} times)"))
                continue
            except Refused as exc:
                self._bury(row_id, body, exc)
                continue
            self._failures.pop(row_id, None)
            self.outbox.delete_through(row_id)
        metrics.OUTBOX_BACKLOG.set(len(self.outbox))
        return len(batch)

    def _bury(self, row_id: int, body: str, exc: Exception) -> None:
        logger.error("Event outbox: event %s dead-lettered: %s", row_id, exc)
        self.outbox.bury(body, str(exc), outbox_id=row_id)
        self._failures.pop(row_id, None)
        metrics.OUTBOX_DEAD.inc()

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


def main(argv: list[str] | None = None) -> int:
    """`python -m handoff.event_broker list|replay|purge`: the outbox's dead letters, for operators."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("action", choices=["list", "replay", "purge"])
    parser.add_argument("--outbox", default=os.environ.get("HANDOFF_OUTBOX_PATH") or "var/rasa-outbox.db")
    parser.add_argument("--id", type=int, action="append", dest="ids", help="only these dead letters (repeat)")
    args = parser.parse_args(argv)
    configure_logging("outbox-cli")
    outbox = Outbox(args.outbox)
    try:
        rows = [r for r in outbox.dead_letters(limit=10_000) if not args.ids or r[0] in args.ids]
        for dead_id, body, reason, at in rows:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))
            print(f"{dead_id}\t{stamp}Z\t{describe(body)}\t{mask_text(reason)}")
        ids = [r[0] for r in rows]
        if args.action == "replay":
            print(f"replayed {outbox.resurrect(ids)} event(s) into the outbox")
        elif args.action == "purge":
            print(f"purged {outbox.purge(ids)} event(s)")
        else:
            print(f"{len(rows)} dead letter(s); {len(outbox)} event(s) waiting in the outbox")
    finally:
        outbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
