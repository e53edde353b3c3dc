"""The lists the actions keep agree with the domain (domain/*.yml) and the taxonomy (bot/taxonomy.py).

The domain is the one place for intents, responses and action names; the actions package holds what Rasa cannot
(menu titles, which answers exist): these tests fail the moment the two drift apart.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import yaml
from rasa_sdk import Action

from actions.base import ARG_ENTITIES, REGISTRY, AccountAction, load_actions
from actions.fallback import FAQ_SUGGESTIONS, intent_suggestions
from actions.handoff import REASON_SLOT
from bot.taxonomy import ACCOUNT_INTENTS, FAQ_TOPICS
from connectors.capabilities import WHATSAPP

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "domain"


def domain() -> dict[str, Any]:
    """The domain as Rasa merges a directory: lists concatenated, mappings merged."""
    merged: dict[str, Any] = {"intents": [], "entities": [], "actions": [], "responses": {}, "slots": {}}
    for path in sorted(DOMAIN.glob("*.yml")):
        part = yaml.safe_load(path.read_text()) or {}
        for key in ("intents", "entities"):
            merged[key] += [i if isinstance(i, str) else next(iter(i)) for i in part.get(key) or []]
        merged["actions"] += part.get("actions") or []
        merged["responses"].update(part.get("responses") or {})
        merged["slots"].update(part.get("slots") or {})
    return merged


def literal_arguments(call: str, keyword: str | None = None) -> set[str]:
    """Every string literal passed to `call(...)` in the actions package: first argument, or `keyword=`."""
    found: set[str] = set()
    for path in (ROOT / "actions").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == call):
                continue
            values = [kw.value for kw in node.keywords if kw.arg == keyword] if keyword else node.args[:1]
            found |= {v.value for v in values if isinstance(v, ast.Constant) and isinstance(v.value, str)}
    return found


def our_actions() -> dict[str, type[Action]]:
    """Every concrete action class of the actions package, by the name Rasa calls it."""
    load_actions()
    found: dict[str, type[Action]] = {}
    pending = list(Action.__subclasses__())
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if cls.__module__.startswith("actions.") and not inspect.isabstract(cls):
            found[cls().name()] = cls
    return found


def test_the_fallback_menu_offers_every_account_intent_and_nothing_else() -> None:
    intents = set(domain()["intents"])
    assert set(intent_suggestions()) == set(ACCOUNT_INTENTS) <= intents
    assert all(payload == f"/{intent}" for intent, (_, payload) in intent_suggestions().items())


def test_the_faq_suggestions_cover_every_faq_answer() -> None:
    answered = {name.split("/", 1)[1] for name in domain()["responses"] if name.startswith("utter_faq/")}
    assert set(FAQ_SUGGESTIONS) == answered == set(FAQ_TOPICS)


def test_every_button_title_fits_whatsapp() -> None:
    titles = [title for title, _ in [*intent_suggestions().values(), *FAQ_SUGGESTIONS.values()]]
    assert all(0 < len(title) <= WHATSAPP.button_title_max for title in titles), titles


def test_every_registered_answer_is_a_domain_action_and_every_domain_action_is_ours() -> None:
    declared = set(domain()["actions"])
    assert {cls().name() for cls in load_actions().values()} <= declared
    assert set(our_actions()) == declared
    assert all(issubclass(cls, AccountAction) and cls.intent == intent for intent, cls in REGISTRY.items())


def test_slots_responses_and_entities_the_actions_name_are_in_the_domain() -> None:
    d = domain()
    slots = literal_arguments("SlotSet") | {REASON_SLOT}
    assert slots and slots <= set(d["slots"]), slots - set(d["slots"])
    responses = literal_arguments("utter_message", "response")
    assert responses and responses <= set(d["responses"]), responses - set(d["responses"])
    assert set(ARG_ENTITIES) <= set(d["entities"]), set(ARG_ENTITIES) - set(d["entities"])
