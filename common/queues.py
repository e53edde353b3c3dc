"""RabbitMQ partitioned quorum queues with dead letters: the one declaration the WhatsApp intake
(connectors/whatsapp/intake.py) and the handoff events (handoff/topology.py) share.

A key (an investor's number, a conversation id) always maps to the same partition, `partition_of(key, n)`;
partition `i` is the quorum queue bound to a direct exchange with routing key `str(i)`, with a single active
consumer, so one key's messages are handled in order by one consumer at a time. A message that keeps failing
is dead-lettered by RabbitMQ after `x-delivery-limit` deliveries (at-least-once dead-lettering) into a quorum
dead-letter queue. The arguments are part of each queue's identity on the broker: a change here makes every
existing queue refuse the next declaration (PRECONDITION_FAILED), so they stay exactly as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any


def partition_of(key: str, partitions: int) -> int:
    """The key's partition: stable across processes and Python versions (unlike hash())."""
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") % partitions  # noqa: S324


def quorum_arguments(delivery_limit: int, dead_letter_exchange: str, dead_letter_routing_key: str | None = None
                     ) -> dict[str, Any]:
    """A partition queue's arguments: quorum, single active consumer, dead-lettered after `delivery_limit`
    deliveries to `dead_letter_exchange` (with `dead_letter_routing_key`, if given)."""
    arguments: dict[str, Any] = {
        "x-queue-type": "quorum",
        "x-single-active-consumer": True,
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": dead_letter_exchange,
    }
    if dead_letter_routing_key is not None:
        arguments["x-dead-letter-routing-key"] = dead_letter_routing_key
    arguments["x-dead-letter-strategy"] = "at-least-once"
    arguments["x-overflow"] = "reject-publish"  # required by at-least-once dead-lettering
    return arguments


async def declare_dead_letter_queue(channel: Any, name: str, exchange: str | None = None) -> Any:
    """The quorum queue dead letters land in; bound to the fanout `exchange` when they arrive through one
    (otherwise they are routed to it by name through the default exchange)."""
    import aio_pika

    dlx = None
    if exchange is not None:
        dlx = await channel.declare_exchange(exchange, aio_pika.ExchangeType.FANOUT, durable=True)
    queue = await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
    if dlx is not None:
        await queue.bind(dlx)
    return queue


async def declare_partitions(channel: Any, router: Any, queue_name: Callable[[int], str], partitions: int,
                             arguments: dict[str, Any]) -> None:
    """Partition queues `queue_name(i)`, i < partitions, each bound to the direct exchange `router` with key `i`."""
    for index in range(partitions):
        queue = await channel.declare_queue(queue_name(index), durable=True, arguments=arguments)
        await queue.bind(router, routing_key=str(index))
