"""Meta's webhook signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, key = app secret>`.

Checked on the raw bytes before any parsing (re-serialised JSON would not match), and compared with
`hmac.compare_digest` so the time taken does not leak how many leading characters were right.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Hub-Signature-256"
PREFIX = "sha256="


def sign(body: bytes, app_secret: str) -> str:
    """The header value Meta would send for `body` (used by the simulator and the tests)."""
    return PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def is_valid(body: bytes, header_value: str | None, app_secret: str) -> bool:
    """True only for a well-formed header whose digest matches `body`."""
    if not header_value or not header_value.startswith(PREFIX):
        return False
    return hmac.compare_digest(sign(body, app_secret), header_value.strip())
