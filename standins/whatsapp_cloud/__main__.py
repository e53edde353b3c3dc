"""Run the simulator: `python -m standins.whatsapp_cloud` (WHATSAPP_SIM_PORT, default 8090)."""

from __future__ import annotations

from common.logs import configure_logging
from standins.whatsapp_cloud.app import SimSettings, create_app


def main() -> None:
    configure_logging("whatsapp-simulator")
    settings = SimSettings.from_env()
    create_app(settings).run(host=settings.host, port=settings.port, access_log=False, workers=1)


if __name__ == "__main__":
    main()
