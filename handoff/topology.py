"""The RabbitMQ topology between Rasa's outbox broker (publisher) and the handoff replicas (consumers).

Light on purpose: Rasa imports it (handoff/event_broker.py).

- `<exchange>` (durable fanout): Rasa publishes every tracker event here, with the conversation's partition
  (`partition_of(sender_id)`) as routing key. A fanout ignores the key, so anything else bound to it still
  sees every event. A message body is one event (a JSON object) or, as the outbox sends them, a JSON array of
  consecutive events of one partition (`pack`): RabbitMQ's cost is per message, so at hundreds of events a
  second a message per event would make the broker and the consumer's client the bottleneck.
- `<queue>.partitions` (durable direct exchange, bound to `<exchange>`): routes by that key to
- `<queue>.<i>`, i < partitions: quorum queues with single active consumer. Every replica subscribes to every
  partition, RabbitMQ delivers each partition to one of them at a time, so a conversation's events are applied
  by one replica, in order; when it dies the next subscriber takes over at once (unacknowledged events are
  redelivered, and recognised by their key). handoff/group.py spreads the partitions over the replicas.
- `<queue>.dead`: dead letters, through the default exchange: malformed events and events still failing after
  the retries, published by the consumer with the reason in the `x-handoff-reason` header; and, as a last
  resort, those RabbitMQ dead-letters itself after `x-delivery-limit` deliveries (a consumer crashing on them).
  `python -m handoff.dlq list|replay|purge` is the operator's tool.

Only the consumer declares the partitions. The publisher declares the exchange and publishes with `mandatory`:
until a consumer has declared its queues (or if Rasa was given more partitions than the consumers), an event
is returned unroutable and stays in Rasa's outbox, so nothing is lost and a mismatch stalls loudly.
"""

from __future__ import annotations

import json
from typing import Any

from common.queues import declare_dead_letter_queue, declare_partitions, partition_of, quorum_arguments

DEFAULT_EXCHANGE = "rasa-events"
DEFAULT_QUEUE = "handoff-events"
DEFAULT_DELIVERY_LIMIT = 5
DEFAULT_PARTITIONS = 8
REASON_HEADER = "x-handoff-reason"


def partition_queue(queue: str, index: int) -> str:
    return f"{queue}.{index}"


def dead_queue(queue: str) -> str:
    return f"{queue}.dead"


def router(queue: str) -> str:
    return f"{queue}.partitions"


def pack(bodies: list[str], partitions: int, max_events: int = 200, max_bytes: int = 1_000_000
         ) -> list[tuple[str, bytes, str | None]]:
    """Encoded events, in order, as messages: (routing key, body, first event's id); one partition's events
    stay in their order in one message or consecutive ones."""
    groups: dict[int, list[tuple[str, str | None]]] = {}
    for body in bodies:
        event = json.loads(body)
        partition = partition_of(str(event.get("sender_id") or ""), partitions)
        groups.setdefault(partition, []).append((body, event.get("handoff_event_id")))
    messages: list[tuple[str, bytes, str | None]] = []
    for partition, events in groups.items():
        chunk: list[tuple[str, str | None]] = []
        for event in events + [("", None)]:  # a sentinel flushes the last chunk
            size = sum(len(body) + 1 for body, _ in chunk)
            if chunk and (not event[0] or len(chunk) >= max_events or size + len(event[0]) > max_bytes):
                payload = "[" + ",".join(body for body, _ in chunk) + "]"
                messages.append((str(partition), payload.encode(), chunk[0][1]))
                chunk = []
            if event[0]:
                chunk.append(event)
    return messages


def queue_arguments(queue: str, delivery_limit: int) -> dict[str, Any]:
    """Dead letters go to `<queue>.dead` through the default exchange."""
    return quorum_arguments(delivery_limit, "", dead_queue(queue))


async def declare_exchange(channel: Any, exchange: str) -> Any:
    """The publisher's part: the fanout exchange Rasa publishes to."""
    import aio_pika

    return await channel.declare_exchange(exchange, aio_pika.ExchangeType.FANOUT, durable=True)


async def declare_consumer(channel: Any, exchange: str, queue: str, partitions: int, delivery_limit: int) -> None:
    """The consumer's part: the router, the partition queues and the dead-letter queue."""
    import aio_pika

    fanout = await declare_exchange(channel, exchange)
    await declare_dead_letter_queue(channel, dead_queue(queue))
    route = await channel.declare_exchange(router(queue), aio_pika.ExchangeType.DIRECT, durable=True)
    await route.bind(fanout, "")
    await declare_partitions(channel, route, lambda index: partition_queue(queue, index), partitions,
                             queue_arguments(queue, delivery_limit))
