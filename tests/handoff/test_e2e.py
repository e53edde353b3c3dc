"""End to end through real processes: Rasa (outbox broker), action server, RabbitMQ, PostgreSQL, the
handoff service, headless Chromium and the WhatsApp Cloud API simulator.

One stack serves the whole module (loading the model is the slow part); the last test cuts Rasa off from
RabbitMQ and kills Rasa, so it runs last. Rasa's event broker reaches the shared RabbitMQ through a local TCP
forwarder (tests/support/forwarder.py) whose port the test closes: the broker itself is never stopped (other
engineers' tests use it), and the handoff service keeps its own, direct, connection.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import sqlite3
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, func, select, text

from handoff.db import Database
from handoff.models import Audit, Conversation, InboundEvent, Message, Ticket
from tests.handoff.conftest import PARTITIONS, delete_topology
from tests.handoff.stack import Stack, build_stack, http_json
from tests.support.forwarder import Forwarder, forwarder_for
from tests.support.processes import VENV_BIN, ServiceProcess, free_port

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
AGENT = ("lead@example.com", "correct-horse-battery")


class Investor:
    """An investor's phone on Rasa's callback channel: collects what Rasa pushes."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.port = free_port()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.received.append(json.loads(body or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, needle: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.received:
                if needle in (message.get("text") or ""):
                    return message
            time.sleep(0.1)
        raise AssertionError(f"the investor never received {needle!r}; got {[m.get('text') for m in self.received]}")


class Agent:
    """An agent using the inbox's JSON API (the browser test drives the page itself)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        form = f"email={quote(AGENT[0])}&password={quote(AGENT[1])}".encode()
        self.opener.open(urllib.request.Request(f"{base}/login", form), timeout=30).read()
        self.csrf = self.call("/api/me")["csrf"]

    def call(self, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json", "X-CSRF-Token": getattr(self, "csrf", "")}
        with self.opener.open(urllib.request.Request(self.base + path, data, headers), timeout=30) as resp:
            return json.loads(resp.read())


@pytest.fixture(scope="module")
def module_names(run_id: str, amqp_url: str) -> Iterator[dict[str, str]]:
    suffix = f"{run_id}.{uuid.uuid4().hex[:6]}"
    names = {"exchange": f"handoff-e2e-ex.{suffix}", "queue": f"handoff-e2e-q.{suffix}",
             "schema": f"handoff_e2e_{suffix}".replace(".", "_"), "partitions": str(PARTITIONS)}
    yield names
    asyncio.run(delete_topology(amqp_url, names))


@pytest.fixture(scope="module")
def module_pg(postgres_url: str, module_names: dict[str, str]) -> Iterator[str]:
    schema = module_names["schema"]
    admin = create_engine(postgres_url, future=True)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{postgres_url}{'&' if '?' in postgres_url else '?'}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="module")
def investor() -> Iterator[Investor]:
    phone = Investor()
    yield phone
    phone.server.shutdown()


@pytest.fixture(scope="module")
def simulator() -> Iterator[str]:
    port = free_port()
    proc = ServiceProcess(
        "whatsapp-sim-handoff", [str(VENV_BIN / "python"), "-m", "standins.whatsapp_cloud"],
        f"http://127.0.0.1:{port}/health", env={"WHATSAPP_SIM_PORT": str(port), "WHATSAPP_SIM_STATUS_DELAY": "0.01"},
    )
    with proc:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def rasa_rabbitmq(amqp_url: str) -> Iterator[Forwarder]:
    """Rasa's way to RabbitMQ: closing it makes RabbitMQ unreachable for Rasa alone."""
    forwarder = forwarder_for(amqp_url, 5672)
    yield forwarder
    forwarder.close()


@pytest.fixture(scope="module")
def stack(
    trained_model: Path, amqp_url: str, module_names: dict[str, str], module_pg: str, investor: Investor,
    simulator: str, rasa_rabbitmq: Forwarder, tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("handoff-e2e")
    built = build_stack(
        tmp, model=trained_model, pg_url=module_pg, amqp_url=amqp_url, names=module_names,
        broker_amqp_url=rasa_rabbitmq.url(amqp_url),
        credentials=(f"rest:\ncallback:\n  url: http://127.0.0.1:{investor.port}/bot\n"
                     "connectors.whatsapp.channel.WhatsAppInput:\n"),
        rasa_env={"WHATSAPP_API_URL": f"{simulator}/v21.0", "WHATSAPP_PREFIX": f"wa{module_names['schema'][-12:]}",
                  "WHATSAPP_MARK_READ": "false", "AMQP_URL": "", "REDIS_URL": ""},
        HANDOFF_AUTO_ASSIGN="false",
    )
    built.handoff.start()
    built.actions.start()
    built.rasa.start()
    http_json(f"{simulator}/_sim/config", {"webhook_url": f"{built.rasa_url}/webhooks/whatsapp/webhook"})
    yield built
    built.stop()


@pytest.fixture(scope="module")
def db(module_pg: str) -> Iterator[Database]:
    database = Database(module_pg)
    database.open()
    yield database
    database.close()


def test_browser_agent_takes_replies_and_closes_and_the_bot_answers_again(
    stack: Stack, investor: Investor, db: Database
) -> None:
    from playwright.sync_api import expect, sync_playwright

    sender = "919822200002"
    say = f"{stack.rasa_url}/webhooks/callback/webhook"
    http_json(say, {"sender": sender, "message": "/talk_to_agent"})
    investor.wait_for("connecting you to a person")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{stack.handoff.url}/login")
        page.fill("input[name=email]", AGENT[0])
        page.fill("input[name=password]", AGENT[1])
        page.click("#sign-in")
        queued = page.locator("#queue li", has_text="91XXXXXX0002")  # masked in the list
        expect(queued).to_contain_text("asked for human", timeout=30_000)
        queued.click()
        page.click("#claim")
        expect(page.locator("#mine li")).to_have_count(1)
        expect(page.locator("#t-meta")).to_contain_text("with First agent")

        assert http_json(say, {"sender": sender, "message": "my SIP of 5000 failed twice"}) == "success"
        # Paused: the bot is silent. Conclusive as soon as the webhook has answered, no waiting needed: Rasa 3.6's
        # callback channel (rasa/core/channels/callback.py) answers "success" only after `on_new_message`, i.e.
        # Agent.handle_message -> MessageProcessor.handle_message, has run the whole turn, and every bot message
        # of the turn went out through CallbackOutput._persist_message, which awaits the POST to the investor's
        # endpoint; the Investor's handler records the message before it answers that POST.
        assert not [m for m in investor.received if "SIP" in (m.get("text") or "")], investor.received
        expect(page.locator("#transcript")).to_contain_text("my SIP of 5000 failed twice", timeout=15_000)
        expect(page.locator("#transcript")).to_contain_text("intent talk_to_agent (1.00)")

        page.fill("#reply", "Hello, I'm Priya from the support team. Let me check your SIP.")
        page.click("#send")
        investor.wait_for("Priya from the support team")
        expect(page.locator("#transcript li.agent").last).to_contain_text("sent", timeout=15_000)
        page.fill("#note", "Checked with RTA, mandate expired")
        page.click("#note-form button")
        expect(page.locator("#notes")).to_contain_text("mandate expired")
        page.click("#close")
        investor.wait_for("back with the assistant")
        expect(page.locator("#mine li")).to_have_count(0, timeout=15_000)
        browser.close()

    assert http_json(say, {"sender": sender, "message": "/greet"}) == "success"
    # The premise of the silent check above, on a turn that answers: its reply is in when the webhook returns.
    assert [m for m in investor.received if "Namaste" in (m.get("text") or "")], investor.received
    with db.transaction() as s:
        conv = s.execute(select(Conversation).where(Conversation.sender_id == sender)).scalar_one()
        ticket = s.execute(select(Ticket).where(Ticket.conversation_id == conv.id)).scalar_one()
        assert ticket.status == "resolved" and ticket.first_response_at is not None
        actions = set(s.execute(select(Audit.action).where(Audit.ticket_id == ticket.id)).scalars())
    assert {"ticket_opened", "ticket_viewed", "ticket_claimed", "reply_sent", "note_added", "ticket_closed"} <= actions


def sim_out(simulator: str, wa_id: str) -> list[str]:
    records = http_json(f"{simulator}/_sim/messages?direction=out&wa_id={wa_id}")["records"]
    return [json.dumps(r) for r in records]


def wait_sim(simulator: str, wa_id: str, needle: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(needle in r for r in sim_out(simulator, wa_id)):
            return
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never reached {wa_id}: {sim_out(simulator, wa_id)}")


def test_whatsapp_investor_reaches_an_agent_and_back(stack: Stack, simulator: str, db: Database) -> None:
    """The must-show journey on the WhatsApp channel, with the simulator as the investor's phone."""
    wa = "919833300003"
    # The investor taps the bot's "Talk to an agent" button (typed "/..." text is never a payload).
    tap = {"button_reply": {"id": "/talk_to_agent", "title": "Talk to an agent"}}
    http_json(f"{simulator}/_sim/inbound", {"from": wa, **tap})
    wait_sim(simulator, wa, "connecting you to a person")
    agent = Agent(stack.handoff.url)
    deadline = time.monotonic() + 30
    while not (queue := [t for t in agent.call("/api/tickets")["queue"] if t["investor"].endswith("0003")]):
        assert time.monotonic() < deadline, "no ticket appeared"
        time.sleep(0.2)
    ticket_id = queue[0]["id"]
    agent.call(f"/api/tickets/{ticket_id}/claim", {})
    view = agent.call(f"/api/tickets/{ticket_id}")
    assert view["channel"] == "whatsapp" and view["window"]["open"] and view["ticket"]["reason"] == "asked_for_human"
    agent.call(f"/api/tickets/{ticket_id}/reply", {"text": "Namaskar, this is Ravi from investor support."})
    wait_sim(simulator, wa, "Ravi from investor support")
    agent.call(f"/api/tickets/{ticket_id}/close", {})
    wait_sim(simulator, wa, "back with the assistant")
    # Typed, not a tap: a reply id is a command only when the bot offered it (connectors/whatsapp/offers.py).
    http_json(f"{simulator}/_sim/inbound", {"from": wa, "text": "hi"})
    wait_sim(simulator, wa, "Namaste")
    with db.transaction() as s:
        kinds = s.execute(
            select(Message.kind).join(Conversation).where(Conversation.sender_id == wa).order_by(Message.created_at)
        ).scalars().all()
    assert kinds.count("agent") == 1  # the reply came back through Rasa's broker and was not duplicated


def outbox_texts(outbox: Path) -> list[str]:
    """The user texts of the events waiting in Rasa's outbox (Rasa must not be running)."""
    db = sqlite3.connect(outbox)
    try:
        bodies = [json.loads(body) for (body,) in db.execute("SELECT body FROM outbox ORDER BY id")]
    finally:
        db.close()
    return [body.get("text") or "" for body in bodies if body.get("event") == "user"]


def test_rabbitmq_unreachable_and_rasa_killed_no_event_is_lost(
    stack: Stack, db: Database, rasa_rabbitmq: Forwarder
) -> None:
    """RabbitMQ becomes unreachable for Rasa (its connection cut, new ones refused) while the investor asks for a
    person; Rasa is killed -9; RabbitMQ comes back and Rasa restarts: the ticket and every event arrive once."""
    sender = "919811100001"
    webhook = f"{stack.rasa_url}/webhooks/rest/webhook"
    assert http_json(webhook, {"sender": sender, "message": "/greet"})
    rasa_rabbitmq.close()
    try:
        queued = http_json(webhook, {"sender": sender, "message": "/talk_to_agent"})
        assert any("queue" in m.get("text", "") for m in queued), queued
        assert http_json(webhook, {"sender": sender, "message": "is anyone there?"}) == []  # paused: silent
        stack.rasa.kill()
        # The cut was real: what the investor said while RabbitMQ was unreachable waits in the outbox.
        assert "is anyone there?" in outbox_texts(stack.outbox)
    finally:
        rasa_rabbitmq.open()
    stack.rasa.start()
    events = stack.tracker(sender)["events"]
    deadline = time.monotonic() + 120
    while True:
        with db.transaction() as s:
            received = s.execute(
                select(func.count()).select_from(InboundEvent).where(InboundEvent.sender_id == sender)
            ).scalar_one()
        if received >= len(events) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert received == len(events), f"{received} of {len(events)} tracker events reached the handoff service"
    with db.transaction() as s:
        conv = s.execute(select(Conversation).where(Conversation.sender_id == sender)).scalar_one()
        ticket = s.execute(select(Ticket).where(Ticket.conversation_id == conv.id)).scalar_one()
        assert (ticket.status, ticket.reason) == ("open", "asked_for_human")
        texts = s.execute(
            select(Message.text).where(Message.ticket_id == ticket.id, Message.kind == "user")
        ).scalars().all()
    assert texts == ["is anyone there?"]
