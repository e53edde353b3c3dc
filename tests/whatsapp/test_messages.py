"""Outbound shaping within Meta's limits, and payload parsing edge cases (pure functions, no I/O)."""

from __future__ import annotations

import json

import pytest

from connectors.whatsapp import messages as wa
from connectors.whatsapp.models import InboundMessage, PayloadError, parse_webhook
from connectors.whatsapp.signature import is_valid, sign
from tests.whatsapp import meta_payloads as meta

TO = meta.INVESTOR


def test_short_text_is_one_message() -> None:
    assert wa.text_messages(TO, "  Hello.  ") == [
        {"messaging_product": "whatsapp", "recipient_type": "individual", "to": TO, "type": "text",
         "text": {"preview_url": False, "body": "Hello."}}
    ]  # fmt: skip


def test_long_text_splits_on_sentence_boundaries_within_4096() -> None:
    sentence = "Your SIP in the Flexi Cap Fund is active and the next instalment is due on the 5th. "
    text = sentence * 120  # ~10 000 characters
    chunks = wa.split_text(text)
    assert len(chunks) == 3
    assert all(len(c) <= wa.TEXT_LIMIT for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    assert " ".join(chunks) == text.strip()


def test_text_without_sentence_ends_splits_on_spaces_then_hard() -> None:
    words = "word " * 2000
    assert all(len(c) <= 4096 and not c.endswith(" ") for c in wa.split_text(words))
    blob = "x" * 9000
    assert [len(c) for c in wa.split_text(blob)] == [4096, 4096, 808]


def test_three_buttons_become_reply_buttons_with_payload_ids() -> None:
    buttons = [{"title": "Portfolio", "payload": "/check_portfolio"}, {"title": "SIPs", "payload": "/sip_status"}]
    [message] = wa.button_messages(TO, "What do you need?", buttons)
    interactive = message["interactive"]
    assert interactive["type"] == "button"
    assert [b["reply"] for b in interactive["action"]["buttons"]] == [
        {"id": "/check_portfolio", "title": "Portfolio"},
        {"id": "/sip_status", "title": "SIPs"},
    ]


def test_more_than_three_buttons_become_a_list_of_at_most_ten_rows() -> None:
    buttons = [{"title": f"Scheme number {i} with a long name", "payload": f"/s{i}"} for i in range(23)]
    lists = wa.button_messages(TO, "Which scheme?", buttons)
    assert len(lists) == 3
    for message in lists:
        rows = message["interactive"]["action"]["sections"][0]["rows"]
        assert message["interactive"]["type"] == "list" and 1 <= len(rows) <= 10
        assert all(len(r["title"]) <= 24 and len(r.get("description", "")) <= 72 for r in rows)
    all_ids = [r["id"] for m in lists for r in m["interactive"]["action"]["sections"][0]["rows"]]
    assert all_ids == [f"/s{i}" for i in range(23)]


def test_a_long_button_title_forces_a_list() -> None:
    buttons = [{"title": "Download capital gains statement", "payload": "/request_statement"}]
    [message] = wa.button_messages(TO, "Pick", buttons)
    row = message["interactive"]["action"]["sections"][0]["rows"][0]
    assert message["interactive"]["type"] == "list"
    assert row["title"] == "Download capital gains…" and row["description"] == "Download capital gains statement"


def test_long_body_with_buttons_sends_the_excess_as_text() -> None:
    text = "This is a sentence about NAV. " * 60
    messages = wa.button_messages(TO, text, [{"title": "OK", "payload": "/affirm"}])
    assert messages[0]["type"] == "text" and messages[-1]["type"] == "interactive"
    assert len(messages[-1]["interactive"]["body"]["text"]) <= 1024


def test_custom_json_passes_through_and_templates_are_recognised() -> None:
    custom = {"type": "template", "template": {"name": "sip_reminder", "language": {"code": "en"}}}
    [message] = wa.custom_messages(TO, custom)
    assert message["to"] == TO and wa.is_template(message) and message["template"]["name"] == "sip_reminder"
    [nested] = wa.custom_messages(
        TO, {"whatsapp": {"type": "reaction", "reaction": {"message_id": "m", "emoji": "👍"}}}
    )
    assert nested["type"] == "reaction"
    with pytest.raises(ValueError):
        wa.custom_messages(TO, {"blocks": []})


def test_signature() -> None:
    body = b'{"a": 1}'
    assert is_valid(body, sign(body, "s"), "s")
    assert not is_valid(body, sign(body, "s").upper().replace("SHA256", "sha256"), "s")
    assert not is_valid(body + b" ", sign(body, "s"), "s")


def test_message_roundtrips_through_the_queue_format() -> None:
    batch = parse_webhook(json.dumps(meta.webhook([meta.message("wamid.Q", meta.DOCUMENT)])).encode())
    [message] = batch.messages
    assert InboundMessage.from_json(message.to_json()) == message
    meta_data = message.metadata()["whatsapp"]
    assert meta_data["type"] == "document" and meta_data["media"]["filename"] == "cas_statement.pdf"
    assert meta_data["transcript"] == "[document] cas_statement.pdf"
    assert message.metadata()["correlation_id"] == "wamid.Q"  # the key every service reads, channel-neutral


def test_other_fields_are_ignored_not_rejected() -> None:
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {}}]}],
    }
    assert parse_webhook(json.dumps(body).encode()).messages == []


@pytest.mark.parametrize(
    "bad", [{"object": "whatsapp_business_account"}, {"object": "whatsapp_business_account", "entry": [1]}]
)
def test_structural_errors(bad: dict) -> None:
    with pytest.raises(PayloadError):
        parse_webhook(json.dumps(bad).encode())


def test_reply_ids_are_read_from_any_shape_without_failing() -> None:
    custom = {
        "type": "interactive",
        "interactive": {"type": "button", "action": {"buttons": [{"reply": {"id": "/a"}}]}},
    }
    assert wa.reply_ids(wa.custom_messages(TO, custom)[0]) == ["/a"]
    broken: list[dict] = [
        {"type": "interactive", "interactive": []},
        {"type": "interactive", "interactive": {"action": {"buttons": "x", "sections": [{"rows": [1, {"id": 2}]}]}}},
        {"type": "template", "template": {"components": [{"type": "button", "sub_type": "quick_reply"}]}},
        {"type": "template", "template": {"components": {"type": "button"}}},
        {"type": "text", "text": {"body": "/not an offer"}},
    ]
    assert [wa.reply_ids(m) for m in broken] == [[], [], [], [], []]
