"""The simulator: plays Meta's WhatsApp Cloud API in both directions for development, tests and benchmarks.

* Graph API: `POST /{version}/{phone_number_id}/messages` with a bearer token; Meta-shaped responses and
  errors; limits validated (validation.py); Meta's throughput (130429) and pair rate (131056) enforced; the
  24-hour window enforced the way Meta does it (accepted, then a `failed` status with 131047).
* Webhooks: investor messages and delivery statuses are POSTed to the webhook URL, signed with
  X-Hub-Signature-256; a non-200 answer is retried with backoff, as Meta does.
* Faults switchable at run time (`POST /_sim/faults`): throughput errors (130429), WABA rate (80007), pair
  rate (131056), 5xx (131000), slow responses, closed windows.
* A phone-like page at `/` (investor picker, buttons and lists clickable, ticks, live via SSE).

Admin/test endpoints live under `/_sim/`; nothing here is part of Meta's API.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import Field
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from common.settings import EnvSettings
from connectors.whatsapp.signature import HEADER, sign
from standins.whatsapp_cloud import payloads
from standins.whatsapp_cloud.validation import Invalid, validate

logger = logging.getLogger(__name__)
PAGE = Path(__file__).with_name("page.html")


class SimSettings(EnvSettings):
    """The simulator's settings: `WHATSAPP_SIM_<FIELD>`, or the channel's own variable where both must agree
    (token, app secret, phone-number id). Changeable at run time through `POST /_sim/config`."""

    port: int = 8090
    host: str = "127.0.0.1"
    access_token: str = Field("dev-access-token", env="WHATSAPP_ACCESS_TOKEN")
    app_secret: str = Field("dev-app-secret", env="WHATSAPP_APP_SECRET")
    phone_number_id: str = Field("100000000000001", env="WHATSAPP_PHONE_NUMBER_ID")
    display_number: str = "15550001111"
    webhook_url: str = Field(
        "http://127.0.0.1:5005/webhooks/whatsapp/webhook", env=["WHATSAPP_SIM_WEBHOOK_URL", "WHATSAPP_WEBHOOK_URL"]
    )
    # What the simulated number may send; Meta's default is 80.
    throughput_per_second: int = Field(1000, env="WHATSAPP_SIM_THROUGHPUT")
    status_delay: float = 0.05  # seconds between accepting a message and its `sent`/`delivered` statuses
    read_delay: float = -1.0  # seconds until `read` is sent automatically; negative = when the page shows it
    statuses: str = "sent,delivered,read"
    webhook_retry_seconds: float = 300.0  # Meta retries for up to 7 days; the simulator gives up sooner
    window_seconds: int = 24 * 3600

    class Config:
        env_prefix = "WHATSAPP_SIM_"
        frozen = False  # POST /_sim/config changes it at run time


@dataclass
class Faults:
    """Errors injected at run time; rates are probabilities per Graph API call."""

    throughput_error_rate: float = 0.0  # 130429
    waba_rate_error_rate: float = 0.0  # 80007
    pair_rate_error_rate: float = 0.0  # 131056
    server_error_rate: float = 0.0  # HTTP 500, 131000
    slow_ms: int = 0  # added to every Graph API call...
    slow_rate: float = 1.0  # ...with this probability
    closed_windows: list[str] = field(default_factory=list)  # wa_ids whose 24-hour window is closed
    webhook_paused: bool = False  # hold investor messages (to build a backlog)


@dataclass
class Record:
    seq: int
    direction: str  # "in" (investor -> business) or "out"
    wa_id: str
    id: str
    type: str
    payload: dict[str, Any]
    at: float
    status: str = ""
    errors: list[int] = field(default_factory=list)
    webhook_status: int = 0
    ack_ms: float = 0.0


class Simulator:
    """All of the simulator's state: conversations, limits, faults, subscribers of the live feed."""

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.faults = Faults()
        self.records: list[Record] = []
        self.by_id: dict[str, Record] = {}
        self.names: dict[str, str] = {}
        self.last_inbound: dict[str, float] = {}
        self.request_times: deque[float] = deque()
        self.accepted_times: deque[float] = deque()
        self.pair_tat: dict[str, float] = {}
        self.stats: dict[str, Any] = defaultdict(int)
        self.error_counts: dict[int, int] = defaultdict(int)
        self.max_requests_per_second = 0
        self.max_accepted_per_second = 0
        # Live feed subscribers, each with the one direction it wants ("" = everything): a benchmark that only
        # waits for replies should not make the simulator encode, and itself decode, every status change.
        self.subscribers: dict[asyncio.Queue[str], str] = {}
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ----- bookkeeping -------------------------------------------------------------------------------
    def reset(self) -> None:
        for task in list(self._tasks):  # pending statuses and webhook retries belong to the old session
            task.cancel()
        subscribers, session = self.subscribers, self._session
        self.__init__(self.settings)  # type: ignore[misc]
        self.subscribers, self._session = subscribers, session  # live feeds survive a reset

    def _add(self, record: Record) -> Record:
        self.records.append(record)
        self.by_id[record.id] = record
        self._publish({"event": "record", "record": asdict(record)})
        return record

    def _publish(self, event: dict[str, Any]) -> None:
        data = ""
        direction = event.get("record", {}).get("direction", "") if event.get("event") == "record" else ""
        for queue, wanted in list(self.subscribers.items()):
            if wanted and wanted != direction:
                continue
            if queue.qsize() < 10_000:
                data = data or json.dumps(event)
                queue.put_nowait(data)

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=30), connector=aiohttp.TCPConnector(limit=500)
            )
        return self._session

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()

    @staticmethod
    def _window_count(times: deque[float], now: float) -> int:
        times.append(now)
        while times and times[0] <= now - 1.0:
            times.popleft()
        return len(times)

    # ----- webhooks (simulator -> channel) --------------------------------------------------------------
    async def post_webhook(self, body: dict[str, Any], retry: bool = True) -> tuple[int, float, float]:
        """Sign and POST one webhook; retried in the background on failure, like Meta.

        Returns (HTTP status, acknowledgement ms, wall-clock time the request left = when the webhook came in)."""
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", HEADER: sign(raw, self.settings.app_secret)}
        sent_at = time.time()
        started = time.perf_counter()
        try:
            async with self.http().post(self.settings.webhook_url, data=raw, headers=headers) as resp:
                status = resp.status
                await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.info("webhook delivery failed: %r", exc)
            status = 0
        elapsed = (time.perf_counter() - started) * 1000
        self.stats["webhooks_sent"] += 1
        if status != 200:
            self.stats["webhook_failures"] += 1
            if retry:
                self.spawn(self._retry_webhook(raw, headers))
        return status, elapsed, sent_at

    async def _retry_webhook(self, raw: bytes, headers: dict[str, str]) -> None:
        deadline = time.monotonic() + self.settings.webhook_retry_seconds
        delay = 0.5
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            try:
                async with self.http().post(self.settings.webhook_url, data=raw, headers=headers) as resp:
                    await resp.read()
                    self.stats["webhook_retries"] += 1
                    if resp.status == 200:
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError):
                self.stats["webhook_retries"] += 1
        self.stats["webhooks_abandoned"] += 1

    async def investor_sends(self, data: dict[str, Any]) -> dict[str, Any]:
        """One webhook with one or more investor messages (`batch`), optionally delivered `duplicate` times."""
        wa_id = str(data.get("from", ""))
        if not wa_id.isdigit():
            raise Invalid(100, "'from' must be the investor's number (digits)")
        name = str(data.get("name") or self.names.get(wa_id) or f"Investor {wa_id[-4:]}")
        self.names[wa_id] = name
        items = data.get("batch") or [data]
        messages = []
        for item in items:
            content = payloads.content_from_request(item)
            message = payloads.investor_message(wa_id, content, timestamp=item.get("timestamp"), msg_id=item.get("id"))
            messages.append(message)
        body = payloads.envelope(
            self.settings.phone_number_id,
            self.settings.display_number,
            {"contacts": [{"profile": {"name": name}, "wa_id": wa_id}], "messages": messages},
        )
        now = time.time()
        records = []
        for message in messages:
            self.last_inbound[wa_id] = max(self.last_inbound.get(wa_id, 0.0), float(message["timestamp"]))
            kind = str(message.get("type"))
            records.append(self._add(Record(len(self.records), "in", wa_id, message["id"], kind, message, now)))
        self.stats["inbound_messages"] += len(messages)
        while self.faults.webhook_paused:  # noqa: ASYNC110 (switched by another request; polling is fine)
            await asyncio.sleep(0.05)
        status, ack_ms, sent_at = await self.post_webhook(body)
        for _ in range(int(data.get("duplicate", 1)) - 1):  # Meta's duplicates: the same webhook again
            status, ack_ms, _ = await self.post_webhook(body)
        for record in records:
            record.webhook_status, record.ack_ms = status, ack_ms
            record.status = "sent" if status == 200 else "pending"
            self._publish({"event": "status", "id": record.id, "status": record.status})
        # sent_at: when "Meta" sent the webhook (the request left), on the clock that also stamps replies:
        # end-to-end latency is "webhook in -> reply at Meta", without the simulator's own bookkeeping before it.
        return {"ids": [m["id"] for m in messages], "status": status, "ack_ms": ack_ms, "sent_at": sent_at}

    async def send_statuses(
        self, record: Record, states: list[str], errors: list[dict[str, Any]] | None = None
    ) -> None:
        enabled = set(self.settings.statuses.split(","))
        for state in states:
            if state != "failed" and state not in enabled:
                continue
            if self.settings.status_delay > 0:
                await asyncio.sleep(self.settings.status_delay)
            record.status = state
            self._publish({"event": "status", "id": record.id, "status": state})
            callback = str(record.payload.get("biz_opaque_callback_data", "")) if record.direction == "out" else ""
            item = payloads.status(record.id, state, record.wa_id, errors if state == "failed" else None, callback)
            body = payloads.envelope(self.settings.phone_number_id, self.settings.display_number, {"statuses": [item]})
            await self.post_webhook(body)

    async def mark_read_by_investor(self, wa_id: str) -> int:
        """The investor looked at the chat: every delivered business message becomes `read`."""
        pending = [
            r for r in self.records if r.direction == "out" and r.wa_id == wa_id and r.status in {"sent", "delivered"}
        ]
        for record in pending:
            self.spawn(self.send_statuses(record, ["read"]))
        return len(pending)

    # ----- Graph API (channel -> simulator) ---------------------------------------------------------------
    async def graph_send(self, phone_number_id: str, auth: str, message: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """One Graph API call, checked in Meta's order: auth, number, read receipt, faults, payload, rates."""
        now = time.time()
        self.stats["graph_requests"] += 1
        if message.get("status") != "read":  # Meta's throughput counts messages, not read receipts
            self.max_requests_per_second = max(
                self.max_requests_per_second, self._window_count(self.request_times, now)
            )
        f = self.faults
        if f.slow_ms and random.random() < f.slow_rate:
            await asyncio.sleep(f.slow_ms / 1000)
        if auth != f"Bearer {self.settings.access_token}":
            return self._error(190)
        if phone_number_id != self.settings.phone_number_id:
            return self._error(100, f"Unsupported post request. Object with ID '{phone_number_id}' does not exist")
        if message.get("status") == "read":
            return self._mark_read(str(message.get("message_id", "")))
        injected = self._injected_error()
        if injected is not None:
            return self._error(injected, "injected")
        try:
            validate(message)
        except Invalid as exc:
            return self._error(exc.code, exc.details)
        to = str(message["to"]).lstrip("+")
        limited = self._rate_limited(to, now)
        if limited is not None:
            return self._error(limited)
        wamid = self._accept(message, to, now)
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": message["to"], "wa_id": to}],
            "messages": [{"id": wamid}],
        }

    def _mark_read(self, message_id: str) -> tuple[int, dict[str, Any]]:
        """The business marks an investor's message as read."""
        record = self.by_id.get(message_id)
        if record is None or record.direction != "in":
            return self._error(100, "message_id does not belong to a message this number received")
        record.status = "read"
        self._publish({"event": "status", "id": record.id, "status": "read"})
        self.stats["marked_read"] += 1
        return 200, {"success": True}

    def _injected_error(self) -> int | None:
        f = self.faults
        for code, rate in (
            (130429, f.throughput_error_rate),
            (80007, f.waba_rate_error_rate),
            (131056, f.pair_rate_error_rate),
            (131000, f.server_error_rate),
        ):
            if rate and random.random() < rate:
                return code
        return None

    def _rate_limited(self, to: str, now: float) -> int | None:
        """Meta's throughput (130429) and pair rate (131056: one message per 6 s per recipient, bursts of 45, GCRA)."""
        if self._window_count(self.accepted_times, now) > self.settings.throughput_per_second:
            self.accepted_times.pop()
            return 130429
        tat = max(self.pair_tat.get(to, 0.0), now)
        if tat - 44 * 6.0 > now:
            return 131056
        self.pair_tat[to] = tat + 6.0
        self.max_accepted_per_second = max(self.max_accepted_per_second, len(self.accepted_times))
        return None

    def _accept(self, message: dict[str, Any], to: str, now: float) -> str:
        """Record an accepted message and schedule its statuses; outside the window it fails later, as at Meta."""
        wamid = payloads.new_wamid()
        record = self._add(
            Record(len(self.records), "out", to, wamid, str(message.get("type")), message, now, status="accepted")
        )
        self.stats["accepted"] += 1
        f = self.faults
        window_open = now - self.last_inbound.get(to, 0.0) < self.settings.window_seconds and to not in f.closed_windows
        if message.get("type") != "template" and not window_open:
            # Meta accepts the call and reports the failure asynchronously.
            record.errors = [131047]
            self.spawn(self.send_statuses(record, ["failed"], [payloads.status_error(131047)]))
        else:
            self.spawn(self._deliver(record))
        return wamid

    async def _deliver(self, record: Record) -> None:
        await self.send_statuses(record, ["sent", "delivered"])
        if self.settings.read_delay >= 0:
            await asyncio.sleep(self.settings.read_delay)
            await self.send_statuses(record, ["read"])

    def _error(self, code: int, details: str = "") -> tuple[int, dict[str, Any]]:
        self.error_counts[code] += 1
        return payloads.graph_error(code, details)

    def summary(self) -> dict[str, Any]:
        return {
            **self.stats,
            "errors": {str(k): v for k, v in self.error_counts.items()},
            "max_requests_per_second": self.max_requests_per_second,
            "max_accepted_per_second": self.max_accepted_per_second,
            "records": len(self.records),
        }


def create_app(settings: SimSettings | None = None, name: str = "whatsapp_cloud_sim") -> Sanic:
    app = Sanic(name)
    app.ctx.sim = Simulator(settings or SimSettings.from_env())
    for methods, uri, handler in ROUTES:
        app.add_route(handler, uri, methods=methods)
    app.register_listener(stop, "before_server_stop")
    return app


def simulator(request: Request) -> Simulator:
    sim: Simulator = request.app.ctx.sim
    return sim


async def stop(app: Sanic, loop: Any) -> None:
    await app.ctx.sim.close()


async def health(request: Request) -> HTTPResponse:
    return response.json({"status": "ok", "webhook_url": simulator(request).settings.webhook_url})


async def page(request: Request) -> HTTPResponse:
    return response.html(PAGE.read_text())


# ----- Graph API ---------------------------------------------------------------------------------------------
async def messages(request: Request, version: str, phone_number_id: str) -> HTTPResponse:
    try:
        body = json.loads(request.body or b"{}")
        assert isinstance(body, dict)
    except (json.JSONDecodeError, AssertionError):
        status, error = payloads.graph_error(100, "request body is not a JSON object")
        return response.json(error, status=status)
    # Shielded: like Meta, a call whose client gave up (timeout) still completes and the message goes out.
    status, data = await asyncio.shield(
        simulator(request).graph_send(phone_number_id, request.headers.get("authorization", ""), body)
    )
    return response.json(data, status=status)


async def media(request: Request, version: str, media_id: str) -> HTTPResponse:
    settings = simulator(request).settings
    if request.headers.get("authorization", "") != f"Bearer {settings.access_token}":
        status, data = payloads.graph_error(190)
        return response.json(data, status=status)
    return response.json(
        {
            "messaging_product": "whatsapp",
            "url": f"http://{settings.host}:{settings.port}/_sim/media/{media_id}",
            "mime_type": "image/jpeg",
            "id": media_id,
        }
    )


# ----- admin / tests -----------------------------------------------------------------------------------------
async def inbound(request: Request) -> HTTPResponse:
    try:
        return response.json(await simulator(request).investor_sends(request.json or {}))
    except Invalid as exc:
        return response.json({"error": exc.details}, status=400)


async def raw_webhook(request: Request) -> HTTPResponse:
    """Deliver an arbitrary (Meta-shaped) webhook body, signed, without retries (conformance tests)."""
    status, ms, _ = await simulator(request).post_webhook(request.json or {}, retry=False)
    return response.json({"status": status, "ack_ms": ms})


async def read(request: Request) -> HTTPResponse:
    wa_id = str((request.json or {}).get("wa_id", ""))
    return response.json({"read": await simulator(request).mark_read_by_investor(wa_id)})


async def faults(request: Request) -> HTTPResponse:
    sim = simulator(request)
    if request.method == "DELETE":
        sim.faults = Faults()
    elif request.method == "POST":
        for key, value in (request.json or {}).items():
            if hasattr(sim.faults, key):
                setattr(sim.faults, key, value)
    return response.json(asdict(sim.faults))


async def config(request: Request) -> HTTPResponse:
    sim = simulator(request)
    for key, value in (request.json or {}).items():
        if hasattr(sim.settings, key):
            setattr(sim.settings, key, type(getattr(sim.settings, key))(value))
    return response.json(sim.settings.dict())


async def reset(request: Request) -> HTTPResponse:
    simulator(request).reset()
    return response.json({"status": "ok"})


async def list_messages(request: Request) -> HTTPResponse:
    sim = simulator(request)
    wa_id = request.args.get("wa_id")
    direction = request.args.get("direction")
    since = int(request.args.get("since", "0"))
    rows = [
        asdict(r)
        for r in sim.records[since:]
        if (not wa_id or r.wa_id == wa_id) and (not direction or r.direction == direction)
    ]
    return response.json({"records": rows, "next": len(sim.records)})


async def investors(request: Request) -> HTTPResponse:
    return response.json([{"wa_id": k, "name": v} for k, v in simulator(request).names.items()])


async def stats(request: Request) -> HTTPResponse:
    return response.json(simulator(request).summary())


async def events(request: Request) -> Any:
    sim = simulator(request)
    queue: asyncio.Queue[str] = asyncio.Queue()
    # ?direction=out: only the records of messages the business sent (what a benchmark waits for)
    sim.subscribers[queue] = request.args.get("direction", "")
    resp = await request.respond(headers={"Cache-Control": "no-cache"}, content_type="text/event-stream")
    try:
        await resp.send(": connected\n\n")
        while True:
            try:
                data = await asyncio.wait_for(queue.get(), timeout=15)
                await resp.send(f"data: {data}\n\n")
            except asyncio.TimeoutError:
                await resp.send(": keep-alive\n\n")
    finally:
        sim.subscribers.pop(queue, None)


ROUTES: list[tuple[list[str], str, Callable[..., Any]]] = [
    (["GET"], "/health", health),
    (["GET"], "/", page),
    (["POST"], "/<version>/<phone_number_id>/messages", messages),
    (["GET"], "/<version>/<media_id>", media),
    (["POST"], "/_sim/inbound", inbound),
    (["POST"], "/_sim/webhook", raw_webhook),
    (["POST"], "/_sim/read", read),
    (["GET", "POST", "DELETE"], "/_sim/faults", faults),
    (["POST"], "/_sim/config", config),
    (["POST"], "/_sim/reset", reset),
    (["GET"], "/_sim/messages", list_messages),
    (["GET"], "/_sim/investors", investors),
    (["GET"], "/_sim/stats", stats),
    (["GET"], "/_sim/events", events),
]
