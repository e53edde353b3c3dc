"""The handoff service's settings, read once from the environment at start-up (defaults in docs/configuration.md).

One typed object (common/settings.py, pydantic `BaseSettings`): each field is read from `HANDOFF_<FIELD>` unless
another name is given with `env=`; each default is written once, here. `Settings.from_env()` is called in the
start-up path, never at import time; a malformed value stops the service with the variable's name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, validator

from common.settings import EnvSettings

DATA_DIR_DEFAULT = Path(__file__).resolve().parents[1] / "var" / "handoff"


class Settings(EnvSettings):
    """Everything the service reads from the environment."""

    host: str = "127.0.0.1"
    port: int = 8091
    public_url: str = ""  # "" = http://<host>:<port>
    database_url: str = Field(f"sqlite:///{DATA_DIR_DEFAULT / 'handoff.db'}", env="DATABASE_URL")
    amqp_url: str = Field("", env="AMQP_URL")
    redis_url: str = Field("", env="REDIS_URL")
    exchange: str = "rasa-events"
    queue: str = "handoff-events"
    partitions: int = Field(8, ge=1)
    batch_size: int = Field(200, ge=1)
    batch_ms: float = 10.0
    prefetch: int = 0  # 0 = batch_size
    delivery_limit: int = 5
    retry_seconds: float = 0.5
    ingest_workers: int = Field(2, ge=1)
    db_threads: int = Field(8, ge=1)
    event_key_days: int = 14
    migrate_at_start: bool = True
    internal_token: str = "dev-token"
    rasa_url: str = Field("http://127.0.0.1:5005", env="RASA_URL")
    rasa_token: str = Field("dev-token", env="RASA_TOKEN")
    rasa_timeout: float = Field(10.0, env="RASA_TIMEOUT")
    session_hours: float = 8.0
    login_max_failures: int = 5
    login_address_max_failures: int = 20
    login_account_max_failures: int = 20
    login_backoff_seconds: float = 30.0
    login_window_seconds: int = 900
    trusted_proxies: int = Field(0, ge=0)
    agent_capacity: int = 3
    auto_assign: bool = True
    retention_days: int = 90
    window_hours: float = 24.0
    reopen_template: str = "support_followup"
    seed_email: str = "agent@example.com"
    seed_password: str = ""
    seed_role: str = "supervisor"
    cookie_secure: bool = False
    app_env: str = Field("development", env="APP_ENV")

    secrets = ("internal_token", "rasa_token")

    class Config:
        env_prefix = "HANDOFF_"

    @validator("public_url", always=True)
    def _public_url(cls, value: str, values: dict[str, Any]) -> str:
        return value or f"http://{values.get('host', '127.0.0.1')}:{values.get('port', 8091)}"

    @validator("prefetch", always=True)
    def _prefetch(cls, value: int, values: dict[str, Any]) -> int:
        return value if value > 0 else int(values.get("batch_size") or 200)

    @validator("app_env", always=True)
    def _app_env(cls, value: str) -> str:
        return value.lower()

    @property
    def development(self) -> bool:
        """The local `make run` / test machine: the only place a generated first password may be printed."""
        return self.app_env == "development"
