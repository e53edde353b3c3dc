"""Webhook gateway: `python -m connectors.whatsapp.gateway` -- Meta's webhooks acknowledged off Rasa's event loop.

Rasa runs NLU and policies synchronously on its event loop, so under load a webhook handled inside the Rasa
process waits behind inference (measured: acknowledgement p50 ~370 ms with 30 busy investors on two cores,
against ~7 ms when the loop is idle). Meta wants a median under 250 ms and retries slow webhooks. This process
serves the same route, `/webhooks/whatsapp/webhook`, with the same code (`WhatsAppInput.receive`: signature,
parse, statuses, dedupe, publish with confirms) and no Rasa: it only puts messages into the RabbitMQ
partitions, which the Rasa replicas consume. Point Meta (or the reverse proxy's `/webhooks/whatsapp/` route)
at it; the route inside Rasa keeps working for the embedded mode and for a single small deployment.

Requires AMQP_URL (the in-process queue of the embedded mode cannot reach another process).
Port: WHATSAPP_GATEWAY_PORT (default 5006), host WHATSAPP_GATEWAY_HOST (default 0.0.0.0).
"""

from __future__ import annotations

from typing import Any

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from common.config import ConfigError, env_int, env_str
from common.logs import configure_logging
from common.metrics import serve_metrics
from common.runtime import freeze_loaded_heap
from connectors.whatsapp.channel import WhatsAppInput
from connectors.whatsapp.settings import WhatsAppSettings


async def _no_rasa(message: Any) -> None:
    raise RuntimeError("the gateway does not run Rasa")  # never called: consume=False


def create_app(settings: WhatsAppSettings | None = None, name: str = "whatsapp_gateway") -> Sanic:
    settings = settings or WhatsAppSettings.from_env()
    if not settings.amqp_url:
        raise ConfigError("the WhatsApp gateway needs AMQP_URL: it hands messages to Rasa through RabbitMQ")
    channel = WhatsAppInput(settings, consume=False)
    app = Sanic(name)
    app.ctx.channel = channel
    app.blueprint(channel.blueprint(_no_rasa), url_prefix="/webhooks/whatsapp")

    @app.get("/health")
    async def health(request: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    @app.get("/health/ready")
    async def ready(request: Request) -> HTTPResponse:
        """Readiness: RabbitMQ connected and Redis answering (liveness, `/health`, checks neither)."""
        found = await channel.problems()
        return response.json({"status": "unavailable" if found else "ready", "problems": found},
                             status=503 if found else 200)

    return app


def main() -> None:
    configure_logging("whatsapp-gateway")
    serve_metrics()  # METRICS_PORT: webhooks, acknowledgement time, read receipts (docs/runbook.md, "Metrics")
    app = create_app()
    freeze_loaded_heap()  # Rasa's and Sanic's modules: no full collection needs to scan them (common/runtime.py)
    app.run(
        host=env_str("WHATSAPP_GATEWAY_HOST", "0.0.0.0"),  # noqa: S104 - Meta must reach it (behind a proxy)
        port=env_int("WHATSAPP_GATEWAY_PORT", 5006),
        access_log=False,
        workers=1,
    )


if __name__ == "__main__":
    main()
