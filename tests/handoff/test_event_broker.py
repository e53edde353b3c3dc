"""The outbox broker: events survive RabbitMQ being down and Rasa being killed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aio_pika
import pytest

from handoff.event_broker import AmqpSink, OutboxEventBroker


async def read_queue(amqp_url: str, queue: str, expected: int, timeout: float = 10) -> list[bytes]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        q = await channel.get_queue(queue)
        got: list[bytes] = []
        deadline = time.monotonic() + timeout
        while len(got) < expected and time.monotonic() < deadline:
            message = await q.get(fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            got.append(message.body)
            await message.ack()
        return got


async def test_events_wait_in_the_outbox_until_rabbitmq_is_reachable(
    amqp_url: str, amqp_names: dict[str, str], tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.db"
    down = OutboxEventBroker(str(outbox), AmqpSink("amqp://guest:guest@127.0.0.1:1/", amqp_names["exchange"],
                                                   [amqp_names["queue"]], 5))
    for i in range(5):
        down.publish({"sender_id": "919800000001", "event": "user", "text": f"m{i}", "timestamp": float(i)})
    with pytest.raises(OSError):
        await down.drain_once()
    down.outbox.close()  # the process "dies" here: nothing was sent, nothing is lost

    up = OutboxEventBroker(str(outbox), AmqpSink(amqp_url, amqp_names["exchange"], [amqp_names["queue"]], 5))
    assert len(up.outbox) == 5
    assert await up.drain_once() == 5
    assert len(up.outbox) == 0
    await up.close()
    bodies = await read_queue(amqp_url, amqp_names["queue"], 5)
    assert [b for b in bodies if b"m4" in b] and len(bodies) == 5
