"""The channel's settings (connectors/whatsapp/settings.py): the documented variables, one default each, and no
development secret in production."""

from __future__ import annotations

import pytest

from common.config import ConfigError
from connectors.whatsapp.settings import DEV_APP_SECRET, DEV_VERIFY_TOKEN, WhatsAppSettings

NAMES = {"previous_app_secret": "WHATSAPP_APP_SECRET_PREVIOUS", "amqp_url": "AMQP_URL", "redis_url": "REDIS_URL",
         "throughput_per_second": "WHATSAPP_THROUGHPUT_PER_SECOND", "max_body_bytes": "WHATSAPP_MAX_BODY_BYTES"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for field in WhatsAppSettings.__fields__:
        monkeypatch.delenv(WhatsAppSettings.env_name(field), raising=False)
    monkeypatch.delenv("APP_ENV", raising=False)


def test_each_field_reads_its_documented_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for field, name in NAMES.items():
        assert WhatsAppSettings.env_name(field) == name
    monkeypatch.setenv("WHATSAPP_PARTITIONS", "4")
    monkeypatch.setenv("WHATSAPP_MARK_READ", "off")
    monkeypatch.setenv("WHATSAPP_API_URL", "http://graph.example/v21.0/")
    monkeypatch.setenv("AMQP_URL", "amqp://mq")
    monkeypatch.setenv("WHATSAPP_APP_SECRET_PREVIOUS", "old")
    monkeypatch.setenv("WHATSAPP_CONCURRENCY", "")  # empty: the default
    settings = WhatsAppSettings.from_env()
    assert (settings.partitions, settings.mark_read, settings.amqp_url, settings.previous_app_secret) == (
        4, False, "amqp://mq", "old")
    assert settings.concurrency == 16 and settings.api_url == "http://graph.example/v21.0"
    assert settings.messages_url == "http://graph.example/v21.0/100000000000001/messages"
    assert WhatsAppSettings.from_env({"partitions": "8", "prefix": "", "unknown": 1}).partitions == 8


def test_one_default_each() -> None:
    """With nothing set, the environment gives exactly the declared defaults (the local simulator)."""
    assert WhatsAppSettings.from_env() == WhatsAppSettings.construct()
    assert WhatsAppSettings.construct().api_url == "http://127.0.0.1:8090/v21.0"


def test_malformed_values_name_their_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_PARTITIONS", "many")
    with pytest.raises(ConfigError, match="WHATSAPP_PARTITIONS"):
        WhatsAppSettings.from_env()
    monkeypatch.setenv("WHATSAPP_PARTITIONS", "4")
    monkeypatch.setenv("WHATSAPP_MAX_BODY_BYTES", "100")
    with pytest.raises(ConfigError, match="WHATSAPP_MAX_BODY_BYTES"):
        WhatsAppSettings.from_env()


def test_production_refuses_development_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "real-access-token")
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", "real-verify-token")
    with pytest.raises(ConfigError, match="WHATSAPP_APP_SECRET"):  # left unset: the development default
        WhatsAppSettings.from_env()
    monkeypatch.setenv("WHATSAPP_APP_SECRET", "changeme")
    with pytest.raises(ConfigError, match="WHATSAPP_APP_SECRET"):
        WhatsAppSettings.from_env()
    monkeypatch.setenv("WHATSAPP_APP_SECRET", "a-real-app-secret")
    settings = WhatsAppSettings.from_env()
    assert settings.app_secret == "a-real-app-secret" != DEV_APP_SECRET and settings.verify_token != DEV_VERIFY_TOKEN
    monkeypatch.setenv("APP_ENV", "development")
    monkeypatch.delenv("WHATSAPP_APP_SECRET")
    assert WhatsAppSettings.from_env().app_secret == DEV_APP_SECRET
