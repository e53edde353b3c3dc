"""Live updates across replicas: two real `python -m handoff` processes on one database and one Redis. An agent
whose tab is open on replica B sees what replica A ingested and what an agent did on A, filtered and masked
by the same rule as on a single replica; signing out on A ends that session's streams on B."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.handoff.conftest import handoff_events, handoff_service, user
from tests.handoff.inbox_client import EventStream, call, opener, sign_in
from tests.support.processes import VENV_BIN, base_env

INTERNAL = "live-internal-token"
LEAD = ("lead@example.com", "correct-horse-battery")


def ingest(base: str, events: list[dict[str, Any]]) -> None:
    status, body = call(opener(), f"{base}/internal/events", events, {"Authorization": f"Bearer {INTERNAL}"})
    assert (status, body["applied"]) == (200, len(events))


def session(base: str, email: str, password: str) -> tuple[Any, dict[str, str]]:
    op = opener()
    assert sign_in(op, base, email, password).status == 200
    return op, {"X-CSRF-Token": call(op, f"{base}/api/me")[1]["csrf"]}


def add_agent(pg_url: str, email: str, password: str) -> None:
    import subprocess

    done = subprocess.run([str(VENV_BIN / "python"), "-m", "handoff.agents", "create", "--email", email],
                          input=f"{password}\n", text=True, capture_output=True,
                          env=base_env({"DATABASE_URL": pg_url}), timeout=120)
    assert done.returncode == 0, done.stderr


def test_an_agent_on_replica_b_sees_what_replica_a_ingested(pg_url: str, redis_url: str, run_id: str) -> None:
    env = {"REDIS_URL": redis_url, "HANDOFF_QUEUE": f"handoff-live-{run_id}-{uuid.uuid4().hex[:6]}",
           "HANDOFF_INTERNAL_TOKEN": INTERNAL, "HANDOFF_AUTO_ASSIGN": "false"}
    a = handoff_service("handoff-live-a", database_url=pg_url, **env)
    b = handoff_service("handoff-live-b", database_url=pg_url, **env)
    with a, b:
        assert all(call(opener(), f"{r.url}/health")[1]["live_bus"] == "redis" for r in (a, b))
        add_agent(pg_url, "asha@example.com", "asha-password-123")
        add_agent(pg_url, "bala@example.com", "bala-password-123")
        tabs = {"asha": session(b.url, "asha@example.com", "asha-password-123"),
                "bala": session(b.url, "bala@example.com", "bala-password-123"), "lead": session(b.url, *LEAD)}
        streams = {name: EventStream(op, b.url) for name, (op, _) in tabs.items()}  # every tab is on B
        try:
            held = "919822200011"
            ingest(a.url, handoff_events(held, time.time()))  # replica A ingests the handoff
            for stream in streams.values():  # a new ticket in the queue: every agent may see it
                stream.wait_for(lambda event, data: event == "ticket" and bool(data.get("new")))
            asha_on_a = session(a.url, "asha@example.com", "asha-password-123")  # asha claims it on A
            ticket = call(asha_on_a[0], f"{a.url}/api/tickets")[1]["queue"][0]["id"]
            assert call(asha_on_a[0], f"{a.url}/api/tickets/{ticket}/claim", {}, asha_on_a[1])[0] == 200
            ingest(a.url, [user(held, time.time(), "PAN ABCDE1234F, OTP 482913")])
            ingest(a.url, handoff_events("919822200012", time.time()))  # a marker every tab receives last
            for stream in streams.values():
                stream.wait_for(lambda event, data: event == "ticket" and bool(data.get("new"))
                                and data.get("ticket_id") != ticket)
            call(tabs["lead"][0], f"{a.url}/logout", {}, tabs["lead"][1])  # lead's session, signed out on A
            streams["lead"].wait_for(lambda event, _: event == "reload")  # ... ends lead's stream on B
        finally:
            for stream in streams.values():
                stream.close()
    for name in ("asha", "lead"):  # the holder and a supervisor: the line, masked as the API masks it
        texts = [d["text"] for e, d in streams[name].events if e == "message" and d.get("ticket_id") == ticket]
        assert texts == ["Bot handed over: asked for human", "PAN ABXXXXX34F, OTP XXXXXX"], name
        assert any(e == "ticket" and d.get("assigned_agent_id") for e, d in streams[name].events), name
    bala = streams["bala"].events
    seen = [d["text"] for e, d in bala if e == "message" and d.get("ticket_id") == ticket]
    assert seen == ["Bot handed over: asked for human"]  # while it waited in the queue; nothing after asha took it
    assert ("changed", {}) in bala  # told the ticket left the queue, not which or why
    assert "ABCDE1234F" not in str([s.events for s in streams.values()]) and "482913" not in str(bala)
