"""The agent inbox: sign-in page, the single-page inbox, its JSON API and the live event stream (SSE).

Every state-changing request needs the session cookie (HttpOnly, SameSite=Strict) and the session's CSRF
token in the `X-CSRF-Token` header (or the `csrf` form field).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sanic import Blueprint, Request, response
from sanic.response import HTTPResponse
from sqlalchemy import select

from handoff import auth, service
from handoff.assignment import assign_waiting
from handoff.ingest import active_ticket, message_payload
from handoff.models import Agent, Audit, CannedResponse, Message, Ticket, utcnow
from handoff.rasa_client import RasaError

bp = Blueprint("inbox")


def _json_error(status: int, message: str) -> HTTPResponse:
    return response.json({"error": message}, status=status)


# The service's refusals, caught around each ticket transaction (not app-wide: a KeyError elsewhere is a bug,
# not a 404). LookupError = no such ticket.
REFUSALS = (LookupError, service.Forbidden, service.Conflict)


def _refused(exc: Exception) -> HTTPResponse:
    """One mapping of a refusal to its HTTP status."""
    status = 403 if isinstance(exc, service.Forbidden) else 409 if isinstance(exc, service.Conflict) else 404
    return _json_error(status, str(exc))


def _client(request: Request) -> str:
    return str(request.headers.get("x-forwarded-for", "").split(",")[0].strip() or request.ip)


def _current(request: Request, *, write: bool) -> tuple[Agent, Any] | HTTPResponse:
    """The signed-in agent and session; for writes also checks the CSRF token."""
    db = request.app.ctx.db
    with db.transaction() as s:
        found = auth.load_session(s, request.cookies.get(auth.COOKIE))
    if found is None:
        return _json_error(401, "sign in again")
    agent, ws = found
    if write:
        supplied = request.headers.get("x-csrf-token") or (request.form.get("csrf") if request.form else None)
        if not auth.csrf_ok(ws, supplied):
            return _json_error(403, "missing or wrong CSRF token")
    return agent, ws


def _publish_ticket(request: Request, ticket_id: int, data: dict[str, Any]) -> None:
    request.app.ctx.live.publish("ticket", {"ticket_id": ticket_id, **data})


# ---- pages -----------------------------------------------------------------------------------------------


@bp.get("/login")
async def login_page(request: Request) -> HTTPResponse:
    messages = {"bad": "Wrong e-mail or password.", "throttled": "Too many attempts. Wait a few minutes."}
    error = messages.get(str(request.args.get("error") or ""))
    html = request.app.ctx.templates.get_template("login.html").render(error=error)
    return response.html(html)


@bp.post("/login")
async def login(request: Request) -> HTTPResponse:
    settings = request.app.ctx.settings
    form = request.form or {}
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    with request.app.ctx.db.transaction() as s:
        try:
            agent = auth.authenticate(
                s,
                email=email,
                password=password,
                client=_client(request),
                max_failures=settings.login_max_failures,
                window_seconds=settings.login_window_seconds,
            )
        except auth.TooManyAttempts:
            return response.redirect("/login?error=throttled", status=303)
        if agent is None:
            return response.redirect("/login?error=bad", status=303)
        token, _ = auth.create_session(s, agent, settings.session_hours)
        agent.available = True
        s.add(Audit(action="login", agent_id=agent.id, detail={"client": _client(request)}))
        assigned = assign_waiting(s, default_capacity=settings.agent_capacity) if settings.auto_assign else []
    for tid, aid in assigned:
        _publish_ticket(request, tid, {"assigned_agent_id": aid})
    resp = response.redirect("/", status=303)
    resp.cookies[auth.COOKIE] = token
    cookie = resp.cookies[auth.COOKIE]
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["path"] = "/"
    cookie["max-age"] = int(settings.session_hours * 3600)
    if settings.cookie_secure:
        cookie["secure"] = True
    return resp


@bp.post("/logout")
async def logout(request: Request) -> HTTPResponse:
    found = _current(request, write=True)
    if isinstance(found, HTTPResponse):
        return found
    agent, _ = found
    with request.app.ctx.db.transaction() as s:
        auth.end_session(s, request.cookies.get(auth.COOKIE))
        a = s.get(Agent, agent.id)
        a.available = False
        s.add(Audit(action="logout", agent_id=agent.id, detail={}))
    resp = response.json({"ok": True})
    del resp.cookies[auth.COOKIE]
    return resp


@bp.get("/")
async def inbox_page(request: Request) -> HTTPResponse:
    with request.app.ctx.db.transaction() as s:
        found = auth.load_session(s, request.cookies.get(auth.COOKIE))
    if found is None:
        return response.redirect("/login")
    agent, ws = found
    html = request.app.ctx.templates.get_template("inbox.html").render(agent=agent, csrf=ws.csrf_token)
    return response.html(html, headers={"Cache-Control": "no-store"})


# ---- JSON API --------------------------------------------------------------------------------------------


@bp.get("/api/me")
async def me(request: Request) -> HTTPResponse:
    found = _current(request, write=False)
    if isinstance(found, HTTPResponse):
        return found
    agent, ws = found
    return response.json(
        {"id": agent.id, "name": agent.name, "role": agent.role, "available": agent.available, "csrf": ws.csrf_token}
    )


@bp.post("/api/me/availability")
async def availability(request: Request) -> HTTPResponse:
    found = _current(request, write=True)
    if isinstance(found, HTTPResponse):
        return found
    agent, _ = found
    settings = request.app.ctx.settings
    with request.app.ctx.db.transaction() as s:
        a = s.get(Agent, agent.id)
        a.available = bool((request.json or {}).get("available"))
        s.add(Audit(action="availability", agent_id=agent.id, detail={"available": a.available}))
        assigned = assign_waiting(s, default_capacity=settings.agent_capacity) if settings.auto_assign else []
    for tid, aid in assigned:
        _publish_ticket(request, tid, {"assigned_agent_id": aid})
    return response.json({"available": a.available})


@bp.get("/api/tickets")
async def tickets(request: Request) -> HTTPResponse:
    found = _current(request, write=False)
    if isinstance(found, HTTPResponse):
        return found
    agent, _ = found
    with request.app.ctx.db.transaction() as s:
        return response.json(service.list_tickets(s, agent))


@bp.get("/api/tickets/<ticket_id:int>")
async def ticket(request: Request, ticket_id: int) -> HTTPResponse:
    found = _current(request, write=False)
    if isinstance(found, HTTPResponse):
        return found
    agent, _ = found
    settings = request.app.ctx.settings
    try:
        with request.app.ctx.db.transaction() as s:
            t = service.ticket_for(s, ticket_id, agent, write=False)
            view = service.ticket_view(s, t, agent, window_hours=settings.window_hours)
            view["template"] = settings.reopen_template
            return response.json(view)
    except REFUSALS as exc:
        return _refused(exc)


async def _mutate(request: Request, ticket_id: int, action: Any, *, needs_owner: bool = True) -> HTTPResponse:
    found = _current(request, write=True)
    if isinstance(found, HTTPResponse):
        return found
    agent, _ = found
    try:
        with request.app.ctx.db.transaction() as s:
            t = service.ticket_for(s, ticket_id, s.get(Agent, agent.id), write=needs_owner)
            result = action(s, t, s.get(Agent, agent.id)) or {}
            data = {"status": t.status, "assigned_agent_id": t.assigned_agent_id}
    except REFUSALS as exc:
        return _refused(exc)
    _publish_ticket(request, ticket_id, data)
    return response.json({"ok": True, **data, **result})


@bp.post("/api/tickets/<ticket_id:int>/claim")
async def claim(request: Request, ticket_id: int) -> HTTPResponse:
    cap = request.app.ctx.settings.agent_capacity
    return await _mutate(
        request, ticket_id, lambda s, t, a: service.claim(s, t, a, default_capacity=cap), needs_owner=False
    )


@bp.post("/api/tickets/<ticket_id:int>/assign")
async def assign(request: Request, ticket_id: int) -> HTTPResponse:
    to = (request.json or {}).get("agent_id")
    return await _mutate(
        request, ticket_id, lambda s, t, a: service.reassign(s, t, a, int(to) if to else None), needs_owner=False
    )


@bp.post("/api/tickets/<ticket_id:int>/status")
async def status(request: Request, ticket_id: int) -> HTTPResponse:
    new = str((request.json or {}).get("status") or "")
    return await _mutate(request, ticket_id, lambda s, t, a: service.set_status(s, t, a, new))


@bp.post("/api/tickets/<ticket_id:int>/notes")
async def note(request: Request, ticket_id: int) -> HTTPResponse:
    body = str((request.json or {}).get("body") or "").strip()
    if not body:
        return _json_error(400, "empty note")
    return await _mutate(
        request, ticket_id, lambda s, t, a: {"note_id": service.add_note(s, t, a, body).id}, needs_owner=False
    )


@bp.post("/api/tickets/<ticket_id:int>/reply")
async def reply(request: Request, ticket_id: int) -> HTTPResponse:
    """Store the reply as 'sending', hand it to Rasa, then mark it sent or failed; the tab sees each step."""
    found = _current(request, write=True)
    if isinstance(found, HTTPResponse):
        return found
    agent, _ = found
    settings = request.app.ctx.settings
    payload = request.json or {}
    use_template = bool(payload.get("template"))
    text = str(payload.get("text") or "").strip()
    if not use_template and not text:
        return _json_error(400, "empty reply")
    if len(text) > 4096:
        return _json_error(400, "WhatsApp messages are limited to 4096 characters")
    client_id = uuid.uuid4().hex
    try:
        with request.app.ctx.db.transaction() as s:
            t = service.ticket_for(s, ticket_id, s.get(Agent, agent.id), write=True)
            if t.status == "resolved":
                raise service.Conflict("ticket already resolved")
            conv = t.conversation
            win = service.window(conv, settings.window_hours, utcnow())
            if not use_template and not win["open"]:
                raise service.Conflict("the 24-hour window has closed: send the approved template instead")
            if use_template:
                text = f"[template: {settings.reopen_template}]"
            msg = Message(
                conversation_id=conv.id, ticket_id=t.id, kind="agent", text=text, agent_id=agent.id,
                client_id=client_id, delivery="sending", created_at=utcnow(),
            )
            s.add(msg)
            s.add(Audit(action="reply_sent", agent_id=agent.id, ticket_id=t.id, detail={"template": use_template}))
            s.flush()
            sender_id = conv.sender_id
            live = message_payload(msg)
            msg_id = msg.id
    except REFUSALS as exc:
        return _refused(exc)
    request.app.ctx.live.publish("message", live)
    custom = (
        {"type": "template", "template": {"name": settings.reopen_template, "language": {"code": "en"}}}
        if use_template
        else None
    )
    error = None
    try:
        await request.app.ctx.rasa.send_agent_message(
            sender_id, text=text, client_id=client_id, agent_name=agent.name, custom=custom
        )
    except RasaError as exc:
        error = str(exc)
    with request.app.ctx.db.transaction() as s:
        m = s.get(Message, msg_id)
        if m.delivery == "sending":  # the broker's echo may already have marked it sent
            m.delivery = "failed" if error else "sent"
        t = s.get(Ticket, ticket_id)
        if not error and t.first_response_at is None:
            t.first_response_at = utcnow()
        live = message_payload(m)
    request.app.ctx.live.publish("message", live)
    if error:
        return _json_error(502, error)
    return response.json({"ok": True, "message_id": msg_id})


@bp.post("/api/tickets/<ticket_id:int>/close")
async def close(request: Request, ticket_id: int) -> HTTPResponse:
    """Resolve the ticket and resume the bot through Rasa; reopened if Rasa cannot be reached."""
    found = _current(request, write=True)
    if isinstance(found, HTTPResponse):
        return found
    agent, _ = found
    settings = request.app.ctx.settings
    try:
        with request.app.ctx.db.transaction() as s:
            t = service.ticket_for(s, ticket_id, s.get(Agent, agent.id), write=True)
            if t.status == "resolved":
                raise service.Conflict("ticket already resolved")
            t.status = "resolved"
            t.resolved_at = utcnow()
            sender_id = t.conversation.sender_id
            s.add(Audit(action="ticket_closed", agent_id=agent.id, ticket_id=t.id, detail={}))
    except REFUSALS as exc:
        return _refused(exc)
    try:
        await request.app.ctx.rasa.resume(sender_id)
    except RasaError as exc:
        with request.app.ctx.db.transaction() as s:
            t = s.get(Ticket, ticket_id)
            if active_ticket(s, t.conversation_id) is None:
                t.status, t.resolved_at = "open", None
                s.add(Audit(action="ticket_reopened", agent_id=agent.id, ticket_id=t.id, detail={"why": "rasa"}))
        return _json_error(502, f"could not hand back to the bot: {exc}")
    with request.app.ctx.db.transaction() as s:
        assigned = assign_waiting(s, default_capacity=settings.agent_capacity) if settings.auto_assign else []
    _publish_ticket(request, ticket_id, {"status": "resolved"})
    for tid, aid in assigned:
        _publish_ticket(request, tid, {"assigned_agent_id": aid})
    return response.json({"ok": True, "status": "resolved"})


@bp.get("/api/canned")
async def canned(request: Request) -> HTTPResponse:
    found = _current(request, write=False)
    if isinstance(found, HTTPResponse):
        return found
    with request.app.ctx.db.transaction() as s:
        rows = s.execute(select(CannedResponse).order_by(CannedResponse.title)).scalars().all()
        return response.json([{"id": c.id, "title": c.title, "body": c.body} for c in rows])


@bp.get("/api/agents")
async def agents(request: Request) -> HTTPResponse:
    found = _current(request, write=False)
    if isinstance(found, HTTPResponse):
        return found
    with request.app.ctx.db.transaction() as s:
        return response.json(service.agents_overview(s, request.app.ctx.settings.agent_capacity))


@bp.get("/api/audit")
async def audit(request: Request) -> HTTPResponse:
    found = _current(request, write=False)
    if isinstance(found, HTTPResponse):
        return found
    agent, _ = found
    if agent.role != "supervisor":
        return _json_error(403, "supervisors only")
    q = select(Audit).order_by(Audit.id.desc()).limit(500)
    if request.args.get("ticket_id"):
        q = q.where(Audit.ticket_id == int(request.args.get("ticket_id")))
    with request.app.ctx.db.transaction() as s:
        rows = s.execute(q).scalars().all()
        return response.json(
            [
                {"id": r.id, "at": r.at.isoformat() + "Z", "agent_id": r.agent_id, "action": r.action,
                 "ticket_id": r.ticket_id, "detail": r.detail}
                for r in rows
            ]
        )


@bp.get("/events")
async def events(request: Request) -> HTTPResponse | None:
    """Server-sent events: every ticket and message change, as it is committed."""
    found = _current(request, write=False)
    if isinstance(found, HTTPResponse):
        return found
    agent, _ = found
    hub = request.app.ctx.live
    sub = hub.subscribe(agent.id, agent.role)
    try:
        resp = await request.respond(
            content_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )
        await resp.send("retry: 2000\nevent: hello\ndata: {}\n\n")
        while not sub.overflowed:
            try:
                frame = await asyncio.wait_for(sub.queue.get(), timeout=15)
            except asyncio.TimeoutError:
                frame = ": keep-alive\n\n"
            await resp.send(frame)
        await resp.send("event: reload\ndata: {}\n\n")
        await resp.eof()
    finally:
        hub.unsubscribe(sub)
    return None
