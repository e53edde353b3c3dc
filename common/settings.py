"""The base of every service's typed settings object: pydantic `BaseSettings`, read once at start-up.

A service declares its fields once, with their defaults (documented in docs/configuration.md); each field is
read from `<env_prefix><FIELD>`, or from the names given with `Field(env=...)` (a list: the first one that is
set and not empty wins). An empty variable means the default. Fields named in `secrets` refuse their
development default (and every `common.config.DEV_PLACEHOLDERS`) when `APP_ENV=production`. `from_env()` turns
a malformed value into a `ConfigError` naming its variable; `construct()` gives the defaults without reading
the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from pydantic import BaseSettings, ValidationError, validator
from pydantic.env_settings import SettingsSourceCallable
from pydantic.fields import ModelField

from common.config import DEV_PLACEHOLDERS, ConfigError, is_production

S = TypeVar("S", bound="EnvSettings")


def _environment(settings: BaseSettings) -> dict[str, Any]:
    """Each field's first variable that is set and not empty, among its names in their declared order."""
    env = {name.lower(): value for name, value in os.environ.items() if value != ""}
    found: dict[str, Any] = {}
    for field in settings.__fields__.values():
        for name in field.field_info.extra["env_names"]:
            if name in env:
                found[field.alias] = env[name]
                break
    return found


class EnvSettings(BaseSettings):
    """Subclass it, declare the fields with their defaults, set `Config.env_prefix` and `secrets`."""

    secrets: ClassVar[tuple[str, ...]] = ()

    class Config:
        frozen = True
        validate_all = True  # the defaults too: a development secret left in place is refused in production

        @classmethod
        def customise_sources(
            cls,
            init_settings: SettingsSourceCallable,
            env_settings: SettingsSourceCallable,
            file_secret_settings: SettingsSourceCallable,
        ) -> tuple[SettingsSourceCallable, ...]:
            return init_settings, _environment

    @validator("*", pre=True)
    def _empty_means_default(cls, value: Any, field: ModelField) -> Any:
        return field.default if value == "" else value

    @validator("*")
    def _no_placeholder_in_production(cls, value: Any, field: ModelField) -> Any:
        if field.name in cls.secrets and is_production() and value in DEV_PLACEHOLDERS | {field.default}:
            raise ConfigError(f"{cls.env_name(field.name)} must be set to a real secret when APP_ENV=production")
        return value

    @classmethod
    def env_name(cls, field: str) -> str:
        """The (first) environment variable a field is read from."""
        names = cls.__fields__[field].field_info.extra["env_names"]
        return str(names[0] if isinstance(names, list) else sorted(names)[0]).upper()

    @classmethod
    def from_env(cls: type[S], overrides: Mapping[str, Any] | None = None) -> S:
        """Read the environment; `overrides` (e.g. from a credentials file) win over it."""
        known = {k: v for k, v in (overrides or {}).items() if k in cls.__fields__ and v not in (None, "")}
        try:
            return cls(**known)
        except ValidationError as exc:
            problems = "; ".join(f"{cls.env_name(str(e['loc'][0]))}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"invalid {cls.__name__}: {problems}") from exc
