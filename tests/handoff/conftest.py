"""Fixtures for the handoff tests: a fresh PostgreSQL schema and unique RabbitMQ names per test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from handoff import topology
from handoff.db import Database


@pytest.fixture
def pg_url(postgres_url: str, run_id: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a schema of its own, dropped afterwards."""
    schema = f"handoff_{run_id}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(postgres_url, future=True)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url)
    database.open()
    yield database
    database.close()


@pytest.fixture(params=["postgresql", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """Both databases ingest runs on: PostgreSQL (production) and SQLite (the embedded default)."""
    if request.param == "postgresql":
        yield request.getfixturevalue("db")
        return
    database = Database(f"sqlite:///{tmp_path / 'handoff.db'}")
    database.open()
    yield database
    database.close()


PARTITIONS = 4  # fewer than the default 8: less to declare and delete per test


@pytest.fixture
def amqp_names(amqp_url: str, run_id: str) -> Iterator[dict[str, str]]:
    """Unique exchange and queue names (and the partition count); the topology is deleted afterwards."""
    suffix = f"{run_id}.{uuid.uuid4().hex[:6]}"
    names = {"exchange": f"handoff-test-ex.{suffix}", "queue": f"handoff-test-q.{suffix}",
             "partitions": str(PARTITIONS)}
    yield names
    asyncio.run(delete_topology(amqp_url, names))


async def declare_topology(amqp_url: str, names: dict[str, str]) -> None:
    """What the consumer declares at start, so events published before it started are routed (and wait)."""
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        await topology.declare_consumer(await connection.channel(), names["exchange"], names["queue"],
                                        int(names["partitions"]), topology.DEFAULT_DELIVERY_LIMIT)


async def delete_topology(amqp_url: str, names: dict[str, str]) -> None:
    import aio_pika

    queue = names["queue"]
    partitions = [topology.partition_queue(queue, i) for i in range(int(names["partitions"]))]
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        for name in (*partitions, topology.dead_queue(queue)):
            channel = await connection.channel()
            try:
                await channel.queue_delete(name)
            except Exception:
                pass
        for exchange in (topology.router(queue), names["exchange"]):
            channel = await connection.channel()
            try:
                await channel.exchange_delete(exchange)
            except Exception:
                pass


def event(sender: str, kind: str, ts: float, **fields: Any) -> dict[str, Any]:
    """A Rasa tracker event body as the broker publishes it."""
    return {"sender_id": sender, "event": kind, "timestamp": ts, **fields}


def user(sender: str, ts: float, text: str, intent: str = "talk_to_agent", confidence: float = 0.97) -> dict[str, Any]:
    return event(
        sender, "user", ts, text=text, input_channel="whatsapp",
        parse_data={"intent": {"name": intent, "confidence": confidence}, "entities": []},
    )


def handoff_events(sender: str, ts: float, reason: str = "asked_for_human") -> list[dict[str, Any]]:
    """What Rasa publishes when action_handoff runs."""
    return [
        user(sender, ts, "I want to talk to a person"),
        event(sender, "action", ts + 0.1, name="action_handoff", policy="RulePolicy", confidence=1.0),
        event(sender, "bot", ts + 0.2, text="I'm connecting you to a person.", data={}, metadata={}),
        event(sender, "slot", ts + 0.3, name="handoff_reason", value=reason),
        event(sender, "pause", ts + 0.4),
    ]


def handoff_service(
    name: str, *, database_url: str, amqp_url: str = "", names: dict[str, str] | None = None, **env: str
) -> Any:
    """The handoff service as a real process (`python -m handoff`) on a free port; not started yet."""
    from tests.support.processes import VENV_BIN, ServiceProcess, free_port

    port = free_port()
    full_env = {
        "HANDOFF_PORT": str(port),
        "DATABASE_URL": database_url,
        "AMQP_URL": amqp_url,
        "HANDOFF_SEED_EMAIL": "lead@example.com",
        "HANDOFF_SEED_PASSWORD": "correct-horse-battery",
        "LOG_LEVEL": "INFO",
        **({"HANDOFF_EXCHANGE": names["exchange"], "HANDOFF_QUEUE": names["queue"],
            "HANDOFF_PARTITIONS": names.get("partitions", str(PARTITIONS))} if names else {}),
        **env,
    }
    proc = ServiceProcess(name, [str(VENV_BIN / "python"), "-m", "handoff"], f"http://127.0.0.1:{port}/health",
                          env=full_env, startup_timeout=60)
    proc.url = f"http://127.0.0.1:{port}"  # type: ignore[attr-defined]
    return proc
