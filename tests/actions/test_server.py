"""The action server's door (actions/server.py) and its metrics, on a real `python -m actions.server` process."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from actions.metrics import endpoint_label
from actions.server import correlation_of
from tests.e2e_support.stack import ACTION_TOKEN, AccountsApi, action_server_env, http_json, start_action_server
from tests.support.processes import ServiceProcess, free_port


@pytest.fixture(scope="module")
def server(accounts_api: AccountsApi, redis_url: str, run_id: str) -> Iterator[str]:
    metrics_port = free_port()
    env = action_server_env(accounts_api, redis_url, f"{run_id}:srv:", {"METRICS_PORT": str(metrics_port)})
    process: ServiceProcess
    process, url = start_action_server(env, name="actions-door")
    SCRAPE[url.rsplit("/webhook", 1)[0]] = f"http://127.0.0.1:{metrics_port}/metrics"
    yield url.rsplit("/webhook", 1)[0]
    process.stop()


SCRAPE: dict[str, str] = {}  # service URL -> its metrics URL (the metrics port is apart from the service's)


def scrape(base: str) -> str:
    with urllib.request.urlopen(SCRAPE[base], timeout=10) as response:
        return response.read().decode()


def metric(text: str, line_start: str) -> float:
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)]
    return sum(values)


def test_refusals_are_counted_by_reason(server: str) -> None:
    before = metric(scrape(server), 'mfa_actions_refused_total{reason="unauthenticated"}')
    assert http_json("POST", f"{server}/webhook", {"next_action": "action_check_nav"})[0] == 401
    assert metric(scrape(server), 'mfa_actions_refused_total{reason="unauthenticated"}') == before + 1


def test_an_authenticated_answer_is_measured_by_endpoint_template(server: str) -> None:
    call = {"next_action": "action_check_nav", "sender_id": "919800000099", "version": "3.6.2", "domain": {},
            "tracker": {"sender_id": "919800000099", "slots": {}, "paused": False, "followup_action": None,
                        "active_loop": {}, "latest_action_name": "action_listen", "events": [],
                        "latest_message": {"intent": {"name": "check_nav"}, "text": "nav flexi cap",
                                           "entities": [{"entity": "scheme", "value": "flexi cap"}]}}}
    status, body, _ = http_json("POST", f"{server}/webhook", call, {"Authorization": f"Bearer {ACTION_TOKEN}"})
    assert status == 200 and "NAV" in str(body)
    text = scrape(server)
    assert metric(text, 'mfa_accounts_api_request_seconds_count{endpoint="GET /v1/navs",outcome="ok"}') >= 1
    assert "919800000099" not in text


def test_readiness_checks_redis_and_liveness_does_not(server: str) -> None:
    assert http_json("GET", f"{server}/health/ready")[0] == 200
    assert http_json("GET", f"{server}/health")[0] == 200


def test_endpoint_labels_never_carry_ids() -> None:
    assert endpoint_label("GET", "/v1/investors/by-mobile/919800000001") == "GET /v1/investors/by-mobile/{id}"
    assert endpoint_label("POST", "/v1/otp/a1b2c3/verify") == "POST /v1/otp/{id}/verify"
    assert endpoint_label("GET", "/v1/navs?q=x") == "GET /v1/navs"


@pytest.mark.parametrize("call", [
    ["a", "list"], "a string", {"next_action": "action_check_nav"}, {"next_action": "action_check_nav", "tracker": "x"},
    {"next_action": "action_check_nav", "tracker": {}}, {"next_action": ["x"], "tracker": {"sender_id": "9198"}},
    {"next_action": "action_check_nav", "tracker": {"sender_id": "9198"}, "version": {"a": 1}},
])
def test_a_malformed_action_call_is_a_clean_400_not_a_500(server: str, call: object) -> None:
    before = metric(scrape(server), 'mfa_actions_refused_total{reason="malformed"}')
    status, body, _ = http_json("POST", f"{server}/webhook", call, {"Authorization": f"Bearer {ACTION_TOKEN}"})
    assert status == 400 and "malformed action call" in str(body), (status, body)
    assert metric(scrape(server), 'mfa_actions_refused_total{reason="malformed"}') == before + 1


def test_a_session_start_is_logged_with_the_message_that_opened_the_session() -> None:
    """Not the previous session's message, which is still the tracker's latest when the session starts."""
    old = {"latest_message": {"message_id": "wamid.OLD"}}
    opened = {"slots": {"session_started_metadata": {"correlation_id": "wamid.NEW"}}, **old}
    assert correlation_of({"next_action": "action_session_start", "tracker": opened}) == "wamid.NEW"
    assert correlation_of({"next_action": "action_session_start", "tracker": {"slots": {}, **old}}) is None
    assert correlation_of({"next_action": "action_check_nav", "tracker": opened}) == "wamid.OLD"
    assert correlation_of({"next_action": "action_check_nav", "tracker": "not a tracker"}) is None
    # a caller's id that is not an id (PII, line breaks, objects, megabytes) is dropped, not logged or forwarded
    for forged in ("PAN Abcde 1234 f 98765.43210", "wamid.X\r\nX-Evil: 1", {"a": "b"}, "x" * 121 + "9876543210"):
        opened_by = {"slots": {"session_started_metadata": {"correlation_id": forged}}}
        assert correlation_of({"next_action": "action_session_start", "tracker": opened_by}) is None, forged
