"""Engine creation and the bridge from Sanic's event loop to synchronous SQLAlchemy sessions.

The stand-in uses SQLAlchemy's synchronous API in a worker thread (`run_db`) rather than an async driver: it keeps
one code path for SQLite and PostgreSQL with drivers already installed, and the event loop stays free for
injected latency and concurrent requests.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL and a busy timeout so threads and a second reader do not trip."""
    if url.startswith("sqlite"):
        # SQLite stores Numeric as REAL; values here are seeded with at most 4 decimals, so the warning is noise.
        warnings.filterwarnings("ignore", message=".*support Decimal objects natively.*")
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, future=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return create_engine(url, pool_pre_ping=True, pool_size=10, future=True)


async def run_db(factory: sessionmaker, work: Callable[[Session], T]) -> T:
    """Run `work(session)` in a thread inside one transaction; commit on success, roll back on error."""

    def _run() -> T:
        with factory() as session, session.begin():
            return work(session)

    return await asyncio.to_thread(_run)
