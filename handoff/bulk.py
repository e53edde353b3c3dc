"""The statements that ingest runs for a whole batch at once, per database.

PostgreSQL (production): one statement each, the rows passed as arrays (`unnest`), so a batch of hundreds of
events costs a handful of round trips and SQL compiled once; the key claim is an `INSERT ... ON CONFLICT DO
NOTHING RETURNING`, atomic even with two replicas racing on the same event. SQLite (embedded, one process):
the portable equivalents, row by row, which is cheap in-process.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from handoff.models import Conversation, InboundEvent, Message

MESSAGE_COLUMNS = ("conversation_id", "ticket_id", "event_key", "client_id", "kind", "text", "intent", "confidence",
                   "media_type", "agent_id", "delivery", "created_at")


@dataclass
class ConvState:
    """A conversation's columns as ingest changes them; written back once per batch if `dirty`."""

    id: int
    sender_id: str
    channel: str | None
    paused: bool
    slots: dict[str, Any]
    last_user_at: dt.datetime | None
    updated_at: dt.datetime
    dirty: bool = False


def _conversation_rows(session: Session, senders: list[str]) -> dict[str, ConvState]:
    c = Conversation.__table__.c
    rows = session.execute(
        select(c.id, c.sender_id, c.channel, c.paused, c.slots, c.last_user_at, c.updated_at).where(
            c.sender_id.in_(senders)
        )
    ).all()
    return {row.sender_id: ConvState(row.id, row.sender_id, row.channel, bool(row.paused), dict(row.slots or {}),
                                     row.last_user_at, row.updated_at) for row in rows}


_PG_CLAIM = text(
    "INSERT INTO inbound_events (key, sender_id, type, received_at) "
    "SELECT k, s, t, :now FROM unnest(CAST(:keys AS varchar[]), CAST(:senders AS varchar[]), "
    "CAST(:types AS varchar[])) AS u(k, s, t) ON CONFLICT (key) DO NOTHING RETURNING key"
)
_PG_CONVERSATIONS = text(
    "INSERT INTO conversations (sender_id, slots, paused, created_at, updated_at) "
    "SELECT s, CAST('{}' AS json), false, :now, :now FROM unnest(CAST(:senders AS varchar[])) AS u(s) "
    "ON CONFLICT (sender_id) DO NOTHING"
)
_PG_MESSAGES = text(
    "INSERT INTO messages (conversation_id, ticket_id, event_key, client_id, kind, text, intent, confidence, "
    "media_type, agent_id, delivery, created_at) SELECT * FROM unnest("
    "CAST(:conversation_id AS int[]), CAST(:ticket_id AS int[]), CAST(:event_key AS varchar[]), "
    "CAST(:client_id AS varchar[]), CAST(:kind AS varchar[]), CAST(:text AS text[]), CAST(:intent AS varchar[]), "
    "CAST(:confidence AS float8[]), CAST(:media_type AS varchar[]), CAST(:agent_id AS int[]), "
    "CAST(:delivery AS varchar[]), CAST(:created_at AS timestamp[])) "
    "ON CONFLICT DO NOTHING RETURNING id, event_key"
)
_PG_UPDATE_CONVERSATIONS = text(
    "UPDATE conversations AS c SET channel = u.channel, paused = u.paused, slots = CAST(u.slots AS json), "
    "last_user_at = u.last_user_at, updated_at = u.updated_at FROM unnest(CAST(:id AS int[]), "
    "CAST(:channel AS varchar[]), CAST(:paused AS boolean[]), CAST(:slots AS text[]), "
    "CAST(:last_user_at AS timestamp[]), CAST(:updated_at AS timestamp[])) "
    "AS u(id, channel, paused, slots, last_user_at, updated_at) WHERE c.id = u.id"
)


def _columns(rows: list[dict[str, Any]], names: tuple[str, ...]) -> dict[str, list[Any]]:
    return {name: [row[name] for row in rows] for name in names}


class PostgresBulk:
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(self, keys: list[str], senders: list[str], types: list[str], now: dt.datetime) -> set[str]:
        """Record the keys; returns those that were new (the others are redeliveries)."""
        params = {"keys": keys, "senders": senders, "types": types, "now": now}
        return set(self.session.execute(_PG_CLAIM, params).scalars())

    def conversations(self, senders: list[str], now: dt.datetime) -> dict[str, ConvState]:
        """The batch's conversations, created if new (another replica may create one at the same time)."""
        self.session.execute(_PG_CONVERSATIONS, {"senders": senders, "now": now})
        return _conversation_rows(self.session, senders)

    def insert_messages(self, rows: list[dict[str, Any]]) -> None:
        """Insert the transcript lines, in order; sets each row's `id` (not for one already there)."""
        ids = dict(self.session.execute(_PG_MESSAGES, _columns(rows, MESSAGE_COLUMNS)).all())
        by_key = {key: msg_id for msg_id, key in ids.items()}
        for row in rows:
            row["id"] = by_key.get(row["event_key"])

    def update_conversations(self, convs: list[ConvState]) -> None:
        rows = [{**vars(conv), "slots": json.dumps(conv.slots, default=str)} for conv in convs]
        self.session.execute(
            _PG_UPDATE_CONVERSATIONS, _columns(rows, ("id", "channel", "paused", "slots", "last_user_at", "updated_at"))
        )


class GenericBulk:
    """SQLite: one writer process (the embedded mode), so a read-then-insert claim is safe."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(self, keys: list[str], senders: list[str], types: list[str], now: dt.datetime) -> set[str]:
        seen = set(self.session.execute(select(InboundEvent.key).where(InboundEvent.key.in_(keys))).scalars())
        new = [(k, s, t) for k, s, t in zip(keys, senders, types, strict=True) if k not in seen]
        if new:
            self.session.execute(insert(InboundEvent.__table__),
                                 [{"key": k, "sender_id": s, "type": t, "received_at": now} for k, s, t in new])
        return {k for k, _, _ in new}

    def conversations(self, senders: list[str], now: dt.datetime) -> dict[str, ConvState]:
        known = _conversation_rows(self.session, senders)
        new = [{"sender_id": s, "slots": {}, "paused": False, "created_at": now, "updated_at": now}
               for s in senders if s not in known]
        if new:
            self.session.execute(insert(Conversation.__table__), new)
            known = _conversation_rows(self.session, senders)
        return known

    def insert_messages(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            values = {name: row[name] for name in MESSAGE_COLUMNS}
            result = self.session.execute(sqlite_insert(Message.__table__).values(**values).on_conflict_do_nothing())
            row["id"] = result.inserted_primary_key[0] if result.rowcount else None

    def update_conversations(self, convs: list[ConvState]) -> None:
        names = ("channel", "paused", "slots", "last_user_at", "updated_at")
        table = Conversation.__table__
        stmt = update(table).where(table.c.id == bindparam("b_id")).values({n: bindparam(f"b_{n}") for n in names})
        self.session.execute(stmt, [{f"b_{n}": getattr(conv, n) for n in ("id", *names)} for conv in convs])


def bulk_for(session: Session) -> PostgresBulk | GenericBulk:
    bind = session.get_bind()
    return PostgresBulk(session) if bind.dialect.name == "postgresql" else GenericBulk(session)
