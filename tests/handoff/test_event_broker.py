"""The outbox broker: events survive RabbitMQ being down, Rasa being killed and no consumer having declared its
partitions yet; each lands in its conversation's partition."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aio_pika
import pytest
from aio_pika.exceptions import DeliveryError

from handoff import topology
from handoff.event_broker import AmqpSink, Outbox, OutboxEventBroker
from tests.handoff.conftest import declare_topology


async def read_partitions(amqp_url: str, names: dict[str, str], expected: int, timeout: float = 10
                          ) -> dict[int, list[list[dict]]]:
    """The messages in the partition queues, by partition, each as its list of events (consumed:
    single-active-consumer queues refuse basic.get)."""
    connection = await aio_pika.connect(amqp_url)
    got: dict[int, list[list[dict]]] = {}
    arrived = asyncio.Event()
    async with connection:
        channel = await connection.channel()
        for index in range(int(names["partitions"])):
            queue = await channel.get_queue(topology.partition_queue(names["queue"], index))

            async def take(message: aio_pika.abc.AbstractIncomingMessage, index: int = index) -> None:
                got.setdefault(index, []).append(json.loads(message.body))
                await message.ack()
                if sum(len(events) for messages in got.values() for events in messages) >= expected:
                    arrived.set()

            await queue.consume(take)
        await asyncio.wait_for(arrived.wait(), timeout)
    return got


async def test_events_wait_in_the_outbox_until_rabbitmq_is_reachable(
    amqp_url: str, amqp_names: dict[str, str], tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.db"
    partitions = int(amqp_names["partitions"])
    down = OutboxEventBroker(str(outbox), AmqpSink("amqp://guest:guest@127.0.0.1:1/", amqp_names["exchange"],
                                                   partitions))
    senders = ["919800000001", "919800000002"]
    for i in range(6):
        down.publish({"sender_id": senders[i % 2], "event": "user", "text": f"m{i}", "timestamp": float(i)})
    with pytest.raises(OSError):
        await down.drain_once()
    down.outbox.close()  # the process "dies" here: nothing was sent, nothing is lost

    up = OutboxEventBroker(str(outbox), AmqpSink(amqp_url, amqp_names["exchange"], partitions))
    assert len(up.outbox) == 6
    with pytest.raises(DeliveryError):  # RabbitMQ is up, but no consumer declared its partitions yet: returned
        await up.drain_once()
    assert len(up.outbox) == 6  # ... and kept
    await declare_topology(amqp_url, amqp_names)
    assert await up.drain_once() == 6
    assert len(up.outbox) == 0
    await up.close()
    by_partition = await read_partitions(amqp_url, amqp_names, 6)
    for sender in senders:  # each conversation in its own partition, in order, its events in one message
        messages = by_partition[topology.partition_of(sender, partitions)]
        mine = [[e["text"] for e in events if e["sender_id"] == sender] for events in messages]
        assert [texts for texts in mine if texts] == [[f"m{i}" for i in range(6) if senders[i % 2] == sender]]


def test_confirmed_events_are_forgotten_without_weakening_the_next_append(tmp_path: Path) -> None:
    """`delete_through` skips its own fsync (a lost delete only resends, deduplicated by key); appends after it
    are still synchronous=FULL, and the file reopened holds exactly what was not confirmed."""
    path = str(tmp_path / "outbox.db")
    outbox = Outbox(path)
    outbox.append_many(["a", "b", "c"])
    first, second, _ = (row_id for row_id, _ in outbox.peek(10))
    outbox.delete_through(second)
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL, for the next append
    outbox.append("d")
    assert len(outbox) == 2
    outbox.close()
    reopened = Outbox(path)
    assert [body for _, body in reopened.peek(10)] == ["c", "d"] and len(reopened) == 2
    assert first < second
    reopened.close()
