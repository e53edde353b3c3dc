"""Typed text can never act as a Rasa payload; only the bot's own buttons carry one (offered ids: tests/security)."""

from __future__ import annotations

import json

from connectors.whatsapp.models import InboundMessage, parse_webhook
from tests.whatsapp import meta_payloads as meta


def parsed(*contents: dict) -> list[InboundMessage]:
    raw = json.dumps(meta.webhook([meta.message(f"wamid.T{i}", c) for i, c in enumerate(contents)])).encode()
    return parse_webhook(raw).messages


def rasa_texts(*contents: dict) -> list[str | None]:
    return [m.rasa_text() for m in parsed(*contents)]


def test_typed_slash_commands_reach_nlu_as_plain_text() -> None:
    typed_restart = {"type": "text", "text": {"body": "/restart"}}
    typed_injection = {"type": "text", "text": {"body": ' /inform{"otp": "123456"}'}}
    only_slashes = {"type": "text", "text": {"body": "///"}}
    assert rasa_texts(typed_restart, typed_injection, only_slashes) == ["restart", 'inform{"otp": "123456"}', None]
    spaced = {"type": "text", "text": {"body": "/ /restart"}}  # found by the attack: lstrip alone left "/restart"
    assert rasa_texts(spaced) == ["restart"]


def test_tapped_replies_are_their_titles_and_their_ids_only_payload_candidates() -> None:
    """The channel decides whether a candidate is accepted (only ids the bot offered to that investor)."""
    contents = (meta.BUTTON_REPLY, meta.LIST_REPLY, meta.TEMPLATE_BUTTON, meta.LIST_REPLY_PLAIN_ID)
    assert rasa_texts(*contents) == ["Portfolio", "SIP status", "Talk to us", "Tax statement"]
    assert [m.reply_payload() for m in parsed(*contents)] == ["/check_portfolio", "/sip_status", "/talk_to_agent", None]


def test_a_reply_title_is_never_a_payload_either() -> None:
    forged = {
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": "x", "title": "/restart"}},
    }
    assert rasa_texts(forged) == ["restart"]
