"""Finding 4 (the stream's half): an event the handoff service refused stayed at the head of Rasa's outbox and
was retried forever, so no event reached the inbox after it. Now it is dead-lettered with its reason, the
stream goes on, and an operator command lists and replays it (handoff/event_broker.py)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

from sqlalchemy import func, select

from handoff.db import Database
from handoff.event_broker import HttpSink, OutboxEventBroker
from handoff.models import InboundEvent
from tests.handoff.conftest import handoff_service, user
from tests.support.processes import VENV_BIN

TOKEN = "test-internal-token"


def outbox_cli(action: str, outbox: Path) -> str:
    """The operator's command, as a separate process: `python -m handoff.event_broker <action>`."""
    command = [str(VENV_BIN / "python"), "-m", "handoff.event_broker", action, "--outbox", str(outbox)]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout


def received(db: Database, sender: str) -> int:
    with db.transaction() as s:
        return int(
            s.execute(
                select(func.count()).select_from(InboundEvent).where(InboundEvent.sender_id == sender)
            ).scalar_one()
        )


def test_a_refused_event_is_dead_lettered_and_the_stream_goes_on(pg_url: str, db: Database, tmp_path: Path) -> None:
    service = handoff_service("handoff-poison", database_url=pg_url, HANDOFF_INTERNAL_TOKEN=TOKEN)
    outbox = tmp_path / "outbox.db"
    with service:

        async def publish_and_drain() -> None:
            broker = OutboxEventBroker(str(outbox), HttpSink(service.url, TOKEN), max_event_bytes=20_000_000)
            broker.publish(user("919800000077", time.time(), "x" * 6_000_000))  # over the service's body limit
            broker.publish(user("919800000078", time.time(), "is anyone there?"))
            broker.start()
            deadline = time.monotonic() + 60
            while (len(broker.outbox) or received(db, "919800000078") == 0) and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the database
                await asyncio.sleep(0.1)
            dead = broker.outbox.dead_letters()
            await broker.close()
            assert len(dead) == 1 and "413" in dead[0][2], dead

        asyncio.run(publish_and_drain())
        assert received(db, "919800000078") == 1  # the event behind the poison arrived
        assert received(db, "919800000077") == 0

    listed = outbox_cli("list", outbox)
    assert "1 dead letter(s)" in listed and "91XXXXXX0077" in listed and "919800000077" not in listed
    assert "xxxx" not in listed  # the operator sees what and whose, never the message text
    replayed = outbox_cli("replay", outbox)
    assert "replayed 1 event(s)" in replayed


def test_an_oversized_event_never_enters_the_outbox(tmp_path: Path) -> None:
    async def publish() -> tuple[int, int]:
        broker = OutboxEventBroker(
            str(tmp_path / "outbox.db"), HttpSink("http://127.0.0.1:9", TOKEN), max_event_bytes=10_000
        )
        broker.publish(user("919800000079", time.time(), "y" * 20_000))
        counts = len(broker.outbox), len(broker.outbox.dead_letters())
        broker.outbox.close()
        return counts

    assert asyncio.run(publish()) == (0, 1)


def test_an_event_the_service_fails_on_does_not_wedge_the_stream(pg_url: str, db: Database, tmp_path: Path) -> None:
    """Found by the attack: a well-formed event with a wrongly typed field made ingest fail (500) and the outbox
    retried it forever. Refused (4xx) or failed on alone five times (500), it is dead-lettered and the rest goes on."""
    service = handoff_service("handoff-wedge", database_url=pg_url, HANDOFF_INTERNAL_TOKEN=TOKEN)
    with service:
        async def publish_and_drain() -> list[tuple[int, str, str, float]]:
            broker = OutboxEventBroker(str(tmp_path / "outbox.db"), HttpSink(service.url, TOKEN))
            broker.publish({"sender_id": "919800000081", "event": "slot", "name": "otp_misses", "value": 1,
                            "timestamp": 1e20})
            broker.publish(user("919800000082", time.time(), "still there?"))
            broker.start()
            deadline = time.monotonic() + 90
            while received(db, "919800000082") == 0 and time.monotonic() < deadline:  # noqa: ASYNC110 - polls the db
                await asyncio.sleep(0.1)
            dead = broker.outbox.dead_letters()
            await broker.close()
            return dead

        dead = asyncio.run(publish_and_drain())
        assert received(db, "919800000082") == 1
        assert received(db, "919800000081") == 0 and len(dead) == 1, dead
