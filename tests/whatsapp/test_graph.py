"""The Graph API client against the simulator: limits, window, retries, at-most-once, shared throughput cap."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from connectors.whatsapp import messages as wa
from connectors.whatsapp.graph import GraphClient, GraphError, OutcomeUnknown, WindowClosed
from connectors.whatsapp.intake import accept_inbound
from connectors.whatsapp.settings import WhatsAppSettings
from connectors.whatsapp.store import MemoryStore, RedisStore
from tests.whatsapp import meta_payloads as meta
from tests.whatsapp.conftest import ChannelServer, Sim, channel_settings, purge_prefix

TO = meta.INVESTOR


async def investor_wrote(graph: GraphClient, wa_id: str) -> None:
    """A message from the investor just arrived: their 24-hour window is open."""
    assert await accept_inbound(graph.store, graph.settings, f"wamid.{uuid.uuid4().hex}", wa_id, int(time.time()))


@pytest.fixture
async def settings(sim: Sim, prefix: str) -> AsyncIterator[WhatsAppSettings]:
    await sim.reset("http://127.0.0.1:1/unused")
    yield channel_settings(sim, prefix)


@pytest.fixture
async def client(settings: WhatsAppSettings) -> AsyncIterator[GraphClient]:
    graph = GraphClient(settings, MemoryStore())
    await investor_wrote(graph, TO)
    yield graph
    await graph.close()


async def test_every_shaped_reply_is_accepted_by_the_simulator(client: GraphClient, sim: Sim) -> None:
    outgoing = [
        *wa.text_messages(TO, "A sentence about your portfolio. " * 300),
        *wa.button_messages(
            TO, "Choose", [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
        ),
        *wa.button_messages(
            TO, "Scheme?", [{"title": f"A very long scheme title {i}", "payload": f"/s{i}"} for i in range(14)]
        ),
        wa.image_message(TO, "https://example.invalid/nav.png", "NAV chart"),
        wa.document_message(TO, "https://example.invalid/cas.pdf", "cas.pdf"),
        wa.reaction_message(TO, "wamid.X", "👍"),
    ]
    for message in outgoing:
        result = await client.send(message)
        assert result.wamid.startswith("wamid.")
    stats = await sim.call("GET", "/_sim/stats")
    assert stats["accepted"] == len(outgoing) and stats["errors"] == {}


async def test_window_closed_only_templates_go_out(client: GraphClient, sim: Sim) -> None:
    stranger = "919811111111"
    with pytest.raises(WindowClosed):
        await client.send(wa.text_messages(stranger, "hello")[0])
    assert (await sim.call("GET", "/_sim/stats")).get("graph_requests", 0) == 0  # never reached Meta
    result = await client.send(wa.template_message(stranger, "account_update", "en"))
    assert result.wamid


async def test_throughput_errors_are_retried_and_each_message_sent_once(settings: WhatsAppSettings, sim: Sim) -> None:
    # every attempt, retries too, takes a slot of the recipient's pacing (burst 45): with random faults on 30
    # messages that ran out once (a 66 s wait refused); this test is about retries, so the burst is not its limit
    client = GraphClient(settings.copy(update={"max_attempts": 12, "pair_burst": 400}), MemoryStore())
    await investor_wrote(client, TO)
    await sim.call("POST", "/_sim/faults", {"throughput_error_rate": 0.3, "server_error_rate": 0.1})
    try:
        results = await asyncio.gather(*(client.send(wa.text_messages(TO, f"m{i}")[0]) for i in range(30)))
    finally:
        await client.close()
    assert all(r.wamid for r in results)
    stats = await sim.call("GET", "/_sim/stats")
    assert stats["accepted"] == 30
    assert int(stats["errors"].get("130429", 0)) > 0
    bodies = sorted(r["payload"]["text"]["body"] for r in await sim.outbound(TO))
    assert bodies == sorted(f"m{i}" for i in range(30))


async def test_permanent_errors_are_not_retried(client: GraphClient, sim: Sim) -> None:
    too_many = {"type": "interactive", "interactive": {"type": "button", "body": {"text": "x"}, "action": {"buttons": [
        {"type": "reply", "reply": {"id": str(i), "title": str(i)}} for i in range(4)]}}}  # fmt: skip
    with pytest.raises(GraphError) as caught:
        await client.send(wa.custom_messages(TO, too_many)[0])
    assert caught.value.code == 131009 and not caught.value.retryable
    assert (await sim.call("GET", "/_sim/stats"))["graph_requests"] == 1


async def test_idempotency_key_and_slow_success_never_duplicate(settings: WhatsAppSettings, sim: Sim) -> None:
    graph = GraphClient(settings.copy(update={"request_timeout": 0.3}), MemoryStore())
    await investor_wrote(graph, TO)
    try:
        assert not (await graph.send(wa.text_messages(TO, "once")[0], key="in-1:1")).duplicate
        assert (await graph.send(wa.text_messages(TO, "once")[0], key="in-1:1")).duplicate
        await sim.call("POST", "/_sim/faults", {"slow_ms": 800})
        with pytest.raises(OutcomeUnknown):  # timed out, but Meta (the simulator) will accept it
            await graph.send(wa.text_messages(TO, "slow")[0], key="in-2:1")
        assert (await graph.send(wa.text_messages(TO, "slow")[0], key="in-2:1")).duplicate
        # The timed-out call reaches the simulator's records once its 800 ms are over. Nothing can follow it: an
        # unknown outcome is never retried, the second send was refused locally, and the simulator counts a
        # Graph request as it arrives, before the delay -- so two requests once "slow" is there is final.
        deadline = asyncio.get_running_loop().time() + 30
        while "slow" not in (bodies := [r["payload"]["text"]["body"] for r in await sim.outbound(TO)]):
            assert asyncio.get_running_loop().time() < deadline, f"the slow message never arrived: {bodies}"
            await asyncio.sleep(0.05)
        assert bodies == ["once", "slow"]
        assert (await sim.call("GET", "/_sim/stats"))["graph_requests"] == 2
    finally:
        await graph.close()


async def test_throughput_cap_is_shared_across_replicas(
    settings: WhatsAppSettings, sim: Sim, redis_url: str, prefix: str
) -> None:
    capped = settings.copy(update={"throughput_per_second": 20})
    replicas = [GraphClient(capped, RedisStore(redis_url)) for _ in range(2)]
    recipients = [f"9198765{i:05d}" for i in range(60)]
    try:
        for graph in replicas:
            for r in recipients:
                await investor_wrote(graph, r)
        started = time.monotonic()
        await asyncio.gather(*(replicas[i % 2].send(wa.text_messages(r, "hi")[0]) for i, r in enumerate(recipients)))
        elapsed = time.monotonic() - started
        stats = await sim.call("GET", "/_sim/stats")
        assert stats["accepted"] == 60
        # 60 messages at 20/s shared: the first 20 at once, then two more seconds. Each replica on its own
        # bucket would take half a second (40 at once, 20 more at 40/s). A lower bound holds however loaded the
        # machine is; the rate seen at Meta's side is not asserted, since delays between grant and arrival
        # bunch requests into one second on a busy machine (seen: 21-23 in one second at load 7-11).
        assert elapsed >= 2.0
    finally:
        for graph in replicas:
            await graph.close()
            await graph.store.close()
        await purge_prefix(prefix, None, redis_url)


async def test_pair_rate_paces_one_recipient(settings: WhatsAppSettings, sim: Sim) -> None:
    graph = GraphClient(settings.copy(update={"pair_interval": 0.2, "pair_burst": 3}), MemoryStore())
    await investor_wrote(graph, TO)
    try:
        started = time.monotonic()
        for i in range(6):
            await graph.send(wa.text_messages(TO, f"p{i}")[0])
        assert time.monotonic() - started >= 0.55  # 3 at once, then one per 0.2 s
    finally:
        await graph.close()


async def test_window_failure_reported_by_meta_is_recorded(embedded: ChannelServer, sim: Sim) -> None:
    await sim.send(TO, text="hi")
    await sim.wait_outbound(1, TO)
    await sim.call("POST", "/_sim/faults", {"closed_windows": [TO]})
    await embedded.channel.client.send(wa.text_messages(TO, "too late")[0])
    store, p = embedded.channel.store, embedded.channel.settings.prefix
    for _ in range(200):
        if await store.get(f"{p}:statuses:failed"):
            break
        await asyncio.sleep(0.05)
    assert await store.get(f"{p}:statuses:failed") == "1"


async def test_a_dead_senders_claim_expires_and_the_reply_still_goes_out(settings: WhatsAppSettings, sim: Sim) -> None:
    """kill -9 between claiming a reply and sending it: the redelivered message sends it after the lease."""
    graph = GraphClient(settings.copy(update={"request_timeout": 0.5, "backoff_cap": 0.1}), MemoryStore())
    await investor_wrote(graph, TO)
    try:
        await graph.store.claim(f"{settings.prefix}:out:in-9:1", "pending", 0.8)  # the dead replica's lease
        started = time.monotonic()
        result = await graph.send(wa.text_messages(TO, "late, not lost")[0], key="in-9:1")
        assert not result.duplicate and 0.5 < time.monotonic() - started < 3
        assert (await graph.send(wa.text_messages(TO, "late, not lost")[0], key="in-9:1")).duplicate
        assert [r["payload"]["text"]["body"] for r in await sim.outbound(TO)] == ["late, not lost"]
    finally:
        await graph.close()


@pytest.mark.parametrize("kind", ["memory", "redis"])
async def test_an_inbound_message_is_claimed_once_and_never_moves_the_window_back(
    kind: str, settings: WhatsAppSettings, redis_url: str, prefix: str
) -> None:
    store = MemoryStore() if kind == "memory" else RedisStore(redis_url)
    graph = GraphClient(settings, store)
    now, late = int(time.time()), "919999999998"
    try:
        assert await accept_inbound(store, settings, "a", TO, now)
        assert not await accept_inbound(store, settings, "a", TO, now)  # Meta's retry: a duplicate
        assert await accept_inbound(store, settings, "b", TO, now - 100)  # an older message, late
        assert await store.get(f"{prefix}:window:{TO}") == str(now)  # the window still runs from the newest
        assert await graph.window_open(TO)
        # A message sent more than 24 hours ago is processed, but opens no window.
        assert await accept_inbound(store, settings, "c", late, now - settings.window_seconds - 5)
        assert not await graph.window_open(late)
    finally:
        await store.close()
        await purge_prefix(prefix, None, redis_url)
