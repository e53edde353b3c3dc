"""Retention: transcripts older than HANDOFF_RETENTION_DAYS are deleted, with their tickets and notes.

A conversation is removed only when it has no unresolved ticket and nothing happened in it for the whole
retention period. The audit trail is kept (it names tickets by id, never quotes the investor). The content
team's review labels keep masked copies of investor messages (`review_labels.examples`): an example goes with
the last message it was copied from, and a label left with no example goes altogether, so neither the Review
page nor the export (handoff/review/export.py) brings it back. A label that keeps examples is re-keyed to the
hash of a surviving message's group text, so its group still finds it (and no key names purged text).
Event keys (`inbound_events`, the redelivery check) are kept HANDOFF_EVENT_KEY_DAYS: at every event of every
conversation they are the largest table, and a redelivery older than that is no longer expected.

`purge` does one bounded chunk per transaction, so a large backlog never holds locks for long or grows one huge
transaction; the caller repeats while `more`. On PostgreSQL one replica at a time purges (an advisory lock).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from handoff.models import (
    Audit,
    Conversation,
    InboundEvent,
    LoginFailure,
    Message,
    ReviewLabel,
    Ticket,
    WebSession,
    utcnow,
)
from handoff.review.grouping import KEY_PREFIX, digitless, key_hash, masked, normalise, shown_text

CONVERSATIONS_PER_CHUNK = 500
KEYS_PER_CHUNK = 20_000
IDS_PER_QUERY = 900  # bound parameters per IN (...): within SQLite's limit too
_LOCK_ID = 0x68616E646F6666  # "handoff": pg_try_advisory_xact_lock's key for retention


@dataclass
class Purged:
    conversations: int
    event_keys: int
    more: bool
    review_labels: int = 0  # labels that lost examples (or went) with their source messages


def purge(
    session: Session,
    *,
    retention_days: int,
    event_key_days: int = 14,
    conversations_per_chunk: int = CONVERSATIONS_PER_CHUNK,
    keys_per_chunk: int = KEYS_PER_CHUNK,
) -> Purged:
    """Delete one chunk of expired transcripts and event keys, and the expired housekeeping rows."""
    if session.get_bind().dialect.name == "postgresql":
        if not session.execute(select(func.pg_try_advisory_xact_lock(_LOCK_ID))).scalar():
            return Purged(0, 0, more=False)  # another replica is purging
    now = utcnow()
    cutoff = now - dt.timedelta(days=retention_days)
    active = select(Ticket.conversation_id).where(Ticket.status != "resolved")
    old = session.execute(
        select(Conversation.id)
        .where(Conversation.updated_at < cutoff, Conversation.id.not_in(active))
        .limit(conversations_per_chunk)
    ).scalars().all()
    if old:
        session.execute(delete(Conversation).where(Conversation.id.in_(old)))  # messages/tickets/notes cascade
    labels = purge_review_labels(session) if old else 0  # messages go only with their conversations, here
    if old or labels:
        session.add(Audit(action="retention_purge", detail={"conversations": len(old), "review_labels": labels,
                                                            "days": retention_days}))
    key_cutoff = now - dt.timedelta(days=event_key_days)
    expired_keys = select(InboundEvent.key).where(InboundEvent.received_at < key_cutoff).limit(keys_per_chunk)
    keys = session.execute(
        delete(InboundEvent).where(InboundEvent.key.in_(expired_keys)).execution_options(synchronize_session=False)
    ).rowcount or 0
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.execute(delete(LoginFailure).where(LoginFailure.at < now - dt.timedelta(days=1)))
    return Purged(len(old), keys, more=len(old) == conversations_per_chunk or keys == keys_per_chunk,
                  review_labels=labels)


def _existing(session: Session, ids: list[int]) -> dict[int, str]:
    """Masked text of each message among `ids` that still exists."""
    found: dict[int, str] = {}
    for start in range(0, len(ids), IDS_PER_QUERY):
        chunk = ids[start:start + IDS_PER_QUERY]
        found.update((i, masked(t)) for i, t in session.execute(select(Message.id, Message.text)
                                                                .where(Message.id.in_(chunk))).all())
    return found


def purge_review_labels(session: Session) -> int:
    """Drop every label example whose source messages are all gone, and every label left without an example.

    A label names the messages behind its examples (`message_ids`); an example stays while one of them still
    exists and, masked as today, still reads the same. A label that lost messages is re-keyed (`_surviving_key`).
    Returns how many labels changed or went."""
    rows = session.execute(select(ReviewLabel)).scalars().all()
    living = _existing(session, sorted({int(i) for row in rows for i in row.message_ids or []}))
    taken = {row.group_key for row in rows}  # never reused in the same flush: unique keys at every step
    changed = 0
    for row in rows:
        ids = [int(i) for i in row.message_ids or []]
        if ids and all(i in living for i in ids):
            continue
        kept = [i for i in ids if i in living]
        readable = {digitless(living[i]) for i in kept}
        examples = list(dict.fromkeys(e for e in map(shown_text, row.examples or []) if e in readable))
        if examples:
            row.examples, row.message_ids = examples, [i for i in kept if digitless(living[i]) in examples]
            row.group_key = _surviving_key(row, [living[i] for i in row.message_ids], taken)
        else:
            session.delete(row)
        changed += 1
    return changed


def _surviving_key(row: ReviewLabel, texts: list[str], taken: set[str]) -> str:
    """The key of a label whose messages were partly purged: the hash of a surviving message's group text (what
    grouping computes for it, so the page, a new label and the export agree on which label the group has). The
    key it had may be the text, or the hash, of purged messages only. Should every surviving text's key belong
    to another label already, a hash naming no text (that other label is the group's)."""
    own = [key_hash(key) for key in (normalise(t) for t in texts) if key]
    if row.group_key in own:
        return str(row.group_key)
    for key in own:
        if key not in taken:
            taken.add(key)
            return key
    if str(row.group_key).startswith(KEY_PREFIX):
        return str(row.group_key)
    fallback = key_hash(f"{row.group_key}\n#{row.id}")  # a pre-hash text key: it must not stay
    taken.add(fallback)
    return fallback
