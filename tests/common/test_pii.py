from common.pii import mask_account, mask_email, mask_pan, mask_phone, mask_text


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
    assert mask_text("otp 4 8 2 9 1 3, call 98 76 54 32 10, PAN ABCDE 1234 F, folio 1234567/89") == (
        "otp 4 8 2 9 1 3, call 98 76 54 32 10, PAN ABCDE 1234 F, folio 1234567/89")  # the default is unchanged
