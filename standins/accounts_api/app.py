"""The stand-in's HTTP surface: Sanic app factory, auth, fault injection, idempotent writes, routes.

Layout follows rasa-sdk's endpoint module: `create_app()` builds the app, shared state lives on `app.ctx`, the
engine is created and the book seeded in a `before_server_start` listener (nothing happens at import time).
Handlers are module-level functions, grouped by concern (door, public, reads, writes, admin); `ROUTES` is the
table of what answers where.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sanic import Request, Sanic
from sanic.response import BaseHTTPResponse, HTTPResponse
from sanic.response import json as json_response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from common.logs import CORRELATION_HEADER, configure_logging, set_correlation_id
from common.pii import mask_phone
from standins.accounts_api import models as m
from standins.accounts_api import store
from standins.accounts_api.config import Settings
from standins.accounts_api.db import make_engine, run_db
from standins.accounts_api.faults import Faults
from standins.accounts_api.seed import resolve_anchor, seed_database

logger = logging.getLogger(__name__)
OPENAPI_PATH = Path(__file__).with_name("openapi.json")


def error(status: int, code: str, message: str, **extra: Any) -> HTTPResponse:
    return json_response({"error": code, "message": message, **extra}, status=status)


def _write_route(route: str) -> Callable[..., Any]:
    """Wrap a write so it needs an Idempotency-Key and a retry with the same key replays the first answer.

    The idempotency record is stored in the same transaction as the write itself, so a write and its record
    exist together or not at all; concurrent duplicates serialise on a per-key lock (and, across replicas, on
    the table's primary key).
    """

    def decorate(work: Callable[[Request, Session], tuple[int, dict[str, Any]]]) -> Callable[..., Any]:
        async def handler(request: Request, **kwargs: Any) -> HTTPResponse:
            key = request.headers.get("idempotency-key", "").strip()
            if not key or len(key) > 100:
                return error(400, "idempotency_key_required", "writes need an Idempotency-Key header (1-100 chars)")
            digest = hashlib.sha256(request.method.encode() + request.path.encode() + (request.body or b"")).hexdigest()
            app = request.app

            def run(session: Session) -> tuple[int, str, bool]:
                record = session.get(m.IdempotencyRecord, key)
                if record is not None:
                    if record.request_hash != digest:
                        raise store.ApiError(422, "idempotency_key_reused", "this key was used for another request")
                    return record.status, record.body, True
                status, body = work(request, session, **kwargs)
                text = json.dumps(body)
                session.add(m.IdempotencyRecord(key=key, route=route, request_hash=digest, status=status, body=text,
                                                created_at=dt.datetime.utcnow()))
                return status, text, False

            lock = app.ctx.key_locks.setdefault(key, asyncio.Lock())
            try:
                async with lock:
                    try:
                        status, text, replayed = await run_db(app.ctx.sessions, run)
                    except IntegrityError:  # another request stored the same key first: replay its answer
                        status, text, replayed = await run_db(app.ctx.sessions, run)
            finally:
                if not lock.locked():  # nobody else holds it: drop it, so the table of locks stays small
                    app.ctx.key_locks.pop(key, None)
            headers = {"Idempotent-Replayed": "true"} if replayed else {}
            return HTTPResponse(text, status=status, headers=headers, content_type="application/json")

        handler.__name__ = work.__name__
        return handler

    return decorate


def create_app(settings: Settings | None = None, name: str = "accounts_api") -> Sanic:
    """Build the stand-in; `settings` default to the environment, read when the server starts."""
    app = Sanic(name)
    app.config.FALLBACK_ERROR_FORMAT = "json"
    app.ctx.settings = settings
    app.register_listener(setup, "before_server_start")
    app.register_listener(teardown, "after_server_stop")
    app.register_middleware(guard, "request")
    app.register_middleware(lose, "response")
    app.exception(store.ApiError)(api_error)
    for method, uri, handler in ROUTES:
        app.add_route(handler, uri, methods=[method])
    return app


# --- life cycle and the door every request passes --------------------------------------------------------------
async def setup(app: Sanic, _loop: Any) -> None:
    cfg = app.ctx.settings or Settings.from_env()
    app.ctx.settings = cfg
    configure_logging("accounts-api")
    app.ctx.engine = make_engine(cfg.database_url)
    anchor = resolve_anchor(cfg.anchor_date)
    wrote = await asyncio.to_thread(seed_database, app.ctx.engine, seed=cfg.seed, investors=cfg.seed_investors,
                                    nav_days=cfg.nav_history_days, anchor=anchor)
    logger.info("account book %s (anchor %s, %d investors)", "seeded" if wrote else "reused", anchor,
                cfg.seed_investors)
    app.ctx.sessions = sessionmaker(app.ctx.engine, future=True, expire_on_commit=False)
    app.ctx.faults = Faults(latency_ms=cfg.fault_latency_ms, error_rate=cfg.fault_error_rate,
                            outage=cfg.fault_outage)
    if cfg.fault_seed is not None:
        app.ctx.faults.rng.seed(cfg.fault_seed)
    app.ctx.key_locks = {}
    app.ctx.last_otp = {}


async def teardown(app: Sanic, _loop: Any) -> None:
    app.ctx.engine.dispose()


async def guard(request: Request) -> HTTPResponse | None:
    """Service token on /v1 and /admin; injected faults on /v1 only."""
    set_correlation_id(request.headers.get(CORRELATION_HEADER))  # the investor message being answered
    path = request.path
    if not (path.startswith("/v1/") or path.startswith("/admin/")):
        return None
    supplied = request.headers.get("authorization", "")
    expected = f"Bearer {request.app.ctx.settings.token}"
    if not hmac.compare_digest(supplied.encode(), expected.encode()):
        return error(401, "unauthorized", "a valid service token is required")
    if path.startswith("/admin/"):
        return None
    faults: Faults = request.app.ctx.faults
    if faults.outage:
        return error(503, "unavailable", "the account system is unavailable (injected outage)")
    await faults.delay()
    request.ctx.lose_response = False
    if faults.roll_error():
        if request.method == "POST" and faults.roll_lost_response():
            request.ctx.lose_response = True  # apply the write, then fail as if the answer was lost
            return None
        return error(503, "unavailable", "temporary failure (injected)")
    return None


async def lose(request: Request, response: BaseHTTPResponse) -> HTTPResponse | None:
    if getattr(request.ctx, "lose_response", False):
        return error(502, "bad_gateway", "the answer was lost on the way (injected after the write)")
    return None


async def api_error(_request: Request, exc: store.ApiError) -> HTTPResponse:
    return error(exc.status, exc.code, exc.message, **exc.extra)


async def db(request: Request, work: Callable[[Session], Any]) -> Any:
    return await run_db(request.app.ctx.sessions, work)


# --- public ------------------------------------------------------------------------------------------------------
async def health(_request: Request) -> HTTPResponse:
    return json_response({"status": "ok"})


async def openapi(_request: Request) -> HTTPResponse:
    return HTTPResponse(OPENAPI_PATH.read_text(), content_type="application/json")


# --- reads -------------------------------------------------------------------------------------------------------
async def by_mobile(request: Request, mobile: str) -> HTTPResponse:
    return json_response(await db(request, lambda s: store.investor_by_mobile(s, mobile)))


async def navs(request: Request) -> HTTPResponse:
    query = request.args.get("q", "")
    if not query.strip():
        return error(422, "query_required", "give a scheme name, plan code or ISIN in q")
    limit = int(request.args.get("limit", "5"))
    return json_response(await db(request, lambda s: store.search_navs(s, query, limit)))


async def plan_nav(request: Request, code: str) -> HTTPResponse:
    raw = request.args.get("date")
    day = dt.date.fromisoformat(raw) if raw else None
    return json_response(await db(request, lambda s: store.nav_on(s, code, day)))


async def portfolio(request: Request, investor_id: int) -> HTTPResponse:
    folio = request.args.get("folio")
    return json_response(await db(request, lambda s: store.portfolio(s, investor_id, folio)))


async def sips(request: Request, investor_id: int) -> HTTPResponse:
    return json_response(await db(request, lambda s: store.sips(s, investor_id)))


async def transactions(request: Request, investor_id: int) -> HTTPResponse:
    folio = request.args.get("folio")
    limit = int(request.args.get("limit", "5"))
    return json_response(await db(request, lambda s: store.transactions(s, investor_id, folio, limit)))


async def kyc(request: Request, investor_id: int) -> HTTPResponse:
    return json_response(await db(request, lambda s: store.kyc(s, investor_id)))


async def redemptions(request: Request, investor_id: int) -> HTTPResponse:
    only_open = request.args.get("status", "open") == "open"
    return json_response(await db(request, lambda s: store.redemptions(s, investor_id, only_open)))


async def service_requests(request: Request, investor_id: int) -> HTTPResponse:
    return json_response(await db(request, lambda s: store.list_service_requests(s, investor_id)))


# --- writes (all idempotent by key) ------------------------------------------------------------------------------
@_write_route("otp.issue")
def issue_otp(request: Request, session: Session) -> tuple[int, dict[str, Any]]:
    cfg: Settings = request.app.ctx.settings
    mobile = str((request.json or {}).get("mobile", ""))
    status, body, code = store.issue_otp(session, mobile, secret=cfg.token, ttl=cfg.otp_ttl_seconds)
    logger.info("OTP issued for %s", mask_phone(mobile))
    if cfg.expose_otp:
        request.app.ctx.last_otp[mobile] = {"otp_id": body["otp_id"], "code": code}
    return status, body


@_write_route("otp.verify")
def verify_otp(request: Request, session: Session, otp_id: str) -> tuple[int, dict[str, Any]]:
    cfg: Settings = request.app.ctx.settings
    code = str((request.json or {}).get("code", ""))
    return store.verify_otp(session, otp_id, code, secret=cfg.token, max_attempts=cfg.otp_max_attempts,
                            lockout=cfg.otp_lockout_seconds)


@_write_route("statements.create")
def statements(request: Request, session: Session, investor_id: int) -> tuple[int, dict[str, Any]]:
    return store.request_statement(session, investor_id, request.json or {})


@_write_route("service_requests.create")
def create_request(request: Request, session: Session, investor_id: int) -> tuple[int, dict[str, Any]]:
    return store.create_service_request(session, investor_id, request.json or {})


# --- admin (service token; for tests, benchmarks and the local demo) ---------------------------------------------
async def get_faults(request: Request) -> HTTPResponse:
    return json_response(request.app.ctx.faults.as_dict())


async def put_faults(request: Request) -> HTTPResponse:
    faults: Faults = request.app.ctx.faults
    body = request.json or {}
    try:
        if body.get("reset"):
            faults.reset()
        faults.update({k: v for k, v in body.items() if k != "reset"})
    except (TypeError, ValueError) as exc:
        return error(422, "invalid_faults", str(exc))
    return json_response(faults.as_dict())


async def last_otp(request: Request) -> HTTPResponse:
    if not request.app.ctx.settings.expose_otp:
        return error(404, "not_found", "OTP read-back is disabled (ACCOUNTS_API_EXPOSE_OTP is not true)")
    mobile = request.args.get("mobile", "")
    entry = request.app.ctx.last_otp.get(mobile)
    if entry is None:
        return error(404, "no_otp", "no OTP issued for this mobile since start-up")
    return json_response({"mobile": mobile, **entry})


async def pick_investors(request: Request) -> HTTPResponse:
    args = request.args
    result = await db(request, lambda s: store.pick_investors(
        s, kyc_status=args.get("kyc_status"), min_folios=int(args.get("min_folios", "1")),
        sip_status=args.get("sip_status"), open_redemption=args.get("open_redemption") == "true",
        limit=int(args.get("limit", "50")), offset=int(args.get("offset", "0"))))
    return json_response(result)


async def clear_locks(request: Request) -> HTTPResponse:
    """Lift OTP lockouts (one mobile with ?mobile=, or all): lets a test suite reuse the seeded investors."""
    mobile = request.args.get("mobile")

    def work(session: Session) -> int:
        query = session.query(m.OtpLock)
        if mobile:
            query = query.filter(m.OtpLock.mobile == mobile)
        return int(query.delete())

    return json_response({"cleared": await db(request, work)})


ROUTES: list[tuple[str, str, Callable[..., Any]]] = [
    ("GET", "/health", health),
    ("GET", "/openapi.json", openapi),
    ("GET", "/v1/investors/by-mobile/<mobile:str>", by_mobile),
    ("GET", "/v1/navs", navs),
    ("GET", "/v1/plans/<code:str>/nav", plan_nav),
    ("GET", "/v1/investors/<investor_id:int>/portfolio", portfolio),
    ("GET", "/v1/investors/<investor_id:int>/sips", sips),
    ("GET", "/v1/investors/<investor_id:int>/transactions", transactions),
    ("GET", "/v1/investors/<investor_id:int>/kyc", kyc),
    ("GET", "/v1/investors/<investor_id:int>/redemptions", redemptions),
    ("GET", "/v1/investors/<investor_id:int>/service-requests", service_requests),
    ("POST", "/v1/otp", issue_otp),
    ("POST", "/v1/otp/<otp_id:str>/verify", verify_otp),
    ("POST", "/v1/investors/<investor_id:int>/statements", statements),
    ("POST", "/v1/investors/<investor_id:int>/service-requests", create_request),
    ("GET", "/admin/faults", get_faults),
    ("PUT", "/admin/faults", put_faults),
    ("GET", "/admin/otp/last", last_otp),
    ("GET", "/admin/investors", pick_investors),
    ("DELETE", "/admin/otp/locks", clear_locks),
]
