"""Every account intent end to end: Rasa (REST channel) → action server → account API stand-in.

Dialogue is tested with payloads (`/check_portfolio`, `/inform{"otp":"…"}`), not NLU, so these tests do not
depend on the training examples. Each test uses its own investor, so conversations never share a tracker.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from actions.sessions import Conversation
from connectors.rest import conversation_id
from standins.accounts_api.seed import RESERVED_PREFIX
from tests.e2e_support.stack import (
    AccountsApi,
    Chat,
    action_server_env,
    buttons,
    start_action_server,
    start_rasa,
    texts,
)

pytestmark = pytest.mark.e2e
ANSWER_DEADLINE = 8.0  # the production default, and its call budget: tighter ones failed under a loaded CI machine


@pytest.fixture(scope="module")
def rasa_url(accounts_api: AccountsApi, redis_url: str, run_id: str, trained_model: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = action_server_env(accounts_api, redis_url, f"{run_id}:e2e:",
                            {"ACCOUNTS_ANSWER_DEADLINE": str(ANSWER_DEADLINE), "ACCOUNTS_CACHE_PORTFOLIO_TTL": "0"})
    tmp = tmp_path_factory.mktemp("rasa")
    model = tmp / "model.tar.gz"
    shutil.copyfile(trained_model, model)  # a concurrent `make model` may rewrite models/current.tar.gz
    actions, action_url = start_action_server(env, name="action-server-e2e")
    try:
        rasa, url = start_rasa(model, action_url, tmp, name="rasa-e2e")
    except Exception:
        actions.stop()
        raise
    yield url
    rasa.stop()
    actions.stop()


def chat(rasa_url: str, mobile: str) -> Chat:
    return Chat(rasa_url, mobile)


def verify(c: Chat, api: AccountsApi, intent: str) -> list[dict]:
    """Ask `intent`, check the OTP question, type the right code; returns the replies to the code."""
    asked = c.send(intent)
    assert "6-digit code" in texts(asked), texts(asked)
    assert "91XXXXXX" in texts(asked) and c.sender not in texts(asked)
    code = api.last_otp(c.sender)
    replies = c.send(otp_payload(code))
    assert code not in texts(replies)
    assert "verified" in texts(replies), texts(replies)
    return replies


def otp_payload(code: str) -> str:
    return "/inform" + json.dumps({"otp": code})


PICKED: set[str] = set()  # investors this module already talks as: each test gets one of its own


def pick(api: AccountsApi, index: int, **filters: object) -> str:
    """A generated investor (never a documented one, which other tests talk as), never one another test picked:
    two filters' `index`-th investors can be the same person, whose verification would carry over."""
    found = [i["mobile"] for i in api.investors(limit=index + 80, **filters)
             if not i["mobile"].startswith(RESERVED_PREFIX)]
    mobile = next(m for m in found[index:] if m not in PICKED)
    PICKED.add(mobile)
    return str(mobile)


def test_unknown_number_is_told_how_to_register(rasa_url: str) -> None:
    replies = Chat(rasa_url, "919800000099").send("/check_portfolio")
    assert "isn't registered" in texts(replies) and "₹" not in texts(replies)
    assert {"title": "Talk to an agent", "payload": "/talk_to_agent"} in buttons(replies)


def test_portfolio_single_folio(rasa_url: str, accounts_api: AccountsApi) -> None:
    replies = verify(chat(rasa_url, "919800000001"), accounts_api, "/check_portfolio")
    assert "Your portfolio" in texts(replies) and "Flexi Cap" in texts(replies) and "Gain" in texts(replies)


def test_code_typed_as_plain_text(rasa_url: str, accounts_api: AccountsApi) -> None:
    """Whatever intent NLU gives a typed code, the form takes the digits (spaces allowed) from the text."""
    c = chat(rasa_url, pick(accounts_api, 27))
    first = texts(c.send("/kyc_status"))
    assert "6-digit code" in first and "doesn't look like" not in first  # the question is not a wrong code
    assert "doesn't look like" in texts(c.send("hmm which code"))
    code = accounts_api.last_otp(c.sender)
    replies = texts(c.send(f"{code[:3]} {code[3:]}"))
    assert "verified" in replies and "KYC" in replies and code not in replies


def test_portfolio_multiple_folios_then_one(rasa_url: str, accounts_api: AccountsApi) -> None:
    c = chat(rasa_url, "919800000002")
    replies = verify(c, accounts_api, "/check_portfolio")
    folio_buttons = buttons(replies)
    assert len(folio_buttons) == 3 and all(b["title"].startswith("Folio XXXX") for b in folio_buttons)
    one = c.send(folio_buttons[1]["payload"])
    assert "Folio XXXX" in texts(one) and "•" in texts(one)


def test_many_folios_become_a_list(rasa_url: str, accounts_api: AccountsApi) -> None:
    replies = verify(chat(rasa_url, "919800000006"), accounts_api, "/check_portfolio")
    assert 3 < len(buttons(replies)) <= 10  # the WhatsApp channel turns >3 buttons into a list message


def test_nav_needs_no_verification(rasa_url: str) -> None:
    replies = Chat(rasa_url, "919800000099").send('/check_nav{"scheme":"elss tax saver"}')
    assert "Sahyadri ELSS Tax Saver Fund" in texts(replies) and "NAV as of" in texts(replies)
    ask = Chat(rasa_url, "919800000099").send("/check_nav")
    assert len(buttons(ask)) == 3


def test_sip_status_transactions_kyc_redemption(rasa_url: str, accounts_api: AccountsApi) -> None:
    c = chat(rasa_url, "919800000004")
    sips = verify(c, accounts_api, "/sip_status")
    assert "Your SIPs" in texts(sips) and "Next:" in texts(sips)
    txns = c.send("/transaction_history")  # still verified: no second OTP
    assert "Last 5 transactions" in texts(txns) and "6-digit" not in texts(txns)
    assert "KYC verified" in texts(c.send("/kyc_status"))
    red = texts(c.send("/redemption_status"))
    assert "Redemption in progress" in red and "Expected credit" in red and "a/c XXXX" in red


def test_kyc_on_hold_says_what_to_do(rasa_url: str, accounts_api: AccountsApi) -> None:
    replies = verify(chat(rasa_url, "919800000003"), accounts_api, "/kyc_status")
    assert "on hold" in texts(replies) and "Next:" in texts(replies)


def test_statement_request(rasa_url: str, accounts_api: AccountsApi) -> None:
    c = chat(rasa_url, "919800000005")
    choose = verify(c, accounts_api, "/request_statement")
    assert [b["title"] for b in buttons(choose)] == ["CAS (all funds)", "Capital gains", "Account statement"]
    done = texts(c.send('/request_statement{"statement_type":"capital_gains"}'))
    assert "capital gains statement" in done and "n*********@example.com" in done and "Reference: ST" in done


def test_stop_sip_confirmed_and_placed_once(rasa_url: str, accounts_api: AccountsApi) -> None:
    mobile = pick(accounts_api, 3, sip_status="active", min_folios=1)
    c = chat(rasa_url, mobile)
    asked = verify(c, accounts_api, "/stop_sip")
    if not any(b["payload"] == "/affirm" for b in buttons(asked)):  # several SIPs: choose the first
        asked = c.send(buttons(asked)[0]["payload"])
    assert [b["payload"] for b in buttons(asked)] == ["/affirm", "/deny"]
    first = texts(c.send("/affirm"))
    assert "Done" in first
    # the investor asks again for the same SIP: nothing new is placed
    again = c.send("/stop_sip")
    investor_id = accounts_api.call("GET", f"/v1/investors/by-mobile/{mobile}")[1]["investor_id"]
    placed = accounts_api.call("GET", f"/v1/investors/{investor_id}/service-requests")[1]["service_requests"]
    assert len(placed) == 1
    assert placed[0]["ref"] in first
    assert "Stop your SIP" not in texts(again) or placed[0]["target"] not in json.dumps(buttons(again))


def test_stop_sip_declined_places_nothing(rasa_url: str, accounts_api: AccountsApi) -> None:
    mobile = pick(accounts_api, 7, sip_status="active")
    c = chat(rasa_url, mobile)
    asked = verify(c, accounts_api, "/stop_sip")
    if not any(b["payload"] == "/deny" for b in buttons(asked)):
        c.send(buttons(asked)[0]["payload"])
    assert "haven't changed anything" in texts(c.send("/deny"))
    investor_id = accounts_api.call("GET", f"/v1/investors/by-mobile/{mobile}")[1]["investor_id"]
    assert accounts_api.call("GET", f"/v1/investors/{investor_id}/service-requests")[1]["service_requests"] == []


def test_contact_change_confirmed_once_even_if_repeated(rasa_url: str, accounts_api: AccountsApi) -> None:
    mobile = pick(accounts_api, 11)
    c = chat(rasa_url, mobile)
    choose = verify(c, accounts_api, "/update_contact")
    assert len(buttons(choose)) == 3
    confirm = c.send('/update_contact{"contact_field":"email"}')
    assert "@example.com" in texts(confirm) and "*" in texts(confirm)
    assert "Done" in texts(c.send("/affirm"))
    c.send('/update_contact{"contact_field":"email"}')
    assert "already placed" in texts(c.send("/affirm"))
    investor_id = accounts_api.call("GET", f"/v1/investors/by-mobile/{mobile}")[1]["investor_id"]
    assert len(accounts_api.call("GET", f"/v1/investors/{investor_id}/service-requests")[1]["service_requests"]) == 1


def test_wrong_codes_lock_verification(rasa_url: str, accounts_api: AccountsApi) -> None:
    mobile = pick(accounts_api, 15)
    c = chat(rasa_url, mobile)
    try:
        assert "6-digit code" in texts(c.send("/check_portfolio"))
        real = accounts_api.last_otp(mobile)
        wrong = "111111" if real != "111111" else "222222"
        assert "2 attempt(s) left" in texts(c.send(otp_payload(wrong)))
        assert "1 attempt(s) left" in texts(c.send(otp_payload(wrong)))
        locked = texts(c.send(otp_payload(wrong)))
        assert "locked" in locked and "₹" not in locked
        again = texts(c.send("/check_portfolio"))  # still locked: no new code is sent
        assert "locked" in again and "6-digit" not in again
    finally:
        accounts_api.clear_locks(mobile)


def test_verification_expires_after_inactivity(rasa_url: str, accounts_api: AccountsApi, redis_url: str,
                                               run_id: str) -> None:
    mobile = pick(accounts_api, 19)
    c = chat(rasa_url, mobile)
    verify(c, accounts_api, "/kyc_status")
    # the idle time passes: the session record's expiry is brought forward in Redis, as inactivity would
    key = f"{run_id}:e2e:session:verified:{Conversation('rest', conversation_id(mobile)).key}"
    client = redis.Redis.from_url(redis_url)
    assert client.pexpire(key, 1)
    while client.exists(key):
        time.sleep(0.01)  # the expiry itself, not a stand-in for it
    replies = texts(c.send("/kyc_status"))
    assert "verification ends" in replies and "6-digit code" in replies and "KYC verified" not in replies


def test_outage_answered_in_time_then_recovers(rasa_url: str, accounts_api: AccountsApi) -> None:
    mobile = pick(accounts_api, 23)
    c = chat(rasa_url, mobile)
    verify(c, accounts_api, "/kyc_status")
    accounts_api.faults(outage=True)
    try:
        for _ in range(2):
            started = time.monotonic()
            replies = c.send("/check_portfolio")
            assert time.monotonic() - started < ANSWER_DEADLINE + 2
            assert "isn't responding" in texts(replies)
            assert {"title": "Talk to an agent", "payload": "/talk_to_agent"} in buttons(replies)
        slow_start = time.monotonic()
        accounts_api.faults(outage=False, latency_ms=20000)  # slow, not down
        assert "isn't responding" in texts(c.send("/sip_status"))
        assert time.monotonic() - slow_start < ANSWER_DEADLINE + 2
    finally:
        accounts_api.reset_faults()
    time.sleep(1.2)  # the breaker's reset time in this stack
    assert "Your portfolio" in texts(c.send("/check_portfolio"))
