"""Settings of the account API stand-in, read once at start-up from the environment (docs/configuration.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, validator

from common.config import is_production
from common.settings import EnvSettings

DEFAULT_DB_PATH = Path(__file__).resolve().parents[2] / "var" / "accounts_api.sqlite"


class Settings(EnvSettings):
    """Everything the stand-in reads from the environment; built by `Settings.from_env()` in the start-up path.

    Each field is read from `ACCOUNTS_<FIELD>` unless another name is given with `env=`.
    """

    host: str = Field("127.0.0.1", env="ACCOUNTS_API_HOST")
    port: int = Field(8088, env="ACCOUNTS_API_PORT")
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    token: str = Field("dev-token", env="ACCOUNTS_API_TOKEN")
    seed: int = 20240401
    seed_investors: int = 3000
    nav_history_days: int = 400
    anchor_date: str = Field("", env="ACCOUNTS_SEED_ANCHOR_DATE")  # ISO date the seeded book is "as of"; "" = today
    otp_ttl_seconds: int = 300
    otp_max_attempts: int = 3
    otp_lockout_seconds: int = 900
    expose_otp: bool = Field(False, env="ACCOUNTS_API_EXPOSE_OTP")
    fault_latency_ms: float = 0.0
    fault_error_rate: float = 0.0
    fault_outage: bool = False
    fault_seed: int | None = None

    secrets = ("token",)

    class Config:
        env_prefix = "ACCOUNTS_"

    @validator("expose_otp")
    def _no_otp_read_back_in_production(cls, value: bool) -> bool:
        if value and is_production():
            # The last-OTP endpoint exists for tests and the local demo only; refusing it here is the guard.
            raise RuntimeError("ACCOUNTS_API_EXPOSE_OTP=true is refused when APP_ENV=production")
        return value
