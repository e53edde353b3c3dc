"""Operators' view of the dead-letter queue: `python -m connectors.whatsapp.dlq list|replay|purge`.

A message lands in `{prefix}.dlq` when Rasa failed on it `WHATSAPP_DELIVERY_LIMIT` times (RabbitMQ counts and
dead-letters it) or when it could not be decoded. `list` shows each one with RabbitMQ's `x-death` reason and
the last error the channel recorded; `replay` moves them back to their investor's partition once the cause
is fixed; `purge` drops them. Investor numbers are masked in the output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from common.pii import mask_phone
from connectors.whatsapp.intake import error_key, partition_of
from connectors.whatsapp.settings import WhatsAppSettings
from connectors.whatsapp.store import make_store


async def dead_letters(settings: WhatsAppSettings, action: str = "list", limit: int = 100) -> list[dict[str, Any]]:
    """Read (and, for replay/purge, remove) up to `limit` dead letters; list leaves them in place."""
    import aio_pika

    if not settings.amqp_url:
        raise SystemExit("AMQP_URL is not set: the embedded mode has no dead-letter queue")
    store = make_store(settings.redis_url)
    connection = await aio_pika.connect(settings.amqp_url)
    rows: list[dict[str, Any]] = []
    try:
        channel = await connection.channel(publisher_confirms=True)
        queue = await channel.get_queue(f"{settings.prefix}.dlq", ensure=True)
        exchange = await channel.get_exchange(f"{settings.prefix}.intake", ensure=True)
        held = []
        for _ in range(limit):
            incoming = await queue.get(no_ack=False, fail=False)
            if incoming is None:
                break
            held.append(incoming)
            headers: dict[str, Any] = dict(incoming.headers or {})
            deaths = headers.get("x-death")
            first: dict[str, Any] = (
                deaths[0] if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict) else {}
            )
            try:
                body = json.loads(incoming.body)
            except ValueError:
                body = {}
            message_id = str(incoming.message_id or body.get("id", ""))
            rows.append(
                {
                    "message_id": message_id,
                    "from": mask_phone(str(body.get("wa_id", headers.get("wa_id", "")))),
                    "type": body.get("type"),
                    "reason": str(first.get("reason", headers.get("x-first-death-reason", ""))),
                    "queue": str(first.get("queue", headers.get("x-first-death-queue", ""))),
                    "count": first.get("count"),
                    "error": await store.get(error_key(settings.prefix, message_id)),
                }
            )
            if action == "replay" and body.get("wa_id"):
                await exchange.publish(
                    aio_pika.Message(
                        incoming.body,
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=message_id,
                    ),
                    routing_key=str(partition_of(str(body["wa_id"]), settings.partitions)),
                )
        for incoming in held:
            if action in {"replay", "purge"}:
                await incoming.ack()
            else:
                await incoming.nack(requeue=True)
    finally:
        await connection.close()
        await store.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors.whatsapp.dlq", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["list", "replay", "purge"])
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args(argv)
    rows = asyncio.run(dead_letters(WhatsAppSettings.from_env(), args.action, args.limit))
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    print(f"{len(rows)} dead letter(s) {'listed' if args.action == 'list' else args.action + 'ed'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
