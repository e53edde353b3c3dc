"""The handoff service's settings, read once from the environment at start-up (defaults in docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.config import env_bool, env_float, env_int, env_secret, env_str

DATA_DIR_DEFAULT = Path(__file__).resolve().parents[1] / "var" / "handoff"


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from the environment; built by `from_env()`, never at import time."""

    host: str = "127.0.0.1"
    port: int = 8091
    public_url: str = "http://127.0.0.1:8091"
    database_url: str = f"sqlite:///{DATA_DIR_DEFAULT / 'handoff.db'}"
    amqp_url: str = ""
    exchange: str = "rasa-events"
    queue: str = "handoff-events"
    prefetch: int = 50
    delivery_limit: int = 5
    internal_token: str = "dev-token"
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = "dev-token"
    rasa_timeout: float = 10.0
    session_hours: float = 8.0
    login_max_failures: int = 5
    login_window_seconds: int = 900
    agent_capacity: int = 3
    auto_assign: bool = True
    retention_days: int = 90
    window_hours: float = 24.0
    reopen_template: str = "support_followup"
    seed_email: str = "agent@example.com"
    seed_password: str = ""
    seed_role: str = "supervisor"
    cookie_secure: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings; secrets refuse their development placeholders when APP_ENV=production."""
        port = env_int("HANDOFF_PORT", 8091)
        host = env_str("HANDOFF_HOST", "127.0.0.1")
        return cls(
            host=host,
            port=port,
            public_url=env_str("HANDOFF_PUBLIC_URL", f"http://{host}:{port}"),
            database_url=env_str("DATABASE_URL", f"sqlite:///{DATA_DIR_DEFAULT / 'handoff.db'}"),
            amqp_url=env_str("AMQP_URL", ""),
            exchange=env_str("HANDOFF_EXCHANGE", "rasa-events"),
            queue=env_str("HANDOFF_QUEUE", "handoff-events"),
            prefetch=env_int("HANDOFF_PREFETCH", 50),
            delivery_limit=env_int("HANDOFF_DELIVERY_LIMIT", 5),
            internal_token=env_secret("HANDOFF_INTERNAL_TOKEN", "dev-token"),
            rasa_url=env_str("RASA_URL", "http://127.0.0.1:5005"),
            rasa_token=env_secret("RASA_TOKEN", "dev-token"),
            rasa_timeout=env_float("RASA_TIMEOUT", 10.0),
            session_hours=env_float("HANDOFF_SESSION_HOURS", 8.0),
            login_max_failures=env_int("HANDOFF_LOGIN_MAX_FAILURES", 5),
            login_window_seconds=env_int("HANDOFF_LOGIN_WINDOW_SECONDS", 900),
            agent_capacity=env_int("HANDOFF_AGENT_CAPACITY", 3),
            auto_assign=env_bool("HANDOFF_AUTO_ASSIGN", True),
            retention_days=env_int("HANDOFF_RETENTION_DAYS", 90),
            window_hours=env_float("HANDOFF_WINDOW_HOURS", 24.0),
            reopen_template=env_str("HANDOFF_REOPEN_TEMPLATE", "support_followup"),
            seed_email=env_str("HANDOFF_SEED_EMAIL", "agent@example.com"),
            seed_password=env_str("HANDOFF_SEED_PASSWORD", ""),
            seed_role=env_str("HANDOFF_SEED_ROLE", "supervisor"),
            cookie_secure=env_bool("HANDOFF_COOKIE_SECURE", False),
        )
