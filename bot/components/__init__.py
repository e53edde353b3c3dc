"""The project's own Rasa NLU components (config.yml names them by module path; docs/nlu-pipeline.md says why).

- `hinglish`: one spelling for what investors type: Devanagari romanised, WhatsApp abbreviations spelled out.
- `confidence`: temperature-scaled confidences and a fallback that also checks the FAQ topic's confidence.
- `topics`: a second DIET over intents and FAQ topics in one softmax, averaged with DIET and the ResponseSelector.
- `scope`: out-of-scope kinds folded into the taxonomy's `out_of_scope`, the kind kept for the scope reply.
- `schemes`: scheme names with their plan and option, romanised when typed in Devanagari.
- `base`: what the stateless ones share: `ConfigOnly` (built from the config alone), `RankingStep` (after an
  intent classifier).
"""
