"""The model gate's decision (bot/gate.py) on evaluation results built from real parse dicts and bot/evaluate.py's
own types (`score` -> `Scored` with a `calibration.Outcome`); loading two real models takes minutes, so the real
gate is run by hand (docs/review.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.evaluate import Scored, score
from bot.gate import Rules, compare, plot_deltas, verdict_from_parses, write_markdown


def parse(intent: str, confidence: float = 0.95, topic: str | None = None) -> dict[str, Any]:
    """A parse as Rasa returns it (and evaluate's parses.jsonl keeps it): intent, ranking, FAQ response."""
    data: dict[str, Any] = {
        "intent": {"name": intent, "confidence": confidence},
        "intent_ranking": [{"name": intent if intent != "nlu_fallback" else "greet", "confidence": confidence}],
        "entities": [],
    }
    if topic:
        data["response_selector"] = {"faq": {"response": {"intent_response_key": topic, "confidence": 0.9}}}
    return data


def row(text: str, expected: str, got: dict[str, Any]) -> dict[str, Any]:
    return {"text": text, "expected": expected, "parse": got}


def heldout(n: int = 200) -> list[dict[str, Any]]:
    """n in-scope messages, all answered right: check_nav, and an FAQ topic every fourth."""
    rows = []
    for i in range(n):
        if i % 4 == 0:
            rows.append(row(f"q{i}", "faq/elss_lock_in", parse("faq", topic="faq/elss_lock_in")))
        else:
            rows.append(row(f"q{i}", "check_nav", parse("check_nav")))
    return rows


def oos(n: int = 50) -> list[dict[str, Any]]:
    return [row(f"o{i}", "out_of_scope", parse("out_of_scope")) for i in range(n)]


def scored(rows: list[dict[str, Any]]) -> list[Scored]:
    return score(rows)


def with_changes(rows: list[dict[str, Any]], changes: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    return [row(r["text"], r["expected"], changes.get(i, r["parse"])) for i, r in enumerate(rows)]


def test_the_same_results_pass_with_no_deltas() -> None:
    current = {"heldout": scored(heldout()), "out_of_scope_far": scored(oos())}
    verdict = compare(current, {name: list(s) for name, s in current.items()})
    assert verdict.passed and verdict.failures == []
    assert all(s[k]["delta"] == 0 for s in verdict.sets.values() for k in ("accuracy", "wrong_answer_rate"))
    assert {r["label"] for r in verdict.intents} == {"check_nav", "faq/elss_lock_in", "out_of_scope"}


def test_half_a_point_of_accuracy_may_go_but_not_more() -> None:
    base = heldout(200)
    one_refused = with_changes(base, {1: parse("nlu_fallback", 0.4)})  # refused, not wrong: -0.5 pt
    verdict = compare({"heldout": scored(base)}, {"heldout": scored(one_refused)})
    assert verdict.passed, verdict.failures
    assert verdict.sets["heldout"]["accuracy"]["delta"] == -0.005
    two_refused = with_changes(base, {1: parse("nlu_fallback", 0.4), 2: parse("nlu_fallback", 0.4)})
    verdict = compare({"heldout": scored(base)}, {"heldout": scored(two_refused)})
    assert not verdict.passed
    assert verdict.failures == ["heldout: accuracy drops 1.0% (100.0% -> 99.0%), more than 0.5%"]
    assert verdict.intents[0] == {"label": "check_nav", "support": 150, "before": 1.0, "after": 0.9867,
                                  "delta": -0.0133}


def test_a_wrong_answer_instead_of_a_refusal_fails_even_at_equal_accuracy() -> None:
    base = with_changes(heldout(200), {1: parse("nlu_fallback", 0.4)})
    wrong = with_changes(heldout(200), {1: parse("check_portfolio")})  # answered, wrongly
    verdict = compare({"heldout": scored(base)}, {"heldout": scored(wrong)})
    assert verdict.sets["heldout"]["accuracy"]["delta"] == 0
    assert not verdict.passed and verdict.failures == ["heldout: wrong answers rise 0.0% -> 0.5%"]


def test_out_of_scope_rejection_must_not_fall() -> None:
    answered = with_changes(oos(50), {0: parse("faq", topic="faq/exit_load")})
    verdict = compare({"finance_adjacent_oos": scored(oos(50))}, {"finance_adjacent_oos": scored(answered)},
                      Rules(max_accuracy_drop=0.05, max_wrong_answer_rise=0.05))
    assert verdict.failures == ["finance_adjacent_oos: out-of-scope rejection falls 100.0% -> 98.0%"]


def test_reviewed_messages_now_right_and_the_report(tmp_path: Path) -> None:
    reviewed = [row("sip pause kaise kare", "faq/start_sip", parse("nlu_fallback", 0.3)),
                row("crypto le lu kya", "out_of_scope_other_assets", parse("check_nav", 0.5)),
                row("nav batao", "check_nav", parse("check_nav"))]
    fixed = [row("sip pause kaise kare", "faq/start_sip", parse("faq", topic="faq/start_sip")),
             row("crypto le lu kya", "out_of_scope_other_assets", parse("out_of_scope")),
             row("nav batao", "check_nav", parse("greet"))]
    before = {"heldout": heldout(), "reviewed": reviewed}
    after = {"heldout": heldout(), "reviewed": fixed}
    verdict = verdict_from_parses(json.loads(json.dumps(before)), json.loads(json.dumps(after)))
    assert [r["text"] for r in verdict.reviewed["now_right"]] == ["sip pause kaise kare", "crypto le lu kya"]
    assert verdict.reviewed["now_right"][1]["expected"] == "out_of_scope"  # a kind is scored as out_of_scope
    assert [r["text"] for r in verdict.reviewed["broken"]] == ["nav batao"]
    assert list(verdict.sets) == ["heldout"] and verdict.passed  # the reviewed set informs, it does not gate
    report = write_markdown(verdict, Path("models/current.tar.gz"), Path("models/candidate.tar.gz"), tmp_path)
    text = report.read_text()
    assert "**Verdict: PASS**" in text and "2 now right, 0 still wrong, 1 right before and wrong now" in text
    assert "| sip pause kaise kare | faq/start_sip | nlu_fallback | faq/start_sip |" in text
    plot_deltas(verdict, tmp_path / "deltas.png")
    assert (tmp_path / "deltas.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
