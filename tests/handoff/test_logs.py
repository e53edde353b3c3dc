"""The handoff service logs through common/logs.py: Sanic's own error log of a failed request -- its URL and a
traceback whose database error quotes the investor's message -- comes out as masked JSON lines."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.e2e_support.stack import http_json
from tests.handoff.conftest import handoff_service, user

TOKEN = "test-internal-token"
PAN, PHONE, MAIL, CODE = "ABCDE1234F", "919812345678", "ramesh.k@example.com", "482913"
BANNER = "Agent inbox:"  # handoff/app.py prints its start-up line for the operator on stdout, not as a log record


def test_a_failed_request_is_logged_as_masked_json(pg_url: str, run_id: str) -> None:
    service = handoff_service(f"handoff-logs-{run_id}", database_url=pg_url, HANDOFF_INTERNAL_TOKEN=TOKEN)
    event = user(PHONE, time.time(), f"my PAN {PAN}, mail {MAIL}, code {CODE}")
    event["parse_data"]["intent"]["confidence"] = f"sure, {PAN}"  # not a number: PostgreSQL refuses the row
    url_with_pii = f"/internal/events?from={MAIL.replace('@', '%40')}&pan={PAN}"
    with service:
        status, body, _ = http_json("POST", service.url + url_with_pii, [event],
                                    {"Authorization": f"Bearer {TOKEN}"})
        assert status == 500, body
    log = service.log_path.read_text()
    for secret in (PAN, PHONE, PHONE[2:], MAIL, CODE):
        assert secret not in log, f"{secret} in the handoff log:\n{log[-4000:]}"
    lines = [json.loads(line) for line in log.splitlines() if line and not line.startswith(BANNER)]
    assert all(line["service"] == "handoff" and line["level"] for line in lines)
    failures = [line for line in lines if line["logger"] == "sanic.error" and "exc" in line]
    assert failures, log[-4000:]
    failure: dict[str, Any] = failures[-1]
    assert "r*******%40example.com" in failure["message"] and "ABXXXXX34F" in failure["message"]
    assert "DataError" in failure["exc"]  # which quotes the row: the investor's message, masked
    assert "my PAN ABXXXXX34F, mail r*******@example.com, code XXXXXX" in failure["exc"]
