"""Settings of the account API stand-in, read once at start-up from the environment (defaults in README.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common.config import env_bool, env_float, env_int, env_secret, env_str, is_production

DEFAULT_DB_PATH = Path(__file__).resolve().parents[2] / "var" / "accounts_api.sqlite"


@dataclass(frozen=True)
class Settings:
    """Everything the stand-in reads from the environment; built by `Settings.from_env()` in the start-up path."""

    host: str = "127.0.0.1"
    port: int = 8088
    database_url: str = f"sqlite:///{DEFAULT_DB_PATH}"
    token: str = "dev-token"
    seed: int = 20240401
    seed_investors: int = 3000
    nav_history_days: int = 400
    anchor_date: str = ""  # ISO date the seeded book is "as of"; empty = today
    otp_ttl_seconds: int = 300
    otp_max_attempts: int = 3
    otp_lockout_seconds: int = 900
    expose_otp: bool = False
    fault_latency_ms: float = 0.0
    fault_error_rate: float = 0.0
    fault_outage: bool = False
    fault_seed: int | None = None

    @classmethod
    def from_env(cls) -> Settings:
        expose = env_bool("ACCOUNTS_API_EXPOSE_OTP", False)
        if expose and is_production():
            # The last-OTP endpoint exists for tests and the local demo only; refusing it here is the guard.
            raise RuntimeError("ACCOUNTS_API_EXPOSE_OTP=true is refused when APP_ENV=production")
        fault_seed = env_str("ACCOUNTS_FAULT_SEED", "")
        return cls(
            host=env_str("ACCOUNTS_API_HOST", "127.0.0.1"),
            port=env_int("ACCOUNTS_API_PORT", 8088),
            database_url=env_str("ACCOUNTS_DATABASE_URL", f"sqlite:///{DEFAULT_DB_PATH}"),
            token=env_secret("ACCOUNTS_API_TOKEN", "dev-token"),
            seed=env_int("ACCOUNTS_SEED", 20240401),
            seed_investors=env_int("ACCOUNTS_SEED_INVESTORS", 3000),
            nav_history_days=env_int("ACCOUNTS_NAV_HISTORY_DAYS", 400),
            anchor_date=env_str("ACCOUNTS_SEED_ANCHOR_DATE", ""),
            otp_ttl_seconds=env_int("ACCOUNTS_OTP_TTL_SECONDS", 300),
            otp_max_attempts=env_int("ACCOUNTS_OTP_MAX_ATTEMPTS", 3),
            otp_lockout_seconds=env_int("ACCOUNTS_OTP_LOCKOUT_SECONDS", 900),
            expose_otp=expose,
            fault_latency_ms=env_float("ACCOUNTS_FAULT_LATENCY_MS", 0.0),
            fault_error_rate=env_float("ACCOUNTS_FAULT_ERROR_RATE", 0.0),
            fault_outage=env_bool("ACCOUNTS_FAULT_OUTAGE", False),
            fault_seed=int(fault_seed) if fault_seed else None,
        )
