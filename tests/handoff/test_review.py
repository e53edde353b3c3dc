"""The content team's review queue against the real handoff service (`python -m handoff`, embedded transport, a
fresh PostgreSQL schema per test, events through `/internal/events` as Rasa's outbox sends them): who may use it,
what it finds and groups, that PII never shows, the labels and their approval, and the export to training data."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from handoff.db import Database
from handoff.models import Audit, ReviewLabel
from handoff.review.grouping import key_hash
from handoff.review.labels import CHOICES, catalogue_from_domain, choices
from tests.handoff.conftest import event, handoff_service, user
from tests.handoff.inbox_client import call, opener, request, sign_in
from tests.support.processes import REPO_ROOT, VENV_BIN, base_env

INTERNAL = "review-internal-token"
LEAD = ("lead@example.com", "correct-horse-battery")  # the supervisor handoff_service seeds
CONTENT = ("writer@example.com", "content-team-password")
AGENT = ("priya@example.com", "agent-password-123")
CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = REPO_ROOT / "reports" / "screenshots" / "review.png"
PII = ("ABCDE1234F", "9876543210", "482913")
ELSS = "elss wala paisa kab nikal sakta hu yaar"
EVALUATION_SENTENCE = "mera portfolio kitne ka hai abhi"  # tests/nlu/heldout.yml, check_portfolio
# digits in three scripts (Devanagari, full-width, ASCII), and what the page and the export show of them
DIGITS = ("mera SIP ५००० ka १२ tareekh ko kata nahi", "SIP １２３ wala statement 7 din se nahi aaya")
DIGITS_SHOWN = ("mera SIP XXXX ka XX tareekh ko kata nahi", "SIP XXX wala statement X din se nahi aaya")


def agents_cli(pg_url: str, *args: str, password: str) -> None:
    """The operator's command, `python -m handoff.agents`, with the password on its standard input."""
    done = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "handoff.agents", *args], input=f"{password}\n", text=True,
        capture_output=True, env=base_env({"DATABASE_URL": pg_url}), cwd=REPO_ROOT, timeout=120,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture
def service(pg_url: str) -> Any:
    proc = handoff_service("handoff-review", database_url=pg_url, HANDOFF_INTERNAL_TOKEN=INTERNAL,
                           HANDOFF_AUTO_ASSIGN="false")
    with proc:
        agents_cli(pg_url, "create", "--email", CONTENT[0], "--role", "content", password=CONTENT[1])
        agents_cli(pg_url, "create", "--email", AGENT[0], "--role", "agent", password=AGENT[1])
        ingest(proc.url, conversations(time.time() - 3600))
        yield proc


def ingest(base: str, events: list[dict[str, Any]]) -> None:
    status, body = call(opener(), f"{base}/internal/events", events, {"Authorization": f"Bearer {INTERNAL}"})
    assert (status, body["applied"]) == (200, len(events))


def bot(sender: str, ts: float, text: str) -> dict[str, Any]:
    return event(sender, "bot", ts, text=text, data={}, metadata={})


def conversations(ts: float) -> list[dict[str, Any]]:
    """Six investors: a fallback asked three ways, PII, an evaluation sentence, a rejected FAQ answer, a
    repeated-fallback handoff, a handoff on request (whose message an agent will flag), and a sure answer."""
    return [
        user("919800000011", ts, ELSS, "nlu_fallback", 0.31),
        user("919800000012", ts + 1, "ELSS wala paisa kab nikal sakta hu yaar?? 🙏", "nlu_fallback", 0.28),
        user("919800000013", ts + 2, "elss wala paisa kab nikaal sakta hu yaar", "faq", 0.52),
        user("919800000014", ts + 3, "My PAN is ABCDE1234F, call me on 9876543210, OTP 482913, folio statement "
             "chahiye", "nlu_fallback", 0.2),
        user("919800000014", ts + 4, EVALUATION_SENTENCE, "nlu_fallback", 0.4),
        user("919800000015", ts + 5, "exit load kab lagta hai mere fund pe", "faq", 0.93),
        bot("919800000015", ts + 6, "Exit load is a fee charged when you redeem early."),
        user("919800000015", ts + 7, "that's not what I asked", "deny", 0.95),
        user("919800000016", ts + 8, "paisa account me nahi aaya teen din se", "redemption_status", 0.55),
        user("919800000016", ts + 9, "abe bata na yaar", "nlu_fallback", 0.3),
        event("919800000016", "slot", ts + 10, name="handoff_reason", value="repeated_fallback"),
        event("919800000016", "pause", ts + 11),
        user("919800000017", ts + 12, "statement wala mail nahi aaya mujhe", "talk_to_agent", 0.97),
        event("919800000017", "slot", ts + 13, name="handoff_reason", value="asked_for_human"),
        event("919800000017", "pause", ts + 14),
        user("919800000018", ts + 15, "nav of axis bluechip", "check_nav", 0.99),
    ]


def session(base: str, who: tuple[str, str]) -> tuple[Any, dict[str, str]]:
    op = opener()
    sign_in(op, base, *who)
    return op, {"X-CSRF-Token": call(op, f"{base}/api/me")[1]["csrf"]}


def groups_by_example(op: Any, base: str) -> dict[str, dict[str, Any]]:
    status, body = call(op, f"{base}/api/review")
    assert status == 200
    return {g["examples"][0]: g for g in body["groups"]}


def shown(op: Any, base: str, key: str) -> str:
    """What the page gives each group: the hash of the examples it shows (a label covers those only)."""
    return str(next(g["shown"] for g in call(op, f"{base}/api/review")[1]["groups"] if g["key"] == key))


def proposal_hash(op: Any, base: str, label_id: int) -> str:
    """What the page gives a proposal: the hash of its topic, answer and examples as read (a decision names it)."""
    return str(next(p["decision_hash"] for p in call(op, f"{base}/api/review")[1]["proposals"] if p["id"] == label_id))


def flag_the_handoff_message(base: str) -> None:
    """An agent opens the waiting ticket and flags the investor's message in it."""
    agent, csrf = session(base, AGENT)
    tickets = call(agent, f"{base}/api/tickets")[1]["queue"]
    ticket = next(t for t in tickets if t["reason"] == "asked_for_human")
    view = call(agent, f"{base}/api/tickets/{ticket['id']}")[1]
    message = next(m for m in view["messages"] if m["kind"] == "user")
    assert call(agent, f"{base}/api/messages/{message['id']}/flag", {})[0] == 403  # no CSRF token
    assert call(agent, f"{base}/api/messages/{message['id']}/flag", {}, csrf) == (
        200, {"ok": True, "message_id": message["id"]})


def test_roles_each_see_their_own_pages(service: Any) -> None:
    base = service.url
    agent, agent_csrf = session(base, AGENT)
    assert call(agent, f"{base}/api/review")[0] == 403
    assert call(agent, f"{base}/review")[0] == 403
    assert call(agent, f"{base}/api/review/labels", {"key": "x", "label": "greet"}, agent_csrf)[0] == 403
    content, content_csrf = session(base, CONTENT)
    page = request(content, f"{base}/")  # the inbox sends the content team to the Review page
    assert page.status == 200 and "Review: what the bot should learn" in page.body
    assert "Investor support inbox" not in page.body
    for path in ("/api/tickets", "/api/tickets/1", "/api/audit", "/api/canned", "/events"):
        assert call(content, f"{base}{path}")[0] == 403, path
    assert call(content, f"{base}/api/messages/1/flag", {}, content_csrf)[0] == 403
    lead, _ = session(base, LEAD)
    assert 'href="/review"' in request(lead, f"{base}/").body  # supervisors: inbox with a Review link
    assert call(lead, f"{base}/api/review")[0] == 200


def test_the_queue_finds_groups_and_masks_what_it_shows(service: Any) -> None:
    base = service.url
    flag_the_handoff_message(base)
    content, _ = session(base, CONTENT)
    groups = groups_by_example(content, base)
    elss = next(g for g in groups.values() if g["key"] == ELSS)
    assert elss["count"] == 3 and elss["reasons"] == {"fallback": 2, "low_confidence": 1}
    assert elss["guesses"][0] == {"intent": "nlu_fallback", "count": 2, "confidence": 0.295}
    assert groups["exit load kab lagta hai mere fund pe"]["reasons"] == {"rejected_faq": 1}
    assert groups["paisa account me nahi aaya teen din se"]["reasons"] == {"before_handoff": 1,
                                                                          "low_confidence": 1}
    assert groups["abe bata na yaar"]["reasons"] == {"before_handoff": 1, "fallback": 1}
    assert groups["statement wala mail nahi aaya mujhe"]["reasons"] == {"flagged": 1}
    assert not any("axis bluechip" in e for e in groups)  # a sure answer is not for review
    pii = next(g for e, g in groups.items() if e.startswith("My PAN"))
    assert pii["examples"] == ["My PAN is ABXXXXXXXF, call me on XXXXXXXXXX, OTP XXXXXX, folio statement chahiye"]
    page = request(content, f"{base}/review").body
    api = str(call(content, f"{base}/api/review")[1])
    for secret in PII:
        assert secret not in page and secret not in api


def test_labels_proposals_and_approval_are_stored_and_audited(service: Any, db: Database) -> None:
    base = service.url
    content, csrf = session(base, CONTENT)
    labels_url = f"{base}/api/review/labels"
    assert call(content, labels_url, {"key": ELSS, "label": "faq/elss_lock_in"})[0] == 403  # no CSRF token
    status, body = call(content, labels_url, {"key": ELSS, "label": "faq/no_such_topic"}, csrf)
    assert status == 400 and "unknown label" in body["error"]
    assert call(content, labels_url, {"key": "never seen", "label": "greet"}, csrf)[0] == 404
    status, body = call(content, labels_url, {"key": ELSS, "label": "faq/elss_lock_in",
                                              "shown": shown(content, base, ELSS)}, csrf)
    assert status == 200 and body["status"] == "labelled"
    exit_load = "exit load kab lagta hai mere fund pe"
    proposal = {"key": exit_load, "topic": "exit_load_timing", "shown": shown(content, base, exit_load),
                "answer": "Exit load applies when you redeem within the period in the scheme's offer document."}
    status, proposed = call(content, f"{base}/api/review/proposals", proposal, csrf)
    assert status == 200 and (proposed["label"], proposed["status"]) == ("faq/exit_load_timing", "proposed")
    decision = f"{base}/api/review/proposals/{proposed['id']}/decision"
    read = proposal_hash(content, base, proposed["id"])
    assert call(content, decision, {"decision": "approve", "decision_hash": read}, csrf)[0] == 403  # supervisors only
    lead, lead_csrf = session(base, LEAD)
    assert "exit_load_timing" in request(lead, f"{base}/review").body  # awaiting approval on the page
    # the proposer swaps the answer after the supervisor read it: the decision on the old text is refused
    swapped = {**proposal, "answer": "Send your PAN and OTP to +91 90000 00000 to pause it."}
    assert call(content, f"{base}/api/review/proposals", swapped, csrf)[0] == 200
    assert call(lead, decision, {"decision": "approve", "decision_hash": read}, lead_csrf)[0] == 409
    assert call(content, f"{base}/api/review/proposals", proposal, csrf)[0] == 200  # back to what was read
    assert call(lead, decision, {"decision": "approve", "decision_hash": read}, lead_csrf)[0] == 409  # read again
    read = proposal_hash(lead, base, proposed["id"])
    assert call(lead, decision, {"decision": "approve", "decision_hash": read}, lead_csrf) == (
        200, {"id": proposed["id"], "label": "faq/exit_load_timing", "status": "approved"})
    assert call(lead, decision, {"decision": "reject", "decision_hash": read}, lead_csrf)[0] == 409  # decided
    # and a content reviewer cannot relabel what a supervisor approved
    relabel = {"key": proposal["key"], "label": "ignore", "shown": proposal["shown"]}
    assert call(content, f"{base}/api/review/labels", relabel, csrf)[0] == 409
    groups = {g["key"]: g for g in call(content, f"{base}/api/review")[1]["groups"]}
    assert groups[ELSS]["label"]["label"] == "faq/elss_lock_in" and groups[ELSS]["label"]["by"] == "writer"
    with db.transaction() as s:
        actions = list(s.execute(select(Audit.action).where(Audit.action.like("review_%"))).scalars())
        elss = s.execute(select(ReviewLabel).where(ReviewLabel.group_key == key_hash(ELSS))).scalar_one()
        assert sorted(elss.examples) == sorted([ELSS, "ELSS wala paisa kab nikal sakta hu yaar?? 🙏",
                                                "elss wala paisa kab nikaal sakta hu yaar"])
    assert actions == ["review_labelled", "review_proposed", "review_proposed", "review_proposed", "review_approved"]
    assert groups[ELSS]["label"]["key"] == key_hash(ELSS)  # stored against a hash, not the investors' text


def export(pg_url: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "python"), "-m", "handoff.review", "export", "--out", str(out)], text=True,
        capture_output=True, env=base_env({"DATABASE_URL": pg_url}), cwd=REPO_ROOT, timeout=600,
    )


def test_export_is_masked_valid_and_refuses_evaluation_sentences(service: Any, pg_url: str, tmp_path: Path) -> None:
    base = service.url
    ingest(base, [user("919800000041", time.time(), DIGITS[0], "nlu_fallback", 0.3)])
    content, csrf = session(base, CONTENT)
    groups = groups_by_example(content, base)
    pii_key = next(g["key"] for e, g in groups.items() if e.startswith("My PAN"))
    digits_key = next(g["key"] for e, g in groups.items() if e.startswith("mera SIP"))
    for key, label in ((ELSS, "faq/elss_lock_in"), (pii_key, "request_statement"), (digits_key, "request_statement"),
                       (EVALUATION_SENTENCE, "check_portfolio"), ("abe bata na yaar", "ignore")):
        body = {"key": key, "label": label, "shown": shown(content, base, key)}
        assert call(content, f"{base}/api/review/labels", body, csrf)[0] == 200
    out = tmp_path / "reviewed.yml"
    done = export(pg_url, out)
    assert done.returncode == 0, done.stdout + done.stderr
    written = out.read_text()
    assert '- intent: faq/elss_lock_in' in written and f"    - {ELSS}\n" in written
    assert "- intent: request_statement" in written and "ABXXXXXXXF" in written
    assert DIGITS_SHOWN[0] in written + done.stdout  # written, or skipped as a clash: without its digits either way
    quoted = [line for line in written.splitlines() if line.startswith("    - ")]
    quoted += re.findall(r'^skipped "(.*)" \(', done.stdout, re.M)
    assert quoted and not [t for t in quoted if any(ch.isdigit() for ch in t)]  # no digit of investors' text
    for secret in (*PII, "abe bata na"):
        assert secret not in written
    assert EVALUATION_SENTENCE not in written
    assert re.search(rf'skipped "{EVALUATION_SENTENCE}" \(check_portfolio\): copy of evaluation message', done.stdout)
    from bot.nlu_data import load_examples

    assert {e.label for e in load_examples([out])} == {"faq/elss_lock_in", "request_statement"}


def test_the_choices_match_the_domain() -> None:
    assert catalogue_from_domain(REPO_ROOT / "domain") == choices(), f"run python -m handoff.review choices ({CHOICES})"


def browser_sign_in(page: Any, base: str, who: tuple[str, str]) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", who[0])
    page.fill("input[name=password]", who[1])
    page.click("#sign-in")


def test_the_content_team_labels_a_group_in_a_browser(service: Any) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "chromium missing: run scripts/ensure_chromium.sh (make test does)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []  # what the content security policy refused, and what failed to load
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "404" not in m.text else None)
        page.on("response", lambda r: errors.append(r.url) if r.status >= 400 and "favicon" not in r.url else None)
        inbox = browser.new_page()  # an agent flags the investor's line from the ticket's transcript
        browser_sign_in(inbox, service.url, AGENT)
        inbox.locator("#queue li", has_text="91XXXXXX0017").click()
        inbox.locator("#transcript li.user .flag").click()
        expect(inbox.locator("#transcript li.user .flag")).to_have_text("flagged for review")
        browser_sign_in(page, service.url, CONTENT)
        expect(page).to_have_url(re.compile(r"/review$"))
        flagged = page.locator("li.group", has_text="statement wala mail nahi aaya mujhe")
        expect(flagged.locator(".reason")).to_have_text("flagged 1")
        group = page.locator(f"li.group[data-key='{ELSS}']")
        expect(group.locator(".count")).to_have_text("3×")
        group.locator("select[name=label]").select_option("faq/elss_lock_in")
        group.locator("button.save").click()
        expect(group.locator(".current .label")).to_have_text("faq/elss_lock_in")
        for secret in PII:
            expect(page.locator("body")).not_to_contain_text(secret)
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
    assert errors == []


def test_a_content_reviewer_never_reads_a_ticket_whatever_the_path(db: Database) -> None:
    """The service's own rule, under the route guard and the fence: tickets are for agents and supervisors."""
    from handoff import service
    from handoff.models import Agent
    from handoff.review import labels  # noqa: F401 - the models the review queue adds are registered

    with db.transaction() as s:
        writer = Agent(email="writer@example.com", name="writer", role="content", password_hash="x")
        s.add(writer)
        s.flush()
        with pytest.raises(service.Forbidden):
            service.ticket_for(s, 1, writer, write=False)


def test_a_label_covers_only_the_examples_the_reviewer_read(service: Any, db: Database) -> None:
    """Found by the attack review: a label covered every example of the group, those the page did not show and
    those that joined after the reviewer read it. Now it names what was read (`shown`) and stores only that."""
    base = service.url
    content, csrf = session(base, CONTENT)
    read = shown(content, base, ELSS)  # three examples
    variants = {"Elss wala paisa kab nikal sakta hu yaar.": 2, "ELSS WALA PAISA KAB NIKAL SAKTA HU YAAR": 2,
                "elss wala paisa kab nikal sakta hu yaar!!": 1, "elss wala paisa kab nikal sakta hu yaar :)": 1}
    texts = [t for t, n in variants.items() for _ in range(n)]
    ingest(base, [user(f"9198000002{i:02d}", time.time() + i, t, "nlu_fallback", 0.3) for i, t in enumerate(texts)])
    url = f"{base}/api/review/labels"
    assert call(content, url, {"key": ELSS, "label": "faq/elss_lock_in", "shown": read}, csrf)[0] == 409
    assert call(content, url, {"key": ELSS, "label": "faq/elss_lock_in"}, csrf)[0] == 400  # name what you read
    with db.transaction() as s:
        assert s.execute(select(ReviewLabel)).scalars().all() == []
    group = next(g for g in call(content, f"{base}/api/review")[1]["groups"] if g["key"] == ELSS)
    assert group["count"] == 9 and len(group["examples"]) == 5  # seven distinct texts, five shown
    unseen = {ELSS, "ELSS wala paisa kab nikal sakta hu yaar?? 🙏", "elss wala paisa kab nikaal sakta hu yaar",
              *variants} - set(group["examples"])
    assert len(unseen) == 2
    assert call(content, url, {"key": ELSS, "label": "faq/elss_lock_in", "shown": group["shown"]}, csrf)[0] == 200
    with db.transaction() as s:
        from handoff.models import Message

        label = s.execute(select(ReviewLabel).where(ReviewLabel.group_key == key_hash(ELSS))).scalar_one()
        assert label.examples == group["examples"] and not unseen & set(label.examples)
        behind = s.execute(select(Message.text).where(Message.id.in_(label.message_ids))).scalars().all()
        assert len(behind) == 7 and not unseen & set(behind)  # 2 + 2 + 1 + 1 + 1: the messages shown, no other


def test_the_flag_api_answers_404_for_any_line_the_agent_cannot_read(db: Database) -> None:
    """Found by the attack review: 403 against 404 told an agent which ids were investor lines of conversations
    they cannot read, and any readable ticket of the conversation let them flag a line of another agent's."""
    import datetime as dt

    from handoff import service as handoff_service_rules
    from handoff.models import Agent, Conversation, Message, Ticket, utcnow
    from handoff.review import labels

    t0 = utcnow() - dt.timedelta(hours=3)
    with db.transaction() as s:
        asha, ravi = (Agent(email=f"{n}@example.com", name=n, role="agent", password_hash="x")
                      for n in ("asha", "ravi"))
        conv = Conversation(sender_id="919800000031")
        s.add_all([asha, ravi, conv])
        s.flush()
        first = Ticket(conversation_id=conv.id, status="resolved", assigned_agent_id=asha.id, opened_at=t0)
        second = Ticket(conversation_id=conv.id, status="open", assigned_agent_id=ravi.id,
                        opened_at=t0 + dt.timedelta(hours=1))
        s.add_all([first, second])
        s.flush()

        def line(kind: str, ticket: Ticket | None, minutes: int) -> int:
            msg = Message(conversation_id=conv.id, ticket_id=ticket.id if ticket else None, kind=kind, text="x",
                          created_at=t0 + dt.timedelta(minutes=minutes))
            s.add(msg)
            s.flush()
            return int(msg.id)

        ids = {"before the first handoff": line("user", None, -1), "in asha's ticket": line("user", first, 5),
               "bot line": line("bot", first, 6), "before ravi's ticket": line("user", None, 30),
               "in ravi's ticket": line("user", second, 65)}
        asha_id = asha.id

    def flag(message_id: int) -> str:
        with db.transaction() as s:
            try:
                labels.flag(s, s.get(Agent, asha_id), message_id=message_id)
                return "flagged"
            except handoff_service_rules.Forbidden:
                return "403"
            except LookupError as exc:
                return f"404 {exc}"

    answers = {what: flag(i) for what, i in ids.items()} | {"no such id": flag(999_999)}
    assert answers["before the first handoff"] == answers["in asha's ticket"] == "flagged"
    refusals = {answers[w] for w in ("bot line", "before ravi's ticket", "in ravi's ticket", "no such id")}
    assert refusals == {"404 no such investor message in a ticket you can read"}  # one answer for all


def test_the_review_page_says_only_its_own_error_messages(service: Any) -> None:
    """Found by the attack review: `/review?error=` printed any text, so a link could put words on the page."""
    base = service.url
    content, csrf = session(base, CONTENT)
    lure = "Your account is locked: send your PAN and OTP to +91 90000 00000"
    for error in (lure, "conflict<script>", "__class__"):
        page = request(content, f"{base}/review?{urlencode({'error': error})}").body
        assert "Your account is locked" not in page and 'class="error"' not in page
    from handoff.review.routes import ERRORS  # a code names one of these

    assert ERRORS["not_found"] in request(content, f"{base}/review?error=not_found").body
    form = urlencode({"csrf": csrf["X-CSRF-Token"], "days": 28, "key": ELSS, "label": "greet", "shown": "stale"})
    page = request(content, f"{base}/api/review/labels", form=form.encode())  # a form post: back to the page
    assert page.status == 200 and ERRORS["conflict"] in page.body


def no_digits(texts: Any) -> bool:
    return not any(ch.isdigit() for t in texts for ch in str(t))


def test_the_review_page_shows_no_digit_of_investors_text(service: Any) -> None:
    """Found by the attack review: masking leaves digits (amounts, dates, the last digits of a PAN or a number);
    no intent needs them, so the page, the API and the proposals show every digit, in any script, as X."""
    base = service.url
    ingest(base, [user(f"91980000005{i}", time.time() + i, t, "nlu_fallback", 0.3) for i, t in enumerate(DIGITS)])
    content, csrf = session(base, CONTENT)
    groups = call(content, f"{base}/api/review")[1]["groups"]
    shown_texts = {e for g in groups for e in g["examples"]}
    assert set(DIGITS_SHOWN) <= shown_texts and "My PAN is ABXXXXXXXF, call me on XXXXXXXXXX, OTP XXXXXX, " \
        "folio statement chahiye" in shown_texts
    assert no_digits(shown_texts) and no_digits(g["key"] for g in groups)
    key = next(g["key"] for g in groups if DIGITS_SHOWN[1] in g["examples"])
    proposal = {"key": key, "topic": "statement_delay", "shown": shown(content, base, key),
                "answer": "Statements are e-mailed within 7 working days."}
    assert call(content, f"{base}/api/review/proposals", proposal, csrf)[0] == 200
    proposals = call(content, f"{base}/api/review")[1]["proposals"]
    assert proposals[0]["examples"] == [DIGITS_SHOWN[1]] and no_digits(proposals[0]["examples"])
    page = request(content, f"{base}/review").body
    quoted = re.findall(r"<q>(.*?)</q>", page) + re.findall(r'data-key="([^"]*)"', page)
    quoted += re.findall(r'name="key" value="([^"]*)"', page) + re.findall(r"<small>(.*?)</small>", page)
    assert quoted and no_digits(quoted)
    for digits in ("५०००", "१२", "१", "１２３", "７", "7 din se"):  # the page's own digits are dates, counts, tokens
        assert digits not in page


def test_a_decision_names_the_topic_the_answer_and_the_examples_read(service: Any, db: Database) -> None:
    """Found by the attack review: the decision named only the answer, so after the supervisor read a proposal
    its proposer could move the same answer to another topic, or to other examples, and the old approval took
    it. The decision hash covers topic, answer, examples and the proposal itself: anything else is 409."""
    base = service.url
    content, csrf = session(base, CONTENT)
    lead, lead_csrf = session(base, LEAD)
    key = "exit load kab lagta hai mere fund pe"
    answer = "Exit load applies when you redeem within the period in the scheme's offer document."
    proposal = {"key": key, "topic": "exit_load_timing", "answer": answer, "shown": shown(content, base, key)}
    status, proposed = call(content, f"{base}/api/review/proposals", proposal, csrf)
    assert status == 200
    decision = f"{base}/api/review/proposals/{proposed['id']}/decision"
    read = proposal_hash(lead, base, proposed["id"])
    # the topic swap: the same answer under another topic
    assert call(content, f"{base}/api/review/proposals", {**proposal, "topic": "sip_pause_howto"}, csrf)[0] == 200
    assert call(lead, decision, {"decision": "approve", "decision_hash": read}, lead_csrf)[0] == 409
    # the example swap: the same topic and answer, for other examples of the group
    read = proposal_hash(lead, base, proposed["id"])
    ingest(base, [user("919800000061", time.time(), "Exit load kab lagta hai mere fund pe??", "faq", 0.5)])
    swapped = {**proposal, "topic": "sip_pause_howto", "shown": shown(content, base, key)}
    assert call(content, f"{base}/api/review/proposals", swapped, csrf)[0] == 200
    assert call(lead, decision, {"decision": "approve", "decision_hash": read}, lead_csrf)[0] == 409
    # the very same proposal again: still a new one to read
    read = proposal_hash(lead, base, proposed["id"])
    assert call(content, f"{base}/api/review/proposals", swapped, csrf)[0] == 200
    for seen in (read, "", answer):
        assert call(lead, decision, {"decision": "approve", "decision_hash": seen}, lead_csrf)[0] == 409
    with db.transaction() as s:
        assert s.get(ReviewLabel, proposed["id"]).status == "proposed"
    read = proposal_hash(lead, base, proposed["id"])
    assert call(lead, decision, {"decision": "approve", "decision_hash": read}, lead_csrf) == (
        200, {"id": proposed["id"], "label": "faq/sip_pause_howto", "status": "approved"})
    with db.transaction() as s:
        row = s.get(ReviewLabel, proposed["id"])
        assert sorted(row.examples) == sorted([key, "Exit load kab lagta hai mere fund pe??"])


def test_the_flag_api_answers_404_for_any_id_out_of_range(service: Any) -> None:
    """Found by the attack review: an id beyond a 64-bit integer answered 500 (a traceback) instead of 404."""
    base = service.url
    agent, csrf = session(base, AGENT)
    lead, lead_csrf = session(base, LEAD)
    refusal = call(agent, f"{base}/api/messages/999999/flag", {}, csrf)
    assert refusal == (404, {"error": "no such investor message in a ticket you can read"})
    for message_id in ("100000000000000000000", str(2**63), str(2**63 - 1), "0", "-1", "-100000000000000000000"):
        assert call(agent, f"{base}/api/messages/{message_id}/flag", {}, csrf) == refusal, message_id
    for label_id in ("100000000000000000000", str(2**63), "0", "-1"):
        answer = call(lead, f"{base}/api/review/proposals/{label_id}/decision", {"decision": "approve"}, lead_csrf)
        assert answer[0] == 404, label_id


def test_flag_and_decide_refuse_ids_beyond_64_bits_on_both_databases(store: Database) -> None:
    """The embedded SQLite store cannot even bind an id of 2**63 or more (OverflowError: the 500 the attack review
    saw); PostgreSQL can. The rule refuses them before the database, on either, with the flag's one 404."""
    from handoff import service as handoff_service_rules
    from handoff.models import Agent
    from handoff.review import labels

    with store.transaction() as s:
        asha = Agent(email="asha@example.com", name="asha", role="agent", password_hash="x")
        lead = Agent(email="boss@example.com", name="boss", role="supervisor", password_hash="x")
        s.add_all([asha, lead])
        s.flush()
        for message_id in (10**20, 2**63, 0, -1):
            with pytest.raises(LookupError, match="^no such investor message in a ticket you can read$"):
                labels.flag(s, asha, message_id=message_id)
            with pytest.raises(LookupError):
                labels.decide(s, lead, label_id=message_id, approve=True, seen="x")
        with pytest.raises(handoff_service_rules.Forbidden):  # a role check still comes first
            labels.decide(s, asha, label_id=10**20, approve=True, seen="x")
