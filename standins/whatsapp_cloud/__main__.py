"""Run the simulator: `python -m standins.whatsapp_cloud` (WHATSAPP_SIM_PORT, default 8090)."""

from __future__ import annotations

import logging

from standins.whatsapp_cloud.app import SimSettings, create_app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = SimSettings.from_env()
    create_app(settings).run(host=settings.host, port=settings.port, access_log=False, workers=1)


if __name__ == "__main__":
    main()
