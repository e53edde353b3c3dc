"""Addresses agents signed in from, so strangers' failed sign-ins cannot hold a real agent back there.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_known_addresses",
        sa.Column("agent_id", sa.Integer, sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("address", sa.String(64), primary_key=True),
        sa.Column("last_login_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agent_known_addresses")
