"""Out-of-scope kinds: learnt one by one, reported as the taxonomy's single `out_of_scope`, with the kind kept.

The training data teaches each kind of out-of-scope question as its own intent (`out_of_scope_stock_market`,
`out_of_scope_loans`, ...; bot/taxonomy.py lists them). One label for everything from share prices to
cricket would ask DIET to place a single embedding near very different messages; a label per kind keeps each
one compact and close to what it resembles, which is what lets it win against the FAQ topic it looks like
("tax saver FD lock in" vs ELSS lock-in). After classification this component folds them back: their
confidences are summed into one `out_of_scope` entry (the probability that the message is out of scope at
all, which is what the fallback threshold should compare), and the most likely kind is added as the
`scope_kind` entity, which fills the slot that picks the scope reply (domain/scope.yml).
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot.components.base import RankingStep
from bot.taxonomy import OUT_OF_SCOPE, SCOPE_KIND_ENTITY, SCOPE_KIND_PREFIX


def fold_kinds(ranking: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None, float]:
    """The ranking with every kind summed into `out_of_scope`, the likeliest kind, and its share of the sum."""
    kinds = [r for r in ranking if str(r[INTENT_NAME_KEY]).startswith(SCOPE_KIND_PREFIX)]
    if not kinds:
        return ranking, None, 0.0
    rest = [r for r in ranking if r not in kinds and r[INTENT_NAME_KEY] != OUT_OF_SCOPE]
    plain = sum(float(r[PREDICTED_CONFIDENCE_KEY]) for r in ranking if r[INTENT_NAME_KEY] == OUT_OF_SCOPE)
    total = plain + sum(float(r[PREDICTED_CONFIDENCE_KEY]) for r in kinds)
    best = max(kinds, key=lambda r: float(r[PREDICTED_CONFIDENCE_KEY]))
    folded = [*rest, {INTENT_NAME_KEY: OUT_OF_SCOPE, PREDICTED_CONFIDENCE_KEY: total}]
    folded.sort(key=lambda r: -float(r[PREDICTED_CONFIDENCE_KEY]))
    share = float(best[PREDICTED_CONFIDENCE_KEY]) / total if total else 0.0
    return folded, str(best[INTENT_NAME_KEY])[len(SCOPE_KIND_PREFIX) :], share


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class ScopeKinds(RankingStep):
    """Folds `out_of_scope_<kind>` predictions into `out_of_scope` and adds the kind as an entity."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"ranking_length": 10}  # intents kept in the output ranking, after folding

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            ranking, kind, share = fold_kinds(message.get(INTENT_RANKING_KEY) or [])
            if kind is None:
                continue
            message.set(INTENT_RANKING_KEY, ranking[: self.config["ranking_length"] or None], add_to_output=True)
            message.set(INTENT, dict(ranking[0]), add_to_output=True)
            if ranking[0][INTENT_NAME_KEY] == OUT_OF_SCOPE:
                entity = {
                    "entity": SCOPE_KIND_ENTITY,
                    "value": kind,
                    "start": 0,
                    "end": len(message.get(TEXT) or ""),
                    "confidence_entity": round(share, 4),
                    "extractor": self.__class__.__name__,
                }
                message.set(ENTITIES, [*(message.get(ENTITIES) or []), entity], add_to_output=True)
        return messages
