"""Real processes for the handoff end-to-end tests: Rasa (with the outbox broker), the action server and
the handoff service, wired to a unique RabbitMQ exchange/queue and a fresh PostgreSQL schema."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.e2e_support.stack import ACTION_TOKEN, action_endpoint_yaml
from tests.handoff.conftest import handoff_service
from tests.support.processes import REPO_ROOT, VENV_BIN, ServiceProcess, free_port

RASA_TOKEN = "test-rasa-token"
INTERNAL_TOKEN = "test-internal-token"


def http_json(url: str, body: Any = None, method: str | None = None, timeout: float = 30) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data, {"Content-Type": "application/json"}, method=method)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        raw = response.read() or b"null"
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode()  # the callback channel answers a plain "success"


@dataclass
class Stack:
    rasa: ServiceProcess
    actions: ServiceProcess
    handoff: Any
    rasa_url: str
    outbox: Path

    def tracker(self, sender: str) -> dict[str, Any]:
        return http_json(f"{self.rasa_url}/conversations/{sender}/tracker?include_events=ALL&token={RASA_TOKEN}")

    def stop(self) -> None:
        for proc in (self.rasa, self.actions, self.handoff):
            proc.stop()


def build_stack(
    tmp: Path,
    *,
    model: Path,
    pg_url: str,
    amqp_url: str,
    names: dict[str, str],
    credentials: str,
    rasa_env: dict[str, str] | None = None,
    broker_amqp_url: str | None = None,
    **handoff_env: str,
) -> Stack:
    """Create (not start) the three processes; Rasa keeps its tracker in SQLite so it survives kill -9.

    `broker_amqp_url` is the URL Rasa's event broker publishes to (default `amqp_url`, which the handoff service
    consumes from): a fault test gives it a TCP forwarder's URL (tests/support/forwarder.py) to cut RabbitMQ off
    from Rasa only, without stopping the shared broker."""
    rasa_port, actions_port = free_port(), free_port()
    handoff = handoff_service(
        "handoff-e2e", database_url=pg_url, amqp_url=amqp_url, names=names,
        RASA_URL=f"http://127.0.0.1:{rasa_port}", RASA_TOKEN=RASA_TOKEN, HANDOFF_INTERNAL_TOKEN=INTERNAL_TOKEN,
        **handoff_env,
    )
    outbox = tmp / "rasa-outbox.db"
    endpoints = tmp / "endpoints.yml"
    endpoints.write_text(
        action_endpoint_yaml(f"http://127.0.0.1:{actions_port}/webhook")
        + f"""tracker_store:
  type: SQL
  dialect: sqlite
  db: {tmp / 'tracker.db'}
event_broker:
  type: handoff.event_broker.OutboxEventBroker
  url: {broker_amqp_url or amqp_url}
  exchange_name: {names['exchange']}
  partitions: {names['partitions']}
  outbox_path: {outbox}
"""
    )
    creds = tmp / "credentials.yml"
    creds.write_text(credentials)
    rasa = ServiceProcess(
        "rasa-handoff",
        [str(VENV_BIN / "rasa"), "run", "--enable-api", "--auth-token", RASA_TOKEN, "-m", str(model),
         "-p", str(rasa_port), "--endpoints", str(endpoints), "--credentials", str(creds)],
        f"http://127.0.0.1:{rasa_port}/",
        env={"SQLALCHEMY_SILENCE_UBER_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "2", **(rasa_env or {})},
        cwd=REPO_ROOT,
        startup_timeout=300,
    )
    actions = ServiceProcess(
        "actions-handoff",
        [str(VENV_BIN / "python"), "-m", "actions.server", "-p", str(actions_port)],
        f"http://127.0.0.1:{actions_port}/health",
        env={"ACTION_SERVER_TOKEN": ACTION_TOKEN, "HANDOFF_URL": handoff.url, "HANDOFF_INTERNAL_TOKEN": INTERNAL_TOKEN,
             "HANDOFF_BUSINESS_HOURS": "Mon-Sun 00:00-24:00"},
        startup_timeout=120,
    )
    return Stack(rasa, actions, handoff, f"http://127.0.0.1:{rasa_port}", outbox)
