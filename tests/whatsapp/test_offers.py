"""Offered reply ids (connectors/whatsapp/offers.py), in the in-process store and in real Redis alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from connectors.whatsapp import messages as wa
from connectors.whatsapp.offers import OfferedReplies
from connectors.whatsapp.store import MemoryStore, RedisStore, StateStore
from tests.whatsapp import meta_payloads as meta

OTHER = "919800000099"


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        yield MemoryStore()
        return
    redis_store = RedisStore(request.getfixturevalue("redis_url"))
    yield redis_store
    await redis_store.close()


@pytest.fixture
def prefix(run_id: str) -> str:
    return f"wa{run_id}{uuid.uuid4().hex[:6]}"


async def test_a_payload_is_accepted_only_from_the_investor_it_was_offered_to(store: StateStore, prefix: str) -> None:
    offers = OfferedReplies(store, prefix, ttl=3600)
    buttons = [{"title": "Portfolio", "payload": "/check_portfolio"}, {"title": "Tax", "payload": "tax statement"}]
    [menu] = wa.button_messages(meta.INVESTOR, "What do you need?", buttons)
    await offers.record(menu)
    assert await offers.accepts(meta.INVESTOR, "/check_portfolio")
    assert not await offers.accepts(OTHER, "/check_portfolio")
    assert not await offers.accepts(meta.INVESTOR, '/check_portfolio{"folio": "1"}')
    assert not await offers.accepts(meta.INVESTOR, "tax statement")  # not a payload: never needs accepting


async def test_list_rows_and_template_quick_replies_are_offers_too(store: StateStore, prefix: str) -> None:
    offers = OfferedReplies(store, prefix, ttl=3600)
    rows = [{"title": f"Scheme {i}", "payload": f'/choose{{"n":{i}}}'} for i in range(12)]
    for message in wa.button_messages(meta.INVESTOR, "Which one?", rows):  # two lists
        await offers.record(message)
    quick_reply = {"type": "button", "sub_type": "quick_reply", "index": "0"}
    template = wa.template_message(
        meta.INVESTOR,
        "sip_reminder",
        components=[{**quick_reply, "parameters": [{"type": "payload", "payload": "/stop"}]}],
    )
    await offers.record(template)
    assert [await offers.accepts(meta.INVESTOR, r["payload"]) for r in rows] == [True] * 12
    assert await offers.accepts(meta.INVESTOR, "/stop")


async def test_an_offer_past_its_time_is_not_accepted_until_offered_again(store: StateStore, prefix: str) -> None:
    await OfferedReplies(store, prefix, ttl=-1).offer(meta.INVESTOR, ["/greet"])  # expired as it is written
    assert not await OfferedReplies(store, prefix, ttl=3600).accepts(meta.INVESTOR, "/greet")
    await OfferedReplies(store, prefix, ttl=3600).offer(meta.INVESTOR, ["/greet"])
    assert await OfferedReplies(store, prefix, ttl=3600).accepts(meta.INVESTOR, "/greet")
