"""The content team's review queue: what the bot should learn from, grouped, labelled and exported.

- `candidates`: investor messages worth a look, found in the stored transcript (fallbacks and low confidence,
  the messages before a `repeated_fallback` handoff, FAQ answers the investor rejected, agents' flags);
- `grouping`: masked, normalised and grouped with near-duplicates, with counts and the bot's guesses;
- `labels`: the choices (intents, FAQ topics, out-of-scope kinds) and the reviewers' decisions, audited;
- `routes`: the Review page and its JSON API (content and supervisor roles), and agents' flag API;
- `export` (`python -m handoff.review export`): labelled examples as Rasa training data, checked like
  `make validate` checks data/nlu. docs/review.md describes the weekly routine.
"""
