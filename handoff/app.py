"""Sanic application factory: `create_app(settings)`; all I/O happens in the start-up listener."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Blueprint, Request, Sanic, response
from sanic.response import BaseHTTPResponse, HTTPResponse
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from common.logs import configure_logging
from handoff import analytics, health, inbox, ingest, metrics, retention, service
from handoff.auth import hash_password
from handoff.config import Settings
from handoff.db import Database
from handoff.group import Group
from handoff.live import Change, LiveHub, RedisBus
from handoff.models import Agent, Ticket
from handoff.rasa_client import RasaClient
from handoff.review import routes as review_routes
from handoff.transport import AmqpSettings, AmqpTransport, EmbeddedTransport

logger = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent


SECURITY_HEADERS = {
    # the pages load only their own script and style sheet (no inline code), talk only to this origin
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def seed_first_agent(db: Database, settings: Settings) -> str:
    """Create the first agent when there is none; returns the start-up line to print.

    A password is printed only in development (APP_ENV=development, the local `make run`). Elsewhere the first
    agent is created only from HANDOFF_SEED_PASSWORD, and is never shown; without it there is no agent until the
    operator runs `python -m handoff.agents create` (docs/handoff.md, "Running"). Replicas starting together on
    a fresh database race to seed; the loser's insert hits a unique key and it looks again."""
    try:
        return _seed(db, settings)
    except IntegrityError:
        return _seed(db, settings)


def _seed(db: Database, settings: Settings) -> str:
    inbox_line = f"Agent inbox: {settings.public_url}/"
    email = settings.seed_email.lower()
    with db.transaction() as s:
        service.seed_canned(s)
        if s.execute(select(func.count()).select_from(Agent)).scalar_one():
            return inbox_line
        if not settings.seed_password and not settings.development:
            return f"{inbox_line}  no agent yet: python -m handoff.agents create --email EMAIL --role supervisor"
        password = settings.seed_password or secrets.token_urlsafe(12)
        s.add(Agent(email=email, name="First agent", role=settings.seed_role, password_hash=hash_password(password)))
    if not settings.development:
        return f"{inbox_line}  first agent {email} created with HANDOFF_SEED_PASSWORD"
    generated = "" if settings.seed_password else "  (generated; change it after signing in)"
    return f"{inbox_line}  sign in as {email} / {password}{generated}"


bp = Blueprint("service")


def _internal(request: Request) -> bool:
    supplied = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    return bool(supplied) and hmac.compare_digest(supplied, request.app.ctx.settings.internal_token)


@bp.post("/internal/events")
async def intake(request: Request) -> HTTPResponse:
    """Embedded transport: Rasa's outbox POSTs batches here; 200 means committed."""
    if not _internal(request):
        return response.json({"error": "unauthorised"}, status=401)
    transport = request.app.ctx.transport
    if not isinstance(transport, EmbeddedTransport):
        return response.json({"error": "this instance consumes from RabbitMQ"}, status=409)
    try:
        bodies = json.loads(request.body or b"[]")
    except ValueError:
        return response.json({"error": "not JSON"}, status=400)
    if isinstance(bodies, dict):
        bodies = [bodies]
    good: list[dict[str, Any]] = []
    refused: list[str] = []
    for index, raw in enumerate(bodies if isinstance(bodies, list) else [bodies]):
        try:
            good.append(ingest.parse(raw))
        except ingest.Malformed as exc:
            refused.append(f"event {index}: {exc}")
    if refused:  # nothing applied: the outbox sends them one by one and dead-letters these, with the reason
        return response.json({"error": "malformed events", "reasons": refused[:20]}, status=422)
    try:
        await transport.deliver(good)
    except Exception:
        metrics.count("retried", len(good))  # a 500: the outbox sends them again
        raise
    return response.json({"applied": len(good), "skipped": 0})


@bp.get("/internal/queue")
async def queue_stats(request: Request) -> HTTPResponse:
    """For action_handoff: how many are waiting and whether anyone is there to answer."""
    if not _internal(request):
        return response.json({"error": "unauthorised"}, status=401)

    def counts(s: Session) -> tuple[int, int]:
        waiting = s.execute(
            select(func.count()).select_from(Ticket).where(
                Ticket.status != "resolved", Ticket.assigned_agent_id.is_(None)
            )
        ).scalar_one()
        available = s.execute(
            select(func.count()).select_from(Agent).where(Agent.available.is_(True))
        ).scalar_one()
        return int(waiting), int(available)

    waiting, available = await request.app.ctx.db.run(counts)
    return response.json({"waiting": waiting, "agents_available": available})


async def security_headers(request: Request, resp: BaseHTTPResponse) -> None:
    """On every answer, streams and errors included; nothing but the static files may be stored."""
    resp.headers.update(SECURITY_HEADERS)
    if not request.path.startswith("/static/"):
        resp.headers["Cache-Control"] = "no-store"


async def start(app: Sanic, _loop: Any) -> None:
    settings: Settings = app.ctx.settings
    configure_logging("handoff")
    app.ctx.templates = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape())
    db = app.ctx.db = Database(settings.database_url, threads=settings.db_threads, guard_loop=True)
    await asyncio.to_thread(db.open, migrate=settings.migrate_at_start)
    print(await asyncio.to_thread(seed_first_agent, db, settings), flush=True)
    app.ctx.redis = _redis(settings.redis_url) if settings.redis_url else None
    app.ctx.live = LiveHub(
        lambda changes, subs: db.run(lambda s: inbox.live_audience(s, changes, subs)),
        RedisBus(app.ctx.redis, f"{settings.queue}.live") if app.ctx.redis is not None else None,
    )
    await app.ctx.live.start()
    app.ctx.rasa = RasaClient(settings.rasa_url, settings.rasa_token, settings.rasa_timeout)
    app.ctx.group = None
    transport: AmqpTransport | EmbeddedTransport = EmbeddedTransport(settings.batch_size)
    if settings.amqp_url:
        if app.ctx.redis is not None:
            app.ctx.group = Group(app.ctx.redis, f"{settings.queue}:members")
            await app.ctx.group.start()
        transport = AmqpTransport(_amqp_settings(settings), app.ctx.group)
    app.ctx.transport = transport
    await transport.start(lambda bodies: handle_events(app, bodies))
    app.ctx.retention_task = asyncio.get_running_loop().create_task(retention_loop(app))


def _redis(url: str) -> Any:
    import redis.asyncio as aioredis

    return aioredis.from_url(url, health_check_interval=30)


def _amqp_settings(settings: Settings) -> AmqpSettings:
    return AmqpSettings(
        url=settings.amqp_url, exchange=settings.exchange, queue=settings.queue, partitions=settings.partitions,
        batch_size=settings.batch_size, batch_ms=settings.batch_ms, prefetch=settings.prefetch,
        delivery_limit=settings.delivery_limit, retry_seconds=settings.retry_seconds,
        workers=settings.ingest_workers,
    )


async def stop(app: Sanic, _loop: Any) -> None:
    app.ctx.retention_task.cancel()
    await app.ctx.transport.stop()
    if app.ctx.group is not None:
        await app.ctx.group.stop()
    await app.ctx.live.stop()
    if app.ctx.redis is not None:
        await app.ctx.redis.close()
    await app.ctx.rasa.close()
    app.ctx.db.close()


def create_app(settings: Settings | None = None, name: str = "handoff") -> Sanic:
    app = Sanic(name, configure_logging=True)
    app.config.RESPONSE_TIMEOUT = 3600  # SSE streams stay open
    app.config.REQUEST_MAX_SIZE = 5_000_000
    app.ctx.settings = settings or Settings.from_env()
    app.blueprint(inbox.bp)
    app.blueprint(analytics.bp)
    app.blueprint(review_routes.bp)
    app.blueprint(bp)
    health.register(app)  # /health, /health/ready and the metrics port (handoff/health.py)
    app.static("/static", str(HERE / "static"), name="static")
    app.register_listener(start, "before_server_start")
    app.register_listener(stop, "after_server_stop")
    app.register_middleware(security_headers, "response")
    return app


async def handle_events(app: Sanic, bodies: list[dict[str, Any]]) -> None:
    """Apply a batch of events in one transaction, then tell the open inbox tabs (every replica's) what changed."""
    settings: Settings = app.ctx.settings
    result = await app.ctx.db.run(
        lambda s: ingest.apply_batch(s, bodies, agent_capacity=settings.agent_capacity,
                                     auto_assign=settings.auto_assign)
    )
    metrics.count("applied", result.applied)
    metrics.count("duplicate", result.duplicates)
    metrics.lag(bodies if not result.duplicates else [])  # a batch holding redeliveries would measure the outage
    # a transcript line with no ticket (the bot's own conversations, nine in ten) is nobody's to see
    # (inbox.live_audience): it does not travel to the replicas at all
    app.ctx.live.publish_many(
        [_live_change(c) for c in result.changes if c.kind != "message" or c.ticket_id is not None]
    )


def _live_change(change: ingest.Change) -> Change:
    if change.kind == "message":
        return "message", {**change.data, "conversation_id": change.conversation_id}
    return "ticket", {"ticket_id": change.ticket_id, **change.data}


async def retention_loop(app: Sanic) -> None:
    """Hourly, in chunks of their own transactions (one replica at a time on PostgreSQL)."""
    settings: Settings = app.ctx.settings
    while True:
        try:
            removed = 0
            while True:
                done = await app.ctx.db.run(
                    lambda s: retention.purge(s, retention_days=settings.retention_days,
                                              event_key_days=settings.event_key_days)
                )
                removed += done.conversations
                if not done.more:
                    break
            if removed:
                logger.info("Retention: removed %d old conversations", removed)
        except Exception:
            logger.exception("Retention run failed")
        await asyncio.sleep(3600)
