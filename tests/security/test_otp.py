"""Finding 3: one-time passwords were issued without limit and kept (tracker store, events, inbox). Now issuing is
limited per number and per conversation, and a code is masked before the tracker is saved or streamed."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from actions.sessions import Conversation, MemoryRecords, Sessions
from tests.security.conftest import SecureStack
from tests.security.test_rest_channel import generated_investor


def test_codes_per_number_are_limited_with_a_clear_message(secure_stack: SecureStack) -> None:
    """Five conversations claiming one number: three codes are sent, then the investor is told why not."""
    mobile = generated_investor(secure_stack, 11)
    answers = []
    for suffix in "abcde":  # distinct REST conversations, one number (its digits)
        status, replies = secure_stack.rest(f"{mobile}{suffix}", "/check_portfolio")
        assert status == 200
        answers.append("\n".join(r.get("text", "") for r in replies))
        if suffix == "c":
            third_code = secure_stack.api.last_otp(mobile)
    assert all("6-digit code" in a for a in answers[:3]), answers
    assert all("can't send another one" in a and "6-digit code" not in a for a in answers[3:]), answers
    assert secure_stack.api.last_otp(mobile) == third_code  # no fourth SMS reached the account API


def test_codes_per_conversation_are_limited() -> None:
    """The same limit per conversation, whatever number it claims (real Sessions over the in-process records)."""
    sessions = Sessions(MemoryRecords(), idle_seconds=600, max_codes=3, window=900)
    conversation = Conversation("whatsapp", "919800000042")

    async def issue(numbers: list[str]) -> list[bool]:
        return [await sessions.issue_allowed(conversation, n) for n in numbers]

    assert asyncio.run(issue(["919800000042", "919800000043", "919800000044", "919800000045"])) == [
        True,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize("index,form", [(17, "my code is {a} {b}"), (19, "otp{a}{b}"), (23, "{spaced}")])
def test_a_code_is_not_kept_after_use(secure_stack: SecureStack, index: int, form: str) -> None:
    """However the investor types the code (the forms the bot accepts), it is gone from what is stored."""
    mobile = generated_investor(secure_stack, index)
    status, replies = secure_stack.rest(mobile, "/kyc_status")
    assert "6-digit code" in "\n".join(r.get("text", "") for r in replies)
    code = secure_stack.api.last_otp(mobile)
    typed = form.format(a=code[:3], b=code[3:], spaced=" ".join(code))
    status, replies = secure_stack.rest(mobile, typed)
    assert status == 200 and "verified" in "\n".join(r.get("text", "") for r in replies), replies

    kept = [code, f"{code[:3]} {code[3:]}", " ".join(code)]
    tracker = str(secure_stack.tracker(f"rest:{mobile}"))
    assert not [k for k in kept if k in tracker]
    with sqlite3.connect(secure_stack.tracker_db) as db:
        stored = "\n".join(row[0] for row in db.execute("SELECT data FROM events"))
    assert not [k for k in kept if k in stored]


def test_a_session_record_written_by_anyone_else_proves_nothing(redis_url: str, run_id: str) -> None:
    """Found by the attack: a pod sharing Redis could write `verified:<conversation>` and read any account.
    Records are sealed with a key only the action server holds (real Redis, the real RedisRecords)."""
    from actions.sessions import RedisRecords

    conversation = Conversation("whatsapp", "919800000002")

    async def forge_then_mint() -> tuple[str | None, str | None]:
        records = RedisRecords(redis_url, f"{run_id}:seal:")
        sessions = Sessions(records, idle_seconds=60, max_codes=3, window=60, key="only-the-action-server")
        await records.put(f"verified:{conversation.key}", {"investor_id": "2"}, 60)  # what an attacker writes
        forged = await sessions.verified_investor(conversation)
        await sessions.mint(conversation, "2")
        minted = await sessions.verified_investor(conversation)
        await records.delete(f"verified:{conversation.key}")
        await records.redis.close()
        return forged, minted

    assert asyncio.run(forge_then_mint()) == (None, "2")
