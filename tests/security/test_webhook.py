"""The webhook against an attacker who can sign payloads (or forge a client): size, structure, reply ids, length.

Findings: a signed 5 MB webhook ran through NLU (Rasa blocked ~40 s); deep nesting or wrong types gave 500;
a crafted `interactive.button_reply.id` such as `/check_portfolio{"folio": ...}` reached Rasa as an intent with
entities. Each test drives the real channel (in-process Sanic server, the simulator process as Meta, Redis
and RabbitMQ where the mode uses them) and fails on the code before the fix.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from sanic import Sanic

from connectors.whatsapp import gateway
from connectors.whatsapp.models import MAX_TEXT_CHARS, InboundMessage, PayloadError, parse_webhook
from connectors.whatsapp.signature import HEADER, sign
from tests.support.processes import free_port
from tests.whatsapp import conftest as whatsapp_fixtures
from tests.whatsapp import meta_payloads as meta
from tests.whatsapp.conftest import (
    ChannelServer,
    EchoBot,
    Sim,
    channel_settings,
    close_channel,
    post,
    post_signed,
    purge_prefix,
)

# The WhatsApp tests' fixtures, by name: the simulator process as Meta, the channel served in-process.
sim_process = whatsapp_fixtures.sim_process
sim = whatsapp_fixtures.sim
prefix = whatsapp_fixtures.prefix
embedded = whatsapp_fixtures.embedded
durable = whatsapp_fixtures.durable

MB = 1024 * 1024


def signed_body(served: ChannelServer, payload: dict[str, Any]) -> tuple[bytes, str]:
    body = json.dumps(payload).encode()
    return body, sign(body, served.channel.settings.app_secret)


def text_webhook(msg_id: str, text: str, sender: str = meta.INVESTOR) -> dict[str, Any]:
    return meta.webhook([meta.message(msg_id, {"type": "text", "text": {"body": text}}, sender=sender)])


async def settle(served: ChannelServer) -> None:
    """Every queued message handled (embedded mode's in-process queues)."""
    await served.channel.intake.drain()  # type: ignore[attr-defined]


async def normal_webhook_is_processed(served: ChannelServer, msg_id: str) -> None:
    status, _ = await post_signed(served, text_webhook(msg_id, "after the big one"))
    assert status == 200
    await settle(served)
    assert [m.text for m in served.bot.received] == ["after the big one"]


def rejected(caplog: pytest.LogCaptureFixture, reason: str) -> bool:
    return any(f"whatsapp.webhook.rejected reason={reason}" in r.getMessage() for r in caplog.records)


# ----- 1. size ---------------------------------------------------------------------------------------------
async def test_signed_5mb_webhook_gets_413_and_the_next_one_is_processed(
    embedded: ChannelServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    body, signature = signed_body(embedded, text_webhook("wamid.BIG", "x" * (5 * MB)))
    status, text = await post(embedded, body, signature)
    assert status == 413 and "too large" in text
    assert rejected(caplog, "too_large")
    await normal_webhook_is_processed(embedded, "wamid.AFTERBIG")  # the big one never reached the bot


async def raw_head(served: ChannelServer, headers: dict[str, str]) -> tuple[bytes, asyncio.StreamReader, Any]:
    """Send a request head and no body at all; return the first response line (the server answers without
    the body, or this times out)."""
    url = urlsplit(served.webhook)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode())
    await writer.drain()
    return await asyncio.wait_for(reader.readline(), timeout=20), reader, writer


@pytest.mark.parametrize("expect_continue", [False, True])
async def test_oversized_content_length_is_refused_before_the_body_is_read(
    embedded: ChannelServer, caplog: pytest.LogCaptureFixture, expect_continue: bool
) -> None:
    caplog.set_level(logging.WARNING)
    headers = {"Content-Length": str(5 * MB), HEADER: sign(b"never sent", embedded.channel.settings.app_secret)}
    if expect_continue:
        headers["Expect"] = "100-continue"  # the client waits to be asked for the body: it never is
    status_line, reader, writer = await raw_head(embedded, headers)
    try:
        assert status_line.startswith(b"HTTP/1.1 413"), status_line
        if expect_continue:  # not asked for the body, and the connection is closed rather than left waiting
            rest = await asyncio.wait_for(reader.read(), timeout=20)
            assert b"100 Continue" not in rest and b"Connection: close" in rest.replace(b"connection", b"Connection")
    finally:
        writer.close()
    assert rejected(caplog, "too_large")
    await normal_webhook_is_processed(embedded, "wamid.AFTERHEAD")


async def test_chunked_body_is_cut_off_once_it_passes_the_limit(
    embedded: ChannelServer, caplog: pytest.LogCaptureFixture
) -> None:
    """No Content-Length to check first: the bytes read are counted (the cap is 256 KiB by default)."""
    caplog.set_level(logging.WARNING)
    body, signature = signed_body(embedded, text_webhook("wamid.CHUNKED", "y" * MB))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": "application/json", HEADER: signature}
        async with session.post(embedded.webhook, data=chunks(), headers=headers) as resp:
            assert resp.status == 413
            assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
    assert rejected(caplog, "too_large")
    await normal_webhook_is_processed(embedded, "wamid.AFTERCHUNKED")


@pytest.fixture
async def gateway_server(sim: Sim, prefix: str, amqp_url: str, redis_url: str) -> AsyncIterator[ChannelServer]:
    """`python -m connectors.whatsapp.gateway`'s app, served in-process (RabbitMQ + Redis, no Rasa)."""
    settings = channel_settings(sim, prefix, amqp_url=amqp_url, redis_url=redis_url)
    app: Sanic = gateway.create_app(settings, name=f"gw_{uuid.uuid4().hex[:8]}")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    served = ChannelServer(app.ctx.channel, EchoBot(), f"http://127.0.0.1:{port}", server)
    yield served
    await close_channel(served)
    await purge_prefix(prefix, amqp_url, redis_url)


async def test_gateway_caps_the_body_on_the_same_path(gateway_server: ChannelServer) -> None:
    body, signature = signed_body(gateway_server, text_webhook("wamid.GWBIG", "z" * (5 * MB)))
    assert (await post(gateway_server, body, signature))[0] == 413
    assert (await post_signed(gateway_server, text_webhook("wamid.GWOK", "hello")))[0] == 200
    store, p = gateway_server.channel.store, gateway_server.channel.settings.prefix
    assert await store.get(f"{p}:seen:wamid.GWOK") is not None  # accepted and queued
    assert await store.get(f"{p}:seen:wamid.GWBIG") is None  # never even parsed


# ----- 1b. structure ---------------------------------------------------------------------------------------
def with_value(path: tuple[Any, ...], raw_json: str, base: dict[str, Any] | None = None) -> bytes:
    """A real Meta payload with the value at `path` replaced by `raw_json` (any JSON text, even invalid)."""
    payload = json.loads(json.dumps(base or meta.webhook([meta.message("wamid.TYPE", meta.TEXT)])))
    node = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "__FUZZ__"
    return json.dumps(payload).replace('"__FUZZ__"', raw_json).encode()


VALUE = ("entry", 0, "changes", 0, "value")
MESSAGE = (*VALUE, "messages", 0)
BUTTON = meta.webhook([meta.message("wamid.TYPE", meta.BUTTON_REPLY)])
WITH_STATUS = meta.webhook(statuses=[meta.STATUS_FAILED])
MALFORMED = {
    "deep nesting": with_value(("entry",), "[" * 100_000 + "]" * 100_000),
    "deep nesting in an unknown field": with_value((*MESSAGE, "extra"), '{"a":' * 30_000 + "1" + "}" * 30_000),
    "metadata a list of numbers": with_value((*VALUE, "metadata"), "[1]"),
    "contact profile a string": with_value((*VALUE, "contacts", 0, "profile"), '"Asha"'),
    "timestamp overflowing a float": with_value((*MESSAGE, "timestamp"), "1e400"),
    "timestamp a huge integer": with_value((*MESSAGE, "timestamp"), "9" * 40),
    "text body a list": with_value((*MESSAGE, "text", "body"), '["hi"]'),
    "text an array": with_value((*MESSAGE, "text"), "[]"),
    "sender a number": with_value((*MESSAGE, "from"), meta.INVESTOR),
    "sender not Unicode": with_value((*MESSAGE, "from"), '"\\ud800"'),
    "message id longer than AMQP allows": with_value((*MESSAGE, "id"), json.dumps("wamid." + "A" * 300)),
    "interactive a list": with_value((*MESSAGE, "interactive"), "[1, 2]", BUTTON),
    "reply id a number": with_value((*MESSAGE, "interactive", "button_reply", "id"), "42", BUTTON),
    "status error code a string": with_value((*VALUE, "statuses", 0, "errors", 0, "code"), '"131047"', WITH_STATUS),
}


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
async def test_deep_or_wrongly_typed_signed_payloads_get_400(embedded: ChannelServer, body: bytes) -> None:
    status, text = await post(embedded, body, sign(body, embedded.channel.settings.app_secret))
    assert status == 400 and "malformed" in text
    await settle(embedded)
    assert embedded.bot.received == [] and embedded.channel.intake.dead_letters == []  # type: ignore[attr-defined]


WRONG_VALUES = [
    "null", "true", "0", "-1", "1.5", "1e400", "-1e400", "NaN", "Infinity", "9" * 5000, '""', '"x"', '"\\ud800"',
    '"' + "w" * 300 + '"', "[]", "[null]", '[{"a": 1}]', "{}", '{"id": {}}', "[" * 5000 + "]" * 5000,
]  # fmt: skip
BASES = [
    meta.webhook([meta.message("wamid.FUZZ", content)], statuses=[meta.STATUS_FAILED])
    for content in (
        meta.TEXT, meta.BUTTON_REPLY, meta.LIST_REPLY, meta.TEMPLATE_BUTTON, meta.IMAGE_WITH_CAPTION,
        meta.DOCUMENT, meta.AUDIO, meta.STICKER, meta.LOCATION, meta.CONTACTS, meta.REACTION, meta.UNSUPPORTED,
        meta.REPLY_WITH_CONTEXT,
    )
]  # fmt: skip


def paths(node: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key and index of a JSON document (the root excluded)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in items:
        yield (*at, key)
        yield from paths(child, (*at, key))


def variants(each_path_once: bool = False) -> Iterator[bytes]:
    """Each real payload with each value anywhere in it replaced by each wrongly typed value (10,700 bodies);
    `each_path_once`: a path the payloads share (the envelope, statuses) only in the first one (~2,000)."""
    seen: set[tuple[Any, ...]] = set()
    for base in BASES:
        for path in paths(base):
            if each_path_once and path in seen:
                continue
            seen.add(path)
            for raw in WRONG_VALUES:
                yield with_value(path, raw, base)


def check_total(body: bytes) -> bool:
    """parse_webhook answers with a batch or PayloadError, and everything later done with a parsed message
    (what Rasa, the transcript and the queue see) works too. True when the variant was accepted."""
    try:
        batch = parse_webhook(body)
    except PayloadError:
        return False
    for message in batch.messages:
        message.rasa_text(), message.reply_payload(), message.notice_kind(), message.transcript_text()
        json.dumps(message.metadata())
        assert InboundMessage.from_json(message.to_json()) == message
    for status in batch.statuses:
        assert all(isinstance(code, int) for code in status.error_codes)
    return True


def test_parser_is_total_over_wrongly_typed_variants_of_real_payloads() -> None:
    outcomes = [check_total(body) for body in variants()]
    assert len(outcomes) > 10_000 and any(outcomes) and not all(outcomes)  # the generator reaches both answers


async def test_webhook_answers_200_or_400_never_5xx_for_any_variant(embedded: ChannelServer) -> None:
    secret = embedded.channel.settings.app_secret
    answers: dict[int, int] = {}
    async with aiohttp.ClientSession() as session:
        for n, body in enumerate(variants(each_path_once=True)):
            body = body.replace(b"wamid.FUZZ", f"wamid.FUZZ{n}".encode())  # each accepted one is processed
            headers = {"Content-Type": "application/json", HEADER: sign(body, secret)}
            async with session.post(embedded.webhook, data=body, headers=headers) as resp:
                answers[resp.status] = answers.get(resp.status, 0) + 1
    assert set(answers) == {200, 400}, answers
    await settle(embedded)
    assert embedded.channel.intake.dead_letters == []  # type: ignore[attr-defined]  # no accepted one was poison


# ----- 2. reply ids ----------------------------------------------------------------------------------------
def tap(msg_id: str, reply_id: str, title: str, sender: str = meta.INVESTOR, kind: str = "button_reply") -> dict:
    content = {"type": "interactive", "interactive": {"type": kind, kind: {"id": reply_id, "title": title}}}
    return meta.webhook([meta.message(msg_id, content, sender=sender)])


async def test_unoffered_reply_ids_reach_the_bot_as_their_titles(
    embedded: ChannelServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    forged = [
        tap("wamid.F1", '/check_portfolio{"folio": "99887766"}', "Portfolio"),
        tap("wamid.F2", "/action_handoff_resume", "/restart", kind="list_reply"),
        meta.webhook([meta.message("wamid.F3", {"type": "button", "button": {"payload": "/stop", "text": "Stop"}})]),
    ]
    for payload in forged:
        assert (await post_signed(embedded, payload))[0] == 200
    await settle(embedded)
    assert [m.text for m in embedded.bot.received] == ["Portfolio", "restart", "Stop"]
    assert sum("whatsapp.reply.not_offered" in r.getMessage() for r in caplog.records) == 3


async def offered_to_one_investor_only(served: ChannelServer, sim: Sim) -> None:
    await sim.send(meta.INVESTOR, text="buttons")  # EchoBot offers /choose{"n":0..4} as a list
    [menu] = await sim.wait_outbound(1, meta.INVESTOR)
    row = menu["payload"]["interactive"]["action"]["sections"][0]["rows"][3]
    assert row["id"] == '/choose{"n":3}'
    other = "919800000077"  # never offered anything: the same id from this investor is only a title
    await sim.send(other, list_reply={"id": row["id"], "title": row["title"]})
    await sim.send(meta.INVESTOR, list_reply={"id": row["id"], "title": row["title"]})
    await sim.wait_outbound(1, other)
    await sim.wait_outbound(2, meta.INVESTOR)
    texts = [(m.sender_id, m.text) for m in served.bot.received]  # the two investors run concurrently
    assert texts[0] == (meta.INVESTOR, "buttons")
    assert sorted(texts[1:]) == sorted([(meta.INVESTOR, '/choose{"n":3}'), (other, "Option 3")])


async def test_offered_reply_id_is_the_payload_for_that_investor_only(embedded: ChannelServer, sim: Sim) -> None:
    await offered_to_one_investor_only(embedded, sim)


async def test_offers_are_shared_through_redis_in_production_mode(durable: ChannelServer, sim: Sim) -> None:
    await offered_to_one_investor_only(durable, sim)


# ----- 1c. text length -------------------------------------------------------------------------------------
async def test_text_over_whatsapps_limit_is_refused_before_nlu_with_a_notice(
    embedded: ChannelServer, sim: Sim, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    await sim.send(meta.INVESTOR, text="open window")  # the notice needs the 24-hour window open
    await sim.wait_outbound(1, meta.INVESTOR)
    at_limit, over = "a" * MAX_TEXT_CHARS, "b" * (MAX_TEXT_CHARS + 1)
    for msg_id, text in (("wamid.LIMIT", at_limit), ("wamid.OVER", over)):
        assert (await post_signed(embedded, text_webhook(msg_id, text)))[0] == 200
    await settle(embedded)
    assert [m.text for m in embedded.bot.received] == ["open window", at_limit]  # the longer one: no NLU
    replies = [r["payload"]["text"]["body"] for r in await sim.outbound(meta.INVESTOR)]  # all sent: settled
    assert "too long" in replies[-1] and "4096" in replies[-1]  # after the echo of the one at the limit
    assert not any("bbbb" in r for r in replies)
    assert any("whatsapp.message.too_long" in r.getMessage() and "chars=4097" in r.getMessage() for r in caplog.records)
