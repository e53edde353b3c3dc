"""Checks the simulator applies to outgoing messages, with Meta's limits and error codes (100 / 131009).

A reply that breaks a limit fails here exactly as it would fail at Meta, so a channel bug shows up locally.
"""

from __future__ import annotations

from typing import Any

SUPPORTED = {
    "text",
    "interactive",
    "image",
    "document",
    "audio",
    "video",
    "sticker",
    "template",
    "reaction",
    "location",
    "contacts",
}


class Invalid(Exception):
    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


def _check(condition: bool, details: str, code: int = 131009) -> None:
    if not condition:
        raise Invalid(code, details)


def validate(message: dict[str, Any]) -> None:
    _check(message.get("messaging_product") == "whatsapp", "messaging_product must be 'whatsapp'", 100)
    _check(str(message.get("to", "")).lstrip("+").isdigit(), "'to' must be a phone number", 100)
    kind = message.get("type", "text")
    _check(kind in SUPPORTED, f"unsupported message type {kind!r}", 100)
    content = message.get(kind)
    _check(isinstance(content, dict), f"'{kind}' object is required", 100)
    assert isinstance(content, dict)
    if kind == "text":
        body = str(content.get("body", ""))
        _check(0 < len(body) <= 4096, f"text.body must be 1-4096 characters, got {len(body)}", 100)
    elif kind == "interactive":
        _validate_interactive(content)
    elif kind in {"image", "document", "audio", "video", "sticker"}:
        _check(bool(content.get("link") or content.get("id")), f"{kind} needs 'link' or 'id'", 100)
    elif kind == "template":
        _check(bool(content.get("name")), "template.name is required", 100)
        _check(bool((content.get("language") or {}).get("code")), "template.language.code is required", 100)
    elif kind == "reaction":
        _check(bool(content.get("message_id")), "reaction.message_id is required", 100)


def _validate_interactive(content: dict[str, Any]) -> None:
    kind = content.get("type")
    body = str((content.get("body") or {}).get("text", ""))
    _check(0 < len(body) <= 1024, f"interactive body must be 1-1024 characters, got {len(body)}")
    action = content.get("action") or {}
    if kind == "button":
        buttons = action.get("buttons") or []
        _check(1 <= len(buttons) <= 3, f"reply buttons: 1-3 allowed, got {len(buttons)}")
        ids = set()
        for button in buttons:
            reply = button.get("reply") or {}
            title = str(reply.get("title", ""))
            _check(0 < len(title) <= 20, f"button title must be 1-20 characters: {title!r}")
            _check(0 < len(str(reply.get("id", ""))) <= 256, "button id must be 1-256 characters")
            _check(reply.get("id") not in ids, "button ids must be unique")
            ids.add(reply.get("id"))
    elif kind == "list":
        _check(0 < len(str(action.get("button", ""))) <= 20, "list button label must be 1-20 characters")
        sections = action.get("sections") or []
        _check(1 <= len(sections) <= 10, "list: 1-10 sections")
        rows = [row for section in sections for row in section.get("rows") or []]
        _check(1 <= len(rows) <= 10, f"list: 1-10 rows in total, got {len(rows)}")
        for row in rows:
            _check(0 < len(str(row.get("title", ""))) <= 24, f"row title must be 1-24 characters: {row.get('title')!r}")
            _check(len(str(row.get("description", ""))) <= 72, "row description must be at most 72 characters")
            _check(0 < len(str(row.get("id", ""))) <= 200, "row id must be 1-200 characters")
    else:
        _check(
            kind in {"cta_url", "product", "product_list", "flow", "location_request_message"},
            f"interactive type {kind!r}",
        )
