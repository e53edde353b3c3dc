"""What can go wrong calling the account API, as exceptions the actions turn into honest answers."""

from __future__ import annotations


class AccountsApiError(Exception):
    """Base class; `code` is the API's machine-readable error code where there is one."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class ApiUnavailable(AccountsApiError):
    """Down, slow, 5xx, or the circuit breaker is open: tell the investor and offer an agent."""


class NotFound(AccountsApiError):
    """The thing asked for does not exist (an unregistered mobile, an unknown folio or SIP)."""


class ApiRejected(AccountsApiError):
    """The API understood and refused (4xx other than 404/410/423), e.g. a SIP that has already ceased."""


class OtpLocked(AccountsApiError):
    """Too many wrong codes: OTPs for this mobile are locked for `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, "locked")
        self.retry_after = retry_after


class OtpExpired(AccountsApiError):
    """The code expired or a newer one replaced it."""
