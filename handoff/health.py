"""The handoff service's probes and its metrics port (docs/runbook.md, "Probes" and "Metrics").

- `GET /health`, liveness: the process answers. It checks no dependency, so an outage of PostgreSQL or RabbitMQ
  takes the replicas out of the Service instead of restarting them all at once. Its body shows the ingest state.
- `GET /health/ready`, readiness: 200 only when this replica can do its work: PostgreSQL answers and its schema
  is the one this code needs, Redis answers (when REDIS_URL is set), and with RabbitMQ the connection is open and
  a consumer is declared on every partition queue, with the workers that apply them running. Partitions are
  single-active-consumer queues: a replica waiting in line behind another one (holding no partition) is ready,
  it takes over the moment the other one goes. Otherwise 503 with `{"status": "unavailable", "problems": [...]}`,
  each problem naming the part (`database: ...`, `redis: ...`, `rabbitmq: ...`).

Every check is bounded (CHECK_SECONDS) and they run side by side, inside the kubelet's 3-second probe timeout.
`register(app)` adds the routes and serves `/metrics` on METRICS_PORT (common/metrics.py) when the app starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from sanic import Blueprint, Request, Sanic, response
from sanic.response import HTTPResponse
from sqlalchemy import text
from sqlalchemy.orm import Session

from common.metrics import serve_metrics
from handoff import metrics
from handoff.live import RedisBus
from handoff.transport import AmqpTransport

logger = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
bp = Blueprint("health")
_heads: dict[str, str | None] = {}


@bp.get("/health")
async def health(request: Request) -> HTTPResponse:
    """Liveness: no dependency is asked; the body says what the ingest is doing."""
    ctx = request.app.ctx
    transport = ctx.transport
    amqp = isinstance(transport, AmqpTransport)
    return response.json(
        {
            "status": "ok",
            "transport": "amqp" if amqp else "embedded",
            "consumed": getattr(transport, "consumed", None),
            "ingest": transport.status() if amqp else {},
            "group": ctx.group.status() if ctx.group is not None else None,
            "events": metrics.snapshot(),
            "live_tabs": len(ctx.live.subscribers),
            "live_bus": "redis" if isinstance(ctx.live.bus, RedisBus) else "local",
        }
    )


@bp.get("/health/ready")
async def ready(request: Request) -> HTTPResponse:
    found = await problems(request.app)
    return response.json({"status": "unavailable" if found else "ready", "problems": found},
                         status=503 if found else 200)


async def problems(app: Sanic) -> list[str]:
    """What keeps this replica from doing its work; empty when ready."""
    ctx = app.ctx
    checks: dict[str, Awaitable[None]] = {"database": _database(ctx.db)}
    if getattr(ctx, "redis", None) is not None:
        checks["redis"] = ctx.redis.ping()
    results = await asyncio.gather(*(_bounded(check) for check in checks.values()))
    found = [f"{name}: {error}" for name, error in zip(checks, results, strict=True) if error]
    transport = getattr(ctx, "transport", None)
    if isinstance(transport, AmqpTransport):
        found += [f"rabbitmq: {problem}" for problem in transport.problems()]
    elif transport is None:
        found.append("ingest: not started")
    return found


async def _bounded(check: Awaitable[Any]) -> str | None:
    """None when the check completes in time, else what went wrong (the exception's type, never its text:
    a driver's message may carry the URL with its password)."""
    try:
        await asyncio.wait_for(check, CHECK_SECONDS)
    except asyncio.TimeoutError:
        return f"no answer within {CHECK_SECONDS:.0f} s"
    except SchemaNotCurrent as exc:
        return str(exc)
    except Exception as exc:
        return type(exc).__name__
    return None


async def _database(db: Any) -> None:
    """One round trip on the service's own pool: the schema's revision, which must be this code's."""
    current, head = await db.run(lambda session: (_revision(session), _head(db.url)))
    if current != head:
        raise SchemaNotCurrent(f"schema at {current}, this code needs {head}")


class SchemaNotCurrent(RuntimeError):
    """The database answers, but the migration of this release has not run (or a newer one has)."""


def _revision(session: Session) -> str | None:
    """alembic_version read directly (alembic's MigrationContext logs two lines per call: one per probe)."""
    return session.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()


def _head(url: str) -> str | None:
    """The latest revision in handoff/migrations (read once per process)."""
    if url not in _heads:
        from alembic.script import ScriptDirectory

        from handoff.db import alembic_config

        _heads[url] = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    return _heads[url]


class QueueCollector:
    """`mfa_handoff_tickets_waiting` and `mfa_handoff_agents_online`, read from PostgreSQL when Prometheus scrapes
    (in the metrics server's thread, never on the event loop). Every replica reports the same figures: the alerts
    and the dashboard take their max()."""

    def __init__(self, db: Any) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            with self.db.transaction() as s:
                waiting, online = s.execute(text(
                    "SELECT (SELECT count(*) FROM tickets WHERE status != 'resolved' AND assigned_agent_id IS NULL),"
                    " (SELECT count(*) FROM agents WHERE available)"
                )).one()
        except Exception as exc:  # the database is away: no figures rather than wrong ones (readiness says why)
            logger.debug("queue gauges not read: %s", type(exc).__name__)
            return
        yield GaugeMetricFamily("mfa_handoff_tickets_waiting", "Open tickets no agent has taken.", value=waiting)
        yield GaugeMetricFamily("mfa_handoff_agents_online", "Agents marked available.", value=online)


_collector: QueueCollector | None = None


async def _serve_metrics(app: Sanic, _loop: Any) -> None:
    """METRICS_PORT (unset: not served, as when tests start many instances in one process)."""
    global _collector
    if serve_metrics() is None:
        return
    if _collector is None:
        _collector = QueueCollector(app.ctx.db)
        REGISTRY.register(_collector)
    _collector.db = app.ctx.db


def register(app: Sanic) -> None:
    """The probes and the metrics port on the handoff app (called by handoff.app.create_app)."""
    app.blueprint(bp)
    app.register_listener(_serve_metrics, "after_server_start")  # after `start` opened the database
