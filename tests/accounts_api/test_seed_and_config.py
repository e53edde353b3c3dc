"""The seeded book without HTTP: deterministic, realistic, PostgreSQL-compatible; and the production guard."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from common.config import ConfigError
from standins.accounts_api import models as m
from standins.accounts_api.config import Settings
from standins.accounts_api.db import make_engine
from standins.accounts_api.seed import KNOWN_INVESTORS, seed_database

ANCHOR = dt.date(2026, 3, 16)


def digest(url: str) -> str:
    engine = make_engine(url)
    h = hashlib.sha256()
    with engine.connect() as conn:
        for table in (m.Investor, m.Folio, m.Holding, m.Sip, m.Transaction):
            for row in conn.execute(select(table.__table__).order_by(table.__table__.c.id)):
                h.update(repr(tuple(row)).encode())
    engine.dispose()
    return h.hexdigest()


def test_same_seed_same_book(tmp_path: Path) -> None:
    urls = [f"sqlite:///{tmp_path / name}" for name in ("a.sqlite", "b.sqlite")]
    for url in urls:
        engine = make_engine(url)
        assert seed_database(engine, seed=7, investors=150, nav_days=60, anchor=ANCHOR)
        assert not seed_database(engine, seed=7, investors=150, nav_days=60, anchor=ANCHOR)  # already there
        engine.dispose()
    assert digest(urls[0]) == digest(urls[1])


def test_book_is_realistic(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'book.sqlite'}")
    seed_database(engine, seed=11, investors=600, nav_days=90, anchor=ANCHOR)
    with engine.connect() as conn:
        def count(query: object) -> int:
            return int(conn.execute(query).scalar_one())  # type: ignore[call-overload]

        assert count(select(func.count()).select_from(m.Investor)) == 600
        assert count(select(func.count(func.distinct(m.Plan.plan + m.Plan.option)))) == 4
        assert {r[0] for r in conn.execute(select(m.Sip.status).distinct())} == {"active", "paused", "ceased"}
        assert {r[0] for r in conn.execute(select(m.Investor.kyc_status).distinct())} >= {"verified", "on_hold",
                                                                                        "rejected"}
        assert count(select(func.count()).select_from(m.Transaction).where(m.Transaction.status == "failed")) > 10
        assert count(select(func.count()).select_from(m.Redemption).where(m.Redemption.status == "processing")) > 5
        assert count(select(func.count(func.distinct(m.Investor.mobile)))) == 600
        pans = [r[0] for r in conn.execute(select(m.Investor.pan))]
        assert all(len(p) == 10 and p[3] == "P" and p[5:9].isdigit() for p in pans)
        # the documented investors are there with their promised shapes
        for known in KNOWN_INVESTORS:
            folios = count(select(func.count()).select_from(m.Folio).where(m.Folio.mobile == known.mobile))
            assert folios == len(known.folios)
        latest = conn.execute(select(func.max(m.NavPoint.nav_date))).scalar_one()
        assert latest < ANCHOR and latest.weekday() < 5
    engine.dispose()


def test_runs_on_postgresql(postgres_url: str) -> None:
    schema = f"accounts_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        engine = create_engine(postgres_url, connect_args={"options": f"-csearch_path={schema}"})
        seed_database(engine, seed=3, investors=80, nav_days=30, anchor=ANCHOR)
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(m.Investor)).scalar_one() == 80
        engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_otp_read_back_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("ACCOUNTS_API_EXPOSE_OTP", "true")
    monkeypatch.setenv("ACCOUNTS_API_TOKEN", "a-real-secret-token")
    with pytest.raises(RuntimeError, match="EXPOSE_OTP"):
        Settings.from_env()
    monkeypatch.setenv("ACCOUNTS_API_EXPOSE_OTP", "false")
    monkeypatch.setenv("ACCOUNTS_API_TOKEN", "dev-token")
    with pytest.raises(ConfigError):
        Settings.from_env()


def test_sqlite_engine_creates_its_folder(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'db.sqlite'}")
    with engine.connect() as conn:
        assert conn.execute(text("select 1")).scalar_one() == 1
    engine.dispose()
    assert create_engine  # imported for the PostgreSQL test
