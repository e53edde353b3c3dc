"""The handoff ingest logs each event with the id of the investor message it belongs to (docs/observability.md)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from common.logs import JsonFormatter
from handoff.db import Database
from handoff.ingest import apply_batch, correlation_ids
from tests.handoff.conftest import event, handoff_events, user


def test_events_after_a_user_event_take_its_message_id_per_conversation() -> None:
    first, other = "919800000101", "919800000102"
    bodies = [
        event(first, "action", 1.0, name="action_session_start"),  # before any message of this batch: none
        {**user(first, 2.0, "connect me to an agent"), "message_id": "wamid.A"},
        {**user(other, 2.1, "hi"), "message_id": "wamid.B"},
        event(first, "bot", 2.2, text="I'm connecting you to a person.", metadata={}),
        event(other, "bot", 2.3, text="Namaste", metadata={"correlation_id": "wamid.C"}),  # a publisher's own wins
        event(first, "pause", 2.4),
        event(other, "slot", 2.5, name="x", value=1),
    ]
    assert correlation_ids(bodies) == [None, "wamid.A", "wamid.B", "wamid.A", "wamid.C", "wamid.A", "wamid.C"]


@pytest.fixture
def ingest_lines() -> Iterator[io.StringIO]:
    """What handoff.ingest logs, formatted when it is logged (as the service's stderr handler does)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("handoff"))
    logger = logging.getLogger("handoff.ingest")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_ingesting_a_message_logs_with_its_whatsapp_id_and_nothing_after(db: Database,
                                                                          ingest_lines: io.StringIO) -> None:
    sender = "919800000103"
    events = handoff_events(sender, 1_700_000_000.0)
    events[0] = {**events[0], "message_id": "wamid.HBgMingest"}
    with db.transaction() as s:
        result = apply_batch(s, events)
    assert result.applied == len(events)
    logging.getLogger("handoff.ingest").info("after the batch")
    lines = [json.loads(line) for line in ingest_lines.getvalue().splitlines()]
    ingested = [e for e in lines if e["message"].startswith("Ingested an investor message")]
    assert len(ingested) == 1 and ingested[0]["correlation_id"] == "wamid.HBgMingest"
    assert "correlation_id" not in lines[-1]  # the id does not leak past the event
