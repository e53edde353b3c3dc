"""Build the project's spaCy pipeline from code: a blank English tokenizer plus a lookup lemmatizer.

No model is downloaded: the lemma tables come from the `spacy-lookups-data` package pinned in the lock.
Rasa's SpacyNLP loads the pipeline from `models/spacy/en_mf_lookup` (a path, which spacy.load accepts).
It is used only where the pipeline comparison showed it helps (docs/nlu-pipeline.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

from bot import paths

PIPELINE_DIR = paths.MODELS / "spacy" / "en_mf_lookup"


def build(target: Path = PIPELINE_DIR) -> Path:
    """Write the pipeline to `target` unless an identical one (same spaCy version) is already there."""
    import spacy

    marker = target / ".built-with"
    if marker.exists() and marker.read_text() == spacy.__version__:
        return target
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()  # loads the lookup tables from spacy-lookups-data
    nlp.meta["name"] = "mf_lookup"
    target.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(target)
    marker.write_text(spacy.__version__)
    return target


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else PIPELINE_DIR))
