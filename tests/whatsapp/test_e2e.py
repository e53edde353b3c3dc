"""Two real Rasa processes behind the WhatsApp channel, RabbitMQ partitions and Redis, the simulator as Meta.

Proves with Rasa itself what test_intake.py proves with a tiny bot: each investor is handled by one replica
at a time, in order, every message exactly once -- also when the active replica is killed mid-load.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from connectors.whatsapp.offers import OfferedReplies
from connectors.whatsapp.store import RedisStore
from tests.support.processes import VENV_BIN, ServiceProcess, free_port
from tests.whatsapp.conftest import Sim, purge_prefix

pytestmark = pytest.mark.e2e

CREDENTIALS = "rest:\nconnectors.whatsapp.channel.WhatsAppInput:\n"
ENDPOINTS = 'action_endpoint:\n  url: "http://127.0.0.1:1/webhook"\n'


def rasa_process(name: str, model: Path, tmp: Path, env: dict[str, str]) -> ServiceProcess:
    port = free_port()
    (tmp / "credentials.yml").write_text(CREDENTIALS)
    (tmp / "endpoints.yml").write_text(ENDPOINTS)
    command = [
        str(VENV_BIN / "rasa"), "run", "--enable-api", "-m", str(model), "-p", str(port),
        "--credentials", str(tmp / "credentials.yml"), "--endpoints", str(tmp / "endpoints.yml"),
    ]  # fmt: skip
    return ServiceProcess(name, command, f"http://127.0.0.1:{port}/", env=env, startup_timeout=240)


@pytest.fixture(scope="module")
def replicas(
    trained_model: Path, sim_process: ServiceProcess, run_id: str, amqp_url: str, redis_url: str, tmp_path_factory: Any
) -> Iterator[list[ServiceProcess]]:
    """Two Rasa replicas for the whole module (each takes a minute to load the model on this machine)."""
    prefix = f"wa{run_id}e2e{uuid.uuid4().hex[:4]}"
    sim = Sim(sim_process.health_url.rsplit("/health", 1)[0])
    env = {
        "AMQP_URL": amqp_url,
        "REDIS_URL": redis_url,
        "WHATSAPP_API_URL": sim.api_url,
        "WHATSAPP_PREFIX": prefix,
        "WHATSAPP_PARTITIONS": "4",
        "WHATSAPP_MARK_READ": "false",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    tmp = tmp_path_factory.mktemp("rasa")
    procs = [rasa_process(f"rasa-wa-{i}", trained_model, tmp, env) for i in range(2)]
    try:  # also when the second one fails to start: the first must not outlive the run
        procs[0].start()  # first: it becomes the active consumer of every partition ...
        procs[1].start()  # ... until this one joins the group and takes its share
        asyncio.run(settled([p.health_url for p in procs]))
        yield procs
    finally:
        for proc in procs:
            proc.stop()
        asyncio.run(purge_prefix(prefix, amqp_url, redis_url))


async def settled(urls: list[str], timeout: float = 60.0) -> None:
    """Both replicas see each other and have handed over the partitions they do not own."""
    states: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(int(timeout / 0.25)):
            states = []
            for url in urls:
                async with session.get(f"{url}webhooks/whatsapp/") as resp:
                    states.append((await resp.json())["consumer"])
            if all(s["members"] == len(urls) and s["balanced"] for s in states):
                return
            await asyncio.sleep(0.25)
    raise AssertionError(f"the replicas did not divide the partitions: {states}")


async def tracker(base: str, sender: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}conversations/{sender}/tracker") as resp:
            return await resp.json()


def user_texts(state: dict[str, Any]) -> list[str]:
    return [e.get("text") for e in state.get("events", []) if e.get("event") == "user"]


async def test_two_rasa_replicas_one_investor_one_replica_in_order_exactly_once(
    replicas: list[ServiceProcess], sim: Sim
) -> None:
    urls = [p.health_url for p in replicas]
    await sim.reset(f"{urls[1]}webhooks/whatsapp/webhook")  # webhooks arrive at the standby replica
    investors = [f"9197000{i:05d}" for i in range(10)]
    script = ["hi", "thank you", "bye", "are you a bot?"]

    async def converse(wa_id: str) -> list[str]:
        ids = []
        for text in script:
            result = await sim.send(wa_id, text=text)
            assert result["status"] == 200
            ids.extend(result["ids"])
        return ids

    sent = await asyncio.gather(*(converse(w) for w in investors))
    inbound_ids = {i for ids in sent for i in ids}
    replies: list[dict[str, Any]] = []
    for _ in range(240):
        replies = await sim.outbound()
        answered = {str(r["payload"].get("biz_opaque_callback_data", "")).rsplit(":", 1)[0] for r in replies}
        if inbound_ids <= answered:
            break
        await asyncio.sleep(0.25)
    keys = [r["payload"].get("biz_opaque_callback_data") for r in replies]
    assert len(keys) == len(set(keys)), "a reply was sent twice"
    assert inbound_ids <= {k.rsplit(":", 1)[0] for k in keys}, "an acknowledged message got no reply"
    for wa_id in investors:
        states = [await tracker(u, wa_id) for u in urls]
        holders = [s for s in states if user_texts(s)]
        assert len(holders) == 1, f"{wa_id} was handled by {len(holders)} replicas"
        assert user_texts(holders[0]) == script  # in order, each once
    # The investors' partitions are divided between the replicas: both did real work.
    for url in urls:
        handled = [w for w in investors if user_texts(await tracker(url, w))]
        assert handled, f"{url} handled no investor"


async def offer_main_menu(replica: ServiceProcess, investors: list[str]) -> None:
    """As if the bot had shown these investors its "Main menu" button: a tapped id is a payload only when it
    was offered to that investor (connectors/whatsapp/offers.py), otherwise its title goes through NLU."""
    store = RedisStore(replica.env["REDIS_URL"])
    try:
        offers = OfferedReplies(store, replica.env["WHATSAPP_PREFIX"], ttl=3600)
        for wa_id in investors:
            await offers.offer(wa_id, ["/greet"])
    finally:
        await store.close()


async def test_killing_a_replica_mid_load_loses_nothing(replicas: list[ServiceProcess], sim: Sim) -> None:
    urls = [p.health_url for p in replicas]
    await sim.reset(f"{urls[1]}webhooks/whatsapp/webhook")
    investors = [f"9197100{i:05d}" for i in range(8)]
    await offer_main_menu(replicas[0], investors)
    ids: list[str] = []
    for round_ in range(3):
        # Menu taps: answered by a response, whatever the NLU threshold (these replicas run no action server).
        tap = {"id": "/greet", "title": f"Main menu {round_}"}
        results = await asyncio.gather(*(sim.send(w, button_reply=tap) for w in investors))
        ids.extend(i for r in results for i in r["ids"])
        if round_ == 1:
            replicas[0].kill()  # kill -9 one consumer (it owns half the partitions) while messages are in flight
    replies: list[dict[str, Any]] = []
    for _ in range(480):
        replies = await sim.outbound()
        if set(ids) <= {str(r["payload"].get("biz_opaque_callback_data", "")).rsplit(":", 1)[0] for r in replies}:
            break
        await asyncio.sleep(0.25)
    keys = [r["payload"].get("biz_opaque_callback_data") for r in replies]
    assert len(keys) == len(set(keys))
    assert set(ids) <= {k.rsplit(":", 1)[0] for k in keys}
