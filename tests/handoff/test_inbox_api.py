"""The inbox's guards, against the real service in embedded mode: CSRF, throttled sign-in, ownership,
the 24-hour window, and the embedded transport's token."""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

import pytest

from tests.handoff.conftest import handoff_events, handoff_service


def opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def call(op: urllib.request.OpenerDirector, url: str, body: Any = None, headers: dict[str, str] | None = None,
         form: bytes | None = None) -> tuple[int, Any]:
    data = form if form is not None else (json.dumps(body).encode() if body is not None else None)
    kind = "application/x-www-form-urlencoded" if form is not None else "application/json"
    request = urllib.request.Request(url, data, {"Content-Type": kind, **(headers or {})})
    try:
        with op.open(request, timeout=20) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def login(op: urllib.request.OpenerDirector, base: str, password: str) -> str:
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
    status, body = call(opener(), f"{base}/internal/events", events, {"Authorization": "Bearer internal-secret"})
    assert (status, body["applied"]) == (200, 5)

    agent = opener()
    assert "Investor support inbox" in login(agent, base, "correct-horse-battery")
    status, me = call(agent, f"{base}/api/me")
    csrf = {"X-CSRF-Token": me["csrf"]}
    ticket = call(agent, f"{base}/api/tickets")[1]["queue"][0]["id"]
    assert call(agent, f"{base}/api/tickets/{ticket}/claim", {})[0] == 403  # no CSRF token
    assert call(agent, f"{base}/api/tickets/{ticket}/claim", {}, csrf)[0] == 200
    status, body = call(agent, f"{base}/api/tickets/{ticket}/reply", {"text": "hi"}, csrf)
    assert status == 409 and "24-hour window" in body
    view = call(agent, f"{base}/api/tickets/{ticket}")[1]
    assert view["window"]["open"] is False and view["identity"] == {"whatsapp": "91XXXXXX0004"}

    guesser = opener()
    for _ in range(3):
        assert "Wrong" in login(guesser, base, "wrong-password")
    assert "Too many attempts" in login(guesser, base, "correct-horse-battery")  # throttled, even if right
    assert call(opener(), f"{base}/api/tickets")[0] == 401
