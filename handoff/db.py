"""Database engine, sessions and migrations. Nothing connects until `Database.open()` is called at start-up."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from common.db import make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations, usable without an ini file."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class Database:
    """Owns the engine and the session factory for one service instance."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine | None = None
        self._factory: sessionmaker | None = None

    def open(self, wait_seconds: float = 30.0) -> None:
        """Connect (waiting for the database to come up) and migrate to the latest schema."""
        self.engine = make_engine(self.url)
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                with self.engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.migrate()
        self._factory = sessionmaker(bind=self.engine, expire_on_commit=False, future=True)

    def migrate(self) -> None:
        """`alembic upgrade head` on our own connection (so a search_path in the URL is honoured)."""
        assert self.engine is not None
        with self.engine.begin() as conn:
            cfg = alembic_config(self.url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def session(self) -> Session:
        assert self._factory is not None, "Database.open() was not called"
        return self._factory()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
