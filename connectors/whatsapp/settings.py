"""The WhatsApp channel's settings, read once from the environment (documented in docs/configuration.md).

Rasa expands `${VAR}` in credentials.yml but fails on unset variables, so the channel reads the environment
itself, with development defaults that point at the local simulator. `common.config.env_secret` refuses the
development secrets when `APP_ENV=production`, so a forgotten variable cannot reach Meta.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from common.config import env_bool, env_float, env_int, env_secret, env_str

DEV_VERIFY_TOKEN = "dev-verify-token"  # noqa: S105 (development default, refused in production)
DEV_APP_SECRET = "dev-app-secret"  # noqa: S105 (development default, refused in production)
DEV_ACCESS_TOKEN = "dev-access-token"  # noqa: S105 (development default, refused in production)
DEV_PHONE_NUMBER_ID = "100000000000001"
DEV_API_URL = "http://127.0.0.1:8090/v21.0"


@dataclass(frozen=True)
class WhatsAppSettings:
    """Everything the channel needs; one instance per process, built at start-up."""

    verify_token: str = DEV_VERIFY_TOKEN
    app_secret: str = DEV_APP_SECRET
    access_token: str = DEV_ACCESS_TOKEN
    phone_number_id: str = DEV_PHONE_NUMBER_ID
    api_url: str = DEV_API_URL
    # Infrastructure: empty means embedded mode (in-process queue / in-process state).
    amqp_url: str = ""
    redis_url: str = ""
    # Names: every queue, exchange and Redis key starts with this prefix (tests use a unique one per run).
    prefix: str = "wa"
    partitions: int = 16
    # Messages Rasa handles at once in this replica (at most one per partition anyway). Rasa's NLU runs on the
    # event loop: with webhooks served inside Rasa under load, acknowledgements wait behind inference whatever
    # this is -- hence the separate gateway process (gateway.py).
    concurrency: int = 16
    delivery_limit: int = 5
    # Consumer group (intake.py): heartbeat period; a replica silent for 5 periods is considered gone.
    balance_interval: float = 2.0
    dedupe_ttl: int = 7 * 24 * 3600  # Meta retries a webhook for up to 7 days
    # Outbound limits.
    throughput_per_second: int = 80
    # Slots are spaced by 1 s + this margin, so network jitter cannot squeeze more than the cap into any
    # one-second window as Meta measures it (costs ~10 % of peak rate; raise it on a jittery network).
    throughput_margin: float = 0.1
    pair_interval: float = 6.0  # Meta's pair rate: 1 message / 6 s per recipient ...
    pair_burst: int = 45  # ... with bursts of up to 45
    window_seconds: int = 24 * 3600
    enforce_window: bool = True
    max_attempts: int = 6
    backoff_base: float = 0.25
    backoff_cap: float = 8.0
    request_timeout: float = 20.0
    mark_read: bool = True

    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None) -> WhatsAppSettings:
        """Read the environment; `overrides` (from credentials.yml) win over it for non-secret values."""
        settings = cls(
            verify_token=env_secret("WHATSAPP_VERIFY_TOKEN", DEV_VERIFY_TOKEN),
            app_secret=env_secret("WHATSAPP_APP_SECRET", DEV_APP_SECRET),
            access_token=env_secret("WHATSAPP_ACCESS_TOKEN", DEV_ACCESS_TOKEN),
            phone_number_id=env_str("WHATSAPP_PHONE_NUMBER_ID", DEV_PHONE_NUMBER_ID),
            api_url=env_str("WHATSAPP_API_URL", DEV_API_URL).rstrip("/"),
            amqp_url=os.environ.get("AMQP_URL", ""),
            redis_url=os.environ.get("REDIS_URL", ""),
            prefix=env_str("WHATSAPP_PREFIX", "wa"),
            partitions=env_int("WHATSAPP_PARTITIONS", 16),
            concurrency=env_int("WHATSAPP_CONCURRENCY", 16),
            delivery_limit=env_int("WHATSAPP_DELIVERY_LIMIT", 5),
            balance_interval=env_float("WHATSAPP_BALANCE_INTERVAL", 2.0),
            dedupe_ttl=env_int("WHATSAPP_DEDUPE_TTL", 7 * 24 * 3600),
            throughput_per_second=env_int("WHATSAPP_THROUGHPUT_PER_SECOND", 80),
            throughput_margin=env_float("WHATSAPP_THROUGHPUT_MARGIN", 0.1),
            pair_interval=env_float("WHATSAPP_PAIR_INTERVAL", 6.0),
            pair_burst=env_int("WHATSAPP_PAIR_BURST", 45),
            window_seconds=env_int("WHATSAPP_WINDOW_SECONDS", 24 * 3600),
            enforce_window=env_bool("WHATSAPP_ENFORCE_WINDOW", True),
            max_attempts=env_int("WHATSAPP_MAX_ATTEMPTS", 6),
            backoff_base=env_float("WHATSAPP_BACKOFF_BASE", 0.25),
            backoff_cap=env_float("WHATSAPP_BACKOFF_CAP", 8.0),
            request_timeout=env_float("WHATSAPP_REQUEST_TIMEOUT", 20.0),
            mark_read=env_bool("WHATSAPP_MARK_READ", True),
        )
        if overrides:
            known = {k: v for k, v in overrides.items() if k in cls.__dataclass_fields__ and v not in (None, "")}
            settings = replace(settings, **known)
        return settings

    @property
    def messages_url(self) -> str:
        return f"{self.api_url}/{self.phone_number_id}/messages"
