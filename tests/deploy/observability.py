"""Helpers for the observability tests on the image stack (tests/deploy/test_images.py; docs/observability.md):
one message with a known WhatsApp message id, every service's JSON log lines joined on it, and the metric
catalogue of docs/runbook.md against what each service's metrics port serves."""

from __future__ import annotations

import json
import re
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from common.logs import mask
from connectors.whatsapp.signature import HEADER, sign
from tests.deploy.images import REPO_ROOT
from tests.whatsapp import meta_payloads

RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
SERVICES = ("gateway", "rasa", "actions", "handoff")


def known_wamid() -> str:
    """A fresh id shaped like Meta's (`wamid.` and letters): no digit run the log masking would hide."""
    letters = "".join(chr(ord("g") + int(c)) if c.isdigit() else c for c in uuid.uuid4().hex)
    wamid = f"wamid.HBgMobs{letters}"
    assert mask(wamid) == wamid
    return wamid


def post_message(url: str, secret: str, wa_id: str, wamid: str, text: str) -> int:
    """One text message POSTed as Meta would (the raw body signed with the app secret); the HTTP status."""
    payload = meta_payloads.webhook(
        messages=[meta_payloads.message(wamid, {"type": "text", "text": {"body": text}}, sender=wa_id,
                                        timestamp=int(time.time()))],
        contacts=[{"profile": {"name": "Observability Test"}, "wa_id": wa_id}],
    )
    body = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", HEADER: sign(body, secret)})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - a local test service
        return int(response.status)


def json_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines of a process's output (anything else it printed is left out)."""
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            found.append(entry)
    return found


def lines_with(path: Path, correlation_id: str) -> list[dict[str, Any]]:
    return [e for e in json_lines(path) if e.get("correlation_id") == correlation_id]


def scrape(port: int) -> dict[str, Any]:
    """{family name: family} served on 127.0.0.1:<port>/metrics (counters under their `_total` name)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    families = {}
    for family in text_string_to_metric_families(text):
        name = f"{family.name}_total" if family.type == "counter" else family.name
        families[name] = family
    return families


def value(families: dict[str, Any], sample: str, **labels: str) -> float:
    """The sum of the samples named `sample` whose labels include `labels` (0 when there is none)."""
    total = 0.0
    for family in families.values():
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total


def catalogue_exporters() -> dict[str, set[str]]:
    """{metric: the services that export it} from docs/runbook.md's "Metrics" table ("exported by" column)."""
    section = RUNBOOK.read_text().split("\n## Metrics", 1)[1].split("\n## ", 1)[0]
    found: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"`mfa_[a-z0-9_]+`", cells[0]):
            exporters = re.sub(r"\([^)]*\)", "", cells[3])  # "rasa (its own webhook route)" -> "rasa"
            found[cells[0].strip("`")] = {s for s in SERVICES if re.search(rf"\b{s}\b", exporters)}
    return found
