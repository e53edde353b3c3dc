"""`python -m handoff` serves the inbox (HANDOFF_PORT, default 8091).

`python -m handoff add-agent EMAIL NAME [agent|supervisor]` adds an agent; the password is read from
HANDOFF_NEW_PASSWORD or asked for on the terminal.
"""

from __future__ import annotations

import getpass
import os
import sys

from common.logs import configure_logging
from handoff.config import Settings


def add_agent(argv: list[str]) -> int:
    from handoff.auth import hash_password
    from handoff.db import Database
    from handoff.models import Agent

    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    email, name = argv[0].lower(), argv[1]
    role = argv[2] if len(argv) > 2 else "agent"
    if role not in ("agent", "supervisor"):
        print("role must be agent or supervisor", file=sys.stderr)
        return 2
    password = os.environ.get("HANDOFF_NEW_PASSWORD") or getpass.getpass(f"password for {email}: ")
    if len(password) < 10:
        print("use at least 10 characters", file=sys.stderr)
        return 2
    db = Database(Settings.from_env().database_url)
    db.open()
    with db.transaction() as s:
        s.add(Agent(email=email, name=name, role=role, password_hash=hash_password(password)))
    print(f"added {role} {email}")
    return 0


def main() -> int:
    configure_logging("handoff")
    if len(sys.argv) > 1 and sys.argv[1] == "add-agent":
        return add_agent(sys.argv[2:])
    from handoff.app import create_app

    settings = Settings.from_env()
    app = create_app(settings)
    app.run(host=settings.host, port=settings.port, workers=1, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
