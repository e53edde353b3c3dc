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
from sanic import Request, Sanic, response
from sanic.response import HTTPResponse
from sqlalchemy import func, select

from common.pii import install_log_masking
from handoff import inbox, ingest, retention, service
from handoff.auth import hash_password
from handoff.config import Settings
from handoff.db import Database
from handoff.live import LiveHub
from handoff.models import Agent, Ticket
from handoff.rasa_client import RasaClient
from handoff.transport import AmqpTransport, EmbeddedTransport

logger = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent


def seed_first_agent(db: Database, settings: Settings) -> tuple[str, str] | None:
    """Create the first agent when there is none; returns (email, password) to print once, else None."""
    with db.transaction() as s:
        service.seed_canned(s)
        if s.execute(select(func.count()).select_from(Agent)).scalar_one():
            return None
        password = settings.seed_password or secrets.token_urlsafe(12)
        s.add(
            Agent(
                email=settings.seed_email.lower(),
                name="First agent",
                role=settings.seed_role,
                password_hash=hash_password(password),
            )
        )
    return settings.seed_email.lower(), password


def create_app(settings: Settings | None = None, name: str = "handoff") -> Sanic:
    settings = settings or Settings.from_env()
    app = Sanic(name, configure_logging=True)
    app.config.RESPONSE_TIMEOUT = 3600  # SSE streams stay open
    app.config.REQUEST_MAX_SIZE = 5_000_000
    app.ctx.settings = settings
    app.blueprint(inbox.bp)
    app.static("/static", str(HERE / "static"), name="static")

    @app.before_server_start
    async def start(app: Sanic, _loop: Any) -> None:
        install_log_masking()
        app.ctx.templates = Environment(
            loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape()
        )
        app.ctx.live = LiveHub()
        app.ctx.db = Database(settings.database_url)
        await asyncio.to_thread(app.ctx.db.open)
        seeded = seed_first_agent(app.ctx.db, settings)
        if seeded:
            print(
                f"Agent inbox: {settings.public_url}/  sign in as {seeded[0]} / {seeded[1]}"
                + ("" if settings.seed_password else "  (generated; change it after signing in)"),
                flush=True,
            )
        else:
            print(f"Agent inbox: {settings.public_url}/", flush=True)
        app.ctx.rasa = RasaClient(settings.rasa_url, settings.rasa_token, settings.rasa_timeout)
        transport: AmqpTransport | EmbeddedTransport = (
            AmqpTransport(
                settings.amqp_url, settings.exchange, settings.queue, settings.prefetch, settings.delivery_limit
            )
            if settings.amqp_url
            else EmbeddedTransport()
        )
        app.ctx.transport = transport
        await transport.start(lambda bodies: handle_events(app, bodies))
        app.ctx.retention_task = asyncio.get_event_loop().create_task(retention_loop(app))

    @app.after_server_stop
    async def stop(app: Sanic, _loop: Any) -> None:
        app.ctx.retention_task.cancel()
        await app.ctx.transport.stop()
        await app.ctx.rasa.close()
        app.ctx.db.close()

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        transport = request.app.ctx.transport
        return response.json(
            {
                "status": "ok",
                "transport": "amqp" if isinstance(transport, AmqpTransport) else "embedded",
                "consumed": getattr(transport, "consumed", None),
                "live_tabs": len(request.app.ctx.live.subscribers),
            }
        )

    def _internal(request: Request) -> bool:
        supplied = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return bool(supplied) and hmac.compare_digest(supplied, settings.internal_token)

    @app.post("/internal/events")
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
        good = [b for b in bodies if isinstance(b, dict) and b.get("sender_id") and b.get("event")]
        await transport.deliver(good)
        return response.json({"applied": len(good), "skipped": len(bodies) - len(good)})

    @app.get("/internal/queue")
    async def queue_stats(request: Request) -> HTTPResponse:
        """For action_handoff: how many are waiting and whether anyone is there to answer."""
        if not _internal(request):
            return response.json({"error": "unauthorised"}, status=401)
        with request.app.ctx.db.transaction() as s:
            waiting = s.execute(
                select(func.count()).select_from(Ticket).where(
                    Ticket.status != "resolved", Ticket.assigned_agent_id.is_(None)
                )
            ).scalar_one()
            available = s.execute(
                select(func.count()).select_from(Agent).where(Agent.available.is_(True))
            ).scalar_one()
        return response.json({"waiting": int(waiting), "agents_available": int(available)})

    return app


async def handle_events(app: Sanic, bodies: list[dict[str, Any]]) -> None:
    """Apply a batch of events in one transaction, then tell the open inbox tabs what changed."""
    settings: Settings = app.ctx.settings
    changes: list[ingest.Change] = []
    cache = ingest.BatchCache()
    with app.ctx.db.transaction() as s:
        for body in bodies:
            changes += ingest.apply_event(
                s, body, agent_capacity=settings.agent_capacity, auto_assign=settings.auto_assign, cache=cache
            ) or []
    for change in changes:
        if change.kind == "message":
            app.ctx.live.publish("message", {**change.data, "conversation_id": change.conversation_id})
        else:
            app.ctx.live.publish("ticket", {"ticket_id": change.ticket_id, **change.data})


async def retention_loop(app: Sanic) -> None:
    while True:
        try:
            with app.ctx.db.transaction() as s:
                removed = retention.purge(s, retention_days=app.ctx.settings.retention_days)
            if removed:
                logger.info("Retention: removed %d old conversations", removed)
        except Exception:
            logger.exception("Retention run failed")
        await asyncio.sleep(3600)
