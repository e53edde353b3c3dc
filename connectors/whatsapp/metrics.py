"""The WhatsApp channel's Prometheus metrics (the catalogue: docs/runbook.md, "Metrics").

Exported by whichever process runs the code: the webhook gateway (its `/metrics` on METRICS_PORT) and Rasa (its
channel route and its Graph API replies, on RASA_METRICS_PORT). Labels take the few documented values, never a
phone number or a message id.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from prometheus_client import Counter, Gauge, Histogram

WEBHOOKS = Counter("mfa_whatsapp_webhooks_total", "Webhook deliveries from Meta, by outcome and reason.",
                   ["outcome", "reason"])
ACK_SECONDS = Histogram("mfa_whatsapp_webhook_ack_seconds", "From a webhook's arrival to the answer Meta gets.",
                        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
SENDS = Counter("mfa_whatsapp_sends_total", "Graph API send attempts, by outcome and Meta's error code.",
                ["outcome", "code"])
OUTBOUND_CAP = Gauge("mfa_whatsapp_outbound_cap_messages_per_second",
                     "The per-number throughput cap (WHATSAPP_THROUGHPUT_PER_SECOND).")
OUTBOUND_RATE = Gauge("mfa_whatsapp_outbound_messages_per_second", "Messages this process sent in the last second.")
INTAKE_DEPTH = Gauge("mfa_whatsapp_intake_queue_depth", "Messages waiting in the partition's RabbitMQ queue.",
                     ["partition"])
INTAKE_CONSUMERS = Gauge("mfa_whatsapp_intake_consumers", "Consumers on the partition's queue (0: nobody answers).",
                         ["partition"])
INTAKE_DEAD = Counter("mfa_whatsapp_intake_dead_letters_total",
                      "Investor messages given up on (undecodable, or failed WHATSAPP_DELIVERY_LIMIT times).")
WINDOW_REFUSALS = Counter("mfa_whatsapp_window_refusals_total",
                          "Sends refused because the investor's 24-hour window is closed.")


def webhook(outcome: str, reason: str, seconds: float) -> None:
    """One webhook answered: outcome accepted | duplicate | rejected; reason none | signature | payload |
    too_large | unavailable."""
    WEBHOOKS.labels(outcome=outcome, reason=reason).inc()
    ACK_SECONDS.observe(seconds)


def send(outcome: str, code: int | None = None) -> None:
    """One Graph API send attempt: sent | retried | failed, with Meta's error code (or none)."""
    SENDS.labels(outcome=outcome, code=str(code) if code else "none").inc()


_sent_at: deque[float] = deque()
_sent_lock = threading.Lock()  # appended on the event loop, read by the metrics server's thread


def _last_second() -> float:
    cutoff = time.monotonic() - 1.0
    with _sent_lock:
        while _sent_at and _sent_at[0] < cutoff:
            _sent_at.popleft()
        return float(len(_sent_at))


OUTBOUND_RATE.set_function(_last_second)


def sent_message() -> None:
    """A message (not a read receipt) accepted by Meta: counts towards `mfa_whatsapp_outbound_messages_per_second`."""
    now = time.monotonic()
    with _sent_lock:
        _sent_at.append(now)
        while _sent_at and _sent_at[0] < now - 1.0:
            _sent_at.popleft()


def intake_queue(partition: int, depth: int, consumers: int) -> None:
    """One partition as RabbitMQ counts it (connectors/whatsapp/intake.py samples them every 15 s)."""
    INTAKE_DEPTH.labels(partition=str(partition)).set(depth)
    INTAKE_CONSUMERS.labels(partition=str(partition)).set(consumers)
