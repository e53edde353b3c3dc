"""The alert rules and the dashboard: valid for Prometheus, firing when they should, on the documented metrics.

`promtool` (scripts/ensure_promtool.sh installs it; scripts/test.sh runs that first) checks the rules and runs
their unit tests (deploy/prometheus/alerts.test.yml). The structural tests below hold the rest together: every
metric an alert or a panel uses is in the catalogue of docs/runbook.md ("Metrics"), which is also what the
services must export; every alert has a `for`, a severity, a summary, a description and a runbook section.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO_ROOT / "deploy" / "prometheus" / "alerts.test.yml"
PROMETHEUS_CONFIG = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "mf-assistant.json"
RUNBOOK = REPO_ROOT / "docs" / "runbook.md"
BUILTIN_METRICS = {"up"}  # Prometheus' own
SEVERITIES = {"critical", "warning", "info"}


def promtool() -> str:
    found = REPO_ROOT / ".tools" / "promtool" / "promtool"
    if found.exists():
        return str(found)
    on_path = shutil.which("promtool")
    if on_path:
        return on_path
    pytest.fail("promtool is missing: run scripts/ensure_promtool.sh (scripts/test.sh does)")


def catalogue() -> dict[str, str]:
    """{metric name: type} from the table under docs/runbook.md's "Metrics" heading."""
    text = RUNBOOK.read_text()
    section = text.split("\n## Metrics", 1)[1].split("\n## ", 1)[0]
    found = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"`mfa_[a-z0-9_]+`", cells[0]):
            found[cells[0].strip("`")] = cells[1]
    return found


def metric_names(expr: str) -> set[str]:
    """The mfa_* and built-in series an expression reads (histogram series mapped back to their family)."""
    stripped = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    names = set(re.findall(r"\b(mfa_[a-z0-9_]+|up)\b(?=\s*[{\[)\s]|$)", stripped))
    families = set()
    for name in names:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        families.add(base if base in catalogue() else name)
    return families


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors."""
    out = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", markdown, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_promtool_accepts_the_rules_and_the_compose_config() -> None:
    for args in (["check", "rules", str(RULES)], ["check", "config", str(PROMETHEUS_CONFIG)]):
        done = subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_fires_when_it_should_and_not_before() -> None:
    done = subprocess.run([promtool(), "test", "rules", str(RULE_TESTS)], capture_output=True, text=True,
                          timeout=120, cwd=RULE_TESTS.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    tested = {t["alertname"] for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for t in group["alert_rule_test"] if t["exp_alerts"]}
    assert {r["alert"] for r in rules()} <= tested, "an alert without a unit test that makes it fire"


def test_the_catalogue_follows_prometheus_naming() -> None:
    metrics = catalogue()
    assert len(metrics) >= 25
    for name, kind in metrics.items():
        assert kind in {"counter", "gauge", "histogram"}, (name, kind)
        assert name.endswith("_total") == (kind == "counter"), name
        if kind == "histogram":
            assert name.endswith(("_seconds", "_confidence")), name


def test_alerts_are_complete_and_use_only_catalogued_metrics() -> None:
    metrics = set(catalogue()) | BUILTIN_METRICS
    sections = anchors(RUNBOOK.read_text())
    names = [r["alert"] for r in rules()]
    assert len(names) == len(set(names))
    for rule in rules():
        assert "for" in rule, rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), rule["alert"]
        anchor = rule["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == rule["alert"].lower() and anchor in sections, f"docs/runbook.md has no section {anchor}"
        used = metric_names(rule["expr"])
        assert used and used <= metrics, (rule["alert"], used - metrics)


def test_the_alerts_the_issue_asks_for_exist() -> None:
    by_metric: dict[str, list[str]] = {}
    for rule in rules():
        for name in metric_names(rule["expr"]):
            by_metric.setdefault(name, []).append(rule["expr"])
    assert any("delta" in e for e in by_metric["mfa_whatsapp_intake_queue_depth"])  # depth growing
    assert by_metric["mfa_whatsapp_intake_dead_letters_total"]
    assert any("dead_lettered" in e for e in by_metric["mfa_handoff_events_total"])
    assert any("retried" in e for e in by_metric["mfa_handoff_events_total"])
    assert by_metric["mfa_outbox_dead_letters_total"] and by_metric["mfa_outbox_backlog_events"]
    assert by_metric["mfa_accounts_breaker_open"]
    assert any("130429" in e for e in by_metric["mfa_whatsapp_sends_total"])
    assert any("== 0" in e for e in by_metric["mfa_whatsapp_intake_consumers"])


def test_dashboard_shows_every_metric_and_only_catalogued_ones() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"]
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    used = set().union(*(metric_names(e) for e in exprs))
    assert used <= set(catalogue()) | BUILTIN_METRICS, used - set(catalogue())
    assert set(catalogue()) <= used, f"not on the dashboard: {set(catalogue()) - used}"
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
