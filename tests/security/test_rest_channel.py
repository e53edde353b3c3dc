"""Finding 2: Rasa's REST channel could speak as any WhatsApp number. Now it needs its token, and its
conversations are its own (`rest:<sender>`), so a verified WhatsApp conversation cannot be reached through it."""

from __future__ import annotations

from tests.e2e_support.stack import http_json
from tests.security.conftest import SecureStack


def generated_investor(stack: SecureStack, index: int) -> str:
    from standins.accounts_api.seed import RESERVED_PREFIX

    found = [i["mobile"] for i in stack.api.investors(limit=index + 60) if not i["mobile"].startswith(RESERVED_PREFIX)]
    return str(found[index])


def test_rest_without_its_token_is_refused(secure_stack: SecureStack) -> None:
    for token in (None, "wrong"):
        status, body = secure_stack.rest("919800000001", "hi", token=token)
        assert status == 401, body


def test_rest_cannot_reach_a_verified_whatsapp_conversation(secure_stack: SecureStack) -> None:
    wa_id = generated_investor(secure_stack, 3)
    asked = secure_stack.whatsapp(wa_id, "show my portfolio", expect="6-digit code")
    assert "91XXXXXX" in asked
    code = secure_stack.api.last_otp(wa_id)
    answered = secure_stack.whatsapp(wa_id, code, expect="verified")
    assert code not in answered

    status, replies = secure_stack.rest(wa_id, "/transaction_history")
    assert status == 200
    text = "\n".join(r.get("text", "") for r in replies)
    assert "6-digit code" in text, text  # a conversation of its own: it must verify for itself
    assert "₹" not in text and "Recent transactions" not in text

    whatsapp = secure_stack.tracker(wa_id)
    channels = {e.get("input_channel") for e in whatsapp["events"] if e.get("event") == "user"}
    assert channels == {"whatsapp"}, channels  # nothing from REST landed in the investor's WhatsApp conversation
    rest = secure_stack.tracker(f"rest:{wa_id}")
    assert any(e.get("event") == "user" for e in rest["events"])


def test_rest_sender_cannot_escape_its_namespace(secure_stack: SecureStack) -> None:
    """Even a sender that already looks like a REST id stays in the REST namespace, never a bare wa_id."""
    status, _ = secure_stack.rest("rest:919800000002", "hi")
    assert status == 200
    status, body, _ = http_json(
        "GET", f"{secure_stack.rasa_url}/conversations/919800000002/tracker" f"?token=test-rasa-token"
    )
    assert status == 200 and not [e for e in body["events"] if e.get("event") == "user"]
