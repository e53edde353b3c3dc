"""The agent inbox as an attacker meets it, against the real handoff service (`python -m handoff`, embedded
transport, a fresh PostgreSQL schema per test, events through `/internal/events` as Rasa's outbox sends them):

- live updates go only where the ticket API would let them, masked like the API;
- sign-in throttling trusts no address the client makes up, and strangers cannot keep an agent out;
- every answer carries the security headers, nothing with PII may be stored, the pages run under the CSP;
- no first-agent password in a production log; the operator's command creates and resets agents;
- one-time codes never reach an agent's screen.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from handoff.app import seed_first_agent
from handoff.config import Settings
from handoff.db import Database
from handoff.models import Agent
from tests.handoff.conftest import db, handoff_events, handoff_service, pg_url, user
from tests.handoff.inbox_client import EventStream, Reply, call, opener, request, sign_in
from tests.support.processes import REPO_ROOT, VENV_BIN, base_env

__all__ = ["db", "pg_url"]  # the handoff tests' fixtures: a fresh PostgreSQL schema per test

INTERNAL = "inbox-security-internal-token"
LEAD = ("lead@example.com", "correct-horse-battery")  # the supervisor handoff_service seeds
INBOX_TITLE = "Investor support inbox"
CHROMIUM = "/usr/bin/chromium"


def start(pg_url: str, name: str, **env: str) -> Any:
    return handoff_service(name, database_url=pg_url, HANDOFF_INTERNAL_TOKEN=INTERNAL, HANDOFF_AUTO_ASSIGN="false",
                           **env)


@pytest.fixture
def inbox(pg_url: str) -> Any:
    with start(pg_url, "handoff-security") as proc:
        yield proc


def ingest(base: str, events: list[dict[str, Any]]) -> None:
    status, body = call(opener(), f"{base}/internal/events", events, {"Authorization": f"Bearer {INTERNAL}"})
    assert (status, body["applied"]) == (200, len(events))


def agents_cli(pg_url: str, *args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    """The operator's command, `python -m handoff.agents`, with `password` typed on its standard input."""
    return subprocess.run(
        [str(VENV_BIN / "python"), "-m", "handoff.agents", *args], input=f"{password}\n", text=True,
        capture_output=True, env=base_env({"DATABASE_URL": pg_url}), cwd=REPO_ROOT, timeout=120,
    )


def add_agent(pg_url: str, email: str, password: str, role: str = "agent") -> None:
    done = agents_cli(pg_url, "create", "--email", email, "--role", role, password=password)
    assert done.returncode == 0, done.stderr


def session(base: str, email: str, password: str) -> tuple[Any, dict[str, str]]:
    """A signed-in tab: its cookie-keeping opener and CSRF header."""
    op = opener()
    assert INBOX_TITLE in sign_in(op, base, email, password).body
    return op, {"X-CSRF-Token": call(op, f"{base}/api/me")[1]["csrf"]}


def queue_ticket(op: Any, base: str) -> dict[str, Any]:
    return dict(call(op, f"{base}/api/tickets")[1]["queue"][0])


# ---- 1. live updates ------------------------------------------------------------------------------------


def test_live_stream_gives_each_agent_only_what_the_api_lets_them_read_masked(inbox: Any, pg_url: str) -> None:
    base = inbox.url
    add_agent(pg_url, "asha@example.com", "asha-password-123")
    add_agent(pg_url, "bala@example.com", "bala-password-123")
    held, waiting = "919811100001", "919811100002"
    ingest(base, handoff_events(held, time.time()))
    tabs = {"asha": session(base, "asha@example.com", "asha-password-123"),
            "bala": session(base, "bala@example.com", "bala-password-123"), "lead": session(base, *LEAD)}
    streams = {name: EventStream(op, base) for name, (op, _) in tabs.items()}
    try:
        asha, asha_csrf = tabs["asha"]
        ticket = queue_ticket(asha, base)["id"]
        assert call(asha, f"{base}/api/tickets/{ticket}/claim", {}, asha_csrf)[0] == 200
        ingest(base, [user(held, time.time(), "PAN ABCDE1234F, the OTP is 482 913")])
        ingest(base, handoff_events(waiting, time.time()))  # a new ticket in the queue, which every agent sees
        for stream in streams.values():  # frames leave in commit order: nothing held back arrives after this
            stream.wait_for(lambda event, data: event == "ticket" and bool(data.get("new")))
    finally:
        for stream in streams.values():
            stream.close()

    bala = streams["bala"].events
    assert [data for _, data in bala if data.get("ticket_id") == ticket] == []
    assert ("changed", {}) in bala  # told to refresh its lists when the ticket left the queue, not why
    assert "ABCDE1234F" not in str(bala) and "482 913" not in str(bala)
    assert call(tabs["bala"][0], f"{base}/api/tickets/{ticket}")[0] == 403  # the API's rule, the same answer
    for name in ("asha", "lead"):  # the holder and a supervisor: the message, masked as the API masks it
        events = streams[name].events
        texts = [data["text"] for event, data in events if event == "message" and data.get("ticket_id") == ticket]
        assert texts == ["PAN ABXXXXX34F, the OTP is XXX XXX"], name
        assert any(event == "ticket" and data.get("assigned_agent_id") for event, data in events), name


# ---- 2. sign-in throttling ------------------------------------------------------------------------------


def test_a_forged_forwarded_for_does_not_escape_the_per_address_limit(pg_url: str) -> None:
    with start(pg_url, "handoff-security-direct", HANDOFF_LOGIN_ADDRESS_MAX_FAILURES="3") as proc:
        for n in range(3):  # a new e-mail and a new made-up address each time
            bad = sign_in(opener(), proc.url, f"guess{n}@example.com", "wrong-password", f"198.18.0.{n}")
            assert "Wrong e-mail or password" in bad.body
        forged = sign_in(opener(), proc.url, "guess9@example.com", "wrong-password", "198.18.0.99")
        assert forged.status == 429 and "Too many attempts" in forged.body
        assert int(forged.headers["Retry-After"]) > 0


def test_a_strangers_failed_sign_ins_do_not_keep_the_agent_out(pg_url: str) -> None:
    with start(pg_url, "handoff-security-proxied", HANDOFF_TRUSTED_PROXIES="1") as proc:
        stranger = "203.0.113.66"  # what our one proxy saw; the entries left of it are the client's own claims
        for n in range(5):  # HANDOFF_LOGIN_MAX_FAILURES: the free failures of one account from one address
            bad = sign_in(opener(), proc.url, LEAD[0], f"guess-{n}", f"10.9.9.{n}, {stranger}")
            assert "Wrong e-mail or password" in bad.body
        refused = sign_in(opener(), proc.url, LEAD[0], "guess-5", f"10.9.9.5, {stranger}")
        assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0
        agent = sign_in(opener(), proc.url, *LEAD, "198.51.100.7")
        assert agent.status == 200 and INBOX_TITLE in agent.body


def test_the_per_account_backoff_is_mild_and_spares_the_agents_own_address(pg_url: str) -> None:
    with start(pg_url, "handoff-security-account", HANDOFF_TRUSTED_PROXIES="1",
               HANDOFF_LOGIN_ACCOUNT_MAX_FAILURES="4") as proc:
        home = "198.51.100.7"
        assert INBOX_TITLE in sign_in(opener(), proc.url, *LEAD, home).body  # the agent's usual address
        refused: Reply | None = None
        for n in range(40):  # a new address every time: only the per-account backoff can slow this down
            reply = sign_in(opener(), proc.url, LEAD[0], f"guess-{n}", f"203.0.113.{n + 1}")
            if reply.status == 429:
                refused = reply
                break
            assert "Wrong e-mail or password" in reply.body
        assert refused is not None and 1 <= int(refused.headers["Retry-After"]) <= 30  # seconds, not a lockout
        back = sign_in(opener(), proc.url, *LEAD, home)
        assert back.status == 200 and INBOX_TITLE in back.body


# ---- 3. headers -----------------------------------------------------------------------------------------


def assert_protected(name: str, headers: dict[str, str], *, storable: bool = False) -> None:
    h = {key.lower(): value for key, value in headers.items()}
    csp = h.get("content-security-policy", "")
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
                      "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"):
        assert directive in csp, (name, csp)
    assert (h.get("x-frame-options"), h.get("x-content-type-options"), h.get("referrer-policy")) == (
        "DENY", "nosniff", "no-referrer"), name
    if not storable:
        assert h.get("cache-control") == "no-store", name


def test_every_answer_carries_the_security_headers_and_nothing_is_stored(inbox: Any) -> None:
    base = inbox.url
    ingest(base, handoff_events("919811100003", time.time()))
    op, _ = session(base, *LEAD)
    ticket = queue_ticket(op, base)["id"]
    replies = {
        "login page": request(opener(), f"{base}/login"),
        "failed sign-in": sign_in(opener(), base, LEAD[0], "wrong-password"),
        "inbox page": request(op, f"{base}/"),
        "me": request(op, f"{base}/api/me"),
        "tickets": request(op, f"{base}/api/tickets"),
        "ticket": request(op, f"{base}/api/tickets/{ticket}"),
        "audit": request(op, f"{base}/api/audit"),
        "write without CSRF": request(op, f"{base}/api/tickets/{ticket}/claim", {}),
        "signed out": request(opener(), f"{base}/api/tickets"),
        "not found": request(op, f"{base}/no-such-page"),
        "health": request(opener(), f"{base}/health"),
    }
    stream = EventStream(op, base)
    stream.close()
    replies["live stream"] = Reply(200, None, stream.headers)
    for name, reply in replies.items():
        assert_protected(name, reply.headers)
    assert_protected("script", request(opener(), f"{base}/static/inbox.js").headers, storable=True)
    for name in ("login page", "inbox page"):  # nothing inline that the policy would block
        page = replies[name].body
        assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\s(?:on\w+|style)\s*=", page), name


def test_the_inbox_works_in_a_browser_under_its_policy(inbox: Any) -> None:
    from playwright import sync_api  # in the dev lock; the browser comes from scripts/ensure_chromium.sh

    assert Path(CHROMIUM).exists(), "chromium missing: run scripts/ensure_chromium.sh (make test does)"
    base, sender = inbox.url, "919811100004"
    ingest(base, handoff_events(sender, time.time()))
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation',"
                             " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
        assert "default-src 'none'" in page.goto(f"{base}/login").headers["content-security-policy"]
        page.fill("input[name=email]", LEAD[0])
        page.fill("input[name=password]", LEAD[1])
        page.click("#sign-in")
        queued = page.locator("#queue li", has_text="91XXXXXX0004")
        sync_api.expect(queued).to_contain_text("asked for human", timeout=30_000)
        sync_api.expect(page.locator("#live")).to_have_class(re.compile(r"\bon\b"))  # the live stream is open
        queued.click()
        sync_api.expect(page.locator("#t-title")).to_contain_text("91XXXXXX0004")
        ingest(base, [user(sender, time.time(), "my OTP is 135 790")])
        sync_api.expect(page.locator("#transcript")).to_contain_text("my OTP is XXX XXX", timeout=15_000)
        assert page.evaluate("getComputedStyle(document.querySelector('header')).display") == "flex"  # CSS loaded
        assert page.evaluate("window.__csp") == []
        browser.close()


# ---- 4. the first agent ---------------------------------------------------------------------------------


def test_no_first_agent_password_in_a_production_log(pg_url: str, db: Database, tmp_path: Path) -> None:
    prod = {"APP_ENV": "production", "RASA_TOKEN": "prod-rasa-token-4f2a", "HANDOFF_INTERNAL_TOKEN": INTERNAL}
    empty = handoff_service("handoff-production-empty", database_url=pg_url, HANDOFF_SEED_PASSWORD="", **prod)
    empty.log_dir = tmp_path
    with empty:  # the start-up line is printed before the port opens, so it is in the log once /health answered
        pass
    log = empty.log_path.read_text()
    assert "Agent inbox:" in log and "python -m handoff.agents create" in log and "sign in as" not in log
    with db.transaction() as s:  # no agent whose password nobody could be told
        assert s.query(Agent).count() == 0

    secret = f"operator-chosen-{uuid.uuid4().hex}"
    seeded = handoff_service("handoff-production-seeded", database_url=pg_url, HANDOFF_SEED_PASSWORD=secret, **prod)
    seeded.log_dir = tmp_path
    with seeded:
        assert INBOX_TITLE in sign_in(opener(), seeded.url, LEAD[0], secret).body
    log = seeded.log_path.read_text()
    assert f"first agent {LEAD[0]} created" in log and secret not in log


def test_development_prints_the_generated_first_password(db: Database) -> None:
    line = seed_first_agent(db, Settings(seed_email="dev@example.com", seed_password="", app_env="development"))
    assert re.search(r"sign in as dev@example\.com / \S{12,}", line), line


def test_the_operator_creates_and_resets_an_agent_from_the_terminal(inbox: Any, pg_url: str) -> None:
    base, email = inbox.url, "chitra@example.com"
    assert agents_cli(pg_url, "create", "--email", email, password="short").returncode == 2
    add_agent(pg_url, email, "chitra-password-1", role="supervisor")
    op, _ = session(base, email, "chitra-password-1")
    done = agents_cli(pg_url, "reset-password", "--email", email, "--generate")
    assert done.returncode == 0, done.stderr
    found = re.search(r"password \(shown this once\): (\S+)", done.stdout)
    assert found is not None
    assert call(op, f"{base}/api/me")[0] == 401  # the reset signed the agent out everywhere
    assert "Wrong e-mail or password" in sign_in(opener(), base, email, "chitra-password-1").body
    again, _ = session(base, email, found.group(1))
    assert call(again, f"{base}/api/me")[1]["role"] == "supervisor"


# ---- 5. one-time codes ----------------------------------------------------------------------------------


def test_one_time_codes_never_reach_the_inbox(inbox: Any) -> None:
    base, sender = inbox.url, "919811100005"
    ingest(base, handoff_events(sender, time.time()))
    op, _ = session(base, *LEAD)
    ticket = queue_ticket(op, base)["id"]
    typed = "OTP 482913, or 135-790, or 4 8 2 9 1 3, or 48 29 13; SIP of 5000 on 12-06-2024"
    # every way of typing a code; amounts and dates are not codes
    masked = "OTP XXXXXX, or XXX-XXX, or X X X X X X, or XX XX XX; SIP of 5000 on 12-06-2024"
    ingest(base, [user(sender, time.time(), typed)])
    assert queue_ticket(op, base)["preview"] == masked
    cut = "x" * 116 + " 654321 thanks"  # the 120-character preview ends inside the code
    ingest(base, [user(sender, time.time() + 1, cut)])
    assert queue_ticket(op, base)["preview"] == "x" * 116 + " XXX"
    view = call(op, f"{base}/api/tickets/{ticket}")[1]
    assert [m["text"] for m in view["messages"] if m["kind"] == "user"][-2:] == [masked, "x" * 116 + " XXXXXX thanks"]
    assert view["ticket"]["preview"] == "x" * 116 + " XXX"
