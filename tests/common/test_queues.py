"""common/queues.py: the partitioned quorum queues with dead letters that the WhatsApp intake and the handoff
events both declare. Their arguments are part of each queue's identity on the broker, so they must stay exactly
what queues already declared on a running RabbitMQ carry."""

from __future__ import annotations

import hashlib
from typing import Any

import aio_pika

from common.queues import declare_dead_letter_queue, declare_partitions, partition_of, quorum_arguments
from connectors.whatsapp.intake import AmqpIntake
from connectors.whatsapp.store import MemoryStore
from handoff import topology

# What each side declared before the shared helper (copied from the code it replaced), in order.
HANDOFF_BEFORE = {
    "x-queue-type": "quorum",
    "x-single-active-consumer": True,
    "x-delivery-limit": 5,
    "x-dead-letter-exchange": "",
    "x-dead-letter-routing-key": "handoff-events.dead",
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}
WHATSAPP_BEFORE = {
    "x-queue-type": "quorum",
    "x-single-active-consumer": True,
    "x-delivery-limit": 5,
    "x-dead-letter-exchange": "wa.dlx",
    "x-dead-letter-strategy": "at-least-once",
    "x-overflow": "reject-publish",
}


def test_arguments_are_exactly_the_ones_queues_were_declared_with() -> None:
    handoff = topology.queue_arguments("handoff-events", 5)
    whatsapp = AmqpIntake("amqp://unused", MemoryStore(), prefix="wa", delivery_limit=5).queue_arguments()
    assert list(handoff.items()) == list(HANDOFF_BEFORE.items())
    assert list(whatsapp.items()) == list(WHATSAPP_BEFORE.items())


def test_partitions_are_stable_and_shared() -> None:
    """The same function on both sides, and the values it gave before (sha1, not hash())."""
    assert topology.partition_of is partition_of
    assert [partition_of(key, 16) for key in ("919800000001", "919800000002", "")] == [
        int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") % 16  # noqa: S324
        for key in ("919800000001", "919800000002", "")
    ]


async def test_declared_queues_accept_the_old_declaration_and_route_by_partition(amqp_url: str, run_id: str
                                                                                 ) -> None:
    """Declared through the helper, the queues take a re-declaration with the old literal arguments (RabbitMQ
    refuses one that differs), and a dead letter lands in the dead-letter queue through the fanout exchange."""
    prefix = f"{run_id}-queues"
    old: dict[str, Any] = dict(WHATSAPP_BEFORE, **{"x-dead-letter-exchange": f"{prefix}.dlx", "x-delivery-limit": 1})
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        dlq = await declare_dead_letter_queue(channel, f"{prefix}.dlq", exchange=f"{prefix}.dlx")
        router = await channel.declare_exchange(f"{prefix}.in", aio_pika.ExchangeType.DIRECT, auto_delete=True)
        await declare_partitions(channel, router, lambda i: f"{prefix}.{i}", 2,
                                 quorum_arguments(1, f"{prefix}.dlx"))
        for i in range(2):  # the old declaration still matches: no PRECONDITION_FAILED, the channel stays open
            await channel.declare_queue(f"{prefix}.{i}", durable=True, arguments=old)
        key = "919800000001"
        await router.publish(aio_pika.Message(b"poison"), routing_key=str(partition_of(key, 2)))
        queue = await channel.get_queue(f"{prefix}.{partition_of(key, 2)}")
        async with queue.iterator() as messages:
            async for message in messages:
                await message.reject(requeue=False)  # RabbitMQ dead-letters it (no delivery limit needed)
                break
        async with dlq.iterator() as letters:
            async for letter in letters:
                assert letter.body == b"poison"
                await letter.ack()
                break
    finally:
        cleanup = await connection.channel()
        for name in [f"{prefix}.0", f"{prefix}.1", f"{prefix}.dlq"]:
            await cleanup.queue_delete(name)
        await cleanup.exchange_delete(f"{prefix}.dlx")
        await connection.close()
