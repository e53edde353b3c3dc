"""What agents do to tickets, as plain functions on a session: claim, assign, reply, close, notes, views.

The web routes (handoff/inbox.py) call these; tests and the benchmark can call them directly. Every action
writes an audit row in the same transaction as its effect.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from common.pii import mask_phone, mask_text
from handoff import metrics
from handoff.assignment import loads
from handoff.ingest import identity
from handoff.models import INBOX_ROLES, Agent, Audit, CannedResponse, Conversation, Message, Note, Ticket, utcnow

DEFAULT_CANNED = {
    "Greeting": "Hello, I'm from the investor support team. I've read your conversation with our assistant; "
    "how can I help?",
    "Checking": "Thanks, I'm checking this for you now. It may take a few minutes.",
    "Redemption timeline": "Redemption proceeds are credited to your registered bank account within 3 working "
    "days of the request being processed.",
    "Closing": "Is there anything else I can help you with? If not, I'll hand you back to the assistant.",
}


class Forbidden(Exception):
    pass


class Conflict(Exception):
    pass


def seed_canned(session: Session) -> None:
    if session.execute(select(func.count()).select_from(CannedResponse)).scalar_one() == 0:
        for title, body in DEFAULT_CANNED.items():
            session.add(CannedResponse(title=title, body=body))


def wait_seconds(ticket: Ticket, now: dt.datetime) -> float:
    end = ticket.resolved_at or ticket.first_response_at or now
    return max(0.0, (end - ticket.opened_at).total_seconds())


def window(conv: Conversation, window_hours: float, now: dt.datetime) -> dict[str, Any]:
    """WhatsApp's customer-service window: free text only within N hours of the investor's last message."""
    if conv.last_user_at is None:
        return {"open": False, "closes_at": None, "seconds_left": 0}
    closes = conv.last_user_at + dt.timedelta(hours=window_hours)
    left = (closes - now).total_seconds()
    return {"open": left > 0, "closes_at": closes.isoformat() + "Z", "seconds_left": max(0, int(left))}


def _last_user_message(conversation_id: Any) -> Any:
    """The investor's latest line (the list preview); index ix_messages_user_latest."""
    return (
        select(Message.id)
        .where(Message.conversation_id == conversation_id, Message.kind == "user")
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )


def _summary(ticket: Ticket, last: Message | None, now: dt.datetime) -> dict[str, Any]:
    conv = ticket.conversation
    return {
        "id": ticket.id,
        "status": ticket.status,
        "reason": ticket.reason,
        "investor": mask_phone(conv.sender_id),
        "assigned_agent_id": ticket.assigned_agent_id,
        "assigned_agent": ticket.agent.name if ticket.agent else None,
        "opened_at": ticket.opened_at.isoformat() + "Z",
        "wait_seconds": int(wait_seconds(ticket, now)),
        "preview": mask_text(last.text or "")[:120] if last else "",
    }


def ticket_summary(session: Session, ticket: Ticket, now: dt.datetime) -> dict[str, Any]:
    last_id = _last_user_message(ticket.conversation_id).scalar_subquery()
    last = session.execute(select(Message).where(Message.id == last_id)).scalar_one_or_none()
    return _summary(ticket, last, now)


def list_tickets(session: Session, agent: Agent) -> dict[str, Any]:
    """The queue (unassigned), the agent's own tickets, and for supervisors everything active.

    One query for all of them (tickets, conversations, agents and each preview), not one per ticket."""
    now = utcnow()
    last_id = _last_user_message(Ticket.conversation_id).correlate(Ticket).scalar_subquery()
    rows = session.execute(
        select(Ticket, Message)
        .outerjoin(Message, Message.id == last_id)
        .where(Ticket.status != "resolved")
        .order_by(Ticket.opened_at, Ticket.id)
        .options(joinedload(Ticket.conversation), joinedload(Ticket.agent))
    ).all()
    active = [(t, _summary(t, last, now)) for t, last in rows]
    queue = [summary for t, summary in active if t.assigned_agent_id is None]
    mine = [summary for t, summary in active if t.assigned_agent_id == agent.id]
    others = (
        [summary for t, summary in active if t.assigned_agent_id not in (None, agent.id)]
        if agent.role == "supervisor"
        else []
    )
    return {"queue": queue, "mine": mine, "others": others}


def ticket_for(session: Session, ticket_id: int, agent: Agent, *, write: bool) -> Ticket:
    if agent.role not in INBOX_ROLES:  # a content reviewer reads the Review page, never a ticket
        raise Forbidden("tickets are for agents and supervisors")
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise LookupError("no such ticket")
    if agent.role != "supervisor" and ticket.assigned_agent_id not in (None, agent.id):
        raise Forbidden("this ticket belongs to another agent")
    if write and agent.role != "supervisor" and ticket.assigned_agent_id != agent.id:
        raise Forbidden("take the ticket first")
    return ticket


def ticket_view(session: Session, ticket: Ticket, agent: Agent, *, window_hours: float) -> dict[str, Any]:
    """Everything the conversation pane shows; records that `agent` saw it."""
    now = utcnow()
    conv = ticket.conversation
    msgs = session.execute(
        select(Message)
        .where(Message.conversation_id == conv.id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(300)
    ).scalars().all()
    notes = session.execute(select(Note).where(Note.ticket_id == ticket.id).order_by(Note.id)).scalars().all()
    names = {a.id: a.name for a in session.execute(select(Agent)).scalars()}
    session.add(Audit(action="ticket_viewed", agent_id=agent.id, ticket_id=ticket.id, detail={}))
    return {
        "ticket": ticket_summary(session, ticket, now),
        "identity": identity(conv),
        "channel": conv.channel,
        "window": window(conv, window_hours, now),
        "messages": [
            {
                "id": m.id,
                "kind": m.kind,
                "text": mask_text(m.text or ""),
                "intent": m.intent,
                "confidence": m.confidence,
                "media_type": m.media_type,
                "delivery": m.delivery,
                "agent": names.get(m.agent_id) if m.agent_id else None,
                "at": m.created_at.isoformat() + "Z",
            }
            for m in reversed(msgs)
        ],
        "notes": [
            {"id": n.id, "agent": names.get(n.agent_id), "body": n.body, "at": n.created_at.isoformat() + "Z"}
            for n in notes
        ],
    }


def claim(session: Session, ticket: Ticket, agent: Agent, *, default_capacity: int) -> None:
    if ticket.status == "resolved":
        raise Conflict("ticket already resolved")
    if ticket.assigned_agent_id == agent.id:
        return
    if ticket.assigned_agent_id is not None and agent.role != "supervisor":
        raise Conflict("someone else took it")
    if loads(session).get(agent.id, 0) >= (agent.capacity or default_capacity):
        raise Conflict("you are at capacity; close a ticket first")
    first_time = ticket.assigned_at is None
    ticket.assigned_agent_id = agent.id
    ticket.assigned_at = utcnow()
    agent.last_assigned_at = ticket.assigned_at
    if first_time:
        metrics.taken(ticket.opened_at, ticket.assigned_at)
    session.add(Audit(action="ticket_claimed", agent_id=agent.id, ticket_id=ticket.id, detail={}))


def reassign(session: Session, ticket: Ticket, supervisor: Agent, to_agent_id: int | None) -> None:
    if supervisor.role != "supervisor":
        raise Forbidden("only supervisors reassign")
    target = session.get(Agent, to_agent_id) if to_agent_id is not None else None
    if to_agent_id is not None and (target is None or target.role not in INBOX_ROLES):
        raise LookupError("no such agent")  # a content reviewer never holds tickets
    previous = ticket.assigned_agent_id
    ticket.assigned_agent_id = to_agent_id
    ticket.assigned_at = utcnow() if to_agent_id else None
    session.add(
        Audit(action="ticket_reassigned", agent_id=supervisor.id, ticket_id=ticket.id,
              detail={"from": previous, "to": to_agent_id})
    )


def set_status(session: Session, ticket: Ticket, agent: Agent, status: str) -> None:
    if status not in ("open", "pending"):
        raise Conflict("use close to resolve a ticket")
    if ticket.status == "resolved":
        raise Conflict("ticket already resolved")
    ticket.status = status
    session.add(Audit(action="status_changed", agent_id=agent.id, ticket_id=ticket.id, detail={"status": status}))


def add_note(session: Session, ticket: Ticket, agent: Agent, body: str) -> Note:
    note = Note(ticket_id=ticket.id, agent_id=agent.id, body=body.strip()[:4000])
    session.add(note)
    session.add(Audit(action="note_added", agent_id=agent.id, ticket_id=ticket.id, detail={}))
    session.flush()
    return note


def agents_overview(session: Session, default_capacity: int) -> list[dict[str, Any]]:
    load = loads(session)
    return [
        {
            "id": a.id,
            "name": a.name,
            "role": a.role,
            "available": a.available,
            "load": load.get(a.id, 0),
            "capacity": a.capacity or default_capacity,
        }
        for a in session.execute(select(Agent).order_by(Agent.name)).scalars()
    ]
