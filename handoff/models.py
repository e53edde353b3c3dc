"""SQLAlchemy models: agents, conversations, tickets, messages, notes and the append-only audit trail.

The schema is owned by Alembic (handoff/migrations); these classes describe it for the ORM and must match
the latest revision (tests/handoff/test_models.py compares them).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    event,
    text,
)
from sqlalchemy.orm import Session, declarative_base, relationship

Base: Any = declarative_base()

ROLES = ("agent", "supervisor", "content")  # content: the review queue only (handoff/review/), no tickets
INBOX_ROLES = ("agent", "supervisor")  # who sees tickets and transcripts, and may be assigned them
REVIEW_ROLES = ("content", "supervisor")  # who labels the review queue (supervisors also approve FAQ topics)
REVIEW_STATUSES = ("labelled", "proposed", "approved", "rejected")
STATUSES = ("open", "pending", "resolved")
REASONS = ("asked_for_human", "repeated_fallback", "account_api_down", "complaint", "unknown")


def utcnow() -> dt.datetime:
    """Naive UTC, so SQLite and PostgreSQL compare timestamps the same way."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Agent(Base):
    __tablename__ = "agents"
    id = Column(Integer, primary_key=True)
    email = Column(String(254), nullable=False, unique=True)
    name = Column(String(120), nullable=False)
    role = Column(String(20), nullable=False, default="agent")
    password_hash = Column(String(255), nullable=False)
    capacity = Column(Integer, nullable=True)  # None = the service-wide HANDOFF_AGENT_CAPACITY
    available = Column(Boolean, nullable=False, default=False)
    last_assigned_at = Column(DateTime, nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)


class Conversation(Base):
    """One investor's thread (Rasa sender_id = WhatsApp wa_id); lives across tickets."""

    __tablename__ = "conversations"
    id = Column(Integer, primary_key=True)
    sender_id = Column(String(64), nullable=False, unique=True)
    channel = Column(String(40), nullable=True)
    paused = Column(Boolean, nullable=False, default=False)
    slots = Column(JSON, nullable=False, default=dict)
    last_user_at = Column(DateTime, nullable=True)  # opens WhatsApp's 24-hour customer-service window
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow)
    tickets = relationship("Ticket", back_populates="conversation", order_by="Ticket.id")
    __table_args__ = (Index("ix_conversations_updated", "updated_at"),)  # retention


class Ticket(Base):
    """A handoff: opened by the bot pausing the conversation, resolved when an agent closes it."""

    __tablename__ = "tickets"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    status = Column(String(20), nullable=False, default="open")
    reason = Column(String(40), nullable=False, default="unknown")
    assigned_agent_id = Column(Integer, ForeignKey("agents.id"), nullable=True)
    opened_at = Column(DateTime, nullable=False, default=utcnow)
    assigned_at = Column(DateTime, nullable=True)
    first_response_at = Column(DateTime, nullable=True)
    resolved_at = Column(DateTime, nullable=True)
    rating = Column(Integer, nullable=True)
    conversation = relationship("Conversation", back_populates="tickets")
    agent = relationship("Agent")
    __table_args__ = (
        Index("ix_tickets_status", "status"),
        Index("ix_tickets_agent_status", "assigned_agent_id", "status"),
        # at most one unresolved ticket per conversation, enforced by the database for every replica; also
        # how the queue, the waiting line and the agents' loads find the few active of millions of tickets
        Index(
            "uq_tickets_one_active",
            "conversation_id",
            unique=True,
            postgresql_where=text("status <> 'resolved'"),
            sqlite_where=text("status <> 'resolved'"),
        ),
        Index("ix_tickets_conversation", "conversation_id"),  # a conversation's tickets; retention's cascade
        Index("ix_tickets_opened", "opened_at"),  # the Analytics page's date ranges
    )


USER_LINES = text("kind = 'user'")  # a module constant: inside Message, `text` is the column


class Message(Base):
    """A transcript line: investor, bot or agent turn, or a system note such as "bot paused"."""

    __tablename__ = "messages"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="SET NULL"), nullable=True)
    event_key = Column(String(64), nullable=True, unique=True)
    client_id = Column(String(64), nullable=True, unique=True)  # agent replies: our id, echoed back by Rasa
    kind = Column(String(10), nullable=False)  # user | bot | agent | system
    text = Column(Text, nullable=True)
    intent = Column(String(120), nullable=True)
    confidence = Column(Float, nullable=True)
    media_type = Column(String(40), nullable=True)
    agent_id = Column(Integer, ForeignKey("agents.id"), nullable=True)
    delivery = Column(String(20), nullable=True)  # agent replies: sending | sent | failed
    created_at = Column(DateTime, nullable=False, default=utcnow)
    __table_args__ = (
        Index("ix_messages_conversation_created", "conversation_id", "created_at"),  # the transcript
        Index("ix_messages_ticket", "ticket_id"),  # a ticket's lines; SET NULL when a ticket is deleted
        # the investor's latest line per conversation (the queue's previews)
        Index(
            "ix_messages_user_latest",
            "conversation_id",
            "created_at",
            "id",
            postgresql_where=USER_LINES,
            sqlite_where=USER_LINES,
        ),
        # investor lines by time, covering what the Analytics page's daily figures read (docs/analytics.md)
        Index(
            "ix_messages_user_created",
            "created_at",
            postgresql_include=["conversation_id", "ticket_id", "intent"],
            postgresql_where=USER_LINES,
            sqlite_where=USER_LINES,
        ),
    )


class Note(Base):
    """A private note on a ticket: seen by agents, never sent to the investor."""

    __tablename__ = "notes"
    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False)
    agent_id = Column(Integer, ForeignKey("agents.id"), nullable=False)
    body = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    __table_args__ = (Index("ix_notes_ticket", "ticket_id"),)


class Audit(Base):
    """Who saw and did what. Append-only: the ORM refuses updates and deletes, PostgreSQL a trigger."""

    __tablename__ = "audit"
    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False, default=utcnow)
    agent_id = Column(Integer, ForeignKey("agents.id"), nullable=True)  # None = the system
    action = Column(String(40), nullable=False)
    ticket_id = Column(Integer, nullable=True)
    detail = Column(JSON, nullable=False, default=dict)
    __table_args__ = (Index("ix_audit_ticket", "ticket_id"),)


class InboundEvent(Base):
    """Every Rasa event applied, by key: the unique constraint makes redelivery a no-op."""

    __tablename__ = "inbound_events"
    key = Column(String(64), primary_key=True)
    sender_id = Column(String(64), nullable=False)
    type = Column(String(40), nullable=False)
    received_at = Column(DateTime, nullable=False, default=utcnow)
    __table_args__ = (Index("ix_inbound_events_received", "received_at"),)


class WebSession(Base):
    """A signed-in browser: only the SHA-256 of the cookie token is stored."""

    __tablename__ = "web_sessions"
    token_hash = Column(String(64), primary_key=True)
    agent_id = Column(Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    expires_at = Column(DateTime, nullable=False)


class LoginFailure(Base):
    """Bad sign-ins, one row per key (account, address, account+address), counted in a sliding window."""

    __tablename__ = "login_failures"
    id = Column(Integer, primary_key=True)
    key = Column(String(300), nullable=False)
    at = Column(DateTime, nullable=False, default=utcnow)
    __table_args__ = (Index("ix_login_failures_key_at", "key", "at"),)


class KnownAddress(Base):
    """An address an agent signed in from: exempt from the per-account sign-in backoff strangers can raise."""

    __tablename__ = "agent_known_addresses"
    agent_id = Column(Integer, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True)
    address = Column(String(64), primary_key=True)  # IPv4, or the /64 of an IPv6 address (handoff/auth.py)
    last_login_at = Column(DateTime, nullable=False, default=utcnow)


class CannedResponse(Base):
    __tablename__ = "canned_responses"
    id = Column(Integer, primary_key=True)
    title = Column(String(80), nullable=False, unique=True)
    body = Column(Text, nullable=False)


class Rating(Base):
    """An investor's 1..5 score after a conversation (filled by the ingest; read by the analytics)."""

    __tablename__ = "ratings"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="SET NULL"), nullable=True)
    score = Column(Integer, nullable=False)
    comment = Column(Text, nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    event_key = Column(String(64), nullable=True, unique=True)
    __table_args__ = (
        CheckConstraint("score BETWEEN 1 AND 5", name="ck_ratings_score"),
        Index("ix_ratings_created", "created_at"),
        Index("ix_ratings_ticket", "ticket_id"),  # the response rate; SET NULL when retention deletes a ticket
    )


class ReviewLabel(Base):
    """The content team's decision on a group of similar investor messages (handoff/review/).

    `label` is an intent, `faq/<topic>`, `out_of_scope_<kind>` or `ignore`; a proposed new FAQ topic waits
    (`status` proposed) for a supervisor. `examples` are the group's texts, already masked: training data is
    exported from them, never from the raw transcript."""

    __tablename__ = "review_labels"
    id = Column(Integer, primary_key=True)
    group_key = Column(String(255), nullable=False, unique=True)
    label = Column(String(120), nullable=False)
    status = Column(String(20), nullable=False, default="labelled")
    proposed_answer = Column(Text, nullable=True)
    examples = Column(JSON, nullable=False, default=list)
    message_ids = Column(JSON, nullable=False, default=list)
    labelled_by = Column(Integer, ForeignKey("agents.id"), nullable=True)
    labelled_at = Column(DateTime, nullable=False, default=utcnow)
    decided_by = Column(Integer, ForeignKey("agents.id"), nullable=True)
    decided_at = Column(DateTime, nullable=True)
    __table_args__ = (Index("ix_review_labels_status", "status"),)


class MessageFlag(Base):
    """An agent's "the bot should have understood this" on one investor message: it joins the review queue."""

    __tablename__ = "message_flags"
    id = Column(Integer, primary_key=True)
    message_id = Column(Integer, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False)
    agent_id = Column(Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    __table_args__ = (Index("uq_message_flags_message_agent", "message_id", "agent_id", unique=True),)


@event.listens_for(Session, "before_flush")
def _audit_is_append_only(session: Session, _ctx: Any, _instances: Any) -> None:
    """Refuse to change or delete an audit row through the ORM (PostgreSQL also refuses it in SQL)."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Audit):
            raise PermissionError("the audit trail is append-only")
