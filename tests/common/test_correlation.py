"""Correlation ids come from callers (action calls, event metadata): only id-shaped values are kept
(common/logs.py), so a caller cannot write PII, line breaks or megabytes into every log line or header."""

from __future__ import annotations

import pytest

from common.logs import clean_correlation_id, correlated, get_correlation_id, set_correlation_id


@pytest.mark.parametrize("value", [
    "wamid.HBgMOTE5ODExMTAwMDAxFQIAERgSQjY1RDc2Q0E2M0U4QTAwMDAA", "3f2a9c1e-8b7d-4c6e-9f01-23456789abcd",
    "0123456789abcdef0123456789abcdef",
])
def test_ids_of_ours_and_meta_are_kept(value: str) -> None:
    assert clean_correlation_id(value) == value
    with correlated(value):
        assert get_correlation_id() == value


@pytest.mark.parametrize("value", [
    None, "", "PAN ABCDE1234F", "ramesh@example.com", "a\r\nX-Injected: 1", "x" * 129, "९८७६५४३२१०", 42, ["wamid.A"],
])
def test_anything_else_is_no_id(value: object) -> None:
    assert clean_correlation_id(value) is None
    with correlated(value):  # type: ignore[arg-type]
        assert get_correlation_id() is None
    token = set_correlation_id(value)  # type: ignore[arg-type]
    assert get_correlation_id() is None
    token.var.reset(token)
