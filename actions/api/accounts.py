"""The one client for the fund house's account API: timeouts, retries, circuit breaker, cache, idempotency.

- Every attempt has a timeout and every call a total budget, so an action answers within a bounded time.
- Retries (exponential backoff, full jitter) only for idempotent calls: GETs, and writes that carry an
  Idempotency-Key (the API replays the first answer for a repeated key, so a retry cannot place twice).
- A circuit breaker fails fast while the API is down.
- NAV search, portfolio and the mobile look-up are cached with an explicit TTL; a stale copy (bounded by its own
  limit) answers when the API is unavailable. OTPs, service requests and statements are never cached.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from typing import Any

import aiohttp
from pydantic import Field, validator

from actions import metrics
from actions.api.breaker import CircuitBreaker
from actions.api.cache import Cache, MemoryCache, RedisCache
from actions.api.errors import ApiRejected, ApiUnavailable, NotFound, OtpExpired, OtpLocked
from actions.metrics import endpoint_label
from common.logs import CORRELATION_HEADER, get_correlation_id
from common.pii import mask_text
from common.retry import Backoff, retry
from common.settings import EnvSettings

logger = logging.getLogger(__name__)

JSON = dict[str, Any]


class ClientSettings(EnvSettings):
    """Client configuration; defaults documented in docs/configuration.md ("Account API and actions").

    Each field is read from `ACCOUNTS_API_<FIELD>` unless another name is given with `env=`.
    """

    base_url: str = Field("http://127.0.0.1:8088", env="ACCOUNTS_API_URL")
    token: str = "dev-token"
    attempt_timeout: float = Field(1.5, env="ACCOUNTS_API_TIMEOUT")
    call_budget: float = 4.0
    max_attempts: int = 5
    backoff_base: float = 0.05
    backoff_cap: float = 0.8
    breaker_failures: int = 3
    breaker_reset: float = 10.0
    redis_url: str = Field("", env="REDIS_URL")
    cache_prefix: str = Field("mfa:accounts:", env="ACCOUNTS_CACHE_PREFIX")
    nav_ttl: float = Field(900.0, env="ACCOUNTS_CACHE_NAV_TTL")
    portfolio_ttl: float = Field(60.0, env="ACCOUNTS_CACHE_PORTFOLIO_TTL")
    lookup_ttl: float = Field(60.0, env="ACCOUNTS_CACHE_LOOKUP_TTL")
    stale_limit: float = Field(1800.0, env="ACCOUNTS_CACHE_STALE_LIMIT")

    secrets = ("token",)

    class Config:
        env_prefix = "ACCOUNTS_API_"

    @validator("base_url")
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def backoff(self) -> Backoff:
        return Backoff(self.backoff_base, self.backoff_cap)


class _Transient(Exception):
    """A failure worth retrying (5xx, 429, an exhausted call budget)."""


# What a retry may cure: the API's 5xx/429, timeouts, connection errors, a cut-off or garbled body.
TRANSIENT = (_Transient, aiohttp.ClientError, asyncio.TimeoutError, ValueError)


def idempotency_key(*parts: object) -> str:
    """A deterministic key from what makes a write unique, so a repeat by anyone maps to the same key."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:40]


class AccountsClient:
    """Async client; create it inside a running event loop (`get_client()` does) and `close()` it at the end."""

    def __init__(self, settings: ClientSettings, cache: Cache | None = None) -> None:
        self.settings = settings
        self.breaker = CircuitBreaker(settings.breaker_failures, settings.breaker_reset)
        self.cache: Cache = cache or (
            RedisCache(settings.redis_url, settings.cache_prefix) if settings.redis_url else MemoryCache()
        )
        self.session = aiohttp.ClientSession(
            base_url=settings.base_url,
            headers={"Authorization": f"Bearer {settings.token}", "Accept": "application/json"},
            connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300),
        )
        self.stats = {"calls": 0, "attempts": 0, "retries": 0, "cache_hits": 0, "stale_served": 0, "fast_fails": 0}

    async def close(self) -> None:
        await self.session.close()
        await self.cache.close()

    # --- transport --------------------------------------------------------------------------------------------
    async def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                       body: JSON | None = None, key: str | None = None) -> tuple[int, JSON]:
        """One call with its retries, measured (`mfa_accounts_api_request_seconds`)."""
        started, outcome = time.monotonic(), "error"
        try:
            status, data = await self._attempts(method, path, params=params, body=body, key=key)
            outcome = "ok" if status < 400 else f"{status // 100}xx"
            return status, data
        except ApiUnavailable as exc:
            outcome = exc.code or "unavailable"
            raise
        finally:
            metrics.API_SECONDS.labels(endpoint_label(method, path), outcome).observe(time.monotonic() - started)
            metrics.BREAKER_OPEN.set(1 if self.breaker.state == "open" else 0)

    async def _attempts(self, method: str, path: str, *, params: dict[str, Any] | None,
                        body: JSON | None, key: str | None) -> tuple[int, JSON]:
        idempotent = method == "GET" or key is not None
        self.stats["calls"] += 1
        if not self.breaker.allow():
            self.stats["fast_fails"] += 1
            raise ApiUnavailable("account API circuit is open", "circuit_open")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.call_budget
        headers = {"Idempotency-Key": key} if key else {}
        if get_correlation_id():
            headers[CORRELATION_HEADER] = str(get_correlation_id())
        attempts = 0

        async def attempt(n: int) -> tuple[int, JSON]:
            nonlocal attempts
            attempts = n
            self.stats["attempts"] += 1
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise _Transient("call budget exhausted")
            timeout = aiohttp.ClientTimeout(total=min(self.settings.attempt_timeout, remaining))
            async with self.session.request(method, path, params=params, json=body, headers=headers,
                                            timeout=timeout) as response:
                data = await response.json(content_type=None) if response.content_length != 0 else {}
                if response.status >= 500 or response.status == 429:
                    raise _Transient(f"HTTP {response.status}")
                self.breaker.record_success()
                data = data or {}
                if response.headers.get("Idempotent-Replayed") == "true":
                    data["replayed"] = True  # the API had already done this write: a repeat, not a new one
                return response.status, data

        def count_retry(n: int, exc: Exception, pause: float) -> None:
            self.stats["retries"] += 1

        try:
            return await retry(attempt, max_attempts=self.settings.max_attempts, backoff=self.settings.backoff,
                               retryable=lambda exc: idempotent and isinstance(exc, TRANSIENT), deadline=deadline,
                               on_retry=count_retry)
        except TRANSIENT as exc:
            self.breaker.record_failure()
            logger.warning("account API %s %s failed after %d attempt(s): %s", method, mask_text(path), attempts, exc)
            raise ApiUnavailable(f"account API unavailable ({exc})", "unavailable") from exc

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> JSON:
        status, data = await self._request("GET", path, params=params)
        _raise_for(status, data)
        return data

    async def _post(self, path: str, body: JSON, key: str | None) -> tuple[int, JSON]:
        status, data = await self._request("POST", path, body=body, key=key or str(uuid.uuid4()))
        _raise_for(status, data)
        return status, data

    async def _cached(self, key: str, ttl: float, fetch: Any) -> JSON:
        """Fresh cache hit, else fetch and store; on ApiUnavailable fall back to a stale copy if young enough."""
        entry = await self.cache.get(key)
        if entry is not None and time.time() - entry[1] < ttl:
            self.stats["cache_hits"] += 1
            metrics.CACHE_REQUESTS.labels("hit").inc()
            return dict(entry[0])
        metrics.CACHE_REQUESTS.labels("miss").inc()
        try:
            value: JSON = await fetch()
        except ApiUnavailable:
            if entry is not None:
                self.stats["stale_served"] += 1
                return {**entry[0], "stale": True}
            raise
        await self.cache.set(key, value, max(ttl, self.settings.stale_limit))
        return value

    # --- reads ------------------------------------------------------------------------------------------------
    async def investor_by_mobile(self, mobile: str) -> JSON | None:
        """The investor whose folios carry this registered mobile, or None when it is not registered."""

        async def fetch() -> JSON:
            try:
                return await self._get(f"/v1/investors/by-mobile/{mobile}")
            except NotFound:
                return {"registered": False}

        data = await self._cached(f"mobile:{mobile}", self.settings.lookup_ttl, fetch)
        return None if data.get("registered") is False else data

    async def search_navs(self, query: str, limit: int = 5) -> JSON:
        norm = " ".join(query.lower().split())
        return await self._cached(f"nav:{norm}:{limit}", self.settings.nav_ttl,
                                  lambda: self._get("/v1/navs", {"q": norm, "limit": limit}))

    async def portfolio(self, investor_id: int, folio: str | None = None) -> JSON:
        params = {"folio": folio} if folio else None
        return await self._cached(f"portfolio:{investor_id}:{folio or 'all'}", self.settings.portfolio_ttl,
                                  lambda: self._get(f"/v1/investors/{investor_id}/portfolio", params))

    async def sips(self, investor_id: int) -> JSON:
        return await self._get(f"/v1/investors/{investor_id}/sips")

    async def transactions(self, investor_id: int, folio: str | None = None, limit: int = 5) -> JSON:
        params: dict[str, Any] = {"limit": limit}
        if folio:
            params["folio"] = folio
        return await self._get(f"/v1/investors/{investor_id}/transactions", params)

    async def kyc(self, investor_id: int) -> JSON:
        return await self._get(f"/v1/investors/{investor_id}/kyc")

    async def redemptions(self, investor_id: int, only_open: bool = True) -> JSON:
        return await self._get(f"/v1/investors/{investor_id}/redemptions", {"status": "open" if only_open else "all"})

    async def service_requests(self, investor_id: int) -> JSON:
        return await self._get(f"/v1/investors/{investor_id}/service-requests")

    # --- writes (never cached; always with an idempotency key) ------------------------------------------------
    async def issue_otp(self, mobile: str, key: str | None = None) -> JSON:
        return (await self._post("/v1/otp", {"mobile": mobile}, key))[1]

    async def verify_otp(self, otp_id: str, code: str, key: str | None = None) -> JSON:
        return (await self._post(f"/v1/otp/{otp_id}/verify", {"code": code}, key))[1]

    async def request_statement(self, investor_id: int, kind: str, folio: str | None = None,
                                key: str | None = None) -> JSON:
        body: JSON = {"kind": kind}
        if folio:
            body["folio"] = folio
        return (await self._post(f"/v1/investors/{investor_id}/statements", body, key))[1]

    async def create_service_request(self, investor_id: int, body: JSON, key: str | None = None) -> JSON:
        data = (await self._post(f"/v1/investors/{investor_id}/service-requests", body, key))[1]
        await self.cache.delete_prefix(f"portfolio:{investor_id}:")  # the whole portfolio and every folio's
        return data


def _raise_for(status: int, data: JSON) -> None:
    if 200 <= status < 300:
        return
    code, message = str(data.get("error", "")), str(data.get("message", f"HTTP {status}"))
    if status == 404:
        raise NotFound(message, code)
    if status == 410:
        raise OtpExpired(message, code)
    if status == 423:
        raise OtpLocked(message, int(data.get("retry_after", 0)))
    raise ApiRejected(message, code)


_clients: dict[int, AccountsClient] = {}


def get_client() -> AccountsClient:
    """The process's client for the running event loop, created on first use.

    rasa-sdk offers no start-up hook to the actions package, so the first action creates it (inside the
    server's loop, never at import). Keyed by loop so tests that run several loops each get a working session.
    """
    loop = asyncio.get_running_loop()
    client = _clients.get(id(loop))
    if client is None or client.session.closed:
        for key in [k for k, c in _clients.items() if c.session.closed]:
            _clients.pop(key, None)
        client = AccountsClient(ClientSettings.from_env())
        _clients[id(loop)] = client
    return client
