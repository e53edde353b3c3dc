"""`python -m handoff.review export --out data/nlu/reviewed.yml`: the labelled groups as Rasa training data.

Every example is the masked text stored with its label (and masked once more here, every digit written as X:
digits never name an intent, and no digit of an investor's message leaves the database). An example is left out,
with the reason printed, when it would fail `make validate` (bot/validate.py) or teach nothing:
- a copy or near copy of an evaluation message in tests/nlu (the evaluation would lie), or an investor message
  of the test conversations;
- the same (or nearly the same) example under another intent in data/nlu, or earlier in this export;
- already in data/nlu under the same intent;
- a label the domain no longer has, or a new FAQ topic without its answer in domain/ yet (the approved
  answers are written to `<out>.answers.yml`, ready to paste into domain/faq.yml).
Needs the development environment (Rasa, PyYAML): run it where the content team edits data/nlu.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.models import ReviewLabel
from handoff.review.grouping import shown_text
from handoff.review.labels import IGNORE, SCOPE_PREFIX, catalogue_from_domain

MARKUP = re.compile(r"[\[\]{}()]")  # Rasa reads [text](entity) and {..} as entity markup: not in our examples


@dataclass
class Export:
    examples: dict[str, list[str]] = field(default_factory=dict)  # label -> texts
    skipped: list[tuple[str, str, str]] = field(default_factory=list)  # (text, label, why)
    answers: dict[str, str] = field(default_factory=dict)  # approved new topic -> answer


def rows(session: Session) -> list[tuple[str, str, list[str], str | None]]:
    """(label, status, examples, proposed answer) of every decision that yields training data."""
    found = session.execute(
        select(ReviewLabel).where(ReviewLabel.status.in_(("labelled", "approved")), ReviewLabel.label != IGNORE)
        .order_by(ReviewLabel.id)
    ).scalars()
    return [(r.label, r.status, list(r.examples or []), r.proposed_answer) for r in found]


def _known_labels(domain: Path) -> set[str]:
    c = catalogue_from_domain(domain)
    return ({*c["intents"]} | {f"faq/{t}" for t in c["faq_topics"]}
            | {f"{SCOPE_PREFIX}{k}" for k in c["out_of_scope_kinds"]})


def clean(text: str) -> str:
    return " ".join(MARKUP.sub(" ", shown_text(text)).split())


def build(decisions: list[tuple[str, str, list[str], str | None]], *, domain: Path, training: list[Path],
          evaluation: list[Path]) -> Export:
    """The export, with every example that would break validation (or teach nothing) skipped and explained."""
    from bot.nlu_data import Example, gist, load_examples, normalise
    from bot.validate import evaluation_leaks, test_story_messages

    known = _known_labels(domain)
    out = Export()
    candidates: list[Example] = []
    for label, status, texts, answer in decisions:
        if label not in known:
            if status == "approved" and label.startswith("faq/"):
                out.answers[label.split("/", 1)[1]] = answer or ""
                why = f"new FAQ topic: add utter_faq/{label.split('/', 1)[1]} to domain/faq.yml first"
            else:
                why = "the domain has no such intent or topic"
            out.skipped += [(clean(t), label, why) for t in texts]
            continue
        candidates += [Example(clean(t), label, Path("review")) for t in texts if clean(t)]
    leaks = {normalise(e.text): f"copy of evaluation message \"{ev.text}\" ({ev.source.name})"
             for ev, e in evaluation_leaks(candidates, evaluation)}
    stories = {normalise(e.text) for e in test_story_messages()}
    existing = load_examples(training)
    by_text = {normalise(e.text): e.label for e in existing}
    by_gist = {gist(e.text): e.label for e in existing if len(gist(e.text).split()) >= 2}
    for e in candidates:
        out_label = _clash(e, leaks, stories, by_text, by_gist)
        if out_label:
            out.skipped.append((e.text, e.label, out_label))
            continue
        by_text[normalise(e.text)] = e.label
        if len(gist(e.text).split()) >= 2:
            by_gist[gist(e.text)] = e.label
        out.examples.setdefault(e.label, []).append(e.text)
    return out


def _clash(e: Any, leaks: dict[str, str], stories: set[str], by_text: dict[str, str],
           by_gist: dict[str, str]) -> str | None:
    from bot.nlu_data import gist, normalise

    text, words = normalise(e.text), gist(e.text)
    if text in leaks:
        return leaks[text]
    if text in stories:
        return "an investor message of the test conversations (tests/test_stories*.yml)"
    if text in by_text:
        same = by_text[text] == e.label
        return "already in the training data" if same else f"the same example is under {by_text[text]}"
    if len(words.split()) >= 2 and words in by_gist and by_gist[words] != e.label:
        return f"nearly the same example is under {by_gist[words]}"
    return None


def write_yaml(export: Export, out: Path) -> None:
    lines = ["# Written by `python -m handoff.review export` from the content team's review labels (masked).",
             "# Do not edit by hand: label again on the Review page and export again.", 'version: "3.1"', "nlu:"]
    for label in sorted(export.examples):
        lines += [f"- intent: {label}", "  examples: |"]
        lines += [f"    - {text}" for text in export.examples[label]]
    if not export.examples:
        lines[-1] = "nlu: []"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    if export.answers:
        answers = out.with_suffix(".answers.yml")
        body = ["# Approved new FAQ answers: paste into domain/faq.yml (responses), then export again.", "responses:"]
        for topic, answer in sorted(export.answers.items()):
            body += [f"  utter_faq/{topic}:", f"    - text: {_quoted(answer)}"]
        answers.write_text("\n".join(body) + "\n")


def _quoted(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML double-quoted scalar
