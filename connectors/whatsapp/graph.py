"""The one Graph API client every WhatsApp message leaves through: limits, retries and at-most-once sends.

`POST {WHATSAPP_API_URL}/{phone-number-id}/messages` with a bearer token. Before each attempt the client
reserves a slot in the per-number throughput schedule and in the recipient's pair-rate schedule (shared by
all replicas through Redis), so Meta's limits are respected by construction and errors 130429/131056 are
the exception, not the control loop. A retry takes new slots: a refused attempt's slots are not given back,
since Meta does not say whether a refused send counts towards the recipient's pair rate; a slot too many
costs that recipient at most 6 seconds later on, a slot too few would earn a 131056.

Errors: retried with exponential backoff and full jitter only where Meta says retrying helps (throughput,
pair rate, transient 5xx and "something went wrong"); never for an invalid number, a closed 24-hour window
or a bad template. A request whose outcome is unknown (timed out or cut off after it was sent) is *not*
retried: Meta has no idempotency key on this endpoint, so a retry racing a slow success would deliver the
reply twice. Each outgoing message has an idempotency key claimed in the store before the first attempt, so
a redelivered inbound message (a replica died after replying) does not produce the same reply again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from common.logs import CORRELATION_HEADER, get_correlation_id
from common.pii import mask_phone
from common.retry import Backoff, retry
from connectors.whatsapp import metrics
from connectors.whatsapp.intake import window_key
from connectors.whatsapp.messages import is_template, read_receipt
from connectors.whatsapp.settings import WhatsAppSettings
from connectors.whatsapp.store import RateLimited, SendKeys, SendLimits, SendPlan, StateStore

logger = logging.getLogger(__name__)

# Meta error codes (Graph API error reference + WhatsApp Cloud API error codes).
THROUGHPUT = 130429  # rate limit hit (per-number throughput)
PAIR_RATE = 131056  # too many messages to one recipient
WINDOW_CLOSED = 131047  # more than 24 h since the investor's last message
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 341, 80007, THROUGHPUT, PAIR_RATE, 131000, 131016, 133004})
IDEMPOTENCY_TTL = 7 * 24 * 3600
PAIR_MAX_DELAY = 60.0  # a reply that would wait longer than this for the recipient's pair rate is refused


class GraphError(Exception):
    """Meta refused a request (or it failed locally before reaching Meta)."""

    def __init__(self, code: int, message: str, http_status: int = 0, retryable: bool = False) -> None:
        super().__init__(f"({code}) {message}")
        self.code = code
        self.http_status = http_status
        self.retryable = retryable


class WindowClosed(GraphError):
    """Outside the 24-hour customer-service window only an approved template may be sent."""


class OutcomeUnknown(GraphError):
    """The request may or may not have reached Meta; it is deliberately not retried."""


@dataclass(frozen=True)
class SendResult:
    key: str
    wamid: str = ""
    duplicate: bool = False
    attempts: int = 0


class GraphClient:
    """Async Graph API client, one per process, shared by the output channel and anything else that sends."""

    def __init__(self, settings: WhatsAppSettings, store: StateStore) -> None:
        self.settings = settings
        self.store = store
        self._session: aiohttp.ClientSession | None = None
        p = settings.prefix
        self._k_out = f"{p}:out:"
        self._k_rate = f"{p}:rate:{settings.phone_number_id}"
        self._k_pair = f"{p}:pair:{settings.phone_number_id}:"
        metrics.OUTBOUND_CAP.set(settings.throughput_per_second)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self.settings.access_token}"},
                timeout=aiohttp.ClientTimeout(total=self.settings.request_timeout),
                connector=aiohttp.TCPConnector(limit=200),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ----- 24-hour customer-service window (opened on the inbound side: intake.accept_inbound) ---------------
    async def window_open(self, wa_id: str) -> bool:
        return await self.store.get(window_key(self.settings.prefix, wa_id)) is not None

    # ----- sending ----------------------------------------------------------------------------------------
    async def send(self, message: dict[str, Any], key: str | None = None) -> SendResult:
        """Send one message object at most once under `key`; raise GraphError when Meta refuses it for good."""
        key = key or uuid.uuid4().hex
        # Meta echoes biz_opaque_callback_data in the message's status webhooks: statuses (and the simulator's
        # records) can be traced back to the investor message this reply answered.
        message = {"biz_opaque_callback_data": key[:512], **message}
        to = str(message.get("to", ""))
        s = self.settings
        check_window = s.enforce_window and not is_template(message)
        plan = await self.store.prepare_send(  # the usual case: claim, window and both limits in one call
            SendKeys(
                self._k_out + key, window_key(s.prefix, to) if check_window else None, self._k_pair + to, self._k_rate
            ),
            SendLimits(
                self._lease, s.pair_interval, s.pair_burst, PAIR_MAX_DELAY, s.throughput_per_second, self._rate_window
            ),
        )
        if plan.verdict == "busy":  # sent, or being sent, under this key: wait for that outcome
            if not await self._claim(key):
                logger.info("whatsapp.send.duplicate_suppressed key=%s", key)
                return SendResult(key=key, duplicate=True)
            plan = SendPlan("claimed")
        try:
            if plan.verdict == "window_closed" or (
                plan.verdict == "claimed" and check_window and not await self.window_open(to)
            ):
                raise WindowClosed(WINDOW_CLOSED, "outside the 24-hour window: only a template may be sent")
            if plan.verdict == "pair_limited":
                raise GraphError(PAIR_RATE, f"pair rate: next slot for this recipient in {plan.seconds:.0f}s")
            wamid, attempts = await self._send_with_retries(message, to, key, plan)
        except WindowClosed:
            metrics.WINDOW_REFUSALS.inc()
            await self.store.delete(self._k_out + key)  # definitely not sent: a later redelivery may try again
            raise
        except OutcomeUnknown:
            await self.store.put(self._k_out + key, "unknown", IDEMPOTENCY_TTL)  # never sent again under this key
            raise
        except BaseException:
            await self.store.delete(self._k_out + key)  # definitely not sent: a later redelivery may try again
            raise
        await self.store.put(self._k_out + key, wamid or "sent", IDEMPOTENCY_TTL)
        metrics.sent_message()
        logger.info("whatsapp.send.sent to=%s type=%s attempts=%d wamid=%s", mask_phone(to), message.get("type"),
                    attempts, wamid)
        return SendResult(key=key, wamid=wamid, attempts=attempts)

    @property
    def _rate_window(self) -> float:
        return 1.0 + self.settings.throughput_margin

    @property
    def _lease(self) -> float:
        """How long a 'pending' claim lives without renewal: one attempt plus one backoff, with slack."""
        return self.settings.request_timeout + self.settings.backoff_cap + 2.0

    async def _claim(self, key: str) -> bool:
        """Claim `key` for sending; False when it was (or is being) sent by someone else.

        A claim is a lease renewed before every attempt. If its holder died (kill -9 between claiming and
        sending), the lease expires and the redelivered message claims it: the reply is sent late, not lost.
        A live holder settles it as `sent` (or `unknown`), and then it is never sent again.
        """
        k = self._k_out + key
        if await self.store.claim(k, "pending", self._lease):
            return True
        deadline = time.monotonic() + 2 * self._lease
        while time.monotonic() < deadline:
            state = await self.store.get(k)
            if state is None:  # the holder died; its lease expired
                return await self.store.claim(k, "pending", self._lease)
            if state != "pending":
                return False
            await asyncio.sleep(0.25)
        return False

    async def _send_with_retries(self, message: dict[str, Any], to: str, key: str, plan: SendPlan) -> tuple[str, int]:
        s = self.settings
        attempts = 0

        async def attempt(n: int) -> str:
            nonlocal attempts
            attempts = n
            if n > 1 or plan.verdict == "claimed":
                await self._wait_for_slots(to, key)
                await self.store.put(self._k_out + key, "pending", self._lease)  # renew the lease
            elif plan.verdict == "wait":  # pair slot reserved by prepare_send; throughput slot still to take
                await self._sleep_holding(key, plan.seconds)
                await self._take_throughput_slot(key)
            return await self._post(message)

        def log_retry(n: int, exc: Exception, pause: float) -> None:
            code = exc.code if isinstance(exc, GraphError) else 0
            metrics.send("retried", code)
            logger.warning("whatsapp.send.retry to=%s code=%s attempt=%d wait=%.2fs", mask_phone(to), code, n, pause)

        try:
            wamid = await retry(
                attempt,
                max_attempts=s.max_attempts,
                backoff=Backoff(s.backoff_base, s.backoff_cap),
                retryable=lambda exc: isinstance(exc, GraphError) and exc.retryable,
                base_for=lambda exc: 1.0 if isinstance(exc, GraphError) and exc.code == PAIR_RATE else None,
                on_retry=log_retry,
            )
        except GraphError as exc:
            metrics.send("failed", exc.code)
            raise
        return wamid, attempts

    async def _wait_for_slots(self, to: str, key: str) -> None:
        s = self.settings
        try:
            pair_wait = await self.store.reserve_paced(self._k_pair + to, s.pair_interval, s.pair_burst, PAIR_MAX_DELAY)
        except RateLimited as exc:
            raise GraphError(PAIR_RATE, f"pair rate: next slot for this recipient in {exc.wait:.0f}s") from exc
        await self._sleep_holding(key, pair_wait)
        await self._take_throughput_slot(key)

    async def _take_throughput_slot(self, key: str) -> None:
        while True:  # taken right before the request; a wait is exact, so this loops rarely
            wait = await self.store.take_slot(self._k_rate, self.settings.throughput_per_second, self._rate_window)
            if wait <= 0:
                return
            await self._sleep_holding(key, wait)

    async def _sleep_holding(self, key: str, seconds: float) -> None:
        """Sleep, renewing the claim on `key` so a long rate-limit wait does not let a second sender in."""
        step = self._lease / 3
        while seconds > 0:
            await asyncio.sleep(min(step, seconds))
            seconds -= step
            if seconds > 0:
                await self.store.put(self._k_out + key, "pending", self._lease)

    async def _post(self, payload: dict[str, Any]) -> str:
        """One request; a success counted as `sent` (a failure by the caller: `retried` or `failed`)."""
        wamid = await self._request(payload)
        metrics.send("sent")
        return wamid

    async def _request(self, payload: dict[str, Any]) -> str:
        cid = get_correlation_id()  # the investor message this answers: the simulator and our proxies log it
        headers = {CORRELATION_HEADER: cid} if cid else None
        try:
            async with self._http().post(self.settings.messages_url, json=payload, headers=headers) as response:
                body = await response.read()
                status = response.status
        except aiohttp.ClientConnectorError as exc:  # never reached Meta: safe to retry
            raise GraphError(0, f"cannot connect: {exc}", retryable=True) from exc
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            # Timed out or cut off once the request was on its way: Meta may have accepted it.
            raise OutcomeUnknown(0, f"no complete answer from the Graph API ({exc.__class__.__name__})") from exc
        try:
            data = json.loads(body) if body else {}
        except json.JSONDecodeError:
            data = {}
        if 200 <= status < 300:
            messages = data.get("messages") or [{}]
            return str(messages[0].get("id", "")) if isinstance(messages[0], dict) else ""
        error = data.get("error") if isinstance(data, dict) else None
        error = error if isinstance(error, dict) else {}
        code = int(error.get("code", 0) or 0)
        details = (
            (error.get("error_data") or {}).get("details", "") if isinstance(error.get("error_data"), dict) else ""
        )
        text = str(error.get("message") or body[:200].decode(errors="replace")) + (f": {details}" if details else "")
        retryable = code in RETRYABLE_CODES or status >= 500 or status == 429
        cls = WindowClosed if code == WINDOW_CLOSED else GraphError
        raise cls(code, text, http_status=status, retryable=retryable and code != WINDOW_CLOSED)

    async def mark_read(self, message_id: str) -> None:
        """Blue ticks for the investor; best effort, never retried, never counted as a message."""
        try:
            await self._post(read_receipt(message_id))
        except GraphError as exc:
            metrics.send("failed", exc.code)
            logger.info("whatsapp.mark_read.failed code=%s", exc.code)
