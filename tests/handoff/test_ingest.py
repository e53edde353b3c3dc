"""Applying Rasa's events, on PostgreSQL and on the embedded SQLite: tickets open on pause, a redelivered event or
batch is a no-op, a batch keeps each conversation's order, assignment is fair, retention works in chunks."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import func, select

from connectors.whatsapp.models import InboundMessage
from handoff import retention
from handoff.assignment import assign_waiting
from handoff.db import Database
from handoff.ingest import BatchResult, Malformed, apply_batch, parse
from handoff.models import Agent, Audit, Conversation, InboundEvent, Message, Ticket, utcnow
from tests.handoff.conftest import event, handoff_events, user

WA = "919812345678"


def apply_all(db: Database, events: list[dict], **kwargs: object) -> list[BatchResult]:
    """Each event in a transaction of its own, as a trickle of single deliveries would arrive."""
    results = []
    for body in events:
        with db.transaction() as s:
            results.append(apply_batch(s, [body], **kwargs))  # type: ignore[arg-type]
    return results


def apply_once(db: Database, events: list[dict], **kwargs: object) -> BatchResult:
    with db.transaction() as s:
        return apply_batch(s, events, **kwargs)  # type: ignore[arg-type]


def count(db: Database, model: type) -> int:
    with db.transaction() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_pause_opens_a_ticket_with_the_reason_and_the_transcript(store: Database) -> None:
    apply_all(store, [user(WA, 1000.0, "hi", "greet", 0.88), event(WA, "bot", 1000.5, text="Namaste!", data={})])
    apply_all(store, handoff_events(WA, 1001.0, reason="account_api_down"))
    apply_all(store, [user(WA, 1002.0, "my folio 12345678 shows wrong units", "check_portfolio", 0.42)])
    with store.transaction() as s:
        ticket = s.execute(select(Ticket)).scalar_one()
        assert (ticket.status, ticket.reason, ticket.assigned_agent_id) == ("open", "account_api_down", None)
        assert ticket.conversation.paused is True
        msgs = s.execute(select(Message).order_by(Message.created_at)).scalars().all()
        assert [m.kind for m in msgs] == ["user", "bot", "user", "bot", "system", "user"]
        assert (msgs[0].intent, msgs[0].confidence) == ("greet", 0.88)
        assert msgs[-1].ticket_id == ticket.id  # messages while paused belong to the ticket
        assert s.execute(select(Audit.action)).scalars().all() == ["ticket_opened"]


def test_a_whole_conversation_in_one_batch_is_applied_in_order(store: Database) -> None:
    events = [user(WA, 1000.0, "hi", "greet")] + handoff_events(WA, 1001.0) + [
        user(WA, 1002.0 + i, f"line {i}") for i in range(5)
    ] + [event(WA, "resume", 1010.0), user(WA, 1011.0, "thanks")]
    changes = apply_once(store, events).changes
    with store.transaction() as s:
        lines = s.execute(select(Message.text, Message.ticket_id).order_by(Message.id)).all()
        ticket = s.execute(select(Ticket)).scalar_one()
    texts = [text for text, _ in lines]
    assert texts[3:] == ["Bot handed over: asked for human"] + [f"line {i}" for i in range(5)] + [
        "Bot resumed", "thanks"]
    assert [tid for text, tid in lines if text.startswith("line")] == [ticket.id] * 5
    assert ticket.status == "resolved" and lines[-1][1] is None  # after the resume: no ticket
    kinds = [(c.kind, c.data.get("text") or c.data.get("status")) for c in changes if c.ticket_id == ticket.id]
    assert kinds[:3] == [("message", "Bot handed over: asked for human"), ("ticket", "open"), ("message", "line 0")]


def test_a_redelivered_event_changes_nothing(store: Database) -> None:
    events = handoff_events(WA, 1001.0) + [user(WA, 1002.0, "hello?")]
    first = apply_all(store, events)
    again = apply_all(store, events)
    assert [r.applied for r in first] == [1] * len(events) and [r.duplicates for r in again] == [1] * len(events)
    assert all(r.changes == [] for r in again)
    assert (count(store, Ticket), count(store, Message), count(store, InboundEvent)) == (1, 4, len(events))


def test_a_redelivered_batch_is_idempotent_and_a_partly_new_one_applies_only_the_new(store: Database) -> None:
    first = [user("919800000001", 1000.0, "hi")] + handoff_events("919800000002", 1000.0)
    assert apply_once(store, first).applied == len(first)
    snapshot = (count(store, Ticket), count(store, Message), count(store, Audit), count(store, InboundEvent))
    redelivered = apply_once(store, first + first)  # the same batch twice over, in one delivery
    assert (redelivered.applied, redelivered.duplicates, redelivered.changes) == (0, 2 * len(first), [])
    assert (count(store, Ticket), count(store, Message), count(store, Audit), count(store, InboundEvent)) == snapshot
    later = [user("919800000002", 1005.0, "still there?"), user("919800000001", 1006.0, "bye")]
    mixed = apply_once(store, first[2:] + later)  # a redelivery overlapping what is new
    assert (mixed.applied, mixed.duplicates) == (2, len(first) - 2)
    with store.transaction() as s:
        texts = s.execute(select(Message.text).order_by(Message.id)).scalars().all()
    assert texts[-2:] == ["still there?", "bye"] and count(store, Message) == snapshot[1] + 2


def test_malformed_events_are_named_with_their_reason() -> None:
    for raw, reason in ((b"{not json", "not JSON"), (b"[1]", "not a JSON object"),
                        (b'{"event": "user"}', "sender_id and event are required"),
                        (b'{"sender_id": "' + b"9" * 65 + b'", "event": "user"}', "longer than 64")):
        with pytest.raises(Malformed, match=reason):
            parse(raw)
    assert parse(b'{"sender_id": "91", "event": "user"}')["sender_id"] == "91"


def test_resume_resolves_and_an_agent_reply_echo_is_not_duplicated(store: Database) -> None:
    apply_all(store, handoff_events(WA, 1001.0))
    with store.transaction() as s:
        ticket = s.execute(select(Ticket)).scalar_one()
        s.add(Message(conversation_id=ticket.conversation_id, ticket_id=ticket.id, kind="agent", text="Hello",
                      client_id="abc123", delivery="sending"))
    echo = event(WA, "bot", 1003.0, text="Hello", data={}, metadata={"handoff_message_id": "abc123"})
    apply_once(store, [echo, event(WA, "resume", 1004.0)])
    with store.transaction() as s:
        agent_msgs = s.execute(select(Message).where(Message.kind == "agent")).scalars().all()
        assert [(m.text, m.delivery) for m in agent_msgs] == [("Hello", "sent")]
        ticket = s.execute(select(Ticket)).scalar_one()
        assert ticket.status == "resolved" and ticket.conversation.paused is False


def test_assignment_is_least_loaded_first_and_bounded_by_capacity(store: Database) -> None:
    with store.transaction() as s:
        for name in ("asha", "bilal"):
            s.add(Agent(email=f"{name}@example.com", name=name, role="agent", password_hash="x", available=True))
    for i in range(5):
        apply_all(store, handoff_events(f"9198000000{i:02d}", 2000.0 + i), agent_capacity=2)
    with store.transaction() as s:
        tickets = s.execute(select(Ticket).order_by(Ticket.id)).scalars().all()
        owners = [t.assigned_agent_id for t in tickets]
        assert owners[4] is None  # both agents full: the fifth waits in the queue
        assert sorted(o for o in owners if o) == [1, 1, 2, 2]
        assert owners[0] != owners[1]  # alternates between equally loaded agents
        tickets[0].status = "resolved"
    with store.transaction() as s:
        assert assign_waiting(s, default_capacity=2) == [(5, tickets[0].assigned_agent_id)]


def test_assignment_runs_once_per_batch_for_every_ticket_it_opened(store: Database) -> None:
    with store.transaction() as s:
        s.add(Agent(email="asha@example.com", name="asha", role="agent", password_hash="x", available=True))
    events = [body for i in range(3) for body in handoff_events(f"9198000001{i:02d}", 3000.0 + i)]
    changes = apply_once(store, events, agent_capacity=2).changes
    assigned = [c.ticket_id for c in changes if c.kind == "ticket" and "assigned_agent_id" in c.data]
    assert assigned == [1, 2]  # the two oldest, within capacity; the third waits
    assert count(store, Ticket) == 3


def test_retention_removes_old_transcripts_in_chunks_but_not_open_tickets(store: Database) -> None:
    old_closed = [user(f"91980000010{i}", 1000.0, "old and closed") for i in range(3)]
    apply_all(store, old_closed + handoff_events("919800000002", 1000.0))
    old = utcnow() - dt.timedelta(days=100)
    with store.transaction() as s:
        for conv in s.execute(select(Conversation)).scalars():
            conv.updated_at = old
        for key in s.execute(select(InboundEvent)).scalars():
            key.received_at = old
    chunks = []
    while True:
        with store.transaction() as s:
            chunks.append(retention.purge(s, retention_days=90, conversations_per_chunk=2, keys_per_chunk=3))
        if not chunks[-1].more:
            break
    assert sum(c.conversations for c in chunks) == 3 and max(c.conversations for c in chunks) == 2
    assert sum(c.event_keys for c in chunks) == 3 + 5 and count(store, InboundEvent) == 0
    with store.transaction() as s:
        assert s.execute(select(Conversation.sender_id)).scalars().all() == ["919800000002"]
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 3
        actions = s.execute(select(Audit.action)).scalars().all()
    assert actions.count("retention_purge") == 2  # the audit trail records each chunk and keeps the rest


def test_retention_takes_the_review_labels_copies_of_purged_messages(store: Database) -> None:
    """A label keeps masked copies of investor messages: each goes with the last message it was copied from, and
    a label left without any goes too; the export finds nothing of them (docs/security.md, the attack review)."""
    from handoff.models import ReviewLabel
    from handoff.review import export, labels

    now = time.time() - 3600
    apply_all(store, [user("919800000201", now, "elss wala paisa kab nikal sakta hu yaar", "nlu_fallback", 0.3),
                      user("919800000202", now + 1, "ELSS wala paisa kab nikal sakta hu yaar??", "nlu_fallback", 0.3),
                      user("919800000203", now + 2, "mera folio 1234567/89 band karo", "nlu_fallback", 0.3)])
    with store.transaction() as s:
        writer = Agent(email="writer@example.com", name="writer", role="content", password_hash="x")
        s.add(writer)
        s.flush()
        for g in labels.queue(s, days=28)["groups"]:
            label = "faq/elss_lock_in" if g["key"].startswith("elss") else "request_statement"
            labels.assign(s, writer, key=g["key"], label=label, days=28, shown=g["shown"])
    with store.transaction() as s:  # the first and the third investor's conversations expire
        for conv in s.execute(select(Conversation).where(Conversation.sender_id != "919800000202")).scalars():
            conv.updated_at = utcnow() - dt.timedelta(days=100)
    with store.transaction() as s:
        done = retention.purge(s, retention_days=90)
    assert (done.conversations, done.review_labels) == (2, 2)
    with store.transaction() as s:
        kept = s.execute(select(ReviewLabel)).scalars().all()
        survivor = s.execute(select(Message.id).where(Message.kind == "user")).scalar_one()
        assert [(r.label, r.examples, r.message_ids) for r in kept] == [
            ("faq/elss_lock_in", ["ELSS wala paisa kab nikal sakta hu yaar??"], [survivor])]
        assert export.rows(s) == [("faq/elss_lock_in", "labelled", ["ELSS wala paisa kab nikal sakta hu yaar??"],
                                   None)]
        purges = [a.detail for a in s.execute(select(Audit).where(Audit.action == "retention_purge")).scalars()]
    assert purges == [{"conversations": 2, "review_labels": 2, "days": 90}]
    with store.transaction() as s:  # nothing more to take: the next run changes nothing
        assert retention.purge(s, retention_days=90).review_labels == 0


@pytest.mark.parametrize("stored_as", ["hash", "text"])  # text: a label stored before keys were hashed
def test_retention_rekeys_a_label_whose_key_messages_were_purged(store: Database, stored_as: str) -> None:
    """Found by the attack review: a label kept its group key -- the normalised text of messages retention had
    deleted (`abcde 0 f mera pan ka status kya hai`) -- and, keyed to them, the surviving group showed as
    unlabelled while the label was still exported; labelling it again made a second row. Keys are hashes now,
    and a label that loses messages is re-keyed to a surviving message's group: one label, on page and export."""
    from handoff.models import ReviewLabel
    from handoff.review import export, labels
    from handoff.review.grouping import key_hash

    gone = "abcde mera pan card ka status kya hai abhi tak 5 din"
    kept = f"{gone} se"
    now = time.time() - 3600
    apply_all(store, [user("919800000301", now, gone, "nlu_fallback", 0.3),
                      user("919800000302", now + 1, gone, "nlu_fallback", 0.3),
                      user("919800000303", now + 2, kept, "nlu_fallback", 0.3)])
    with store.transaction() as s:
        writer = Agent(email="writer@example.com", name="writer", role="content", password_hash="x")
        s.add(writer)
        s.flush()
        (g,) = labels.queue(s, days=28)["groups"]
        assert g["key"] == "abcde mera pan card ka status kya hai abhi tak X din"  # the two purged ones' text
        labels.assign(s, writer, key=g["key"], label="faq/elss_lock_in", days=28, shown=g["shown"])
        row = s.execute(select(ReviewLabel)).scalar_one()
        assert row.group_key == key_hash("abcde mera pan card ka status kya hai abhi tak 0 din")
        if stored_as == "text":
            row.group_key = "abcde mera pan card ka status kya hai abhi tak 0 din"
        writer_id, label_id = writer.id, row.id
    with store.transaction() as s:
        for conv in s.execute(select(Conversation).where(Conversation.sender_id != "919800000303")).scalars():
            conv.updated_at = utcnow() - dt.timedelta(days=100)
    with store.transaction() as s:
        assert retention.purge(s, retention_days=90).review_labels == 1
    with store.transaction() as s:
        row = s.execute(select(ReviewLabel)).scalar_one()
        assert row.group_key == key_hash("abcde mera pan card ka status kya hai abhi tak 0 din se")
        assert row.examples == ["abcde mera pan card ka status kya hai abhi tak X din se"]
        (g,) = labels.queue(s, days=28)["groups"]  # the surviving group shows its label
        assert (g["label"]["id"], g["label"]["label"]) == (label_id, "faq/elss_lock_in")
        labels.assign(s, s.get(Agent, writer_id), key=g["key"], label="kyc_status", days=28, shown=g["shown"])
    with store.transaction() as s:  # labelling it again changes that label: no second row
        assert [(r.id, r.label) for r in s.execute(select(ReviewLabel)).scalars()] == [(label_id, "kyc_status")]
        assert export.rows(s) == [("kyc_status", "labelled", [f"{gone[:-6]} X din se"], None)]


def test_whatsapp_media_reaches_the_transcript_as_a_typed_placeholder(store: Database) -> None:
    photo = InboundMessage("wamid.PHOTO", WA, 1003, "image", body={"image": {"id": "m1", "mime_type": "image/jpeg"}})
    body = user(WA, 1003.0, photo.transcript_text()) | {"metadata": photo.metadata()}  # what the channel logs
    apply_once(store, [body, user(WA, 1004.0, "hello")])
    with store.transaction() as s:
        msgs = s.execute(select(Message).order_by(Message.created_at)).scalars().all()
        assert [m.media_type for m in msgs] == ["image", None]


def histogram_count(name: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(f"{name}_count") or 0.0


def test_wait_and_handle_times_are_measured_once_per_ticket(store: Database) -> None:
    from handoff import service
    from handoff.inbox import _resolve

    waits, handles = histogram_count("mfa_handoff_wait_seconds"), histogram_count("mfa_handoff_handle_seconds")
    with store.transaction() as s:
        s.add(Agent(email="asha@example.com", name="asha", role="agent", password_hash="x", available=True))
        s.add(Agent(email="lead@example.com", name="lead", role="supervisor", password_hash="x"))
    apply_all(store, handoff_events(WA, 4000.0), agent_capacity=2)  # auto-assigned to the available agent
    apply_all(store, handoff_events("919800000777", 4001.0), agent_capacity=1)  # waits: asha is full
    assert histogram_count("mfa_handoff_wait_seconds") == waits + 1
    with store.transaction() as s:
        lead = s.execute(select(Agent).where(Agent.role == "supervisor")).scalar_one()
        second = s.execute(select(Ticket).where(Ticket.assigned_agent_id.is_(None))).scalar_one()
        service.claim(s, second, lead, default_capacity=5)
        service.claim(s, second, lead, default_capacity=5)  # already theirs: not taken again
    assert histogram_count("mfa_handoff_wait_seconds") == waits + 2
    with store.transaction() as s:
        _resolve(s, second.id, lead)
    assert histogram_count("mfa_handoff_handle_seconds") == handles + 1


def test_agents_see_who_is_writing_masked_whatever_reached_the_slot(store: Database) -> None:
    from handoff.ingest import identity

    told = {"verified": True, "name": "Asha Rao", "pan": "ABCDE1234F", "folios": ["1234567890", "XXXXXX4321"]}
    apply_all(store, [event(WA, "slot", 5000.0, name="handoff_identity", value=told)])
    apply_all(store, [event("919800000555", "slot", 5000.0, name="handoff_identity", value={"verified": False,
                                                                                            "pan": "ABCDE1234F"})])
    with store.transaction() as s:
        convs = {c.sender_id: c for c in s.execute(select(Conversation)).scalars()}
        shown = identity(convs[WA])
        unverified = identity(convs["919800000555"])
    assert shown == {"whatsapp": "91XXXXXX5678", "verified": "yes", "name": "Asha Rao", "pan": "ABXXXXX34F",
                     "folios": "XXXXXX7890 / XXXXXX4321"}
    assert unverified == {"whatsapp": "91XXXXXX0555", "verified": "no"}  # nothing more about an unverified writer
