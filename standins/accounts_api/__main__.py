"""`python -m standins.accounts_api`: serve the stand-in on ACCOUNTS_API_HOST:ACCOUNTS_API_PORT (127.0.0.1:8088)."""

from __future__ import annotations

from common.logs import configure_logging
from standins.accounts_api.app import create_app
from standins.accounts_api.config import Settings


def main() -> None:
    configure_logging("accounts-api")
    settings = Settings.from_env()
    app = create_app(settings)
    # One worker: fault-injection and OTP read-back state live in the process (see faults.py).
    app.run(host=settings.host, port=settings.port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()
