"""Database engine, sessions and migrations. Nothing connects until `Database.open()` is called at start-up.

One way to open a transaction: `Database.transaction()`, a session committed on success and rolled back on
error. Async code never calls it itself: it hands the work to `await db.run(work)`, which runs
`work(session)` inside `transaction()` on a bounded thread pool, so the event loop never waits for the
database. The service's own `Database` refuses `transaction()` on the event loop's thread (`guard_loop`), so a
forgotten `await db.run(...)` fails loudly in the tests instead of stalling every agent's page in production.

Why threads and not SQLAlchemy's asyncio extension (asyncpg/aiosqlite): measured on this code's own queries,
the thread pool kept the loop's scheduling delay lower (the ORM's Python work runs beside the loop, not on it)
at equal or better throughput, needs no new dependency, and keeps the sync ORM code (lazy loads, Alembic,
the operator's CLIs) as it is; docs/handoff.md, "Design decisions", has the figures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from common.db import make_engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
T = TypeVar("T")


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations, usable without an ini file."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


class BlockingOnLoop(RuntimeError):
    """A database transaction was opened on the event loop's thread: use `await db.run(work)`."""


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class Database:
    """Owns the engine, the session factory and the thread pool of one service instance.

    `threads` bounds how many transactions run at once (the engine's pool is at least as large, so a thread
    never waits for a connection)."""

    def __init__(self, url: str, *, threads: int = 8, guard_loop: bool = False) -> None:
        self.url = url
        self.threads = threads
        self.guard_loop = guard_loop
        self.engine: Engine | None = None
        self._factory: sessionmaker | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def dialect(self) -> str:
        assert self.engine is not None, "Database.open() was not called"
        return self.engine.dialect.name

    def open(self, wait_seconds: float = 30.0, *, migrate: bool = True) -> None:
        """Connect (waiting for the database to come up) and migrate to the latest schema; with
        `migrate=False` (the migration ran as a one-off job) refuse a schema that is not the latest."""
        self.engine = make_engine(self.url, pool_size=self.threads)
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
        if migrate:
            self.migrate()
        else:
            self.require_latest()
        self._factory = sessionmaker(bind=self.engine, expire_on_commit=False, future=True)

    def migrate(self) -> None:
        """`alembic upgrade head` on our own connection (so a search_path in the URL is honoured)."""
        assert self.engine is not None
        with self.engine.begin() as conn:
            cfg = alembic_config(self.url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def require_latest(self) -> None:
        assert self.engine is not None
        head = ScriptDirectory.from_config(alembic_config(self.url)).get_current_head()
        with self.engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        if current != head:
            raise RuntimeError(f"the schema is at {current}, this code needs {head}: run the migration first")

    def session(self) -> Session:
        assert self._factory is not None, "Database.open() was not called"
        return self._factory()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session committed on success and rolled back on error (in async code: `await db.run(work)`)."""
        if self.guard_loop and _on_event_loop():
            raise BlockingOnLoop("database transaction on the event loop: use `await db.run(work)`")
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    async def run(self, work: Callable[[Session], T]) -> T:
        """Run `work(session)` in one transaction on the thread pool; its result (or exception) comes back here.

        Objects returned are detached with their loaded attributes (expire_on_commit=False)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="db")
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, work)

    def _run(self, work: Callable[[Session], T]) -> T:
        with self.transaction() as session:
            return work(session)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self.engine is not None:
            self.engine.dispose()
