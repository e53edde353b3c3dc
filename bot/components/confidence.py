"""Confidences that mean something, and a fallback that trusts neither a doubtful intent nor a doubtful FAQ topic.

DIET and the ResponseSelector are trained to separate classes, not to estimate probabilities: their softmax
says 1.00 on almost every message, right or wrong (docs/nlu-pipeline.md, "Calibration"). Two components fix
what the assistant does with that:

- `TemperatureCalibrator` rescales both rankings with one temperature each, p_i^(1/T) / sum_j p_j^(1/T) (the
  same as dividing DIET's similarities by T before its softmax). Temperatures are fitted by
  `python -m bot.calibrate` on out-of-fold predictions of the training data (never on an evaluation set), by
  minimising the negative log-likelihood, and written in config.yml. Rescaling keeps the order of the
  ranking, so accuracy is unchanged; only the confidence gets a meaning a threshold can use.
- `TopicFallbackClassifier` is Rasa's FallbackClassifier plus a second threshold for the FAQ topic: an FAQ
  answer is sent only when the intent is `faq` above the intent threshold *and* the ResponseSelector's own
  confidence in the topic is above `faq_threshold`. Otherwise the message becomes `nlu_fallback` like any
  doubtful one, and actions/fallback.py offers the likely meanings as buttons.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY
from rasa.shared.nlu.training_data.message import Message

from bot.components.base import RankingStep

RESPONSE_SELECTOR = "response_selector"


def rescale(confidences: list[float], temperature: float) -> list[float]:
    """Temperature scaling of a probability vector: softmax(log p / T). T > 1 softens, T < 1 sharpens."""
    if temperature == 1.0 or not confidences:
        return list(confidences)
    powered = [max(c, 1e-12) ** (1.0 / temperature) for c in confidences]
    total = sum(powered)
    return [p / total for p in powered]


def topic_prediction(message: Message, retrieval_intent: str) -> dict[str, Any]:
    """The ResponseSelector's output for one retrieval intent ({} when there is none)."""
    selectors = message.get(RESPONSE_SELECTOR) or {}
    return selectors.get(retrieval_intent) or {}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class TemperatureCalibrator(RankingStep):
    """Rescales the intent ranking and the FAQ-topic ranking with their fitted temperatures (see module doc)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # ranking_length: FAQ topics kept in the output (DIET's and the selector's own ranking_length must be 0,
        # so that the rescaling sees every class; scope.ScopeKinds cuts the intent ranking after folding kinds)
        return {"intent_temperature": 1.0, "topic_temperature": 1.0, "retrieval_intent": "faq", "ranking_length": 10}

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self.calibrate_intents(message)
            self.calibrate_topics(message)
        return messages

    def calibrate_intents(self, message: Message) -> None:
        ranking = message.get(INTENT_RANKING_KEY) or []
        if not ranking:
            return
        scaled = rescale([float(r[PREDICTED_CONFIDENCE_KEY]) for r in ranking], self.config["intent_temperature"])
        ranking = [{**r, PREDICTED_CONFIDENCE_KEY: c} for r, c in zip(ranking, scaled, strict=True)]
        ranking.sort(key=lambda r: -r[PREDICTED_CONFIDENCE_KEY])
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        message.set(INTENT, {**(message.get(INTENT) or {}), **ranking[0]}, add_to_output=True)

    def calibrate_topics(self, message: Message) -> None:
        prediction = topic_prediction(message, self.config["retrieval_intent"])
        ranking = prediction.get("ranking") or []
        if not ranking:
            return
        scaled = rescale([float(r[PREDICTED_CONFIDENCE_KEY]) for r in ranking], self.config["topic_temperature"])
        for entry, confidence in zip(ranking, scaled, strict=True):
            entry[PREDICTED_CONFIDENCE_KEY] = confidence
        ranking.sort(key=lambda r: -r[PREDICTED_CONFIDENCE_KEY])
        prediction["response"][PREDICTED_CONFIDENCE_KEY] = ranking[0][PREDICTED_CONFIDENCE_KEY]
        del ranking[self.config["ranking_length"] or len(ranking) :]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class TopicFallbackClassifier(FallbackClassifier):
    """Rasa's FallbackClassifier (intent threshold, ambiguity) plus a threshold on the FAQ topic's confidence."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**FallbackClassifier.get_default_config(), "faq_threshold": 0.5, "retrieval_intent": "faq"}

    def _should_fallback(self, message: Message) -> bool:
        if super()._should_fallback(message):
            return True
        config = self.component_config
        if (message.get(INTENT) or {}).get(INTENT_NAME_KEY) != config["retrieval_intent"]:
            return False
        response = topic_prediction(message, config["retrieval_intent"]).get("response") or {}
        return float(response.get(PREDICTED_CONFIDENCE_KEY, 0.0)) < config["faq_threshold"]
