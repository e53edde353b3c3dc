"""The Rasa channel `whatsapp`: Meta calls `/webhooks/whatsapp/webhook`; replies leave through the Graph API.

credentials.yml:

    connectors.whatsapp.channel.WhatsAppInput:
      # every key optional; secrets come from WHATSAPP_* environment variables (docs/configuration.md)

Webhook POST, in this order, so that nothing unverified is processed and nothing acknowledged is lost:
1. body size capped (413 with a log line: a declared Content-Length over WHATSAPP_MAX_BODY_BYTES before a byte
   of the body is read, otherwise as soon as the bytes read pass it; body.py);
2. signature check on the raw body (403 when missing or wrong, nothing parsed);
3. parse (400 with a log line when malformed: the parser is total, models.py);
4. statuses recorded (never answered);
5. each message id claimed once (Redis SET NX, or in-process) -- a duplicate is acknowledged and dropped --
   and the investor's 24-hour window opened, in the same call;
6. messages handed to the intake (RabbitMQ with publisher confirms, or the in-process queue); a failure
   releases the claims and answers 503, so Meta's retry finds the message again;
7. read receipts sent in the background (blue ticks: the message is safe with us);
8. 200.
The intake then calls `handle()` one message at a time per investor, in order. A tapped reply's id reaches
Rasa as a payload only if the bot offered it to that investor (offers.py); over-long text never reaches NLU.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from common.logs import correlated
from common.pii import mask_phone
from common.runtime import freeze_loaded_heap
from connectors.whatsapp import messages as wa
from connectors.whatsapp import metrics
from connectors.whatsapp.body import BodyTooLarge, read_capped
from connectors.whatsapp.graph import GraphClient, GraphError, OutcomeUnknown
from connectors.whatsapp.intake import Intake, accept_inbound, make_intake, seen_key
from connectors.whatsapp.models import MAX_TEXT_CHARS, InboundMessage, PayloadError, StatusUpdate, parse_webhook
from connectors.whatsapp.offers import OfferedReplies
from connectors.whatsapp.settings import WhatsAppSettings
from connectors.whatsapp.signature import HEADER, is_valid
from connectors.whatsapp.store import StateStore, StatusKeys, make_store

logger = logging.getLogger(__name__)

CHANNEL_NAME = "whatsapp"
STATUS_TTL = 7 * 24 * 3600
# A message's statuses only move forward; Meta may deliver their webhooks out of order.
STATUS_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


class WhatsAppOutput(OutputChannel):
    """Sends Rasa's responses as WhatsApp messages.

    When it answers an investor message (`reply_to` set), the n-th message it sends gets the idempotency key
    `<inbound id>:<n>`: if the inbound message is processed again after a crash, replies already sent are
    not sent twice. Outside a conversation turn (handoff agent replies via the HTTP API) each message gets a
    fresh key. Every reply id it offers (buttons, list rows, template quick replies) is recorded for the
    recipient before the message leaves, so the tap can be accepted as the payload it carries (offers.py).
    """

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    def __init__(self, client: GraphClient, reply_to: str | None = None, offers: OfferedReplies | None = None) -> None:
        self.client = client
        self.reply_to = reply_to
        self.offers = offers
        self._count = 0

    def _key(self, suffix: str = "") -> str | None:
        if self.reply_to is None:
            return None
        self._count += 1
        return f"{self.reply_to}:{suffix or self._count}"

    async def _send_all(self, messages: list[dict[str, Any]], suffix: str = "") -> None:
        for message in messages:
            if self.offers is not None:
                await self.offers.record(message)
            try:
                await self.client.send(message, key=self._key(suffix))
            except OutcomeUnknown as exc:
                logger.warning("whatsapp.send.unknown_outcome to=%s %s", mask_phone(str(message.get("to"))), exc)
            except GraphError as exc:
                # Permanent (or retries exhausted): reprocessing the investor's message would not help and would
                # duplicate the conversation, so it is logged for operators rather than raised.
                logger.error(
                    "whatsapp.send.failed to=%s type=%s code=%s %s",
                    mask_phone(str(message.get("to"))),
                    message.get("type"),
                    exc.code,
                    exc,
                )

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send_all(wa.text_messages(recipient_id, text))

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send_all(wa.button_messages(recipient_id, text, buttons))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self._send_all([wa.image_message(recipient_id, image)])

    async def send_attachment(self, recipient_id: str, attachment: Any, **kwargs: Any) -> None:
        if isinstance(attachment, dict) and attachment.get("url"):
            message = wa.document_message(
                recipient_id,
                str(attachment["url"]),
                str(attachment.get("filename", "")),
                str(attachment.get("caption", "")),
            )
        elif isinstance(attachment, str) and attachment.startswith(("http://", "https://")):
            message = wa.document_message(recipient_id, attachment, attachment.rsplit("/", 1)[-1])
        else:
            await self.send_text_message(recipient_id, str(attachment))
            return
        await self._send_all([message])

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        try:
            messages = wa.custom_messages(recipient_id, json_message)
        except ValueError as exc:
            logger.error("whatsapp.custom.invalid %s", exc)
            return
        await self._send_all(messages)

    async def send_notice(self, recipient_id: str, kind: str) -> None:
        """The plain 'I cannot read this' answer to media, locations, contacts and unknown types."""
        await self._send_all(wa.text_messages(recipient_id, wa.notice_text(kind)), suffix="notice")


class WhatsAppInput(InputChannel):
    """Meta's webhook in, the intake in between, Rasa behind it."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        # Secrets are read from the environment; credentials.yml may hold non-secret overrides only.
        return cls(WhatsAppSettings.from_env(credentials or {}))

    def __init__(self, settings: WhatsAppSettings | None = None, consume: bool = True) -> None:
        self.settings = settings or WhatsAppSettings.construct()
        self.consume = consume  # False in the webhook gateway: it only accepts and queues
        self._store: StateStore | None = None
        self._client: GraphClient | None = None
        self._intake: Intake | None = None
        self._offers: OfferedReplies | None = None
        self._transcript: Callable[[UserMessage], Awaitable[Any]] | None = None
        self._agent: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ----- shared pieces, built lazily inside the running loop (no I/O at import or construction) ---------
    @property
    def store(self) -> StateStore:
        if self._store is None:
            self._store = make_store(self.settings.redis_url)
        return self._store

    @property
    def client(self) -> GraphClient:
        if self._client is None:
            self._client = GraphClient(self.settings, self.store)
        return self._client

    @property
    def offers(self) -> OfferedReplies:
        if self._offers is None:
            # Valid for the customer-service window: a menu older than that cannot be answered anyway.
            self._offers = OfferedReplies(self.store, self.settings.prefix, self.settings.window_seconds)
        return self._offers

    @property
    def intake(self) -> Intake:
        if self._intake is None:
            self._intake = make_intake(self.settings, self.store)
        return self._intake

    def get_output_channel(self) -> OutputChannel:
        """Lets Rasa (and the handoff service through Rasa's HTTP API) reach an investor outside a webhook."""
        return WhatsAppOutput(self.client, offers=self.offers)

    # ----- processing one queued message -----------------------------------------------------------------
    async def handle(self, message: InboundMessage, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Run one investor message through Rasa (or answer it with a notice); raising = retry, then DLQ."""
        if self._agent is not None and not self._agent.is_ready():
            raise RuntimeError("Rasa agent has no model loaded")  # Rasa would silently drop the message
        output = WhatsAppOutput(self.client, reply_to=message.id, offers=self.offers)
        kind = message.notice_kind()
        if kind:
            await output.send_notice(message.wa_id, kind)
        text = await self.text_for_rasa(message)
        if text:
            await on_new_message(self._user_message(message, text, output))
        elif self._transcript is not None:
            # No prediction for a sticker or a reaction, but the transcript (and agents) should see it arrived.
            transcript = message.transcript_text()
            parse_data = {"text": transcript, "intent": {"name": None, "confidence": 0.0}, "entities": []}
            await self._transcript(self._user_message(message, transcript, output, parse_data=parse_data))

    async def text_for_rasa(self, message: InboundMessage) -> str | None:
        """What Rasa is given: a tapped reply's id only if we offered it to this investor, else plain text."""
        payload = message.reply_payload()
        if payload is not None:
            if await self.offers.accepts(message.wa_id, payload):
                return payload
            logger.warning("whatsapp.reply.not_offered id=%s from=%s", message.id, mask_phone(message.wa_id))
        if message.too_long:
            logger.warning(
                "whatsapp.message.too_long id=%s from=%s chars=%d limit=%d (not given to NLU)",
                message.id,
                mask_phone(message.wa_id),
                len(message.plain_text() or ""),
                MAX_TEXT_CHARS,
            )
        return message.rasa_text()

    @staticmethod
    def _user_message(message: InboundMessage, text: str, output: OutputChannel, **extra: Any) -> UserMessage:
        return UserMessage(
            text,
            output,
            message.wa_id,
            input_channel=CHANNEL_NAME,
            message_id=message.id,
            metadata=message.metadata(),
            **extra,
        )

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def record_status(self, status: StatusUpdate) -> None:
        """Delivery statuses are kept for a week and counted; failures are logged with Meta's error codes."""
        p = self.settings.prefix
        keys = StatusKeys(
            f"{p}:status-seen:{status.id}:{status.status}", f"{p}:status:{status.id}", f"{p}:statuses:{status.status}"
        )
        record = {"status": status.status, "timestamp": status.timestamp, "errors": status.error_codes}
        if not await self.store.record_status(keys, record, STATUS_RANK.get(status.status, 0), STATUS_TTL):
            return  # Meta duplicates status webhooks too
        if status.status == "failed":
            logger.warning(
                "whatsapp.status.failed id=%s to=%s codes=%s",
                status.id,
                mask_phone(status.recipient_id),
                status.error_codes,
            )

    # ----- HTTP -------------------------------------------------------------------------------------------
    async def receive(self, request: Request) -> HTTPResponse:
        """The webhook, counted and timed (`mfa_whatsapp_webhooks_total`, `mfa_whatsapp_webhook_ack_seconds`)."""
        started = time.perf_counter()
        answer, outcome, reason = await self._receive(request, started)
        metrics.webhook(outcome, reason, time.perf_counter() - started)
        return answer

    async def _receive(self, request: Request, started: float) -> tuple[HTTPResponse, str, str]:
        try:
            raw = await read_capped(request, self.settings.max_body_bytes)
        except BodyTooLarge as exc:
            logger.warning("whatsapp.webhook.rejected reason=too_large %s", exc)
            error = {"error": f"payload too large (at most {exc.limit} bytes)"}
            return response.json(error, status=413), "rejected", "too_large"
        if not is_valid(raw, request.headers.get(HEADER), self.settings.app_secret, self.settings.previous_app_secret):
            logger.warning("whatsapp.webhook.rejected reason=signature bytes=%d", len(raw))
            return response.json({"error": "invalid signature"}, status=403), "rejected", "signature"
        try:
            batch = parse_webhook(raw)
        except PayloadError as exc:
            logger.warning("whatsapp.webhook.malformed reason=%s", exc)
            return response.json({"error": f"malformed payload: {exc}"}, status=400), "rejected", "payload"

        if batch.statuses:
            try:
                await asyncio.gather(*(self.record_status(s) for s in batch.statuses))
            except Exception:  # statuses are informational: never make Meta retry a whole payload for them
                logger.exception("whatsapp.status.record_failed")
        fresh = await self._enqueue(batch.messages)
        if fresh is None:
            return response.json({"error": "temporarily unavailable, retry"}, status=503), "rejected", "unavailable"
        logger.debug(
            "whatsapp.webhook.accepted messages=%d statuses=%d ms=%.1f",
            fresh,
            len(batch.statuses),
            (time.perf_counter() - started) * 1000,
        )
        duplicate = bool(batch.messages) and not fresh
        return response.json({"status": "ok"}), "duplicate" if duplicate else "accepted", "none"

    async def _enqueue(self, messages: list[InboundMessage]) -> int | None:
        """Claim each message id once and hand the fresh ones to the intake: how many, or None when they are
        not safe (claims released, so Meta's retry is processed)."""
        fresh: list[InboundMessage] = []
        p = self.settings.prefix
        try:
            for message in messages:
                if await accept_inbound(self.store, self.settings, message.id, message.wa_id, message.timestamp):
                    fresh.append(message)
                else:
                    with correlated(message.id):
                        logger.info("whatsapp.webhook.duplicate id=%s", message.id)
            if fresh:
                await self.intake.put(fresh)
                for message in fresh:
                    # The message id is its correlation id in every service from here on (docs/observability.md).
                    with correlated(message.id):
                        logger.info("whatsapp.webhook.queued id=%s from=%s type=%s", message.id,
                                    mask_phone(message.wa_id), message.type)
                        if self.settings.mark_read:
                            # Blue ticks once the message is safe; sent by whoever took the webhook, which with the
                            # gateway keeps this Graph call off Rasa's event loop (where it would compete with
                            # inference). The task inherits the correlation id.
                            self._spawn(self.client.mark_read(message.id))
        except Exception:
            logger.exception("whatsapp.webhook.enqueue_failed messages=%d", len(fresh))
            for message in fresh:
                try:
                    await self.store.delete(seen_key(p, message.id))
                except Exception:
                    logger.exception("whatsapp.webhook.unclaim_failed id=%s", message.id)
            return None
        return len(fresh)

    async def problems(self) -> list[str]:
        """Readiness: the state store answers, the intake is connected (and consuming, in Rasa), the model is
        loaded and the event broker is our outbox -- Rasa runs on without a broker it failed to load, and then
        no event would reach the agents' inbox. Empty when ready."""
        found = self.intake.problems(consuming=self.consume)
        try:
            await self.store.get("readiness-probe")
        except Exception as exc:
            found.append(f"state store: {type(exc).__name__}")
        if self.consume and self._agent is not None:
            if not self._agent.is_ready():
                found.append("rasa: model not loaded")
            broker = getattr(getattr(self._agent, "tracker_store", None), "event_broker", None)
            if type(broker).__name__ != "OutboxEventBroker":
                found.append(f"rasa: event broker is {type(broker).__name__}, not the outbox")
        elif self.consume:
            found.append("rasa: the channel has not started consuming")
        return found

    def verify(self, request: Request) -> HTTPResponse:
        import hmac

        mode = request.args.get("hub.mode")
        token = request.args.get("hub.verify_token") or ""
        challenge = request.args.get("hub.challenge") or ""
        if mode == "subscribe" and hmac.compare_digest(token.encode(), self.settings.verify_token.encode()):
            return response.text(challenge)
        logger.warning("whatsapp.webhook.verification_failed mode=%s", mode)
        return response.text("verification failed", status=403)

    async def start(self, on_new_message: Callable[[UserMessage], Awaitable[Any]], app: Any = None) -> None:
        """Begin consuming once Rasa's model is loaded (a message handled without a model would be lost)."""
        agent = getattr(getattr(app, "ctx", None), "agent", None) if app is not None else None
        if agent is not None:
            self._agent = agent
            self._transcript = agent.log_message
            while not agent.is_ready():  # noqa: ASYNC110 (Rasa offers no event for this)
                await asyncio.sleep(0.5)
            # The model is loaded: keep full garbage collections off it (0.5-0.7 s stalls of the whole process
            # otherwise, REST included; common/runtime.py says why). Rasa offers no other hook after loading.
            freeze_loaded_heap()

        slots = asyncio.Semaphore(max(1, self.settings.concurrency))

        async def handler(message: InboundMessage) -> None:
            async with slots:
                with correlated(message.id):  # Rasa's work on it, the action calls and the replies carry its id
                    started = time.perf_counter()
                    await self.handle(message, on_new_message)
                    logger.info("whatsapp.message.handled id=%s from=%s ms=%.0f", message.id,
                                mask_phone(message.wa_id), (time.perf_counter() - started) * 1000)

        await self.intake.start(handler)
        logger.info("whatsapp.intake.started kind=%s", self.intake.kind)

    async def warm_up(self) -> None:
        """Connect the publisher before the first webhook, so that one is acknowledged as fast as the rest."""
        connect = getattr(self.intake, "connect", None)
        if connect is not None:
            await connect()

    async def stop(self) -> None:
        if self._intake is not None:
            await self._intake.close()
        if self._client is not None:
            await self._client.close()
        if self._store is not None:
            await self._store.close()
        self._intake = self._client = None
        self._store = None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        module = inspect.getmodule(self)
        bp = Blueprint(f"whatsapp_webhook_{id(self)}", module.__name__ if module else None)

        @bp.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok", "intake": self.intake.kind, "consumer": self.intake.status()})

        @bp.route("/ready", methods=["GET"])
        async def ready(request: Request) -> HTTPResponse:
            found = await self.problems()
            return response.json({"status": "unavailable" if found else "ready", "problems": found},
                                 status=503 if found else 200)

        @bp.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            return self.verify(request)

        # Streaming: Sanic does not buffer the body first, so receive() caps it before it is read (body.py).
        @bp.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            return await self.receive(request)

        @bp.listener("after_server_start")
        async def start(app: Any, loop: Any) -> None:
            if self.consume:
                app.add_task(self.start(on_new_message, app))
            else:
                app.add_task(self.warm_up())

        @bp.listener("before_server_stop")
        async def stop(app: Any, loop: Any) -> None:
            await self.stop()

        return bp
