"""Webhook bodies read with a size cap, before anything else is done with them.

The webhook route is a Sanic *streaming* route, so Sanic does not buffer the body before the handler runs
(its own limit, REQUEST_MAX_SIZE, is Rasa's 100 MB for every route). `read_capped` then:

1. refuses a declared `Content-Length` above the cap without reading a byte of the body;
2. reads the body chunk by chunk and stops as soon as the bytes read pass the cap (chunked transfer has no
   declared length, and the declared one is not trusted further than HTTP framing makes it true).

Either way the caller answers 413 and nothing is hashed, parsed or queued. What happens to the unread rest is
HTTP housekeeping: a client that asked `Expect: 100-continue` is never asked for it and the connection is
closed; a client that is already sending has its remaining bytes discarded by Sanic (never buffered, at most
REQUEST_MAX_SIZE) so that it can read the 413 instead of a connection reset.
"""

from __future__ import annotations

from typing import Any


class BodyTooLarge(Exception):
    """The body is (or says it is) larger than the webhook accepts."""

    def __init__(self, size: int, limit: int, declared: bool) -> None:
        what = "declared" if declared else "read"
        super().__init__(f"{what} {size} bytes > limit {limit}")
        self.size = size
        self.limit = limit
        self.declared = declared


def declared_length(request: Any) -> int | None:
    """The request's Content-Length, or None when it has none (chunked) or it is not a number."""
    raw = request.headers.get("content-length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None  # Sanic itself refuses such a request before routing; never trusted here either


def _leave_unread(request: Any) -> None:
    """Do not ask an `Expect: 100-continue` client for the body we refused; close instead of reusing."""
    stream = getattr(request, "stream", None)
    if stream is None or not getattr(stream, "expecting_continue", False):
        return  # the client is sending already: Sanic discards the rest so the client can read our answer
    stream.expecting_continue = False
    stream.request_body = None
    stream.keep_alive = False


async def read_capped(request: Any, limit: int) -> bytes:
    """The raw body, at most `limit` bytes; BodyTooLarge otherwise (nothing beyond the limit is kept)."""
    declared = declared_length(request)
    if declared is not None and declared > limit:
        _leave_unread(request)
        raise BodyTooLarge(declared, limit, declared=True)
    body = bytearray(request.body or b"")  # non-streaming route (or already read): Sanic read it for us
    stream = getattr(request, "stream", None)
    if len(body) <= limit and stream is not None and getattr(stream, "request_body", None):
        async for chunk in stream:
            body += chunk
            if len(body) > limit:
                break
    if len(body) > limit:
        raise BodyTooLarge(len(body), limit, declared=False)
    return bytes(body)
