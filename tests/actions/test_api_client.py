"""The account API client against the real stand-in and real Redis: cache, retries, breaker, timeouts."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis

from actions.api import ApiUnavailable, NotFound, OtpLocked
from actions.api.accounts import AccountsClient, ClientSettings, idempotency_key
from actions.api.breaker import CircuitBreaker
from actions.api.cache import Cache, MemoryCache, RedisCache
from tests.e2e_support.stack import AccountsApi

ASHA, RAHUL = "919800000001", "919800000002"


async def test_lookup_and_unregistered(client: AccountsClient) -> None:
    investor = await client.investor_by_mobile(RAHUL)
    assert investor is not None and investor["name"] == "Rahul Mehta"
    assert await client.investor_by_mobile("919800000099") is None


async def test_portfolio_is_cached_in_redis_with_expiry(client: AccountsClient, accounts_api: AccountsApi,
                                                        redis_url: str, cache_prefix: str) -> None:
    investor = await client.investor_by_mobile(ASHA)
    assert investor is not None
    first = await client.portfolio(investor["investor_id"])
    ttl = redis.Redis.from_url(redis_url).pttl(f"{cache_prefix}portfolio:{investor['investor_id']}:all")
    assert 0 < ttl <= client.settings.stale_limit * 1000
    accounts_api.faults(outage=True)  # a fresh cache entry answers without the API
    assert await client.portfolio(investor["investor_id"]) == first
    assert client.stats["cache_hits"] >= 1


@pytest.mark.parametrize("backend", ["redis", "memory"])
async def test_delete_prefix_drops_every_entry_under_it_and_nothing_else(backend: str, redis_url: str,
                                                                         cache_prefix: str) -> None:
    # Glob characters in the cache's prefix and in the deleted prefix are taken literally by SCAN's MATCH.
    cache: Cache = RedisCache(redis_url, cache_prefix + "[a]?*:") if backend == "redis" else MemoryCache()
    keys = ["portfolio:7:all", "portfolio:7:1234/56", "portfolio:71:all", "portfolio:7x", "mobile:7", "p*:1",
            "pX:1"]
    for key in keys:
        await cache.set(key, {"k": key}, 60)
    await cache.delete_prefix("portfolio:7:")
    await cache.delete_prefix("p*:")
    left = {key for key in keys if await cache.get(key) is not None}
    await cache.close()
    assert left == {"portfolio:71:all", "portfolio:7x", "mobile:7", "pX:1"}


async def test_a_service_request_invalidates_every_cached_portfolio_view(client: AccountsClient,
                                                                        accounts_api: AccountsApi,
                                                                        redis_url: str, cache_prefix: str) -> None:
    investor = await client.investor_by_mobile(accounts_api.investors(limit=1, offset=130)[0]["mobile"])
    assert investor is not None
    whole = await client.portfolio(investor["investor_id"])
    for folio in whole["folios"]:
        await client.portfolio(investor["investor_id"], folio["number"])
    server = redis.Redis.from_url(redis_url)
    cached = f"{cache_prefix}portfolio:{investor['investor_id']}:*"
    assert len(server.keys(cached)) == 1 + len(whole["folios"])
    await client.create_service_request(investor["investor_id"], {"kind": "contact_change", "field": "address"},
                                        key=idempotency_key("test", time.time_ns()))
    assert server.keys(cached) == []


async def test_stale_copy_answers_while_api_is_down(settings: ClientSettings, accounts_api: AccountsApi) -> None:
    client = AccountsClient(settings.copy(update={"nav_ttl": 0.1}))
    try:
        fresh = await client.search_navs("flexi cap")
        await asyncio.sleep(0.2)
        accounts_api.faults(outage=True)
        stale = await client.search_navs("flexi cap")
        assert stale["stale"] is True and stale["matches"] == fresh["matches"]
        with pytest.raises(ApiUnavailable):  # never cached: no stale fallback
            await client.kyc(1)
    finally:
        await client.close()


async def test_retries_ride_out_errors(client: AccountsClient, accounts_api: AccountsApi) -> None:
    accounts_api.faults(error_rate=0.3, seed=4)
    for _ in range(10):
        assert (await client.kyc(1))["investor_id"] == 1
    assert client.stats["retries"] > 0


async def test_post_without_idempotency_key_is_not_retried(client: AccountsClient, accounts_api: AccountsApi) -> None:
    accounts_api.faults(error_rate=1.0, lost_response_share=0.0)
    before = client.stats["attempts"]
    with pytest.raises(ApiUnavailable):
        await client._request("POST", "/v1/investors/1/statements", body={"kind": "cas"})
    assert client.stats["attempts"] - before == 1


async def test_write_retried_after_lost_response_is_placed_once(client: AccountsClient,
                                                                accounts_api: AccountsApi) -> None:
    investor = await client.investor_by_mobile(ASHA)
    assert investor is not None
    accounts_api.faults(error_rate=0.6, lost_response_share=1.0, seed=1)
    key = idempotency_key("test", time.time_ns())
    first = await client.request_statement(investor["investor_id"], "cas", key=key)
    accounts_api.reset_faults()
    again = await client.request_statement(investor["investor_id"], "cas", key=key)
    assert first["ref"] == again["ref"]


async def test_breaker_fails_fast_then_recovers(client: AccountsClient, accounts_api: AccountsApi) -> None:
    accounts_api.faults(outage=True)
    for _ in range(client.settings.breaker_failures):
        with pytest.raises(ApiUnavailable):
            await client.kyc(1)
    attempts = client.stats["attempts"]
    with pytest.raises(ApiUnavailable) as caught:
        await client.kyc(1)
    # Fast: refused before any request was made (no attempt counted), not timed on a possibly loaded machine.
    assert caught.value.code == "circuit_open" and client.stats["attempts"] == attempts
    accounts_api.reset_faults()
    await asyncio.sleep(client.settings.breaker_reset + 0.05)
    assert (await client.kyc(1))["investor_id"] == 1
    assert client.breaker.state == "closed"


async def test_slow_api_is_cut_by_timeouts(settings: ClientSettings, accounts_api: AccountsApi) -> None:
    client = AccountsClient(settings.copy(update={"attempt_timeout": 0.3, "call_budget": 1.0}))
    accounts_api.faults(latency_ms=2000)
    started = time.monotonic()
    try:
        with pytest.raises(ApiUnavailable):
            await client.kyc(1)
    finally:
        await client.close()
    assert time.monotonic() - started < 1.3


async def test_otp_errors_are_typed(client: AccountsClient, accounts_api: AccountsApi) -> None:
    mobile = accounts_api.investors(limit=1, offset=120)[0]["mobile"]
    try:
        for _ in range(3):
            issued = await client.issue_otp(mobile)
            await client.verify_otp(issued["otp_id"], "000000")
        with pytest.raises(OtpLocked) as caught:
            await client.issue_otp(mobile)
        assert caught.value.retry_after > 0
    finally:
        accounts_api.clear_locks(mobile)
    with pytest.raises(NotFound):
        await client.transactions(1, folio="0000")


async def test_embedded_mode_uses_the_in_process_cache(accounts_api: AccountsApi) -> None:
    client = AccountsClient(ClientSettings(base_url=accounts_api.url, token=accounts_api.token, redis_url=""))
    try:
        assert isinstance(client.cache, MemoryCache)
        await client.search_navs("liquid")
        await client.search_navs("liquid")
        assert client.stats["cache_hits"] == 1
    finally:
        await client.close()


def test_breaker_half_open_allows_one_trial() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=5, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 6
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.record_failure()
    assert breaker.state == "open"
    now[0] = 12
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"


async def test_memory_cache_expires() -> None:
    now = [100.0]
    cache = MemoryCache(clock=lambda: now[0])
    await cache.set("k", {"a": 1}, 10)
    assert await cache.get("k") == ({"a": 1}, 100.0)
    now[0] = 111
    assert await cache.get("k") is None
