"""`make validate`: everything a content editor needs to know before training, in plain words.

Runs Rasa's own validator (`rasa data validate`), then the checks Rasa does not make: the same or
nearly the same example under two intents, intents with too few examples, FAQ topics without an
answer (or answers without examples), taxonomy names missing, and held-out evaluation examples that
leaked into training. Exit code 1 when anything must be fixed.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot import paths
from bot.nlu_data import FILLERS, Example, gist, load_examples, nlu_files, normalise
from bot.taxonomy import (
    ACCOUNT_INTENTS,
    CONVERSATION_INTENTS,
    FAQ_TOPICS,
    OUT_OF_SCOPE,
    SCOPE_KIND_PREFIX,
    SCOPE_KINDS,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
UNUSED_UTTERANCE = re.compile(r"The utterance '(utter_[^']+)' is not used")
MIN_EXAMPLES_INTENT = 20
MIN_EXAMPLES_FAQ = 12
MIN_EXAMPLES_SCOPE_KIND = 20
EVALUATION_DIR = paths.ROOT / "tests" / "nlu"


@dataclass
class Findings:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _where(example: Example) -> str:
    source = example.source.relative_to(paths.ROOT) if example.source.is_relative_to(paths.ROOT) else example.source
    return f"{example.label} ({source})"


def check_duplicates(examples: list[Example], findings: Findings) -> None:
    """Exact and near duplicates across intents confuse the classifier; within one intent they only waste time."""
    by_text: dict[str, list[Example]] = defaultdict(list)
    by_gist: dict[str, list[Example]] = defaultdict(list)
    for example in examples:
        by_text[normalise(example.text)].append(example)
        if len(gist(example.text).split()) >= 2:
            by_gist[gist(example.text)].append(example)
    for group in by_text.values():
        labels = {e.label for e in group}
        if len(labels) > 1:
            places = " and ".join(sorted({_where(e) for e in group}))
            findings.errors.append(
                f'The example "{group[0].text}" is under more than one intent: {places}. '
                "An example must teach one intent only: keep it where it belongs and delete or reword the other."
            )
        elif len(group) > 1:
            findings.warnings.append(
                f'The example "{group[0].text}" is written {len(group)} times under {group[0].label}.'
            )
    for group in by_gist.values():
        labels = {e.label for e in group}
        if len(labels) > 1 and len({normalise(e.text) for e in group}) > 1:
            shown = "; ".join(f'"{e.text}" ({e.label})' for e in group[:4])
            findings.errors.append(
                f"These examples say nearly the same thing but teach different intents: {shown}. "
                "Make each one clearly about its own intent, or remove it."
            )


def check_counts(examples: list[Example], findings: Findings) -> None:
    """Every intent, FAQ topic and out-of-scope kind needs enough examples (out_of_scope counts its kinds)."""
    counts: dict[str, int] = defaultdict(int)
    for example in examples:
        counts[example.label] += 1
        if example.label.startswith(SCOPE_KIND_PREFIX):
            counts[OUT_OF_SCOPE] += 1
    required = [*ACCOUNT_INTENTS, *CONVERSATION_INTENTS] + [f"faq/{t}" for t in FAQ_TOPICS]
    required += [f"{SCOPE_KIND_PREFIX}{kind}" for kind in SCOPE_KINDS]
    for label in required:
        minimum = MIN_EXAMPLES_FAQ if label.startswith("faq/") else MIN_EXAMPLES_INTENT
        if label.startswith(SCOPE_KIND_PREFIX):
            minimum = MIN_EXAMPLES_SCOPE_KIND
        if counts.get(label, 0) == 0:
            findings.errors.append(f"The intent {label} has no examples at all; the assistant cannot recognise it.")
        elif counts[label] < minimum:
            findings.errors.append(
                f"The intent {label} has only {counts[label]} examples; write at least {minimum}, "
                "in English and Hinglish, short and long."
            )


def faq_responses() -> set[str]:
    topics: set[str] = set()
    for path in sorted(paths.DOMAIN.glob("*.yml")):
        responses = (yaml.safe_load(path.read_text()) or {}).get("responses") or {}
        topics.update(name.split("/", 1)[1] for name in responses if name.startswith("utter_faq/"))
    return topics


def check_faq_answers(examples: list[Example], findings: Findings) -> None:
    answered = faq_responses()
    asked = {e.label.split("/", 1)[1] for e in examples if e.label.startswith("faq/")}
    for topic in sorted(asked - answered):
        findings.errors.append(
            f"The FAQ topic {topic} has examples but no answer: add utter_faq/{topic} to domain/faq.yml."
        )
    for topic in sorted(answered - asked):
        findings.warnings.append(f"The answer utter_faq/{topic} has no examples, so it can never be chosen.")


def test_story_messages() -> list[Example]:
    """What investors say in the test conversations (tests/test_stories*.yml), button payloads excluded."""
    found: list[Example] = []
    for path in sorted((paths.ROOT / "tests").glob("test_stories*.yml")):
        for story in (yaml.safe_load(path.read_text()) or {}).get("stories") or []:
            for step in story.get("steps") or []:
                text = str(step.get("user") or "").strip()
                if text and not text.startswith("/"):
                    found.append(Example(text=text, label=str(step.get("intent")), source=path))
    return found


def evaluation_files(root: Path = EVALUATION_DIR) -> list[Path]:
    """Every evaluation set under tests/nlu/ (held-out, far out-of-scope, and the sets frozen for issue 16)."""
    return sorted(p for p in root.glob("*.yml") if p.is_file())


def canonical(text: str) -> str:
    """The text as the classifier reads it (script, case, abbreviations folded): copies across scripts meet here."""
    from bot.components.hinglish import normalise_text

    return " ".join(w for w in normalise_text(normalise(text)).split() if w)


def near_copy(a: str, b: str) -> bool:
    """Two canonical texts that are one sentence: the same three or more content words (fillers and word order
    aside), or, for sentences of 15 letters or more, at least 90 % alike letter by letter (a typo, a plural,
    one short word changed)."""
    import difflib

    words_a, words_b = set(a.split()) - FILLERS, set(b.split()) - FILLERS
    if len(words_a) >= 3 and words_a == words_b:
        return True
    shorter = min(len(a), len(b))
    return shorter >= 15 and difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= 0.9


def evaluation_leaks(examples: list[Example], evaluation: list[Path]) -> list[tuple[Example, Example]]:
    """(evaluation example, training example) pairs where the training example is a copy or near copy."""
    training = {canonical(e.text): e for e in examples}
    by_word: dict[str, set[str]] = defaultdict(set)
    for text in training:
        for word in set(text.split()) - FILLERS:
            by_word[word].add(text)
    leaks = []
    for example in load_examples(evaluation):
        text = canonical(example.text)
        words = set(text.split()) - FILLERS
        counts: dict[str, int] = defaultdict(int)
        for word in words:
            for candidate in by_word.get(word, ()):
                counts[candidate] += 1
        candidates = [c for c, n in counts.items() if n >= max(1, len(words) // 2)]
        copy = training.get(text) or next((training[c] for c in candidates if near_copy(text, c)), None)
        if copy is not None:
            leaks.append((example, copy))
    return leaks


def check_evaluation_leaks(
    examples: list[Example], findings: Findings, evaluation: list[Path] | None = None
) -> None:
    """An evaluation sentence (or a near copy of it) that is also a training example makes the evaluation lie.

    Every set under tests/nlu/ is checked, and the investor messages of the test conversations (exact copies
    only: they are short and meant to overlap in style). A near copy is the same sentence up to case,
    punctuation, script (the classifier reads Devanagari romanised, so a romanised copy is a copy) and
    abbreviations, or a near_copy() of it.
    """
    files = evaluation_files() if evaluation is None else evaluation
    for example, copy in evaluation_leaks(examples, files):
        how = "also" if canonical(copy.text) == canonical(example.text) else "nearly"
        findings.errors.append(
            f'The evaluation example "{example.text}" ({example.label}, {example.source.name}) is {how} in the '
            f'training data: "{copy.text}" ({_where(copy)}). Remove or rewrite the training example: the '
            "evaluation sets are frozen, and the evaluation must use phrasing the model has never seen."
        )
    stories = {normalise(e.text) for e in examples}
    for example in test_story_messages():
        if normalise(example.text) in stories:
            findings.errors.append(
                f'The test-conversation message "{example.text}" ({example.label}) is also in the training data. '
                "Remove it from one of them: the test must use phrasing the model has never seen."
            )


def run_rasa_validator() -> tuple[bool, list[str]]:
    """Rasa's own checks; its warnings are reduced to their sentence (no paths, colours or library noise)."""
    cmd = [
        sys.executable, "-m", "rasa", "data", "validate",
        "--domain", str(paths.DOMAIN), "--data", str(paths.DATA), "--config", str(paths.CONFIG),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=paths.ROOT, capture_output=True, text=True)
    messages = []
    used_by_actions = utterances_in_actions()
    for line in ANSI.sub("", proc.stdout + proc.stderr).splitlines():
        if "UserWarning:" in line:
            warning = line.split("UserWarning:", 1)[1].strip()
            unused = UNUSED_UTTERANCE.search(warning)
            if (
                (unused and unused.group(1) in used_by_actions)
                or "duplicated intents" in warning
                and ": faq" in warning
                or f"'{SCOPE_KIND_PREFIX}" in warning
                and "not used in any story or rule" in warning
            ):
                # uttered by a custom action / Rasa's own retrieval-intent bookkeeping / out-of-scope kinds, which
                # the NLU folds into `out_of_scope` before the dialogue sees them: not a problem
                continue
            messages.append("warning: " + warning)
        elif " ERROR " in line or line.startswith(("ERROR", "InvalidDomain", "YamlSyntaxException")):
            messages.append("must fix: " + line.strip())
    return proc.returncode == 0, messages


def utterances_in_actions() -> set[str]:
    """Responses a custom action utters by name: Rasa's validator only looks at stories and rules."""
    names: set[str] = set()
    for source in (paths.ROOT / "actions").rglob("*.py"):
        names.update(re.findall(r"[\"'](utter_[a-z0-9_]+)[\"']", source.read_text()))
    return names


def collect(files: list[Path] | None = None) -> Findings:
    findings = Findings()
    examples = load_examples(files or nlu_files())
    check_duplicates(examples, findings)
    check_counts(examples, findings)
    check_faq_answers(examples, findings)
    check_evaluation_leaks(examples, findings)
    return findings


def main() -> int:
    print("1/2 Rasa's validator (domain, stories, rules) ...", flush=True)
    ok, messages = run_rasa_validator()
    for message in messages:
        print(f"  {message}")
    print("    passed" if ok else "    FAILED: Rasa found problems above.")
    print("2/2 the project's checks (duplicates, counts, FAQ answers, evaluation leaks) ...", flush=True)
    findings = collect()
    for warning in findings.warnings:
        print(f"  warning: {warning}")
    for error in findings.errors:
        print(f"  must fix: {error}")
    if ok and not findings.errors:
        print(f"Training data is valid ({len(findings.warnings)} warnings).")
        return 0
    print(f"{len(findings.errors) + (0 if ok else 1)} problem(s) to fix before training.")
    return 1


if __name__ == "__main__":
    sys.exit(main())
