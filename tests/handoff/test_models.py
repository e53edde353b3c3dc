"""The schema on PostgreSQL: migrations match the models, and the audit trail is append-only."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, InternalError

from handoff.db import Database
from handoff.models import Agent, Audit, Base, Conversation, Ticket


def test_migrations_create_exactly_the_models(db: Database) -> None:
    assert db.engine is not None
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_migrating_twice_is_a_no_op(db: Database) -> None:
    db.migrate()
    with db.transaction() as s:
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0004"


def test_audit_is_append_only_in_the_orm_and_in_sql(db: Database) -> None:
    with db.transaction() as s:
        s.add(Audit(action="login", detail={}))
    with pytest.raises(PermissionError):
        with db.transaction() as s:
            row = s.query(Audit).one()
            row.action = "tampered"
    with pytest.raises(InternalError, match="append-only"):
        with db.transaction() as s:
            s.execute(text("DELETE FROM audit"))
    with db.transaction() as s:
        assert s.query(Audit).one().action == "login"


def test_one_unresolved_ticket_per_conversation(db: Database) -> None:
    with db.transaction() as s:
        conv = Conversation(sender_id="919800000001", slots={})
        s.add(conv)
        s.flush()
        s.add(Ticket(conversation_id=conv.id, status="resolved", reason="complaint"))
        s.add(Ticket(conversation_id=conv.id, status="open", reason="asked_for_human"))
        conv_id = conv.id
    with pytest.raises(IntegrityError):
        with db.transaction() as s:
            s.add(Ticket(conversation_id=conv_id, status="pending", reason="unknown"))


def test_agent_email_is_unique(db: Database) -> None:
    with db.transaction() as s:
        s.add(Agent(email="a@example.com", name="A", role="agent", password_hash="x"))
    with pytest.raises(IntegrityError):
        with db.transaction() as s:
            s.add(Agent(email="a@example.com", name="B", role="agent", password_hash="y"))


def test_a_replica_that_does_not_migrate_refuses_an_old_schema(db: Database) -> None:
    """HANDOFF_MIGRATE_AT_START=false (the migration runs as a one-off job): start only on the latest schema."""
    current = Database(db.url)
    current.open(migrate=False)  # `db` migrated it: fine
    current.close()
    with db.transaction() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    behind = Database(db.url)
    with pytest.raises(RuntimeError, match="schema is at 0002, this code needs 0004"):
        behind.open(migrate=False)
    behind.close()
