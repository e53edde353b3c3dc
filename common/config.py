"""Reading configuration from the environment, with the defaults documented in docs/configuration.md.

Every service builds one typed settings object from these helpers at start-up (never at import time),
so a missing or malformed variable fails loudly with its name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

N = TypeVar("N", int, float)

# Placeholder secrets that are fine on a developer's laptop and refused anywhere else.
DEV_PLACEHOLDERS = frozenset({"", "dev-secret", "dev-token", "changeme", "change-me"})


class ConfigError(RuntimeError):
    """A configuration variable is missing or malformed."""


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ConfigError(f"environment variable {name} is required")
        return default
    return value


def _env_number(name: str, default: N, parse: Callable[[str], N], kind: str) -> N:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(f"environment variable {name} must be {kind}, got {raw!r}") from exc


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "an integer")


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"environment variable {name} must be true/false, got {raw!r}")


def is_production() -> bool:
    """`APP_ENV=production` turns placeholder secrets into start-up errors."""
    return env_str("APP_ENV", "development").lower() == "production"


def env_secret(name: str, dev_default: str) -> str:
    """A secret: the development default is refused when APP_ENV=production."""
    value = env_str(name, dev_default)
    if is_production() and value in DEV_PLACEHOLDERS | {dev_default}:
        raise ConfigError(f"{name} must be set to a real secret when APP_ENV=production")
    return value
