"""Masking of personally identifiable information.

Investors' PAN, phone numbers, e-mail addresses, folio and bank account numbers and one-time codes must
never reach a log line, and should reach a person only as far as that person needs them. Every service masks
through these functions so that the masking rules live in one place; log lines are masked by the one logging
setup every process calls (common/logs.py), not by the call sites.
"""

from __future__ import annotations

import re
import unicodedata

# Compact PAN in any case ("ABCDE1234F", "abcde1234f"), also glued after letters ("panABCDE1234F": exactly five
# letters must precede the four digits, so the match still starts at the PAN); not inside a longer run of
# letters and digits after it, nor right after a digit.
PAN_RE = re.compile(r"(?<![0-9])([A-Za-z]{5})(\d{4})([A-Za-z])(?![A-Za-z0-9])")
# Aadhaar (12 digits, often 4-4-4) and card numbers (16 digits, often 4-4-4-4): never needed by a person here.
# Unbroken runs of those lengths are masked as account numbers below.
AADHAAR_CARD_RE = re.compile(r"(?<![\d*X])\d{4}([ -])\d{4}\1\d{4}(?:\1\d{4})?(?![\d])")
# UPI handles (name@bank, no dot in the bank part, unlike an e-mail address); from the start of a token only.
UPI_RE = re.compile(r"(?<![A-Za-z0-9._-])([A-Za-z0-9._-])([A-Za-z0-9._-]*)@([A-Za-z]{2,})\b(?![.@])")
# E-mail: a local part of ASCII word characters and `._%+-` or any non-ASCII letters ("रमेश"), then `@` (a
# space on either side allowed), or `%40` as in a logged URL, then a domain whose labels may be non-ASCII
# ("exämple.com"). Takes nothing without a dotted domain (a UPI handle is UPI_RE's).
EMAIL_RE = re.compile(
    # one character class (overlapping alternatives backtrack exponentially); from the start of a token only
    r"(?<![\w.%+\u0080-\U0010ffff-])([\w.%+\u0080-\U0010ffff-])([\w.%+\u0080-\U0010ffff-]*?)( ?@ ?|%40)"
    r"([\w-][\w.-]*\.[^\W\d_]{2,})\b"
)
# E-mail spelled out to get past a filter: "ramesh.k at gmail dot com", "ramesh.k[at]example.com",
# "x (at) y [dot] co in". Only with a known TLD (com, in, org, net, edu, co.in, gov.in, "co in"), so prose such as
# "I was at home. In the" (a dot followed by a space is no spelled dot) or "look at it" is left alone; the price is
# "look at amfiindia.com" losing most of "look" (first letter kept).
_AT = r"(?:\s*(?:\[at\]|\(at\))\s*|\s+at\s+)"
_DOT = r"(?:\.|\s*(?:\[dot\]|\(dot\))\s*|\s+dot\s+)"
SPELLED_EMAIL_RE = re.compile(
    rf"(?i)(?<![\w.%+-])([\w.%+-])([\w.%+-]*)({_AT}(?:[\w-]+{_DOT})+(?:(?:co|gov){_DOT}in|co in|com|in|org|net|edu))"
    r"\b(?!\.\w)"
)
# Indian mobiles as WhatsApp sends them (91XXXXXXXXXX), with +/spaces, or bare 10 digits starting 6-9.
PHONE_RE = re.compile(r"(?<!\d)(?<!\d\.)(\+?91[\s-]?)?([6-9]\d{9})(?!\d)")
# Strict masking only: a mobile typed in any grouping -- "98765 43210", "98765  43210", "98765 - 43210",
# "98765.43210", "98765/43210", "98.76.54.32.10", "987 654 3210", lines broken inside it, "+91 (98765) 43210",
# a leading trunk 0 ("098765 43210"): ten digits from 6-9 on, between two digits at most one separator (one or
# two spaces, a newline, or `.`, `/`, `-` with a space either side, or a closing bracket). Not inside a longer
# run of digit groups or an identifier; _phone() then refuses a `.` or `/` mixed with other separators and a
# single `.` anywhere but after the fifth digit, so decimals (7123.456789, "7.5 8.25 9.1 6.3 4") stay.
TYPED_PHONE_RE = re.compile(
    r"(?<![\w.+])(?<!\w[./-])(?<!\d )((?:\+|00)?91 ?-? ?\(?|\(\+?91\) ?|0)?"
    r"(\(?[6-9](?:(?: {1,2}|\n| ?[./-] ?|\) ?)?\d){9})(?![\w/]|(?: {1,2}|\n| ?[./-] ?)\d)"
)
# Folio / bank account numbers: 8 to 18 digits, optionally with a slash-suffix (folio "12345678/90").
# None of these patterns matches the fraction of a decimal number (a confidence of 0.9998745681).
ACCOUNT_RE = re.compile(r"(?<![\d*])(?<!\d\.)(\d{4,14})(\d{4})(?:/(\d+))?(?!\d)")
# Folio / account numbers typed in groups ("1234 5678", "00-1234-5678-90", "1234.5678.9012"), optionally after a
# keyword (folio, a/c, acct, acc, account, a dot after it, then "no", "number", ":", ":-", "#", "=", "is"): a run
# of digit groups joined by one space, hyphen or dot, not inside an identifier (UUID segments: a letter or
# `-`/`.`/`/` after a letter or digit before the run stops it; after a keyword nothing does: "account no.1234567")
# nor a longer run; an optional "/89" suffix stays. _account_run() decides (dates stay).
GROUPED_ACCOUNT_RE = re.compile(
    r"(?i)(\b(?:folio|a/c|account|acct|acc)\.?(?:\s*(?:no|number|num)\b\.*)?\s*(?:is\b\s*)?[:#=-]*\s*(?:is\s+)?)?"
    r"(?(1)|(?<![\w.])(?<!\w[./-])(?<!\d ))(\d+(?:[ .-]\d+)*)(?= ?/ ?\d|(?![\w/]|[.-]\w))"
)
# A run that starts with a date and goes on with an amount or a time ("05-04-2024 5000"): no account.
DATED_RUN_RE = re.compile(r"(?:\d{1,2}([.-])\d{1,2}\1(?:19|20)\d\d|(?:19|20)\d\d([.-])\d{1,2}\2\d{1,2}) ")
# Strict masking only (see mask_text): what people type that the default leaves alone. None of these matches a
# date (2024-05-01, 01/05/2024, 01-05-24), a time, an amount such as 5000 or 100000 (CODE_RE takes that one), a
# decimal fraction or a hexadecimal or UUID identifier (a letter, digit or `.` next to the run stops it).
# A folio of 5 to 7 digits with its suffix: "1234567/89", "1234567 / 89", "1234567-89", also after capitals
# ("HDF1234567/89"; a lowercase letter before it, as in a hexadecimal id, stops it); 8 and more digits are
# ACCOUNT_RE's.
SHORT_FOLIO_RE = re.compile(
    r"(?<![a-z0-9*/.])(?<![\w][.-])(\d{1,3})(\d{4})( ?/ ?|-)(\d{1,4})(?![\w/]|[.-]\w)"
)
# A PAN typed with separators (strict: any; the default, for agents: with a holder letter, see _holder_pan):
# "ABCDE 1234 F", "ABCDE  1234  F", "ABCDE-1234-F", "ABCDE.1234.F", "ABCDE/1234/F",
# spelled out "A B C D E 1 2 3 4 F" / "A.B.C.D.E.1.2.3.4.F". The letters (and the digits) are either together or
# spelled one by one, so "of the 2024 a" is not taken; _pan() then refuses a mixed-case one whose last letter is
# a word of its own "I"/"a"/"A" ("in March 2024 I asked").
_PS = r"[ ./-]"
PAN_HOLDER_KINDS = frozenset("PCHFATBLJG")  # a PAN's fourth letter
SPACED_PAN_RE = re.compile(
    rf"(?<![A-Za-z0-9])([A-Za-z]{{5}}|[A-Za-z](?:{_PS}[A-Za-z]){{4}})((?: {{1,2}}|\n| ?[./-] ?)?)"
    rf"(\d{{4}}|\d(?:{_PS}\d){{3}})((?: {{1,2}}|\n| ?[./-] ?)?)([A-Za-z])(?![A-Za-z0-9])"
)
# One-time codes typed with separators: single digits or pairs, joined by one or two spaces, a newline, a comma,
# a hyphen or a dot ("4 8 2 9 1 3", "4  8  2  9  1  3", "4 8-2 9-1 3", "48 29 13", "48,29,13", "2 48 29 13",
# "4.8.2.9.1.3"); the whole run, not inside a longer one (a 3- or 4-digit group after it, as in the amount
# "12 50 000" or the date "12 05 2024", stops it). _code_run() then wants 6 digits or more and refuses pairs
# joined by `-` or `.` (dates: 48-29-13, 01-05-24, 12.05.24) and a `.` mixed with other separators ("1.5, 2.5").
_CS = r"(?: {1,2}|\n|[,.-] ?)"
SPACED_CODE_RE = re.compile(rf"(?<![\w.,:/-])(?<!\d[ \n])\d\d?(?:{_CS}\d\d?)+(?![\w:/]|{_CS}\d)")
# A code typed 4 + 2 or 2 + 4 with one space ("4829 13", "48 2913"); the price: "sip 5000 12 times" and "12 2024"
# in a log line lose their digits too. A time ("2024 10:30") or a longer run is left.
SPLIT_CODE_RE = re.compile(r"(?<![\w.,:/-])(?<!\d[ \n])(?:\d{4} \d\d|\d\d \d{4})(?![\w:/]|[ \n,.-]\d)")
# A code right after the word otp, code, pin or passcode (any case, glued or after `:`, `#`, `-`, "is"):
# "code otp482913", "OTP: 4829", "pin-12345678". 4 to 8 digits; "pincode 560001" is CODE_RE's (6 digits).
KEYWORD_CODE_RE = re.compile(r"(?i)(?<![a-z])(?:otp|code|pin|passcode)(?:\s*(?:is\b|[:#-]))*\s*(\d{4,8})(?!\w|[.,]\d)")
# One-time codes: 6 digits standing alone ("482913", "482 913", "482  913", "482-913", a newline inside); not
# inside a longer number, an identifier made of letters and digits (message ids, hashes) or a decimal fraction
# (a confidence of 0.912345, or "482.913").
CODE_RE = re.compile(r"(?<![A-Za-z0-9])(?<!\d\.)\d{3}(?: {1,2}|\n|-)?\d{3}(?![A-Za-z0-9])")
# Format characters (zero-width space, joiners, BOM) are deleted, dashes become "-", whitespace but a newline a
# space (a newline stays, for tracebacks; the patterns above take it as a separator where a space would do).
_ASCII_SPACES = str.maketrans({"\t": " ", "\r": " ", "\x0b": " ", "\x0c": " "})


def normalise(text: str) -> str:
    """What the patterns match against: Unicode NFKC (full-width letters, digits and `＠` become ASCII), format
    characters (category Cf: zero-width space, joiners, BOM) deleted, every dash (category Pd, also `−`) a
    hyphen, every whitespace but a newline a space."""
    if not text.isascii():
        text = "".join(_normal_char(ch) for ch in unicodedata.normalize("NFKC", text))
    return text.translate(_ASCII_SPACES)


def _normal_char(ch: str) -> str:
    category = unicodedata.category(ch)
    if category == "Cf":
        return ""
    if category == "Pd" or ch == "\u2212":
        return "-"
    return " " if ch.isspace() and ch != "\n" else ch


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

    The text is normalised first (see `normalise`: NFKC, no zero-width characters, one kind of dash and space;
    newlines stay) and returned normalised. Both modes mask: PANs written together in any case, also glued to a word
    ("panABCDE1234F"), typed with separators or spelled out ("ABCPE 1234 F", "A.B.C.P.E.1.2.3.4.F") when its fourth
    letter names a kind of holder, as a real PAN's does (strict: any such shape; mixed case only when the last
    letter is not a word "I"/"a"/"A" of its own, for "in March 2024 I"); e-mail addresses, also with spaces around
    `@`, non-ASCII local parts or domains, URL-encoded (`%40`) or spelled out with a known TLD ("ramesh at gmail
    dot com", "ramesh[at]example.com"); UPI handles; mobiles as ten digits (+91 or 91 before them allowed); Aadhaar
    and card numbers in groups of four; folio and account numbers of 8 digits or more, also as a run of three or
    more digit groups joined by a space, hyphen or dot with at least two groups of 4 digits or more
    ("1234.5678.9012", "00-1234-5678-90"); and, after the word folio, a/c, acct, acc or account, any such run or number
    of 7 digits or more ("folio 1234567", "folio 1234 5678", "account no.1234567"). A run whose long groups are all
    years and whose other groups have at most two digits is a date and stays (15-08-2024, 2024-05-01, 12.05.2024).

    `strict=True` is for log lines, rating comments, the Review page and its export, where nobody needs a number and
    a false positive costs little. It also masks: one-time codes (mask_codes: every 6-digit number standing alone,
    so an amount of 100000 too; 4 to 8 digits after otp/code/pin/passcode; codes typed digit by digit or in pairs,
    4 + 2 or 2 + 4 -- so a date written with spaces, 01 05 24, and "5000 12" too); mobiles in any grouping and
    separator ("98765 43210", "98.76.54.32.10", "+91 (98765) 43210", "098765 43210" -- so a range like 60000-90000
    too); two-group account runs ("1234 5678", so a range 5000-9000 too; two groups joined by a dot are a decimal
    and stay) and folios of 5 to 7 digits with a suffix ("1234567/89", "1234567 / 89", "1234567-89",
    "HDF1234567/89"). Dates, times, amounts of up to 5 digits standing alone, decimal numbers, hexadecimal or UUID
    identifiers and paths stay as they are. Transcripts that agents read use the default, which leaves amounts (and
    the typed forms above, which amounts can look like) alone.
    """
    if not text:
        return text
    text = normalise(text)
    text = PAN_RE.sub(lambda m: mask_pan(m.group(0)), text)
    text = SPACED_PAN_RE.sub(_pan if strict else _holder_pan, text)
    text = AADHAAR_CARD_RE.sub(lambda m: re.sub(r"\d", "X", m.group(0)[:-4]) + m.group(0)[-4:], text)
    text = EMAIL_RE.sub(lambda m: f"{m.group(1)}{'*' * max(len(m.group(2)), 1)}{m.group(3)}{m.group(4)}", text)
    text = SPELLED_EMAIL_RE.sub(lambda m: f"{m.group(1)}{'*' * max(len(m.group(2)), 1)}{m.group(3)}", text)
    text = UPI_RE.sub(lambda m: f"{m.group(1)}{'*' * max(len(m.group(2)), 1)}@{m.group(3)}", text)
    text = PHONE_RE.sub(lambda m: (m.group(1) or "") + "XXXXXX" + m.group(2)[-4:], text)
    if strict:
        text = _strict_before_accounts(text)
    text = GROUPED_ACCOUNT_RE.sub(lambda m: _account_run(m, strict), text)
    text = ACCOUNT_RE.sub(lambda m: "X" * len(m.group(1)) + m.group(2) + (f"/{m.group(3)}" if m.group(3) else ""), text)
    return _mask_codes(text) if strict else text


_CUT_DIGITS_RE = re.compile(r"\d[\d -]*$")


def _xs(match: re.Match[str]) -> str:
    return re.sub(r"\d", "X", match.group(0))


def _keep_last_four(run: str) -> str:
    """Every digit of `run` but the last four becomes X; separators stay."""
    hide = sum(ch.isdigit() for ch in run) - 4
    out = []
    for ch in run:
        if ch.isdigit() and hide > 0:
            out.append("X")
            hide -= 1
        else:
            out.append(ch)
    return "".join(out)


def mask_codes(text: str, *, cut: bool = False) -> str:
    """Every digit of a one-time code becomes X: 4 to 8 digits after otp/code/pin/passcode (KEYWORD_CODE_RE),
    single digits or pairs typed with separators (SPACED_CODE_RE: 6 digits or more, not pairs joined by `-` or
    `.`, which are dates), 4 + 2 / 2 + 4 digits (SPLIT_CODE_RE), and six digits standing alone (CODE_RE). The
    text is normalised first (see `normalise`) and returned normalised. Strict masking applies it; so does the
    inbox, where agents read transcripts masked by default but must never see a code. A date written with
    spaces (01 05 24) cannot be told from a code and is masked. `cut` (a truncated preview): also a trailing run
    of digits, which may be the start of a code."""
    text = _mask_codes(normalise(text))
    return _CUT_DIGITS_RE.sub(_xs, text) if cut else text


def _mask_codes(text: str) -> str:
    """mask_codes on text already normalised (mask_text's strict pass: a log line is normalised once)."""
    text = KEYWORD_CODE_RE.sub(_xs, text)
    text = SPLIT_CODE_RE.sub(_xs, SPACED_CODE_RE.sub(_code_run, text))
    return CODE_RE.sub(_xs, text)


def _code_run(match: re.Match[str]) -> str:
    """A run SPACED_CODE_RE found, masked if it is a code (see there)."""
    run = match.group(0)
    groups, seps = re.findall(r"\d+", run), [s.strip() for s in re.findall(r"\D+", run)]
    if sum(len(g) for g in groups) < 6:
        return run
    if "." in seps and (set(seps) != {"."} or any(len(g) > 1 for g in groups)):
        return run  # a list of decimals (1.5, 2.5, 3.5) or a dotted date (12.05.24)
    if any(len(g) == 2 for g in groups) and any(s in {"-", "."} for s in seps):
        return run  # pairs joined by hyphens: a date (48-29-13, 01-05-24)
    return _xs(match)


def _strict_before_accounts(text: str) -> str:
    """Mobiles and short folios as people type them (strict masking only)."""
    text = TYPED_PHONE_RE.sub(_phone, text)
    return SHORT_FOLIO_RE.sub(lambda m: "X" * len(m.group(1)) + m.group(2) + m.group(3) + m.group(4), text)


def _pan(match: re.Match[str]) -> str:
    """A PAN SPACED_PAN_RE found, masked unless it is prose such as "in March 2024 I asked"."""
    letters = re.sub(r"[^A-Za-z]", "", match.group(1)) + match.group(5)
    mixed = not (letters.isupper() or letters.islower())
    if mixed and " " in match.group(4) and match.group(5) in {"I", "a", "A"}:
        return match.group(0)
    return mask_pan(letters[:5] + re.sub(r"\D", "", match.group(3)) + letters[5])


def _holder_pan(match: re.Match[str]) -> str:
    """A PAN SPACED_PAN_RE found, masked in agents' transcripts only when it cannot be prose: its fourth letter
    names a kind of holder (P for a person, C for a company, H, F, A, T, B, L, J, G), as every PAN's does, and
    it is spelled letter by letter or typed in capitals, and its last letter is no word of its own ("MARCH 2024 I
    STARTED", "TOTAL 5000 A MONTH", "TOTAL 5000 X 12") nor the start of "p.m." or "a/c". So "since 2019 i",
    "total 5000 a month" and "above 5000 a month" stay readable; strict masking takes them all."""
    letters = re.sub(r"[^A-Za-z]", "", match.group(1)) + match.group(5)
    if letters[3].upper() not in PAN_HOLDER_KINDS:
        return match.group(0)
    after = match.string[match.end() :]
    spelled = len(match.group(1)) > 5
    word = (letters[5] in "AI" and re.match(r" +[A-Za-z]", after)) or (letters[5] == "X" and re.match(r" *\d", after))
    if not spelled and (not letters.isupper() or word or re.match(r"[./][A-Za-z]", after)):
        return match.group(0)
    return _pan(match)


def _phone(match: re.Match[str]) -> str:
    """A mobile TYPED_PHONE_RE found, masked unless it is a decimal or a list of them (see there)."""
    body = match.group(2)
    seps = [s.strip(" ()") or " " for s in re.findall(r"\D+", body.lstrip("("))]
    odd = {s for s in seps if s in {".", "/"}}
    if odd and (set(seps) != odd or (len(seps) == 1 and len(re.findall(r"\d+", body)[0]) != 5)):
        return match.group(0)
    prefix = re.sub(r"[()]", "", match.group(1) or "")
    return prefix + "XXXXXX" + re.sub(r"\D", "", body)[-4:]


def _account_run(match: re.Match[str], strict: bool) -> str:
    """A run GROUPED_ACCOUNT_RE found, masked but for its last four digits if it is a folio or account."""
    keyed, run = match.group(1) or "", match.group(2)
    if DATED_RUN_RE.match(run):
        return match.group(0)  # a date, then an amount or a time: "05-04-2024 5000", "01.04.2024 5000.00"
    groups = re.split(r"[ .-]", run)
    digits = sum(len(g) for g in groups)
    long = [g for g in groups if len(g) >= 4]
    if all(re.fullmatch(r"(?:19|20)\d\d", g) for g in long) and all(len(g) <= 2 for g in groups if len(g) < 4):
        return match.group(0)  # a date, or dates
    several = len(groups) > 2 or (strict and "." not in run)  # two groups: a decimal, or (default) a range
    if (keyed and digits >= 7) or (len(long) >= 2 and digits >= 8 and several):
        return keyed + _keep_last_four(run)
    return match.group(0)
