"""Fair, bounded assignment of waiting tickets to agents.

Fair: the oldest waiting ticket goes to the available agent with the fewest active tickets, ties broken by
who was assigned least recently (round robin among equals). Bounded: nobody gets more than their capacity;
what does not fit stays in the queue until someone frees up or claims it by hand.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handoff import metrics
from handoff.models import INBOX_ROLES, Agent, Audit, Ticket, utcnow

ASSIGNMENT_LOCK = 0x68616E6461737367  # pg_advisory_xact_lock key: "handassg"


def loads(session: Session) -> dict[int, int]:
    """Active (open or pending) tickets per agent."""
    rows = session.execute(
        select(Ticket.assigned_agent_id, func.count())
        .where(Ticket.status != "resolved", Ticket.assigned_agent_id.is_not(None))
        .group_by(Ticket.assigned_agent_id)
    ).all()
    return {int(agent_id): int(count) for agent_id, count in rows}


def assign_waiting(session: Session, *, default_capacity: int) -> list[tuple[int, int]]:
    """Assign as many waiting tickets as capacity allows; returns (ticket_id, agent_id) pairs."""
    agents = session.execute(
        select(Agent).where(Agent.available.is_(True), Agent.role.in_(INBOX_ROLES))  # never the content team
    ).scalars().all()
    if not agents:
        return []
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        # one assignment at a time across replicas and ingest workers (until this transaction ends), so two
        # never both see an agent below capacity and both give them a ticket
        session.execute(select(func.pg_advisory_xact_lock(ASSIGNMENT_LOCK)))
    load = loads(session)
    waiting_q = (
        select(Ticket)
        .where(Ticket.status != "resolved", Ticket.assigned_agent_id.is_(None))
        .order_by(Ticket.opened_at, Ticket.id)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        waiting_q = waiting_q.with_for_update(skip_locked=True)  # two replicas never assign the same ticket
    assigned: list[tuple[int, int]] = []
    for ticket in session.execute(waiting_q).scalars():
        candidates = [a for a in agents if load.get(a.id, 0) < (a.capacity or default_capacity)]
        if not candidates:
            break
        agent = min(candidates, key=lambda a: (load.get(a.id, 0), a.last_assigned_at or a.created_at, a.id))
        now = utcnow()
        ticket.assigned_agent_id = agent.id
        ticket.assigned_at = now
        agent.last_assigned_at = now
        metrics.taken(ticket.opened_at, now)
        load[agent.id] = load.get(agent.id, 0) + 1
        session.add(Audit(action="ticket_assigned", ticket_id=ticket.id, detail={"to": agent.id, "by": "auto"}))
        assigned.append((ticket.id, agent.id))
    session.flush()
    return assigned
