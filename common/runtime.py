"""Process start-up shared by services: the heap of a loaded model (logging: common/logs.py)."""

from __future__ import annotations

import gc
import logging

from common.config import ConfigError, env_bool


def freeze_loaded_heap() -> bool:
    """Put everything allocated so far -- in Rasa, the loaded model -- out of the garbage collector's reach.

    Why: CPython's full (generation 2) collection traverses every tracked container object, and a loaded Rasa
    model (TensorFlow, Keras, spaCy, numpy, the domain) is millions of them. Measured in the Rasa process of
    bench/channel.py on this 2-core machine: each full collection took 0.5-0.7 s, on the event loop, so every
    conversation in the process stalled that long every few seconds under load (the e2e p99 of whichever channel
    happened to be busy). The model lives as long as the process and gains nothing from being scanned, so after
    loading: one collection (garbage is not frozen), then `gc.freeze()`, and later full collections only scan
    what the conversations allocate. Reference counting still frees frozen objects; only cyclic garbage made
    before the freeze -- an old model replaced through Rasa's HTTP API -- is never reclaimed, which is why new
    models are deployed by rolling replicas (docs/deploy.md). GC_FREEZE_AFTER_LOAD=false turns it off.
    """
    try:
        enabled = env_bool("GC_FREEZE_AFTER_LOAD", True)
    except ConfigError as exc:  # a typo in a tuning flag must not stop the channel from consuming
        logging.getLogger(__name__).error("%s: the heap is not frozen", exc)
        return False
    if not enabled:
        return False
    gc.collect()
    gc.freeze()
    logging.getLogger(__name__).info("heap frozen after model load: %d objects", gc.get_freeze_count())
    return True
