"""The served assistant, as a newcomer meets it: Rasa's HTTP server with the trained model.

The held-out set (tests/nlu/heldout.yml) was written independently of the training data; the gate
here is the floor below which the content team must not ship. `make evaluate` gives the full report.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import paths
from bot.nlu_data import load_examples, plain
from tests.e2e_support.stack import start_action_server, start_rasa

HELDOUT_FLOOR = 0.90  # intent and FAQ topic both right; the target is 0.95 (docs/nlu-pipeline.md)
FAR_OOS_FLOOR = (
    0.85  # far-away messages answered with the scope statement; measured 88-94% across trainings (DIET is not seeded)
)


def post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def rasa_server(trained_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Rasa with the trained model and the action server (session start is a custom action)."""
    tmp = tmp_path_factory.mktemp("assistant")
    actions, action_url = start_action_server({"ACCOUNTS_API_URL": "http://127.0.0.1:9"}, name="actions-assistant")
    try:
        rasa, url = start_rasa(trained_model, action_url, tmp, name="rasa-assistant")
        try:
            yield url
        finally:
            rasa.stop()
    finally:
        actions.stop()


def label(parse: dict[str, Any]) -> str:
    intent = parse["intent"]["name"]
    if intent == "faq":
        return str(parse["response_selector"]["faq"]["response"]["intent_response_key"])
    return str(intent)


def test_must_show_questions_are_answered(rasa_server: str) -> None:
    elss = post(
        f"{rasa_server}/webhooks/rest/webhook",
        {"sender": "919800000099", "message": "what is the lock-in period for ELSS?"},
    )
    assert any("3 year" in m.get("text", "").lower() for m in elss), elss
    portfolio = post(f"{rasa_server}/model/parse", {"text": "mera portfolio kitna hai"})
    assert portfolio["intent"]["name"] == "check_portfolio"


def test_far_out_of_scope_gets_the_scope_statement(rasa_server: str) -> None:
    replies = post(
        f"{rasa_server}/webhooks/rest/webhook", {"sender": "919800000098", "message": "who won the ipl final last year"}
    )
    assert any("can't help with that" in m.get("text", "") for m in replies), replies


def test_heldout_phrasing_is_understood(rasa_server: str) -> None:
    examples = load_examples([paths.HELDOUT])
    wrong = []
    for example in examples:
        got = label(post(f"{rasa_server}/model/parse", {"text": plain(example.text)}))
        expected_ok = {example.label} | ({"nlu_fallback"} if example.label == "out_of_scope" else set())
        if got not in expected_ok:
            wrong.append(f"{example.text!r}: expected {example.label}, got {got}")
    accuracy = 1 - len(wrong) / len(examples)
    print(f"held-out accuracy {accuracy:.1%} on {len(examples)} examples")
    assert accuracy >= HELDOUT_FLOOR, f"{accuracy:.1%} < {HELDOUT_FLOOR:.0%}; mistakes:\n" + "\n".join(wrong[:40])


def test_far_away_messages_get_the_scope_statement(rasa_server: str) -> None:
    """Each far-away message, as the first message of its own conversation, gets "I can't help with that"."""
    examples = load_examples([paths.ROOT / "tests" / "nlu" / "out_of_scope_far.yml"])
    missed = []
    for number, example in enumerate(examples):
        replies = post(
            f"{rasa_server}/webhooks/rest/webhook", {"sender": f"9197000{number:05d}", "message": plain(example.text)}
        )
        if not any("can't help with that" in m.get("text", "") for m in replies):
            missed.append(f"{example.text!r} -> {[m.get('text', '')[:60] for m in replies]}")
    share = 1 - len(missed) / len(examples)
    print(f"far-away messages given the scope statement: {share:.1%} of {len(examples)}")
    assert share >= FAR_OOS_FLOOR, f"only {share:.1%}; missed:\n" + "\n".join(missed)
