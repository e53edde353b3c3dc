"""Retention: transcripts older than HANDOFF_RETENTION_DAYS are deleted, with their tickets and notes.

A conversation is removed only when it has no unresolved ticket and nothing happened in it for the whole
retention period. The audit trail is kept (it names tickets by id, never quotes the investor).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from handoff.models import Audit, Conversation, InboundEvent, LoginFailure, Ticket, WebSession, utcnow


def purge(session: Session, *, retention_days: int) -> int:
    """Delete expired transcripts and housekeeping rows; returns the number of conversations removed."""
    now = utcnow()
    cutoff = now - dt.timedelta(days=retention_days)
    active = select(Ticket.conversation_id).where(Ticket.status != "resolved")
    old = session.execute(
        select(Conversation.id).where(Conversation.updated_at < cutoff, Conversation.id.not_in(active))
    ).scalars().all()
    if old:
        session.execute(delete(Conversation).where(Conversation.id.in_(old)))  # messages/tickets/notes cascade
        session.add(Audit(action="retention_purge", detail={"conversations": len(old), "days": retention_days}))
    session.execute(delete(InboundEvent).where(InboundEvent.received_at < cutoff))
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - dt.timedelta(days=1)))
    return len(old)
