"""Agents from the operator's terminal: create one, or reset a password.

    python -m handoff.agents create --email lead@fund.example --name "Asha Rao" --role supervisor
    python -m handoff.agents create --email writer@fund.example --role content   # the Review page only
    python -m handoff.agents reset-password --email lead@fund.example

The password is read from standard input: asked twice on a terminal, else the first line of what is piped
in. With `--generate` a random one is made and printed once, on this terminal's standard output only; it is
never logged. A reset signs the agent out everywhere and forgets the addresses they signed in from. Uses
DATABASE_URL like the service, and migrates it first, so it also works before the service ever started.
"""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys

from sqlalchemy import delete, select

from handoff.auth import hash_password
from handoff.config import Settings
from handoff.db import Database
from handoff.models import ROLES, Agent, Audit, KnownAddress, WebSession

MIN_PASSWORD = 12


class Refused(Exception):
    """What the operator asked for cannot be done; the message says why."""


def read_password(email: str, *, generate: bool) -> tuple[str, bool]:
    """(password, generated) from --generate, the terminal (asked twice) or the first line of stdin."""
    if generate:
        return secrets.token_urlsafe(18), True
    if sys.stdin.isatty():
        password = getpass.getpass(f"new password for {email}: ")
        if getpass.getpass("once more: ") != password:
            raise Refused("the two passwords differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_PASSWORD:
        raise Refused(f"use at least {MIN_PASSWORD} characters")
    return password, False


def create(db: Database, *, email: str, name: str, role: str, password: str) -> None:
    with db.transaction() as s:
        if s.execute(select(Agent.id).where(Agent.email == email)).first() is not None:
            raise Refused(f"{email} already exists: use reset-password")
        agent = Agent(email=email, name=name, role=role, password_hash=hash_password(password))
        s.add(agent)
        s.flush()
        s.add(Audit(action="agent_created", detail={"agent_id": agent.id, "role": role, "by": "cli"}))


def reset_password(db: Database, *, email: str, password: str) -> None:
    with db.transaction() as s:
        agent = s.execute(select(Agent).where(Agent.email == email)).scalar_one_or_none()
        if agent is None:
            raise Refused(f"no agent {email}")
        agent.password_hash = hash_password(password)
        s.execute(delete(WebSession).where(WebSession.agent_id == agent.id))
        s.execute(delete(KnownAddress).where(KnownAddress.agent_id == agent.id))
        s.add(Audit(action="password_reset", detail={"agent_id": agent.id, "by": "cli"}))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m handoff.agents", description=__doc__.split("\n\n")[0])
    commands = root.add_subparsers(dest="command", required=True)
    new = commands.add_parser("create", help="add an agent")
    new.add_argument("--name", help="shown to other agents (default: the e-mail's local part)")
    new.add_argument("--role", choices=ROLES, default="agent")
    reset = commands.add_parser("reset-password", help="set a new password; signs the agent out everywhere")
    for command in (new, reset):
        command.add_argument("--email", required=True)
        command.add_argument("--generate", action="store_true", help="make a random password and print it once")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    email = args.email.strip().lower()
    db = Database(Settings.from_env().database_url)
    try:
        password, generated = read_password(email, generate=args.generate)
        db.open()
        if args.command == "create":
            create(db, email=email, name=args.name or email.split("@")[0], role=args.role, password=password)
        else:
            reset_password(db, email=email, password=password)
    except Refused as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    print(f"{args.command}: {email}" + (f"\npassword (shown this once): {password}" if generated else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
