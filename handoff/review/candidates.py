"""Which stored investor messages the content team should look at, and why.

Read from the `messages` table (handoff/ingest.py stores every investor message with its intent and
confidence), over a window of days:
- `fallback`: NLU fell back (`nlu_fallback`), or answered out_of_scope below the threshold;
- `low_confidence`: any other intent below the threshold;
- `before_handoff`: the last investor messages before a handoff for `repeated_fallback`;
- `rejected_faq`: an FAQ answer followed by "no" (deny), "that's not what I asked", or a request for an agent;
- `flagged`: an agent said "the bot should have understood this" (POST /api/messages/<id>/flag).
Messages written while a person has the conversation (a ticket is open) are for the person, not the bot:
they count only when flagged. Button payloads (`/intent`) are not investor text and never count.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.models import Message, MessageFlag, Ticket
from handoff.review.grouping import Candidate, masked

FALLBACK_INTENT = "nlu_fallback"
OUT_OF_SCOPE = "out_of_scope"
THRESHOLD = 0.6  # config.yml's FallbackClassifier threshold: below it the bot was not sure (a test keeps them equal)
REJECTING_INTENTS = frozenset({"deny", "talk_to_agent"})
NOT_WHAT_I_ASKED = re.compile(
    r"not what i (asked|meant|wanted)|wrong answer|that'?s not it|(galat|wrong) (jawab|answer)"
    r"|ye(h)? nahi (pucha|poocha)|^\s*(no+|nope|nahi|galat)\s*[.!]*\s*$",
    re.IGNORECASE,
)
BEFORE_HANDOFF = 3  # investor messages before a repeated_fallback handoff
MAX_MESSAGES = 50_000  # a week of a busy fund house's doubtful messages is far fewer


def _own_reasons(intent: str | None, confidence: float | None) -> set[str]:
    if intent == FALLBACK_INTENT:
        return {"fallback"}
    low = confidence is not None and confidence < THRESHOLD
    if intent == OUT_OF_SCOPE and low:
        return {"fallback"}
    return {"low_confidence"} if low else set()


def _rejects(row: Any) -> bool:
    return row.intent in REJECTING_INTENTS or bool(NOT_WHAT_I_ASKED.search(row.text or ""))


def _conversation_reasons(rows: Sequence[Any], handoffs: list[dt.datetime]) -> dict[int, set[str]]:
    """Reasons per message id within one conversation's investor messages (in order)."""
    reasons: dict[int, set[str]] = defaultdict(set)
    for i, row in enumerate(rows):
        if row.ticket_id is None:
            reasons[row.id] |= _own_reasons(row.intent, row.confidence)
        is_faq = (row.intent or "").split("/")[0] == "faq"
        if is_faq and i + 1 < len(rows) and _rejects(rows[i + 1]):
            reasons[row.id].add("rejected_faq")
    for opened in handoffs:
        before = [r for r in rows if r.created_at <= opened and r.ticket_id is None][-BEFORE_HANDOFF:]
        for row in before:
            reasons[row.id].add("before_handoff")
    return reasons


def find(session: Session, *, since: dt.datetime, limit: int = MAX_MESSAGES) -> list[Candidate]:
    """Every candidate message since `since`, masked, with its reasons."""
    rows = session.execute(
        select(Message.id, Message.conversation_id, Message.ticket_id, Message.text, Message.intent,
               Message.confidence, Message.created_at)
        .where(Message.kind == "user", Message.created_at >= since, Message.text.is_not(None))
        .order_by(Message.conversation_id, Message.created_at, Message.id)
        .limit(limit)
    ).all()
    handoffs: dict[int, list[dt.datetime]] = defaultdict(list)
    for conv_id, opened in session.execute(
        select(Ticket.conversation_id, Ticket.opened_at)
        .where(Ticket.reason == "repeated_fallback", Ticket.opened_at >= since)
    ):
        handoffs[conv_id].append(opened)
    flagged = set(session.execute(select(MessageFlag.message_id)).scalars())
    by_conv: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        if not (row.text or "").startswith("/"):
            by_conv[row.conversation_id].append(row)
    found: list[Candidate] = []
    for conv_id, conv_rows in by_conv.items():
        reasons = _conversation_reasons(conv_rows, handoffs.get(conv_id, []))
        for row in conv_rows:
            why = reasons.get(row.id, set()) | ({"flagged"} if row.id in flagged else set())
            if why:
                found.append(Candidate(row.id, masked(row.text), row.intent, row.confidence, row.created_at,
                                       frozenset(why)))
    return found
