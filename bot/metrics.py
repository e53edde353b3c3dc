"""Metrics of the Rasa process: what NLU made of each message, and the event outbox.

Rasa 3.6 has no metrics of its own and its Sanic app takes no extra routes from a plugin, so the Rasa process
serves its registry on a port of its own, `RASA_METRICS_PORT` (unset: not served; the deployment sets 9105),
started once by the tracker store (bot/stores.py). Messages are observed where every one of them passes: the
event broker's `publish` (handoff/event_broker.py). Label values are bounded: intents of the fixed taxonomy.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

from common.metrics import serve_metrics

MESSAGES = Counter("mfa_nlu_messages_total", "Investor messages, by the intent NLU chose.", ["intent"])
FALLBACKS = Counter("mfa_nlu_fallbacks_total", "Messages NLU was not sure enough about (nlu_fallback).")
CONFIDENCE = Histogram("mfa_nlu_confidence", "Confidence of the chosen intent.",
                       buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0))
OUTBOX_BACKLOG = Gauge("mfa_outbox_backlog_events", "Tracker events waiting in this replica's outbox.")
OUTBOX_DEAD = Counter("mfa_outbox_dead_letters_total", "Tracker events moved to the outbox's dead letters.")

FALLBACK_INTENT = "nlu_fallback"


def observe_event(event: dict[str, Any]) -> None:
    """Count one tracker event if it is an investor message that NLU classified."""
    if event.get("event") != "user":
        return
    intent = (event.get("parse_data") or {}).get("intent") or {}
    name = intent.get("name")
    if not name:
        return  # media and reactions reach the transcript without a prediction
    MESSAGES.labels(str(name)).inc()
    if name == FALLBACK_INTENT:
        FALLBACKS.inc()
    try:
        CONFIDENCE.observe(float(intent.get("confidence") or 0.0))
    except (TypeError, ValueError):
        pass


def serve() -> int | None:
    """Serve /metrics on RASA_METRICS_PORT (once per process); None when it is not set."""
    return serve_metrics("RASA_METRICS_PORT")
