"""Applying Rasa's events on PostgreSQL: tickets open on pause, redelivery is a no-op, assignment is fair."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from connectors.whatsapp.models import InboundMessage
from handoff import retention
from handoff.assignment import assign_waiting
from handoff.db import Database
from handoff.ingest import apply_event
from handoff.models import Agent, Audit, Conversation, InboundEvent, Message, Ticket, utcnow
from tests.handoff.conftest import event, handoff_events, user

WA = "919812345678"


def apply_all(db: Database, events: list[dict], **kwargs: object) -> list:
    results = []
    for body in events:
        with db.transaction() as s:
            results.append(apply_event(s, body, **kwargs))  # type: ignore[arg-type]
    return results


def test_pause_opens_a_ticket_with_the_reason_and_the_transcript(db: Database) -> None:
    apply_all(db, [user(WA, 1000.0, "hi", "greet", 0.88), event(WA, "bot", 1000.5, text="Namaste!", data={})])
    apply_all(db, handoff_events(WA, 1001.0, reason="account_api_down"))
    apply_all(db, [user(WA, 1002.0, "my folio 12345678 shows wrong units", "check_portfolio", 0.42)])
    with db.transaction() as s:
        ticket = s.execute(select(Ticket)).scalar_one()
        assert (ticket.status, ticket.reason, ticket.assigned_agent_id) == ("open", "account_api_down", None)
        assert ticket.conversation.paused is True
        msgs = s.execute(select(Message).order_by(Message.created_at)).scalars().all()
        assert [m.kind for m in msgs] == ["user", "bot", "user", "bot", "system", "user"]
        assert (msgs[0].intent, msgs[0].confidence) == ("greet", 0.88)
        assert msgs[-1].ticket_id == ticket.id  # messages while paused belong to the ticket
        assert s.execute(select(Audit.action)).scalars().all() == ["ticket_opened"]


def test_a_redelivered_event_changes_nothing(db: Database) -> None:
    events = handoff_events(WA, 1001.0) + [user(WA, 1002.0, "hello?")]
    first = apply_all(db, events)
    again = apply_all(db, events)
    assert all(r is not None for r in first) and all(r is None for r in again)
    with db.transaction() as s:
        assert s.execute(select(func.count()).select_from(Ticket)).scalar_one() == 1
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 4
        assert s.execute(select(func.count()).select_from(InboundEvent)).scalar_one() == len(events)


def test_resume_resolves_and_an_agent_reply_echo_is_not_duplicated(db: Database) -> None:
    apply_all(db, handoff_events(WA, 1001.0))
    with db.transaction() as s:
        ticket = s.execute(select(Ticket)).scalar_one()
        s.add(
            Message(
                conversation_id=ticket.conversation_id,
                ticket_id=ticket.id,
                kind="agent",
                text="Hello",
                client_id="abc123",
                delivery="sending",
            )
        )
    echo = event(WA, "bot", 1003.0, text="Hello", data={}, metadata={"handoff_message_id": "abc123"})
    apply_all(db, [echo, event(WA, "resume", 1004.0)])
    with db.transaction() as s:
        agent_msgs = s.execute(select(Message).where(Message.kind == "agent")).scalars().all()
        assert [(m.text, m.delivery) for m in agent_msgs] == [("Hello", "sent")]
        ticket = s.execute(select(Ticket)).scalar_one()
        assert ticket.status == "resolved" and ticket.conversation.paused is False


def test_assignment_is_least_loaded_first_and_bounded_by_capacity(db: Database) -> None:
    with db.transaction() as s:
        for name in ("asha", "bilal"):
            s.add(Agent(email=f"{name}@example.com", name=name, role="agent", password_hash="x", available=True))
    for i in range(5):
        apply_all(db, handoff_events(f"9198000000{i:02d}", 2000.0 + i), agent_capacity=2)
    with db.transaction() as s:
        tickets = s.execute(select(Ticket).order_by(Ticket.id)).scalars().all()
        owners = [t.assigned_agent_id for t in tickets]
        assert owners[4] is None  # both agents full: the fifth waits in the queue
        assert sorted(o for o in owners if o) == [1, 1, 2, 2]
        assert owners[0] != owners[1]  # alternates between equally loaded agents
        tickets[0].status = "resolved"
    with db.transaction() as s:
        assert assign_waiting(s, default_capacity=2) == [(5, tickets[0].assigned_agent_id)]


def test_retention_removes_old_transcripts_but_not_open_tickets(db: Database) -> None:
    apply_all(db, [user("919800000001", 1000.0, "old and closed")] + handoff_events("919800000002", 1000.0))
    old = utcnow() - dt.timedelta(days=100)
    with db.transaction() as s:
        for conv in s.execute(select(Conversation)).scalars():
            conv.updated_at = old
    with db.transaction() as s:
        assert retention.purge(s, retention_days=90) == 1
    with db.transaction() as s:
        assert s.execute(select(Conversation.sender_id)).scalars().all() == ["919800000002"]
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 3


def test_whatsapp_media_reaches_the_transcript_as_a_typed_placeholder(db: Database) -> None:
    photo = InboundMessage("wamid.PHOTO", WA, 1003, "image", body={"image": {"id": "m1", "mime_type": "image/jpeg"}})
    body = user(WA, 1003.0, photo.transcript_text()) | {"metadata": photo.metadata()}  # what the channel logs
    apply_all(db, [body, user(WA, 1004.0, "hello")])
    with db.transaction() as s:
        msgs = s.execute(select(Message).order_by(Message.created_at)).scalars().all()
        assert [m.media_type for m in msgs] == ["image", None]
