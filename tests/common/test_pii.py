import pytest

from common.pii import mask_account, mask_codes, mask_email, mask_pan, mask_phone, mask_text


def test_pan_keeps_what_an_investor_recognises() -> None:
    assert mask_pan("abcde1234f") == "ABXXXXX34F"


def test_phone_keeps_country_code_and_last_four() -> None:
    assert mask_phone("919876543210") == "91XXXXXX3210"
    assert mask_phone("+91 98765 43210") == "91XXXXXX3210"
    assert mask_phone("9876543210") == "XXXXXX3210"


def test_email_and_account() -> None:
    assert mask_email("ramesh.k@example.com") == "r*******@example.com"
    assert mask_account("12345678901") == "XXXXXXX8901"


def test_free_text_masks_every_kind_and_leaves_the_rest() -> None:
    text = "PAN ABCDE1234F, mobile +91 9876543210, mail a.b@x.in, folio 1234567890/12, sip of 5000 on 5th"
    masked = mask_text(text)
    assert "ABCDE1234F" not in masked and "ABXXXXX34F" in masked
    assert "9876543210" not in masked and "3210" in masked
    assert "a.b@x.in" not in masked
    assert "1234567890" not in masked and "XXXXXX7890/12" in masked
    assert "sip of 5000 on 5th" in masked  # short numbers (amounts, dates) are not PII


def test_strict_masking_for_logs_adds_codes_and_spaced_mobiles() -> None:
    text = "code 482913, again 482 913 / 482-913, call 98765 43210 or 98765-43210, PAN ABCDE1234F, a.b@x.in"
    masked = mask_text(text, strict=True)
    for secret in ("482913", "482 913", "482-913", "98765 43210", "98765-43210", "ABCDE1234F", "a.b@x.in"):
        assert secret not in masked, secret
    assert "code XXXXXX, again XXX XXX / XXX-XXX, call XXXXXX3210 or XXXXXX3210" in masked


def test_strict_masking_keeps_the_other_masks_and_identifiers() -> None:
    text = "PAN ABCDE1234F, mobile +91 9876543210, mail a.b@x.in, folio 1234567890/12, sip of 5000 on 5th"
    assert mask_text(text, strict=True) == mask_text(text)  # no 6-digit number here: the same as the default
    ids = "wamid.HBgM123456AB req 3f2a123456bc port 5005 on 2024-05-01 sender "
    assert mask_text(ids + "919876543210", strict=True) == ids + "91XXXXXX3210"
    assert mask_text("amount 100000", strict=True) == "amount XXXXXX"  # the price of masking codes in logs
    confidences = "confidence 0.912345 or 0.9998745681 or 0.99987456812345678"
    assert mask_text(confidences, strict=True) == confidences


def test_default_masking_leaves_amounts_and_codes_to_the_agent() -> None:
    assert mask_text("redeem 100000 or 60000-90000, code 482913") == "redeem 100000 or 60000-90000, code 482913"


def test_url_encoded_email_is_masked() -> None:
    assert mask_text("GET /x?email=ramesh.k%40example.com") == "GET /x?email=r*******%40example.com"


def test_aadhaar_card_and_upi_handles_are_masked() -> None:
    """Found by the attack on the local stack: these reached the inbox and the logs as typed."""
    masked = mask_text("aadhaar 1234 5678 9012, card 4111-1111-1111-1111, upi ramesh@okicici, PAN_ABCPK1234L")
    for secret in ("1234 5678", "4111-1111-1111", "ramesh@", "ABCPK1234L"):
        assert secret not in masked, masked
    assert "9012" in masked and "r*****@okicici" in masked  # enough for the investor to recognise their own


def test_strict_masking_takes_what_people_type_with_spaces() -> None:
    """Found by the attack on the Review page: these reached it and the export as typed (strict masking)."""
    typed = {
        "folio 1234567/89 please": "folio XXX4567/89 please",
        "PAN ABCDE 1234 F": "PAN ABXXXXX34F",
        "pan abcde 1234 f or abcde1234f": "pan ABXXXXX34F or ABXXXXX34F",
        "PAN ABCDE-1234-F": "PAN ABXXXXX34F",
        "otp 4 8 2 9 1 3": "otp X X X X X X",
        "otp 4-8-2-9-1-3": "otp X-X-X-X-X-X",
        "otp 48 29 13.": "otp XX XX XX.",
        "call 98 76 54 32 10": "call XXXXXX3210",
        "call +91 98765 43210": "call +91 XXXXXX3210",
        "call +91 98 76 54 32 10 or 987 654 3210": "call +91 XXXXXX3210 or XXXXXX3210",
    }
    for text, expected in typed.items():
        assert mask_text(text, strict=True) == expected, text


def test_strict_masking_still_leaves_dates_times_amounts_and_ids_in_log_lines() -> None:
    lines = [
        "at 2024-05-01 10:30:45, on 01/05/2024, 01-05-24 and 2024/05/01, 12 05 2024, 10:30 IST",
        "sip of 5000, 60000 units, 12345 rupees, in March 2024 I asked, v1.2.3",
        "ticket 42 message 1234567 req 3f2a1234-5678-9abc-def0-1234abcd5678 sha 9f86d081884c7d659a2feaa0c55ad015",
        "wamid.HBgM123456AB took 0.912345 s, path /api/tickets/17/messages/1234567",
    ]
    for line in lines:
        assert mask_text(line, strict=True) == line
    assert mask_text("otp 4 8 2 9 1 3, call 98 76 54 32 10, PAN ABCPE 1234 F, folio 1234567/89") == (
        "otp 4 8 2 9 1 3, call 98 76 54 32 10, PAN ABXXXXX34F, folio XXX4567/89")  # the default: the PAN and folio


# Found by a later attack: what still leaked, unchanged unless noted. Each pair: typed, strict masking.
LEAKED_STRICT = [
    # normalisation: full-width, zero-width, every whitespace and dash
    ("ＡＢＣＤＥ１２３４Ｆ", "ABXXXXX34F"),
    ("mail ramesh.k＠example.com", "mail r*******@example.com"),
    ("otp is 482\u200b913", "otp is XXXXXX"),
    ("482\t913, 482\u00a0913, 482\u2013913", "XXX XXX, XXX XXX, XXX-XXX"),
    # PAN
    ("Pan no ABCDE 1234 f pls check", "Pan no ABXXXXX34F pls check"),
    ("Abcde 1234 f is my pan", "ABXXXXX34F is my pan"),
    ("ABCDE  1234  F", "ABXXXXX34F"),
    ("ABCDE.1234.F or ABCDE/1234/F", "ABXXXXX34F or ABXXXXX34F"),
    ("A B C D E 1 2 3 4 F", "ABXXXXX34F"),
    ("A.B.C.D.E.1.2.3.4.F", "ABXXXXX34F"),
    ("panABCDE1234F", "panABXXXXX34F"),
    # mobiles
    ("98765.43210", "XXXXXX3210"),
    ("98.76.54.32.10", "XXXXXX3210"),
    ("98765  43210", "XXXXXX3210"),
    ("98765 - 43210", "XXXXXX3210"),
    ("98765\u201343210", "XXXXXX3210"),
    ("98765/43210", "XXXXXX3210"),
    ("98765\t43210", "XXXXXX3210"),
    ("98765\n43210", "XXXXXX3210"),
    ("+91 (98765) 43210", "+91 XXXXXX3210"),
    ("mobile 098765 43210", "mobile 0XXXXXX3210"),
    # e-mail
    ("ramesh.k at gmail dot com", "r******* at gmail dot com"),
    ("ramesh.k @ example.com", "r******* @ example.com"),
    ("ramesh.k[at]example.com", "r*******[at]example.com"),
    ("x.y (at) mail [dot] co in", "x** (at) mail [dot] co in"),
    ("\u0930\u092e\u0947\u0936@example.com", "\u0930***@example.com"),
    ("ramesh@ex\u00e4mple.com", "r*****@ex\u00e4mple.com"),
    # folio / account
    ("folio 1234 5678", "folio XXXX 5678"),
    ("folio 1234-5678-90", "folio XXXX-XX78-90"),
    ("a/c 00-1234-5678-90", "a/c XX-XXXX-XX78-90"),
    ("HDF1234567/89", "HDFXXX4567/89"),
    ("1234567-89", "XXX4567-89"),
    ("1234567 / 89", "XXX4567 / 89"),
    ("1234.5678.9012", "XXXX.XXXX.9012"),
    ("folio 1234567", "folio XXX4567"),
    # one-time codes
    ("otp 4.8.2.9.1.3", "otp X.X.X.X.X.X"),
    ("code otp482913", "code otpXXXXXX"),
    ("OTP: 4829, pin is 12345", "OTP: XXXX, pin is XXXXX"),
    ("4  8  2  9  1  3", "X  X  X  X  X  X"),
    ("4 8-2 9-1 3", "X X-X X-X X"),
    ("48,29,13", "XX,XX,XX"),
    ("4\n8\n2\n9\n1\n3", "X\nX\nX\nX\nX\nX"),
    ("4829 13 or 48 2913", "XXXX XX or XX XXXX"),
    ("2 48 29 13", "X XX XX XX"),
    ("5 4 8 2 9 1 3", "X X X X X X X"),
    ("01 05 24", "XX XX XX"),  # a date written with spaces cannot be told from a code: masked
]


@pytest.mark.parametrize(("typed", "expected"), LEAKED_STRICT)
def test_strict_masking_takes_what_the_attack_typed(typed: str, expected: str) -> None:
    assert mask_text(typed, strict=True) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ＡＢＣＤＥ１２３４Ｆ", "ABXXXXX34F"),
        ("panABCDE1234F", "panABXXXXX34F"),
        ("ramesh.k at gmail dot com", "r******* at gmail dot com"),
        ("ramesh.k @ example.com", "r******* @ example.com"),
        ("ramesh.k[at]example.com", "r*******[at]example.com"),
        ("\u0930\u092e\u0947\u0936@example.com", "\u0930***@example.com"),
        ("ramesh@ex\u00e4mple.com", "r*****@ex\u00e4mple.com"),
        ("folio 1234 5678", "folio XXXX 5678"),
        ("folio 1234-5678-90", "folio XXXX-XX78-90"),
        ("a/c 00-1234-5678-90", "a/c XX-XXXX-XX78-90"),
        ("1234.5678.9012", "XXXX.XXXX.9012"),
        ("account no: 1234567", "account no: XXX4567"),
        ("account no.1234567 and a/c no.12345678", "account no.XXX4567 and a/c no.XXXX5678"),
        ("Folio No.1234 5678", "Folio No.XXXX 5678"),
        ("PAN ABCPE 1234 F", "PAN ABXXXXX34F"),  # a person's PAN: P in fourth place
        ("pan a.b.c.c.e.1.2.3.4.f", "pan ABXXXXX34F"),  # a company's
        ("in March 2024 I asked, above 5000 a month", "in March 2024 I asked, above 5000 a month"),
        ("ABCDE 1234 F", "ABCDE 1234 F"),  # no PAN has D in fourth place: the agent reads it (strict masks it)
        ("ABCPE\n1234\nF", "ABXXXXX34F"),
        ("Acct. No.1234567, ACC NO:1234567", "Acct. No.XXX4567, ACC NO:XXX4567"),
        ("Folio No:- 1234567 / folio no is: 7654321", "Folio No:- XXX4567 / folio no is: XXX4321"),
        ("account number = 1234567, a/c.7654321", "account number = XXX4567, a/c.XXX4321"),
    ],
)
def test_default_masking_takes_the_unambiguous_forms(typed: str, expected: str) -> None:
    assert mask_text(typed) == expected


# Found by the attack on the first version of the default PAN rule: prose an agent must be able to read.
PROSE = [
    "since 2019 i have been investing in elss", "I pay total 5000 a month in sip", "MARCH 2024 I STARTED SIP",
    "TOTAL 5000 A MONTH", "sip of total 3000 p.m.", "paid march 2024 b/c of bonus", "today 1130 a.m. call me",
    "Invested March 2024 i think", "still 5000 a month is getting debited", "TOTAL 5000 X 12 = 60000",
]


def test_a_date_then_an_amount_or_a_time_is_no_account() -> None:
    for text in ("sip debited on 05-04-2024 5000", "on 01.04.2024 5000.00 debited", "2024-05-12 1130 am"):
        assert mask_text(text) == text == mask_text(text, strict=True)
    assert mask_text("a/c 1234 5678 9012 3456") == "a/c XXXX XXXX XXXX 3456"


@pytest.mark.parametrize("text", PROSE)
def test_default_masking_leaves_prose_that_looks_like_a_spaced_pan(text: str) -> None:
    assert mask_text(text) == text
    assert mask_text(text, strict=True) != text  # logs: a false positive costs little there


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("PAN: ABCPE 1234 F", "PAN: ABXXXXX34F"),
        ("line one\nline two\twith a tab", "line one\nline two with a tab"),  # newlines stay
    ],
)
def test_default_masking_keeps_newlines_and_takes_a_labelled_pan(typed: str, expected: str) -> None:
    assert mask_text(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("otp 4.8.2.9.1.3", "otp X.X.X.X.X.X"),
        ("otp is 482\u200b913", "otp is XXXXXX"),
        ("code otp482913", "code otpXXXXXX"),
        ("PASSCODE#48291", "PASSCODE#XXXXX"),
        ("4  8  2  9  1  3", "X  X  X  X  X  X"),
        ("4 8-2 9-1 3", "X X-X X-X X"),
        ("48,29,13", "XX,XX,XX"),
        ("482\t913 482\u00a0913 482\u2014913", "XXX XXX XXX XXX XXX-XXX"),
        ("4\n8\n2\n9\n1\n3", "X\nX\nX\nX\nX\nX"),
        ("4829 13", "XXXX XX"),
        ("48 2913", "XX XXXX"),
        ("2 48 29 13", "X XX XX XX"),
        ("5 4 8 2 9 1 3", "X X X X X X X"),
    ],
)
def test_mask_codes_takes_codes_however_typed(typed: str, expected: str) -> None:
    assert mask_codes(typed) == expected


KEPT = [
    "482.913", "48-29-13", "01-05-24", "5000", "25000", "10:30", "01/05/2024", "15-08-2024", "12.05.2024",
    "NAV 123.456789", "12 50 000", "2024-05-01 2024-06-01", "in March 2024 I asked", "7123.456789",
    "scores 1.5, 2.5, 3.5", "latency 7.5 8.25 9.1 6.3 4", "status code 200", "I was at home. In the end",
    "12,50,000", "1,00,00,000", "from 15-08-2024 to 12.05.2025",
]


@pytest.mark.parametrize("line", KEPT)
def test_dates_amounts_and_decimals_stay_everywhere(line: str) -> None:
    assert mask_text(line, strict=True) == line
    assert mask_text(line) == line
    assert mask_codes(line) == line


@pytest.mark.timeout(60)
def test_long_runs_are_masked_in_linear_time() -> None:
    """Overlapping character alternatives once made a long non-ASCII word hang the e-mail pattern."""
    for text in ("\u0930" * 20000 + "@x", "1." * 20000, "1234-" * 10000 + "x", "x at " + "a dot " * 10000):
        assert len(mask_text(text, strict=True)) >= len(text) - 10
        assert mask_codes(text)
