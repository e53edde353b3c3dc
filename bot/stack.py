"""`make run`: the whole assistant on one machine with embedded defaults.

Starts every service as its own process (the same commands the Docker images run), waits for each
health check, prints where everything is, and stops them all on Ctrl-C. Nothing but Python is needed:
SQLite for data, in-process queues; set AMQP_URL / REDIS_URL / DATABASE_URL to use real servers.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bot import paths
from common.config import env_float, env_int, env_str
from common.logs import configure_logging
from common.processes import ServiceProcess

PYTHON = sys.executable
RASA = os.path.join(os.path.dirname(sys.executable), "rasa")


@dataclass
class Service:
    name: str
    module: str  # the package that must exist for this service to start
    command: list[str]
    port: int
    health_path: str
    env: dict[str, str] = field(default_factory=dict)
    banner: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def stack_ports() -> dict[str, int]:
    return {
        "rasa": env_int("RASA_PORT", 5005),
        "actions": env_int("ACTIONS_PORT", 5055),
        "accounts": env_int("ACCOUNTS_API_PORT", 8088),
        "whatsapp": env_int("WHATSAPP_SIM_PORT", 8090),
        "gateway": env_int("WHATSAPP_GATEWAY_PORT", 5006),
        "handoff": env_int("HANDOFF_PORT", 8091),
    }


def shared_env(ports: dict[str, int], rasa_token: str) -> dict[str, str]:
    """What every service needs to find the others (and the development secrets), unless already set."""
    return {
        "ACTION_ENDPOINT_URL": f"http://127.0.0.1:{ports['actions']}/webhook",
        "ACCOUNTS_API_URL": env_str("ACCOUNTS_API_URL", f"http://127.0.0.1:{ports['accounts']}"),
        "WHATSAPP_API_URL": env_str("WHATSAPP_API_URL", f"http://127.0.0.1:{ports['whatsapp']}/v21.0"),
        "RASA_URL": f"http://127.0.0.1:{ports['rasa']}",
        "RASA_TOKEN": rasa_token,
        "ACCOUNTS_API_EXPOSE_OTP": env_str("ACCOUNTS_API_EXPOSE_OTP", "true"),
        # With RabbitMQ, webhooks go to the light gateway that only verifies and queues (docs/whatsapp.md);
        # embedded, Rasa's own channel route receives them.
        "WHATSAPP_WEBHOOK_URL": f"http://127.0.0.1:{ports['gateway' if os.environ.get('AMQP_URL') else 'rasa']}"
        "/webhooks/whatsapp/webhook",
        "HANDOFF_URL": f"http://127.0.0.1:{ports['handoff']}",
        "HANDOFF_INTERNAL_TOKEN": env_str("HANDOFF_INTERNAL_TOKEN", "dev-token"),
        "ACTION_SERVER_TOKEN": env_str("ACTION_SERVER_TOKEN", "dev-action-token"),
        "REST_CHANNEL_TOKEN": env_str("REST_CHANNEL_TOKEN", "dev-rest-token"),
        "RASA_METRICS_PORT": env_str("RASA_METRICS_PORT", "9105"),  # Rasa's /metrics (bot/metrics.py)
        # A developer's machine listens on loopback only: the development tokens are public knowledge.
        "ACTION_SERVER_HOST": env_str("ACTION_SERVER_HOST", "127.0.0.1"),
        "WHATSAPP_GATEWAY_HOST": env_str("WHATSAPP_GATEWAY_HOST", "127.0.0.1"),
        "METRICS_HOST": env_str("METRICS_HOST", "127.0.0.1"),
        # A known first agent on a developer's machine; APP_ENV=production refuses development secrets.
        "HANDOFF_SEED_EMAIL": env_str("HANDOFF_SEED_EMAIL", "agent@example.com"),
        "HANDOFF_SEED_PASSWORD": env_str("HANDOFF_SEED_PASSWORD", "local-agent-pass"),
    }


def services() -> list[Service]:
    """The stack in start order; sets the shared environment (`shared_env`) for them as a side effect."""
    ports = stack_ports()
    rasa_token = env_str("RASA_TOKEN", "dev-rasa-token")
    for key, value in shared_env(ports, rasa_token).items():
        os.environ.setdefault(key, value)
    rasa_command = [RASA, "run", "--enable-api", "--auth-token", rasa_token, "-m", str(paths.MODEL),
                    "--endpoints", str(paths.ENDPOINTS), "--credentials", str(paths.CREDENTIALS),
                    "-p", str(ports["rasa"]), "-i", env_str("RASA_HOST", "127.0.0.1")]
    gateway = [  # with RabbitMQ, Meta's webhooks go to the gateway, which queues them for Rasa (docs/whatsapp.md)
        Service("gateway", "connectors.whatsapp.gateway", [PYTHON, "-m", "connectors.whatsapp.gateway"],
                ports["gateway"], "/health", {"WHATSAPP_GATEWAY_PORT": str(ports["gateway"])},
                "WhatsApp webhook gateway (Meta's webhooks, into RabbitMQ)")
    ] if os.environ.get("AMQP_URL") else []
    return [
        Service("accounts-api", "standins.accounts_api", [PYTHON, "-m", "standins.accounts_api"], ports["accounts"],
                "/health", {"ACCOUNTS_API_PORT": str(ports["accounts"])},
                "account API stand-in (OpenAPI at /openapi.json)"),
        Service("actions", "rasa_sdk", [PYTHON, "-m", "actions.server", "-p", str(ports["actions"])],
                ports["actions"], "/health", {}, "action server"),
        Service("rasa", "rasa", rasa_command, ports["rasa"], "/", {},
                "Rasa (REST channel at /webhooks/rest/webhook)"),
        Service("whatsapp-simulator", "standins.whatsapp_cloud", [PYTHON, "-m", "standins.whatsapp_cloud"],
                ports["whatsapp"], "/health", {"WHATSAPP_SIM_PORT": str(ports["whatsapp"])},
                "WhatsApp simulator: open it in a browser to chat as an investor"),
        Service("handoff", "handoff", [PYTHON, "-m", "handoff"], ports["handoff"], "/health",
                {"HANDOFF_PORT": str(ports["handoff"])}, "agent inbox"),
        *gateway,
    ]


def available(service: Service) -> bool:
    """A service starts when its package is in this checkout (later parts of the product may be absent)."""
    if service.module in {"rasa", "rasa_sdk"}:
        return True
    try:
        spec = importlib.util.find_spec(service.module)
        if spec is not None and spec.submodule_search_locations is not None:  # a package: run as `-m package`
            spec = importlib.util.find_spec(f"{service.module}.__main__")
        return spec is not None
    except ModuleNotFoundError:
        return False


def main() -> int:
    if not paths.MODEL.exists():
        print("no trained model: run `make model` first (make run does it for you)", file=sys.stderr)
        return 1
    configure_logging("stack")
    running: list[ServiceProcess] = []
    log_dir = Path(env_str("LOG_DIR", str(paths.ROOT / "var" / "log")))  # one file per service
    try:
        for service in services():
            if not available(service):
                continue
            print(f"starting {service.name} on {service.url} ...", flush=True)
            proc = ServiceProcess(
                service.name,
                service.command,
                service.url + service.health_path,
                env=service.env,
                startup_timeout=env_float("STACK_STARTUP_TIMEOUT", 240.0),  # Rasa loading its model
                log_dir=log_dir,
            )
            running.append(proc.start())
        print(f"\nThe assistant is running. Logs: {log_dir}/. Stop with Ctrl-C.\n")
        for service in services():
            if available(service):
                print(f"  {service.banner:<62} {service.url}")
        print(
            f"\n  agent inbox sign-in: {os.environ['HANDOFF_SEED_EMAIL']} / {os.environ['HANDOFF_SEED_PASSWORD']}"
            " (the first agent; created on the first run)"
        )
        print("  chat in a terminal:  make chat   (in another terminal)\n")
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while all(p.process is not None and p.process.poll() is None for p in running):
            time.sleep(1)
        dead = [p.name for p in running if p.process is None or p.process.poll() is not None]
        print(f"stopped: {', '.join(dead)} exited; see {log_dir}/", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for proc in reversed(running):
            proc.stop()


if __name__ == "__main__":
    sys.exit(main())
