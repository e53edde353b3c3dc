"""The Rasa process's metrics (bot/metrics.py), fed by the real outbox broker's publish."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client import REGISTRY

from handoff.event_broker import HttpSink, OutboxEventBroker
from tests.support.processes import free_port


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_published_messages_are_counted_by_intent_and_confidence(tmp_path: Path) -> None:
    before = (value("mfa_nlu_messages_total", intent="check_nav"), value("mfa_nlu_fallbacks_total"),
              value("mfa_nlu_confidence_count"), value("mfa_outbox_backlog_events"))

    async def publish() -> None:
        broker = OutboxEventBroker(str(tmp_path / "outbox.db"), HttpSink("http://127.0.0.1:9", "t"))
        for intent, confidence in [("check_nav", 0.93), ("nlu_fallback", 0.41)]:
            broker.publish({"sender_id": "919800000001", "event": "user", "text": "x",
                            "parse_data": {"intent": {"name": intent, "confidence": confidence}}})
        broker.publish({"sender_id": "919800000001", "event": "bot", "text": "y"})
        broker.outbox.close()

    asyncio.run(publish())
    assert value("mfa_nlu_messages_total", intent="check_nav") == before[0] + 1
    assert value("mfa_nlu_fallbacks_total") == before[1] + 1
    assert value("mfa_nlu_confidence_count") == before[2] + 2
    assert value("mfa_outbox_backlog_events") == before[3] + 3


def test_metrics_are_served_on_the_configured_port() -> None:
    port = free_port()
    code = "import time; from bot import metrics; metrics.serve(); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", code], env={"RASA_METRICS_PORT": str(port), "PYTHONPATH": "."})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    assert "mfa_outbox_backlog_events" in response.read().decode()
                    break
            except OSError:
                assert time.monotonic() < deadline, "the metrics port never answered"
                time.sleep(0.1)
    finally:
        child.kill()
        child.wait()
