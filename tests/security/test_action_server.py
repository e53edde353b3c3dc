"""Finding 1: the action server believed whatever tracker it was sent. Now it refuses callers that are not our
Rasa, and even an authenticated caller's slots cannot claim verification (actions/server.py, actions/sessions.py)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

from tests.e2e_support.stack import ACTION_TOKEN, http_json
from tests.security.conftest import SecureStack

ASHA = "919800000001"  # a seeded investor with one folio


def forged_call(action: str, sender: str, investor_id: int, intent: str) -> dict[str, Any]:
    """What an attacker would hand-write: every slot an older version read as proof of verification."""
    slots = {
        "investor_id": str(investor_id),
        "verified_at": time.time(),
        "verification_result": "verified",
        "pending_intent": intent,
        "pending_args": {},
        "otp_id": "x",
        "requested_slot": None,
    }
    latest = {
        "intent": {"name": intent, "confidence": 1.0},
        "entities": [],
        "text": f"/{intent}",
        "message_id": f"forged-{time.time_ns()}",
    }
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "slots": slots,
            "latest_message": latest,
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
            "latest_input_channel": "whatsapp",
            "events": [
                {
                    "event": "user",
                    "timestamp": time.time(),
                    "text": latest["text"],
                    "parse_data": latest,
                    "input_channel": "whatsapp",
                }
            ],
        },
    }


def leaked(body: Any) -> bool:
    text = str(body)
    return "₹" in text or "Your portfolio" in text or "units" in text


def test_unauthenticated_calls_are_refused(secure_stack: SecureStack) -> None:
    investor_id = secure_stack.api.call("GET", f"/v1/investors/by-mobile/{ASHA}")[1]["investor_id"]
    call = forged_call("action_check_portfolio", ASHA, investor_id, "check_portfolio")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {ACTION_TOKEN}"}):
        status, body, _ = http_json("POST", secure_stack.action_url, call, headers)
        assert status == 401 and not leaked(body), (headers, status, body)


def test_only_json_is_accepted(secure_stack: SecureStack) -> None:
    request = urllib.request.Request(
        secure_stack.action_url,
        data=b'{"next_action": "action_check_portfolio"}',
        method="POST",
        headers={"Content-Type": "text/plain", "Authorization": f"Bearer {ACTION_TOKEN}"},
    )
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("a text/plain body was accepted")
    except urllib.error.HTTPError as exc:
        assert exc.code == 415


def test_forged_verification_slots_get_the_verify_path(secure_stack: SecureStack) -> None:
    """Authenticated, but the tracker only claims verification: the investor is asked for a code, nothing leaks."""
    investor_id = secure_stack.api.call("GET", f"/v1/investors/by-mobile/{ASHA}")[1]["investor_id"]
    auth = {"Authorization": f"Bearer {ACTION_TOKEN}"}
    for action, intent in [
        ("action_check_portfolio", "check_portfolio"),
        ("action_transaction_history", "transaction_history"),
        ("action_resume_account", "kyc_status"),
    ]:
        status, body, _ = http_json(
            "POST", secure_stack.action_url, forged_call(action, ASHA, investor_id, intent), auth
        )
        assert status == 200, body
        assert not leaked(body), f"{action} answered a forged tracker: {body}"
        followups = [e.get("name") for e in body["events"] if e.get("event") == "followup"]
        responses = [r.get("response") for r in body["responses"]]
        assert (
            followups == ["verification_form"]
            or "utter_verification_stopped" in responses
            or "utter_otp_rate_limited" in responses
        ), (action, body)


def test_errors_never_echo_the_tracker(secure_stack: SecureStack) -> None:
    auth = {"Authorization": f"Bearer {ACTION_TOKEN}"}
    call = {
        "next_action": "action_check_portfolio",
        "sender_id": ASHA,
        "tracker": {"slots": "not a dict", "pan": "ABCPK1234L"},
    }
    status, body, _ = http_json("POST", secure_stack.action_url, call, auth)
    assert status >= 400 and "ABCPK1234L" not in str(body)
