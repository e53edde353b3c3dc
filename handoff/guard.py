"""The one guard in front of every inbox, review and analytics route: who is signed in, and may they do this.

`@guarded(write=..., roles=..., page=...)` under a route's decorator: the session cookie must name a live
session (else 401, or a redirect to /login for a page); a write also needs the session's CSRF token (header
`X-CSRF-Token` or form field `csrf`, else 403); `roles` limits the route to those roles (else 403). The route
then finds the agent and the session in `request.ctx.agent` / `request.ctx.web_session`, and the service's
refusals it raises (no such ticket, forbidden, conflict) become their 4xx here, once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Coroutine
from typing import Any, TypeVar, cast

from sanic import Request, response
from sanic.response import HTTPResponse

from handoff import auth, service
from handoff.models import Agent

# The service's refusals (not app-wide: a KeyError elsewhere is a bug, not a 404). LookupError = no such ticket.
REFUSALS = (LookupError, service.Forbidden, service.Conflict)

Route = TypeVar("Route", bound=Callable[..., Coroutine[Any, Any, Any]])


def json_error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)


def refused(exc: Exception) -> HTTPResponse:
    """One mapping of a refusal to its HTTP status."""
    status = 403 if isinstance(exc, service.Forbidden) else 409 if isinstance(exc, service.Conflict) else 404
    return json_error(status, str(exc))


async def signed_in(request: Request) -> tuple[Agent, Any] | None:
    """The agent and web session the cookie names, or None."""
    token = request.cookies.get(auth.COOKIE)
    return await request.app.ctx.db.run(lambda s: auth.load_session(s, token))


def _csrf_ok(request: Request, ws: Any) -> bool:
    supplied = request.headers.get("x-csrf-token") or (request.form.get("csrf") if request.form else None)
    return bool(auth.csrf_ok(ws, supplied))


def guarded(
    *, write: bool = False, roles: Collection[str] | None = None, page: bool = False
) -> Callable[[Route], Route]:
    """Wrap a route in the guard described in the module docstring."""

    def wrap(handler: Route) -> Route:
        @functools.wraps(handler)
        async def route(request: Request, *args: Any, **kwargs: Any) -> Any:
            found = await signed_in(request)
            if found is None:
                return response.redirect("/login") if page else json_error(401, "sign in again")
            agent, ws = found
            if write and not _csrf_ok(request, ws):
                return json_error(403, "missing or wrong CSRF token")
            if roles is not None and agent.role not in roles:
                return json_error(403, "not for your role")
            request.ctx.agent, request.ctx.web_session = agent, ws
            try:
                return await handler(request, *args, **kwargs)
            except REFUSALS as exc:
                return refused(exc)

        return cast(Route, route)

    return wrap
