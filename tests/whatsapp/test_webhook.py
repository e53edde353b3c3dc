"""The webhook as Meta sees it: verification, signatures, malformed bodies, every message type, statuses,
duplicates and ordering -- driven through the real simulator process or signed by hand."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from connectors.whatsapp.settings import DEV_APP_SECRET as SECRET
from connectors.whatsapp.signature import sign
from tests.whatsapp import meta_payloads as meta
from tests.whatsapp.conftest import ChannelServer, Sim, post, post_signed


async def settle(served: ChannelServer) -> None:
    intake = served.channel.intake
    drain = getattr(intake, "drain", None)
    if drain is not None:
        await drain()


async def test_verification_handshake(embedded: ChannelServer) -> None:
    async with aiohttp.ClientSession() as session:
        ok = {"hub.mode": "subscribe", "hub.verify_token": "dev-verify-token", "hub.challenge": "1158201444"}
        async with session.get(embedded.webhook, params=ok) as resp:
            assert resp.status == 200 and await resp.text() == "1158201444"
        async with session.get(embedded.webhook, params={**ok, "hub.verify_token": "wrong"}) as resp:
            assert resp.status == 403


@pytest.mark.parametrize(
    "signature",
    [None, "", "sha256=", "sha1=abc", "sha256=" + "0" * 64, sign(b"another body", SECRET), sign(b"x", "other-secret")],
)
async def test_bad_signature_is_rejected_and_nothing_processed(embedded: ChannelServer, signature: str | None) -> None:
    body = json.dumps(meta.webhook([meta.message("wamid.SIG1", meta.TEXT)])).encode()
    status, _ = await post(embedded, body, signature)
    assert status == 403
    await settle(embedded)
    assert embedded.bot.received == []
    # The id was not claimed: the same message correctly signed is still processed.
    assert (await post(embedded, body, sign(body, SECRET)))[0] == 200


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"object": "page", "entry": []}).encode(),
        json.dumps({"object": "whatsapp_business_account", "entry": "x"}).encode(),
        json.dumps(meta.webhook([{"id": "wamid.X", "timestamp": "1", "type": "text"}])).encode(),  # no 'from'
        json.dumps(meta.webhook([meta.message("wamid.X", meta.TEXT, timestamp="soon")])).encode(),  # type: ignore[arg-type]
    ],
)
async def test_malformed_payload_gets_400(embedded: ChannelServer, body: bytes) -> None:
    status, text = await post(embedded, body, sign(body, SECRET))
    assert status == 400 and "malformed" in text


async def test_sim_delivers_signed_webhook_and_reply_reaches_sim(embedded: ChannelServer, sim: Sim) -> None:
    result = await sim.send(meta.INVESTOR, text="hello")
    assert result["status"] == 200
    replies = await sim.wait_outbound(1, meta.INVESTOR)
    assert replies[0]["payload"]["text"]["body"] == "echo: hello"
    received = embedded.bot.received[0]
    assert received.sender_id == meta.INVESTOR and received.input_channel == "whatsapp"
    assert received.metadata["whatsapp"]["message_id"] == result["ids"][0]
    assert received.metadata["whatsapp"]["profile_name"]


READABLE = [
    (meta.TEXT, "What is my portfolio value?"),
    # Replies to buttons this investor was never offered: their titles, as text (tests/security/test_webhook.py).
    (meta.BUTTON_REPLY, "Portfolio"),
    (meta.LIST_REPLY, "SIP status"),
    (meta.LIST_REPLY_PLAIN_ID, "Tax statement"),
    (meta.TEMPLATE_BUTTON, "Talk to us"),
    (meta.IMAGE_WITH_CAPTION, "what is this charge?"),
    (meta.REPLY_WITH_CONTEXT, "yes"),
]


@pytest.mark.parametrize(("content", "text"), READABLE)
async def test_readable_types_reach_the_bot_as_text_with_metadata(
    embedded: ChannelServer, content: dict, text: str
) -> None:
    status, _ = await post_signed(embedded, meta.webhook([meta.message("wamid.R1", content)]))
    assert status == 200
    await settle(embedded)
    assert [m.text for m in embedded.bot.received] == [text]
    assert embedded.bot.received[0].metadata["whatsapp"]["type"] == content["type"]


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (meta.IMAGE, "image"),
        (meta.DOCUMENT, "document"),
        (meta.AUDIO, "voice message"),
        (meta.VIDEO, "video"),
        (meta.STICKER, "sticker"),
        (meta.LOCATION, "location"),
        (meta.CONTACTS, "contact card"),
        (meta.UNSUPPORTED, "couldn't read"),
        (meta.UNKNOWN_FUTURE_TYPE, "couldn't read"),
    ],
)
async def test_unreadable_types_get_a_plain_notice_and_no_prediction(
    embedded: ChannelServer, sim: Sim, content: dict, kind: str
) -> None:
    await sim.call("POST", "/_sim/inbound", {"from": meta.INVESTOR, "text": "open window"})  # window + sim record
    await sim.wait_outbound(1, meta.INVESTOR)
    embedded.bot.received.clear()
    status, _ = await post_signed(embedded, meta.webhook([meta.message("wamid.M1", content)]))
    assert status == 200
    await settle(embedded)
    replies = await sim.wait_outbound(2, meta.INVESTOR)
    notice = replies[-1]["payload"]["text"]["body"]
    assert kind in notice and "agent" in notice
    assert embedded.bot.received == []  # nothing to predict on


async def test_reaction_is_silent(embedded: ChannelServer, sim: Sim) -> None:
    status, _ = await post_signed(embedded, meta.webhook([meta.message("wamid.RE1", meta.REACTION)]))
    assert status == 200
    await settle(embedded)  # the webhook answered after queueing what it accepted; drained, all of it was handled
    assert embedded.bot.received == [] and await sim.outbound(meta.INVESTOR) == []


async def test_several_messages_and_contacts_in_one_payload_sorted_by_timestamp(embedded: ChannelServer) -> None:
    other = "919800000002"
    payload = meta.webhook(
        [
            meta.message("wamid.B3", {"type": "text", "text": {"body": "third"}}, timestamp=1_700_000_030),
            meta.message(
                "wamid.O1", {"type": "text", "text": {"body": "other"}}, sender=other, timestamp=1_700_000_000
            ),
            meta.message("wamid.B1", {"type": "text", "text": {"body": "first"}}, timestamp=1_700_000_010),
            meta.message("wamid.B2", {"type": "text", "text": {"body": "second"}}, timestamp=1_700_000_020),
        ],
        contacts=[{"profile": {"name": "Asha"}, "wa_id": meta.INVESTOR}, {"profile": {"name": "Ravi"}, "wa_id": other}],
    )
    assert (await post_signed(embedded, payload))[0] == 200
    await settle(embedded)
    mine = [m.text for m in embedded.bot.received if m.sender_id == meta.INVESTOR]
    assert mine == ["first", "second", "third"]
    names = {m.sender_id: m.metadata["whatsapp"]["profile_name"] for m in embedded.bot.received}
    assert names == {meta.INVESTOR: "Asha", other: "Ravi"}


async def test_statuses_are_recorded_never_answered(embedded: ChannelServer, sim: Sim) -> None:
    statuses = [meta.STATUS_SENT, meta.STATUS_DELIVERED, meta.STATUS_READ, meta.STATUS_FAILED]
    assert (await post_signed(embedded, meta.webhook(statuses=statuses)))[0] == 200
    await settle(embedded)
    store, p = embedded.channel.store, embedded.channel.settings.prefix
    assert json.loads(await store.get(f"{p}:status:wamid.OUT1") or "{}")["status"] == "read"
    assert json.loads(await store.get(f"{p}:status:wamid.OUT2") or "{}")["errors"] == [131047]
    assert embedded.bot.received == [] and await sim.outbound() == []


async def test_duplicate_webhooks_are_processed_once(embedded: ChannelServer, sim: Sim) -> None:
    result = await sim.send(meta.INVESTOR, text="only once", duplicate=3)
    assert result["status"] == 200
    # The simulator answers after all three deliveries were acknowledged, and the channel acknowledges after
    # claiming the message id and queueing it (or dropping a duplicate): once the intake is drained, every reply
    # there will ever be was sent (the simulator records it before it answers the send).
    await settle(embedded)
    assert len(await sim.outbound(meta.INVESTOR)) == 1
    assert [m.text for m in embedded.bot.received] == ["only once"]


async def test_one_investor_in_order_and_never_concurrently(embedded: ChannelServer, sim: Sim) -> None:
    embedded.bot.delay = 0.02
    await asyncio.gather(*(sim.send(meta.INVESTOR, batch=[{"text": f"m{i}"}]) for i in range(1)))
    for i in range(1, 15):
        await sim.send(meta.INVESTOR, text=f"m{i}")
    replies = await sim.wait_outbound(15, meta.INVESTOR)
    assert [r["payload"]["text"]["body"] for r in replies] == [f"echo: m{i}" for i in range(15)]
    assert embedded.bot.max_active_per_sender == 1


async def test_rasa_buttons_become_a_list_and_a_tap_comes_back_as_the_payload(
    embedded: ChannelServer, sim: Sim
) -> None:
    await sim.send(meta.INVESTOR, text="buttons")
    [menu] = await sim.wait_outbound(1, meta.INVESTOR)
    interactive = menu["payload"]["interactive"]
    assert interactive["type"] == "list"  # five options do not fit in three reply buttons
    rows = interactive["action"]["sections"][0]["rows"]
    assert [r["title"] for r in rows] == [f"Option {i}" for i in range(5)]
    await sim.send(meta.INVESTOR, list_reply={"id": rows[2]["id"], "title": rows[2]["title"]})
    await sim.wait_outbound(2, meta.INVESTOR)
    assert embedded.bot.received[-1].text == '/choose{"n":2}'


async def test_app_secret_rotation_accepts_old_and_new_during_the_overlap(sim: Sim, prefix: str) -> None:
    """While WHATSAPP_APP_SECRET_PREVIOUS is set, webhooks signed with either secret are taken; nothing else is."""
    from tests.whatsapp.conftest import EchoBot, channel_settings, close_channel, serve_channel

    served = await serve_channel(channel_settings(sim, prefix, app_secret="new-secret",
                                                  previous_app_secret="old-secret"), EchoBot())
    try:
        for wamid, key, expected in [("wamid.ROT1", "new-secret", 200), ("wamid.ROT2", "old-secret", 200),
                                     ("wamid.ROT3", "some-other-secret", 403)]:
            body = json.dumps(meta.webhook([meta.message(wamid, meta.TEXT)])).encode()
            assert (await post(served, body, sign(body, key)))[0] == expected, key
    finally:
        await close_channel(served)
