"""Masking of personally identifiable information.

Investors' PAN, phone numbers, e-mail addresses, folio and bank account numbers and one-time codes must
never reach a log line, and should reach a person only as far as that person needs them. Every service masks
through these functions so that the masking rules live in one place; log lines are masked by the one logging
setup every process calls (common/logs.py), not by the call sites.
"""

from __future__ import annotations

import re

PAN_RE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{5})(\d{4})([A-Za-z])(?![A-Za-z0-9])")
# Aadhaar (12 digits, often 4-4-4) and card numbers (16 digits, often 4-4-4-4): never needed by a person here.
# Unbroken runs of those lengths are masked as account numbers below.
AADHAAR_CARD_RE = re.compile(r"(?<![\d*X])\d{4}([ -])\d{4}\1\d{4}(?:\1\d{4})?(?![\d])")
# UPI handles (name@bank, no dot in the bank part, unlike an e-mail address).
UPI_RE = re.compile(r"\b([A-Za-z0-9._-])([A-Za-z0-9._-]*)@([A-Za-z]{2,})\b(?![.@])")
# Also URL-encoded (`%40`), as it appears in a logged URL.
EMAIL_RE = re.compile(r"\b([A-Za-z0-9._%+-])([A-Za-z0-9._%+-]*)(@|%40)([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b")
# Indian mobiles as WhatsApp sends them (91XXXXXXXXXX), with +/spaces, or bare 10 digits starting 6-9.
PHONE_RE = re.compile(r"(?<!\d)(?<!\d\.)(\+?91[\s-]?)?([6-9]\d{9})(?!\d)")
# The same, written as people do, 5 + 5 ("98765 43210", "98765-43210"); strict masking only (see mask_text).
SPACED_PHONE_RE = re.compile(r"(?<!\d)(?<!\d\.)(\+?91[\s-]?)?[6-9]\d{4}[ -](\d{5})(?!\d)")
# Folio / bank account numbers: 8 to 18 digits, optionally with a slash-suffix (folio "12345678/90").
# None of these patterns matches the fraction of a decimal number (a confidence of 0.9998745681).
ACCOUNT_RE = re.compile(r"(?<![\d*])(?<!\d\.)(\d{4,14})(\d{4})(?:/(\d+))?(?!\d)")
# Strict masking only (see mask_text): what people type that the default leaves alone. None of these matches a
# date (2024-05-01, 01/05/2024, 01-05-24), a time, an amount such as 5000 or 100000 (CODE_RE takes that one), a
# decimal fraction or a hexadecimal or UUID identifier (a letter, digit or `.` next to the run stops it).
# A folio of 5 to 7 digits with its slash-suffix ("1234567/89"); 8 and more digits are ACCOUNT_RE's.
SHORT_FOLIO_RE = re.compile(r"(?<![A-Za-z0-9*/.])(\d{1,3})(\d{4})/(\d{1,4})(?![A-Za-z0-9/])")
# A PAN typed with spaces or hyphens ("ABCDE 1234 F", "abcde-1234-f"): one case throughout, so that prose such
# as "March 2024 I" is not taken for one.
SPACED_PAN_RE = re.compile(
    r"(?<![A-Za-z0-9])(?:([A-Z]{5})[ -]?(\d{4})[ -]?([A-Z])|([a-z]{5})[ -]?(\d{4})[ -]?([a-z]))(?![A-Za-z0-9])"
)
# A mobile typed in any grouping ("98 76 54 32 10", "987 654 3210", "+91 98765 43210"): ten digits from 6-9 on,
# one space or hyphen at most between two digits, not inside a longer run of digit groups.
GROUPED_PHONE_RE = re.compile(
    r"(?<![A-Za-z0-9.])(?<!\d[ -])(\+?91[ -]?)?([6-9](?:[ -]?\d){9})(?![A-Za-z0-9]|[ -]\d)"
)
# A one-time code typed digit by digit ("4 8 2 9 1 3", "4-8-2-9-1-3") or in pairs with spaces ("48 29 13"; with
# hyphens a pair of pairs is a date, 01-05-24, and is left alone).
SPACED_CODE_RE = re.compile(
    r"(?<![A-Za-z0-9.])(?<!\d[ -])(?:\d([ -])\d\1\d\1\d\1\d\1\d|\d\d \d\d \d\d)(?![A-Za-z0-9]|[ -]\d)"
)
# One-time codes: 6 digits standing alone ("482913", "482 913", "482-913"); not inside a longer number, an
# identifier made of letters and digits (message ids, hashes) or a decimal fraction (a confidence of 0.912345).
CODE_RE = re.compile(r"(?<![A-Za-z0-9])(?<!\d\.)\d{3}([ -]?)\d{3}(?![A-Za-z0-9])")


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


def mask_text(text: str, *, strict: bool = False) -> str:
    """Mask every PAN, e-mail, phone and account-like number found in free text (log lines, transcripts).

    `strict=True` is for log lines, where nobody needs a number and a false positive costs nothing: it also
    masks one-time codes -- every 6-digit number standing alone, so an amount of 100000 too, and codes typed
    digit by digit or in pairs --, mobiles written in groups (5 + 5 with a space or hyphen, so a range like
    60000-90000 too, or "98 76 54 32 10"), PANs typed with spaces and folios of 5 to 7 digits with a slash-suffix.
    Dates, times, amounts of up to 5 digits and hexadecimal or UUID identifiers stay as they are. Strict masking
    is also what rating comments, the Review page and its export use. Transcripts that agents read use the
    default, which leaves amounts alone.
    """
    if not text:
        return text
    text = PAN_RE.sub(lambda m: mask_pan(m.group(0)), text)
    text = AADHAAR_CARD_RE.sub(lambda m: re.sub(r"\d", "X", m.group(0)[:-4]) + m.group(0)[-4:], text)
    text = EMAIL_RE.sub(lambda m: f"{m.group(1)}{'*' * max(len(m.group(2)), 1)}{m.group(3)}{m.group(4)}", text)
    text = UPI_RE.sub(lambda m: f"{m.group(1)}{'*' * max(len(m.group(2)), 1)}@{m.group(3)}", text)
    text = PHONE_RE.sub(lambda m: (m.group(1) or "") + "XXXXXX" + m.group(2)[-4:], text)
    if strict:
        text = _strict_before_accounts(text)
    text = ACCOUNT_RE.sub(lambda m: "X" * len(m.group(1)) + m.group(2) + (f"/{m.group(3)}" if m.group(3) else ""), text)
    return mask_codes(text) if strict else text


_CUT_DIGITS_RE = re.compile(r"\d[\d -]*$")


def _xs(match: re.Match[str]) -> str:
    return re.sub(r"\d", "X", match.group(0))


def mask_codes(text: str, *, cut: bool = False) -> str:
    """Every digit of a one-time code becomes X: six digits standing alone (CODE_RE) or typed digit by digit or
    in pairs (SPACED_CODE_RE). Strict masking applies it; so does the inbox, where agents read transcripts masked
    by default but must never see a code. `cut` (a truncated preview): also a trailing run of digits, which may be
    the start of a code."""
    text = CODE_RE.sub(_xs, SPACED_CODE_RE.sub(_xs, text))
    return _CUT_DIGITS_RE.sub(_xs, text) if cut else text


def _strict_before_accounts(text: str) -> str:
    """PANs, mobiles and short folios as people type them (strict masking only)."""
    text = SPACED_PAN_RE.sub(lambda m: mask_pan("".join(g for g in m.groups() if g)), text)
    text = SPACED_PHONE_RE.sub(lambda m: (m.group(1) or "") + "XXXXXX" + m.group(2)[-4:], text)
    text = GROUPED_PHONE_RE.sub(lambda m: (m.group(1) or "") + "XXXXXX" + re.sub(r"\D", "", m.group(2))[-4:], text)
    return SHORT_FOLIO_RE.sub(lambda m: "X" * len(m.group(1)) + m.group(2) + "/" + m.group(3), text)
