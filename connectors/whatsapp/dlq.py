"""Operators' view of the dead-letter queue: `python -m connectors.whatsapp.dlq list|replay|purge`.

A message lands in `{prefix}.dlq` when Rasa failed on it `WHATSAPP_DELIVERY_LIMIT` times (RabbitMQ counts and
dead-letters it) or when it could not be decoded. `list` shows each one with RabbitMQ's `x-death` reason and
the last error the channel recorded; `replay` moves them back to their investor's partition once the cause
is fixed (a letter whose investor number cannot be decoded stays in the DLQ, marked `kept`); `purge` drops
them. Investor numbers, and PII in the recorded errors, are masked in the output.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from common.logs import configure_logging
from common.pii import mask_phone, mask_text
from common.queues import partition_of
from connectors.whatsapp.intake import error_key
from connectors.whatsapp.settings import WhatsAppSettings
from connectors.whatsapp.store import make_store


def decode(body: bytes) -> dict[str, Any]:
    """The intake message a dead letter carries, or {} when it is not one (then it cannot be replayed)."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def describe(incoming: Any, body: dict[str, Any]) -> dict[str, Any]:
    """An operator's row for one dead letter (masked number; RabbitMQ's first death: reason, queue, count)."""
    headers: dict[str, Any] = dict(incoming.headers or {})
    deaths = headers.get("x-death")
    first: dict[str, Any] = deaths[0] if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict) else {}
    return {
        "message_id": str(incoming.message_id or body.get("id", "")),
        "from": mask_phone(str(body.get("wa_id", headers.get("wa_id", "")))),
        "type": body.get("type"),
        "reason": str(first.get("reason", headers.get("x-first-death-reason", ""))),
        "queue": str(first.get("queue", headers.get("x-first-death-queue", ""))),
        "count": first.get("count"),
    }


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
            body = decode(incoming.body)
            row = describe(incoming, body)
            error = await store.get(error_key(settings.prefix, row["message_id"]))
            rows.append(row | {"error": mask_text(error or "", strict=True)})
            if action == "replay" and body.get("wa_id"):
                await exchange.publish(
                    aio_pika.Message(
                        incoming.body,
                        content_type="application/json",
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                        message_id=row["message_id"],
                    ),
                    routing_key=str(partition_of(str(body["wa_id"]), settings.partitions)),
                )
            elif action == "replay":
                rows[-1]["kept"] = "not replayable: no investor number could be decoded"
        for incoming, row in zip(held, rows, strict=True):
            if action == "purge" or (action == "replay" and "kept" not in row):
                await incoming.ack()
            else:  # listed, or a replay that could not be republished: back into the DLQ, never lost
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
    configure_logging("whatsapp-dlq")
    rows = asyncio.run(dead_letters(WhatsAppSettings.from_env(), args.action, args.limit))
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    kept = sum(1 for row in rows if "kept" in row)
    done = {"list": "listed", "replay": "replayed", "purge": "purged"}[args.action]
    summary = f"{len(rows) - kept} dead letter(s) {done}"
    if kept:
        summary += f"; {kept} kept in the dead-letter queue (could not be decoded: see 'kept')"
    print(summary, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
