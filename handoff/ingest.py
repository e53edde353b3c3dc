"""Apply one Rasa tracker event to the handoff store, exactly once.

Every transport (RabbitMQ or the embedded HTTP push) hands raw event bodies here. The event's key goes into
`inbound_events` in the same transaction as its effects, so a redelivered event hits the primary key and is
skipped: at-least-once delivery plus this table gives effectively-once application.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from handoff.assignment import assign_waiting
from handoff.models import REASONS, Audit, Conversation, InboundEvent, Message, Ticket, utcnow

# Slots shown to agents (masked) as the verified identity; anything else stays out of the inbox.
IDENTITY_SLOTS = ("investor_name", "pan", "folio", "verified", "verified_pan", "verified_folio", "mobile")


@dataclass
class Change:
    """What the live inbox must be told once the transaction committed."""

    kind: str  # message | ticket
    ticket_id: int | None
    conversation_id: int
    data: dict[str, Any] = field(default_factory=dict)


def event_key(body: dict[str, Any]) -> str:
    """The event's identity: the outbox id if the publisher set one, else a hash of the canonical body."""
    explicit = body.get("handoff_event_id")
    if isinstance(explicit, str) and 0 < len(explicit) <= 64:
        return explicit
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _when(body: dict[str, Any]) -> dt.datetime:
    ts = body.get("timestamp")
    if isinstance(ts, int | float):
        return dt.datetime.fromtimestamp(ts, dt.timezone.utc).replace(tzinfo=None)
    return utcnow()


def _media_type(data: dict[str, Any] | None, metadata: dict[str, Any] | None) -> str | None:
    """Media is shown as a typed placeholder; we never store or proxy the file itself.

    The WhatsApp channel puts its facts under `metadata["whatsapp"]` (connectors/whatsapp/models.py)."""
    metadata = metadata or {}
    nested = metadata.get("whatsapp")
    for source in (metadata, nested if isinstance(nested, dict) else {}, data or {}):
        for key in ("media_type", "type"):
            value = source.get(key)
            if isinstance(value, str) and value in {"image", "audio", "video", "document", "sticker", "location"}:
                return value
        for key in ("image", "attachment", "audio", "video", "document"):
            if source.get(key):
                return "image" if key == "image" else key if key != "attachment" else "document"
    return None


def _bot_text(body: dict[str, Any]) -> str:
    text = body.get("text") or ""
    data = body.get("data") or {}
    buttons = data.get("buttons") or []
    if buttons:
        titles = " | ".join(str(b.get("title", "")) for b in buttons if isinstance(b, dict))
        text = f"{text}\n[buttons: {titles}]" if text else f"[buttons: {titles}]"
    if not text and data.get("custom"):
        text = "[structured message]"
    return str(text)


def active_ticket(session: Session, conversation_id: int) -> Ticket | None:
    return session.execute(
        select(Ticket).where(Ticket.conversation_id == conversation_id, Ticket.status != "resolved")
    ).scalar_one_or_none()


def _claim_key(session: Session, key: str, sender_id: str, etype: str) -> bool:
    """Record the event's key; False if it was already there (a redelivery). One round trip, no savepoint."""
    values = {"key": key, "sender_id": sender_id[:64], "type": etype[:40], "received_at": utcnow()}
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(InboundEvent).values(**values).on_conflict_do_nothing(index_elements=["key"])
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(InboundEvent).values(**values).on_conflict_do_nothing(index_elements=["key"])
    else:  # pragma: no cover - other databases fall back to a savepoint
        try:
            with session.begin_nested():
                session.add(InboundEvent(**values))
            return True
        except IntegrityError:
            return False
    return bool(session.execute(stmt).rowcount)


def _conversation(session: Session, sender_id: str) -> Conversation:
    conv = session.execute(select(Conversation).where(Conversation.sender_id == sender_id)).scalar_one_or_none()
    if conv is not None:
        return conv
    conv = Conversation(sender_id=sender_id, slots={})
    try:
        with session.begin_nested():
            session.add(conv)
    except IntegrityError:  # another replica created it first
        conv = session.execute(select(Conversation).where(Conversation.sender_id == sender_id)).scalar_one()
    return conv


def message_payload(msg: Message) -> dict[str, Any]:
    return {
        "id": msg.id,
        "kind": msg.kind,
        "text": msg.text,
        "intent": msg.intent,
        "confidence": msg.confidence,
        "media_type": msg.media_type,
        "delivery": msg.delivery,
        "at": msg.created_at.isoformat() + "Z",
        "ticket_id": msg.ticket_id,
    }


@dataclass
class BatchCache:
    """Conversations and their active tickets already loaded in this transaction (fewer round trips)."""

    conversations: dict[str, Conversation] = field(default_factory=dict)
    tickets: dict[int, Ticket | None] = field(default_factory=dict)


def apply_event(
    session: Session,
    body: dict[str, Any],
    *,
    agent_capacity: int = 3,
    auto_assign: bool = True,
    cache: BatchCache | None = None,
) -> list[Change] | None:
    """Apply `body` inside the caller's transaction. Returns None for a duplicate, else the live changes."""
    sender_id = str(body.get("sender_id") or "")
    etype = str(body.get("event") or "")
    if not sender_id or not etype:
        raise ValueError("not a Rasa tracker event (sender_id and event are required)")
    key = event_key(body)
    if not _claim_key(session, key, sender_id, etype):
        return None

    cache = cache if cache is not None else BatchCache()
    conv = cache.conversations.get(sender_id)
    if conv is None:
        conv = cache.conversations[sender_id] = _conversation(session, sender_id)
    when = _when(body)
    if etype in ("user", "pause", "resume", "session_started"):
        conv.updated_at = utcnow()  # retention counts from the last activity
    changes: list[Change] = []
    if conv.id not in cache.tickets:
        cache.tickets[conv.id] = active_ticket(session, conv.id)
    ticket = cache.tickets[conv.id]

    def add_message(**kwargs: Any) -> Message:
        msg = Message(conversation_id=conv.id, ticket_id=ticket.id if ticket else None, created_at=when, **kwargs)
        session.add(msg)
        session.flush()
        changes.append(Change("message", msg.ticket_id, conv.id, message_payload(msg)))
        return msg

    if etype == "user":
        parse = body.get("parse_data") or {}
        intent = parse.get("intent") or {}
        conv.last_user_at = max(conv.last_user_at or when, when)
        if body.get("input_channel"):
            conv.channel = str(body["input_channel"])[:40]
        add_message(
            kind="user",
            event_key=key,
            text=body.get("text"),
            intent=intent.get("name"),
            confidence=intent.get("confidence"),
            media_type=_media_type(None, body.get("metadata")),
        )
        if ticket is not None and ticket.status == "pending":
            ticket.status = "open"  # the investor answered: back in the agent's attention
            changes.append(Change("ticket", ticket.id, conv.id, {"status": "open"}))
    elif etype == "bot":
        metadata = body.get("metadata") or {}
        client_id = metadata.get("handoff_message_id")
        existing = None
        if client_id:
            existing = session.execute(select(Message).where(Message.client_id == str(client_id))).scalar_one_or_none()
        if existing is not None:
            existing.event_key = key  # our own agent reply coming back through Rasa: already in the transcript
            existing.delivery = "sent"
            session.flush()
            changes.append(Change("message", existing.ticket_id, conv.id, message_payload(existing)))
        else:
            data = body.get("data") or {}
            add_message(
                kind="agent" if client_id else "bot",
                event_key=key,
                client_id=str(client_id) if client_id else None,
                text=_bot_text(body),
                media_type=_media_type(data, None),
            )
    elif etype == "slot":
        name = str(body.get("name") or "")
        slots = dict(conv.slots or {})
        slots[name] = body.get("value")
        conv.slots = slots
    elif etype == "pause":
        conv.paused = True
        if ticket is None:
            reason = str((conv.slots or {}).get("handoff_reason") or "unknown")
            ticket = Ticket(
                conversation_id=conv.id,
                status="open",
                reason=reason if reason in REASONS else "unknown",
                opened_at=when,
            )
            session.add(ticket)
            session.flush()
            cache.tickets[conv.id] = ticket
            # the bot's turns since the investor's last session start belong to this ticket's context
            session.add(Audit(action="ticket_opened", ticket_id=ticket.id, detail={"reason": ticket.reason}))
            add_message(kind="system", event_key=key, text=f"Bot handed over: {ticket.reason.replace('_', ' ')}")
            changes.append(Change("ticket", ticket.id, conv.id, {"status": "open", "new": True}))
            if auto_assign:
                for tid, agent_id in assign_waiting(session, default_capacity=agent_capacity):
                    changes.append(Change("ticket", tid, conv.id, {"assigned_agent_id": agent_id}))
    elif etype == "resume":
        conv.paused = False
        if ticket is not None:
            ticket.status = "resolved"
            ticket.resolved_at = ticket.resolved_at or when
            cache.tickets[conv.id] = None
            session.add(Audit(action="ticket_resolved", ticket_id=ticket.id, detail={"by": "bot_resumed"}))
            changes.append(Change("ticket", ticket.id, conv.id, {"status": "resolved"}))
        add_message(kind="system", event_key=key, text="Bot resumed")
    elif etype in ("restart", "session_started"):
        if etype == "restart":
            conv.paused = False
            add_message(kind="system", event_key=key, text="Conversation restarted")
        conv.slots = {}  # Rasa resets slots on both (carry_over_slots_to_new_session is false)
    return changes


def identity(conv: Conversation) -> dict[str, str]:
    """The investor's verified identity as agents may see it: masked, and only the fields we know."""
    from common.pii import mask_account, mask_pan, mask_phone, mask_text

    out: dict[str, str] = {"whatsapp": mask_phone(conv.sender_id)}
    for name in IDENTITY_SLOTS:
        value = (conv.slots or {}).get(name)
        if value in (None, "", False):
            continue
        if name in ("pan", "verified_pan"):
            out[name] = mask_pan(str(value))
        elif name in ("folio", "verified_folio"):
            out[name] = mask_account(str(value))
        elif name == "mobile":
            out[name] = mask_phone(str(value))
        else:
            out[name] = mask_text(str(value))
    return out
