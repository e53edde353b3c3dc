"""A browser-less inbox client for tests: cookie-keeping HTTP calls and the live stream (`/events`) read frame
by frame. Every read blocks on the socket with a timeout, so tests wait for what they expect, never a clock."""

from __future__ import annotations

import http.cookiejar
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode


def opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def request(op: urllib.request.OpenerDirector, url: str, body: Any = None, headers: dict[str, str] | None = None,
            form: bytes | None = None) -> Reply:
    """One call (redirects followed); the body parsed as JSON when it looks like JSON."""
    data = form if form is not None else (json.dumps(body).encode() if body is not None else None)
    kind = "application/x-www-form-urlencoded" if form is not None else "application/json"
    req = urllib.request.Request(url, data, {"Content-Type": kind, **(headers or {})})
    try:
        with op.open(req, timeout=30) as resp:
            raw, status, got = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as exc:
        raw, status, got = exc.read(), exc.code, dict(exc.headers)
    parsed = json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode()
    return Reply(status, parsed, got)


def call(op: urllib.request.OpenerDirector, url: str, body: Any = None, headers: dict[str, str] | None = None,
         form: bytes | None = None) -> tuple[int, Any]:
    reply = request(op, url, body, headers, form)
    return reply.status, reply.body


def sign_in(op: urllib.request.OpenerDirector, base: str, email: str, password: str,
            forwarded_for: str | None = None) -> Reply:
    """POST the sign-in form as the login page does (optionally as if through a proxy)."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    form = urlencode({"email": email, "password": password}).encode()
    return request(op, f"{base}/login", headers=headers, form=form)


class EventStream:
    """An open `/events` stream of one signed-in tab."""

    def __init__(self, op: urllib.request.OpenerDirector, base: str) -> None:
        self.response = op.open(urllib.request.Request(f"{base}/events"), timeout=30)
        self.headers = dict(self.response.headers)
        self.events: list[tuple[str, Any]] = []
        self.wait_for(lambda event, _: event == "hello")  # subscribed from here on

    def next_event(self) -> tuple[str, Any]:
        event, data = "message", []
        while True:
            line = self.response.readline()
            if not line:
                raise EOFError("the stream ended")
            text = line.decode().rstrip("\r\n")
            if not text:
                if data:
                    parsed = (event, json.loads("\n".join(data)))
                    self.events.append(parsed)
                    return parsed
                event = "message"
                continue
            name, _, value = text.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)

    def wait_for(self, predicate: Callable[[str, Any], bool], timeout: float = 60) -> tuple[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event, data = self.next_event()
            if predicate(event, data):
                return event, data
        raise AssertionError(f"not received within {timeout}s; got {self.events}")

    def close(self) -> None:
        self.response.close()
