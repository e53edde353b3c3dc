"""Masking of personally identifiable information.

Investors' PAN, phone numbers, e-mail addresses, folio and bank account numbers must never reach a log
line, and should reach a person only as far as that person needs them. Every service masks through
these functions so that the masking rules live in one place.
"""

from __future__ import annotations

import logging
import re

PAN_RE = re.compile(r"\b([A-Za-z]{5})(\d{4})([A-Za-z])\b")
EMAIL_RE = re.compile(r"\b([A-Za-z0-9._%+-])([A-Za-z0-9._%+-]*)@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")
# Indian mobiles as WhatsApp sends them (91XXXXXXXXXX), with +/spaces, or bare 10 digits starting 6-9.
PHONE_RE = re.compile(r"(?<!\d)(\+?91[\s-]?)?([6-9]\d{9})(?!\d)")
# Folio / bank account numbers: 8 to 18 digits, optionally with a slash-suffix (folio "12345678/90").
ACCOUNT_RE = re.compile(r"(?<![\d*])(\d{4,14})(\d{4})(?:/(\d+))?(?!\d)")


def mask_pan(pan: str) -> str:
    """`ABCDE1234F` -> `ABXXXXX34F`: enough for an investor to recognise their own PAN."""
    pan = pan.strip().upper()
    if len(pan) != 10:
        return "X" * len(pan)
    return f"{pan[:2]}XXXXX{pan[7:]}"


def mask_phone(phone: str) -> str:
    """`919876543210` -> `91XXXXXX3210`; keeps the country code and the last four digits."""
    digits = re.sub(r"\D", "", phone)
    if len(digits) <= 4:
        return "X" * len(digits)
    keep_head = 2 if len(digits) > 10 else 0
    return digits[:keep_head] + "X" * (len(digits) - keep_head - 4) + digits[-4:]


def mask_email(email: str) -> str:
    """`ramesh.k@example.com` -> `r*******@example.com`."""
    local, _, domain = email.partition("@")
    if not domain:
        return "*" * len(email)
    return f"{local[:1]}{'*' * max(len(local) - 1, 1)}@{domain}"


def mask_account(number: str) -> str:
    """Folio or bank account: only the last four digits stay (`XXXXXX7890`)."""
    digits = number.strip()
    if len(digits) <= 4:
        return "X" * len(digits)
    return "X" * (len(digits) - 4) + digits[-4:]


def mask_text(text: str) -> str:
    """Mask every PAN, e-mail, phone and account-like number found in free text (log lines, transcripts)."""
    if not text:
        return text
    text = PAN_RE.sub(lambda m: mask_pan(m.group(0)), text)
    text = EMAIL_RE.sub(lambda m: mask_email(m.group(0)), text)
    text = PHONE_RE.sub(lambda m: (m.group(1) or "") + "XXXXXX" + m.group(2)[-4:], text)
    text = ACCOUNT_RE.sub(lambda m: "X" * len(m.group(1)) + m.group(2) + (f"/{m.group(3)}" if m.group(3) else ""), text)
    return text


class PIIMaskingFilter(logging.Filter):
    """A logging filter that masks PII in the rendered message, so no handler ever writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            rendered = record.getMessage()
        except Exception:  # a broken format string is still logged, just unmasked args dropped
            rendered = str(record.msg)
        record.msg = mask_text(rendered)
        record.args = None
        return True


def install_log_masking(logger: logging.Logger | None = None) -> None:
    """Attach the masking filter to every handler of `logger` (root by default), idempotently."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, PIIMaskingFilter) for f in handler.filters):
            handler.addFilter(PIIMaskingFilter())
