"""Real processes for the account tests: the stand-in, the action server, Rasa (REST channel), plus helpers.

Shared by tests/accounts_api, tests/actions and bench/actions.py. Everything runs the operator's commands on
free ports through tests/support/processes.py; nothing is mocked.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.processes import VENV_BIN, ServiceProcess, free_port

TOKEN = "test-service-token"
ACTION_TOKEN = "test-action-token"  # Rasa -> action server (actions/server.py)
REST_TOKEN = "test-rest-token"  # the developers' REST channel (connectors/rest.py)
RASA_TOKEN = "test-rasa-token"  # Rasa's HTTP API


def http_json(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
              timeout: float = 30.0) -> tuple[int, Any, dict[str, str]]:
    """One JSON request with urllib; returns (status, parsed body, headers) for any status."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json",
                                                                             **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None, dict(response.headers)
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return exc.code, parsed, dict(exc.headers)


class AccountsApi:
    """A running stand-in and its admin surface (faults, OTP read-back, locks, investor picks)."""

    def __init__(self, process: ServiceProcess, url: str, token: str = TOKEN) -> None:
        self.process, self.url, self.token = process, url, token

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             timeout: float = 30.0) -> tuple[int, Any, dict[str, str]]:
        return http_json(method, self.url + path, body, {**self.auth, **(headers or {})}, timeout)

    def faults(self, **values: Any) -> dict[str, Any]:
        status, body, _ = self.call("PUT", "/admin/faults", values)
        assert status == 200, body
        return dict(body)

    def reset_faults(self) -> None:
        self.faults(reset=True)

    def last_otp(self, mobile: str) -> str:
        status, body, _ = self.call("GET", f"/admin/otp/last?mobile={mobile}")
        assert status == 200, body
        return str(body["code"])

    def clear_locks(self, mobile: str | None = None) -> None:
        self.call("DELETE", "/admin/otp/locks" + (f"?mobile={mobile}" if mobile else ""))

    def investors(self, **filters: Any) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        status, body, _ = self.call("GET", f"/admin/investors?{query}")
        assert status == 200, body
        return list(body["investors"])


def start_accounts_api(tmp_dir: Path, name: str = "accounts-api", investors: int = 400,
                       env: dict[str, str] | None = None) -> AccountsApi:
    port = free_port()
    process = ServiceProcess(
        name,
        [str(VENV_BIN / "python"), "-m", "standins.accounts_api"],
        f"http://127.0.0.1:{port}/health",
        env={
            "ACCOUNTS_API_PORT": str(port),
            "ACCOUNTS_DATABASE_URL": f"sqlite:///{tmp_dir / (name + '.sqlite')}",
            "ACCOUNTS_API_TOKEN": TOKEN,
            "ACCOUNTS_API_EXPOSE_OTP": "true",
            "ACCOUNTS_SEED_INVESTORS": str(investors),
            "ACCOUNTS_NAV_HISTORY_DAYS": "120",
            "ACCOUNTS_OTP_LOCKOUT_SECONDS": "60",
            "APP_ENV": "development",
            **(env or {}),
        },
        startup_timeout=60,
    )
    process.start()
    return AccountsApi(process, f"http://127.0.0.1:{port}")


def action_server_env(api: AccountsApi, redis_url: str | None, cache_prefix: str,
                      extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        "ACCOUNTS_API_URL": api.url,
        "ACCOUNTS_API_TOKEN": api.token,
        "ACCOUNTS_CACHE_PREFIX": cache_prefix,
        "ACCOUNTS_API_BREAKER_RESET": "1.0",
        "APP_ENV": "development",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    else:
        env["REDIS_URL"] = ""
    env.update(extra or {})
    return env


def start_action_server(env: dict[str, str], name: str = "action-server") -> tuple[ServiceProcess, str]:
    port = free_port()
    process = ServiceProcess(
        name,
        [str(VENV_BIN / "python"), "-m", "actions.server", "-p", str(port)],
        f"http://127.0.0.1:{port}/health",
        env={"ACTION_SERVER_TOKEN": ACTION_TOKEN, **env},
        startup_timeout=90,
    )
    process.start()
    return process, f"http://127.0.0.1:{port}/webhook"


def action_endpoint_yaml(action_url: str) -> str:
    """endpoints.yml's action endpoint with the token the action server demands."""
    return f'action_endpoint:\n  url: "{action_url}"\n  headers:\n    Authorization: "Bearer {ACTION_TOKEN}"\n'


def start_rasa(model: Path, action_url: str, tmp_dir: Path, name: str = "rasa") -> tuple[ServiceProcess, str]:
    endpoints = tmp_dir / f"{name}-endpoints.yml"
    endpoints.write_text(action_endpoint_yaml(action_url))
    credentials = tmp_dir / f"{name}-credentials.yml"
    credentials.write_text("connectors.rest.TokenRestInput:\n")
    port = free_port()
    process = ServiceProcess(
        name,
        [str(VENV_BIN / "rasa"), "run", "--enable-api", "--auth-token", RASA_TOKEN, "-m", str(model),
         "--endpoints", str(endpoints), "--credentials", str(credentials), "-p", str(port)],
        f"http://127.0.0.1:{port}/",
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "REST_CHANNEL_TOKEN": REST_TOKEN},
        startup_timeout=240,
    )
    process.start()
    url = f"http://127.0.0.1:{port}"
    # `GET /` answers before the model is loaded; wait until a parse works.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status, _, _ = http_json("POST", f"{url}/model/parse?token={RASA_TOKEN}", {"text": "hi"})
        if status == 200:
            break
        time.sleep(1)
    return process, url


class Chat:
    """An investor talking to Rasa over the REST channel; `sender` is the number they claim (Rasa sees `rest:<it>`)."""

    def __init__(self, rasa_url: str, sender: str) -> None:
        self.url, self.sender = rasa_url, sender

    def send(self, text: str, timeout: float = 60.0) -> list[dict[str, Any]]:
        status, body, _ = http_json("POST", self.url + "/webhooks/rest/webhook",
                                    {"sender": self.sender, "message": text},
                                    {"Authorization": f"Bearer {REST_TOKEN}"}, timeout=timeout)
        assert status == 200, body
        return list(body or [])

    def tracker(self) -> dict[str, Any]:
        status, body, _ = http_json("GET", f"{self.url}/conversations/rest:{self.sender}/tracker?token={RASA_TOKEN}")
        assert status == 200, body
        return dict(body)


def texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def buttons(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for r in replies for b in r.get("buttons", [])]
