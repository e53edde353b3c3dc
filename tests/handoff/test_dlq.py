"""The operator's tool for `<queue>.dead`: `python -m handoff.dlq list|replay|purge` lists what is there and why,
masked (kind, number, reason; never the text), replays an event to its partition (applied by the running
service) and purges."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time

import aio_pika

from handoff import topology
from handoff.db import Database
from handoff.models import Message
from tests.handoff.conftest import declare_topology, handoff_service, user
from tests.handoff.test_consumer import count, publish_raw
from tests.support.processes import REPO_ROOT, VENV_BIN, base_env


def dlq(amqp_url: str, names: dict[str, str], *args: str) -> str:
    env = {"AMQP_URL": amqp_url, "HANDOFF_QUEUE": names["queue"], "HANDOFF_PARTITIONS": names["partitions"]}
    done = subprocess.run([str(VENV_BIN / "python"), "-m", "handoff.dlq", *args], capture_output=True, text=True,
                          env=base_env(env), cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def rejected_by_a_consumer(amqp_url: str, names: dict[str, str], body: dict) -> None:
    """A consumer rejects an event: RabbitMQ itself dead-letters it (x-death: rejected), no reason header."""
    await declare_topology(amqp_url, names)
    partition = topology.partition_of(body["sender_id"], int(names["partitions"]))
    await publish_raw(amqp_url, names, [(body["sender_id"], json.dumps(body).encode())])
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        queue = await (await connection.channel()).get_queue(topology.partition_queue(names["queue"], partition))
        async with queue.iterator() as messages:
            async for message in messages:
                await message.reject(requeue=False)
                break


def wait_listed(amqp_url: str, names: dict[str, str], count: int) -> str:
    deadline = time.monotonic() + 30
    while f"{count} dead letter(s)" not in (listed := dlq(amqp_url, names, "list")):
        assert time.monotonic() < deadline, listed
        time.sleep(0.2)
    return listed


def test_the_dlq_tool_lists_masked_replays_and_purges(
    amqp_url: str, amqp_names: dict[str, str], pg_url: str, db: Database
) -> None:
    valid = user("919800000091", 7.0, "my PAN is ABCDE1234F") | {"handoff_event_id": "ev-valid-0091"}
    asyncio.run(rejected_by_a_consumer(amqp_url, amqp_names, valid))
    service = handoff_service("handoff-dlq", database_url=pg_url, amqp_url=amqp_url, names=amqp_names)
    with service:
        asyncio.run(publish_raw(amqp_url, amqp_names, [("919800000092", b'{"sender_id": "919800000092", oops')]))
        listed = wait_listed(amqp_url, amqp_names, 2)
        lines = listed.splitlines()
        assert any("user for 91XXXXXX0091" in line and "ev-valid-0091" in line and "rejected" in line
                   for line in lines), listed
        assert any("undecodable" in line and "not JSON" in line for line in lines), listed
        assert "919800000091" not in listed and "ABCDE1234F" not in listed and "my PAN" not in listed
        assert "replayed 1 event(s)" in dlq(amqp_url, amqp_names, "replay", "--id", "ev-valid-0091")
        deadline = time.monotonic() + 30
        while count(db, Message) < 1:
            assert time.monotonic() < deadline, "the replayed event was never applied"
            time.sleep(0.1)
        assert "ev-valid-0091" not in wait_listed(amqp_url, amqp_names, 1)
        assert "purged 1 event(s)" in dlq(amqp_url, amqp_names, "purge", "--all")
        wait_listed(amqp_url, amqp_names, 0)
    with db.transaction() as s:
        assert s.query(Message.text).scalar() == "my PAN is ABCDE1234F"
