"""The WhatsApp channel's settings, read once from the environment (documented in docs/configuration.md).

Rasa expands `${VAR}` in credentials.yml but fails on unset variables, so the channel reads the environment
itself (`common.settings.EnvSettings`, pydantic `BaseSettings`), with development defaults that point at the local
simulator. It refuses the development secrets when `APP_ENV=production`, so a forgotten variable cannot reach
Meta. `from_env(overrides)` takes credentials.yml's values over the environment's.
"""

from __future__ import annotations

from pydantic import Field, validator

from common.settings import EnvSettings

DEV_VERIFY_TOKEN = "dev-verify-token"  # noqa: S105 (development default, refused in production)
DEV_APP_SECRET = "dev-app-secret"  # noqa: S105 (development default, refused in production)
DEV_ACCESS_TOKEN = "dev-access-token"  # noqa: S105 (development default, refused in production)
DEV_PHONE_NUMBER_ID = "100000000000001"
DEV_API_URL = "http://127.0.0.1:8090/v21.0"
SECRETS = ("verify_token", "app_secret", "access_token")


class WhatsAppSettings(EnvSettings):
    """Everything the channel needs; one instance per process, built at start-up (`from_env`).

    Each field is read from `WHATSAPP_<FIELD>` (other names are given with `env=`); an empty variable means
    the default. `WhatsAppSettings.construct()` gives the defaults without reading the environment.
    """

    verify_token: str = DEV_VERIFY_TOKEN
    app_secret: str = DEV_APP_SECRET
    # The secret being replaced, accepted as well during a rotation's overlap window (docs/runbook.md); else "".
    previous_app_secret: str = Field("", env="WHATSAPP_APP_SECRET_PREVIOUS")
    access_token: str = DEV_ACCESS_TOKEN
    phone_number_id: str = DEV_PHONE_NUMBER_ID
    api_url: str = DEV_API_URL
    # Infrastructure: empty means embedded mode (in-process queue / in-process state).
    amqp_url: str = Field("", env="AMQP_URL")
    redis_url: str = Field("", env="REDIS_URL")
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
    # Webhook bodies larger than this are refused with 413 before they are read (Content-Length) or as soon as
    # the bytes read pass it (chunked). Meta's webhooks are a few KiB; a batch of many messages stays far below.
    max_body_bytes: int = Field(256 * 1024, ge=1024)

    secrets = SECRETS

    class Config:
        env_prefix = "WHATSAPP_"

    @validator("api_url")
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def messages_url(self) -> str:
        return f"{self.api_url}/{self.phone_number_id}/messages"
