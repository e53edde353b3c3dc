"""The action server's Prometheus metrics (served at `/metrics` by actions/server.py).

Names follow Prometheus conventions (`mfa_<what>_<unit>`, counters end in `_total`); labels take a small fixed set
of values: an endpoint template, an outcome, a reason -- never a phone number or an id. The catalogue of every
service's metrics, with the alerts built on them, is in docs/runbook.md.
"""

from __future__ import annotations

import re

from prometheus_client import Counter, Gauge, Histogram

API_SECONDS = Histogram(
    "mfa_accounts_api_request_seconds",
    "Account API calls (with their retries), by endpoint template and outcome.",
    ["endpoint", "outcome"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
)
BREAKER_OPEN = Gauge("mfa_accounts_breaker_open", "1 while the account API's circuit breaker is open.")
CACHE_REQUESTS = Counter("mfa_accounts_cache_requests_total", "Cache look-ups of account data.", ["result"])
OTP_ISSUED = Counter("mfa_accounts_otp_issued_total", "One-time passwords asked for, by outcome.", ["outcome"])
REFUSED = Counter("mfa_actions_refused_total", "Calls the action server refused, by reason.", ["reason"])
CALLS = Counter("mfa_actions_calls_total", "Action calls accepted, by action (the domain's custom actions).",
                ["action"])

for _result in ("hit", "miss"):
    CACHE_REQUESTS.labels(_result)
for _outcome in ("sent", "rate_limited"):
    OTP_ISSUED.labels(_outcome)

_ID_SEGMENT = re.compile(r"^(?=.*\d)[^/]+$")


def endpoint_label(method: str, path: str) -> str:
    """`GET /v1/investors/by-mobile/9198...` -> `GET /v1/investors/by-mobile/{id}`: bounded label values."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    templated = [parts[0], *("{id}" if _ID_SEGMENT.match(p) else p for p in parts[1:])] if parts else []
    return f"{method} /{'/'.join(templated)}"
