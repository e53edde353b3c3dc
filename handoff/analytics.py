"""Figures for supervisors, computed from the stored events (the tables ingest writes), never from logs.

Every figure is a query over a date range that the indexes answer (docs/analytics.md shows the plans), run
when a supervisor asks, in its own read transaction: nothing is added to the ingest path, any replica gives
the same answer, and a restart loses nothing. Days are the fund house's days (`REPORT_TZ`, India Standard
Time, which has no daylight saving, so a fixed offset is exact); timestamps are stored in naive UTC.

- conversations per day: conversations with at least one investor line that day;
- contained: of those, the ones where no ticket was opened that day and no investor line went to an agent
  (a ticket still open from an earlier day);
- fallback rate: investor lines whose intent is `nlu_fallback` / all investor lines (the unanswered trend is
  the daily count of those);
- intents and FAQ topics: the stored intent, an FAQ question being `faq/<topic>` (handoff/ingest.py);
- tickets opened in the range: handoffs by reason, first response (first_response_at - opened_at) and
  handle time (resolved_at - opened_at) per agent and overall, median and 90th percentile (nearest rank);
- waiting queue: per hour, the most tickets waiting at once (opened, not yet assigned nor resolved);
- CSAT: ratings given in the range (mean, 1..5 distribution, comments), and the response rate: of the
  tickets opened in the range after which the bot asked for a rating, how many got one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request, response
from sanic.response import HTTPResponse
from sqlalchemy import Date, and_, case, cast, func, literal_column, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from handoff import charts
from handoff.guard import guarded, json_error
from handoff.ingest import rating_texts
from handoff.models import USER_LINES, Agent, Audit, Message, Rating, Ticket, utcnow

REPORT_TZ = "Asia/Kolkata"
DEFAULT_DAYS = 7
MAX_DAYS = 366
TOP = 10
FALLBACK_INTENT = "nlu_fallback"
HOUR = dt.timedelta(hours=1)
QUEUE_LOOKBACK = dt.timedelta(days=1)  # a ticket opened this long before the range may still wait in it
ASKED_WITHIN = dt.timedelta(hours=1)  # the rating question follows the ticket's resolution by this at most
CLOCK_SKEW = dt.timedelta(minutes=5)  # resolved_at is the inbox's clock, the question's time Rasa's
IN_CHUNK = 5000  # ids per IN (...) list: within SQLite's bound-parameter limit
CSV_COLUMNS = ("day", "conversations", "contained", "containment", "handoffs", "user_messages", "fallbacks",
               "fallback_rate", "ratings", "csat_average")


class BadRange(ValueError):
    """A `from`/`to` that is not a date, is reversed, or spans more than MAX_DAYS."""


@dataclass(frozen=True)
class Range:
    """Local days `first`..`last` (both included) and their bounds in stored (naive UTC) time."""

    first: dt.date
    last: dt.date
    offset: dt.timedelta  # local time = UTC + offset

    @property
    def lo(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time()) - self.offset

    @property
    def hi(self) -> dt.datetime:
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time()) - self.offset

    def days(self) -> list[str]:
        return [(self.first + dt.timedelta(days=i)).isoformat() for i in range((self.last - self.first).days + 1)]

    def local_day(self, at: dt.datetime) -> str:
        return (at + self.offset).date().isoformat()


def report_offset(tz: str = REPORT_TZ) -> dt.timedelta:
    return ZoneInfo(tz).utcoffset(dt.datetime(2000, 1, 1)) or dt.timedelta()


EARLIEST = dt.date(2000, 1, 1)


def parse_range(start: str | None, end: str | None, *, now: dt.datetime | None = None) -> Range:
    """The range asked for (`YYYY-MM-DD`, both included); by default the last DEFAULT_DAYS days up to today."""
    offset = report_offset()
    today = ((now or utcnow()) + offset).date()
    try:
        last = dt.date.fromisoformat(end) if end else today
        first = dt.date.fromisoformat(start) if start else last - dt.timedelta(days=DEFAULT_DAYS - 1)
    except ValueError as exc:
        raise BadRange("from and to must be dates, YYYY-MM-DD") from exc
    if first > last:
        raise BadRange("from is after to")
    if first < EARLIEST or last > today + dt.timedelta(days=366):  # also keeps date arithmetic off the calendar's ends
        raise BadRange(f"dates from {EARLIEST.isoformat()} to a year from today")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadRange(f"at most {MAX_DAYS} days at once")
    return Range(first, last, offset)


def _day(session: Session, column: Any, offset: dt.timedelta) -> ColumnElement[Any]:
    """The local day of a stored timestamp, as SQL (PostgreSQL and SQLite)."""
    minutes = int(offset.total_seconds() // 60)
    if session.get_bind().dialect.name == "postgresql":
        return cast(column + literal_column(f"interval '{minutes} minutes'"), Date)
    return func.date(column, f"{minutes:+d} minutes")


def _messages_by_day(session: Session, rng: Range) -> list[tuple[str, str | None, int]]:
    """(day, intent, investor lines): one index range scan of ix_messages_user_created."""
    m = Message.__table__.c
    day = _day(session, m.created_at, rng.offset).label("day")
    rows = session.execute(
        select(day, m.intent, func.count()).where(USER_LINES, m.created_at >= rng.lo, m.created_at < rng.hi)
        .group_by(day, m.intent)
    ).all()
    return [(str(d), intent, int(n)) for d, intent, n in rows]


def _conversations_by_day(session: Session, rng: Range) -> dict[str, tuple[int, int]]:
    """day -> (conversations with investor lines, of which contained)."""
    m, t = Message.__table__.c, Ticket.__table__.c
    mday = _day(session, m.created_at, rng.offset)
    active = select(mday.label("day"), m.conversation_id,
                    func.max(case((m.ticket_id.is_not(None), 1), else_=0)).label("to_agent")).where(
        USER_LINES, m.created_at >= rng.lo, m.created_at < rng.hi).group_by(mday, m.conversation_id).cte("active")
    tday = _day(session, t.opened_at, rng.offset)
    opened = select(tday.label("day"), t.conversation_id).where(
        t.opened_at >= rng.lo, t.opened_at < rng.hi).distinct().cte("opened")
    contained = case((and_(active.c.to_agent == 0, opened.c.conversation_id.is_(None)), 1), else_=0)
    rows = session.execute(
        select(active.c.day, func.count(), func.sum(contained))
        .select_from(active.outerjoin(opened, and_(opened.c.day == active.c.day,
                                                   opened.c.conversation_id == active.c.conversation_id)))
        .group_by(active.c.day)
    ).all()
    return {str(d): (int(n), int(c or 0)) for d, n, c in rows}


def _tickets(session: Session, rng: Range) -> list[Any]:
    """Tickets opened in the range, and in QUEUE_LOOKBACK before it (for the waiting queue): ix_tickets_opened."""
    t = Ticket.__table__.c
    return list(session.execute(
        select(t.id, t.conversation_id, t.reason, t.assigned_agent_id, t.opened_at, t.assigned_at,
               t.first_response_at, t.resolved_at)
        .where(t.opened_at >= rng.lo - QUEUE_LOOKBACK, t.opened_at < rng.hi).order_by(t.opened_at, t.id)
    ).all())


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i:i + IN_CHUNK] for i in range(0, len(ids), IN_CHUNK)]


def _rating_questions(
    session: Session, conversation_ids: list[int], since: dt.datetime
) -> dict[int, list[dt.datetime]]:
    """When the bot asked for a rating, per conversation: ix_messages_conversation_created per conversation."""
    m = Message.__table__.c
    asked: dict[int, list[dt.datetime]] = defaultdict(list)
    for chunk in _chunks(sorted(set(conversation_ids))):
        for cid, at in session.execute(
            select(m.conversation_id, m.created_at).where(
                m.conversation_id.in_(chunk), m.created_at >= since, m.kind == "bot", m.text.in_(rating_texts()))
        ):
            asked[int(cid)].append(at)
    return asked


def _ratings(session: Session, rng: Range, ticket_ids: list[int]) -> tuple[list[Any], set[int]]:
    """Ratings given in the range (ix_ratings_created), and which of `ticket_ids` were rated at any time."""
    r = Rating.__table__.c
    given = list(session.execute(
        select(r.score, r.comment, r.created_at, r.ticket_id).where(r.created_at >= rng.lo, r.created_at < rng.hi)
        .order_by(r.created_at.desc(), r.id.desc())
    ).all())
    rated: set[int] = set()
    for chunk in _chunks(sorted(set(ticket_ids))):
        rated.update(int(i) for i in session.execute(select(r.ticket_id).where(r.ticket_id.in_(chunk))).scalars())
    return given, rated


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def durations(seconds: list[float]) -> dict[str, Any]:
    """Median and 90th percentile (nearest rank: a value that occurred) in seconds, and how many."""
    if not seconds:
        return {"n": 0, "median": None, "p90": None}
    ordered = sorted(seconds)
    p90 = ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]
    return {"n": len(ordered), "median": round(statistics.median(ordered), 1), "p90": round(p90, 1)}


def _agent_times(tickets: list[Any], names: dict[int, str]) -> dict[str, Any]:
    """First response and handle time, per agent (the ticket's assignee) and over all tickets."""
    groups: dict[int | None, list[Any]] = defaultdict(list)
    for t in tickets:
        groups[t.assigned_agent_id].append(t)

    def times(rows: list[Any]) -> dict[str, Any]:
        first = [(t.first_response_at - t.opened_at).total_seconds() for t in rows if t.first_response_at]
        handle = [(t.resolved_at - t.opened_at).total_seconds() for t in rows if t.resolved_at]
        return {"tickets": len(rows), "first_response": durations(first), "handle": durations(handle)}

    per_agent = [{"agent_id": aid, "name": names.get(aid, f"agent {aid}"), **times(rows)}
                 for aid, rows in groups.items() if aid is not None]
    per_agent.sort(key=lambda a: (str(a["name"]), int(a["agent_id"])))
    return {"overall": times(tickets), "agents": per_agent}


def queue_peaks(intervals: list[tuple[dt.datetime, dt.datetime]], lo: dt.datetime, hours: int) -> list[int]:
    """Per hour from `lo`, the most intervals (tickets waiting) open at once during it."""
    events = sorted([(s, 1) for s, e in intervals if e > s] + [(e, -1) for s, e in intervals if e > s])
    peaks: list[int] = []
    level, i = 0, 0
    for h in range(hours):
        start, end = lo + h * HOUR, lo + (h + 1) * HOUR
        while i < len(events) and events[i][0] <= start:
            level += events[i][1]
            i += 1
        peak = level
        while i < len(events) and events[i][0] < end:
            level += events[i][1]
            peak = max(peak, level)
            i += 1
        peaks.append(peak)
    return peaks


def _queue(tickets: list[Any], rng: Range, now: dt.datetime) -> list[dict[str, Any]]:
    """Waiting: from opened until assigned (or resolved unassigned, or still waiting now)."""
    intervals = [(t.opened_at, t.assigned_at or t.resolved_at or min(now, rng.hi)) for t in tickets]
    hours = int((rng.hi - rng.lo) / HOUR)
    peaks = queue_peaks(intervals, rng.lo, hours)
    return [{"hour": (rng.lo + rng.offset + h * HOUR).strftime("%Y-%m-%dT%H:00"), "waiting": peak}
            for h, peak in enumerate(peaks)]


def _csat(given: list[Any], asked: int, answered: int) -> dict[str, Any]:
    scores = [int(r.score) for r in given]
    spread = Counter(scores)
    return {
        "ratings": len(scores),
        "average": round(statistics.fmean(scores), 2) if scores else None,
        "satisfied": _ratio(sum(1 for s in scores if s >= 4), len(scores)),
        "distribution": {str(score): spread.get(score, 0) for score in range(1, 6)},
        "asked": asked,
        "answered": answered,
        "response_rate": _ratio(answered, asked),
        "comments": [{"at": r.created_at.isoformat() + "Z", "score": int(r.score), "comment": r.comment,
                      "ticket_id": r.ticket_id} for r in given if r.comment][:50],
    }


def _response_rate(session: Session, tickets: list[Any], rated: set[int]) -> tuple[int, int]:
    """(tickets after which the bot asked for a rating, of which rated)."""
    resolved = [t for t in tickets if t.resolved_at is not None]
    since = min((t.resolved_at for t in resolved), default=utcnow()) - CLOCK_SKEW
    questions = _rating_questions(session, [t.conversation_id for t in resolved], since)
    asked = [t for t in resolved if any(t.resolved_at - CLOCK_SKEW <= q <= t.resolved_at + ASKED_WITHIN
                                        for q in questions.get(t.conversation_id, []))]
    return len(asked), sum(1 for t in asked if t.id in rated)


def _intents(lines: list[tuple[str, str | None, int]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    intents: Counter[str] = Counter()
    topics: Counter[str] = Counter()
    for _, intent, n in lines:
        name = intent or "(none)"
        intents[name.split("/", 1)[0]] += n
        if name == "faq" or name.startswith("faq/"):
            topics[name.split("/", 1)[1] if "/" in name else "(topic not recorded)"] += n
    top = [{"intent": k, "count": v} for k, v in sorted(intents.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]]
    faq = [{"topic": k, "count": v} for k, v in sorted(topics.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]]
    return top, faq


def _daily(rng: Range, lines: list[tuple[str, str | None, int]], convs: dict[str, tuple[int, int]],
           opened: list[Any], given: list[Any]) -> list[dict[str, Any]]:
    messages: Counter[str] = Counter()
    fallbacks: Counter[str] = Counter()
    for day, intent, n in lines:
        messages[day] += n
        fallbacks[day] += n if intent == FALLBACK_INTENT else 0
    handoffs = Counter(rng.local_day(t.opened_at) for t in opened)
    scores: dict[str, list[int]] = defaultdict(list)
    for r in given:
        scores[rng.local_day(r.created_at)].append(int(r.score))
    out = []
    for day in rng.days():
        total, contained = convs.get(day, (0, 0))
        out.append({
            "day": day, "conversations": total, "contained": contained, "containment": _ratio(contained, total),
            "handoffs": handoffs[day], "user_messages": messages[day], "fallbacks": fallbacks[day],
            "fallback_rate": _ratio(fallbacks[day], messages[day]), "ratings": len(scores[day]),
            "csat_average": round(statistics.fmean(scores[day]), 2) if scores[day] else None,
        })
    return out


def figures(session: Session, rng: Range, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Every figure of the Analytics page for `rng`, in one read transaction."""
    now = now or utcnow()
    lines = _messages_by_day(session, rng)
    convs = _conversations_by_day(session, rng)
    tickets = _tickets(session, rng)
    opened = [t for t in tickets if t.opened_at >= rng.lo]
    given, rated = _ratings(session, rng, [t.id for t in opened])
    asked, answered = _response_rate(session, opened, rated)
    names = {int(a): str(n) for a, n in session.execute(select(Agent.id, Agent.name))}
    daily = _daily(rng, lines, convs, opened, given)
    top, faq = _intents(lines)
    conversations = sum(d["conversations"] for d in daily)
    contained = sum(d["contained"] for d in daily)
    user_messages = sum(d["user_messages"] for d in daily)
    fallbacks = sum(d["fallbacks"] for d in daily)
    return {
        "range": {"from": rng.first.isoformat(), "to": rng.last.isoformat(), "timezone": REPORT_TZ},
        "totals": {
            "conversations": conversations, "contained": contained, "containment": _ratio(contained, conversations),
            "handoffs": len(opened), "user_messages": user_messages, "fallbacks": fallbacks,
            "fallback_rate": _ratio(fallbacks, user_messages),
        },
        "daily": daily,
        "handoffs_by_reason": dict(sorted(Counter(str(t.reason) for t in opened).items())),
        "top_intents": top,
        "faq_topics": faq,
        "response_times": _agent_times(opened, names),
        "queue_by_hour": _queue(tickets, rng, now),
        "csat": _csat(given, asked, answered),
    }


def daily_csv(data: dict[str, Any]) -> str:
    """The daily series as CSV (one row per day, CSV_COLUMNS; empty where a rate has no denominator)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for day in data["daily"]:
        writer.writerow(["" if day[c] is None else day[c] for c in CSV_COLUMNS])
    return out.getvalue()


# ---- the page, the JSON API and the CSV export (supervisors only) -----------------------------------------

bp = Blueprint("analytics")


def _read(session: Session, agent: Agent, rng: Range, kind: str) -> dict[str, Any]:
    """The figures, and the supervisor's look at them written to the audit (every view is)."""
    session.add(Audit(action="analytics_viewed", agent_id=agent.id,
                      detail={"from": rng.first.isoformat(), "to": rng.last.isoformat(), "as": kind}))
    return figures(session, rng)


async def _figures_for(request: Request, kind: str) -> dict[str, Any] | HTTPResponse:
    """The supervisor's figures for the asked range (the route's guard checked who asks), or 400."""
    agent = request.ctx.agent
    try:
        rng = parse_range(request.args.get("from"), request.args.get("to"))
    except BadRange as exc:
        return json_error(400, str(exc))
    return dict(await request.app.ctx.db.run(lambda s: _read(s, agent, rng, kind)))


@bp.get("/api/analytics")
@guarded(roles=("supervisor",))
async def analytics_json(request: Request) -> HTTPResponse:
    data = await _figures_for(request, "json")
    return data if isinstance(data, HTTPResponse) else response.json(data)


@bp.get("/api/analytics.csv")
@guarded(roles=("supervisor",))
async def analytics_csv(request: Request) -> HTTPResponse:
    data = await _figures_for(request, "csv")
    if isinstance(data, HTTPResponse):
        return data
    name = f"analytics_{data['range']['from']}_{data['range']['to']}.csv"
    return response.text(daily_csv(data), content_type="text/csv; charset=utf-8",
                         headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _minutes(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f} min"


def _short_day(day: str) -> str:
    """`2026-11-02` -> `2 Nov` (neither day-first nor month-first to misread)."""
    d = dt.date.fromisoformat(day)
    return f"{d.day} {d:%b}"


def _local(at: str) -> str:
    """An API time (`...Z`, UTC) as the page shows it: local, to the minute."""
    when = dt.datetime.fromisoformat(at.removesuffix("Z")) + report_offset()
    return f"{when:%Y-%m-%d %H:%M}"


def page_charts(data: dict[str, Any]) -> dict[str, Any]:
    """The page's SVG charts, drawn from the same figures the API returns."""
    daily = data["daily"]
    days = [_short_day(d["day"]) for d in daily]
    queue = data["queue_by_hour"]
    return {
        "conversations": charts.line_chart("Conversations and handoffs per day", days, {
            "conversations": [d["conversations"] for d in daily], "contained": [d["contained"] for d in daily],
            "handoffs": [d["handoffs"] for d in daily]}),
        "containment": charts.bar_chart("Containment per day", days, [d["containment"] for d in daily],
                                        percent=True),
        "fallbacks": charts.line_chart("Unanswered (nlu_fallback) per day", days, {
            "fallbacks": [d["fallbacks"] for d in daily]}),
        "fallback_rate": charts.bar_chart("Fallback rate per day", days, [d["fallback_rate"] for d in daily],
                                          percent=True),
        "reasons": charts.hbar_chart("Handoffs by reason", [(k.replace("_", " "), v)
                                                             for k, v in data["handoffs_by_reason"].items()]),
        "intents": charts.hbar_chart("Top intents", [(i["intent"], i["count"]) for i in data["top_intents"]]),
        "topics": charts.hbar_chart("Top FAQ topics", [(t["topic"], t["count"]) for t in data["faq_topics"]]),
        "queue": charts.line_chart("Tickets waiting (peak per hour)",
                                   [f"{_short_day(q['hour'][:10])} {q['hour'][11:13]}h" for q in queue],
                                   {"waiting": [q["waiting"] for q in queue]}, max_labels=7),
        "csat": charts.hbar_chart("Ratings", [(f"{k} ★", v) for k, v in data["csat"]["distribution"].items()]),
    }


@bp.get("/analytics")
@guarded(page=True)
async def analytics_page(request: Request) -> HTTPResponse:
    """The page: the same figures as the API, as tables and server-drawn SVG charts; a GET form for the range."""
    agent = request.ctx.agent
    if agent.role != "supervisor":
        return response.html("<!doctype html><title>Forbidden</title><p>Supervisors only.</p>", status=403)
    error = ""
    try:
        rng = parse_range(request.args.get("from"), request.args.get("to"))
    except BadRange as exc:  # the default range, and the reason above the form
        error, rng = str(exc), parse_range(None, None)
    data = await request.app.ctx.db.run(lambda s: _read(s, agent, rng, "page"))
    html = request.app.ctx.templates.get_template("analytics.html").render(
        agent=agent, data=data, charts=page_charts(data), minutes=_minutes, local=_local, error=error)
    return response.html(html)
