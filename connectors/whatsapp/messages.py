"""Rasa responses -> Graph API message objects, within Meta's documented limits.

Limits (WhatsApp Cloud API, messages endpoint): text body 4096 characters; interactive body 1024, footer 60;
reply buttons 1-3 with titles of at most 20 characters and ids of at most 256; list messages with a button
label of at most 20 characters, at most 10 rows in total, row titles 24, row descriptions 72, row ids 200.
Rather than letting Meta reject a reply (error 100/131009) the builders shape every reply to fit: long text
is split on sentence boundaries, more than three buttons become a list, more than ten options become
several lists, titles are shortened with an ellipsis.
"""

from __future__ import annotations

import re
from typing import Any

from connectors.capabilities import WHATSAPP

TEXT_LIMIT = WHATSAPP.max_text
INTERACTIVE_BODY_LIMIT = 1024
MAX_REPLY_BUTTONS = WHATSAPP.max_buttons
BUTTON_TITLE_LIMIT = WHATSAPP.button_title_max
BUTTON_ID_LIMIT = 256
MAX_LIST_ROWS = WHATSAPP.max_list_rows
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
LIST_BUTTON_LABEL = "Choose"

# What the investor reads when they send something the assistant cannot read. Plain, and with a way forward.
NOTICES = {
    "image": "Thanks, I received your image, but I can only read text, so I can't see what is in it.",
    "document": "Thanks, I received your document, but I can only read text, so I can't open it.",
    "audio": "Thanks, I received your voice message, but I can only read text, so I can't listen to it.",
    "video": "Thanks, I received your video, but I can only read text, so I can't watch it.",
    "sticker": "Thanks for the sticker! I can only read text messages.",
    "location": "Thanks, I received a location, but I can't use locations.",
    "contacts": "Thanks, I received a contact card, but I can't use contact cards.",
    "unsupported": "Sorry, I couldn't read that message. I can only read text messages.",
    "too_long": f"Sorry, your message is too long for me: I read at most {TEXT_LIMIT} characters at a time.",
}
NOTICE_TAIL = " Please type your question, or write 'agent' to talk to a person, who will also see what you sent."

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def notice_text(kind: str) -> str:
    return NOTICES.get(kind, NOTICES["unsupported"]) + NOTICE_TAIL


def shorten(text: str, limit: int) -> str:
    """Fit `text` into `limit` characters, marking a cut with an ellipsis."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split into chunks of at most `limit` characters, preferring sentence and line ends, then spaces."""
    text = text.strip()
    if len(text) <= limit:
        return [text] if text else []
    chunks: list[str] = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = -1
        for match in _SENTENCE_END.finditer(window):
            if 0 < match.start() <= limit:
                cut = match.start()
        if cut <= 0:
            cut = window.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit  # one enormous word: cut hard
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        chunks.append(text)
    return chunks


def _envelope(to: str, kind: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": kind, kind: content}


def text_messages(to: str, text: str) -> list[dict[str, Any]]:
    return [_envelope(to, "text", {"preview_url": False, "body": chunk}) for chunk in split_text(text)]


def _button_id(button: dict[str, Any], limit: int) -> str:
    payload = str(button.get("payload") or button.get("title") or "")
    return payload[:limit]


def button_messages(to: str, text: str, buttons: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rasa buttons -> reply buttons (<=3, titles fit) or list messages (<=10 rows each)."""
    text = text.strip() or "Please choose:"
    lead: list[dict[str, Any]] = []
    if len(text) > INTERACTIVE_BODY_LIMIT:
        # Interactive bodies are short: send the long part as text, keep the last sentence(s) with the buttons.
        parts = split_text(text, INTERACTIVE_BODY_LIMIT)
        lead = [m for part in parts[:-1] for m in text_messages(to, part)]
        text = parts[-1]
    titles = [str(b.get("title", "")) for b in buttons]
    if len(buttons) <= MAX_REPLY_BUTTONS and all(len(t) <= BUTTON_TITLE_LIMIT for t in titles):
        return lead + [
            _envelope(
                to,
                "interactive",
                {
                    "type": "button",
                    "body": {"text": text},
                    "action": {
                        "buttons": [
                            {
                                "type": "reply",
                                "reply": {
                                    "id": _button_id(b, BUTTON_ID_LIMIT),
                                    "title": shorten(t, BUTTON_TITLE_LIMIT),
                                },
                            }
                            for b, t in zip(buttons, titles, strict=False)
                        ]
                    },
                },
            )
        ]
    messages = list(lead)
    for start in range(0, len(buttons), MAX_LIST_ROWS):
        page = buttons[start : start + MAX_LIST_ROWS]
        rows = []
        for button in page:
            title = str(button.get("title", ""))
            row: dict[str, Any] = {"id": _button_id(button, ROW_ID_LIMIT), "title": shorten(title, ROW_TITLE_LIMIT)}
            if len(" ".join(title.split())) > ROW_TITLE_LIMIT:
                row["description"] = shorten(title, ROW_DESCRIPTION_LIMIT)
            rows.append(row)
        body = text if start == 0 else f"{text} (more options)"
        messages.append(
            _envelope(
                to,
                "interactive",
                {
                    "type": "list",
                    "body": {"text": shorten(body, INTERACTIVE_BODY_LIMIT)},
                    "action": {"button": LIST_BUTTON_LABEL, "sections": [{"title": "Options", "rows": rows}]},
                },
            )
        )
    return messages


def image_message(to: str, url: str, caption: str = "") -> dict[str, Any]:
    content: dict[str, Any] = {"link": url}
    if caption:
        content["caption"] = shorten(caption, 1024)
    return _envelope(to, "image", content)


def document_message(to: str, url: str, filename: str = "", caption: str = "") -> dict[str, Any]:
    content: dict[str, Any] = {"link": url}
    if filename:
        content["filename"] = filename
    if caption:
        content["caption"] = shorten(caption, 1024)
    return _envelope(to, "document", content)


def template_message(to: str, name: str, language: str = "en", components: list[Any] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"name": name, "language": {"code": language}}
    if components:
        content["components"] = components
    return _envelope(to, "template", content)


def reaction_message(to: str, message_id: str, emoji: str) -> dict[str, Any]:
    return _envelope(to, "reaction", {"message_id": message_id, "emoji": emoji})


def read_receipt(message_id: str) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}


def custom_messages(to: str, custom: dict[str, Any]) -> list[dict[str, Any]]:
    """Rasa `custom` JSON: a Graph API message object (`{"type": "template", "template": {...}}`) passes through.

    `{"whatsapp": {...}}` is accepted too, so a response can carry payloads for several channels.
    """
    body = custom.get("whatsapp", custom)
    if not isinstance(body, dict) or "type" not in body:
        raise ValueError("custom JSON for WhatsApp needs a 'type' (text, template, interactive, image, ...)")
    message = {"messaging_product": "whatsapp", "recipient_type": "individual", **body}
    message["to"] = to
    return [message]


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def reply_ids(message: dict[str, Any]) -> list[str]:
    """The ids a message offers the investor to tap: reply buttons, list rows, template quick-reply payloads.

    Total over any shape (custom JSON passes through unchecked): what is not where Meta expects it offers nothing.
    """
    if message.get("type") == "interactive":
        action = _object(_object(message.get("interactive")).get("action"))
        buttons = [_object(b.get("reply")).get("id") for b in _dicts(action.get("buttons"))]
        rows = [r.get("id") for section in _dicts(action.get("sections")) for r in _dicts(section.get("rows"))]
        return [i for i in buttons + rows if isinstance(i, str) and i]
    if message.get("type") == "template":
        components = _dicts(_object(message.get("template")).get("components"))
        quick_replies = [c for c in components if c.get("type") == "button" and c.get("sub_type") == "quick_reply"]
        parameters = [p for c in quick_replies for p in _dicts(c.get("parameters")) if p.get("type") == "payload"]
        return [p["payload"] for p in parameters if isinstance(p.get("payload"), str) and p["payload"]]
    return []


def is_template(message: dict[str, Any]) -> bool:
    """Templates are the only messages Meta accepts outside the 24-hour customer-service window."""
    return message.get("type") == "template"
