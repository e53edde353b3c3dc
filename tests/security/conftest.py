"""The real local stack, as an attacker on the network meets it: account API stand-in, authenticated action server,
Rasa with the project's own channels (token REST + WhatsApp) and SQL tracker store, and the WhatsApp simulator.

Every process is started with the operator's command on free ports (tests/support/processes.py); nothing is mocked.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e_support.stack import (
    ACTION_TOKEN,
    RASA_TOKEN,
    REST_TOKEN,
    AccountsApi,
    action_endpoint_yaml,
    action_server_env,
    http_json,
    start_accounts_api,
    start_action_server,
)
from tests.handoff.conftest import db, pg_url
from tests.support.processes import REPO_ROOT, VENV_BIN, ServiceProcess, free_port
from tests.whatsapp.conftest import Sim, sim_process

__all__ = ["db", "pg_url", "sim_process"]  # fixtures shared with tests/handoff and tests/whatsapp


@dataclass
class SecureStack:
    api: AccountsApi
    actions: ServiceProcess
    action_url: str
    rasa: ServiceProcess
    rasa_url: str
    sim: Sim
    tracker_db: Path

    def rest(self, sender: str, text: str, token: str | None = REST_TOKEN) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, body, _ = http_json(
            "POST", f"{self.rasa_url}/webhooks/rest/webhook", {"sender": sender, "message": text}, headers, timeout=60
        )
        return status, body

    def tracker(self, conversation: str) -> dict[str, Any]:
        status, body, _ = http_json(
            "GET", f"{self.rasa_url}/conversations/{conversation}/tracker" f"?include_events=ALL&token={RASA_TOKEN}"
        )
        assert status == 200, body
        return dict(body)

    def whatsapp(self, wa_id: str, text: str, expect: str, timeout: float = 60.0) -> str:
        """Send `text` from the investor's phone (a signed webhook through the simulator, as Meta would) and
        return the text of the replies once one containing `expect` arrived."""
        webhook = f"{self.rasa_url}/webhooks/whatsapp/webhook"
        return asyncio.run(_whatsapp_turn(self.sim, webhook, wa_id, text, expect, timeout))


async def _whatsapp_turn(sim: Sim, webhook: str, wa_id: str, text: str, expect: str, timeout: float) -> str:
    await sim.call("POST", "/_sim/config", {"webhook_url": webhook})  # other tests point the simulator elsewhere
    before = len(await sim.outbound(wa_id))
    result = await sim.send(wa_id, text=text)
    assert result["status"] == 200, result
    deadline = time.monotonic() + timeout
    replies = ""
    while time.monotonic() < deadline:
        replies = "\n".join(_record_text(r) for r in (await sim.outbound(wa_id))[before:])
        if expect in replies:
            return replies
        await asyncio.sleep(0.1)
    raise AssertionError(f"no reply containing {expect!r} to {text!r} within {timeout}s; got: {replies!r}")


def _record_text(record: dict[str, Any]) -> str:
    payload = record.get("payload", {})
    if payload.get("type") == "text":
        return str(payload.get("text", {}).get("body", ""))
    if payload.get("type") == "interactive":
        return str(payload.get("interactive", {}).get("body", {}).get("text", ""))
    return str(payload)


def _rasa(
    tmp: Path, model: Path, action_url: str, sim: Sim, tracker_db: Path, prefix: str
) -> tuple[ServiceProcess, str]:
    endpoints = tmp / "endpoints.yml"
    endpoints.write_text(action_endpoint_yaml(action_url) + "tracker_store:\n  type: bot.stores.EnvSQLTrackerStore\n")
    port = free_port()
    process = ServiceProcess(
        "rasa-security",
        [
            str(VENV_BIN / "rasa"),
            "run",
            "--enable-api",
            "--auth-token",
            RASA_TOKEN,
            "-m",
            str(model),
            "--endpoints",
            str(endpoints),
            "--credentials",
            str(REPO_ROOT / "credentials.yml"),
            "-p",
            str(port),
        ],
        f"http://127.0.0.1:{port}/",
        env={
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            "REST_CHANNEL_TOKEN": REST_TOKEN,
            "TRACKER_STORE_URL": f"sqlite:///{tracker_db}",
            "WHATSAPP_API_URL": sim.api_url,
            "WHATSAPP_PREFIX": prefix,
            "WHATSAPP_MARK_READ": "false",
            "AMQP_URL": "",
            "REDIS_URL": "",
        },
        startup_timeout=600,  # Rasa listens only once its model is loaded: minutes on a loaded 2-core machine
    )
    process.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while (
        time.monotonic() < deadline
        and http_json("POST", f"{url}/model/parse?token={RASA_TOKEN}", {"text": "hi"})[0] != 200
    ):
        time.sleep(0.5)
    return process, url


@pytest.fixture(scope="session")
def secure_stack(
    trained_model: Path,
    redis_url: str,
    run_id: str,
    sim_process: ServiceProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SecureStack]:
    tmp = tmp_path_factory.mktemp("security")
    model = tmp / "model.tar.gz"
    shutil.copyfile(trained_model, model)
    api = start_accounts_api(tmp, name="accounts-api-security")
    env = action_server_env(api, redis_url, f"{run_id}:sec:", {"ACTION_SERVER_TOKEN": ACTION_TOKEN})
    actions, action_url = start_action_server(env, name="actions-security")
    sim = Sim(sim_process.health_url.rsplit("/health", 1)[0])
    tracker_db = tmp / "tracker.db"
    try:
        rasa, url = _rasa(tmp, model, action_url, sim, tracker_db, f"wa{run_id}sec")
    except Exception:
        actions.stop()
        api.process.stop()
        raise
    asyncio.run(sim.reset(f"{url}/webhooks/whatsapp/webhook"))
    yield SecureStack(api, actions, action_url, rasa, url, sim, tracker_db)
    rasa.stop()
    actions.stop()
    api.process.stop()
