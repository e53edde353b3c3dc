"""The handoff events' dead-letter queue `<queue>.dead`, for operators.

    python -m handoff.dlq list [--limit N]
    python -m handoff.dlq replay (--id EVENT_ID ... | --all)
    python -m handoff.dlq purge (--id EVENT_ID ... | --all)

`list` shows each dead letter as: position, event id, what kind of event for whom (the number masked) and how
big, and why it was dead-lettered (the consumer's `x-handoff-reason`, or RabbitMQ's own reason, e.g. the
delivery limit); never the message's text. `replay` publishes the chosen events back to their conversation's
partition (after the cause was fixed; an event already applied is recognised and skipped) and removes them
from the dead letters; `purge` removes them for good. Reads AMQP_URL, HANDOFF_QUEUE and HANDOFF_PARTITIONS like
the service. Light on purpose (the outbox's own CLI in handoff/event_broker.py uses `describe`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from common.config import env_int, env_str
from common.pii import mask_phone, mask_text
from handoff import topology


def _events(body: bytes | str) -> list[dict[str, Any]] | None:
    """The events in a body (one, or an array of one partition's: topology.pack); None if not JSON."""
    try:
        decoded = json.loads(body)
    except ValueError:
        return None
    items = decoded if isinstance(decoded, list) else [decoded]
    return [item for item in items if isinstance(item, dict)]


def describe(body: bytes | str) -> str:
    """One dead letter for an operator: what kind of event, for whom (masked), how big; never its text."""
    events = _events(body)
    if events is None:
        return f"undecodable, {len(body)} bytes"
    if not events:
        return f"not an event, {len(body)} bytes"
    first = events[0]
    what = f"{first.get('event', '?')} for {mask_phone(str(first.get('sender_id', '')))}"
    if len(events) > 1:
        what = f"{len(events)} events, the first: {what}"
    return f"{what} ({len(body)} bytes, id {first.get('handoff_event_id', '?')})"


def event_id(message: Any) -> str:
    """The (first) event's id, else the message's; masked, in case a publisher put a number there."""
    events = _events(message.body) or [{}]
    return mask_text(str(events[0].get("handoff_event_id") or message.message_id or "-"))


def reason_of(headers: dict[str, Any] | None) -> str:
    """Why it is here: our consumer's reason header, else what RabbitMQ recorded (x-death)."""
    headers = headers or {}
    reason = headers.get(topology.REASON_HEADER)
    if reason:
        return mask_text(_text(reason))
    deaths = headers.get("x-death") or []
    if deaths and isinstance(deaths[0], dict):
        death = deaths[0]
        return f"dead-lettered by RabbitMQ: {_text(death.get('reason'))} (from {_text(death.get('queue'))})"
    return "unknown"


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value if value is not None else "?")


async def _take(channel: Any, queue: str, limit: int) -> list[Any]:
    """Hold up to `limit` dead letters, unacknowledged (closing the channel puts back what was not settled)."""
    dead = await channel.get_queue(topology.dead_queue(queue))
    held: list[Any] = []
    while len(held) < limit:
        message = await dead.get(no_ack=False, fail=False)
        if message is None:
            break
        held.append(message)
    return held


async def _replay(channel: Any, queue: str, partitions: int, message: Any) -> None:
    """Back to the conversation's partition queue (confirmed), then out of the dead letters."""
    import aio_pika

    events = _events(message.body) or [{}]
    sender = str(events[0].get("sender_id") or "")  # a batch's events are all of one partition
    route = await channel.get_exchange(topology.router(queue))
    await route.publish(
        aio_pika.Message(message.body, message_id=message.message_id, content_type=message.content_type,
                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
        routing_key=str(topology.partition_of(sender, partitions)),
        mandatory=True,
    )
    await message.ack()


async def run(action: str, ids: list[str], take_all: bool, limit: int) -> int:
    import aio_pika

    queue = env_str("HANDOFF_QUEUE", topology.DEFAULT_QUEUE)
    partitions = env_int("HANDOFF_PARTITIONS", topology.DEFAULT_PARTITIONS)
    connection = await aio_pika.connect(env_str("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"), timeout=10)
    async with connection:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        held = await _take(channel, queue, limit)
        chosen = [m for m in held if take_all or event_id(m) in ids]
        for position, message in enumerate(held, 1):
            mark = "*" if action != "list" and message in chosen else " "
            print(f"{mark}{position}\t{event_id(message)}\t{describe(message.body)}\t{reason_of(message.headers)}")
        for message in chosen if action != "list" else []:
            if action == "replay":
                await _replay(channel, queue, partitions, message)
            else:
                await message.ack()
        done = {"list": f"{len(held)} dead letter(s) in {topology.dead_queue(queue)}",
                "replay": f"replayed {len(chosen)} event(s)", "purge": f"purged {len(chosen)} event(s)"}
        print(done[action])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff.dlq", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["list", "replay", "purge"])
    parser.add_argument("--id", action="append", dest="ids", default=[], help="only this event id (repeat)")
    parser.add_argument("--all", action="store_true", help="every dead letter (replay, purge)")
    parser.add_argument("--limit", type=int, default=10_000, help="look at most at this many")
    args = parser.parse_args(argv)
    if args.action != "list" and not (args.ids or args.all):
        parser.error(f"{args.action} needs --id EVENT_ID or --all")
    return asyncio.run(run(args.action, args.ids, args.all, args.limit))


if __name__ == "__main__":
    sys.exit(main())
