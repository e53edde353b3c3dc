"""What a parse means for an investor, and how far its confidence can be trusted: shared by evaluation and tuning.

- `Outcome.of(parse)`: what the served assistant does with a parse (answers a label, or refuses: out of scope or
  the fallback), and the classifier's own best guess with its confidence, ignoring thresholds (for calibration).
- `expected_calibration_error` and `reliability`: how well confidence predicts being right (10 equal-width bins).
- `scaled_outcome` and `fit_temperature`: temperature scaling of the raw rankings, fitted by Brier score
  (bot/calibrate.py uses them on a dev split of the training data).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.taxonomy import OUT_OF_SCOPE, SCOPE_KIND_PREFIX

FALLBACK = "nlu_fallback"
REFUSED = {OUT_OF_SCOPE, FALLBACK}
BINS = 10


def base_label(name: str) -> str:
    """A kind of out-of-scope (`out_of_scope_loans`) is `out_of_scope` for every score."""
    return OUT_OF_SCOPE if name.startswith(SCOPE_KIND_PREFIX) else name


def faq_topic(parse: dict[str, Any]) -> tuple[str, float]:
    """The ResponseSelector's topic (`faq/<topic>`) and its confidence."""
    response = (((parse.get("response_selector") or {}).get("faq") or {}).get("response")) or {}
    return str(response.get("intent_response_key") or "faq"), float(response.get("confidence", 1.0))


@dataclass(frozen=True)
class Outcome:
    """One parsed message: what the assistant does, and the classifier's unthresholded best guess."""

    label: str  # served: an intent or `faq/<topic>`, or `out_of_scope` / `nlu_fallback` (a refusal)
    guess: str  # the top label ignoring the fallback, with FAQ topics resolved
    confidence: float  # of the guess: intent confidence, times the topic's for an FAQ

    @property
    def answered(self) -> bool:
        return self.label not in REFUSED

    @classmethod
    def of(cls, parse: dict[str, Any]) -> Outcome:
        intent = str((parse.get("intent") or {}).get("name") or FALLBACK)
        topic, topic_confidence = faq_topic(parse)
        label = topic if intent == "faq" else base_label(intent)
        ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") != FALLBACK]
        if not ranking:
            return cls(label, FALLBACK, 0.0)
        guess, confidence = base_label(str(ranking[0]["name"])), float(ranking[0]["confidence"])
        if guess == "faq":
            guess, confidence = topic, confidence * topic_confidence
        return cls(label, guess, confidence)


def expected_calibration_error(points: Iterable[tuple[float, bool]], bins: int = BINS) -> float:
    """Sum over confidence bins of |accuracy - mean confidence|, weighted by the bin's share of messages."""
    table = reliability(points, bins)
    total = sum(row["count"] for row in table)
    return sum(row["count"] / total * abs(row["accuracy"] - row["confidence"]) for row in table) if total else 0.0


def reliability(points: Iterable[tuple[float, bool]], bins: int = BINS) -> list[dict[str, float]]:
    """Per equal-width confidence bin: messages, mean confidence, share right (empty bins left out)."""
    groups: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for confidence, right in points:
        groups[min(bins - 1, max(0, math.ceil(confidence * bins) - 1))].append((confidence, right))
    return [
        {
            "low": index / bins,
            "high": (index + 1) / bins,
            "count": len(group),
            "confidence": sum(c for c, _ in group) / len(group),
            "accuracy": sum(1 for _, r in group if r) / len(group),
        }
        for index, group in enumerate(groups)
        if group
    ]


def scale(confidences: Sequence[float], temperature: float) -> list[float]:
    """softmax(log p / T), as bot.components.confidence.TemperatureCalibrator does it."""
    from bot.components.confidence import rescale

    return rescale(list(confidences), temperature)


def scaled_outcome(raw: dict[str, Any], intent_t: float, topic_t: float) -> tuple[dict[str, float], dict[str, float]]:
    """Folded intent probabilities and topic probabilities of one raw parse after temperature scaling.

    `raw` holds the full rankings of a model trained with temperatures 1: {"intents": {name: p}, "topics": {...}}.
    """
    names = list(raw["intents"])
    intents: dict[str, float] = {}
    for name, p in zip(names, scale([raw["intents"][n] for n in names], intent_t), strict=True):
        intents[base_label(name)] = intents.get(base_label(name), 0.0) + p
    topic_names = list(raw["topics"])
    topics = dict(zip(topic_names, scale([raw["topics"][n] for n in topic_names], topic_t), strict=True))
    return intents, topics


def brier_score(rows: Sequence[tuple[dict[str, float], str]]) -> float:
    """Mean multi-class Brier score, sum_k (p_k - [k is the label])^2: proper, and bounded, so that a handful of
    confidently wrong messages cannot decide the fit alone (as they do with the log-likelihood)."""
    total = 0.0
    for probabilities, label in rows:
        total += sum((p - (1.0 if k == label else 0.0)) ** 2 for k, p in probabilities.items())
        total += 0.0 if label in probabilities else 1.0
    return total / len(rows) if rows else 0.0


def negative_log_likelihood(rows: Sequence[tuple[dict[str, float], str]]) -> float:
    """Mean -log p(true label) over (probabilities, label) rows; a label missing from its dict counts as 1e-12."""
    return -sum(math.log(max(p.get(label, 0.0), 1e-12)) for p, label in rows) / len(rows) if rows else 0.0


def fit_temperature(loss: Callable[[float], float]) -> float:
    """The temperature with the lowest loss, on a log grid from 0.5 to about 45, then refined around the best."""
    grid: list[float] = [0.5 * 1.1**i for i in range(48)]
    best: float = min(grid, key=loss)
    fine: list[float] = [best * (1 + d / 100) for d in range(-10, 11)]
    chosen: float = min(fine, key=loss)
    return round(chosen, 3)
