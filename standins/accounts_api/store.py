"""Queries and writes of the stand-in, as synchronous functions of a Session (run in a thread by `db.run_db`).

They return plain JSON-ready dicts in the shapes the OpenAPI description documents. Full PANs, account numbers
and e-mails are returned, as a registrar's API would: masking is the caller's job (actions use common.pii).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import hmac
import re
import secrets
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from standins.accounts_api import models as m
from standins.accounts_api.seed import add_business_days


class ApiError(Exception):
    """An error with an HTTP status and a machine-readable code, rendered as {"error", "message"}."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def num(value: Decimal | float | None, places: int = 2) -> float | None:
    return None if value is None else round(float(value), places)


def book_date(session: Session) -> dt.date:
    """The stand-in's 'today' is the seeded book's anchor date, so answers agree with the seeded data."""
    value = session.execute(select(m.Meta.value).where(m.Meta.key == "anchor")).scalar_one()
    return dt.date.fromisoformat(value)


# --- investors ------------------------------------------------------------------------------------------------
def investor_by_mobile(session: Session, mobile: str) -> dict[str, Any]:
    digits = re.sub(r"\D", "", mobile)
    if len(digits) == 10:
        digits = "91" + digits
    investor = session.execute(
        select(m.Investor).join(m.Folio).where(m.Folio.mobile == digits).order_by(m.Investor.id).limit(1)
    ).scalar_one_or_none()
    if investor is None:
        raise ApiError(404, "not_registered", "no folio has this registered mobile")
    return {
        "investor_id": investor.id,
        "name": investor.name,
        "pan": investor.pan,
        "mobile": investor.mobile,
        "email": investor.email,
        "kyc_status": investor.kyc_status,
        "folios": [{"number": f.number, "opened_on": f.opened_on.isoformat()} for f in investor.folios],
    }


def get_investor(session: Session, investor_id: int) -> m.Investor:
    investor = session.get(m.Investor, investor_id)
    if investor is None:
        raise ApiError(404, "unknown_investor", "no such investor")
    return investor


def folio_ids(session: Session, investor_id: int, folio: str | None) -> list[int]:
    query = select(m.Folio.id).where(m.Folio.investor_id == investor_id)
    if folio:
        query = query.where(m.Folio.number == folio)
    ids = list(session.execute(query).scalars())
    if folio and not ids:
        raise ApiError(404, "unknown_folio", "the investor has no such folio")
    return ids


# --- NAVs -----------------------------------------------------------------------------------------------------
def latest_navs(session: Session, plan_ids: list[int] | None = None) -> dict[int, list[tuple[dt.date, Decimal]]]:
    """Latest two NAV points per plan (latest first), for value and day change."""
    ranked = select(
        m.NavPoint.plan_id,
        m.NavPoint.nav_date,
        m.NavPoint.nav,
        func.row_number().over(partition_by=m.NavPoint.plan_id, order_by=m.NavPoint.nav_date.desc()).label("rn"),
    )
    if plan_ids is not None:
        ranked = ranked.where(m.NavPoint.plan_id.in_(plan_ids))
    sub = ranked.subquery()
    rows = session.execute(select(sub.c.plan_id, sub.c.nav_date, sub.c.nav).where(sub.c.rn <= 2)
                           .order_by(sub.c.plan_id, sub.c.nav_date.desc()))
    out: dict[int, list[tuple[dt.date, Decimal]]] = {}
    for plan_id, day, nav in rows:
        out.setdefault(plan_id, []).append((day, nav))
    return out


STOPWORDS = {"fund", "funds", "mf", "mutual", "plan", "the", "of", "nav", "sahyadri", "scheme", "option", "ka", "ki",
             "kya", "hai", "what", "is", "today", "price", "aaj", "current", "latest", "for", "in", "me", "batao",
             "tell", "please", "pls", "plz", "and"}
SYNONYMS = {"elss": "tax saver", "taxsaver": "tax saver", "tax": "tax saver", "bluechip": "bluechip large cap",
            "largecap": "large cap", "midcap": "mid cap", "smallcap": "small cap", "flexicap": "flexi cap",
            "multicap": "multi cap", "nifty50": "nifty 50", "gold": "gold", "psu": "psu", "baf": "balanced advantage",
            "gilt": "gilt", "pharma": "pharma healthcare", "tech": "technology", "it": "technology",
            "infra": "infrastructure", "overnight": "overnight", "arbitrage": "arbitrage", "hybrid": "hybrid"}
CAP_WORDS = {"large", "mid", "small", "flexi", "multi", "next"}
PLAN_HINTS = {"direct": ("plan", "direct"), "dir": ("plan", "direct"), "regular": ("plan", "regular"),
              "reg": ("plan", "regular"), "growth": ("option", "growth"), "gr": ("option", "growth"),
              "idcw": ("option", "idcw"), "dividend": ("option", "idcw"), "div": ("option", "idcw")}


def _tokens(text: str) -> list[str]:
    text = text.lower().replace("&", " and ")
    words = re.findall(r"[a-z0-9]+", text)
    out: list[str] = []
    for word in words:
        out.extend(SYNONYMS.get(word, word).split())
    return out


def search_navs(session: Session, query: str, limit: int = 5) -> dict[str, Any]:
    """Fuzzy NAV look-up by scheme name, plan code or ISIN; tolerant of typos, spacing and abbreviations."""
    query = query.strip()
    plans = list(session.execute(select(m.Plan, m.Scheme).join(m.Scheme)).all())
    exact = [p for p, _ in plans if query.upper() in {p.code, p.isin}]
    hints = {PLAN_HINTS[w] for w in re.findall(r"[a-z]+", query.lower()) if w in PLAN_HINTS}
    words = [w for w in _tokens(query) if w not in STOPWORDS and w not in PLAN_HINTS]
    by_scheme: dict[int, tuple[float, m.Scheme, list[m.Plan]]] = {}
    for plan, scheme in plans:
        if exact:
            score = 1.0 if plan in exact else 0.0
        else:
            name_tokens = [w for w in _tokens(scheme.name) if w not in STOPWORDS]
            if not words:
                score = 0.0
            else:
                per_word = [max(difflib.SequenceMatcher(None, w, t).ratio() for t in name_tokens) for w in words]
                covered = sum(1 for s in per_word if s >= 0.8) / len(words)
                squash = difflib.SequenceMatcher(None, "".join(words), "".join(name_tokens)).ratio()
                score = 0.6 * (sum(s for s in per_word if s >= 0.6) / len(words)) + 0.25 * covered + 0.15 * squash
                # cap-size words tell schemes apart: "mid cap" means the mid-cap fund, not "large & mid cap"
                score -= 0.08 * sum(1 for t in name_tokens if t in CAP_WORDS and t not in words)
        entry = by_scheme.get(scheme.id)
        if entry is None:
            by_scheme[scheme.id] = (score, scheme, [plan])
        else:
            by_scheme[scheme.id] = (max(entry[0], score), scheme, entry[2] + [plan])
    ranked = sorted(by_scheme.values(), key=lambda e: (-e[0], e[1].code))[:limit]
    ranked = [e for e in ranked if e[0] >= 0.5]
    navs = latest_navs(session, [p.id for _, _, ps in ranked for p in ps])
    matches = []
    for score, scheme, scheme_plans in ranked:
        if exact:
            scheme_plans = [p for p in scheme_plans if p in exact]

        def hint_rank(p: m.Plan) -> tuple[int, int, int]:
            miss = sum(1 for kind, value in hints if getattr(p, kind) != value)
            return (miss, p.plan != "direct", p.option != "growth")

        rows = []
        for plan in sorted(scheme_plans, key=hint_rank):
            points = navs.get(plan.id, [])
            rows.append({
                "code": plan.code, "isin": plan.isin, "plan": plan.plan, "option": plan.option, "name": plan.name,
                "nav": num(points[0][1], 4) if points else None,
                "nav_date": points[0][0].isoformat() if points else None,
                "prev_nav": num(points[1][1], 4) if len(points) > 1 else None,
                "prev_date": points[1][0].isoformat() if len(points) > 1 else None,
                "matches_hints": hint_rank(plan)[0] == 0,
            })
        matches.append({"scheme_code": scheme.code, "scheme_name": scheme.name, "category": scheme.category,
                        "score": round(score, 3), "plans": rows})
    return {"query": query, "matches": matches}


def nav_on(session: Session, plan_code: str, day: dt.date | None) -> dict[str, Any]:
    plan = session.execute(select(m.Plan).where(m.Plan.code == plan_code.upper())).scalar_one_or_none()
    if plan is None:
        raise ApiError(404, "unknown_plan", "no plan with this code")
    query = select(m.NavPoint).where(m.NavPoint.plan_id == plan.id)
    if day is not None:
        query = query.where(m.NavPoint.nav_date <= day)
    point = session.execute(query.order_by(m.NavPoint.nav_date.desc()).limit(1)).scalar_one_or_none()
    if point is None:
        raise ApiError(404, "no_nav", "no NAV on or before that date")
    return {"code": plan.code, "isin": plan.isin, "name": plan.name, "nav": num(point.nav, 4),
            "nav_date": point.nav_date.isoformat()}


# --- portfolio ------------------------------------------------------------------------------------------------
def portfolio(session: Session, investor_id: int, folio: str | None) -> dict[str, Any]:
    get_investor(session, investor_id)
    ids = folio_ids(session, investor_id, folio)
    rows = session.execute(
        select(m.Folio, m.Holding, m.Plan)
        .join(m.Holding, m.Holding.folio_id == m.Folio.id)
        .join(m.Plan, m.Plan.id == m.Holding.plan_id)
        .where(m.Folio.id.in_(ids))
        .order_by(m.Folio.number, m.Plan.code)
    ).all()
    navs = latest_navs(session, list({plan.id for _, _, plan in rows}))
    folios: dict[str, dict[str, Any]] = {}
    as_of: dt.date | None = None
    for folio_row, holding, plan in rows:
        day, nav = navs[plan.id][0]
        as_of = max(as_of, day) if as_of else day
        value = holding.units * nav
        entry = folios.setdefault(folio_row.number, {"number": folio_row.number, "value": Decimal(0),
                                                     "invested": Decimal(0), "holdings": []})
        entry["value"] += value
        entry["invested"] += holding.invested
        entry["holdings"].append({
            "plan_code": plan.code, "scheme_name": plan.name, "plan": plan.plan, "option": plan.option,
            "units": num(holding.units, 3), "nav": num(nav, 4), "nav_date": day.isoformat(),
            "value": num(value), "invested": num(holding.invested),
            "gain": num(value - holding.invested),
            "gain_pct": num((value - holding.invested) / holding.invested * 100) if holding.invested else None,
        })
    total_value = sum((f["value"] for f in folios.values()), Decimal(0))
    total_invested = sum((f["invested"] for f in folios.values()), Decimal(0))
    out_folios = []
    for f in folios.values():
        out_folios.append({**f, "value": num(f["value"]), "invested": num(f["invested"]),
                           "gain": num(f["value"] - f["invested"])})
    return {
        "investor_id": investor_id,
        "as_of": as_of.isoformat() if as_of else None,
        "total_value": num(total_value),
        "total_invested": num(total_invested),
        "gain": num(total_value - total_invested),
        "gain_pct": num((total_value - total_invested) / total_invested * 100) if total_invested else None,
        "folios": out_folios,
    }


# --- SIPs -----------------------------------------------------------------------------------------------------
def _next_instalment(sip: m.Sip, today: dt.date) -> dt.date | None:
    if sip.status == "ceased":
        return None
    start = today if sip.status == "active" else max(today, sip.paused_until or today)
    year, month = start.year, start.month
    candidate = dt.date(year, month, sip.day_of_month)
    if candidate <= start:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        candidate = dt.date(year, month, sip.day_of_month)
    return candidate


def sips(session: Session, investor_id: int) -> dict[str, Any]:
    get_investor(session, investor_id)
    today = book_date(session)
    pending = {
        r.target: r.ref
        for r in session.execute(
            select(m.ServiceRequest).where(m.ServiceRequest.investor_id == investor_id,
                                           m.ServiceRequest.kind == "sip_cancel",
                                           m.ServiceRequest.status == "open")
        ).scalars()
    }
    rows = session.execute(
        select(m.Sip, m.Folio, m.Plan).join(m.Folio, m.Folio.id == m.Sip.folio_id)
        .join(m.Plan, m.Plan.id == m.Sip.plan_id).where(m.Folio.investor_id == investor_id)
        .order_by(m.Sip.status, m.Sip.ref)
    ).all()
    out = []
    for sip, folio, plan in rows:
        nxt = None if sip.ref in pending else _next_instalment(sip, today)
        out.append({
            "ref": sip.ref, "folio": folio.number, "plan_code": plan.code, "scheme_name": plan.name,
            "amount": num(sip.amount), "day_of_month": sip.day_of_month, "status": sip.status,
            "paused_until": sip.paused_until.isoformat() if sip.paused_until else None,
            "next_date": nxt.isoformat() if nxt else None,
            "last_debit": {"date": sip.last_debit_date.isoformat() if sip.last_debit_date else None,
                           "status": sip.last_debit_status, "reason": sip.last_debit_reason},
            "cancellation_request": pending.get(sip.ref),
        })
    return {"investor_id": investor_id, "sips": out}


# --- transactions, KYC, redemptions ---------------------------------------------------------------------------
def transactions(session: Session, investor_id: int, folio: str | None, limit: int) -> dict[str, Any]:
    get_investor(session, investor_id)
    ids = folio_ids(session, investor_id, folio)
    rows = session.execute(
        select(m.Transaction, m.Folio.number, m.Plan).join(m.Folio, m.Folio.id == m.Transaction.folio_id)
        .join(m.Plan, m.Plan.id == m.Transaction.plan_id).where(m.Transaction.folio_id.in_(ids))
        .order_by(m.Transaction.trade_date.desc(), m.Transaction.id.desc()).limit(max(1, min(limit, 50)))
    ).all()
    return {"investor_id": investor_id, "transactions": [
        {"ref": t.ref, "date": t.trade_date.isoformat(), "kind": t.kind, "folio": number, "plan_code": plan.code,
         "scheme_name": plan.name, "amount": num(t.amount), "units": num(t.units, 3), "nav": num(t.nav, 4),
         "status": t.status, "remarks": t.remarks}
        for t, number, plan in rows
    ]}


KYC_NEXT_STEPS = {
    "verified": "Nothing to do. Your KYC is complete with the KRA.",
    "registered": "Your KYC is under process with the KRA; it usually completes in 2-3 working days.",
    "on_hold": "Re-submit the document named above to any KRA or our branch, or do it online with Aadhaar e-KYC.",
    "rejected": "Submit fresh KYC (PAN, address proof, photo) online or at a branch; new investments wait until then.",
}


def kyc(session: Session, investor_id: int) -> dict[str, Any]:
    investor = get_investor(session, investor_id)
    return {"investor_id": investor_id, "status": investor.kyc_status, "remarks": investor.kyc_remarks,
            "updated_on": investor.kyc_updated_on.isoformat(), "kra": "CVL KRA",
            "next_steps": KYC_NEXT_STEPS.get(investor.kyc_status, "")}


def redemptions(session: Session, investor_id: int, only_open: bool) -> dict[str, Any]:
    get_investor(session, investor_id)
    query = (select(m.Redemption, m.Folio, m.Plan).join(m.Folio, m.Folio.id == m.Redemption.folio_id)
             .join(m.Plan, m.Plan.id == m.Redemption.plan_id).where(m.Folio.investor_id == investor_id))
    if only_open:
        query = query.where(m.Redemption.status.in_(["pending", "processing"]))
    rows = session.execute(query.order_by(m.Redemption.requested_on.desc()).limit(10)).all()
    return {"investor_id": investor_id, "redemptions": [
        {"ref": r.ref, "folio": folio.number, "plan_code": plan.code, "scheme_name": plan.name,
         "amount": num(r.amount), "units": num(r.units, 3), "requested_on": r.requested_on.isoformat(),
         "status": r.status, "expected_payout_date": r.expected_payout_date.isoformat(),
         "paid_on": r.paid_on.isoformat() if r.paid_on else None, "bank_name": folio.bank_name,
         "bank_account": folio.bank_account}
        for r, folio, plan in rows
    ]}


# --- writes ---------------------------------------------------------------------------------------------------
STATEMENT_KINDS = {"cas": 30, "capital_gains": 60, "account_statement": 30}  # kind -> minutes until e-mailed


def _ref(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:10].upper()


def request_statement(session: Session, investor_id: int, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    investor = get_investor(session, investor_id)
    kind = payload.get("kind")
    if kind not in STATEMENT_KINDS:
        raise ApiError(422, "invalid_kind", f"kind must be one of {sorted(STATEMENT_KINDS)}")
    folio_id = None
    if payload.get("folio"):
        folio_id = folio_ids(session, investor_id, str(payload["folio"]))[0]
    today = book_date(session)
    period_from = dt.date.fromisoformat(payload["from"]) if payload.get("from") else None
    period_to = dt.date.fromisoformat(payload["to"]) if payload.get("to") else None
    if kind == "capital_gains" and period_from is None:  # the current financial year (April-March)
        fy_start = today.year if today.month >= 4 else today.year - 1
        period_from, period_to = dt.date(fy_start, 4, 1), today
    row = m.StatementRequest(ref=_ref("ST"), investor_id=investor_id, kind=kind, folio_id=folio_id,
                             period_from=period_from, period_to=period_to, delivery_email=investor.email,
                             created_at=dt.datetime.utcnow())
    session.add(row)
    session.flush()
    return 201, {"ref": row.ref, "kind": kind, "folio": payload.get("folio"),
                 "period": {"from": period_from.isoformat() if period_from else None,
                            "to": period_to.isoformat() if period_to else None},
                 "delivery": {"channel": "email", "to": investor.email}, "eta_minutes": STATEMENT_KINDS[kind]}


def _request_view(row: m.ServiceRequest, duplicate: bool) -> dict[str, Any]:
    return {"ref": row.ref, "kind": row.kind, "target": row.target, "status": row.status, "details": row.details,
            "created_at": row.created_at.isoformat(timespec="seconds"), "duplicate": duplicate}


def create_service_request(session: Session, investor_id: int, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """SIP cancellation or contact change; an identical open request is returned instead of a second one."""
    investor = get_investor(session, investor_id)
    kind = payload.get("kind")
    today = book_date(session)
    if kind == "sip_cancel":
        sip_ref = str(payload.get("sip_ref", ""))
        sip = session.execute(
            select(m.Sip).join(m.Folio).where(m.Sip.ref == sip_ref, m.Folio.investor_id == investor_id)
        ).scalar_one_or_none()
        if sip is None:
            raise ApiError(404, "unknown_sip", "the investor has no such SIP")
        target = sip.ref
        details: dict[str, Any] = {"effective_from": add_business_days(today, 2).isoformat(),
                                   "amount": num(sip.amount)}
        if sip.status == "ceased":
            raise ApiError(409, "sip_not_active", "this SIP has already ceased")
    elif kind == "contact_change":
        field = payload.get("field")
        if field not in {"email", "mobile", "address"}:
            raise ApiError(422, "invalid_field", "field must be email, mobile or address")
        target = str(field)
        details = {"next_step": f"a secure link to enter and verify the new {field} has been sent by SMS",
                   "link_sent_to": investor.mobile}
    else:
        raise ApiError(422, "invalid_kind", "kind must be sip_cancel or contact_change")
    existing = session.execute(
        select(m.ServiceRequest).where(m.ServiceRequest.investor_id == investor_id, m.ServiceRequest.kind == kind,
                                       m.ServiceRequest.target == target, m.ServiceRequest.status == "open")
    ).scalar_one_or_none()
    if existing is not None:
        return 200, _request_view(existing, duplicate=True)
    row = m.ServiceRequest(ref=_ref("SR"), investor_id=investor_id, kind=kind, target=target, status="open",
                           details=details, created_at=dt.datetime.utcnow())
    session.add(row)
    session.flush()
    return 201, _request_view(row, duplicate=False)


def list_service_requests(session: Session, investor_id: int) -> dict[str, Any]:
    get_investor(session, investor_id)
    rows = session.execute(select(m.ServiceRequest).where(m.ServiceRequest.investor_id == investor_id)
                           .order_by(m.ServiceRequest.id)).scalars()
    return {"investor_id": investor_id, "service_requests": [_request_view(r, False) for r in rows]}


# --- OTP ------------------------------------------------------------------------------------------------------
def _hash_code(secret: str, otp_id: str, code: str) -> str:
    return hmac.new(secret.encode(), f"{otp_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _lock_row(session: Session, mobile: str) -> m.OtpLock:
    row = session.get(m.OtpLock, mobile)
    if row is None:
        row = m.OtpLock(mobile=mobile, failures=0, locked_until=None)
        session.add(row)
    return row


def _check_lock(row: m.OtpLock, now: dt.datetime) -> None:
    if row.locked_until and row.locked_until > now:
        raise ApiError(423, "locked", "too many wrong codes; try again later",
                       locked_until=row.locked_until.isoformat(timespec="seconds") + "Z",
                       retry_after=int((row.locked_until - now).total_seconds()) + 1)


def issue_otp(session: Session, mobile: str, *, secret: str, ttl: int) -> tuple[int, dict[str, Any], str]:
    """A new 6-digit code for a registered mobile; earlier open codes for it stop working."""
    investor_by_mobile(session, mobile)
    now = dt.datetime.utcnow()
    _check_lock(_lock_row(session, mobile), now)
    for old in session.execute(select(m.OtpChallenge).where(m.OtpChallenge.mobile == mobile,
                                                            m.OtpChallenge.closed.is_(False))).scalars():
        old.closed = True
    otp_id = str(uuid.uuid4())
    code = f"{secrets.randbelow(10**6):06d}"
    session.add(m.OtpChallenge(id=otp_id, mobile=mobile, code_hash=_hash_code(secret, otp_id, code), created_at=now,
                               expires_at=now + dt.timedelta(seconds=ttl), attempts=0, verified=False, closed=False))
    body = {"otp_id": otp_id, "expires_at": (now + dt.timedelta(seconds=ttl)).isoformat(timespec="seconds") + "Z",
            "ttl_seconds": ttl, "delivery": "sms", "sent_to": mobile}
    return 201, body, code


def verify_otp(session: Session, otp_id: str, code: str, *, secret: str, max_attempts: int,
               lockout: int) -> tuple[int, dict[str, Any]]:
    challenge = session.get(m.OtpChallenge, otp_id)
    if challenge is None:
        raise ApiError(404, "unknown_otp", "no such OTP challenge")
    now = dt.datetime.utcnow()
    lock = _lock_row(session, challenge.mobile)
    _check_lock(lock, now)
    if challenge.closed or challenge.expires_at <= now:
        raise ApiError(410, "otp_expired", "this code has expired or was replaced; request a new one")
    challenge.attempts += 1
    if hmac.compare_digest(challenge.code_hash, _hash_code(secret, otp_id, code.strip())):
        challenge.verified = challenge.closed = True
        lock.failures = 0
        investor = investor_by_mobile(session, challenge.mobile)
        return 200, {"verified": True, "investor_id": investor["investor_id"]}
    lock.failures = (lock.failures or 0) + 1
    left = max(max_attempts - lock.failures, 0)
    body: dict[str, Any] = {"verified": False, "attempts_left": left}
    if left == 0:
        lock.failures = 0
        lock.locked_until = now + dt.timedelta(seconds=lockout)
        challenge.closed = True
        body["locked_until"] = lock.locked_until.isoformat(timespec="seconds") + "Z"
        body["retry_after"] = lockout
    return 200, body


# --- admin helpers --------------------------------------------------------------------------------------------
def pick_investors(session: Session, *, kyc_status: str | None, min_folios: int, sip_status: str | None,
                   open_redemption: bool, limit: int, offset: int) -> dict[str, Any]:
    """Investors matching simple criteria (for tests, benchmarks and the simulator's demo picker)."""
    folio_count = (select(m.Folio.investor_id, func.count(m.Folio.id).label("n")).group_by(m.Folio.investor_id)
                   .subquery())
    query = (select(m.Investor.id, m.Investor.mobile, m.Investor.kyc_status, folio_count.c.n)
             .join(folio_count, folio_count.c.investor_id == m.Investor.id).where(folio_count.c.n >= min_folios))
    if kyc_status:
        query = query.where(m.Investor.kyc_status == kyc_status)
    if sip_status:
        query = query.where(m.Investor.id.in_(select(m.Folio.investor_id).join(m.Sip, m.Sip.folio_id == m.Folio.id)
                                              .where(m.Sip.status == sip_status)))
    if open_redemption:
        query = query.where(m.Investor.id.in_(
            select(m.Folio.investor_id).join(m.Redemption, m.Redemption.folio_id == m.Folio.id)
            .where(m.Redemption.status.in_(["pending", "processing"]))))
    rows = session.execute(query.order_by(m.Investor.id).limit(max(1, min(limit, 1000))).offset(offset)).all()
    return {"investors": [{"investor_id": i, "mobile": mobile, "kyc_status": kyc, "folios": n}
                          for i, mobile, kyc, n in rows]}
