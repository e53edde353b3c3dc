"""Apply a batch of Rasa tracker events to the handoff store, each exactly once, in one transaction.

Every transport (RabbitMQ or the embedded HTTP push) hands batches of event bodies to `apply_batch`. The
events' keys go into `inbound_events` in the same transaction as their effects (one `INSERT ... ON CONFLICT DO
NOTHING`), so a redelivered event is recognised and skipped: at-least-once delivery plus this table gives
effectively-once application. Events are applied in the order given; the transports keep each conversation's
events in order. The work is done per batch, not per event: one claim of the keys, one load of the
conversations and their open tickets, one insert of the transcript lines, one update of the conversations,
and the auto-assignment once if a ticket was opened (handoff/bulk.py has the statements).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from common.logs import correlated
from common.pii import mask_text
from handoff.assignment import assign_waiting
from handoff.bulk import ConvState, bulk_for
from handoff.models import REASONS, Audit, Conversation, Message, Rating, Ticket, utcnow

# What the handoff action tells agents of who is writing (actions/handoff.py, masked there and again here).
IDENTITY_SLOT = "handoff_identity"
MEDIA_TYPES = {"image", "audio", "video", "document", "sticker", "location"}

logger = logging.getLogger(__name__)

# The rating question (actions/handoff.py, after a handoff when HANDOFF_ASK_RATING is on). Rasa 3.6 puts the
# response's name in a BotUttered event's metadata (`utter_action`, rasa/core/actions/action.py); a line stored
# by an earlier batch is recognised by its text. The domain is read once if this image has it (the handoff
# image does not), else the text below, which tests/handoff/test_analytics.py keeps equal to the domain's.
RATING_RESPONSE = "utter_handoff_ask_rating"
RATING_TEXT = "How did our team do? Reply with a number from 1 (poor) to 5 (excellent)."
RATING_DOMAIN = Path(__file__).resolve().parent.parent / "domain" / "handoff.yml"
RATING_WINDOW = dt.timedelta(hours=24)  # an answer later than this is not an answer to the question
# a score standing alone ("4", "4/5", "4 out of 5", "5⭐"), not a digit of a longer number, code or PAN
SCORE_RE = re.compile(r"(?<!\w)(?<!\d[.,])(\d)(?:\s*(?:/|out of)\s*5)?(?!\w|[.,]\d)")


class Malformed(ValueError):
    """An event that can never be applied, whatever our code does: dead-lettered at once, with this reason."""


@dataclass
class Change:
    """What the live inbox must be told once the transaction committed."""

    kind: str  # message | ticket
    ticket_id: int | None
    conversation_id: int
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class BatchResult:
    changes: list[Change]
    applied: int
    duplicates: int


def parse(raw: bytes | str | Any) -> dict[str, Any]:
    """The event body, or Malformed with the reason: not JSON, not an object, no sender_id or event type."""
    body = raw
    if isinstance(raw, bytes | str):
        try:
            body = json.loads(raw)
        except ValueError as exc:
            raise Malformed("not JSON") from exc
    if not isinstance(body, dict):
        raise Malformed("not a JSON object")
    sender_id, etype = body.get("sender_id"), body.get("event")
    if not isinstance(sender_id, str) or not sender_id or not isinstance(etype, str) or not etype:
        raise Malformed("not a Rasa tracker event (sender_id and event are required)")
    if len(sender_id) > 64:
        raise Malformed("sender_id longer than 64 characters")
    return body


def parse_many(raw: bytes) -> tuple[list[dict[str, Any]], list[tuple[bytes, str]]]:
    """A message's events (one JSON object, or an array of them: topology.pack) and its malformed parts with
    their reasons, each to be dead-lettered on its own."""
    try:
        decoded = json.loads(raw)
    except ValueError:
        return [], [(raw, "not JSON")]
    good: list[dict[str, Any]] = []
    bad: list[tuple[bytes, str]] = []
    for item in decoded if isinstance(decoded, list) else [decoded]:
        try:
            good.append(parse(item))
        except Malformed as exc:
            bad.append((raw if not isinstance(decoded, list) else json.dumps(item).encode(), str(exc)))
    return good, bad


def correlation_ids(bodies: list[dict[str, Any]]) -> list[str | None]:
    """Each event's correlation id: the investor message it belongs to (docs/observability.md).

    A user event carries its channel's message id (`message_id`: the WhatsApp message id, wamid); the events Rasa
    logged after it for the same conversation (actions, bot replies, slots, a pause) carry none of their own, so
    they take the latest one before them in the batch. `metadata.correlation_id`, when a publisher sets it, wins."""
    latest: dict[str, str] = {}
    found: list[str | None] = []
    for body in bodies:
        sender = str(body.get("sender_id"))
        metadata = body.get("metadata")
        explicit = metadata.get("correlation_id") if isinstance(metadata, dict) else None
        own = explicit or (body.get("message_id") if body.get("event") == "user" else None)
        if isinstance(own, str) and own:
            latest[sender] = own
            found.append(own)
        else:
            found.append(latest.get(sender))
    return found


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
            if isinstance(value, str) and value in MEDIA_TYPES:
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


@functools.lru_cache(maxsize=1)
def rating_texts() -> frozenset[str]:
    """The rating question's texts: every variation in the domain when it is here, else RATING_TEXT."""
    try:
        import yaml  # in the Rasa project's environment; the handoff image has neither it nor the domain

        responses = yaml.safe_load(RATING_DOMAIN.read_text(encoding="utf-8"))["responses"][RATING_RESPONSE]
        texts = frozenset(str(r["text"]).strip() for r in responses if r.get("text"))
    except (ImportError, OSError, KeyError, TypeError):
        texts = frozenset()
    return texts or frozenset({RATING_TEXT})


def is_rating_question(body: dict[str, Any]) -> bool:
    """The bot asked for a rating; an agent's reply with the same words is not the question (no made-up ratings)."""
    metadata = body.get("metadata") or {}
    if isinstance(metadata, dict) and metadata.get("handoff_message_id"):
        return False
    if isinstance(metadata, dict) and metadata.get("utter_action") == RATING_RESPONSE:
        return True
    return str(body.get("text") or "").strip() in rating_texts()


def parse_rating(text: str | None) -> tuple[int, str | None] | None:
    """(score, masked comment) from an answer to the rating question, or None if it holds no score 1..5."""
    match = SCORE_RE.search(text or "")
    if match is None or not 1 <= int(match.group(1)) <= 5:
        return None
    rest = f"{(text or '')[:match.start()]} {(text or '')[match.end():]}".strip(" \t\n-:,.!*⭐★")
    return int(match.group(1)), (mask_text(rest, strict=True)[:2000] if rest else None)  # codes and numbers too


def user_intent(parse_data: dict[str, Any]) -> tuple[str | None, float | None]:
    """The intent as stored: an FAQ question as `faq/<topic>` (the response selector's pick), so that the
    analytics can count topics; Rasa's intent alone is just `faq`."""
    intent = parse_data.get("intent") or {}
    name = intent.get("name")
    if name == "faq":
        selected = ((parse_data.get("response_selector") or {}).get("faq") or {}).get("response") or {}
        key = selected.get("intent_response_key")
        if isinstance(key, str) and key.startswith("faq/"):
            name = key
    return (str(name)[:120] if name else None), intent.get("confidence")


def active_ticket(session: Session, conversation_id: int) -> Ticket | None:
    return session.execute(
        select(Ticket).where(Ticket.conversation_id == conversation_id, Ticket.status != "resolved")
    ).scalar_one_or_none()


def payload_of(values: dict[str, Any]) -> dict[str, Any]:
    """A transcript line as the live inbox receives it (masked later, per tab, by inbox.live_audience)."""
    return {
        "id": values["id"],
        "kind": values["kind"],
        "text": values["text"],
        "intent": values["intent"],
        "confidence": values["confidence"],
        "media_type": values["media_type"],
        "delivery": values["delivery"],
        "at": values["created_at"].isoformat() + "Z",
        "ticket_id": values["ticket_id"],
    }


def message_payload(msg: Message) -> dict[str, Any]:
    return payload_of({name: getattr(msg, name) for name in ("id", "kind", "text", "intent", "confidence",
                                                             "media_type", "delivery", "created_at", "ticket_id")})


def apply_batch(
    session: Session, bodies: list[dict[str, Any]], *, agent_capacity: int = 3, auto_assign: bool = True
) -> BatchResult:
    """Apply parsed event bodies, in order, inside the caller's transaction; redeliveries are skipped."""
    events: dict[str, dict[str, Any]] = {}
    for body in bodies:
        events.setdefault(event_key(body), body)  # the same event twice in one batch: once
    store = bulk_for(session)
    now = utcnow()
    keys = list(events)
    fresh = store.claim(keys, [str(events[k]["sender_id"])[:64] for k in keys],
                        [str(events[k]["event"])[:40] for k in keys], now) if keys else set()
    todo = [(key, body) for key, body in events.items() if key in fresh]
    if not todo:
        return BatchResult([], 0, len(bodies))
    applier = _Batch(session, store.conversations(sorted({str(b["sender_id"]) for _, b in todo}), now), now)
    ids = dict(zip(events, correlation_ids(list(events.values())), strict=True))
    for key, body in todo:
        with correlated(ids[key]):  # what is logged about this event carries its investor message's id
            applier.apply(key, body)
            if body["event"] == "user":
                logger.info("Ingested an investor message (conversation %d, event %s)",
                            applier.convs[str(body["sender_id"])].id, key)
    session.flush()
    if applier.rows:
        store.insert_messages(applier.rows)
    dirty = [conv for conv in applier.convs.values() if conv.dirty]
    if dirty:
        store.update_conversations(dirty)
    if applier.opened and auto_assign:
        for tid, agent_id in assign_waiting(session, default_capacity=agent_capacity):
            applier.changes.append(Change("ticket", tid, applier.opened[-1], {"assigned_agent_id": agent_id}))
    return BatchResult(applier.results(), len(todo), len(bodies) - len(todo))


class _Batch:
    """The effects of one batch's new events, kept in memory until the batch is written."""

    def __init__(self, session: Session, convs: dict[str, ConvState], now: dt.datetime) -> None:
        self.session, self.convs, self.now = session, convs, now
        ids = [conv.id for conv in convs.values()]
        active = session.execute(select(Ticket).where(Ticket.conversation_id.in_(ids), Ticket.status != "resolved"))
        self.tickets: dict[int, Ticket | None] = {t.conversation_id: t for t in active.scalars()}
        self.rows: list[dict[str, Any]] = []
        self.changes: list[Change | dict[str, Any]] = []  # a dict: a new line, a Change once it has its id
        self.opened: list[int] = []
        # per conversation, its latest investor or bot turn in this batch: ("question" for the rating question,
        # "bot" or "user", when); before its first one, the stored transcript says (`_stored_turn`)
        self.turns: dict[int, tuple[str, dt.datetime]] = {}
        self.resumed: dict[int, int] = {}  # conversation -> the ticket this batch resolved

    def apply(self, key: str, body: dict[str, Any]) -> None:
        conv = self.convs[str(body["sender_id"])]
        etype = str(body["event"])
        if etype in ("user", "pause", "resume", "session_started"):
            conv.updated_at, conv.dirty = self.now, True  # retention counts from the last activity
        handler = getattr(self, f"_on_{etype}", None)
        if handler is not None:
            handler(conv, key, body, _when(body))

    def results(self) -> list[Change]:
        out: list[Change] = []
        for item in self.changes:
            if isinstance(item, Change):
                out.append(item)
            elif item["id"] is not None:  # None: the line was already there (a replay older than its key)
                out.append(Change("message", item["ticket_id"], item["conversation_id"], payload_of(item)))
        return out

    def _line(self, conv: ConvState, key: str, when: dt.datetime, **values: Any) -> None:
        ticket = self.tickets.get(conv.id)
        row: dict[str, Any] = dict.fromkeys(("client_id", "intent", "confidence", "media_type", "agent_id", "delivery"))
        row.update(conversation_id=conv.id, ticket_id=ticket.id if ticket else None, event_key=key,
                   created_at=when, **values)
        self.rows.append(row)
        self.changes.append(row)

    def _ticket_change(self, ticket: Ticket, data: dict[str, Any]) -> None:
        self.changes.append(Change("ticket", ticket.id, ticket.conversation_id, data))

    def _on_user(self, conv: ConvState, key: str, body: dict[str, Any], when: dt.datetime) -> None:
        intent, confidence = user_intent(body.get("parse_data") or {})
        conv.last_user_at = max(conv.last_user_at or when, when)
        if body.get("input_channel"):
            conv.channel = str(body["input_channel"])[:40]
        self._rating(conv, key, body, when)
        self.turns[conv.id] = ("user", when)
        self._line(conv, key, when, kind="user", text=body.get("text"), intent=intent,
                   confidence=confidence, media_type=_media_type(None, body.get("metadata")))
        ticket = self.tickets.get(conv.id)
        if ticket is not None and ticket.status == "pending":
            ticket.status = "open"  # the investor answered: back in the agent's attention
            self._ticket_change(ticket, {"status": "open"})

    def _on_bot(self, conv: ConvState, key: str, body: dict[str, Any], when: dt.datetime) -> None:
        self.turns[conv.id] = ("question" if is_rating_question(body) else "bot", when)
        client_id = (body.get("metadata") or {}).get("handoff_message_id")
        existing = None
        if client_id:
            existing = self.session.execute(
                select(Message).where(Message.client_id == str(client_id))
            ).scalar_one_or_none()
        if existing is not None:  # our own agent reply coming back through Rasa: already in the transcript
            existing.event_key, existing.delivery = key, "sent"
            self.changes.append(Change("message", existing.ticket_id, conv.id, message_payload(existing)))
            return
        self._line(conv, key, when, kind="agent" if client_id else "bot",
                   client_id=str(client_id) if client_id else None, text=_bot_text(body),
                   media_type=_media_type(body.get("data") or {}, None))

    def _on_slot(self, conv: ConvState, key: str, body: dict[str, Any], when: dt.datetime) -> None:
        conv.slots = {**conv.slots, str(body.get("name") or ""): body.get("value")}
        conv.dirty = True

    def _on_pause(self, conv: ConvState, key: str, body: dict[str, Any], when: dt.datetime) -> None:
        conv.paused, conv.dirty = True, True
        if self.tickets.get(conv.id) is not None:
            return
        reason = str(conv.slots.get("handoff_reason") or "unknown")
        ticket = Ticket(conversation_id=conv.id, status="open", reason=reason if reason in REASONS else "unknown",
                        opened_at=when)
        self.session.add(ticket)
        self.session.flush()
        self.tickets[conv.id] = ticket
        self.opened.append(conv.id)
        self.session.add(Audit(action="ticket_opened", ticket_id=ticket.id, detail={"reason": ticket.reason}))
        self._line(conv, key, when, kind="system", text=f"Bot handed over: {ticket.reason.replace('_', ' ')}")
        self._ticket_change(ticket, {"status": "open", "new": True})

    def _on_resume(self, conv: ConvState, key: str, body: dict[str, Any], when: dt.datetime) -> None:
        conv.paused, conv.dirty = False, True
        ticket = self.tickets.get(conv.id)
        if ticket is not None:
            ticket.status = "resolved"
            ticket.resolved_at = ticket.resolved_at or when
            self.tickets[conv.id] = None
            self.resumed[conv.id] = ticket.id
            self.session.add(Audit(action="ticket_resolved", ticket_id=ticket.id, detail={"by": "bot_resumed"}))
            self._ticket_change(ticket, {"status": "resolved"})
        self._line(conv, key, when, kind="system", text="Bot resumed")

    def _rating(self, conv: ConvState, key: str, body: dict[str, Any], when: dt.datetime) -> None:
        """The investor's first message after the rating question, if it holds a score, becomes a Rating.

        Idempotent: the event's key is the rating's `event_key` (unique), and the batch claims keys first."""
        found = parse_rating(body.get("text"))
        if found is None:
            return
        turn = self.turns[conv.id] if conv.id in self.turns else self._stored_turn(conv.id)
        if turn is None or turn[0] != "question" or when - turn[1] > RATING_WINDOW:
            return
        ticket_id = self.resumed.get(conv.id) or self.session.execute(
            select(Ticket.id).where(Ticket.conversation_id == conv.id, Ticket.status == "resolved")
            .order_by(Ticket.resolved_at.desc(), Ticket.id.desc()).limit(1)
        ).scalar_one_or_none()
        dialect = self.session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        self.session.execute(
            insert(Rating.__table__).values(conversation_id=conv.id, ticket_id=ticket_id, score=found[0],
                                            comment=found[1], created_at=when, event_key=key)
            .on_conflict_do_nothing(index_elements=["event_key"])
        )

    def _stored_turn(self, conversation_id: int) -> tuple[str, dt.datetime] | None:
        """The conversation's latest investor or bot line stored by an earlier batch (any replica's)."""
        row = self.session.execute(
            select(Message.kind, Message.text, Message.created_at)
            .where(Message.conversation_id == conversation_id, Message.kind.in_(("user", "bot")))
            .order_by(Message.created_at.desc(), Message.id.desc()).limit(1)
        ).first()
        if row is None:
            return None
        question = row.kind == "bot" and (row.text or "").strip() in rating_texts()
        return ("question" if question else str(row.kind)), row.created_at

    def _on_restart(self, conv: ConvState, key: str, body: dict[str, Any], when: dt.datetime) -> None:
        conv.paused, conv.slots, conv.dirty = False, {}, True
        self._line(conv, key, when, kind="system", text="Conversation restarted")

    def _on_session_started(self, conv: ConvState, key: str, body: dict[str, Any], when: dt.datetime) -> None:
        conv.slots, conv.dirty = {}, True  # Rasa resets slots (carry_over_slots_to_new_session is false)


def identity(conv: Conversation) -> dict[str, str]:
    """Who is writing, as agents may see it: the masked number; verified or not; if verified the name, the PAN
    and the folios masked (again: whatever reached the slot, only masked values leave here)."""
    from common.pii import mask_account, mask_pan, mask_phone, mask_text

    out: dict[str, str] = {"whatsapp": mask_phone(conv.sender_id)}
    given = (conv.slots or {}).get(IDENTITY_SLOT)
    if not isinstance(given, dict):
        return out
    out["verified"] = "yes" if given.get("verified") is True else "no"
    if given.get("verified") is not True:
        return out
    if given.get("name"):
        out["name"] = mask_text(str(given["name"]))[:120]
    if given.get("pan"):
        out["pan"] = mask_pan(str(given["pan"]))
    folios = given.get("folios")
    if isinstance(folios, list) and folios:
        out["folios"] = " / ".join(mask_account(str(f)) for f in folios[:10])
    return out
