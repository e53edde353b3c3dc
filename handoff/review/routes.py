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

from handoff.guard import REFUSALS, guarded, json_error, refused
from handoff.models import INBOX_ROLES, REVIEW_ROLES, Agent
from handoff.review import labels

bp = Blueprint("review")
DEFAULT_DAYS = 28
MAX_DAYS = 90
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


def _answer(request: Request, result: dict[str, Any] | None, error: tuple[int, str] | None) -> HTTPResponse:
    """A form post goes back to the page (with the error, if any); a JSON call gets JSON."""
    if request.form:
        query = {"days": _days(request), **({"error": error[1]} if error else {})}
        return response.redirect(f"/review?{urlencode(query)}", status=303)
    if error:
        return json_error(*error)
    return response.json(result)


async def _review(request: Request, work: Any) -> HTTPResponse:
    """Run `work(session, agent)` in a transaction and answer (the route's guard checked sign-in, CSRF, role)."""
    agent: Agent = request.ctx.agent
    try:
        result = await request.app.ctx.db.run(lambda s: work(s, s.get(Agent, agent.id)))
    except labels.Refused as exc:
        return _answer(request, None, (400, str(exc)))
    except REFUSALS as exc:
        return _answer(request, None, (refused(exc).status, str(exc)))
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
        agent=agent, csrf=ws.csrf_token, error=str(request.args.get("error") or ""), **data
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
    key, label = str(body.get("key") or ""), str(body.get("label") or "")
    return await _review(request, lambda s, a: labels.assign(s, a, key=key, label=label, days=days))


@bp.post("/api/review/proposals")
@guarded(write=True, roles=REVIEW_ROLES)
async def propose_topic(request: Request) -> HTTPResponse:
    body, days = _payload(request), _days(request)
    key, topic, answer = (str(body.get(k) or "") for k in ("key", "topic", "answer"))
    return await _review(request, lambda s, a: labels.propose(s, a, key=key, topic=topic, answer=answer, days=days))


@bp.post("/api/review/proposals/<label_id:int>/decision")
@guarded(write=True, roles=("supervisor",))
async def decide(request: Request, label_id: int) -> HTTPResponse:
    body = _payload(request)
    approve, seen = body.get("decision") in ("approve", True), str(body.get("answer_hash") or "")

    def work(s: Session, a: Agent) -> dict[str, Any]:
        return labels.decide(s, a, label_id=label_id, approve=approve, seen=seen)

    return await _review(request, work)


@bp.post("/api/messages/<message_id:int>/flag")
@guarded(write=True, roles=INBOX_ROLES)
async def flag(request: Request, message_id: int) -> HTTPResponse:
    """Agents: "the bot should have understood this"; the message joins the review queue."""
    return await _review(request, lambda s, a: labels.flag(s, a, message_id=message_id))

