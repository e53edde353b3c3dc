"""Ratings (investors' 1..5 scores after a conversation) and the content team's review queue.

- ratings: one row per rating event (`event_key` makes redelivery a no-op); the analytics reads them.
- review_labels: what a reviewer decided for a group of similar messages (intent, FAQ topic, out_of_scope,
  ignore, or a proposed new FAQ topic awaiting a supervisor), keyed by the group's normalised text.
- message_flags: an agent's "the bot should have understood this" on one investor message.
- indexes for the Analytics page's date ranges (docs/analytics.md shows the plans): investor lines by time,
  covering what the daily figures read (index-only on PostgreSQL); tickets by opening time; ratings by ticket
  (the response rate, and the SET NULL when retention deletes a ticket).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

USER = sa.text("kind = 'user'")


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "conversation_id", sa.Integer, sa.ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("ticket_id", sa.Integer, sa.ForeignKey("tickets.id", ondelete="SET NULL"), nullable=True),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("event_key", sa.String(64), nullable=True, unique=True),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_ratings_score"),
    )
    op.create_index("ix_ratings_created", "ratings", ["created_at"])
    op.create_index("ix_ratings_ticket", "ratings", ["ticket_id"])
    op.create_index("ix_messages_user_created", "messages", ["created_at"],
                    postgresql_include=["conversation_id", "ticket_id", "intent"],
                    postgresql_where=USER, sqlite_where=USER)
    op.create_index("ix_tickets_opened", "tickets", ["opened_at"])
    op.create_table(
        "review_labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("group_key", sa.String(255), nullable=False, unique=True),
        sa.Column("label", sa.String(120), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("proposed_answer", sa.Text, nullable=True),
        sa.Column("examples", sa.JSON, nullable=False),
        sa.Column("message_ids", sa.JSON, nullable=False),
        sa.Column("labelled_by", sa.Integer, sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("labelled_at", sa.DateTime, nullable=False),
        sa.Column("decided_by", sa.Integer, sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("decided_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_review_labels_status", "review_labels", ["status"])
    op.create_table(
        "message_flags",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("message_id", sa.Integer, sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_index("uq_message_flags_message_agent", "message_flags", ["message_id", "agent_id"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_message_flags_message_agent", table_name="message_flags")
    op.drop_table("message_flags")
    op.drop_index("ix_review_labels_status", table_name="review_labels")
    op.drop_table("review_labels")
    op.drop_index("ix_tickets_opened", table_name="tickets")
    op.drop_index("ix_messages_user_created", table_name="messages")
    op.drop_index("ix_ratings_ticket", table_name="ratings")
    op.drop_index("ix_ratings_created", table_name="ratings")
    op.drop_table("ratings")
