"""Scheme names as the NAV look-up needs them: with their plan and option, in Latin script, found once.

Investors copy scheme names from statements: "Axis Bluechip Fund - Direct Plan - Growth". The extractors
find the name ("axis bluechip") but stop before the plan and option, which are what tell the account API's
search (actions/nav.py) which NAV to give. `SchemeSpan` runs after every extractor and
- extends each `scheme` entity over the plan and option words that follow it;
- keeps one entity per span, the longest, first (the NAV action reads the first `scheme` value);
- gives a scheme typed in Devanagari (एक्सिस ब्लूचिप) its romanised name, which the search understands.
"""

from __future__ import annotations

import re
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.components.base import ConfigOnly
from bot.components.hinglish import DEVANAGARI, normalise_text

SCHEME = "scheme"
PLAN_AND_OPTION = re.compile(
    r"(?:\s*[-–—:(),/]*\s*(?:fund|direct|regular|dir|reg|plan|growth|gr|idcw|dividend|div|payout|"
    r"reinvestment|re-investment|option|opt|डायरेक्ट|रेगुलर|प्लान|ग्रोथ|फंड)\b[)]?)+",
    re.IGNORECASE,
)


def extend(text: str, entity: dict[str, Any]) -> dict[str, Any]:
    """The entity stretched over the plan and option words right after it (value cut from the text)."""
    end = int(entity["end"])
    match = PLAN_AND_OPTION.match(text, end)
    if match and match.end() > end:
        end = match.end()
    value = text[int(entity["start"]) : end].strip(" -–—:(,/")
    if DEVANAGARI.search(value):
        value = normalise_text(value)
    return {**entity, "end": end, "value": value}


def schemes(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every entity, with scheme entities extended and overlapping ones reduced to the longest."""
    found = [extend(text, e) for e in entities if e.get("entity") == SCHEME and "start" in e and "end" in e]
    kept: list[dict[str, Any]] = []
    for entity in sorted(found, key=lambda e: (-(int(e["end"]) - int(e["start"])), int(e["start"]))):
        if all(int(entity["end"]) <= int(k["start"]) or int(entity["start"]) >= int(k["end"]) for k in kept):
            kept.append(entity)
    kept.sort(key=lambda e: int(e["start"]))
    return kept + [e for e in entities if e.get("entity") != SCHEME or "start" not in e or "end" not in e]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class SchemeSpan(ConfigOnly):
    """Scheme entities with plan and option, one per span, romanised (see module docstring)."""

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            entities = message.get(ENTITIES) or []
            if any(e.get("entity") == SCHEME for e in entities):
                message.set(ENTITIES, schemes(message.get(TEXT) or "", entities), add_to_output=True)
        return messages
