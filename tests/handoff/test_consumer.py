"""The RabbitMQ consumer: killed mid-stream and restarted, it loses nothing and duplicates nothing;
a malformed event is dead-lettered instead of blocking the queue."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aio_pika
from sqlalchemy import func, select

from handoff.db import Database
from handoff.event_broker import AmqpSink, OutboxEventBroker
from handoff.models import InboundEvent, Message, Ticket
from tests.handoff.conftest import handoff_events, handoff_service, user

CONVERSATIONS = 20
MESSAGES_EACH = 25


def count(db: Database, model: type) -> int:
    with db.transaction() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


async def publish_all(amqp_url: str, names: dict[str, str], outbox: Path, bodies: list[dict]) -> None:
    broker = OutboxEventBroker(str(outbox), AmqpSink(amqp_url, names["exchange"], [names["queue"]], 5))
    for body in bodies:
        broker.publish(body)
    while await broker.drain_once():
        pass
    await broker.close()


def test_killed_mid_stream_the_service_loses_and_duplicates_nothing(
    amqp_url: str, amqp_names: dict[str, str], pg_url: str, db: Database, tmp_path: Path
) -> None:
    bodies: list[dict] = []
    for c in range(CONVERSATIONS):
        wa = f"9198765{c:05d}"
        bodies += handoff_events(wa, 1000.0 + c)
        bodies += [user(wa, 2000.0 + c + i / 100, f"message {i}") for i in range(MESSAGES_EACH)]
    asyncio.run(publish_all(amqp_url, amqp_names, tmp_path / "outbox.db", bodies))

    service = handoff_service("handoff-consumer", database_url=pg_url, amqp_url=amqp_url, names=amqp_names,
                              HANDOFF_PREFETCH="100")
    service.start()
    try:
        deadline = time.monotonic() + 30
        while count(db, InboundEvent) < len(bodies) // 4:
            assert time.monotonic() < deadline, "the consumer did not start consuming"
            time.sleep(0.05)
        service.kill()  # kill -9 with up to 100 delivered-but-unacknowledged events in flight
        killed_at = count(db, InboundEvent)
        assert killed_at < len(bodies), "the stream finished before the kill; make it longer"
        service.start()
        deadline = time.monotonic() + 60
        while count(db, InboundEvent) < len(bodies):
            assert time.monotonic() < deadline, f"stuck at {count(db, InboundEvent)}/{len(bodies)}"
            time.sleep(0.1)
        time.sleep(1.0)  # let any redelivery land: it must change nothing
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


def test_a_malformed_event_is_dead_lettered_and_the_next_one_applied(
    amqp_url: str, amqp_names: dict[str, str], pg_url: str, db: Database
) -> None:
    service = handoff_service("handoff-poison", database_url=pg_url, amqp_url=amqp_url, names=amqp_names)
    with service:

        async def send_and_read_dead() -> list[bytes]:
            connection = await aio_pika.connect(amqp_url)
            async with connection:
                channel = await connection.channel()
                exchange = await channel.get_exchange(amqp_names["exchange"])
                for raw in (b"{not json", json.dumps({"no": "sender"}).encode(),
                            json.dumps(user("919800000077", 5.0, "still here")).encode()):
                    await exchange.publish(aio_pika.Message(raw, delivery_mode=2), routing_key="")
                dead = await channel.get_queue(f"{amqp_names['queue']}.dead")
                got: list[bytes] = []
                deadline = time.monotonic() + 15
                while len(got) < 2 and time.monotonic() < deadline:
                    message = await dead.get(fail=False)
                    if message is None:
                        await asyncio.sleep(0.1)
                        continue
                    got.append(message.body)
                    await message.ack()
                return got

        dead = asyncio.run(send_and_read_dead())
        deadline = time.monotonic() + 10
        while count(db, Message) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    assert sorted(dead) == sorted([b"{not json", json.dumps({"no": "sender"}).encode()])
    assert count(db, Message) == 1
