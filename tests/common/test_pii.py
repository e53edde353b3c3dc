import logging

from common.pii import PIIMaskingFilter, mask_account, mask_email, mask_pan, mask_phone, mask_text


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


def test_logging_filter_masks_arguments_before_any_handler_writes() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "investor %s pan %s", ("919876543210", "ABCDE1234F"), None
    )
    assert PIIMaskingFilter().filter(record)
    assert record.getMessage() == "investor 91XXXXXX3210 pan ABXXXXX34F"
