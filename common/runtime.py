"""Process start-up shared by every service: logging with PII masking."""

from __future__ import annotations

import logging

from common.config import env_str
from common.pii import install_log_masking


def configure_logging(service: str) -> logging.Logger:
    """Plain structured-ish lines on stderr, level from LOG_LEVEL (default INFO), PII masked in every record."""
    logging.basicConfig(
        level=env_str("LOG_LEVEL", "INFO").upper(),
        format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s",
    )
    install_log_masking()
    return logging.getLogger(service)
