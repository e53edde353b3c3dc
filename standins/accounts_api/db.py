"""Engine creation and the bridge from Sanic's event loop to synchronous SQLAlchemy sessions.

The stand-in uses SQLAlchemy's synchronous API in a worker thread (`run_db`) rather than an async driver: it keeps
one code path for SQLite and PostgreSQL with drivers already installed, and the event loop stays free for
injected latency and concurrent requests.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from common.db import make_engine as common_make_engine

T = TypeVar("T")


def make_engine(url: str) -> Engine:
    """The shared engine factory; SQLite stores Numeric as REAL and values here have at most 4 decimals."""
    if url.startswith("sqlite"):
        warnings.filterwarnings("ignore", message=".*support Decimal objects natively.*")
    return common_make_engine(url)


async def run_db(factory: sessionmaker, work: Callable[[Session], T]) -> T:
    """Run `work(session)` in a thread inside one transaction; commit on success, roll back on error."""

    def _run() -> T:
        with factory() as session, session.begin():
            return work(session)

    return await asyncio.to_thread(_run)
