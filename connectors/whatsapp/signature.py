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


def is_valid(body: bytes, header_value: str | None, *app_secrets: str) -> bool:
    """True only for a well-formed header whose digest matches `body` under one of the given secrets.

    More than one secret only while the app secret is being rotated (`WHATSAPP_APP_SECRET_PREVIOUS`): Meta signs
    with the new one as soon as it is changed, but replays of webhooks signed before that still arrive.
    """
    if not header_value or not header_value.startswith(PREFIX):
        return False
    supplied = header_value.strip()
    matches = [hmac.compare_digest(sign(body, secret), supplied) for secret in app_secrets if secret]
    return any(matches)  # every secret is tried, so the time taken does not say which one matched
