"""Reading the project's NLU examples the way the content team wrote them, for checks and reports."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot import paths

ENTITY_MARKUP = re.compile(r"\[([^\]]+)\]\((?:[^)]+)\)|\[([^\]]+)\]\{[^}]+\}")
# Devanagari vowel signs and viramas are combining marks, not \w: keep the whole block (minus the danda).
NON_WORD = re.compile(r"[^\w\s\u0900-\u0963\u0966-\u097F]")
# Words that change nothing about what the investor wants; ignored when looking for near-duplicates.
FILLERS = frozenset(
    "a an the pls plz please kindly sir madam ji hi hello hey bhai ok okay i me my mera meri mere mujhe "
    "is are am hai h hain ka ki ke ko se to do you can could would".split()
)


@dataclass(frozen=True)
class Example:
    """One training example with the intent (or `faq/<topic>`) it teaches and where it lives."""

    text: str
    label: str
    source: Path


def plain(text: str) -> str:
    """The example as the investor would type it: entity markup removed."""
    return ENTITY_MARKUP.sub(lambda m: m.group(1) or m.group(2), text).strip()


def normalise(text: str) -> str:
    """Case, punctuation and spacing folded: two examples equal here are the same example."""
    return " ".join(NON_WORD.sub(" ", plain(text).lower()).split())


def gist(text: str) -> str:
    """Sorted content words: equal gists mean two examples differ only by fillers or word order."""
    words = {w for w in normalise(text).split() if w not in FILLERS}
    return " ".join(sorted(words))


def load_examples(files: Iterable[Path]) -> list[Example]:
    """All examples of the given Rasa YAML files, with retrieval intents as `faq/<topic>`."""
    from rasa.shared.nlu.training_data.loading import load_data

    examples: list[Example] = []
    for path in files:
        data = load_data(str(path))
        for message in data.intent_examples:
            label = message.get("intent_response_key") or message.get("intent")
            examples.append(Example(text=message.get("text"), label=str(label), source=path))
    return examples


def nlu_files(root: Path = paths.NLU_DATA) -> list[Path]:
    return sorted(p for p in root.rglob("*.yml") if p.is_file())
