"""The supervisors' Analytics: a scripted two days of Rasa events (conversations the bot contained, handoffs for
four reasons, fallbacks, FAQ topics, two ratings, one with a PAN in its comment) go through the real ingest,
and the figures are asserted exactly: directly on PostgreSQL and SQLite, and through the real service's JSON
API and CSV export (PostgreSQL); supervisors only; rating capture idempotent under redelivery; the page in
Chromium under the CSP, with a screenshot for the docs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import delete, select

from handoff import analytics
from handoff.auth import hash_password
from handoff.db import Database
from handoff.ingest import (
    RATING_RESPONSE,
    RATING_TEXT,
    apply_batch,
    event_key,
    is_rating_question,
    parse_rating,
    user_intent,
)
from handoff.models import Agent, Conversation, InboundEvent, Rating, Ticket
from tests.handoff.conftest import event, handoff_events, handoff_service, user
from tests.handoff.inbox_client import call, opener, request, sign_in

REPO = Path(__file__).resolve().parents[2]
IST = ZoneInfo("Asia/Kolkata")
INTERNAL = "analytics-internal-token"
LEAD = ("lead@example.com", "correct-horse-battery")  # the supervisor handoff_service seeds
AGENTS = {"asha": ("asha@example.com", "asha-password-123"), "bilal": ("bilal@example.com", "bilal-password-123")}
RANGE = "from=2026-11-02&to=2026-11-03"
CHROMIUM = "/usr/bin/chromium"
A, B, C, D, E, F, G = (f"9198000001{n:02d}" for n in range(1, 8))


def ist(day: int, hour: int, minute: int = 0) -> float:
    """An epoch timestamp at a local (IST) time in November 2026."""
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=IST).timestamp()


def faq(sender: str, ts: float, text: str, topic: str | None) -> dict[str, Any]:
    body = user(sender, ts, text, "faq", 0.93)
    if topic:
        body["parse_data"]["response_selector"] = {"all_retrieval_intents": ["faq"], "faq": {
            "response": {"intent_response_key": f"faq/{topic}", "utter_action": f"utter_faq/{topic}",
                         "confidence": 0.9}, "ranking": []}}
    return body


def bot(sender: str, ts: float, text: str, response: str | None = None) -> dict[str, Any]:
    return event(sender, "bot", ts, text=text, data={}, metadata={"utter_action": response} if response else {})


def first_batches() -> list[list[dict[str, Any]]]:
    """Day 1 (2 Nov) and day 2 (3 Nov), up to the handoffs; each inner list is one delivery."""
    return [
        [user(A, ist(2, 10), "hi", "greet"), bot(A, ist(2, 10) + 1, "Namaste!", "utter_greet"),
         faq(A, ist(2, 10, 1), "nav kya hai", "what_is_nav")],
        [user(B, ist(2, 11), "asdfgh", "nlu_fallback", 0.2), faq(B, ist(2, 11, 2), "elss lock in", "elss_lock_in")],
        handoff_events(C, ist(2, 12)) + [user(C, ist(2, 12, 5), "my SIP failed", "check_portfolio")],
        [user(D, ist(2, 14, 58), "??", "nlu_fallback", 0.1), user(D, ist(2, 14, 59), "hmm", "nlu_fallback", 0.1)]
        + handoff_events(D, ist(2, 15), reason="repeated_fallback"),
        [faq(E, ist(3, 8), "what is sip", None), user(E, ist(3, 8, 1), "bye", "goodbye")],
        handoff_events(F, ist(3, 9), reason="account_api_down"),
        [user(A, ist(3, 20), "hello again", "greet")],
        handoff_events(G, ist(3, 23, 50), reason="complaint"),
    ]


def second_batches() -> list[list[dict[str, Any]]]:
    """After the agents' work: resumes, the rating question and the answers."""
    return [
        [event(C, "resume", ist(2, 12) + 1800.4), bot(C, ist(2, 12, 31), RATING_TEXT, RATING_RESPONSE),
         user(C, ist(2, 12, 32), "4 quick help, my PAN ABCDE1234F", "nlu_fallback", 0.3)],
        [event(D, "resume", ist(2, 15) + 1210.4), bot(D, ist(2, 15) + 1215, RATING_TEXT)],  # text only
        [user(D, ist(2, 15, 25), "5", "nlu_fallback", 0.3)],  # a later batch: the question found in the table
        [event(F, "resume", ist(3, 9) + 2400.4), bot(F, ist(3, 9, 41), RATING_TEXT, RATING_RESPONSE),
         user(F, ist(3, 9, 42), "thanks", "thank")],  # no number: no rating
    ]


def as_the_inbox(db: Database) -> dict[str, int]:
    """What the agents did, stamped as the inbox stamps it (its own clock, here chosen instants); returns the
    agents' ids. C: Asha, answered after 3 min, resumed after 30; D: Asha, 5 min, closed after 20 (before the
    bot resumed); F: Bilal, 10 min, resumed after 40; G: still waiting."""
    with db.transaction() as s:
        ids = {}
        for name, (email, password) in AGENTS.items():
            agent = Agent(email=email, name=name.title(), role="agent", password_hash=hash_password(password))
            s.add(agent)
            s.flush()
            ids[name] = agent.id
        plan = {C: ("asha", 60, 180, None), D: ("asha", 120, 300, 1200), F: ("bilal", 60, 600, None)}
        for sender, (name, assigned, first, resolved) in plan.items():
            ticket = s.execute(select(Ticket).join(Conversation).where(Conversation.sender_id == sender)).scalar_one()
            at = ticket.opened_at
            ticket.assigned_agent_id, ticket.assigned_at = ids[name], at + dt.timedelta(seconds=assigned)
            ticket.first_response_at = at + dt.timedelta(seconds=first)
            if resolved:
                ticket.status, ticket.resolved_at = "resolved", at + dt.timedelta(seconds=resolved)
    return ids


def ticket_of(db: Database, sender: str) -> int:
    with db.transaction() as s:
        return int(s.execute(select(Ticket.id).join(Conversation).where(Conversation.sender_id == sender)).scalar_one())


def expected_daily() -> list[dict[str, Any]]:
    return [
        {"day": "2026-11-02", "conversations": 4, "contained": 2, "containment": 0.5, "handoffs": 2,
         "user_messages": 11, "fallbacks": 5, "fallback_rate": 0.4545, "ratings": 2, "csat_average": 4.5},
        {"day": "2026-11-03", "conversations": 4, "contained": 2, "containment": 0.5, "handoffs": 2,
         "user_messages": 6, "fallbacks": 0, "fallback_rate": 0.0, "ratings": 0, "csat_average": None},
    ]


def assert_figures(data: dict[str, Any], ids: dict[str, int], tickets: dict[str, int]) -> None:
    """The exact figures of the scripted two days."""
    assert data["range"] == {"from": "2026-11-02", "to": "2026-11-03", "timezone": "Asia/Kolkata"}
    assert data["daily"] == expected_daily()
    assert data["totals"] == {"conversations": 8, "contained": 4, "containment": 0.5, "handoffs": 4,
                              "user_messages": 17, "fallbacks": 5, "fallback_rate": 0.2941}
    assert data["handoffs_by_reason"] == {"account_api_down": 1, "asked_for_human": 1, "complaint": 1,
                                          "repeated_fallback": 1}
    assert data["top_intents"] == [{"intent": i, "count": n} for i, n in (
        ("nlu_fallback", 5), ("talk_to_agent", 4), ("faq", 3), ("greet", 2), ("check_portfolio", 1),
        ("goodbye", 1), ("thank", 1))]
    assert data["faq_topics"] == [{"topic": "(topic not recorded)", "count": 1},
                                  {"topic": "elss_lock_in", "count": 1}, {"topic": "what_is_nav", "count": 1}]
    times = data["response_times"]
    assert times["overall"] == {"tickets": 4, "first_response": {"n": 3, "median": 300.0, "p90": 600.0},
                                "handle": {"n": 3, "median": 1800.0, "p90": 2400.0}}
    assert times["agents"] == [
        {"agent_id": ids["asha"], "name": "Asha", "tickets": 2, "first_response": {"n": 2, "median": 240.0,
         "p90": 300.0}, "handle": {"n": 2, "median": 1500.0, "p90": 1800.0}},
        {"agent_id": ids["bilal"], "name": "Bilal", "tickets": 1, "first_response": {"n": 1, "median": 600.0,
         "p90": 600.0}, "handle": {"n": 1, "median": 2400.0, "p90": 2400.0}},
    ]
    queue = data["queue_by_hour"]
    assert len(queue) == 48 and queue[0]["hour"] == "2026-11-02T00:00"
    assert {q["hour"]: q["waiting"] for q in queue if q["waiting"]} == {
        "2026-11-02T12:00": 1, "2026-11-02T15:00": 1, "2026-11-03T09:00": 1, "2026-11-03T23:00": 1}
    csat = data["csat"]
    assert {k: v for k, v in csat.items() if k != "comments"} == {
        "ratings": 2, "average": 4.5, "satisfied": 1.0, "distribution": {"1": 0, "2": 0, "3": 0, "4": 1, "5": 1},
        "asked": 3, "answered": 2, "response_rate": 0.6667}
    assert [(c["score"], c["comment"], c["ticket_id"]) for c in csat["comments"]] == [
        (4, "quick help, my PAN ABXXXXX34F", tickets[C])]  # masked when stored


# ---- the figures, straight from the store (PostgreSQL and SQLite) -------------------------------------------


def deliver(db: Database, batches: list[list[dict[str, Any]]]) -> list[int]:
    applied = []
    for batch in batches:
        with db.transaction() as s:
            applied.append(apply_batch(s, batch, auto_assign=False).applied)
    return applied


def test_the_figures_of_two_scripted_days_are_exact(store: Database) -> None:
    deliver(store, first_batches())
    ids = as_the_inbox(store)
    deliver(store, second_batches())
    rng = analytics.parse_range("2026-11-02", "2026-11-03")
    with store.transaction() as s:
        data = analytics.figures(s, rng)
    assert_figures(data, ids, {C: ticket_of(store, C)})
    with store.transaction() as s:
        ratings = s.execute(select(Rating.score, Rating.ticket_id).order_by(Rating.score)).all()
    assert ratings == [(4, ticket_of(store, C)), (5, ticket_of(store, D))]  # each to the ticket it followed


def test_rating_capture_is_idempotent_under_redelivery(store: Database) -> None:
    deliver(store, first_batches())
    as_the_inbox(store)
    deliver(store, second_batches())
    with store.transaction() as s:
        before = s.execute(select(Rating.id, Rating.score, Rating.comment, Rating.event_key)).all()
    again = deliver(store, second_batches() + [sum(second_batches(), [])])  # one by one, then all in one batch
    assert again == [0] * 5
    rated = second_batches()[0]  # C: resume, question, "4 ..." in one batch
    with store.transaction() as s:  # as if the keys had been forgotten: the rating's unique event_key holds
        s.execute(delete(InboundEvent).where(InboundEvent.key.in_([event_key(b) for b in rated])))
    assert deliver(store, [rated]) == [3]
    with store.transaction() as s:
        after = s.execute(select(Rating.id, Rating.score, Rating.comment, Rating.event_key)).all()
    assert after == before and len(after) == 2


def test_only_the_next_message_after_the_question_with_a_score_is_a_rating(store: Database) -> None:
    sender = "919800000190"
    deliver(store, [handoff_events(sender, ist(4, 10)), [event(sender, "resume", ist(4, 10, 30))],
                    [bot(sender, ist(4, 10, 31), RATING_TEXT, RATING_RESPONSE)],
                    [user(sender, ist(4, 10, 32), "what is my SIP of 5000 doing", "check_sip")],
                    [user(sender, ist(4, 10, 33), "3", "nlu_fallback")]])  # not the first answer: not a rating
    late = "919800000191"
    deliver(store, [[bot(late, ist(4, 10), RATING_TEXT, RATING_RESPONSE)],
                    [user(late, ist(5, 11), "2", "nlu_fallback")]])  # more than RATING_WINDOW later
    with store.transaction() as s:
        assert s.execute(select(Rating)).scalars().all() == []


def test_scores_comments_and_the_stored_intent() -> None:
    assert parse_rating("5") == (5, None)
    assert parse_rating("4/5 good") == (4, "good")
    assert parse_rating("3 out of 5. Slow reply; mail me at asha.rao@example.com") == (
        3, "Slow reply; mail me at a*******@example.com")
    for no_score in ("thanks", "6", "0", "5000", "ABCDE1234F", "1.5 lakh", "folio 12345678"):
        assert parse_rating(no_score) is None, no_score
    _, comment = parse_rating("5 great, my code 482913 and phone 98765 43210") or (0, "")
    assert comment is not None and "482913" not in comment and "43210" not in comment  # strict: codes, numbers
    question = {"event": "bot", "text": RATING_TEXT, "metadata": {"utter_action": RATING_RESPONSE}}
    assert is_rating_question(question)
    # an agent's reply typed with the same words is not the bot's question: it cannot make ratings up
    assert not is_rating_question({"event": "bot", "text": RATING_TEXT, "metadata": {"handoff_message_id": "a1"}})
    assert user_intent({"intent": {"name": "faq", "confidence": 0.9}, "response_selector": {"faq": {
        "response": {"intent_response_key": "faq/exit_load"}}}}) == ("faq/exit_load", 0.9)
    assert user_intent({"intent": {"name": "greet", "confidence": 0.8}}) == ("greet", 0.8)


def test_the_rating_question_text_is_the_domains() -> None:
    """The handoff image has no domain/: ingest.RATING_TEXT must stay the domain's text."""
    domain = yaml.safe_load((REPO / "domain" / "handoff.yml").read_text(encoding="utf-8"))
    assert [r["text"] for r in domain["responses"][RATING_RESPONSE]] == [RATING_TEXT]


def test_ranges() -> None:
    now = dt.datetime(2026, 12, 7, 20, 0)  # 01:30 on 8 December in India
    rng = analytics.parse_range(None, None, now=now)
    assert (rng.first.isoformat(), rng.last.isoformat()) == ("2026-12-02", "2026-12-08")
    assert rng.lo == dt.datetime(2026, 12, 1, 18, 30) and rng.hi == dt.datetime(2026, 12, 8, 18, 30)
    for start, end in (("2026-11-05", "2026-11-01"), ("yesterday", None), ("2024-01-01", "2026-01-01"),
                       ("9999-12-31", "9999-12-31"), ("0001-01-01", "0001-01-01")):  # the calendar's ends: 400
        with pytest.raises(analytics.BadRange):
            analytics.parse_range(start, end, now=now)
    assert analytics.queue_peaks([(now, now + analytics.HOUR * 2), (now, now)], now, 3) == [1, 1, 0]


# ---- through the service: API, CSV, roles, the page -------------------------------------------------------


@pytest.fixture
def service(pg_url: str) -> Any:
    proc = handoff_service("handoff-analytics", database_url=pg_url, HANDOFF_INTERNAL_TOKEN=INTERNAL,
                           HANDOFF_AUTO_ASSIGN="false")
    with proc:
        yield proc


def ingest(base: str, batches: list[list[dict[str, Any]]]) -> None:
    for batch in batches:  # one POST = one batch, as Rasa's outbox sends them
        status, body = call(opener(), f"{base}/internal/events", batch, {"Authorization": f"Bearer {INTERNAL}"})
        assert (status, body["applied"]) == (200, len(batch))


@pytest.fixture
def scripted(service: Any, db: Database) -> dict[str, int]:
    """The service, fed the two scripted days through its ingest endpoint; the agents' ids."""
    ingest(service.url, first_batches())
    ids = as_the_inbox(db)
    ingest(service.url, second_batches())
    return ids


def signed_in(base: str, email: str, password: str) -> Any:
    op = opener()
    assert sign_in(op, base, email, password).status == 200
    return op


def test_api_and_csv_give_the_exact_figures_to_supervisors_only(service: Any, db: Database,
                                                                scripted: dict[str, int]) -> None:
    base = service.url
    lead = signed_in(base, *LEAD)
    status, data = call(lead, f"{base}/api/analytics?{RANGE}")
    assert status == 200
    assert_figures(data, scripted, {C: ticket_of(db, C)})
    reply = request(lead, f"{base}/api/analytics.csv?{RANGE}")
    headers = {k.lower(): v for k, v in reply.headers.items()}
    assert reply.status == 200 and headers["content-type"].startswith("text/csv")
    assert 'filename="analytics_2026-11-02_2026-11-03.csv"' in headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(reply.body)))
    assert rows == [
        {k: "" if v is None else str(v) for k, v in day.items()} for day in expected_daily()]
    page = request(lead, f"{base}/analytics?{RANGE}")
    assert page.status == 200 and 'id="kpi-containment">50%' in page.body and "<svg" in page.body
    assert "ABXXXXX34F" in page.body and "ABCDE1234F" not in page.body
    assert not re.search(r"<script|<style|\s(?:on\w+|style)\s*=", page.body)  # nothing the CSP would block
    assert 'href="/analytics"' in request(lead, f"{base}/").body
    assert call(lead, f"{base}/api/analytics?from=2026-11-05&to=2026-11-01")[0] == 400
    assert call(lead, f"{base}/api/analytics?from=nope")[0] == 400

    asha = signed_in(base, *AGENTS["asha"])
    for path in (f"/api/analytics?{RANGE}", f"/api/analytics.csv?{RANGE}", f"/analytics?{RANGE}"):
        assert request(asha, f"{base}{path}").status == 403, path
    assert 'href="/analytics"' not in request(asha, f"{base}/").body
    assert call(opener(), f"{base}/api/analytics?{RANGE}")[0] == 401
    status, audit = call(lead, f"{base}/api/audit")
    assert [a["detail"]["as"] for a in audit if a["action"] == "analytics_viewed"] == ["page", "csv", "json"]


def test_a_supervisor_opens_analytics_in_a_browser(service: Any, scripted: dict[str, int]) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert Path(CHROMIUM).exists(), "chromium missing: run scripts/ensure_chromium.sh (make test does)"
    shot = REPO / "reports" / "screenshots" / "analytics.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=30_000)  # a loaded machine: waiting for the page, never a fixed sleep
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.add_init_script("window.__csp = []; document.addEventListener('securitypolicyviolation',"
                             " (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));")
        page.goto(f"{service.url}/login")
        page.fill("input[name=email]", LEAD[0])
        page.fill("input[name=password]", LEAD[1])
        page.click("#sign-in")
        page.click("#analytics-link")
        expect(page.locator("#kpi-conversations")).to_be_visible()
        page.fill("input[name=from]", "2026-11-02")
        page.fill("input[name=to]", "2026-11-03")
        page.click("#apply")
        expect(page.locator("#kpi-conversations")).to_have_text("8")
        expect(page.locator("#kpi-containment")).to_have_text("50%")
        expect(page.locator("#kpi-csat")).to_have_text("4.5 / 5")
        expect(page.locator("#comments")).to_contain_text("quick help, my PAN ABXXXXX34F")
        assert page.locator("svg.chart").count() == 9
        assert page.evaluate("getComputedStyle(document.querySelector('.tiles')).display") == "grid"  # CSS loaded
        assert page.evaluate("window.__csp") == []
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
