"""Benchmark: an investor's message -> visible in the agents' open inboxes (server-sent events).

Runs the real path: events go through the outbox broker (as Rasa publishes them) into RabbitMQ, the handoff
service (a separate process) consumes them into PostgreSQL and pushes them to every signed-in agent's open
inbox tab. Latency is measured from publish() to the frame arriving in each tab.

Settings (env): BENCH_AGENTS (10), BENCH_CONVERSATIONS (100), BENCH_RATE messages/s (20),
BENCH_SECONDS (15). Needs RabbitMQ and PostgreSQL (common.infra defaults). Last line: JSON figures.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import aiohttp
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import infra  # noqa: E402
from common.config import env_int  # noqa: E402
from common.processes import VENV_BIN, ServiceProcess, free_port  # noqa: E402
from handoff.auth import hash_password  # noqa: E402
from handoff.db import Database  # noqa: E402
from handoff.event_broker import AmqpSink, OutboxEventBroker  # noqa: E402
from handoff.models import Agent  # noqa: E402

PASSWORD = "bench-password-123"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def agent_tab(url: str, email: str, seen: dict[str, float], ready: asyncio.Event, counts: list[int]) -> None:
    """Sign in and hold the inbox's live stream open, stamping each message marker when it arrives."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=None)) as session:
        async with session.post(f"{url}/login", data={"email": email, "password": PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()
        async with session.get(f"{url}/events") as stream:
            counts[0] += 1
            if counts[0] >= counts[1]:
                ready.set()
            async for raw in stream.content:
                line = raw.decode()
                if line.startswith("data: ") and "bench-" in line:
                    marker = json.loads(line[6:]).get("text", "")
                    now = time.perf_counter()
                    seen.setdefault(f"{email}|{marker}", now)


async def run() -> dict[str, object]:
    agents = env_int("BENCH_AGENTS", 10)
    conversations = env_int("BENCH_CONVERSATIONS", 100)
    rate = env_int("BENCH_RATE", 20)
    seconds = env_int("BENCH_SECONDS", 15)
    infra.require_rabbitmq()
    infra.require_postgres()
    amqp_url, pg = infra.amqp_url(), infra.postgres_url()
    run_id = uuid.uuid4().hex[:8]
    schema = f"bench_handoff_{run_id}"
    exchange, queue = f"bench-handoff-ex.{run_id}", f"bench-handoff-q.{run_id}"
    admin = create_engine(pg, future=True)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db_url = f"{pg}{'&' if '?' in pg else '?'}options={quote(f'-csearch_path={schema}')}"
    db = Database(db_url)
    db.open()
    with db.transaction() as s:
        hashed = hash_password(PASSWORD)
        for i in range(agents):
            s.add(Agent(email=f"agent{i}@bench.example", name=f"Agent {i}", role="agent", password_hash=hashed,
                        capacity=max(1, conversations // agents + 1)))
    db.close()
    port = free_port()
    service = ServiceProcess(
        "handoff-bench",
        [str(VENV_BIN / "python"), "-m", "handoff"],
        f"http://127.0.0.1:{port}/health",
        env={"HANDOFF_PORT": str(port), "DATABASE_URL": db_url, "AMQP_URL": amqp_url, "HANDOFF_EXCHANGE": exchange,
             "HANDOFF_QUEUE": queue, "HANDOFF_PREFETCH": "200", "LOG_LEVEL": "WARNING"},
    )
    service.start()
    url = f"http://127.0.0.1:{port}"
    tmp = Path(tempfile.mkdtemp())
    broker = OutboxEventBroker(str(tmp / "outbox.db"), AmqpSink(amqp_url, exchange, [queue], 5))
    broker.start()
    seen: dict[str, float] = {}
    sent: dict[str, float] = {}
    ready = asyncio.Event()
    counts = [0, agents]
    tabs = [asyncio.create_task(agent_tab(url, f"agent{i}@bench.example", seen, ready, counts))
            for i in range(agents)]
    try:
        await asyncio.wait_for(ready.wait(), 60)
        senders = [f"9197{i:08d}" for i in range(conversations)]
        ts = time.time()
        for wa in senders:  # every conversation handed over: a ticket each, spread over the agents
            for body in (
                {"event": "user", "text": "/talk_to_agent", "parse_data": {"intent": {"name": "talk_to_agent",
                                                                                      "confidence": 1.0}}},
                {"event": "slot", "name": "handoff_reason", "value": "asked_for_human"},
                {"event": "pause"},
            ):
                broker.publish({"sender_id": wa, "timestamp": ts, **body})
        async with aiohttp.ClientSession() as probe:  # start measuring once every ticket is open
            deadline = time.perf_counter() + 120
            while time.perf_counter() < deadline:
                async with probe.get(f"{url}/health") as resp:
                    if int((await resp.json()).get("consumed") or 0) >= 3 * conversations:
                        break
                await asyncio.sleep(0.2)
        total = rate * seconds
        started = time.perf_counter()
        for n in range(total):
            target = started + n / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            marker = f"bench-{n}"
            sent[marker] = time.perf_counter()
            broker.publish({"sender_id": senders[n % conversations], "event": "user", "text": marker,
                            "timestamp": time.time(), "parse_data": {"intent": {"name": "inform", "confidence": 0.9}}})
        deadline = time.perf_counter() + 30
        while len(seen) < total * agents and time.perf_counter() < deadline:  # noqa: ASYNC110 - polling a dict
            await asyncio.sleep(0.2)
        elapsed = time.perf_counter() - started
    finally:
        for tab in tabs:
            tab.cancel()
        await asyncio.gather(*tabs, return_exceptions=True)
        await broker.close()
        service.stop()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
        import aio_pika

        connection = await aio_pika.connect(amqp_url)
        async with connection:
            for name in (queue, f"{queue}.dead"):
                await (await connection.channel()).queue_delete(name)
            for name in (exchange, f"{exchange}.dlx"):
                await (await connection.channel()).exchange_delete(name)
    latencies = [
        (seen[key] - sent[key.split("|", 1)[1]]) * 1000 for key in seen if key.split("|", 1)[1] in sent
    ]
    missing = total * agents - len(latencies)
    return {
        "bench": "handoff_inbox_latency",
        "path": "outbox broker -> RabbitMQ -> handoff consumer -> PostgreSQL -> SSE tab",
        "agents_connected": agents,
        "conversations": conversations,
        "messages": total,
        "deliveries": len(latencies),
        "missing": missing,
        "rate_per_s": rate,
        "duration_s": round(elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "target_p99_ms": 500,
    }


def main() -> int:
    figures = asyncio.run(run())
    print(
        f"investor message -> visible in {figures['agents_connected']} open inboxes: "
        f"p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms (max {figures['max_ms']} ms); "
        f"{figures['messages']} messages over {figures['conversations']} conversations, {figures['missing']} missing",
        file=sys.stderr,
    )
    print(json.dumps(figures))
    p99 = figures["p99_ms"]
    return 0 if figures["missing"] == 0 and isinstance(p99, float) and p99 < 500 else 1


if __name__ == "__main__":
    sys.exit(main())
