"""Masking, normalising and grouping the review candidates.

Every text is masked first (common.pii strict: PAN, phones, e-mails, account and folio numbers, one-time codes)
and only the masked text is normalised, grouped, shown, stored with a label or exported. Normalising folds
case, punctuation and emoji, and turns every token holding a digit or a mask into `0`. Groups are exact
normalised matches first, then near-duplicates (token-sort similarity, difflib: rapidfuzz is not in the lock).

What the Review page shows, a label stores and the export writes has no digit at all (`shown_text`: every
Unicode digit, Devanagari and full-width too, becomes `X`): digits never name an intent. A label is stored
against `key_hash` of a group's normalised text, never the text itself (it would outlive retention).
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from common.pii import mask_text

NON_WORD = re.compile(r"[^\w\s\u0900-\u0963\u0966-\u097F]")  # emoji and punctuation; Devanagari kept
SIMILARITY = 0.85  # token-sort ratio at which two messages are the same question
MAX_EXAMPLES = 5
RARE_WORDS, POSTINGS, NEAR_CANDIDATES = 3, 500, 20  # bounds of the near-duplicate search per group
KEY_CHARS = 200  # a group's normalised text, whose hash is what a label is stored against
KEY_PREFIX = "sha256:"  # review_labels.group_key (255 characters): a hash; a normalised text never has a colon
MAX_GUESSES = 3


def masked(text: str | None) -> str:
    """The one masking every review text goes through (strict: one-time codes and spaced phones too)."""
    return mask_text(text or "", strict=True)


def digitless(text: str) -> str:
    """Every digit, in any script (`str.isdigit`: ASCII, Devanagari, full-width, ...), as `X`."""
    return "".join("X" if ch.isdigit() else ch for ch in text)


def shown_text(text: str | None) -> str:
    """What the Review page shows, a label stores and the export writes: masked, then no digit left."""
    return digitless(masked(text))


def key_hash(key: str) -> str:
    """What a label is stored against: the hash of a group's normalised text (`review_labels.group_key`)."""
    return KEY_PREFIX + hashlib.sha256(key.encode()).hexdigest()


def label_keys(keys: Iterable[str]) -> list[str]:
    """The stored keys a label of a group with these normalised texts may have, in the order they are matched:
    each text's hash, then the text itself (a label stored before keys were hashed)."""
    return [k for key in sorted(keys) for k in (key_hash(key), key)]


def normalise(masked_text: str) -> str:
    """Lowercase, punctuation and emoji stripped, numbers and masked values collapsed to `0`."""
    tokens = []
    for token in NON_WORD.sub(" ", masked_text).split():
        hidden = "XX" in token or any(ch.isdigit() for ch in token)  # a number, or what masking left of one
        tokens.append("0" if hidden else token.lower())
    collapsed = [t for i, t in enumerate(tokens) if not (i and t == tokens[i - 1] == "0")]
    return " ".join(collapsed)[:KEY_CHARS].strip()


def similar(a: str, b: str) -> bool:
    """Near-duplicates: the same words up to order, a typo or a word (token-sort ratio >= SIMILARITY)."""
    x, y = " ".join(sorted(a.split())), " ".join(sorted(b.split()))
    matcher = difflib.SequenceMatcher(None, x, y, autojunk=False)
    return matcher.real_quick_ratio() >= SIMILARITY and matcher.quick_ratio() >= SIMILARITY and (
        matcher.ratio() >= SIMILARITY
    )


@dataclass(frozen=True)
class Candidate:
    """One investor message worth a look, and why (fallback, low_confidence, before_handoff, rejected_faq, flagged)."""

    message_id: int
    text: str  # masked
    intent: str | None
    confidence: float | None
    at: dt.datetime
    reasons: frozenset[str]


@dataclass
class Group:
    key: str  # the normalised text of the group's biggest exact match: a label is stored against its `key_hash`
    keys: set[str] = field(default_factory=set)
    members: list[Candidate] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        reasons = Counter(r for m in self.members for r in m.reasons)
        guesses: dict[str, list[float]] = {}
        for m in self.members:
            guesses.setdefault(m.intent or "none", []).append(float(m.confidence or 0.0))
        top = sorted(guesses.items(), key=lambda kv: (-len(kv[1]), -max(kv[1]), kv[0]))[:MAX_GUESSES]
        return {
            "key": digitless(self.key),  # what the page posts back (`0` placeholders become `X`)
            "count": len(self.members),
            "first_seen": min(m.at for m in self.members).isoformat() + "Z",
            "last_seen": max(m.at for m in self.members).isoformat() + "Z",
            "examples": self.shown(),
            "reasons": dict(sorted(reasons.items())),
            "guesses": [
                {"intent": name, "count": len(c), "confidence": round(sum(c) / len(c), 3)} for name, c in top
            ],
        }

    def shown(self) -> list[str]:
        """The distinct masked texts the page shows (the most frequent first, at most MAX_EXAMPLES): what a label
        stores and the export writes, without digits. A text the reviewer was not shown is never labelled."""
        return [t for t, _ in Counter(digitless(m.text) for m in self.members).most_common(MAX_EXAMPLES)]


def group(candidates: list[Candidate]) -> list[Group]:
    """Exact normalised matches, then near-duplicates merged into the larger group; biggest first.

    A group is compared only with the few groups that share its rarest words (an inverted index; near-duplicates
    share nearly all their words), so thousands of distinct messages do not cost millions of comparisons."""
    exact: dict[str, Group] = {}
    for c in candidates:
        key = normalise(c.text)
        if not key:
            continue
        exact.setdefault(key, Group(key, {key})).members.append(c)
    merged: list[Group] = []
    by_word: dict[str, list[int]] = {}
    for g in sorted(exact.values(), key=lambda g: (-len(g.members), g.key)):
        words = set(g.key.split())
        rare = sorted(words, key=lambda w: (len(by_word.get(w, ())), w))[:RARE_WORDS]
        hits = Counter(i for w in rare for i in by_word.get(w, ())[:POSTINGS])
        near = [i for i, _ in hits.most_common(NEAR_CANDIDATES)]
        home = next((merged[i] for i in near if similar(merged[i].key, g.key)), None)
        if home is None:
            for w in words:
                by_word.setdefault(w, []).append(len(merged))
            merged.append(g)
        else:
            home.keys |= g.keys
            home.members.extend(g.members)
    return sorted(merged, key=lambda g: (-len(g.members), g.key))
