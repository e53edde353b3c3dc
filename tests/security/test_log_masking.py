"""PII never reaches a log file: the real local stack (`python -m bot.stack`, embedded mode) holds one investor
conversation full of PII -- PAN, mobile, e-mail, one-time codes, also in a message Rasa warns about -- through
verification and a handoff to an agent, at LOG_LEVEL=DEBUG; then every log file of every process is searched.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from standins.accounts_api.seed import RESERVED_PREFIX
from tests.e2e_support.stack import http_json
from tests.support.processes import REPO_ROOT, base_env, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]  # the whole stack starts on a busy machine

PAN, MAIL, TYPED_CODE = "QWERT5678Z", "ramesh.k@example.com", "482913"
REST_TOKEN, RASA_TOKEN, INTERNAL_TOKEN = "log-test-rest-token", "log-test-rasa-token", "log-test-internal-token"
ACCOUNTS_TOKEN = "log-test-accounts-token"
PORTS = ("RASA_PORT", "ACTIONS_PORT", "ACCOUNTS_API_PORT", "WHATSAPP_SIM_PORT", "WHATSAPP_GATEWAY_PORT", "HANDOFF_PORT")
# URLs the stack derives from its ports unless they are already set (as scripts/env.sh sets some).
DERIVED = ("ACTION_ENDPOINT_URL", "ACCOUNTS_API_URL", "WHATSAPP_API_URL", "RASA_URL", "WHATSAPP_WEBHOOK_URL",
           "HANDOFF_URL", "AMQP_URL", "REDIS_URL", "DATABASE_URL")
READY = "The assistant is running"


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    log_dir: Path
    output: Path

    def url(self, port: str) -> str:
        return f"http://127.0.0.1:{self.ports[port]}"

    def say(self, sender: str, text: str) -> str:
        status, body, _ = http_json("POST", self.url("RASA_PORT") + "/webhooks/rest/webhook",
                                    {"sender": sender, "message": text}, {"Authorization": f"Bearer {REST_TOKEN}"},
                                    timeout=120)
        assert status == 200, body
        return "\n".join(str(reply.get("text", "")) for reply in body or [])

    def accounts_admin(self, path: str) -> Any:
        """The account API stand-in's admin surface (investor picks, the last OTP sent to a mobile)."""
        status, body, _ = http_json("GET", self.url("ACCOUNTS_API_PORT") + path,
                                    headers={"Authorization": f"Bearer {ACCOUNTS_TOKEN}"})
        assert status == 200, body
        return body


def stack_env(tmp: Path, ports: dict[str, int]) -> dict[str, str]:
    env = base_env({name: str(port) for name, port in ports.items()})
    for name in DERIVED:
        env.pop(name, None)
    env.update({
        "LOG_DIR": str(tmp / "log"),
        "LOG_LEVEL": "DEBUG",  # masked whatever the level: the most talkative level is the test
        "TRACKER_STORE_URL": f"sqlite:///{tmp / 'tracker.db'}",
        "HANDOFF_OUTBOX_PATH": str(tmp / "outbox.db"),
        "DATABASE_URL": f"sqlite:///{tmp / 'handoff.db'}",
        "ACCOUNTS_DATABASE_URL": f"sqlite:///{tmp / 'accounts.sqlite'}",
        "ACCOUNTS_SEED_INVESTORS": "300",
        "ACCOUNTS_API_TOKEN": ACCOUNTS_TOKEN,
        "ACCOUNTS_API_EXPOSE_OTP": "true",
        "REST_CHANNEL_TOKEN": REST_TOKEN,
        "RASA_TOKEN": RASA_TOKEN,
        "HANDOFF_INTERNAL_TOKEN": INTERNAL_TOKEN,
        "APP_ENV": "development",
        "STACK_STARTUP_TIMEOUT": "900",  # Rasa loads its model slowly on a busy 2-core machine
    })
    return env


def wait_until_ready(stack: Stack, timeout: float = 1500.0) -> None:
    """The stack has health-checked every service; then Rasa has loaded its model (a parse answers)."""
    deadline = time.monotonic() + timeout
    while READY not in stack.output.read_text(errors="replace"):
        assert stack.process.poll() is None, stack.output.read_text(errors="replace")[-4000:]
        assert time.monotonic() < deadline, "the stack did not start"
        time.sleep(0.5)
    parse = f"{stack.url('RASA_PORT')}/model/parse?token={RASA_TOKEN}"
    while http_json("POST", parse, {"text": "hi"})[0] != 200:
        assert time.monotonic() < deadline, "Rasa did not load its model"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def stack(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("log-masking")
    ports = {name: free_port() for name in PORTS}
    output = tmp / "stack.out"
    with open(output, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bot.stack"], cwd=REPO_ROOT, env=stack_env(tmp, ports),
                                   stdout=out, stderr=subprocess.STDOUT)
    started = Stack(process, ports, tmp / "log", output)
    try:
        wait_until_ready(started)
        yield started
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM: bot.stack stops every service (each flushes and closes its log) before it exits."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=180)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def an_investor(stack: Stack) -> str:
    """A generated investor (the documented ones are other tests' and the demo's)."""
    investors = stack.accounts_admin("/admin/investors?limit=60")["investors"]
    return next(str(i["mobile"]) for i in investors if not str(i["mobile"]).startswith(RESERVED_PREFIX))


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """Which secrets occur in `text` unmasked (digits count only standing alone, not inside longer numbers)."""
    found = []
    for name, secret in secrets.items():
        pattern = rf"(?<!\d){re.escape(secret)}(?!\d)" if secret.isdigit() else re.escape(secret)
        if re.search(pattern, text, flags=re.IGNORECASE):
            found.append(name)
    return found


def wait_for_ticket(stack: Stack, timeout: float = 120.0) -> None:
    """The handoff service has applied the conversation's events: a ticket is waiting for an agent."""
    deadline = time.monotonic() + timeout
    url = stack.url("HANDOFF_PORT") + "/internal/queue"
    while True:
        status, body, _ = http_json("GET", url, headers={"Authorization": f"Bearer {INTERNAL_TOKEN}"})
        if status == 200 and body["waiting"] >= 1:
            return
        assert time.monotonic() < deadline, f"no ticket in the handoff service: {status} {body}"
        time.sleep(0.2)


def test_no_log_file_of_any_process_holds_pii(stack: Stack) -> None:
    mobile = an_investor(stack)  # 91 + ten digits: the investor's WhatsApp number, and the REST sender
    national = mobile[2:]
    spaced = f"+91 {national[:5]} {national[5:]}"
    typed = f"Hi, my PAN is {PAN}, mobile {spaced}, e-mail {MAIL}, and the code I got is {TYPED_CODE}"
    stack.say(mobile, typed)
    stack.say(mobile, f"/inform my PAN {PAN} mobile {national} mail {MAIL} code {TYPED_CODE}")  # Rasa warns
    asked = stack.say(mobile, "show my portfolio")
    assert "6-digit code" in asked, asked
    otp = str(stack.accounts_admin(f"/admin/otp/last?mobile={mobile}")["code"])
    verified = stack.say(mobile, otp)
    assert "verified" in verified, verified
    handed = stack.say(mobile, "talk to an agent")
    assert handed, "no answer to the handoff request"
    wait_for_ticket(stack)
    stop(stack.process)

    secrets = {"PAN": PAN, "mobile": national, "e-mail": MAIL, "typed code": TYPED_CODE, "one-time password": otp}
    files = sorted(stack.log_dir.glob("*.log")) + [stack.output]
    names = {f.stem for f in files}
    assert {"rasa", "actions", "accounts-api", "handoff", "whatsapp-simulator"} <= names, names
    found: dict[str, Any] = {}
    for path in files:
        text = path.read_text(errors="replace")
        hits = leaks(text, secrets)
        if hits:
            found[path.name] = {name: example_line(text, secrets[name]) for name in hits}
    assert not found, json.dumps(found, indent=1)
    rasa_log = (stack.log_dir / "rasa.log").read_text(errors="replace")
    assert PAN[:2] + "XXXXX" + PAN[7:] in rasa_log, "the PII was not logged at all: nothing was tested"
    assert "Failed to parse arguments" in rasa_log  # Rasa's warning quoting the whole message, masked


def example_line(text: str, secret: str) -> str:
    line = next((line for line in text.splitlines() if secret.lower() in line.lower()), "")
    return line[:600]

