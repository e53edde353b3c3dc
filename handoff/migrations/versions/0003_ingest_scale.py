"""Indexes for the inbox's queries at millions of messages and every event of every conversation.

- tickets: by conversation (history, and the cascade when retention deletes a conversation). The active ones
  (queue, waiting line, load per agent) already have the partial unique index `uq_tickets_one_active`.
- messages: by ticket (the foreign key's SET NULL would otherwise scan every message); the investor's latest
  line per conversation (queue previews) as a partial index.
- notes: by ticket (the ticket view). conversations: by last activity (retention).

`IF NOT EXISTS`: on a large existing installation an operator may build them first without blocking writes
(`CREATE INDEX CONCURRENTLY IF NOT EXISTS ...`, docs/handoff.md "Indexes"); this migration then finds them.

Revision ID: 0003
Revises: 0002
Create Date: 2025-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

USER = sa.text("kind = 'user'")
INDEXES = [
    ("ix_tickets_conversation", "tickets", ["conversation_id"], None),
    ("ix_messages_ticket", "messages", ["ticket_id"], None),
    ("ix_messages_user_latest", "messages", ["conversation_id", "created_at", "id"], USER),
    ("ix_notes_ticket", "notes", ["ticket_id"], None),
    ("ix_conversations_updated", "conversations", ["updated_at"], None),
]


def upgrade() -> None:
    for name, table, columns, where in INDEXES:
        partial = {"postgresql_where": where, "sqlite_where": where} if where is not None else {}
        op.create_index(name, table, columns, if_not_exists=True, **partial)


def downgrade() -> None:
    for name, table, _, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
