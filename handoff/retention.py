"""Retention: transcripts older than HANDOFF_RETENTION_DAYS are deleted, with their tickets and notes.

A conversation is removed only when it has no unresolved ticket and nothing happened in it for the whole
retention period. The audit trail is kept (it names tickets by id, never quotes the investor). Event keys
(`inbound_events`, the redelivery check) are kept HANDOFF_EVENT_KEY_DAYS: at every event of every conversation
they are the largest table, and a redelivery older than that is no longer expected.

`purge` does one bounded chunk per transaction, so a large backlog never holds locks for long or grows one huge
transaction; the caller repeats while `more`. On PostgreSQL one replica at a time purges (an advisory lock).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from handoff.models import Audit, Conversation, InboundEvent, LoginFailure, Ticket, WebSession, utcnow

CONVERSATIONS_PER_CHUNK = 500
KEYS_PER_CHUNK = 20_000
_LOCK_ID = 0x68616E646F6666  # "handoff": pg_try_advisory_xact_lock's key for retention


@dataclass
class Purged:
    conversations: int
    event_keys: int
    more: bool


def purge(
    session: Session,
    *,
    retention_days: int,
    event_key_days: int = 14,
    conversations_per_chunk: int = CONVERSATIONS_PER_CHUNK,
    keys_per_chunk: int = KEYS_PER_CHUNK,
) -> Purged:
    """Delete one chunk of expired transcripts and event keys, and the expired housekeeping rows."""
    if session.get_bind().dialect.name == "postgresql":
        if not session.execute(select(func.pg_try_advisory_xact_lock(_LOCK_ID))).scalar():
            return Purged(0, 0, more=False)  # another replica is purging
    now = utcnow()
    cutoff = now - dt.timedelta(days=retention_days)
    active = select(Ticket.conversation_id).where(Ticket.status != "resolved")
    old = session.execute(
        select(Conversation.id)
        .where(Conversation.updated_at < cutoff, Conversation.id.not_in(active))
        .limit(conversations_per_chunk)
    ).scalars().all()
    if old:
        session.execute(delete(Conversation).where(Conversation.id.in_(old)))  # messages/tickets/notes cascade
        session.add(Audit(action="retention_purge", detail={"conversations": len(old), "days": retention_days}))
    key_cutoff = now - dt.timedelta(days=event_key_days)
    expired_keys = select(InboundEvent.key).where(InboundEvent.received_at < key_cutoff).limit(keys_per_chunk)
    keys = session.execute(
        delete(InboundEvent).where(InboundEvent.key.in_(expired_keys)).execution_options(synchronize_session=False)
    ).rowcount or 0
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - dt.timedelta(days=1)))
    return Purged(len(old), keys, more=len(old) == conversations_per_chunk or keys == keys_per_chunk)
