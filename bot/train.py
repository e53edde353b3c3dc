"""Train the assistant once, and reuse the model while its inputs are unchanged.

Rasa fingerprints every graph component: `rasa train` on unchanged config, domain and data is a no-op
that keeps `models/current.tar.gz`, and a change retrains only the components it affects (cached in
`.rasa/cache`). The test-suite and `make run` both call this, so CI trains once per run.
"""

from __future__ import annotations

import sys
import time

from bot import paths


def train(force: bool = False) -> float:
    """Train (or confirm) the model; returns the seconds spent."""
    from rasa.api import train as rasa_train

    started = time.monotonic()
    result = rasa_train(
        domain=str(paths.DOMAIN),
        config=str(paths.CONFIG),
        training_files=[str(paths.DATA)],
        output=str(paths.MODELS),
        fixed_model_name="current",
        force_training=force,
    )
    elapsed = time.monotonic() - started
    if result.code != 0 or not paths.MODEL.exists():
        raise SystemExit(f"training failed (code {result.code}); see the messages above")
    print(f"model: {paths.MODEL.relative_to(paths.ROOT)} ready in {elapsed:.0f}s", file=sys.stderr)
    return elapsed


if __name__ == "__main__":
    train(force="--force" in sys.argv)
