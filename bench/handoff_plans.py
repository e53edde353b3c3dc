"""Query plans of the inbox's queries on PostgreSQL at a fund house's size (docs/handoff.md, "Indexes").

Creates a scratch schema at the latest migration, fills it with generated rows (BENCH_PLAN_CONVERSATIONS
conversations, default 300000, ten transcript lines each; a tenth handed over, of which 400 still active, half
of them assigned; notes; 20 agents), runs EXPLAIN (ANALYZE, BUFFERS) on the exact SQL the service runs for the
queue, the ticket view and the transcript (and assignment and retention, whose cascading delete is rolled
back), prints each plan, drops the schema.
Last line: JSON with each query's execution time and whether it used only index scans.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.plans_support import AGENTS, conversations, scratch_database, transcripts  # noqa: E402
from common.config import env_int  # noqa: E402

FILL = [
    AGENTS,
    conversations("now() - (g % 90) * interval '1 day'", "now() - (g % 90) * interval '1 day'"),
    transcripts("'line ' || s || ' of ' || c.sender_id", "'check_nav'"),
    "INSERT INTO tickets (conversation_id, status, reason, opened_at, assigned_agent_id, resolved_at) "
    "SELECT c.id, CASE WHEN c.id % 10 = 0 AND c.id <= 4000 THEN 'open' ELSE 'resolved' END, 'asked_for_human', "
    "c.created_at, CASE WHEN c.id % 20 = 0 THEN 1 + c.id % 20 END, CASE WHEN c.id > 4000 THEN c.created_at END "
    "FROM conversations c WHERE c.id % 10 = 0",
    "UPDATE messages m SET ticket_id = t.id FROM tickets t WHERE m.conversation_id = t.conversation_id",
    "INSERT INTO notes (ticket_id, agent_id, body, created_at) SELECT t.id, 1, 'checked with the RTA', now() "
    "FROM tickets t WHERE t.id % 3 = 0",
    "INSERT INTO inbound_events (key, sender_id, type, received_at) SELECT md5(g::text), 'x', 'user', "
    "now() - (g % 14) * interval '1 day' FROM generate_series(1, :n * 6) g",
]


def queries(ticket_id: int, conversation_id: int) -> dict[str, Any]:
    """The service's own statements (SQLAlchemy, compiled for PostgreSQL with the values inlined)."""
    from sqlalchemy import func, select
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.orm import joinedload

    from handoff import service
    from handoff.models import Conversation, Message, Note, Ticket

    last_id = service._last_user_message(Ticket.conversation_id).correlate(Ticket).scalar_subquery()
    statements = {
        "queue (list_tickets)": select(Ticket, Message).outerjoin(Message, Message.id == last_id)
        .where(Ticket.status != "resolved").order_by(Ticket.opened_at, Ticket.id)
        .options(joinedload(Ticket.conversation), joinedload(Ticket.agent)),
        "ticket view: preview": select(Message).where(
            Message.id == service._last_user_message(conversation_id).scalar_subquery()),
        "ticket view: notes": select(Note).where(Note.ticket_id == ticket_id).order_by(Note.id),
        "transcript": select(Message).where(Message.conversation_id == conversation_id)
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(300),
        "assignment: waiting": select(Ticket).where(Ticket.status != "resolved", Ticket.assigned_agent_id.is_(None))
        .order_by(Ticket.opened_at, Ticket.id).with_for_update(skip_locked=True),
        "assignment: load per agent": select(Ticket.assigned_agent_id, func.count())
        .where(Ticket.status != "resolved", Ticket.assigned_agent_id.is_not(None)).group_by(Ticket.assigned_agent_id),
        "retention: expired conversations": select(Conversation.id).where(
            Conversation.updated_at < func.now() - text("interval '90 days'"),
            Conversation.id.not_in(select(Ticket.conversation_id).where(Ticket.status != "resolved"))).limit(500),
    }
    dialect = postgresql.dialect()
    return {name: str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            for name, stmt in statements.items()}


def main() -> int:
    n = env_int("BENCH_PLAN_CONVERSATIONS", 300_000)
    results: dict[str, Any] = {}
    with scratch_database("bench_plans") as (db, _schema), db.engine.begin() as conn:  # type: ignore[union-attr]
        started = time.perf_counter()
        for statement in FILL:
            conn.execute(text(statement), {"n": n})
        conn.execute(text("ANALYZE"))
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608 - our tables
                  for t in ("conversations", "messages", "tickets", "notes", "inbound_events")}
        active = conn.execute(text("SELECT id, conversation_id FROM tickets WHERE status <> 'resolved' "
                                   "ORDER BY id DESC LIMIT 1")).one()
        print(f"rows: {counts} (filled in {time.perf_counter() - started:.0f} s)")
        statements = queries(active.id, active.conversation_id)
        statements["retention: delete 500 conversations (cascade), rolled back"] = (
            "DELETE FROM conversations WHERE id IN (SELECT id FROM conversations WHERE id > 5000 "
            "ORDER BY id LIMIT 500)")
        for name, sql in statements.items():
            savepoint = conn.begin_nested()
            plan = [row[0] for row in conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {sql}"))]
            savepoint.rollback()
            print(f"\n-- {name}\n{sql}\n" + "\n".join(plan))
            total = next((line for line in plan if line.startswith("Execution Time")), "")
            results[name] = {"execution_ms": float(total.split(":")[1].split()[0]) if total else None,
                             "seq_scan": any("Seq Scan" in line for line in plan)}
    print(json.dumps({"bench": "handoff_query_plans", "rows": counts, "queries": results}))
    return 0

if __name__ == "__main__":
    sys.exit(main())
