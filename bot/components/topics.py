"""A second opinion on every message: DIET over intents and FAQ topics together, averaged with the first.

Rasa's usual shape for FAQs is two models: DIET learns `faq` as one intent (one label embedding asked to sit near
questions about exit loads, KYC, NAV and thirty other things) and a ResponseSelector then picks the topic among FAQ
questions only. The confusions that cost us most cross that line: "update my mobile number" (`update_contact`)
against `faq/update_kyc`, "nav of my fund" (`check_nav`) against `faq/what_is_nav`, and each model decides its half
without seeing the other's classes. `TopicDIETClassifier` is DIET trained on `faq/<topic>` as labels of their own,
beside the account intents and the out-of-scope kinds (the reasoning of bot/components/scope.py), so every topic
competes with every intent in one softmax.

Alone it guesses better on noisy messages and worse on Devanagari, and it is less sure of itself; as a second
opinion it is worth more than either model (docs/nlu-pipeline.md, "fourth round"). Placed after DIET and the
ResponseSelector, it reads their output as one distribution over intents and topics (a topic's probability is the
intent's times the topic's), averages it with its own (`ensemble_weight` is its share), and folds the topics back
into what the rest of the assistant reads: `intent` is `faq` with the topics' summed confidence (the probability that
the message is an FAQ at all), and `response_selector.faq` holds the likeliest topic with its confidence *given* that
it is an FAQ, in the ResponseSelector's own format (`intent_response_key`, `utter_action`, the ranking). Rasa's
`utter_faq` retrieval action, the fallback's suggestions, the calibrator, the thresholds and the analytics work
unchanged. With no classifier before it, it is the only opinion and replaces the ResponseSelector.

Rasa's training-data check looks for its own class names, so training warns that no ResponseSelector, entity
extractor or lookup-table user is configured when this class is the only DIET; with the pipeline of config.yml it
does not.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.constants import (
    RESPONSE_SELECTOR_PREDICTION_KEY,
    RESPONSE_SELECTOR_PROPERTY_NAME,
    RESPONSE_SELECTOR_RANKING_KEY,
    RESPONSE_SELECTOR_RESPONSES_KEY,
    RESPONSE_SELECTOR_RETRIEVAL_INTENTS,
    RESPONSE_SELECTOR_UTTER_ACTION_KEY,
)
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.utils.tensorflow.model_data import RasaModelData


def with_topic_labels(training_data: TrainingData, retrieval_intent: str) -> TrainingData:
    """The same examples, each FAQ question labelled with its full key (`faq/<topic>`) instead of `faq`.

    Copies, never the originals: the graph hands one TrainingData to every component. The label features the
    featurizers computed are left out (they saw `faq` for every topic), so DIET gives each label a one-hot.
    """
    examples = []
    for example in training_data.training_examples:
        key = example.get(INTENT_RESPONSE_KEY)
        label = key if key and example.get(INTENT) == retrieval_intent else example.get(INTENT)
        features = [f for f in example.features if f.attribute not in (INTENT, INTENT_RESPONSE_KEY)]
        examples.append(Message(data={**example.data, INTENT: label} if label else example.data, features=features))
    return TrainingData(examples, training_data.entity_synonyms, training_data.regex_features,
                        training_data.lookup_tables, training_data.responses)


def joint_distribution(message: Message, retrieval_intent: str) -> dict[str, float]:
    """What the classifiers before this one said, as one distribution over intents and `faq/<topic>` labels:
    an FAQ topic's probability is the intent's times the topic's. Empty when no classifier ran before."""
    selector = (message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {}).get(retrieval_intent) or {}
    topics = {str(r[INTENT_RESPONSE_KEY]): float(r[PREDICTED_CONFIDENCE_KEY])
              for r in selector.get(RESPONSE_SELECTOR_RANKING_KEY) or []}
    joint: dict[str, float] = {}
    for entry in message.get(INTENT_RANKING_KEY) or []:
        name, confidence = str(entry[INTENT_NAME_KEY]), float(entry[PREDICTED_CONFIDENCE_KEY])
        if name == retrieval_intent and topics:
            joint.update({key: confidence * share for key, share in topics.items()})
        else:
            joint[name] = confidence
    return joint


def blend(before: dict[str, float], own: dict[str, float], weight: float) -> list[dict[str, Any]]:
    """The weighted mean of two distributions (either alone when the other is empty), as a ranking."""
    labels = before.keys() | own.keys()
    mixed = {label: (1 - weight) * before.get(label, 0.0) + weight * own.get(label, 0.0) for label in labels}
    mixed = mixed if before and own else before or own
    return sorted(({INTENT_NAME_KEY: label, PREDICTED_CONFIDENCE_KEY: p} for label, p in mixed.items()),
                  key=lambda r: -r[PREDICTED_CONFIDENCE_KEY])


def fold_topics(ranking: list[dict[str, Any]], retrieval_intent: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The intent ranking with every `<retrieval_intent>/<topic>` summed into `<retrieval_intent>`, and the
    topic prediction in the ResponseSelector's format (confidences given that the message is of that intent)."""
    prefix = f"{retrieval_intent}/"
    topics = [r for r in ranking if str(r[INTENT_NAME_KEY]).startswith(prefix)]
    if not topics:
        return ranking, {}
    total = sum(float(r[PREDICTED_CONFIDENCE_KEY]) for r in topics)
    rest = [r for r in ranking if r not in topics]
    folded = sorted([*rest, {INTENT_NAME_KEY: retrieval_intent, PREDICTED_CONFIDENCE_KEY: total}],
                    key=lambda r: -float(r[PREDICTED_CONFIDENCE_KEY]))
    shares = sorted(((str(r[INTENT_NAME_KEY]), float(r[PREDICTED_CONFIDENCE_KEY]) / total if total else 0.0)
                     for r in topics), key=lambda pair: -pair[1])
    ranked = [{INTENT_RESPONSE_KEY: key, PREDICTED_CONFIDENCE_KEY: share} for key, share in shares]
    best = ranked[0]
    prediction = {
        RESPONSE_SELECTOR_PREDICTION_KEY: {
            RESPONSE_SELECTOR_RESPONSES_KEY: [],  # the retrieval action reads the texts from the domain
            PREDICTED_CONFIDENCE_KEY: best[PREDICTED_CONFIDENCE_KEY],
            INTENT_RESPONSE_KEY: best[INTENT_RESPONSE_KEY],
            RESPONSE_SELECTOR_UTTER_ACTION_KEY: f"utter_{best[INTENT_RESPONSE_KEY]}",
        },
        RESPONSE_SELECTOR_RANKING_KEY: ranked,
    }
    return folded, prediction


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR],
    is_trainable=True,
)
class TopicDIETClassifier(DIETClassifier):
    """DIET over intents and FAQ topics together; its output folded into `faq` plus a topic (see module doc)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # ensemble_weight: this model's share when a classifier before it in the pipeline already ranked
        return {**DIETClassifier.get_default_config(), "retrieval_intent": "faq", "ensemble_weight": 0.5}

    def preprocess_train_data(self, training_data: TrainingData) -> RasaModelData:
        labelled = with_topic_labels(training_data, self.component_config["retrieval_intent"])
        return super().preprocess_train_data(labelled)

    def process(self, messages: list[Message]) -> list[Message]:
        retrieval_intent = self.component_config["retrieval_intent"]
        before = [joint_distribution(message, retrieval_intent) for message in messages]
        messages = super().process(messages)
        for message, earlier in zip(messages, before, strict=True):
            own = {str(r[INTENT_NAME_KEY]): float(r[PREDICTED_CONFIDENCE_KEY])
                   for r in message.get(INTENT_RANKING_KEY) or []}
            ranking = blend(earlier, own, self.component_config["ensemble_weight"])
            ranking, prediction = fold_topics(ranking, retrieval_intent)
            if not ranking:
                continue
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            message.set(INTENT, dict(ranking[0]), add_to_output=True)
            if prediction:
                selectors = {RESPONSE_SELECTOR_RETRIEVAL_INTENTS: [retrieval_intent], retrieval_intent: prediction}
                message.set(RESPONSE_SELECTOR_PROPERTY_NAME, selectors, add_to_output=True)
        return messages
