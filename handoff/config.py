"""The handoff service's settings, read once from the environment at start-up (defaults in docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.config import ConfigError, env_bool, env_float, env_int, env_secret, env_str

DATA_DIR_DEFAULT = Path(__file__).resolve().parents[1] / "var" / "handoff"


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from the environment; built by `from_env()`, never at import time."""

    host: str = "127.0.0.1"
    port: int = 8091
    public_url: str = "http://127.0.0.1:8091"
    database_url: str = f"sqlite:///{DATA_DIR_DEFAULT / 'handoff.db'}"
    amqp_url: str = ""
    redis_url: str = ""
    exchange: str = "rasa-events"
    queue: str = "handoff-events"
    partitions: int = 8
    batch_size: int = 200
    batch_ms: float = 10.0
    prefetch: int = 200
    delivery_limit: int = 5
    retry_seconds: float = 0.5
    ingest_workers: int = 2
    db_threads: int = 8
    event_key_days: int = 14
    migrate_at_start: bool = True
    internal_token: str = "dev-token"
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_token: str = "dev-token"
    rasa_timeout: float = 10.0
    session_hours: float = 8.0
    login_max_failures: int = 5
    login_address_max_failures: int = 20
    login_account_max_failures: int = 20
    login_backoff_seconds: float = 30.0
    login_window_seconds: int = 900
    trusted_proxies: int = 0
    agent_capacity: int = 3
    auto_assign: bool = True
    retention_days: int = 90
    window_hours: float = 24.0
    reopen_template: str = "support_followup"
    seed_email: str = "agent@example.com"
    seed_password: str = ""
    seed_role: str = "supervisor"
    cookie_secure: bool = False
    app_env: str = "development"

    @property
    def development(self) -> bool:
        """The local `make run` / test machine: the only place a generated first password may be printed."""
        return self.app_env == "development"

    @classmethod
    def from_env(cls) -> Settings:
        """Read the settings; secrets refuse their development placeholders when APP_ENV=production."""
        port = env_int("HANDOFF_PORT", 8091)
        host = env_str("HANDOFF_HOST", "127.0.0.1")
        trusted_proxies = env_int("HANDOFF_TRUSTED_PROXIES", 0)
        if trusted_proxies < 0:
            raise ConfigError("HANDOFF_TRUSTED_PROXIES must be 0 or more")
        counts = {name: env_int(name, default) for name, default in
                  (("HANDOFF_BATCH_SIZE", 200), ("HANDOFF_PARTITIONS", 8), ("HANDOFF_DB_THREADS", 8),
                   ("HANDOFF_INGEST_WORKERS", 2))}
        for name, value in counts.items():
            if value < 1:
                raise ConfigError(f"{name} must be 1 or more")
        return cls(
            host=host,
            port=port,
            public_url=env_str("HANDOFF_PUBLIC_URL", f"http://{host}:{port}"),
            database_url=env_str("DATABASE_URL", f"sqlite:///{DATA_DIR_DEFAULT / 'handoff.db'}"),
            amqp_url=env_str("AMQP_URL", ""),
            redis_url=env_str("REDIS_URL", ""),
            exchange=env_str("HANDOFF_EXCHANGE", "rasa-events"),
            queue=env_str("HANDOFF_QUEUE", "handoff-events"),
            partitions=counts["HANDOFF_PARTITIONS"],
            batch_size=counts["HANDOFF_BATCH_SIZE"],
            batch_ms=env_float("HANDOFF_BATCH_MS", 10.0),
            prefetch=env_int("HANDOFF_PREFETCH", counts["HANDOFF_BATCH_SIZE"]),
            delivery_limit=env_int("HANDOFF_DELIVERY_LIMIT", 5),
            retry_seconds=env_float("HANDOFF_RETRY_SECONDS", 0.5),
            db_threads=counts["HANDOFF_DB_THREADS"],
            ingest_workers=counts["HANDOFF_INGEST_WORKERS"],
            event_key_days=env_int("HANDOFF_EVENT_KEY_DAYS", 14),
            migrate_at_start=env_bool("HANDOFF_MIGRATE_AT_START", True),
            internal_token=env_secret("HANDOFF_INTERNAL_TOKEN", "dev-token"),
            rasa_url=env_str("RASA_URL", "http://127.0.0.1:5005"),
            rasa_token=env_secret("RASA_TOKEN", "dev-token"),
            rasa_timeout=env_float("RASA_TIMEOUT", 10.0),
            session_hours=env_float("HANDOFF_SESSION_HOURS", 8.0),
            login_max_failures=env_int("HANDOFF_LOGIN_MAX_FAILURES", 5),
            login_address_max_failures=env_int("HANDOFF_LOGIN_ADDRESS_MAX_FAILURES", 20),
            login_account_max_failures=env_int("HANDOFF_LOGIN_ACCOUNT_MAX_FAILURES", 20),
            login_backoff_seconds=env_float("HANDOFF_LOGIN_BACKOFF_SECONDS", 30.0),
            login_window_seconds=env_int("HANDOFF_LOGIN_WINDOW_SECONDS", 900),
            trusted_proxies=trusted_proxies,
            agent_capacity=env_int("HANDOFF_AGENT_CAPACITY", 3),
            auto_assign=env_bool("HANDOFF_AUTO_ASSIGN", True),
            retention_days=env_int("HANDOFF_RETENTION_DAYS", 90),
            window_hours=env_float("HANDOFF_WINDOW_HOURS", 24.0),
            reopen_template=env_str("HANDOFF_REOPEN_TEMPLATE", "support_followup"),
            seed_email=env_str("HANDOFF_SEED_EMAIL", "agent@example.com"),
            seed_password=env_str("HANDOFF_SEED_PASSWORD", ""),
            seed_role=env_str("HANDOFF_SEED_ROLE", "supervisor"),
            cookie_secure=env_bool("HANDOFF_COOKIE_SECURE", False),
            app_env=env_str("APP_ENV", "development").lower(),
        )
