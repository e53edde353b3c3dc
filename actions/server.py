"""The action server: `python -m actions.server` -- rasa-sdk's app behind a door that only our Rasa can open.

rasa-sdk's own server (`python -m rasa_sdk`) believes whatever tracker it is sent and has no option to
authenticate its caller; Rasa's docs assume nobody else can reach it. We do not assume that (docs/security.md):

- every request but `/health` must carry `Authorization: Bearer <ACTION_SERVER_TOKEN>` (compared in constant
  time); Rasa sends it from endpoints.yml (`action_endpoint.headers`);
- `/webhook` takes `application/json` only, at most `ACTION_SERVER_MAX_BODY_BYTES`, no `Content-Encoding`;
- no CORS (a browser has no business here), and errors never echo the request body (it holds the tracker).

Even an authenticated call cannot grant access to an account: the verified state is minted and checked by the
actions themselves (actions/sessions.py), never read from the tracker's slots.
"""

from __future__ import annotations

import argparse
import hmac
import logging
from typing import Any

from rasa_sdk.endpoint import create_app as create_sdk_app
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions import metrics
from actions.sessions import get_sessions
from common.config import env_int, env_secret, env_str
from common.logs import clean_correlation_id, configure_logging, set_correlation_id
from common.metrics import serve_metrics

logger = logging.getLogger(__name__)

PUBLIC_PATHS = frozenset({"/health", "/health/ready"})  # the kubelet's probes; /metrics is on METRICS_PORT
DEFAULT_MAX_BODY = 1_000_000  # a long conversation's tracker is a few hundred KB


def _refuse(status: int, message: str, reason: str = "") -> HTTPResponse:
    if reason:
        metrics.REFUSED.labels(reason).inc()
    return response.json({"error": message}, status=status)


def guard(request: Request, token: str, max_body: int) -> HTTPResponse | None:
    """The door: None lets the request through, otherwise the refusal to send."""
    if request.path in PUBLIC_PATHS:
        return None
    supplied = request.headers.get("authorization", "")
    if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
        logger.warning("actions.refused reason=unauthenticated path=%s peer=%s", request.path, request.ip)
        return _refuse(401, "authentication required", "unauthenticated")
    if request.method == "POST":
        if request.headers.get("content-encoding"):
            return _refuse(415, "no content encoding accepted", "encoding")
        if (request.content_type or "").split(";")[0].strip().lower() != "application/json":
            return _refuse(415, "application/json required", "content_type")
        if len(request.body or b"") > max_body:
            return _refuse(413, "request too large", "too_large")
    return None


# Rasa's slot for the metadata of the message that started a session (rasa.shared.core.constants; the action
# server's image has rasa-sdk only)
SESSION_START_METADATA_SLOT = "session_started_metadata"


def correlation_of(call: Any) -> str | None:
    """The id of the investor message this action call answers (the WhatsApp message id on that channel).

    `action_session_start` runs before Rasa logs the message that opened the session, so the tracker's latest
    message is still the previous session's: the id comes from the message's metadata (`correlation_id`, set by
    the channel), which Rasa hands to the session start in the `session_started_metadata` slot; None on a channel
    that sets none, rather than the previous session's id."""
    call = call if isinstance(call, dict) else {}
    tracker = call.get("tracker") if isinstance(call.get("tracker"), dict) else {}
    if call.get("next_action") == "action_session_start":
        slots = tracker.get("slots") if isinstance(tracker.get("slots"), dict) else {}
        metadata = slots.get(SESSION_START_METADATA_SLOT)
        return clean_correlation_id(metadata.get("correlation_id") if isinstance(metadata, dict) else None)
    latest = tracker.get("latest_message")
    return clean_correlation_id(latest.get("message_id") if isinstance(latest, dict) else None)


def malformed(call: Any) -> str | None:
    """What is wrong with an action call's shape (rasa-sdk would fail on it with a 500), or None."""
    if not isinstance(call, dict):
        return "the body is not an object"
    tracker = call.get("tracker")
    if not isinstance(call.get("next_action"), str):
        return "next_action must be a string"
    if not isinstance(tracker, dict) or not isinstance(tracker.get("sender_id"), str):
        return "tracker must be an object with a sender_id"
    if not isinstance(call.get("domain", {}), dict) or not isinstance(call.get("version", ""), str | None):
        return "domain must be an object and version a string"
    return None


def create_app(token: str | None = None, max_body: int | None = None) -> Sanic:
    """rasa-sdk's app (actions registered from the `actions` package) with our door in front of it."""
    token = token or env_secret("ACTION_SERVER_TOKEN", "dev-action-token")
    limit = max_body or env_int("ACTION_SERVER_MAX_BODY_BYTES", DEFAULT_MAX_BODY)
    app = create_sdk_app("actions", cors_origins=None)
    app.config.REQUEST_MAX_SIZE = limit + 1  # Sanic refuses larger bodies with 413 before reading them

    @app.on_request
    async def authenticate(request: Request) -> HTTPResponse | None:
        refused = guard(request, token, limit)
        if refused is None and request.path == "/webhook" and request.method == "POST":
            problem = malformed(request.json)
            if problem:
                return _refuse(400, f"malformed action call: {problem}", "malformed")
            set_correlation_id(correlation_of(request.json))
            call = request.json if isinstance(request.json, dict) else {}
            action = str(call.get("next_action"))[:80]
            metrics.CALLS.labels(action=action if action.startswith("action_") and action.isidentifier()
                                 else "other").inc()
            logger.info("actions.call action=%s", action)  # carries the message's id
        return refused

    @app.get("/health/ready")
    async def ready(request: Request) -> HTTPResponse:
        """Readiness: the stores an answer needs (Redis, when configured) answer; liveness stays `/health`."""
        try:
            await get_sessions().records.get("readiness-probe")
        except Exception as exc:  # ApiUnavailable from Redis, or anything else: not ready
            return response.json({"status": "unavailable", "redis": type(exc).__name__}, status=503)
        return response.json({"status": "ready"})

    @app.exception(Exception)
    async def failed(request: Request, exception: Exception) -> HTTPResponse:
        # rasa-sdk's own handler answers with the request body (the whole tracker): never echo it.
        status = int(getattr(exception, "status_code", 500) or 500)
        if status >= 500:
            logger.error("actions.error path=%s", request.path, exc_info=exception)
        return _refuse(status, "internal error" if status >= 500 else str(exception))

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-p", "--port", type=int, default=env_int("ACTION_SERVER_PORT", 5055))
    args = parser.parse_args(argv)
    configure_logging("actions")
    serve_metrics()
    app = create_app()
    host = env_str("ACTION_SERVER_HOST", "0.0.0.0")  # noqa: S104 - Rasa reaches it over the cluster network
    logger.info("Action server on %s:%d (authenticated)", host, args.port)
    app.run(host=host, port=args.port, access_log=False, workers=1)


if __name__ == "__main__":
    main()
