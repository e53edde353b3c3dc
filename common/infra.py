"""Where our infrastructure lives, and a clear error naming the services that are not there.

Defaults match a developer machine and CI: RabbitMQ 127.0.0.1:5672 guest/guest, Redis 127.0.0.1:6379,
PostgreSQL 127.0.0.1:5432 database `test` with trust auth. `require_all()` checks all three and names every one
that is down, each with its start command, in one message (scripts/test.sh).
"""

from __future__ import annotations

import socket
from urllib.parse import urlparse

from common.config import env_str

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"

START_HINTS = {
    "RabbitMQ": "rabbitmq-server -detached",
    "Redis": "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no",
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
}
URL_VARIABLES = {"RabbitMQ": "AMQP_URL", "Redis": "REDIS_URL", "PostgreSQL": "TEST_DATABASE_URL"}


class ServiceUnavailable(RuntimeError):
    """A piece of infrastructure the caller needs is not reachable."""


def amqp_url() -> str:
    return env_str("AMQP_URL", DEFAULT_AMQP_URL)


def redis_url() -> str:
    return env_str("REDIS_URL", DEFAULT_REDIS_URL)


def postgres_url() -> str:
    """PostgreSQL used by the test-suite and production-like runs (`TEST_DATABASE_URL`)."""
    return env_str("TEST_DATABASE_URL", DEFAULT_POSTGRES_URL)


def problem(service: str, url: str, default_port: int, timeout: float = 2.0) -> str | None:
    """None when `url`'s host and port accept a TCP connection; else one line naming `service` and how to start it."""
    parsed = urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        hint = START_HINTS.get(service, "")
        variable = URL_VARIABLES.get(service, "the URL variable")
        return (f"{service} is not reachable at {host}:{port} ({exc}). "
                f"Start it{' with: ' + hint if hint else ''}, or point {variable} elsewhere.")


def require(service: str, url: str, default_port: int, timeout: float = 2.0) -> None:
    """Open a TCP connection to `url`'s host and port, or raise naming `service` and how to start it."""
    message = problem(service, url, default_port, timeout)
    if message:
        raise ServiceUnavailable(message)


def require_rabbitmq(url: str | None = None) -> None:
    require("RabbitMQ", url or amqp_url(), 5672)


def require_redis(url: str | None = None) -> None:
    require("Redis", url or redis_url(), 6379)


def require_postgres(url: str | None = None) -> None:
    require("PostgreSQL", url or postgres_url(), 5432)


def require_all(amqp: str | None = None, redis: str | None = None, postgres: str | None = None) -> None:
    """Check RabbitMQ, Redis and PostgreSQL together; raise once, naming every one that is down."""
    problems = [
        message
        for message in (
            problem("RabbitMQ", amqp or amqp_url(), 5672),
            problem("Redis", redis or redis_url(), 6379),
            problem("PostgreSQL", postgres or postgres_url(), 5432),
        )
        if message
    ]
    if len(problems) == 1:
        raise ServiceUnavailable(problems[0])
    if problems:
        raise ServiceUnavailable(f"{len(problems)} services are down:\n" + "\n".join(f"- {p}" for p in problems))
