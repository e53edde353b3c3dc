"""The registrar's book as tables: schemes and plans with NAV history, investors, folios and what hangs off them.

Amounts are `Numeric` (rupees, 2 decimals), units 3 decimals and NAVs 4 decimals, as registrars report them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import declarative_base, relationship

Base: Any = declarative_base()  # Any: SQLAlchemy 1.4 ships no types for the declarative base

MONEY = Numeric(16, 2)
UNITS = Numeric(18, 3)
NAV = Numeric(14, 4)


class Meta(Base):
    """Key/value facts about the database itself (seed version, anchor date)."""

    __tablename__ = "meta"
    key = Column(String(64), primary_key=True)
    value = Column(String(255), nullable=False)


class Scheme(Base):
    __tablename__ = "schemes"
    id = Column(Integer, primary_key=True)
    code = Column(String(16), unique=True, nullable=False)  # AMC scheme code, e.g. "SFC"
    name = Column(String(120), nullable=False)
    category = Column(String(60), nullable=False)
    asset_class = Column(String(20), nullable=False)  # equity / debt / hybrid
    plans = relationship("Plan", back_populates="scheme")


class Plan(Base):
    """A scheme × plan (direct/regular) × option (growth/IDCW): the unit that has an ISIN and a NAV."""

    __tablename__ = "plans"
    id = Column(Integer, primary_key=True)
    scheme_id = Column(ForeignKey("schemes.id"), nullable=False)
    code = Column(String(24), unique=True, nullable=False)  # e.g. "SFC-DG"
    isin = Column(String(12), unique=True, nullable=False)
    plan = Column(String(10), nullable=False)  # direct / regular
    option = Column(String(10), nullable=False)  # growth / idcw
    name = Column(String(160), nullable=False)
    scheme = relationship("Scheme", back_populates="plans")


class NavPoint(Base):
    __tablename__ = "nav_history"
    plan_id = Column(ForeignKey("plans.id"), primary_key=True)
    nav_date = Column(Date, primary_key=True)
    nav = Column(NAV, nullable=False)


class Investor(Base):
    __tablename__ = "investors"
    id = Column(Integer, primary_key=True)
    pan = Column(String(10), unique=True, nullable=False)
    name = Column(String(80), nullable=False)
    mobile = Column(String(15), nullable=False, index=True)  # with country code, as WhatsApp sends it
    email = Column(String(120), nullable=False)
    city = Column(String(40), nullable=False)
    kyc_status = Column(String(12), nullable=False)  # verified / on_hold / rejected / registered
    kyc_remarks = Column(String(200), nullable=True)
    kyc_updated_on = Column(Date, nullable=False)
    folios = relationship("Folio", back_populates="investor")


class Folio(Base):
    __tablename__ = "folios"
    id = Column(Integer, primary_key=True)
    number = Column(String(16), unique=True, nullable=False)  # "12345678/90"
    investor_id = Column(ForeignKey("investors.id"), nullable=False, index=True)
    mobile = Column(String(15), nullable=False, index=True)  # registered mobile on this folio
    email = Column(String(120), nullable=False)
    bank_name = Column(String(60), nullable=False)
    bank_account = Column(String(20), nullable=False)
    opened_on = Column(Date, nullable=False)
    investor = relationship("Investor", back_populates="folios")


class Holding(Base):
    __tablename__ = "holdings"
    id = Column(Integer, primary_key=True)
    folio_id = Column(ForeignKey("folios.id"), nullable=False, index=True)
    plan_id = Column(ForeignKey("plans.id"), nullable=False)
    units = Column(UNITS, nullable=False)
    invested = Column(MONEY, nullable=False)
    __table_args__ = (UniqueConstraint("folio_id", "plan_id"),)


class Sip(Base):
    __tablename__ = "sips"
    id = Column(Integer, primary_key=True)
    ref = Column(String(16), unique=True, nullable=False)
    folio_id = Column(ForeignKey("folios.id"), nullable=False, index=True)
    plan_id = Column(ForeignKey("plans.id"), nullable=False)
    amount = Column(MONEY, nullable=False)
    day_of_month = Column(Integer, nullable=False)
    start_date = Column(Date, nullable=False)
    end_date = Column(Date, nullable=True)
    status = Column(String(10), nullable=False)  # active / paused / ceased
    paused_until = Column(Date, nullable=True)
    last_debit_date = Column(Date, nullable=True)
    last_debit_status = Column(String(10), nullable=True)  # success / failed
    last_debit_reason = Column(String(80), nullable=True)


class Transaction(Base):
    __tablename__ = "transactions"
    id = Column(Integer, primary_key=True)
    ref = Column(String(20), unique=True, nullable=False)
    folio_id = Column(ForeignKey("folios.id"), nullable=False)
    plan_id = Column(ForeignKey("plans.id"), nullable=False)
    kind = Column(String(16), nullable=False)  # purchase / redemption / switch_in / switch_out / sip
    trade_date = Column(Date, nullable=False)
    amount = Column(MONEY, nullable=False)
    units = Column(UNITS, nullable=False)
    nav = Column(NAV, nullable=True)
    status = Column(String(10), nullable=False)  # processed / failed
    remarks = Column(String(80), nullable=True)
    __table_args__ = (Index("ix_transactions_folio_date", "folio_id", "trade_date"),)


class Redemption(Base):
    __tablename__ = "redemptions"
    id = Column(Integer, primary_key=True)
    ref = Column(String(20), unique=True, nullable=False)
    folio_id = Column(ForeignKey("folios.id"), nullable=False, index=True)
    plan_id = Column(ForeignKey("plans.id"), nullable=False)
    amount = Column(MONEY, nullable=False)
    units = Column(UNITS, nullable=False)
    requested_on = Column(Date, nullable=False)
    expected_payout_date = Column(Date, nullable=False)
    status = Column(String(12), nullable=False)  # pending / processing / paid
    paid_on = Column(Date, nullable=True)


class StatementRequest(Base):
    __tablename__ = "statement_requests"
    id = Column(Integer, primary_key=True)
    ref = Column(String(20), unique=True, nullable=False)
    investor_id = Column(ForeignKey("investors.id"), nullable=False, index=True)
    kind = Column(String(20), nullable=False)  # cas / capital_gains / account_statement
    folio_id = Column(ForeignKey("folios.id"), nullable=True)
    period_from = Column(Date, nullable=True)
    period_to = Column(Date, nullable=True)
    delivery_email = Column(String(120), nullable=False)
    created_at = Column(DateTime, nullable=False)


class ServiceRequest(Base):
    __tablename__ = "service_requests"
    id = Column(Integer, primary_key=True)
    ref = Column(String(20), unique=True, nullable=False)
    investor_id = Column(ForeignKey("investors.id"), nullable=False, index=True)
    kind = Column(String(20), nullable=False)  # sip_cancel / sip_pause / contact_change
    target = Column(String(40), nullable=False)  # SIP ref, or contact field
    status = Column(String(12), nullable=False)  # open / completed / rejected
    details = Column(JSON, nullable=False)
    created_at = Column(DateTime, nullable=False)


class OtpChallenge(Base):
    __tablename__ = "otp_challenges"
    id = Column(String(36), primary_key=True)
    mobile = Column(String(15), nullable=False, index=True)
    code_hash = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False)
    expires_at = Column(DateTime, nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    verified = Column(Boolean, nullable=False, default=False)
    closed = Column(Boolean, nullable=False, default=False)


class OtpLock(Base):
    """Wrong codes per mobile across challenges (a new code does not reset them) and the lock they lead to."""

    __tablename__ = "otp_locks"
    mobile = Column(String(15), primary_key=True)
    failures = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime, nullable=True)


class IdempotencyRecord(Base):
    """A write's first response, replayed for any retry that carries the same Idempotency-Key."""

    __tablename__ = "idempotency_keys"
    key = Column(String(100), primary_key=True)
    route = Column(String(120), nullable=False)
    request_hash = Column(String(64), nullable=False)
    status = Column(Integer, nullable=False)
    body = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False)

