"""Query plans of the Analytics page's queries on PostgreSQL at a fund house's size (docs/analytics.md).

Creates a scratch schema at the latest migration, fills it with generated rows (BENCH_PLAN_CONVERSATIONS
conversations, default 100000, spread over 90 days, ten transcript lines each, half of them the investor's; a
tenth handed over, with agents' times; a rating for every other ticket), then runs `analytics.figures` for the
last 7 days while recording every statement it sends, and runs EXPLAIN (ANALYZE, BUFFERS) on each, exactly as
sent (same SQL, same parameters). If the indexes the analytics asks for (docs/analytics.md) are missing from
the migrations, it prints the plans without them, creates them in the scratch schema and prints them again.
Drops the schema. Last line: JSON with each statement's execution time and whether it read only through
indexes.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.plans_support import AGENTS, conversations, scratch_database, transcripts  # noqa: E402
from common.config import env_int  # noqa: E402

FILL = [
    AGENTS,
    conversations("now() - (g % 90) * interval '1 day' - (g % 1440) * interval '1 minute'", "now()"),
    transcripts("'line ' || s", "CASE WHEN s % 2 = 1 THEN NULL WHEN (c.id + s) % 9 = 0 THEN 'nlu_fallback' "
                "WHEN (c.id + s) % 3 = 0 THEN 'faq/topic_' || (c.id % 30) ELSE 'intent_' || (c.id % 40) END"),
    "INSERT INTO tickets (conversation_id, status, reason, opened_at, assigned_agent_id, assigned_at, "
    "first_response_at, resolved_at) SELECT c.id, 'resolved', (ARRAY['asked_for_human', 'repeated_fallback', "
    "'complaint', 'account_api_down'])[1 + c.id % 4], c.created_at + interval '5 minutes', 1 + c.id % 20, "
    "c.created_at + interval '7 minutes', c.created_at + interval '9 minutes', c.created_at + interval '30 minutes' "
    "FROM conversations c WHERE (c.id / 90) % 10 = 0",  # blocks of 90 ids: every day of the 90
    "UPDATE messages m SET ticket_id = t.id FROM tickets t WHERE m.conversation_id = t.conversation_id "
    "AND m.created_at >= t.opened_at AND m.created_at <= t.resolved_at",
    "INSERT INTO messages (conversation_id, kind, text, created_at, event_key) SELECT t.conversation_id, 'bot', "
    ":question, t.resolved_at + interval '5 seconds', md5('q' || t.id) FROM tickets t",
    "INSERT INTO ratings (conversation_id, ticket_id, score, comment, created_at, event_key) SELECT "
    "t.conversation_id, t.id, 1 + t.id % 5, CASE WHEN t.id % 3 = 0 THEN 'ok' END, t.resolved_at + "
    "interval '1 minute', md5('r' || t.id) FROM tickets t WHERE t.id % 2 = 0",
]
WANTED = {  # what docs/analytics.md asks migration 0004 for
    "ix_messages_user_created": "CREATE INDEX ix_messages_user_created ON messages (created_at) "
    "INCLUDE (conversation_id, ticket_id, intent) WHERE kind = 'user'",
    "ix_tickets_opened": "CREATE INDEX ix_tickets_opened ON tickets (opened_at)",
    "ix_ratings_ticket": "CREATE INDEX ix_ratings_ticket ON ratings (ticket_id)",
}


def recorded(engine: Any) -> list[tuple[str, Any]]:
    """The statements `analytics.figures` sends for the last 7 days, with their parameters."""
    from sqlalchemy.orm import Session

    from handoff import analytics

    sent: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        with Session(engine) as session:
            analytics.figures(session, analytics.parse_range(None, None))
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    return sent


def explain(engine: Any, label: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for n, (statement, parameters) in enumerate(recorded(engine), 1):
        with engine.connect() as conn:
            raw = conn.connection.cursor()
            raw.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            plan = [row[0] for row in raw.fetchall()]
        first = " ".join(statement.split())[:110]
        print(f"\n--- {label} #{n}: {first} ...")
        print("\n".join(line if len(line) < 240 else line[:240] + " ..." for line in plan))
        ms = float(re.search(r"Execution Time: ([\d.]+)", plan[-1]).group(1))  # type: ignore[union-attr]
        seq = sorted(set(re.findall(r"Seq Scan on (\w+)", "\n".join(plan))))
        out[f"{label} #{n}"] = {"ms": ms, "seq_scans": seq}
    return out


def main() -> None:
    from handoff.ingest import RATING_TEXT

    n = env_int("BENCH_PLAN_CONVERSATIONS", 100_000)
    with scratch_database("analytics_plans") as (db, schema):
        started = time.monotonic()
        with db.engine.begin() as conn:  # type: ignore[union-attr]
            for statement in FILL:
                conn.execute(text(statement), {"n": n, "question": RATING_TEXT})
        with db.engine.connect() as conn:  # type: ignore[union-attr]
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
            present = set(conn.execute(text("SELECT indexname FROM pg_indexes WHERE schemaname = :s"),
                                       {"s": schema}).scalars())
        print(f"filled {n} conversations in {time.monotonic() - started:.0f} s; indexes: {sorted(present)}")
        results = explain(db.engine, "as migrated")
        missing = [name for name in WANTED if name not in present]
        if missing:
            with db.engine.begin() as conn:  # type: ignore[union-attr]
                for name in missing:
                    conn.execute(text(WANTED[name]))
                conn.execute(text("ANALYZE"))
            results.update(explain(db.engine, f"with {', '.join(missing)}"))
        print(json.dumps({"conversations": n, "missing_indexes": missing, "plans": results}))


if __name__ == "__main__":
    main()
