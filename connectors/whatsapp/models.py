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

Parsing is total: every body gets either a parsed batch or a PayloadError (answered 400), never another
exception. Each field the channel reads has an expected JSON type (`_VALUE`, `_MESSAGE`, `_BY_TYPE` below); a
field may be missing or null, but when present with another type (a list where an object belongs, a number
where a string belongs...) the payload is refused. Fields the channel never reads are dropped while parsing:
Meta adding one breaks nothing, and nothing we did not ask for (however deep) reaches the queue or Rasa.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

# Types Rasa can understand as language.
TEXT_TYPES = frozenset({"text", "interactive", "button"})
# Types the bot cannot read: acknowledged with a plain notice, logged in the transcript for agents.
MEDIA_TYPES = frozenset({"image", "document", "audio", "video", "sticker"})
# Types that need neither prediction nor a notice (a reaction is not a question).
SILENT_TYPES = frozenset({"reaction", "system", "request_welcome", "ephemeral"})
# Meta's limit for a text message body. NLU time grows with the text (a signed 5 MB body blocked Rasa for
# ~40 s): longer text is refused before NLU, not truncated (docs/whatsapp.md says why).
MAX_TEXT_CHARS = 4096
MAX_TIMESTAMP = 10**11  # seconds since 1970 (year ~5000): anything larger is not a time Meta sends
# A message id and a sender travel as AMQP `message_id` (a short string: at most 255 bytes) and in Redis keys;
# Meta's are ~60 and ~15 ASCII characters.
MAX_ID_BYTES = 128
REPLY_KINDS = ("button_reply", "list_reply")


LEADING_COMMAND = re.compile(r"^[\s/]+")  # "/ /restart" must not become "/restart"


def typed(text: Any) -> str | None:
    """Free text as NLU should see it: leading slashes removed, so it can't be read as an intent payload."""
    return LEADING_COMMAND.sub("", str(text)).strip() or None


class PayloadError(ValueError):
    """The webhook body is not a WhatsApp payload we can act on (answered with 400)."""


# ----- the fields the channel reads, and their JSON types ------------------------------------------------
# A schema is a leaf (a Python type or a tuple of them), an object ({key: schema}) or a list of one kind
# ([schema]). `_project` checks a value against it and keeps only the listed keys.
NUMBER = (int, float)
TIMESTAMP = (str, int)
_ERRORS = [{"code": int, "title": str}]
_MEDIA = {"id": str, "mime_type": str, "filename": str, "caption": str, "voice": bool, "animated": bool}
_REPLY = {"id": str, "title": str, "description": str}
_MESSAGE = {
    "from": str,
    "id": str,
    "timestamp": TIMESTAMP,
    "type": str,
    "context": {"id": str, "from": str},
    "errors": _ERRORS,
}
_BY_TYPE: dict[str, dict[str, Any]] = {
    "text": {"text": {"body": str}},
    "interactive": {"interactive": {"type": str, **{kind: _REPLY for kind in REPLY_KINDS}}},
    "button": {"button": {"payload": str, "text": str}},
    "location": {"location": {"latitude": NUMBER, "longitude": NUMBER, "name": str, "address": str}},
    "contacts": {"contacts": [{"name": {"formatted_name": str}}]},
    "reaction": {"reaction": {"message_id": str, "emoji": str}},
    **{kind: {kind: _MEDIA} for kind in MEDIA_TYPES},
}
_STATUS = {
    "id": str,
    "status": str,
    "timestamp": TIMESTAMP,
    "recipient_id": str,
    "errors": _ERRORS,
    "biz_opaque_callback_data": str,
}
_VALUE = {
    "metadata": {"phone_number_id": str},
    "contacts": [{"wa_id": str, "profile": {"name": str}}],
    "messages": [dict],  # each one checked by message_body()
    "statuses": [_STATUS],
}
_ENTRIES = [{"changes": [dict]}]  # a change's value is checked only when its field is "messages"
_JSON_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean", dict: "an object"}


def _project(value: Any, schema: Any, where: str) -> Any:
    """`value` checked against `schema` and reduced to the keys it lists (null = missing); PayloadError if not."""
    if isinstance(schema, dict):
        if not isinstance(value, dict):
            raise PayloadError(f"{where} is not an object")
        return {k: _project(value[k], sub, f"{where}.{k}") for k, sub in schema.items() if value.get(k) is not None}
    if isinstance(schema, list):
        if not isinstance(value, list):
            raise PayloadError(f"{where} is not a list")
        return [_project(item, schema[0], f"{where}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, schema) or (isinstance(value, bool) and schema is not bool):
        kinds = schema if isinstance(schema, tuple) else (schema,)
        raise PayloadError(f"{where} is not {' or '.join(_JSON_NAMES.get(k, k.__name__) for k in kinds)}")
    if isinstance(value, str) and not _encodable(value):
        raise PayloadError(f"{where} is not valid Unicode")  # a lone surrogate (JSON "\ud800"): not UTF-8
    return value


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _require(obj: dict[str, Any], key: str, where: str) -> Any:
    if obj.get(key) in (None, ""):
        raise PayloadError(f"{where}: missing '{key}'")
    return obj[key]


def _timestamp(value: Any, where: str) -> int:
    """Meta's timestamps are decimal strings of seconds; plain integers are accepted too."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit() and len(value) <= 12):
            raise PayloadError(f"{where}: timestamp is not a number of seconds")
        value = int(value)
    if not 0 <= value <= MAX_TIMESTAMP:
        raise PayloadError(f"{where}: timestamp out of range")
    return int(value)


def message_body(message: Any, where: str) -> dict[str, Any]:
    """One message object reduced to what the channel reads, with its id, sender, time and type present."""
    body: dict[str, Any] = _project(message, _MESSAGE, where)
    for key in ("id", "from", "timestamp", "type"):
        _require(body, key, where)
    for key in ("id", "from"):
        if len(body[key].encode()) > MAX_ID_BYTES:
            raise PayloadError(f"{where}.{key} is longer than {MAX_ID_BYTES} bytes")
    specific = _BY_TYPE.get(body["type"])
    if specific is not None:
        body.update(_project(message, specific, where))
    return body


@dataclass(frozen=True)
class InboundMessage:
    """One message an investor sent, as the channel queues it and Rasa receives it.

    `body` is the message object as `message_body()` left it: only fields of the expected types.
    """

    id: str
    wa_id: str
    timestamp: int
    type: str
    phone_number_id: str = ""
    profile_name: str = ""
    body: dict[str, Any] = field(default_factory=dict)

    def _part(self, key: str) -> dict[str, Any]:
        part = self.body.get(key)
        return part if isinstance(part, dict) else {}

    def _reply(self) -> dict[str, Any]:
        interactive = self._part("interactive")
        kind = interactive.get("type")
        reply = interactive.get(kind) if kind in REPLY_KINDS else None
        return reply if isinstance(reply, dict) else {}

    # ----- what Rasa and the transcript see -------------------------------------------------------------
    def plain_text(self) -> str | None:
        """The message's text as typed (never a payload), before the length limit."""
        if self.type == "text":
            # Typed text is never a command: "/restart" or '/inform{"otp": ...}' typed by an investor would
            # otherwise bypass NLU (unpausing a handoff, or injecting entities).
            return typed(self._part("text").get("body", ""))
        if self.type == "interactive":
            reply = self._reply()
            return typed(reply.get("title") or reply.get("id") or "")
        if self.type == "button":  # quick-reply button of a template
            button = self._part("button")
            return typed(button.get("text") or button.get("payload") or "")
        if self.type in MEDIA_TYPES:
            return typed(self._part(self.type).get("caption", ""))
        return None

    @property
    def too_long(self) -> bool:
        """More text than WhatsApp allows in one message: refused before NLU."""
        text = self.plain_text()
        return text is not None and len(text) > MAX_TEXT_CHARS

    def rasa_text(self) -> str | None:
        """Plain text for NLU, or None when the message should not trigger a prediction (media, reactions,
        over-long text...). Never a Rasa payload: a tapped reply is its title here; `reply_payload()` is
        the id, which the channel uses instead only when the bot offered it to this investor."""
        text = self.plain_text()
        return None if text is None or len(text) > MAX_TEXT_CHARS else text

    def reply_payload(self) -> str | None:
        """The id of a tapped reply button, list row or template quick reply when it has the shape of a Rasa
        payload ("/intent{...}"): a candidate only, the investor controls it (channel.py checks the offer)."""
        if self.type == "interactive":
            candidate = str(self._reply().get("id", ""))
        elif self.type == "button":
            candidate = str(self._part("button").get("payload", ""))
        else:
            return None
        return candidate if candidate.startswith("/") and len(candidate) <= MAX_TEXT_CHARS else None

    def notice_kind(self) -> str | None:
        """Which plain 'I cannot read this' notice the investor gets, if any."""
        if self.type in MEDIA_TYPES or self.type in {"location", "contacts"}:
            return self.type
        if self.type in TEXT_TYPES:
            return "too_long" if self.too_long else None
        if self.type in SILENT_TYPES:
            return None
        return "unsupported"

    def transcript_text(self) -> str:
        """A one-line rendering for the transcript, so agents see what arrived even when the bot could not read it."""
        text = self.rasa_text()
        if self.type in TEXT_TYPES and text:
            return text
        return f"[{self.type}] {self._detail()}".strip()

    def _detail(self) -> str:
        if self.type in TEXT_TYPES and self.too_long:
            text = self.plain_text() or ""
            return f"not read, {len(text)} characters: {text[:MAX_TEXT_CHARS]}…"
        if self.type in MEDIA_TYPES:
            media = self._part(self.type)
            return str(media.get("filename") or media.get("caption") or media.get("mime_type") or "")
        if self.type == "location":
            loc = self._part("location")
            named = ", ".join(str(x) for x in (loc.get("name"), loc.get("address")) if x)
            return named or f"{loc.get('latitude')},{loc.get('longitude')}"
        if self.type == "contacts":
            names = [c.get("name", {}).get("formatted_name", "") for c in self.body.get("contacts", [])]
            return ", ".join(n for n in names if n)
        if self.type == "reaction":
            return str(self._part("reaction").get("emoji", "")) or "removed"
        if self.type == "unsupported":
            errors = self.body.get("errors", [])
            return str(errors[0].get("title", "")) if errors else ""
        return ""

    def metadata(self) -> dict[str, Any]:
        """UserMessage metadata: the WhatsApp facts the tracker, actions and agents may need, and the message's
        correlation id under the channel-neutral key every service reads (docs/observability.md)."""
        meta: dict[str, Any] = {
            "correlation_id": self.id,
            "whatsapp": {
                "message_id": self.id,
                "type": self.type,
                "timestamp": self.timestamp,
                "profile_name": self.profile_name,
                "phone_number_id": self.phone_number_id,
            }
        }
        if self.type in MEDIA_TYPES:
            meta["whatsapp"]["media"] = dict(self._part(self.type))
        context = self._part("context")
        if context.get("id"):
            meta["whatsapp"]["in_reply_to"] = context["id"]
        if self.type not in TEXT_TYPES or self.too_long:
            meta["whatsapp"]["transcript"] = self.transcript_text()
        return meta

    # ----- queue serialisation ---------------------------------------------------------------------------
    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> InboundMessage:
        """A queued message; its body is checked again (a message queued by an older version, or by anyone
        who can publish to the queue, gets the same guarantees as a fresh webhook)."""
        data = json.loads(raw)
        return cls(**{**data, "body": message_body(data.get("body"), "queued message")})


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


def _reject_constant(name: str) -> Any:
    raise PayloadError(f"body contains {name}, which is not JSON")


def _load(raw: bytes) -> Any:
    """JSON, or PayloadError -- also for nesting too deep for the parser and numbers too long to convert."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except PayloadError:
        raise
    except RecursionError as exc:
        raise PayloadError("body is nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, integers over 4300 digits
        raise PayloadError(f"body is not JSON ({exc.__class__.__name__})") from exc


def _status(status: dict[str, Any], where: str) -> StatusUpdate:
    return StatusUpdate(
        id=str(_require(status, "id", where)),
        status=str(_require(status, "status", where)),
        timestamp=_timestamp(status.get("timestamp", 0), where),
        recipient_id=status.get("recipient_id", ""),
        errors=status.get("errors", []),
        callback_data=status.get("biz_opaque_callback_data", ""),
    )


def _parse_value(raw_value: Any, batch: WebhookBatch, messages: list[InboundMessage]) -> None:
    """One `messages` change: its investor messages (appended to `messages`) and statuses."""
    value = _project(raw_value, _VALUE, "value")
    phone_number_id = value.get("metadata", {}).get("phone_number_id", "")
    names = {c["wa_id"]: c.get("profile", {}).get("name", "") for c in value.get("contacts", []) if "wa_id" in c}
    for i, raw_message in enumerate(value.get("messages", [])):
        body = message_body(raw_message, f"value.messages[{i}]")
        messages.append(
            InboundMessage(
                id=body["id"],
                wa_id=body["from"],
                timestamp=_timestamp(body["timestamp"], f"value.messages[{i}]"),
                type=body["type"],
                phone_number_id=phone_number_id,
                profile_name=names.get(body["from"], ""),
                body=body,
            )
        )
    batch.statuses.extend(_status(s, f"value.statuses[{i}]") for i, s in enumerate(value.get("statuses", [])))


def parse_webhook(raw: bytes) -> WebhookBatch:
    """Parse a verified webhook body; raise PayloadError with a reason for anything we cannot act on."""
    payload = _load(raw)
    if not isinstance(payload, dict):
        raise PayloadError("body is not a JSON object")
    if payload.get("object") != "whatsapp_business_account":
        raise PayloadError("object is not 'whatsapp_business_account'")
    batch = WebhookBatch()
    messages: list[InboundMessage] = []
    for entry in _project(payload.get("entry"), _ENTRIES, "entry"):
        for change in entry.get("changes", []):
            if change.get("field") == "messages":  # template statuses, account updates...: not the channel's
                _parse_value(change.get("value"), batch, messages)
    # Meta does not promise order inside a payload either: sort by the investor's send time (stable).
    batch.messages = sorted(messages, key=lambda m: m.timestamp)
    return batch
