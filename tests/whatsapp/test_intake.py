"""Production mode: RabbitMQ partitions + Redis. Durability, dedupe across replicas, order and exclusivity per
investor with two channel instances (two "replicas"), failover, dead letters, and 503 when the broker is down."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import defaultdict

import aiohttp
import pytest
from prometheus_client import REGISTRY

from common.queues import partition_of
from connectors.whatsapp.dlq import dead_letters
from connectors.whatsapp.intake import AmqpIntake
from connectors.whatsapp.signature import HEADER, sign
from tests.support.processes import ServiceProcess, free_port
from tests.whatsapp import meta_payloads as meta
from tests.whatsapp.conftest import (
    ChannelServer,
    EchoBot,
    Sim,
    channel_settings,
    close_channel,
    post_signed,
    purge_prefix,
    serve_channel,
)


@pytest.fixture(autouse=True)
async def _purge(prefix: str, amqp_url: str, redis_url: str):  # type: ignore[no-untyped-def]
    yield
    await purge_prefix(prefix, amqp_url, redis_url)


async def wait_reply(sim: Sim, wa_id: str, body: str, timeout: float = 30.0) -> list[str]:
    """Poll until the simulator holds the reply `body` to `wa_id`; every reply body to `wa_id` by then.

    A barrier for negative checks: one investor's messages are one partition's, handled one at a time in queue
    order (prefetch 1, single active consumer; connectors/whatsapp/intake.py), and a message is in the queue
    once its webhook was answered (publisher confirms). So once the reply to the last message sent is there,
    anything queued before it -- a duplicate of an earlier delivery included -- was handled and replied to."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        bodies = [r["payload"]["text"]["body"] for r in await sim.outbound(wa_id)]
        if body in bodies:
            return bodies
        assert asyncio.get_running_loop().time() < deadline, f"no {body!r} for {wa_id}: {bodies}"
        await asyncio.sleep(0.05)


async def test_durable_roundtrip_dedupe_and_order(durable: ChannelServer, sim: Sim) -> None:
    await sim.send(meta.INVESTOR, text="one", duplicate=2)
    for text in ("two", "three"):
        await sim.send(meta.INVESTOR, text=text)
    # A duplicate "one" would have been queued before "two" (wait_reply's docstring): conclusive at "echo: three".
    assert await wait_reply(sim, meta.INVESTOR, "echo: three") == ["echo: one", "echo: two", "echo: three"]


async def test_read_receipt_once_the_message_is_safe_even_before_rasa_takes_it(
    sim: Sim, prefix: str, amqp_url: str, redis_url: str
) -> None:
    settings = channel_settings(sim, prefix, amqp_url=amqp_url, redis_url=redis_url, mark_read=True)
    gateway = await serve_channel(settings, EchoBot(), start=False)  # accepts and queues, consumes nothing
    await sim.reset(gateway.webhook)
    try:
        result = await sim.send(meta.INVESTOR, text="seen?")
        assert result["status"] == 200
        for _ in range(100):
            stats = await sim.call("GET", "/_sim/stats")
            if stats.get("marked_read"):
                break
            await asyncio.sleep(0.05)
        assert stats["marked_read"] == 1
        assert await sim.outbound() == []  # nobody answered: the tick means "safe with us", not "answered"
    finally:
        await close_channel(gateway)


async def test_acknowledged_message_survives_until_a_consumer_starts(
    sim: Sim, prefix: str, amqp_url: str, redis_url: str
) -> None:
    settings = channel_settings(sim, prefix, amqp_url=amqp_url, redis_url=redis_url)
    first = await serve_channel(settings, EchoBot(), start=False)  # webhook up, nobody consuming
    await sim.reset(first.webhook)
    try:
        result = await sim.send(meta.INVESTOR, text="kept safe")
        assert result["status"] == 200
        intake = first.channel.intake
        assert isinstance(intake, AmqpIntake)
        await intake.sample_queues()  # what /metrics shows operators: one waiting, nobody consuming
        waiting = {p: sample("mfa_whatsapp_intake_queue_depth", p) for p in range(settings.partitions)}
        assert sum(waiting.values()) == 1 and waiting[partition_of(meta.INVESTOR, settings.partitions)] == 1
        assert {sample("mfa_whatsapp_intake_consumers", p) for p in range(settings.partitions)} == {0}
        assert await sim.outbound() == []
        await first.channel.stop()
        second = await serve_channel(settings, EchoBot())  # a fresh process picks it up
        try:
            replies = await sim.wait_outbound(1)
            assert replies[0]["payload"]["text"]["body"] == "echo: kept safe"
        finally:
            await close_channel(second)
    finally:
        await close_channel(first)


async def settled(*servers: ChannelServer, timeout: float = 15.0) -> None:
    """Wait until every replica sees all the others and has yielded the partitions it does not own."""
    for _ in range(int(timeout / 0.05)):
        states = [s.channel.intake.status() for s in servers]
        if all(st["members"] == len(servers) and st["balanced"] for st in states):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the consumer group did not settle: {states}")


def texts_by_investor(bots: list[EchoBot]) -> dict[str, list[str]]:
    handled: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for bot in bots:
        for at, message in zip(bot.received_at, bot.received, strict=True):
            handled[message.sender_id].append((at, str(message.text)))
    return {wa_id: [text for _, text in sorted(items)] for wa_id, items in handled.items()}


async def test_two_replicas_share_the_partitions_and_never_handle_one_investor_concurrently(
    sim: Sim, prefix: str, amqp_url: str, redis_url: str
) -> None:
    settings = channel_settings(sim, prefix, amqp_url=amqp_url, redis_url=redis_url)
    active: dict[str, int] = defaultdict(int)  # shared: concurrency per investor across both replicas
    a = await serve_channel(settings, EchoBot(delay=0.01, active=active))
    b = await serve_channel(settings, EchoBot(delay=0.01, active=active))
    await sim.reset(a.webhook)
    investors = [f"9198000{i:05d}" for i in range(12)]
    try:
        await settled(a, b)
        owned = [set(s.channel.intake.status()["owned"]) for s in (a, b)]
        assert owned[0] and owned[1] and not owned[0] & owned[1] and len(owned[0] | owned[1]) == settings.partitions

        async def converse(wa_id: str) -> None:
            for n in range(6):
                # alternate the replica that receives the webhook: both publish, one consumes per partition
                target = a if n % 2 else b
                await sim.call("POST", "/_sim/config", {"webhook_url": target.webhook})
                await sim.send(wa_id, text=f"{wa_id}-{n}")

        await asyncio.gather(*(converse(w) for w in investors))
        replies = await sim.wait_outbound(len(investors) * 6, timeout=30)
        assert len(replies) == len(investors) * 6
        for wa_id in investors:
            mine = [r["payload"]["text"]["body"] for r in replies if r["wa_id"] == wa_id]
            assert mine == [f"echo: {wa_id}-{n}" for n in range(6)]
        assert a.bot.max_active_per_sender <= 1 and b.bot.max_active_per_sender <= 1
        # Each investor was handled by exactly one replica (its partition's owner), and both replicas worked.
        seen_a = {m.sender_id for m in a.bot.received}
        seen_b = {m.sender_id for m in b.bot.received}
        assert seen_a and seen_b and not seen_a & seen_b
    finally:
        await close_channel(a)
        await close_channel(b)


async def test_a_replica_joining_under_load_takes_its_share_in_order_exactly_once(
    sim: Sim, prefix: str, amqp_url: str, redis_url: str
) -> None:
    settings = channel_settings(sim, prefix, amqp_url=amqp_url, redis_url=redis_url)
    active: dict[str, int] = defaultdict(int)
    a = await serve_channel(settings, EchoBot(delay=0.05, active=active))
    await sim.reset(a.webhook)
    investors = [f"9198100{i:05d}" for i in range(12)]
    rounds = 8
    b: ChannelServer | None = None
    try:

        async def converse(wa_id: str) -> None:
            for n in range(rounds):
                await sim.send(wa_id, text=f"{wa_id}-{n}")
                await asyncio.sleep(0.05)

        load = asyncio.gather(*(converse(w) for w in investors))
        # a is busy with every partition (it has handled a message: a condition, not a fixed 0.2 s) ...
        while not a.bot.received and not load.done():  # noqa: ASYNC110 (EchoBot has no event to await)
            await asyncio.sleep(0.01)
        b = await serve_channel(settings, EchoBot(delay=0.05, active=active))  # ... when b joins
        await load
        # One last message per investor, after everything else (wait_reply's docstring): once each has its reply,
        # every message before it was handled and acknowledged, or returned to its queue's head and handled again
        # -- a duplicate would be among the replies by then.
        for wa_id in investors:
            await sim.send(wa_id, text=f"{wa_id}-last")
        for wa_id in investors:
            await wait_reply(sim, wa_id, f"echo: {wa_id}-last")
        replies = await sim.outbound()
        keys = [r["payload"]["biz_opaque_callback_data"] for r in replies]
        assert len(keys) == len(set(keys)) == len(investors) * (rounds + 1), "lost or duplicated replies"
        script = [f"{n}" for n in range(rounds)] + ["last"]
        for wa_id in investors:
            mine = [r["payload"]["text"]["body"] for r in replies if r["wa_id"] == wa_id]
            assert mine == [f"echo: {wa_id}-{n}" for n in script]
        # Handed over between two messages, never during one: no investor ever had two messages in flight.
        assert a.bot.max_active_per_sender <= 1 and b.bot.max_active_per_sender <= 1
        assert texts_by_investor([a.bot, b.bot]) == {w: [f"{w}-{n}" for n in script] for w in investors}
        assert b.bot.received, "the new replica never became active on any partition"
        await settled(a, b)
        assert set(b.channel.intake.status()["owned"]) == {
            i for i in range(settings.partitions) if i not in a.channel.intake.status()["owned"]
        }
    finally:
        await close_channel(a)
        if b is not None:
            await close_channel(b)


async def test_failover_to_the_other_replica(sim: Sim, prefix: str, amqp_url: str, redis_url: str) -> None:
    settings = channel_settings(sim, prefix, amqp_url=amqp_url, redis_url=redis_url)
    a = await serve_channel(settings, EchoBot())
    b = await serve_channel(settings, EchoBot())
    await sim.reset(b.webhook)
    try:
        await sim.send(meta.INVESTOR, text="before")
        await sim.wait_outbound(1)
        active, standby = (a, b) if a.bot.received else (b, a)
        await close_channel(active)  # the active consumer goes away
        await sim.call("POST", "/_sim/config", {"webhook_url": standby.webhook})
        await sim.send(meta.INVESTOR, text="after")
        replies = await sim.wait_outbound(2)
        assert [r["payload"]["text"]["body"] for r in replies] == ["echo: before", "echo: after"]
        assert [m.text for m in standby.bot.received] == ["after"]
    finally:
        await close_channel(a)
        await close_channel(b)


def sample(name: str, partition: int | None = None) -> float:
    labels = {} if partition is None else {"partition": str(partition)}
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_poison_message_goes_to_dlq_with_its_error_and_does_not_block(durable: ChannelServer, sim: Sim) -> None:
    dead_before = sample("mfa_whatsapp_intake_dead_letters_total")
    await sim.send(meta.INVESTOR, text="poison")
    await sim.send(meta.INVESTOR, text="after the poison")
    replies = await sim.wait_outbound(1, meta.INVESTOR, timeout=20)
    assert [r["payload"]["text"]["body"] for r in replies] == ["echo: after the poison"]
    settings = durable.channel.settings
    assert max(durable.bot.attempts.values()) == settings.delivery_limit + 1  # first delivery + limit redeliveries
    rows: list = []
    for _ in range(50):
        rows = await dead_letters(settings, "list")
        if rows:
            break
        await asyncio.sleep(0.1)
    assert len(rows) == 1
    assert rows[0]["reason"] == "delivery_limit" and "poison message" in rows[0]["error"]
    assert sample("mfa_whatsapp_intake_dead_letters_total") == dead_before + 1  # counted once, on the last return
    assert rows[0]["from"].endswith(meta.INVESTOR[-4:]) and meta.INVESTOR not in json.dumps(rows)
    assert len(await dead_letters(settings, "list")) == 1  # listing does not consume
    assert len(await dead_letters(settings, "purge")) == 1
    assert await dead_letters(settings, "list") == []


async def test_broker_down_answers_503_and_meta_retries(sim: Sim, prefix: str, redis_url: str) -> None:
    settings = channel_settings(sim, prefix, amqp_url="amqp://guest:guest@127.0.0.1:1/", redis_url=redis_url)
    served = await serve_channel(settings, EchoBot(), start=False)
    try:
        body = json.dumps(meta.webhook([meta.message("wamid.DOWN1", meta.TEXT)])).encode()
        async with aiohttp.ClientSession() as session:
            headers = {HEADER: sign(body, "dev-app-secret"), "Content-Type": "application/json"}
            async with session.post(served.webhook, data=body, headers=headers) as resp:
                assert resp.status == 503
        # the claim was released: when the broker is back, Meta's retry of the same id is accepted
        assert await served.channel.store.get(f"{prefix}:seen:wamid.DOWN1") is None
    finally:
        await close_channel(served)
        await purge_prefix(prefix, None, redis_url)


async def test_gateway_process_accepts_and_a_replica_answers(
    sim: Sim, prefix: str, amqp_url: str, redis_url: str
) -> None:
    """The webhook gateway (a real process, no Rasa) queues; a channel replica consumes and replies."""
    settings = channel_settings(sim, prefix, amqp_url=amqp_url, redis_url=redis_url)
    replica = await serve_channel(settings, EchoBot())  # declares the topology and consumes
    port = free_port()
    gateway = ServiceProcess(
        "whatsapp-gateway-tests",
        [sys.executable, "-m", "connectors.whatsapp.gateway"],
        f"http://127.0.0.1:{port}/health",
        env={
            "AMQP_URL": amqp_url,
            "REDIS_URL": redis_url,
            "WHATSAPP_PREFIX": prefix,
            "WHATSAPP_PARTITIONS": str(settings.partitions),
            "WHATSAPP_GATEWAY_PORT": str(port),
            "WHATSAPP_GATEWAY_HOST": "127.0.0.1",
        },
    ).start()
    try:
        await sim.reset(f"http://127.0.0.1:{port}/webhooks/whatsapp/webhook")
        result = await sim.send(meta.INVESTOR, text="via the gateway", duplicate=2)
        assert result["status"] == 200
        # A duplicate would have been queued before this one (wait_reply's docstring): conclusive at its reply.
        assert (await sim.send(meta.INVESTOR, text="and after it"))["status"] == 200
        assert await wait_reply(sim, meta.INVESTOR, "echo: and after it") == [
            "echo: via the gateway", "echo: and after it"
        ]
    finally:
        gateway.stop()
        await close_channel(replica)


async def statuses_out_of_order(served: ChannelServer) -> None:
    # Meta does not order status webhooks: 'read' arrives first, then a late 'delivered', 'sent' and a retry.
    for status in (meta.STATUS_READ, meta.STATUS_DELIVERED, meta.STATUS_SENT, meta.STATUS_DELIVERED):
        assert (await post_signed(served, meta.webhook(statuses=[status])))[0] == 200
    store, p = served.channel.store, served.channel.settings.prefix
    assert json.loads(await store.get(f"{p}:status:wamid.OUT1") or "{}")["status"] == "read"
    assert [await store.get(f"{p}:statuses:{s}") for s in ("read", "delivered", "sent")] == ["1", "1", "1"]


async def test_statuses_never_go_backwards_and_count_once_in_redis(durable: ChannelServer) -> None:
    await statuses_out_of_order(durable)


async def test_statuses_never_go_backwards_and_count_once_in_process(embedded: ChannelServer) -> None:
    await statuses_out_of_order(embedded)
