"""The Review page and its JSON API (content and supervisor roles), and agents' flag API. Content users are kept
out of tickets and transcripts by the guard of every inbox route (roles) and by `service.ticket_for`.

Sign-in, sessions and CSRF are the inbox's (handoff/inbox.py): the page's forms carry the session's CSRF token in
a `csrf` field, API clients send `X-CSRF-Token`. A form post is answered with a redirect back to the page, a
JSON call with JSON. Every database access runs off the event loop (`await db.run(...)`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from sanic import Blueprint, Request, response
from sanic.response import HTTPResponse
from sqlalchemy.orm import Session

from handoff import service
from handoff.guard import REFUSALS, guarded, json_error, refused
from handoff.models import INBOX_ROLES, REVIEW_ROLES, Agent
from handoff.review import labels

bp = Blueprint("review")
DEFAULT_DAYS = 28
MAX_DAYS = 90
# What a form post's redirect may make the page say: `/review?error=<code>` names one of these fixed messages
# (an unknown code says nothing), so a link cannot put words of its own on the page.
ERRORS = {
    "invalid": "That was not saved: pick a label from the list; a new topic is lowercase letters, digits and _ "
               "(and not an existing one), with an answer of at most 1024 characters.",
    "forbidden": "Your role may not do that.",
    "conflict": "That was not saved: the group or the proposal changed, was decided, or a supervisor approved its "
                "label since you read it. Read it again below.",
    "not_found": "That group or proposal is no longer in the queue: read the page again below.",
}


def _error_code(exc: Exception) -> str:
    if isinstance(exc, labels.Refused):
        return "invalid"
    if isinstance(exc, service.Forbidden):
        return "forbidden"
    return "conflict" if isinstance(exc, service.Conflict) else "not_found"


def _days(request: Request) -> int:
    raw = request.args.get("days") or (request.form.get("days") if request.form else None) or DEFAULT_DAYS
    try:
        return max(1, min(MAX_DAYS, int(raw)))
    except ValueError:
        return DEFAULT_DAYS


def _payload(request: Request) -> dict[str, Any]:
    if request.form:
        return {k: request.form.get(k) for k in request.form}
    return dict(request.json or {}) if isinstance(request.json, dict) else {}


def _answer(request: Request, result: dict[str, Any] | None, error: Exception | None) -> HTTPResponse:
    """A form post goes back to the page (with the error's code, if any); a JSON call gets JSON."""
    if request.form:
        query = {"days": _days(request), **({"error": _error_code(error)} if error else {})}
        return response.redirect(f"/review?{urlencode(query)}", status=303)
    if isinstance(error, labels.Refused):
        return json_error(400, str(error))
    if error:
        return refused(error)
    return response.json(result)


async def _review(request: Request, work: Any) -> HTTPResponse:
    """Run `work(session, agent)` in a transaction and answer (the route's guard checked sign-in, CSRF, role)."""
    agent: Agent = request.ctx.agent
    try:
        result = await request.app.ctx.db.run(lambda s: work(s, s.get(Agent, agent.id)))
    except (labels.Refused, *REFUSALS) as exc:
        return _answer(request, None, exc)
    return _answer(request, result, None)


@bp.get("/review")
@guarded(page=True)
async def review_page(request: Request) -> HTTPResponse:
    agent, ws = request.ctx.agent, request.ctx.web_session
    if agent.role not in REVIEW_ROLES:
        return response.html("<p>The Review page is for the content team and supervisors.</p>", status=403)
    days = _days(request)
    data = await request.app.ctx.db.run(lambda s: labels.queue(s, days=days))
    html = request.app.ctx.templates.get_template("review.html").render(
        agent=agent, csrf=ws.csrf_token, error=ERRORS.get(str(request.args.get("error") or ""), ""), **data
    )
    return response.html(html)


@bp.get("/api/review")
@guarded(roles=REVIEW_ROLES)
async def review_queue(request: Request) -> HTTPResponse:
    days = _days(request)
    return response.json(await request.app.ctx.db.run(lambda s: labels.queue(s, days=days)))


@bp.post("/api/review/labels")
@guarded(write=True, roles=REVIEW_ROLES)
async def assign_label(request: Request) -> HTTPResponse:
    body, days = _payload(request), _days(request)
    key, label, shown = (str(body.get(k) or "") for k in ("key", "label", "shown"))
    return await _review(request, lambda s, a: labels.assign(s, a, key=key, label=label, days=days, shown=shown))


@bp.post("/api/review/proposals")
@guarded(write=True, roles=REVIEW_ROLES)
async def propose_topic(request: Request) -> HTTPResponse:
    body, days = _payload(request), _days(request)
    key, topic, answer, shown = (str(body.get(k) or "") for k in ("key", "topic", "answer", "shown"))

    def work(s: Session, a: Agent) -> dict[str, Any]:
        return labels.propose(s, a, key=key, topic=topic, answer=answer, days=days, shown=shown)

    return await _review(request, work)


@bp.post("/api/review/proposals/<label_id:int>/decision")
@guarded(write=True, roles=("supervisor",))
async def decide(request: Request, label_id: int) -> HTTPResponse:
    body = _payload(request)
    approve, seen = body.get("decision") in ("approve", True), str(body.get("decision_hash") or "")

    def work(s: Session, a: Agent) -> dict[str, Any]:
        return labels.decide(s, a, label_id=label_id, approve=approve, seen=seen)

    return await _review(request, work)


@bp.post("/api/messages/<message_id:int>/flag")
@guarded(write=True, roles=INBOX_ROLES)
async def flag(request: Request, message_id: int) -> HTTPResponse:
    """Agents: "the bot should have understood this"; the message joins the review queue. Any id (also one
    beyond a 64-bit integer) that is not an investor line of a ticket the agent may read is the same 404."""
    return await _review(request, lambda s, a: labels.flag(s, a, message_id=message_id))

