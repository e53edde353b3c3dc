"""The RabbitMQ topology shared by Rasa's outbox broker (publisher) and the handoff consumer.

Both sides declare it identically, so whichever starts first creates it and nothing published before the
consumer's first start is dropped by an exchange with no queue. Light on purpose: Rasa imports it.

- `<exchange>`: durable fanout exchange Rasa publishes every tracker event to.
- `<queue>`: durable quorum queue bound to it, with a delivery limit; a message redelivered more often
  than that (a poison event that crashes the consumer) is dead-lettered instead of looping forever.
- `<exchange>.dlx` -> `<queue>.dead`: where poison events wait for a person to look at them.
"""

from __future__ import annotations

from typing import Any

DEFAULT_EXCHANGE = "rasa-events"
DEFAULT_QUEUE = "handoff-events"
DEFAULT_DELIVERY_LIMIT = 5


def queue_arguments(exchange: str, delivery_limit: int) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": f"{exchange}.dlx",
    }


async def declare(channel: Any, exchange: str, queues: list[str], delivery_limit: int) -> tuple[Any, list[Any]]:
    """Declare exchange, queues and dead-letter queues on an aio-pika channel; returns (exchange, queues)."""
    import aio_pika

    ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.FANOUT, durable=True)
    dlx = await channel.declare_exchange(f"{exchange}.dlx", aio_pika.ExchangeType.FANOUT, durable=True)
    declared = []
    for name in queues:
        dead = await channel.declare_queue(f"{name}.dead", durable=True, arguments={"x-queue-type": "quorum"})
        await dead.bind(dlx, "")
        queue = await channel.declare_queue(name, durable=True, arguments=queue_arguments(exchange, delivery_limit))
        await queue.bind(ex, "")
        declared.append(queue)
    return ex, declared
