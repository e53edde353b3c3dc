"""What the query-plan benchmarks (analytics_plans.py, handoff_plans.py) share: a scratch schema, common fill rows.

`scratch_database(prefix)` creates a schema of its own in the PostgreSQL of `common.infra.postgres_url()`, opens
the handoff service's `Database` on it (migrated to the latest revision, `search_path` set to that schema), and
drops the schema with everything in it when the block ends, also after an error.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import create_engine, text

from common import infra

if TYPE_CHECKING:
    from handoff.db import Database

# 20 agents, the first statement of both fills.
AGENTS = (
    "INSERT INTO agents (email, name, role, password_hash, available, created_at) SELECT 'agent' || g || "
    "'@bench.example', 'Agent ' || g, 'agent', 'x', true, now() FROM generate_series(1, 20) g"
)


def conversations(created_at: str, touched_at: str) -> str:
    """`:n` conversations (wa_ids 919000000001...); `created_at` and `touched_at` (updated, last user message):
    SQL expressions of the series number `g`."""
    return (
        "INSERT INTO conversations (sender_id, slots, paused, created_at, updated_at, last_user_at) "  # noqa: S608
        f"SELECT (919000000000 + g)::text, '{{}}', false, {created_at}, {touched_at}, {touched_at} "
        "FROM generate_series(1, :n) g"
    )


def transcripts(line: str, intent: str) -> str:
    """Ten lines a conversation, a minute apart, the investor's and the bot's in turn; `line` and `intent`
    (the investor's predicted intent): SQL expressions of the conversation `c` and the line number `s`."""
    return (
        "INSERT INTO messages (conversation_id, kind, text, intent, confidence, created_at, event_key) "  # noqa: S608
        f"SELECT c.id, CASE WHEN s % 2 = 0 THEN 'user' ELSE 'bot' END, {line}, {intent}, 0.9, "
        "c.created_at + s * interval '1 minute', md5(c.id || '-' || s) FROM conversations c "
        "CROSS JOIN generate_series(0, 9) s"
    )


def with_search_path(url: str, schema: str) -> str:
    """`url` with the libpq option that makes `schema` the only one unqualified names resolve in."""
    return f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def scratch_database(prefix: str) -> Iterator[tuple[Database, str]]:
    """(the handoff `Database`, opened and migrated in a new schema `<prefix>_<hex>`, the schema's name)."""
    from handoff.db import Database

    base = infra.postgres_url()
    infra.require_postgres(base)
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin: Any = create_engine(base, future=True)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(with_search_path(base, schema))
    try:
        db.open()
        yield db, schema
    finally:
        db.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
