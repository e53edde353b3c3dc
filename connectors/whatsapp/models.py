"""Meta's webhook payloads, parsed into the two things the channel cares about: investor messages and statuses.

Payload shape (WhatsApp Cloud API, `messages` field):

    {"object": "whatsapp_business_account",
     "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": {
         "messaging_product": "whatsapp",
         "metadata": {"display_phone_number": ..., "phone_number_id": ...},
         "contacts": [{"profile": {"name": ...}, "wa_id": ...}],
         "messages": [{"from": wa_id, "id": "wamid...", "timestamp": "1700000000", "type": "text", "text": {...}}],
         "statuses": [{"id": "wamid...", "status": "delivered", "timestamp": ..., "recipient_id": ..., "errors": [...]}]
     }}]}]}

Parsing is strict about what we rely on (object, entry/changes lists, message id/from/timestamp/type, status
id/status) and lenient about everything else, so a new field from Meta never breaks the channel while a
payload we cannot act on gets a clear 400 instead of a crash half-way through.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

# Types Rasa can understand as language.
TEXT_TYPES = frozenset({"text", "interactive", "button"})
# Types the bot cannot read: acknowledged with a plain notice, logged in the transcript for agents.
MEDIA_TYPES = frozenset({"image", "document", "audio", "video", "sticker"})
# Types that need neither prediction nor a notice (a reaction is not a question).
SILENT_TYPES = frozenset({"reaction", "system", "request_welcome", "ephemeral"})


def typed(text: Any) -> str | None:
    """Free text as NLU should see it: leading slashes removed, so it can't be read as an intent payload."""
    return str(text).strip().lstrip("/").strip() or None


class PayloadError(ValueError):
    """The webhook body is not a WhatsApp payload we can act on (answered with 400)."""


@dataclass(frozen=True)
class InboundMessage:
    """One message an investor sent, as the channel queues it and Rasa receives it."""

    id: str
    wa_id: str
    timestamp: int
    type: str
    phone_number_id: str = ""
    profile_name: str = ""
    body: dict[str, Any] = field(default_factory=dict)

    # ----- what Rasa and the transcript see -------------------------------------------------------------
    def rasa_text(self) -> str | None:
        """Text for NLU, or None when the message should not trigger a prediction (media, reactions...)."""
        if self.type == "text":
            # Typed text is never a command: "/restart" or '/inform{"otp": ...}' typed by an investor would
            # otherwise bypass NLU (unpausing a handoff, or injecting entities). Only our own buttons carry payloads.
            return typed(self.body.get("text", {}).get("body", ""))
        if self.type == "interactive":
            interactive = self.body.get("interactive", {})
            reply = interactive.get(interactive.get("type", ""), {}) or {}
            reply_id, title = str(reply.get("id", "")), str(reply.get("title", ""))
            # Our buttons carry Rasa payloads ("/check_portfolio") as ids; anything else is answered by its title.
            return reply_id if reply_id.startswith("/") else (title or reply_id or None)
        if self.type == "button":  # quick-reply button of a template
            button = self.body.get("button", {})
            payload, text = str(button.get("payload", "")), str(button.get("text", ""))
            return payload if payload.startswith("/") else (text or payload or None)
        if self.type in MEDIA_TYPES:
            return typed(self.body.get(self.type, {}).get("caption", ""))
        return None

    def notice_kind(self) -> str | None:
        """Which plain 'I cannot read this' notice the investor gets, if any."""
        if self.type in MEDIA_TYPES:
            return self.type
        if self.type in {"location", "contacts"}:
            return self.type
        if self.type in TEXT_TYPES or self.type in SILENT_TYPES:
            return None
        return "unsupported"

    def transcript_text(self) -> str:
        """A one-line rendering for the transcript, so agents see what arrived even when the bot could not read it."""
        text = self.rasa_text()
        if self.type in TEXT_TYPES and text:
            return text
        detail = ""
        if self.type in MEDIA_TYPES:
            media = self.body.get(self.type, {})
            detail = media.get("filename") or media.get("caption") or media.get("mime_type") or ""
        elif self.type == "location":
            loc = self.body.get("location", {})
            detail = ", ".join(str(x) for x in (loc.get("name"), loc.get("address")) if x) or (
                f"{loc.get('latitude')},{loc.get('longitude')}"
            )
        elif self.type == "contacts":
            names = [c.get("name", {}).get("formatted_name", "") for c in self.body.get("contacts", [])]
            detail = ", ".join(n for n in names if n)
        elif self.type == "reaction":
            detail = str(self.body.get("reaction", {}).get("emoji", "")) or "removed"
        elif self.type == "unsupported":
            errors = self.body.get("errors", [])
            detail = str(errors[0].get("title", "")) if errors else ""
        return f"[{self.type}] {detail}".strip()

    def metadata(self) -> dict[str, Any]:
        """UserMessage metadata: the WhatsApp facts the tracker, actions and agents may need."""
        meta: dict[str, Any] = {
            "whatsapp": {
                "message_id": self.id,
                "type": self.type,
                "timestamp": self.timestamp,
                "profile_name": self.profile_name,
                "phone_number_id": self.phone_number_id,
            }
        }
        if self.type in MEDIA_TYPES:
            media = self.body.get(self.type, {})
            meta["whatsapp"]["media"] = {
                k: media[k] for k in ("id", "mime_type", "filename", "caption", "voice", "animated") if k in media
            }
        context = self.body.get("context")
        if isinstance(context, dict) and context.get("id"):
            meta["whatsapp"]["in_reply_to"] = context["id"]
        if self.type not in TEXT_TYPES:
            meta["whatsapp"]["transcript"] = self.transcript_text()
        return meta

    # ----- queue serialisation ---------------------------------------------------------------------------
    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> InboundMessage:
        data = json.loads(raw)
        return cls(**data)


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery status of a message we sent (sent / delivered / read / failed)."""

    id: str
    status: str
    timestamp: int
    recipient_id: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    callback_data: str = ""

    @property
    def error_codes(self) -> list[int]:
        return [int(e.get("code", 0)) for e in self.errors if isinstance(e, dict)]


@dataclass
class WebhookBatch:
    """Everything one webhook POST carried, messages sorted in the order the investors sent them."""

    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)


def _require(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj or obj[key] in (None, ""):
        raise PayloadError(f"{where}: missing '{key}'")
    return obj[key]


def _as_int(value: Any, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise PayloadError(f"{where}: timestamp {value!r} is not an integer") from exc


def parse_webhook(raw: bytes) -> WebhookBatch:
    """Parse a verified webhook body; raise PayloadError with a reason for anything we cannot act on."""
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(f"body is not JSON ({exc.__class__.__name__})") from exc
    if not isinstance(payload, dict):
        raise PayloadError("body is not a JSON object")
    if payload.get("object") != "whatsapp_business_account":
        raise PayloadError(f"object is {payload.get('object')!r}, expected 'whatsapp_business_account'")
    entries = payload.get("entry")
    if not isinstance(entries, list):
        raise PayloadError("'entry' is not a list")
    batch = WebhookBatch()
    order: list[tuple[int, int, InboundMessage]] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("changes", []), list):
            raise PayloadError("an entry is not an object with a 'changes' list")
        for change in entry.get("changes", []):
            if not isinstance(change, dict):
                raise PayloadError("a change is not an object")
            if change.get("field") != "messages":
                continue  # template status, account updates...: not the channel's business
            value = change.get("value")
            if not isinstance(value, dict):
                raise PayloadError("change 'value' is not an object")
            phone_number_id = str((value.get("metadata") or {}).get("phone_number_id", ""))
            names = {
                str(c.get("wa_id")): str((c.get("profile") or {}).get("name", ""))
                for c in value.get("contacts") or []
                if isinstance(c, dict)
            }
            for message in value.get("messages") or []:
                if not isinstance(message, dict):
                    raise PayloadError("a message is not an object")
                wa_id = str(_require(message, "from", "message"))
                parsed = InboundMessage(
                    id=str(_require(message, "id", "message")),
                    wa_id=wa_id,
                    timestamp=_as_int(_require(message, "timestamp", "message"), "message"),
                    type=str(_require(message, "type", "message")),
                    phone_number_id=phone_number_id,
                    profile_name=names.get(wa_id, ""),
                    body=message,
                )
                order.append((parsed.timestamp, len(order), parsed))
            for status in value.get("statuses") or []:
                if not isinstance(status, dict):
                    raise PayloadError("a status is not an object")
                batch.statuses.append(
                    StatusUpdate(
                        id=str(_require(status, "id", "status")),
                        status=str(_require(status, "status", "status")),
                        timestamp=_as_int(status.get("timestamp", 0), "status"),
                        recipient_id=str(status.get("recipient_id", "")),
                        errors=[e for e in status.get("errors") or [] if isinstance(e, dict)],
                        callback_data=str(status.get("biz_opaque_callback_data", "")),
                    )
                )
    # Meta does not promise order inside a payload either: sort by the investor's send time (stable).
    batch.messages = [m for _, _, m in sorted(order, key=lambda t: (t[0], t[1]))]
    return batch
