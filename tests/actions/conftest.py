"""Fixtures for the account actions: a real stand-in, real Redis under a per-run prefix, and trackers."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from actions.api.accounts import AccountsClient, ClientSettings
from tests.e2e_support.stack import AccountsApi, start_accounts_api


@pytest.fixture(scope="session")
def accounts_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AccountsApi]:
    started = start_accounts_api(tmp_path_factory.mktemp("actions_api"), name="accounts-api-actions")
    yield started
    started.process.stop()


@pytest.fixture(autouse=True)
def no_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests that use the stand-in start and end without injected faults."""
    if "accounts_api" not in request.fixturenames:
        yield
        return
    api: AccountsApi = request.getfixturevalue("accounts_api")
    api.reset_faults()
    yield
    api.reset_faults()


@pytest.fixture
def cache_prefix(run_id: str, request: pytest.FixtureRequest) -> str:
    return f"{run_id}:{request.node.name[:40]}:{time.monotonic_ns()}:"


@pytest.fixture
def settings(accounts_api: AccountsApi, redis_url: str, cache_prefix: str) -> ClientSettings:
    return ClientSettings(base_url=accounts_api.url, token=accounts_api.token, redis_url=redis_url,
                          cache_prefix=cache_prefix, breaker_reset=0.5)


@pytest.fixture
async def client(settings: ClientSettings) -> AsyncIterator[AccountsClient]:
    made = AccountsClient(settings)
    yield made
    await made.close()


@pytest.fixture
def action_env(accounts_api: AccountsApi, redis_url: str, cache_prefix: str,
               monkeypatch: pytest.MonkeyPatch) -> AccountsApi:
    """Environment for actions run in-process (they build their client from it via get_client())."""
    monkeypatch.setenv("ACCOUNTS_API_URL", accounts_api.url)
    monkeypatch.setenv("ACCOUNTS_API_TOKEN", accounts_api.token)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("ACCOUNTS_CACHE_PREFIX", cache_prefix)
    monkeypatch.setenv("ACCOUNTS_API_BREAKER_RESET", "0.5")
    return accounts_api


def user_event(text: str, intent: str, entities: dict[str, Any] | None = None) -> dict[str, Any]:
    parse = {"text": text, "intent": {"name": intent, "confidence": 1.0},
             "entities": [{"entity": k, "value": v} for k, v in (entities or {}).items()],
             "message_id": f"m{time.time_ns()}"}
    return {"event": "user", "text": text, "parse_data": parse, "message_id": parse["message_id"],
            "input_channel": "whatsapp"}
