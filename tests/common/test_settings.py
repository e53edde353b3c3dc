"""common/settings.py: every service's settings object (pydantic BaseSettings) reads its documented variables,
has one default each, and refuses development secrets in production. The three users outside the channel
(whose own tests are in tests/whatsapp/test_settings.py) are checked here against their documented names."""

from __future__ import annotations

from typing import Any

import pytest

from actions.api.accounts import ClientSettings
from common.config import ConfigError
from common.settings import EnvSettings
from standins.accounts_api.config import Settings as AccountsApiSettings
from standins.whatsapp_cloud.app import SimSettings

ALL: list[type[EnvSettings]] = [ClientSettings, AccountsApiSettings, SimSettings]
NAMES: dict[type[EnvSettings], dict[str, str]] = {
    ClientSettings: {
        "base_url": "ACCOUNTS_API_URL", "token": "ACCOUNTS_API_TOKEN", "attempt_timeout": "ACCOUNTS_API_TIMEOUT",
        "call_budget": "ACCOUNTS_API_CALL_BUDGET", "max_attempts": "ACCOUNTS_API_MAX_ATTEMPTS",
        "backoff_base": "ACCOUNTS_API_BACKOFF_BASE", "backoff_cap": "ACCOUNTS_API_BACKOFF_CAP",
        "breaker_failures": "ACCOUNTS_API_BREAKER_FAILURES", "breaker_reset": "ACCOUNTS_API_BREAKER_RESET",
        "redis_url": "REDIS_URL", "cache_prefix": "ACCOUNTS_CACHE_PREFIX", "nav_ttl": "ACCOUNTS_CACHE_NAV_TTL",
        "portfolio_ttl": "ACCOUNTS_CACHE_PORTFOLIO_TTL", "lookup_ttl": "ACCOUNTS_CACHE_LOOKUP_TTL",
        "stale_limit": "ACCOUNTS_CACHE_STALE_LIMIT",
    },
    AccountsApiSettings: {
        "host": "ACCOUNTS_API_HOST", "port": "ACCOUNTS_API_PORT", "database_url": "ACCOUNTS_DATABASE_URL",
        "token": "ACCOUNTS_API_TOKEN", "seed": "ACCOUNTS_SEED", "seed_investors": "ACCOUNTS_SEED_INVESTORS",
        "nav_history_days": "ACCOUNTS_NAV_HISTORY_DAYS", "anchor_date": "ACCOUNTS_SEED_ANCHOR_DATE",
        "otp_ttl_seconds": "ACCOUNTS_OTP_TTL_SECONDS", "otp_max_attempts": "ACCOUNTS_OTP_MAX_ATTEMPTS",
        "otp_lockout_seconds": "ACCOUNTS_OTP_LOCKOUT_SECONDS", "expose_otp": "ACCOUNTS_API_EXPOSE_OTP",
        "fault_latency_ms": "ACCOUNTS_FAULT_LATENCY_MS", "fault_error_rate": "ACCOUNTS_FAULT_ERROR_RATE",
        "fault_outage": "ACCOUNTS_FAULT_OUTAGE", "fault_seed": "ACCOUNTS_FAULT_SEED",
    },
    SimSettings: {
        "port": "WHATSAPP_SIM_PORT", "host": "WHATSAPP_SIM_HOST", "access_token": "WHATSAPP_ACCESS_TOKEN",
        "app_secret": "WHATSAPP_APP_SECRET", "phone_number_id": "WHATSAPP_PHONE_NUMBER_ID",
        "display_number": "WHATSAPP_SIM_DISPLAY_NUMBER", "webhook_url": "WHATSAPP_SIM_WEBHOOK_URL",
        "throughput_per_second": "WHATSAPP_SIM_THROUGHPUT", "status_delay": "WHATSAPP_SIM_STATUS_DELAY",
        "read_delay": "WHATSAPP_SIM_READ_DELAY", "statuses": "WHATSAPP_SIM_STATUSES",
        "webhook_retry_seconds": "WHATSAPP_SIM_WEBHOOK_RETRY_SECONDS", "window_seconds": "WHATSAPP_SIM_WINDOW_SECONDS",
    },
}
DEFAULTS: dict[type[EnvSettings], dict[str, Any]] = {
    ClientSettings: {"base_url": "http://127.0.0.1:8088", "token": "dev-token", "attempt_timeout": 1.5,
                     "call_budget": 4.0, "max_attempts": 5, "backoff_base": 0.05, "backoff_cap": 0.8,
                     "breaker_failures": 3, "breaker_reset": 10.0, "redis_url": "", "cache_prefix": "mfa:accounts:",
                     "nav_ttl": 900.0, "portfolio_ttl": 60.0, "lookup_ttl": 60.0, "stale_limit": 1800.0},
    AccountsApiSettings: {"host": "127.0.0.1", "port": 8088, "token": "dev-token", "seed": 20240401,
                          "seed_investors": 3000, "nav_history_days": 400, "anchor_date": "", "otp_ttl_seconds": 300,
                          "otp_max_attempts": 3, "otp_lockout_seconds": 900, "expose_otp": False,
                          "fault_latency_ms": 0.0, "fault_error_rate": 0.0, "fault_outage": False,
                          "fault_seed": None},
    SimSettings: {"port": 8090, "host": "127.0.0.1", "access_token": "dev-access-token",
                  "app_secret": "dev-app-secret", "phone_number_id": "100000000000001",
                  "display_number": "15550001111", "webhook_url": "http://127.0.0.1:5005/webhooks/whatsapp/webhook",
                  "throughput_per_second": 1000, "status_delay": 0.05, "read_delay": -1.0,
                  "statuses": "sent,delivered,read", "webhook_retry_seconds": 300.0, "window_seconds": 86400},
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for cls in ALL:
        for names in (cls.__fields__[f].field_info.extra["env_names"] for f in cls.__fields__):
            for name in names:
                monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("APP_ENV", raising=False)


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.__name__)
def test_each_field_reads_its_documented_variable(cls: type[EnvSettings]) -> None:
    assert {field: cls.env_name(field) for field in cls.__fields__} == NAMES[cls]


@pytest.mark.parametrize("cls", ALL, ids=lambda cls: cls.__name__)
def test_one_default_each(cls: type[EnvSettings]) -> None:
    """Nothing set: exactly the declared defaults, the same as the documented ones."""
    settings = cls.from_env()
    assert settings == cls.construct()
    assert {k: v for k, v in settings.dict().items() if k in DEFAULTS[cls]} == DEFAULTS[cls]


def test_values_are_read_typed_and_empty_means_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCOUNTS_API_URL", "http://accounts.internal:9000/")
    monkeypatch.setenv("ACCOUNTS_API_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("ACCOUNTS_CACHE_NAV_TTL", "")
    client = ClientSettings.from_env()
    assert (client.base_url, client.max_attempts, client.nav_ttl) == ("http://accounts.internal:9000", 2, 900.0)
    monkeypatch.setenv("ACCOUNTS_FAULT_SEED", "42")
    monkeypatch.setenv("ACCOUNTS_FAULT_OUTAGE", "true")
    api = AccountsApiSettings.from_env()
    assert (api.fault_seed, api.fault_outage) == (42, True)


def test_the_simulator_falls_back_to_the_channels_webhook_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_WEBHOOK_URL", "http://gateway:5006/webhook")
    monkeypatch.setenv("WHATSAPP_SIM_WEBHOOK_URL", "")  # empty: not set
    assert SimSettings.from_env().webhook_url == "http://gateway:5006/webhook"
    monkeypatch.setenv("WHATSAPP_SIM_WEBHOOK_URL", "http://sim-only/webhook")
    assert SimSettings.from_env().webhook_url == "http://sim-only/webhook"


def test_malformed_values_name_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCOUNTS_API_TIMEOUT", "soon")
    with pytest.raises(ConfigError, match="ACCOUNTS_API_TIMEOUT"):
        ClientSettings.from_env()
    monkeypatch.setenv("WHATSAPP_SIM_PORT", "eighty")
    with pytest.raises(ConfigError, match="WHATSAPP_SIM_PORT"):
        SimSettings.from_env()


@pytest.mark.parametrize("cls", [ClientSettings, AccountsApiSettings], ids=lambda cls: cls.__name__)
def test_production_refuses_placeholder_secrets(cls: type[EnvSettings], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    for placeholder in ("", "dev-token", "changeme"):
        monkeypatch.setenv("ACCOUNTS_API_TOKEN", placeholder)
        with pytest.raises(ConfigError, match="ACCOUNTS_API_TOKEN"):
            cls.from_env()
    monkeypatch.setenv("ACCOUNTS_API_TOKEN", "a-real-service-token")
    assert cls.from_env().token == "a-real-service-token"
