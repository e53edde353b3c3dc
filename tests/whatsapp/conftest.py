"""Fixtures for the WhatsApp channel: the real simulator process as Meta, and the channel served in-process.

The channel's Sanic blueprint runs on a real HTTP server inside the test's event loop, behind it a tiny real
bot (`EchoBot`) instead of Rasa, so ordering, concurrency and failures can be observed directly. Tests that
need Rasa itself live in test_e2e.py.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from connectors.whatsapp.channel import WhatsAppInput
from connectors.whatsapp.settings import WhatsAppSettings
from connectors.whatsapp.signature import HEADER, sign
from tests.support.processes import ServiceProcess, free_port

Sanic.test_mode = True


class Sim:
    """Test-side handle on the simulator process (admin endpoints under /_sim/)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.api_url = f"{base}/v21.0"

    async def call(self, method: str, path: str, json: Any = None) -> Any:
        async with aiohttp.ClientSession() as session:
            async with session.request(method, self.base + path, json=json) as resp:
                return await resp.json()

    async def reset(self, webhook_url: str) -> None:
        await self.call("POST", "/_sim/reset")
        await self.call("DELETE", "/_sim/faults")
        await self.call("POST", "/_sim/config", {"webhook_url": webhook_url})

    async def send(self, wa_id: str, **body: Any) -> dict[str, Any]:
        return await self.call("POST", "/_sim/inbound", {"from": wa_id, **body})

    async def outbound(self, wa_id: str | None = None) -> list[dict[str, Any]]:
        query = f"?direction=out{'&wa_id=' + wa_id if wa_id else ''}"
        return (await self.call("GET", "/_sim/messages" + query))["records"]

    async def wait_outbound(self, count: int, wa_id: str | None = None, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            records = await self.outbound(wa_id)
            if len(records) >= count or asyncio.get_running_loop().time() > deadline:
                return records
            await asyncio.sleep(0.05)


@pytest.fixture(scope="session")
def sim_process() -> Iterator[ServiceProcess]:
    port = free_port()
    proc = ServiceProcess(
        "whatsapp-sim-tests",
        [sys.executable, "-m", "standins.whatsapp_cloud"],
        f"http://127.0.0.1:{port}/health",
        env={"WHATSAPP_SIM_PORT": str(port), "WHATSAPP_SIM_STATUS_DELAY": "0.01"},
    )
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def sim(sim_process: ServiceProcess) -> Sim:
    return Sim(sim_process.health_url.rsplit("/health", 1)[0])


@dataclass
class EchoBot:
    """A tiny real bot: replies 'echo: <text>' through the WhatsApp output channel, and watches concurrency."""

    delay: float = 0.0
    received: list[UserMessage] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)  # monotonic time each message was handled
    active: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    max_active_per_sender: int = 0
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    async def __call__(self, message: UserMessage) -> None:
        self.attempts[message.message_id] += 1
        self.active[message.sender_id] += 1
        self.max_active_per_sender = max(self.max_active_per_sender, self.active[message.sender_id])
        try:
            if message.text == "poison":
                raise ValueError("poison message: the bot cannot handle this")
            if self.delay:
                await asyncio.sleep(self.delay)
            self.received.append(message)
            self.received_at.append(time.monotonic())
            if message.text == "buttons":
                buttons = [{"title": f"Option {i}", "payload": f'/choose{{"n":{i}}}'} for i in range(5)]
                await message.output_channel.send_text_with_buttons(message.sender_id, "Pick one", buttons)
            else:
                await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")
        finally:
            self.active[message.sender_id] -= 1


@dataclass
class ChannelServer:
    channel: WhatsAppInput
    bot: EchoBot
    url: str
    server: Any

    @property
    def webhook(self) -> str:
        return f"{self.url}/webhooks/whatsapp/webhook"


@pytest.fixture
def prefix(run_id: str) -> str:
    return f"wa{run_id}{uuid.uuid4().hex[:6]}"


def channel_settings(sim: Sim, prefix: str, **overrides: Any) -> WhatsAppSettings:
    defaults: dict[str, Any] = {
        "api_url": sim.api_url,
        "prefix": prefix,
        "partitions": 4,
        "mark_read": False,
        "backoff_base": 0.02,
        "backoff_cap": 0.2,
        "balance_interval": 0.3,
    }
    return WhatsAppSettings.construct(**(defaults | overrides))


async def serve_channel(settings: WhatsAppSettings, bot: EchoBot, start: bool = True) -> ChannelServer:
    channel = WhatsAppInput(settings)
    app = Sanic(f"wa_test_{uuid.uuid4().hex[:8]}")
    app.blueprint(channel.blueprint(bot), url_prefix="/webhooks/whatsapp")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    if start:
        await channel.start(bot)
    return ChannelServer(channel, bot, f"http://127.0.0.1:{port}", server)


async def post(served: ChannelServer, body: bytes, signature: str | None) -> tuple[int, str]:
    """POST raw bytes to the channel's webhook, with the signature header as given (or none)."""
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers[HEADER] = signature
    async with aiohttp.ClientSession() as session:
        async with session.post(served.webhook, data=body, headers=headers) as resp:
            return resp.status, await resp.text()


async def post_signed(served: ChannelServer, payload: dict[str, Any]) -> tuple[int, str]:
    """A webhook signed with the channel's own app secret, as Meta would sign it."""
    body = json.dumps(payload).encode()
    return await post(served, body, sign(body, served.channel.settings.app_secret))


async def close_channel(served: ChannelServer) -> None:
    await served.channel.stop()
    for connection in list(served.server.connections):
        connection.abort()  # keep-alive connections: close now, not after Sanic's graceful timeout
    served.server.close()
    await served.server.wait_closed()


async def purge_prefix(prefix: str, amqp_url: str | None, redis_url: str | None, partitions: int = 4) -> None:
    """Remove this test's queues, exchanges and keys so nothing outlives the run."""
    if amqp_url:
        import aio_pika

        connection = await aio_pika.connect(amqp_url)
        async with connection:
            for name in [f"{prefix}.intake.{i}" for i in range(partitions)] + [f"{prefix}.dlq"]:
                channel = await connection.channel()
                try:
                    await channel.queue_delete(name)
                except Exception:  # noqa: S110 - already gone
                    pass
            channel = await connection.channel()
            for name in (f"{prefix}.intake", f"{prefix}.dlx"):
                try:
                    await channel.exchange_delete(name)
                except Exception:
                    channel = await connection.channel()
    if redis_url:
        import redis.asyncio as aioredis

        client = aioredis.from_url(redis_url)
        keys = [k async for k in client.scan_iter(f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.close()


@pytest.fixture
async def embedded(sim: Sim, prefix: str) -> AsyncIterator[ChannelServer]:
    """The channel in embedded mode (no RabbitMQ, no Redis)."""
    served = await serve_channel(channel_settings(sim, prefix), EchoBot())
    await sim.reset(served.webhook)
    yield served
    await close_channel(served)


@pytest.fixture
async def durable(sim: Sim, prefix: str, amqp_url: str, redis_url: str) -> AsyncIterator[ChannelServer]:
    """The channel in production mode: RabbitMQ partitions + Redis state."""
    served = await serve_channel(channel_settings(sim, prefix, amqp_url=amqp_url, redis_url=redis_url), EchoBot())
    await sim.reset(served.webhook)
    yield served
    await close_channel(served)
    await purge_prefix(prefix, amqp_url, redis_url)
