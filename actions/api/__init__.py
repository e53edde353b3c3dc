"""Typed clients for the systems the actions talk to; `accounts` is the fund house's account API."""

from actions.api.accounts import AccountsClient, get_client
from actions.api.errors import (
    AccountsApiError,
    ApiRejected,
    ApiUnavailable,
    NotFound,
    OtpExpired,
    OtpLocked,
)

__all__ = [
    "AccountsApiError",
    "AccountsClient",
    "ApiRejected",
    "ApiUnavailable",
    "NotFound",
    "OtpExpired",
    "OtpLocked",
    "get_client",
]
