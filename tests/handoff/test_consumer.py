"""The RabbitMQ consumer, as real processes: killed mid-stream and restarted, it loses nothing and duplicates
nothing; a malformed event is dead-lettered at once with its reason while an exception of our own code is
retried (and counted) before it is; two replicas split the partitions and never reorder a conversation."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import aio_pika
from sqlalchemy import func, select, text

from handoff import topology
from handoff.db import Database
from handoff.event_broker import AmqpSink, OutboxEventBroker
from handoff.models import Conversation, InboundEvent, Message, Ticket
from tests.handoff.conftest import declare_topology, event, handoff_events, handoff_service, user
from tests.handoff.stack import http_json

CONVERSATIONS = 20
MESSAGES_EACH = 25


def count(db: Database, model: type) -> int:
    with db.transaction() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


async def publish_all(amqp_url: str, names: dict[str, str], outbox: Path, bodies: list[dict]) -> None:
    """Through the outbox as Rasa publishes; the partitions are declared first, as a consumer that ran once did."""
    await declare_topology(amqp_url, names)
    broker = OutboxEventBroker(str(outbox), AmqpSink(amqp_url, names["exchange"], int(names["partitions"])))
    for body in bodies:
        broker.publish(body)
    while await broker.drain_once():
        pass
    await broker.close()


def ingest_waits_on_lock(db: Database) -> bool:
    """Some other backend (the service's batch insert) is waiting for a lock on inbound_events."""
    with db.transaction() as s:
        waiting = s.execute(text(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'inbound_events' AND NOT l.granted"
        )).scalar_one()
    return int(waiting) > 0


def wait_for(condition: Any, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_killed_mid_stream_the_service_loses_and_duplicates_nothing(
    amqp_url: str, amqp_names: dict[str, str], pg_url: str, db: Database, tmp_path: Path
) -> None:
    """Half the stream is ingested; then the table is locked so the next batch is in flight (delivered, not
    acknowledged, its insert waiting) when the service is killed -9: a kill mid-stream by construction."""
    bodies: list[dict] = []
    for c in range(CONVERSATIONS):
        wa = f"9198765{c:05d}"
        bodies += handoff_events(wa, 1000.0 + c)
        bodies += [user(wa, 2000.0 + c + i / 100, f"message {i}") for i in range(MESSAGES_EACH)]
    first, second = bodies[: len(bodies) // 2], bodies[len(bodies) // 2:]
    asyncio.run(publish_all(amqp_url, amqp_names, tmp_path / "outbox.db", first))

    service = handoff_service("handoff-consumer", database_url=pg_url, amqp_url=amqp_url, names=amqp_names,
                              HANDOFF_PREFETCH="100")
    service.start()
    try:
        wait_for(lambda: count(db, InboundEvent) == len(first), "the consumer did not ingest the first half")
        assert db.engine is not None
        with db.engine.connect() as blocker:
            tx = blocker.begin()
            blocker.execute(text("LOCK TABLE inbound_events IN EXCLUSIVE MODE"))  # reads go on, inserts wait
            asyncio.run(publish_all(amqp_url, amqp_names, tmp_path / "outbox2.db", second))
            wait_for(lambda: ingest_waits_on_lock(db), "the service never tried to write the second half")
            service.kill()  # kill -9 with a batch delivered, unacknowledged, its insert waiting
            tx.rollback()
        killed_at = count(db, InboundEvent)
        assert killed_at == len(first), "the batch in flight must not have been committed"
        service.start()
        wait_for(lambda: count(db, InboundEvent) == len(bodies),
                 f"stuck at {count(db, InboundEvent)}/{len(bodies)}")
    finally:
        service.stop()
    assert count(db, InboundEvent) == len(bodies)
    assert count(db, Ticket) == CONVERSATIONS
    # per conversation: the request, the bot's answer, "handed over", and every message while paused
    assert count(db, Message) == CONVERSATIONS * (3 + MESSAGES_EACH)
    with db.transaction() as s:
        per_conv = s.execute(
            select(Message.conversation_id, func.count())
            .where(Message.kind == "user")
            .group_by(Message.conversation_id)
        ).all()
    assert {n for _, n in per_conv} == {1 + MESSAGES_EACH}


def health(service: Any) -> dict[str, Any]:
    return dict(http_json(f"{service.url}/health"))


async def publish_raw(amqp_url: str, names: dict[str, str], bodies: list[tuple[str, bytes]]) -> None:
    """Straight onto the exchange, as a faulty publisher would, each to its conversation's partition."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(names["exchange"])
        for sender, raw in bodies:
            key = str(topology.partition_of(sender, int(names["partitions"])))
            await exchange.publish(aio_pika.Message(raw, delivery_mode=2), routing_key=key)


async def read_dead(amqp_url: str, names: dict[str, str], expected: int, timeout: float = 60) -> list[Any]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        dead = await (await connection.channel()).get_queue(topology.dead_queue(names["queue"]))
        got: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            message = await dead.get(fail=False)
            if message is None:
                await asyncio.sleep(0.1)
                continue
            got.append((message.body, (message.headers or {}).get(topology.REASON_HEADER)))
            await message.ack()
        return got


def test_a_malformed_event_is_dead_lettered_with_its_reason_and_a_code_bug_is_retried(
    amqp_url: str, amqp_names: dict[str, str], pg_url: str, db: Database
) -> None:
    service = handoff_service("handoff-poison", database_url=pg_url, amqp_url=amqp_url, names=amqp_names,
                              HANDOFF_DELIVERY_LIMIT="3", HANDOFF_RETRY_SECONDS="0.05")
    bug = user("919800000078", 5.0, "my SIP failed")
    bug["parse_data"]["intent"]["confidence"] = "very sure"  # not a number: our code stores it, PostgreSQL refuses
    good = user("919800000078", 6.0, "still here")  # the same conversation, behind the bug: waits for it
    with service:
        asyncio.run(publish_raw(amqp_url, amqp_names, [
            ("919800000077", b"{not json"), ("919800000077", json.dumps({"no": "sender"}).encode()),
            ("919800000078", json.dumps(bug).encode()), ("919800000078", json.dumps(good).encode()),
        ]))
        dead = asyncio.run(read_dead(amqp_url, amqp_names, 3))
        deadline = time.monotonic() + 30
        while count(db, Message) < 1:
            assert time.monotonic() < deadline, "the event behind the bug was never applied"
            time.sleep(0.1)
        events = health(service)["events"]
    reasons = {body: str(reason or "") for body, reason in dead}
    assert reasons[b"{not json"] == "not JSON"
    assert "sender_id and event are required" in reasons[json.dumps({"no": "sender"}).encode()]
    assert reasons[json.dumps(bug).encode()].startswith("DataError in our code, 3 attempts")
    assert events["dead_lettered"] == 3 and events["applied"] == 1
    assert events["retried"] >= 2  # tried 3 times (its batch's failure counts if it was alone), then given up
    assert service.log_path.read_text().count("Event failed (DataError); retrying") >= 1
    with db.transaction() as s:
        assert s.execute(select(Message.text)).scalars().all() == ["still here"]


def conversation(sender: str, start: int, end: int, ts: float) -> list[dict]:
    """Investor messages numbered start..end-1, each with the bot's turn as Rasa logs it."""
    out: list[dict] = []
    for n in range(start, end):
        out += [user(sender, ts + n, f"n{n}"), event(sender, "action", ts + n + 0.1, name="utter_x"),
                event(sender, "bot", ts + n + 0.2, text=f"reply {n}", data={}),
                event(sender, "action", ts + n + 0.3, name="action_listen")]
    return out


def wait_until(what: str, check: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_two_replicas_consume_together_and_never_reorder_or_duplicate_a_conversation(
    amqp_url: str, redis_url: str, amqp_names: dict[str, str], pg_url: str, db: Database, tmp_path: Path
) -> None:
    """Replica B joins mid-stream (the partitions are split), A is killed with events in flight and comes back:
    every conversation's lines are stored once each, in the order the investor sent them."""
    senders = [f"9197100{c:05d}" for c in range(24)]
    sizes = [(0, 5), (5, 10), (10, 40)]  # investor messages per conversation in each phase; the last one long
    phases = [[b for s in senders for b in conversation(s, first, end, 1000.0)] for first, end in sizes]
    env = {"REDIS_URL": redis_url, "HANDOFF_PREFETCH": "50", "HANDOFF_BATCH_SIZE": "50"}
    a = handoff_service("handoff-replica-a", database_url=pg_url, amqp_url=amqp_url, names=amqp_names, **env)
    b = handoff_service("handoff-replica-b", database_url=pg_url, amqp_url=amqp_url, names=amqp_names, **env)
    total = sum(map(len, phases))
    with a:
        asyncio.run(publish_all(amqp_url, amqp_names, tmp_path / "outbox-1.db", phases[0]))
        wait_until("A consumed the first phase", lambda: count(db, InboundEvent) >= len(phases[0]))
        b.start()
        try:
            wait_until("A and B split the partitions", lambda: all(
                health(r)["group"]["members"] == 2 and len(health(r)["ingest"]["partitions_owned"]) == 2
                for r in (a, b)))
            asyncio.run(publish_all(amqp_url, amqp_names, tmp_path / "outbox-2.db", phases[1]))
            wait_until("both consumed", lambda: count(db, InboundEvent) >= len(phases[0]) + len(phases[1]))
            consumed = {name: health(r)["consumed"] for name, r in (("a", a), ("b", b))}
            before = count(db, InboundEvent)
            publisher = threading.Thread(target=lambda: asyncio.run(
                publish_all(amqp_url, amqp_names, tmp_path / "outbox-3.db", phases[2])))
            publisher.start()
            wait_until("the last phase started", lambda: count(db, InboundEvent) > before)
            a.kill()  # kill -9 while the last phase streams in: B takes A's partitions, then gives them back
            a.start()
            publisher.join()
            wait_until("everything applied", lambda: count(db, InboundEvent) >= total)
        finally:
            b.stop()
    assert consumed["a"] > 0 and consumed["b"] > 0, consumed
    assert count(db, InboundEvent) == total
    with db.transaction() as s:
        rows = s.execute(
            select(Conversation.sender_id, Message.text).join(Conversation)
            .where(Message.kind == "user").order_by(Message.id)
        ).all()
    by_sender: dict[str, list[str]] = {}
    for sender, line in rows:
        by_sender.setdefault(sender, []).append(line)
    assert by_sender == {s: [f"n{n}" for n in range(40)] for s in senders}
