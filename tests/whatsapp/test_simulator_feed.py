"""The simulator's live feed (`/_sim/events`): the phone page takes everything, a benchmark only the replies."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp

from tests.whatsapp.conftest import ChannelServer, Sim


async def follow(sim: Sim, query: str, into: list[dict[str, Any]], ready: asyncio.Event, status: asyncio.Event) -> None:
    timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async with session.get(f"{sim.base}/_sim/events{query}") as resp:
            async for raw in resp.content:
                line = raw.decode().strip()
                if line.startswith(": connected"):
                    ready.set()
                elif line.startswith("data: "):
                    into.append(json.loads(line[6:]))
                    if into[-1].get("event") == "status":
                        status.set()


async def until(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0.02)


def out_records(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["record"] for e in events if e.get("event") == "record" and e["record"]["direction"] == "out"]


async def test_feed_filtered_to_replies_carries_only_replies(embedded: ChannelServer, sim: Sim) -> None:
    everything: list[dict[str, Any]] = []
    replies: list[dict[str, Any]] = []
    ready = [asyncio.Event(), asyncio.Event()]
    status = asyncio.Event()
    tasks = [
        asyncio.create_task(follow(sim, "", everything, ready[0], status)),
        asyncio.create_task(follow(sim, "?direction=out", replies, ready[1], status)),
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 10)
        before = time.time()
        sent = await sim.send("919811100001", text="hello")
        assert sent["status"] == 200
        # "webhook in" is when the request left the simulator: after the call began, before it answered
        assert before <= sent["sent_at"] <= time.time()
        await sim.wait_outbound(1, "919811100001")
        await asyncio.wait_for(status.wait(), 10)
        # The reply's own statuses (sent, delivered) follow it: seen on the full feed, they were published ...
        await until(lambda: out_records(everything), "the full feed never carried the reply")
        reply_id = out_records(everything)[0]["id"]
        await until(lambda: {"event": "status", "id": reply_id, "status": "delivered"} in everything,
                    "the reply was never delivered")
        # ... so the filtered feed was offered them before a second reply (each subscriber's queue is in publish
        # order): once that reply is in, a status the filter let through would be too.
        assert (await sim.send("919811100001", text="again"))["status"] == 200
        await until(lambda: len(replies) >= 2, f"the filtered feed carried {len(replies)} replies, not 2")
    finally:
        for task in tasks:
            task.cancel()

    directions = [e["record"]["direction"] for e in everything if e.get("event") == "record"]
    assert "in" in directions and "out" in directions
    assert any(e.get("event") == "status" for e in everything)

    assert replies, "the filtered feed must carry the reply"
    assert all(e["event"] == "record" and e["record"]["direction"] == "out" for e in replies)
    reply = replies[0]["record"]
    assert reply["payload"]["text"]["body"] == "echo: hello"
    # each reply is traced to the investor message it answers
    assert reply["payload"]["biz_opaque_callback_data"].startswith(sent["ids"][0] + ":")
    assert reply["at"] >= sent["sent_at"]
