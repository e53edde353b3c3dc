"""`python -m connectors.whatsapp.dlq list` shows an operator what failed without the investor's PII: the number
and the recorded error (which quotes what the investor wrote) are masked, and its own log lines are masked JSON."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from connectors.whatsapp.intake import error_key
from connectors.whatsapp.store import RedisStore
from tests.support.processes import REPO_ROOT, base_env
from tests.whatsapp.conftest import purge_prefix

WA_ID, PAN, MAIL, CODE = "919812345678", "ABCDE1234F", "ramesh.k@example.com", "482913"


async def dead_letter(amqp_url: str, redis_url: str, prefix: str) -> None:
    """One dead letter, as the channel leaves it: the message in `{prefix}.dlq`, its last error in Redis."""
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_exchange(f"{prefix}.intake", aio_pika.ExchangeType.DIRECT, durable=True)
        await channel.declare_queue(f"{prefix}.dlq", durable=True, arguments={"x-queue-type": "quorum"})
        body = json.dumps({"id": "wamid.DLQ1", "wa_id": WA_ID, "type": "text", "text": f"my PAN {PAN}"}).encode()
        await channel.default_exchange.publish(aio_pika.Message(body, message_id="wamid.DLQ1"), f"{prefix}.dlq")
    store = RedisStore(redis_url)
    error = f"ValueError('cannot parse \"my PAN {PAN}, {MAIL}, code {CODE}\" from {WA_ID}')"
    await store.put(error_key(prefix, "wamid.DLQ1"), error, 300)
    await store.close()


@pytest.fixture
def dlq(amqp_url: str, redis_url: str, prefix: str) -> Iterator[str]:
    asyncio.run(dead_letter(amqp_url, redis_url, prefix))
    yield prefix
    asyncio.run(purge_prefix(prefix, amqp_url, redis_url))


def test_list_masks_the_number_and_the_error(dlq: str, amqp_url: str, redis_url: str) -> None:
    env = base_env({"AMQP_URL": amqp_url, "REDIS_URL": redis_url, "WHATSAPP_PREFIX": dlq, "LOG_LEVEL": "DEBUG"})
    result = subprocess.run([sys.executable, "-m", "connectors.whatsapp.dlq", "list"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    for secret in (WA_ID, WA_ID[2:], PAN, MAIL, CODE):
        assert secret not in result.stdout + result.stderr, secret
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["from"] == "91XXXXXX5678" and row["message_id"] == "wamid.DLQ1"
    assert "my PAN ABXXXXX34F, r*******@example.com, code XXXXXX" in row["error"] and "91XXXXXX5678" in row["error"]
    summary, *logged = reversed(result.stderr.splitlines())
    assert summary == "1 dead letter(s) listed"
    assert all(json.loads(line)["service"] == "whatsapp-dlq" for line in logged)


async def add_undecodable_letter(amqp_url: str, prefix: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.default_exchange.publish(aio_pika.Message(b"\xffnot json", message_id="wamid.BAD"),
                                               f"{prefix}.dlq")


async def dlq_ids(amqp_url: str, prefix: str) -> list[str]:
    """The message ids left in the DLQ (read, then put back)."""
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(f"{prefix}.dlq", ensure=True)
        held = []
        while (incoming := await queue.get(no_ack=False, fail=False)) is not None:
            held.append(incoming)
        for incoming in held:
            await incoming.nack(requeue=True)
        return [str(incoming.message_id) for incoming in held]


def test_replay_keeps_what_it_cannot_republish(dlq: str, amqp_url: str, redis_url: str) -> None:
    """A letter with no decodable investor number stays in the DLQ (and the output says so); the rest move on."""
    asyncio.run(add_undecodable_letter(amqp_url, dlq))
    env = base_env({"AMQP_URL": amqp_url, "REDIS_URL": redis_url, "WHATSAPP_PREFIX": dlq})
    result = subprocess.run([sys.executable, "-m", "connectors.whatsapp.dlq", "replay"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    rows = {row["message_id"]: row for row in map(json.loads, result.stdout.splitlines())}
    assert "kept" in rows["wamid.BAD"] and "kept" not in rows["wamid.DLQ1"], rows
    assert result.stderr.splitlines()[-1] == (
        "1 dead letter(s) replayed; 1 kept in the dead-letter queue (could not be decoded: see 'kept')"
    )
    assert asyncio.run(dlq_ids(amqp_url, dlq)) == ["wamid.BAD"]


def test_purge_says_purged(dlq: str, amqp_url: str, redis_url: str) -> None:
    env = base_env({"AMQP_URL": amqp_url, "REDIS_URL": redis_url, "WHATSAPP_PREFIX": dlq})
    result = subprocess.run([sys.executable, "-m", "connectors.whatsapp.dlq", "purge"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    assert result.stderr.splitlines()[-1] == "1 dead letter(s) purged"
    assert asyncio.run(dlq_ids(amqp_url, dlq)) == []
