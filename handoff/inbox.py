"""The agent inbox: sign-in page, the single-page inbox, its JSON API and the live event stream (SSE).

Every state-changing request needs the session cookie (HttpOnly, SameSite=Strict) and the session's CSRF
token in the `X-CSRF-Token` header (or the `csrf` form field). What an agent may read is decided once, by
`service.ticket_for`, for the API and the live stream alike; both mask what they send the same way.

Every database access runs off the event loop (`await db.run(work)`, handoff/db.py), and so does the argon2
password check (handoff/auth.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from typing import Any

from sanic import Blueprint, Request, response
from sanic.response import HTTPResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from common.pii import mask_codes, mask_text
from handoff import auth, metrics, service
from handoff.assignment import assign_waiting
from handoff.guard import REFUSALS, guarded, json_error, signed_in
from handoff.ingest import active_ticket, message_payload
from handoff.live import Change, Delivery, Subscriber
from handoff.models import INBOX_ROLES, Agent, Audit, CannedResponse, Message, Ticket, utcnow
from handoff.rasa_client import RasaError

bp = Blueprint("inbox")


def client_address(request: Request) -> str:
    """The address the request came from: the socket's peer, or behind N trusted reverse proxies
    (HANDOFF_TRUSTED_PROXIES) the N-th X-Forwarded-For entry from the right, the one our outermost proxy wrote.

    Entries further left are whatever the client claimed and are never used; with 0 the header is ignored."""
    peer = str(request.ip or "unknown")
    trusted = int(request.app.ctx.settings.trusted_proxies)
    if trusted <= 0:
        return peer
    hops = [hop.strip() for value in request.headers.getall("x-forwarded-for", []) for hop in value.split(",")]
    hops = [hop for hop in hops if hop]
    if len(hops) < trusted:  # did not come through all our proxies
        return peer
    try:
        return str(ipaddress.ip_address(hops[-trusted]))
    except ValueError:
        return peer


# ---- what agents may see ---------------------------------------------------------------------------------

# A preview is cut after masking (service.ticket_summary); a code cut in two must not show its first digits.
# TODO(handoff.service): mask codes before the cut there, then drop PREVIEW_CHARS and `cut`.
PREVIEW_CHARS = 120
def agent_text(text: str | None) -> str:
    """A transcript line as agents see it: PII masked (common.pii) and one-time codes masked."""
    return mask_codes(mask_text(text or ""))


def _summary_for_agents(summary: dict[str, Any]) -> dict[str, Any]:
    preview = str(summary.get("preview") or "")
    return {**summary, "preview": mask_codes(preview, cut=len(preview) >= PREVIEW_CHARS)}


def _view_for_agents(view: dict[str, Any]) -> dict[str, Any]:
    """service.ticket_view already applied mask_text; add the code masking."""
    messages = [{**m, "text": mask_codes(m["text"] or "")} for m in view["messages"]]
    return {**view, "ticket": _summary_for_agents(view["ticket"]), "messages": messages}


def _may_read(session: Session, ticket_id: Any, agent: Agent) -> bool:
    """The API's own access rule (service.ticket_for, read access); a change with no ticket is nobody's."""
    if ticket_id is None:
        return False
    try:
        service.ticket_for(session, int(ticket_id), agent, write=False)
    except REFUSALS:
        return False
    return True


def live_audience(s: Session, changes: list[Change], subscribers: list[Subscriber]) -> list[Delivery]:
    """Which open tab gets which change, decided by the ticket API's rule when the change is sent (on the
    replica where the tab is, in one transaction `s` for the whole batch).

    A message reaches only the tabs allowed to read its ticket, masked like the API masks it. A ticket change
    reaches those in full; every other tab gets a bare `changed`, so its lists (read through the API) drop a
    ticket that left the queue without learning which or why."""
    ids = {int(data["ticket_id"]) for _, data in changes if data.get("ticket_id") is not None}
    loaded = s.execute(select(Ticket).where(Ticket.id.in_(ids))).scalars().all() if ids else []  # noqa: F841
    # `loaded` keeps the batch's tickets in the session (its identity map holds them only weakly), so the rule
    # below reads each once; and the rule's answer per (ticket, tab) is the same for the whole batch
    allowed: dict[Any, list[bool]] = {}
    out: list[Delivery] = []
    for kind, data in changes:
        ticket_id = data.get("ticket_id")
        if ticket_id not in allowed:
            allowed[ticket_id] = [_may_read(s, ticket_id, sub.agent) for sub in subscribers]
        if kind == "message" and not any(allowed[ticket_id]):
            continue  # nobody may read it: not even masked
        payload = {**data, "text": agent_text(data.get("text"))} if kind == "message" else data
        for sub, may_read in zip(subscribers, allowed[ticket_id], strict=True):
            if may_read:
                out.append((sub, kind, payload))
            elif kind == "ticket":
                out.append((sub, "changed", {}))
    return out


def _publish_ticket(request: Request, ticket_id: int, data: dict[str, Any]) -> None:
    request.app.ctx.live.publish("ticket", {"ticket_id": ticket_id, **data})


# ---- pages -----------------------------------------------------------------------------------------------


def _login_form(request: Request, error: str | None, status: int = 200) -> HTTPResponse:
    html = request.app.ctx.templates.get_template("login.html").render(error=error)
    return response.html(html, status=status)


@bp.get("/login")
async def login_page(request: Request) -> HTTPResponse:
    bad = str(request.args.get("error") or "") == "bad"
    return _login_form(request, "Wrong e-mail or password." if bad else None)


@bp.post("/login")
async def login(request: Request) -> HTTPResponse:
    """Sign in; while a backoff runs (auth.LoginPolicy) the answer is 429 with Retry-After, password unchecked."""
    settings = request.app.ctx.settings
    db = request.app.ctx.db
    form = request.form or {}
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    client = client_address(request)
    policy = auth.LoginPolicy.from_settings(settings)
    try:
        attempt = await db.run(lambda s: auth.begin_login(s, email=email, client=client, policy=policy))
    except auth.TooManyAttempts as exc:
        wait = f"Too many attempts. Try again in {exc.retry_after} seconds."
        resp = _login_form(request, wait, status=429)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    checked = await auth.check_password(attempt, password)  # argon2, on its own small pool

    def finish(s: Session) -> tuple[str, list[tuple[int, int]]] | None:
        agent = auth.finish_login(s, attempt, checked)
        if agent is None:
            return None
        token, _ = auth.create_session(s, agent, settings.session_hours)
        agent.available = True
        s.add(Audit(action="login", agent_id=agent.id, detail={"client": client}))
        return token, assign_waiting(s, default_capacity=settings.agent_capacity) if settings.auto_assign else []

    done = await db.run(finish)
    if done is None:
        return response.redirect("/login?error=bad", status=303)
    token, assigned = done
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
@guarded(write=True)
async def logout(request: Request) -> HTTPResponse:
    agent, ws = request.ctx.agent, request.ctx.web_session
    token = request.cookies.get(auth.COOKIE)

    def sign_out(s: Session) -> None:
        auth.end_session(s, token)
        a = s.get(Agent, agent.id)
        a.available = False
        s.add(Audit(action="logout", agent_id=agent.id, detail={}))

    await request.app.ctx.db.run(sign_out)
    request.app.ctx.live.close_session(ws.token_hash)  # this session's open tabs stop receiving at once
    resp = response.json({"ok": True})
    del resp.cookies[auth.COOKIE]
    return resp


@bp.get("/")
@guarded(page=True)
async def inbox_page(request: Request) -> HTTPResponse:
    agent, ws = request.ctx.agent, request.ctx.web_session
    if agent.role not in INBOX_ROLES:
        return response.redirect("/review")  # the content team's page
    html = request.app.ctx.templates.get_template("inbox.html").render(agent=agent, csrf=ws.csrf_token)
    return response.html(html)


# ---- JSON API --------------------------------------------------------------------------------------------


@bp.get("/api/me")
@guarded()
async def me(request: Request) -> HTTPResponse:
    agent, ws = request.ctx.agent, request.ctx.web_session
    return response.json(
        {"id": agent.id, "name": agent.name, "role": agent.role, "available": agent.available, "csrf": ws.csrf_token}
    )


@bp.post("/api/me/availability")
@guarded(write=True, roles=INBOX_ROLES)
async def availability(request: Request) -> HTTPResponse:
    agent = request.ctx.agent
    settings = request.app.ctx.settings
    wanted = bool((request.json or {}).get("available"))

    def set_available(s: Session) -> list[tuple[int, int]]:
        a = s.get(Agent, agent.id)
        a.available = wanted
        s.add(Audit(action="availability", agent_id=agent.id, detail={"available": a.available}))
        return assign_waiting(s, default_capacity=settings.agent_capacity) if settings.auto_assign else []

    assigned = await request.app.ctx.db.run(set_available)
    for tid, aid in assigned:
        _publish_ticket(request, tid, {"assigned_agent_id": aid})
    return response.json({"available": wanted})


@bp.get("/api/tickets")
@guarded(roles=INBOX_ROLES)
async def tickets(request: Request) -> HTTPResponse:
    agent = request.ctx.agent
    lists = await request.app.ctx.db.run(lambda s: service.list_tickets(s, agent))
    return response.json({name: [_summary_for_agents(t) for t in items] for name, items in lists.items()})


@bp.get("/api/tickets/<ticket_id:int>")
@guarded(roles=INBOX_ROLES)
async def ticket(request: Request, ticket_id: int) -> HTTPResponse:
    agent = request.ctx.agent
    settings = request.app.ctx.settings

    def view_of(s: Session) -> dict[str, Any]:
        t = service.ticket_for(s, ticket_id, agent, write=False)
        return service.ticket_view(s, t, agent, window_hours=settings.window_hours)

    view = _view_for_agents(await request.app.ctx.db.run(view_of))
    view["template"] = settings.reopen_template
    return response.json(view)


async def _mutate(request: Request, ticket_id: int, action: Any, *, needs_owner: bool = True) -> HTTPResponse:
    """One change to one ticket in one transaction, then the live update; the route's guard ran first."""
    agent = request.ctx.agent

    def mutate(s: Session) -> tuple[dict[str, Any], dict[str, Any]]:
        t = service.ticket_for(s, ticket_id, s.get(Agent, agent.id), write=needs_owner)
        result = action(s, t, s.get(Agent, agent.id)) or {}
        return result, {"status": t.status, "assigned_agent_id": t.assigned_agent_id}

    result, data = await request.app.ctx.db.run(mutate)
    _publish_ticket(request, ticket_id, data)
    return response.json({"ok": True, **data, **result})


@bp.post("/api/tickets/<ticket_id:int>/claim")
@guarded(write=True, roles=INBOX_ROLES)
async def claim(request: Request, ticket_id: int) -> HTTPResponse:
    cap = request.app.ctx.settings.agent_capacity
    return await _mutate(
        request, ticket_id, lambda s, t, a: service.claim(s, t, a, default_capacity=cap), needs_owner=False
    )


@bp.post("/api/tickets/<ticket_id:int>/assign")
@guarded(write=True, roles=INBOX_ROLES)
async def assign(request: Request, ticket_id: int) -> HTTPResponse:
    to = (request.json or {}).get("agent_id")
    return await _mutate(
        request, ticket_id, lambda s, t, a: service.reassign(s, t, a, int(to) if to else None), needs_owner=False
    )


@bp.post("/api/tickets/<ticket_id:int>/status")
@guarded(write=True, roles=INBOX_ROLES)
async def status(request: Request, ticket_id: int) -> HTTPResponse:
    new = str((request.json or {}).get("status") or "")
    return await _mutate(request, ticket_id, lambda s, t, a: service.set_status(s, t, a, new))


@bp.post("/api/tickets/<ticket_id:int>/notes")
@guarded(write=True, roles=INBOX_ROLES)
async def note(request: Request, ticket_id: int) -> HTTPResponse:
    body = str((request.json or {}).get("body") or "").strip()
    if not body:
        return json_error(400, "empty note")
    return await _mutate(
        request, ticket_id, lambda s, t, a: {"note_id": service.add_note(s, t, a, body).id}, needs_owner=False
    )


def _store_reply(
    s: Session, ticket_id: int, agent: Agent, *, text: str, use_template: bool, client_id: str, settings: Any
) -> tuple[str, str, dict[str, Any], int]:
    """The reply as 'sending', in the transcript and the audit; returns (sender, text sent, live line, id)."""
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
    return conv.sender_id, text, message_payload(msg), msg.id


def _reply_outcome(s: Session, msg_id: int, ticket_id: int, error: str | None) -> dict[str, Any]:
    m = s.get(Message, msg_id)
    if m.delivery == "sending":  # the broker's echo may already have marked it sent
        m.delivery = "failed" if error else "sent"
    t = s.get(Ticket, ticket_id)
    if not error and t.first_response_at is None:
        t.first_response_at = utcnow()
    return message_payload(m)


@bp.post("/api/tickets/<ticket_id:int>/reply")
@guarded(write=True, roles=INBOX_ROLES)
async def reply(request: Request, ticket_id: int) -> HTTPResponse:
    """Store the reply as 'sending', hand it to Rasa, then mark it sent or failed; the tab sees each step."""
    agent = request.ctx.agent
    settings, db = request.app.ctx.settings, request.app.ctx.db
    payload = request.json or {}
    use_template = bool(payload.get("template"))
    text = str(payload.get("text") or "").strip()
    if not use_template and not text:
        return json_error(400, "empty reply")
    if len(text) > 4096:
        return json_error(400, "WhatsApp messages are limited to 4096 characters")
    client_id = uuid.uuid4().hex
    sender_id, text, live, msg_id = await db.run(lambda s: _store_reply(
        s, ticket_id, agent, text=text, use_template=use_template, client_id=client_id, settings=settings))
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
    request.app.ctx.live.publish("message", await db.run(lambda s: _reply_outcome(s, msg_id, ticket_id, error)))
    if error:
        return json_error(502, error)
    return response.json({"ok": True, "message_id": msg_id})


def _resolve(s: Session, ticket_id: int, agent: Agent) -> str:
    t = service.ticket_for(s, ticket_id, s.get(Agent, agent.id), write=True)
    if t.status == "resolved":
        raise service.Conflict("ticket already resolved")
    t.status = "resolved"
    t.resolved_at = utcnow()
    metrics.closed(t.assigned_at, t.resolved_at)
    s.add(Audit(action="ticket_closed", agent_id=agent.id, ticket_id=t.id, detail={}))
    return str(t.conversation.sender_id)


def _reopen(s: Session, ticket_id: int, agent: Agent) -> None:
    t = s.get(Ticket, ticket_id)
    if active_ticket(s, t.conversation_id) is None:
        t.status, t.resolved_at = "open", None
        s.add(Audit(action="ticket_reopened", agent_id=agent.id, ticket_id=t.id, detail={"why": "rasa"}))


@bp.post("/api/tickets/<ticket_id:int>/close")
@guarded(write=True, roles=INBOX_ROLES)
async def close(request: Request, ticket_id: int) -> HTTPResponse:
    """Resolve the ticket and resume the bot through Rasa; reopened if Rasa cannot be reached."""
    agent = request.ctx.agent
    settings, db = request.app.ctx.settings, request.app.ctx.db
    sender_id = await db.run(lambda s: _resolve(s, ticket_id, agent))
    try:
        await request.app.ctx.rasa.resume(sender_id)
    except RasaError as exc:
        await db.run(lambda s: _reopen(s, ticket_id, agent))
        return json_error(502, f"could not hand back to the bot: {exc}")
    assigned = await db.run(
        lambda s: assign_waiting(s, default_capacity=settings.agent_capacity) if settings.auto_assign else []
    )
    _publish_ticket(request, ticket_id, {"status": "resolved"})
    for tid, aid in assigned:
        _publish_ticket(request, tid, {"assigned_agent_id": aid})
    return response.json({"ok": True, "status": "resolved"})


@bp.get("/api/canned")
@guarded(roles=INBOX_ROLES)
async def canned(request: Request) -> HTTPResponse:
    rows = await request.app.ctx.db.run(
        lambda s: s.execute(select(CannedResponse).order_by(CannedResponse.title)).scalars().all()
    )
    return response.json([{"id": c.id, "title": c.title, "body": c.body} for c in rows])


@bp.get("/api/agents")
@guarded(roles=INBOX_ROLES)
async def agents(request: Request) -> HTTPResponse:
    capacity = request.app.ctx.settings.agent_capacity
    return response.json(await request.app.ctx.db.run(lambda s: service.agents_overview(s, capacity)))


@bp.get("/api/audit")
@guarded(roles=("supervisor",))
async def audit(request: Request) -> HTTPResponse:
    q = select(Audit).order_by(Audit.id.desc()).limit(500)
    if request.args.get("ticket_id"):
        q = q.where(Audit.ticket_id == int(request.args.get("ticket_id")))
    rows = await request.app.ctx.db.run(lambda s: s.execute(q).scalars().all())
    return response.json(
        [
            {"id": r.id, "at": r.at.isoformat() + "Z", "agent_id": r.agent_id, "action": r.action,
             "ticket_id": r.ticket_id, "detail": r.detail}
            for r in rows
        ]
    )


async def _still_signed_in(request: Request, sub: Subscriber) -> bool:
    """Checked at every keep-alive: an expired session or a changed role ends the stream (the tab reloads)."""
    found = await signed_in(request)
    return found is not None and found[0].role == sub.agent.role


@bp.get("/events")
@guarded(roles=INBOX_ROLES)
async def events(request: Request) -> HTTPResponse | None:
    """Server-sent events: the ticket and message changes this agent may see (`live_audience`), as committed."""
    agent, ws = request.ctx.agent, request.ctx.web_session
    hub = request.app.ctx.live
    sub = hub.subscribe(agent, ws.token_hash)
    try:
        resp = await request.respond(content_type="text/event-stream", headers={"X-Accel-Buffering": "no"})
        await resp.send("retry: 2000\nevent: hello\ndata: {}\n\n")
        while not (sub.overflowed or sub.closed):
            try:
                frame = await asyncio.wait_for(sub.queue.get(), timeout=15)
            except asyncio.TimeoutError:
                if not await _still_signed_in(request, sub):
                    break
                frame = ": keep-alive\n\n"
            await resp.send(frame)
        await resp.send("event: reload\ndata: {}\n\n")
        await resp.eof()
    finally:
        hub.unsubscribe(sub)
    return None
