"""Agent sign-in: argon2id password hashes, server-side sessions that expire, CSRF tokens, login throttling.

Sessions live in the database (only a SHA-256 of the cookie token is stored) so they survive restarts and
work across replicas. Bad sign-ins are counted in a sliding window per (account, address), per address and
per account; each count earns a growing backoff, never a lockout (docs/handoff.md, "Sign-in throttling").

A sign-in is three steps, so that neither the database nor argon2 runs on the event loop and no database
connection waits on argon2: `begin_login` (throttle check), `check_password` (argon2 on its own small pool),
`finish_login` (count the failure, or remember the address).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import ipaddress
import math
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from handoff.config import Settings
from handoff.models import Agent, Audit, KnownAddress, LoginFailure, WebSession, utcnow

COOKIE = "handoff_session"
HASH_THREADS = 2
_hasher = PasswordHasher()
_hash_pool: ThreadPoolExecutor | None = None
# verifying against a dummy hash keeps the time of "no such agent" equal to "wrong password"
_DUMMY_HASH = _hasher.hash(secrets.token_hex(8))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TooManyAttempts(Exception):
    """Refused before the password was even checked; `retry_after` is in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Backoff:
    """`free` failures within the window pass; after that each attempt waits `first`·2^(n-free), at most `cap`."""

    free: int
    first: float
    cap: float

    def wait(self, failures: int, last: dt.datetime, now: dt.datetime) -> float:
        if failures < self.free:
            return 0.0
        delay = min(self.cap, self.first * 2 ** min(failures - self.free, 32))
        return max(0.0, (last + dt.timedelta(seconds=delay) - now).total_seconds())


# The mild per-account backoff (all addresses together): seconds, so that a stranger can slow an agent signing in
# from a new address but never keep them out; the agent's known addresses skip it (docs/handoff.md).
ACCOUNT_BACKOFF_FIRST = 1.0
ACCOUNT_BACKOFF_CAP = 30.0
KNOWN_ADDRESS_DAYS = 90


@dataclass(frozen=True)
class LoginPolicy:
    """Sign-in throttling: a backoff per (account, address), per address, and a mild one per account."""

    window_seconds: int
    pair: Backoff
    address: Backoff
    account: Backoff

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginPolicy:
        cap = float(settings.login_window_seconds)
        return cls(
            window_seconds=settings.login_window_seconds,
            pair=Backoff(settings.login_max_failures, settings.login_backoff_seconds, cap),
            address=Backoff(settings.login_address_max_failures, settings.login_backoff_seconds, cap),
            account=Backoff(settings.login_account_max_failures, ACCOUNT_BACKOFF_FIRST, ACCOUNT_BACKOFF_CAP),
        )


def address_key(client: str) -> str:
    """The unit an address limit counts: an IPv4 address, or the /64 of an IPv6 one (one subscriber's block)."""
    try:
        ip = ipaddress.ip_address(client)
    except ValueError:
        return client[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _throttle_keys(email: str, address: str) -> dict[str, str]:
    """LoginFailure keys; e-mails typed by strangers are stored only as digests (bounded, not readable)."""
    return {
        "pair": "pair:" + _token_hash(f"{email}\n{address}"),
        "address": f"addr:{address}",
        "account": "acct:" + _token_hash(email),
    }


def _known(session: Session, agent: Agent | None, address: str) -> bool:
    if agent is None:
        return False
    row = session.get(KnownAddress, (agent.id, address))
    return row is not None and row.last_login_at >= utcnow() - dt.timedelta(days=KNOWN_ADDRESS_DAYS)


def _wait_seconds(session: Session, policy: LoginPolicy, keys: dict[str, str], exempt_account: bool) -> float:
    now = utcnow()
    since = now - dt.timedelta(seconds=policy.window_seconds)
    rows = session.execute(
        select(LoginFailure.key, func.count(), func.max(LoginFailure.at))
        .where(LoginFailure.key.in_(keys.values()), LoginFailure.at >= since)
        .group_by(LoginFailure.key)
    ).all()
    found = {key: (int(n), last) for key, n, last in rows}
    limits = {"pair": policy.pair, "address": policy.address, "account": policy.account}
    if exempt_account:
        del limits["account"]
    return max(
        (limit.wait(*found[keys[name]], now) for name, limit in limits.items() if keys[name] in found), default=0.0
    )


@dataclass(frozen=True)
class Attempt:
    """A sign-in that passed the throttle check: what the password is checked against, and the keys to count."""

    email: str
    client: str
    address: str
    keys: dict[str, str]
    agent_id: int | None
    password_hash: str  # the dummy hash when there is no such agent, so both cost the same


@dataclass(frozen=True)
class Checked:
    ok: bool
    new_hash: str | None = None  # set when the stored hash's parameters are out of date


def begin_login(session: Session, *, email: str, client: str, policy: LoginPolicy) -> Attempt:
    """Step 1 (database): raises TooManyAttempts while backing off, before the password is even looked at.

    A throttled attempt is not counted, so hammering during a backoff neither extends it nor learns anything."""
    email = email.strip().lower()
    address = address_key(client)
    keys = _throttle_keys(email, address)
    agent = session.execute(select(Agent).where(Agent.email == email)).scalar_one_or_none()
    wait = _wait_seconds(session, policy, keys, exempt_account=_known(session, agent, address))
    if wait > 0:
        raise TooManyAttempts(max(1, math.ceil(wait)))
    return Attempt(email, client, address, keys, agent.id if agent else None,
                   agent.password_hash if agent else _DUMMY_HASH)


def _verify(attempt: Attempt, password: str) -> Checked:
    try:
        _hasher.verify(attempt.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return Checked(False)
    if attempt.agent_id is None:
        return Checked(False)
    return Checked(True, _hasher.hash(password) if _hasher.check_needs_rehash(attempt.password_hash) else None)


async def check_password(attempt: Attempt, password: str) -> Checked:
    """Step 2 (argon2, CPU only): off the event loop, on a small pool of its own, so a flood of sign-ins can
    neither stall the loop nor take the database threads from ingest and the inbox."""
    global _hash_pool
    if _hash_pool is None:
        _hash_pool = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2")
    return await asyncio.get_running_loop().run_in_executor(_hash_pool, _verify, attempt, password)


def finish_login(session: Session, attempt: Attempt, checked: Checked) -> Agent | None:
    """Step 3 (database): the agent if the password matched; a failure is recorded and audited."""
    agent = session.get(Agent, attempt.agent_id) if attempt.agent_id is not None else None
    if not checked.ok or agent is None:
        for key in attempt.keys.values():
            session.add(LoginFailure(key=key))
        session.add(Audit(action="login_failed", agent_id=agent.id if agent else None,
                          detail={"client": attempt.client}))
        return None
    if checked.new_hash is not None:
        agent.password_hash = checked.new_hash
    session.execute(delete(LoginFailure).where(LoginFailure.key == attempt.keys["pair"]))
    session.merge(KnownAddress(agent_id=agent.id, address=attempt.address, last_login_at=utcnow()))
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
