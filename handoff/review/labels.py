"""What a reviewer may assign to a group, and the decisions themselves (each one audited).

The choices come from the Rasa domain: its intents, its FAQ topics (`utter_faq/<topic>` responses) and its
out-of-scope kinds. The handoff image carries neither the domain nor a YAML parser, so they are kept in
`choices.json` beside this module, written by `python -m handoff.review choices` (tests/handoff/test_review.py
fails when it no longer matches domain/).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff import service
from handoff.models import INBOX_ROLES, REVIEW_ROLES, Agent, Audit, Message, MessageFlag, ReviewLabel, Ticket, utcnow
from handoff.review import candidates
from handoff.review.grouping import MAX_EXAMPLES, Group, digitless, group, key_hash, label_keys, shown_text

CHOICES = Path(__file__).resolve().parent / "choices.json"
IGNORE = "ignore"
SCOPE_PREFIX = "out_of_scope_"
TOPIC_RE = re.compile(r"^[a-z][a-z0-9_]{2,60}$")
MAX_GROUPS = 300  # the biggest first: a week's work, not a wall
MAX_ANSWER = 1024  # WhatsApp shows up to 4096 characters; an FAQ answer should be far shorter
MAX_ID = 2**63 - 1  # ids in a path: beyond a 64-bit integer no row exists (and the database would refuse it)


class Refused(Exception):
    """A request the review queue cannot take (the message says why): HTTP 400."""


@functools.lru_cache(maxsize=1)
def choices() -> dict[str, list[str]]:
    """{"intents": [...], "faq_topics": [...], "out_of_scope_kinds": [...]}."""
    return dict(json.loads(CHOICES.read_text()))


def catalogue_from_domain(domain: Path) -> dict[str, list[str]]:
    """The choices as the domain defines them (needs PyYAML: the development environment only)."""
    import yaml

    intents: set[str] = set()
    topics: set[str] = set()
    for path in sorted(domain.glob("*.yml")):
        content = yaml.safe_load(path.read_text()) or {}
        intents.update(str(i if isinstance(i, str) else next(iter(i))) for i in content.get("intents") or [])
        topics.update(r.split("/", 1)[1] for r in content.get("responses") or {} if r.startswith("utter_faq/"))
    kinds = sorted(i.removeprefix(SCOPE_PREFIX) for i in intents if i.startswith(SCOPE_PREFIX))
    plain = sorted(i for i in intents if i not in ("faq", "out_of_scope") and not i.startswith(SCOPE_PREFIX))
    return {"intents": plain, "faq_topics": sorted(topics), "out_of_scope_kinds": kinds}


def allowed() -> set[str]:
    c = choices()
    return ({*c["intents"], IGNORE} | {f"faq/{t}" for t in c["faq_topics"]}
            | {f"{SCOPE_PREFIX}{k}" for k in c["out_of_scope_kinds"]})


def _since(days: int) -> dt.datetime:
    return utcnow() - dt.timedelta(days=days)


def current_groups(session: Session, *, days: int) -> list[Group]:
    return group(candidates.find(session, since=_since(days)))


def _read_examples(row: ReviewLabel) -> list[str]:
    """A label's examples as the page shows them (masked once more, as the export does; no digits)."""
    return [shown_text(e) for e in list(row.examples or [])[:MAX_EXAMPLES]]


def decision_hash(row: ReviewLabel) -> str:
    """What a supervisor's decision names: the proposal as they read it -- the topic, the answer and the examples
    (sorted) -- and which proposal it was (its id and when it was made: a re-proposal, even of the same content,
    needs a fresh read). Anything changed since is refused (409). The whole digest: the proposer writes the
    content, so a shortened one would let them look for two proposals with the same hash."""
    body = [row.id, row.labelled_at.isoformat() if row.labelled_at else "", row.label, row.proposed_answer or "",
            sorted(_read_examples(row))]
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode()).hexdigest()


def shown_hash(texts: list[str]) -> str:
    """What a label names: the set of examples the reviewer read (a group shown differently since is refused, 409)."""
    return hashlib.sha256(json.dumps(sorted(texts), ensure_ascii=False).encode()).hexdigest()[:16]


def _label_view(row: ReviewLabel, names: dict[int, str]) -> dict[str, Any]:
    return {
        "id": row.id, "key": row.group_key, "label": row.label, "status": row.status,
        "answer": row.proposed_answer, "decision_hash": decision_hash(row), "examples": _read_examples(row),
        "by": names.get(row.labelled_by or 0), "at": row.labelled_at.isoformat() + "Z",
        "decided_by": names.get(row.decided_by or 0),
    }


def queue(session: Session, *, days: int) -> dict[str, Any]:
    """The Review page's data: groups (with their current label), proposals awaiting a supervisor, choices."""
    groups = current_groups(session, days=days)
    names = {a.id: a.name for a in session.execute(select(Agent)).scalars()}
    labels = {row.group_key: row for row in session.execute(select(ReviewLabel)).scalars()}
    out = []
    for g in groups[:MAX_GROUPS]:
        row = _label_of(g, labels)
        summary = g.summary()
        out.append({**summary, "shown": shown_hash(summary["examples"]),
                    "label": _label_view(row, names) if row else None})
    proposals = [_label_view(r, names) for r in labels.values() if r.status == "proposed"]
    return {"days": days, "groups": out, "total_groups": len(groups), "proposals": proposals, "choices": choices()}


def _label_of(g: Group, labels: dict[str, ReviewLabel]) -> ReviewLabel | None:
    """The one label of a group, matched the same way on the page, on saving and after retention re-keyed it:
    the first of `label_keys(g.keys)` that is stored."""
    return next((labels[k] for k in label_keys(g.keys) if k in labels), None)


def _find_group(session: Session, key: str, days: int) -> Group:
    """The group whose key the page showed (`Group.summary`: digits as X)."""
    for g in current_groups(session, days=days):
        if key in {digitless(k) for k in g.keys}:
            return g
    raise LookupError("no such group in the review queue (reload the page)")


def _store(session: Session, agent: Agent, g: Group, *, shown: str, label: str, status: str,
           answer: str | None) -> ReviewLabel:
    """The decision on exactly the examples the reviewer read, and the ids of the messages behind them."""
    examples = g.shown()
    if not shown:
        raise Refused("name the examples you read (`shown`, as the page and GET /api/review give it)")
    if shown != shown_hash(examples):
        raise service.Conflict("the group changed since you read it: reload the page and read it again")
    keys = label_keys(g.keys)
    row = _label_of(g, {r.group_key: r for r in session.execute(
        select(ReviewLabel).where(ReviewLabel.group_key.in_(keys))).scalars()})
    if row is not None and row.status == "approved" and agent.role != "supervisor":
        raise service.Conflict("a supervisor approved this group's label: only a supervisor changes it")
    if row is None:
        row = ReviewLabel(group_key=key_hash(g.key))
        session.add(row)
    row.label, row.status, row.proposed_answer = label, status, answer
    row.examples = examples
    row.message_ids = sorted(m.message_id for m in g.members if digitless(m.text) in examples)
    row.labelled_by, row.labelled_at, row.decided_by, row.decided_at = agent.id, utcnow(), None, None
    session.flush()
    session.add(Audit(action=f"review_{status}", agent_id=agent.id,
                      detail={"label_id": row.id, "label": label, "messages": len(row.message_ids)}))
    return row


def assign(session: Session, agent: Agent, *, key: str, label: str, days: int, shown: str) -> dict[str, Any]:
    """A reviewer labels the examples of a group they read (`shown`, its `shown_hash`): an intent, `faq/<topic>`,
    `out_of_scope_<kind>` or `ignore`."""
    if agent.role not in REVIEW_ROLES:
        raise service.Forbidden("content team and supervisors only")
    if label not in allowed():
        raise Refused(f"unknown label {label!r}: pick an intent, an FAQ topic, an out-of-scope kind or ignore")
    row = _store(session, agent, _find_group(session, key, days), shown=shown, label=label, status="labelled",
                 answer=None)
    return {"id": row.id, "label": row.label, "status": row.status}


def propose(session: Session, agent: Agent, *, key: str, topic: str, answer: str, days: int,
            shown: str) -> dict[str, Any]:
    """A new FAQ topic with its answer, for the examples of a group the reviewer read; a supervisor approves it."""
    if agent.role not in REVIEW_ROLES:
        raise service.Forbidden("content team and supervisors only")
    topic, answer = topic.strip().lower(), answer.strip()
    if not TOPIC_RE.match(topic):
        raise Refused("a topic name is lowercase letters, digits and _ (e.g. sip_pause)")
    if topic in choices()["faq_topics"]:
        raise Refused(f"faq/{topic} already exists: assign it instead")
    if not answer or len(answer) > MAX_ANSWER:
        raise Refused(f"write the answer (at most {MAX_ANSWER} characters)")
    g = _find_group(session, key, days)
    row = _store(session, agent, g, shown=shown, label=f"faq/{topic}", status="proposed", answer=answer)
    return {"id": row.id, "label": row.label, "status": row.status}


def decide(session: Session, agent: Agent, *, label_id: int, approve: bool, seen: str | None) -> dict[str, Any]:
    """A supervisor approves or rejects a proposed FAQ topic as they read it (`seen`, its `decision_hash`)."""
    if agent.role != "supervisor":
        raise service.Forbidden("supervisors only")
    row = session.get(ReviewLabel, label_id) if 1 <= label_id <= MAX_ID else None
    if row is None:
        raise LookupError("no such proposal")
    if row.status != "proposed":
        raise service.Conflict(f"already {row.status}")
    if not seen or seen != decision_hash(row):  # changed (topic, answer, examples) or proposed again since read
        raise service.Conflict("the proposal changed since you read it: reload the page and read it again")
    row.status = "approved" if approve else "rejected"
    row.decided_by, row.decided_at = agent.id, utcnow()
    session.add(Audit(action=f"review_{row.status}", agent_id=agent.id, detail={"label_id": row.id,
                                                                                 "label": row.label}))
    return {"id": row.id, "label": row.label, "status": row.status}


def _flag_ticket(session: Session, msg: Message) -> int | None:
    """The ticket whose transcript an investor line belongs to: its own (written while a person had the
    conversation) or, for a line the bot answered, the handoff it led to (the next ticket of the conversation),
    else the conversation's latest ticket."""
    if msg.ticket_id is not None:
        return int(msg.ticket_id)
    later = session.execute(
        select(Ticket.id).where(Ticket.conversation_id == msg.conversation_id, Ticket.opened_at >= msg.created_at)
        .order_by(Ticket.opened_at, Ticket.id).limit(1)
    ).scalar()
    if later is not None:
        return int(later)
    latest = session.execute(select(Ticket.id).where(Ticket.conversation_id == msg.conversation_id)
                             .order_by(Ticket.opened_at.desc(), Ticket.id.desc()).limit(1)).scalar()
    return None if latest is None else int(latest)


def flag(session: Session, agent: Agent, *, message_id: int) -> dict[str, Any]:
    """An agent flags an investor message of a ticket they may read (`_flag_ticket`).

    Every refusal is the same 404, whatever the id is (no message, not an investor's, another agent's ticket):
    the answer must not tell an agent which ids are investor lines of conversations they cannot read."""
    if agent.role not in INBOX_ROLES:
        raise service.Forbidden("agents and supervisors only")
    msg = session.get(Message, message_id) if 1 <= message_id <= MAX_ID else None
    ticket_id = _flag_ticket(session, msg) if msg is not None and msg.kind == "user" else None
    try:
        if ticket_id is None:
            raise LookupError
        service.ticket_for(session, ticket_id, agent, write=False)
    except (LookupError, service.Forbidden):
        raise LookupError("no such investor message in a ticket you can read") from None
    exists = session.execute(select(MessageFlag.id).where(MessageFlag.message_id == message_id,
                                                          MessageFlag.agent_id == agent.id)).first()
    if exists is None:
        session.add(MessageFlag(message_id=message_id, agent_id=agent.id))
        session.add(Audit(action="message_flagged", agent_id=agent.id, ticket_id=ticket_id,
                          detail={"message_id": message_id}))
    return {"ok": True, "message_id": message_id}
