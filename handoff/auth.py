"""Agent sign-in: argon2id password hashes, server-side sessions that expire, CSRF tokens, login throttling.

Sessions live in the database (only a SHA-256 of the cookie token is stored) so they survive restarts and
work across replicas. Bad sign-ins are counted per e-mail and per client address in a sliding window.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from handoff.models import Agent, Audit, LoginFailure, WebSession, utcnow

COOKIE = "handoff_session"
_hasher = PasswordHasher()
# verifying against a dummy hash keeps the time of "no such agent" equal to "wrong password"
_DUMMY_HASH = _hasher.hash(secrets.token_hex(8))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TooManyAttempts(Exception):
    pass


def throttled(session: Session, keys: list[str], max_failures: int, window_seconds: int) -> bool:
    since = utcnow() - dt.timedelta(seconds=window_seconds)
    counts = session.execute(
        select(LoginFailure.key, func.count())
        .where(LoginFailure.key.in_(keys), LoginFailure.at >= since)
        .group_by(LoginFailure.key)
    ).all()
    return any(int(n) >= max_failures for _, n in counts)


def authenticate(
    session: Session, *, email: str, password: str, client: str, max_failures: int, window_seconds: int
) -> Agent | None:
    """The agent if the password matches; records failures; raises TooManyAttempts while throttled."""
    email = email.strip().lower()
    keys = [f"email:{email}", f"ip:{client}"]
    if throttled(session, keys, max_failures, window_seconds):
        raise TooManyAttempts()
    agent = session.execute(select(Agent).where(Agent.email == email)).scalar_one_or_none()
    try:
        _hasher.verify(agent.password_hash if agent else _DUMMY_HASH, password)
        if agent is None:
            raise VerifyMismatchError()
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        for key in keys:
            session.add(LoginFailure(key=key))
        session.add(Audit(action="login_failed", agent_id=agent.id if agent else None, detail={"client": client}))
        return None
    if _hasher.check_needs_rehash(agent.password_hash):
        agent.password_hash = _hasher.hash(password)
    session.execute(delete(LoginFailure).where(LoginFailure.key == keys[0]))
    return agent


def create_session(session: Session, agent: Agent, hours: float) -> tuple[str, str]:
    """Returns (cookie token, csrf token)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    session.add(
        WebSession(
            token_hash=_token_hash(token),
            agent_id=agent.id,
            csrf_token=csrf,
            expires_at=utcnow() + dt.timedelta(hours=hours),
        )
    )
    return token, csrf


def load_session(session: Session, token: str | None) -> tuple[Agent, WebSession] | None:
    if not token:
        return None
    ws = session.get(WebSession, _token_hash(token))
    if ws is None or ws.expires_at <= utcnow():
        return None
    agent = session.get(Agent, ws.agent_id)
    return (agent, ws) if agent else None


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(WebSession).where(WebSession.token_hash == _token_hash(token)))


def csrf_ok(ws: WebSession, supplied: str | None) -> bool:
    return bool(supplied) and hmac.compare_digest(ws.csrf_token, str(supplied))
