"""The inbox's guards, against the real service in embedded mode: CSRF, throttled sign-in, ownership,
the 24-hour window, and the embedded transport's token and its refusal of malformed events (with the reason)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from tests.handoff.conftest import handoff_events, handoff_service
from tests.handoff.inbox_client import call, opener, request


def login(op: Any, base: str, password: str) -> str:
    status, body = call(op, f"{base}/login", form=f"email=lead%40example.com&password={quote(password)}".encode())
    assert status == 200
    return str(body)


@pytest.fixture
def service(pg_url: str) -> Any:
    proc = handoff_service("handoff-api", database_url=pg_url, HANDOFF_INTERNAL_TOKEN="internal-secret",
                           HANDOFF_LOGIN_MAX_FAILURES="3", HANDOFF_AUTO_ASSIGN="false")
    with proc:
        yield proc


def test_guards(service: Any) -> None:
    base = service.url
    events = handoff_events("919844400004", 1000.0)  # last investor message long ago: window closed
    assert call(opener(), f"{base}/internal/events", events)[0] == 401
    internal = {"Authorization": "Bearer internal-secret"}
    status, body = call(opener(), f"{base}/internal/events", [events[0], {"no": "sender"}], internal)
    assert status == 422 and "event 1: not a Rasa tracker event" in body["reasons"][0]  # nothing applied:
    status, body = call(opener(), f"{base}/internal/events", events, internal)  # the outbox sends one by one
    assert (status, body["applied"]) == (200, 5)

    agent = opener()
    assert "Investor support inbox" in login(agent, base, "correct-horse-battery")
    status, me = call(agent, f"{base}/api/me")
    csrf = {"X-CSRF-Token": me["csrf"]}
    ticket = call(agent, f"{base}/api/tickets")[1]["queue"][0]["id"]
    assert call(agent, f"{base}/api/tickets/{ticket}/claim", {})[0] == 403  # no CSRF token
    assert call(agent, f"{base}/api/tickets/{ticket}/claim", {}, csrf)[0] == 200
    status, body = call(agent, f"{base}/api/tickets/{ticket}/reply", {"text": "hi"}, csrf)
    assert status == 409 and "24-hour window" in body["error"]
    view = call(agent, f"{base}/api/tickets/{ticket}")[1]
    assert view["window"]["open"] is False and view["identity"] == {"whatsapp": "91XXXXXX0004"}

    guesser = opener()
    for _ in range(3):
        assert "Wrong" in login(guesser, base, "wrong-password")
    form = f"email=lead%40example.com&password={quote('correct-horse-battery')}".encode()
    throttled = request(guesser, f"{base}/login", form=form)  # backing off: refused even if right, unchecked
    assert throttled.status == 429 and "Too many attempts" in throttled.body
    assert int(throttled.headers["Retry-After"]) > 0
    assert call(opener(), f"{base}/api/tickets")[0] == 401
