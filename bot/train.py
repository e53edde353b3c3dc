"""Train the assistant once, and reuse the model while its inputs are unchanged.

Rasa fingerprints every graph component: `rasa train` on unchanged config, domain and data is a no-op
that keeps `models/current.tar.gz`, and a change retrains only the components it affects (cached in
`.rasa/cache`). The test-suite and `make run` both call this, so CI trains once per run.

Rasa, TensorFlow and their libraries print hundreds of lines while training (warnings, progress bars at
the file-descriptor level). They all go to `var/log/train.log`; the terminal gets one line per component
and a progress line every few epochs. `--verbose` (or TRAIN_VERBOSE=1) shows everything as before.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot import paths

LOG = paths.ROOT / "var" / "log" / "train.log"
COMPONENT = re.compile(r"(Starting to train|Restored) component '([^']+)'")
EPOCHS = re.compile(r"Epochs:\s+(\d+)%\|[^|]*\|\s*(\d+)/(\d+)")


class Progress:
    """Reads the training log as it grows and prints what a person wants to see of it."""

    def __init__(self, log: Path, out: int) -> None:
        self.log, self.out = log, out
        self.component, self.last_step, self.last_epoch = "", -1, -1
        self.done = threading.Event()

    def say(self, text: str) -> None:
        os.write(self.out, f"training: {text}\n".encode())

    def feed(self, chunk: str) -> None:
        for piece in re.split(r"[\r\n]", chunk):
            if found := COMPONENT.search(piece):
                verb, self.component, self.last_step = found.group(1), found.group(2), -1
                self.say(f"{self.component} ({'cached' if verb == 'Restored' else 'training'})")
            elif found := EPOCHS.search(piece):
                step, epoch = int(found.group(1)) // 20, int(found.group(2))  # a line every 20 %
                if epoch < self.last_epoch:  # a new progress bar: the next component
                    self.last_step = -1
                self.last_epoch = epoch
                if step > self.last_step:
                    self.last_step = step
                    self.say(f"{self.component} epoch {found.group(2)}/{found.group(3)}")

    def follow(self) -> None:
        with self.log.open(encoding="utf-8", errors="replace") as stream:
            while not self.done.is_set():
                chunk = stream.read()
                if chunk:
                    self.feed(chunk)
                else:
                    self.done.wait(0.5)
            self.feed(stream.read())


@contextmanager
def quiet(log: Path) -> Iterator[Progress]:
    """Send fds 1 and 2 (Python and C libraries alike) to `log`; report progress on the real stderr."""
    log.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    target = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    progress = Progress(log, saved[1])
    reader = threading.Thread(target=progress.follow, daemon=True)
    os.dup2(target, 1)
    os.dup2(target, 2)
    reader.start()
    try:
        yield progress
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        progress.done.set()
        reader.join(timeout=5)
        for fd in (*saved, target):
            os.close(fd)


def train(force: bool = False, verbose: bool = False) -> float:
    """Train (or confirm) the model; returns the seconds spent."""
    from rasa.api import train as rasa_train

    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")  # nothing leaves the machine
    hooks = logging.getLogger("rasa.engine.training.hooks")  # "Starting to train component 'X'": the progress
    hooks.setLevel(logging.INFO)
    if not hooks.handlers:
        hooks.addHandler(logging.StreamHandler(sys.stderr))  # fd 2: the training log, read by Progress
    started = time.monotonic()
    arguments = dict(domain=str(paths.DOMAIN), config=str(paths.CONFIG), training_files=[str(paths.DATA)],
                     output=str(paths.MODELS), fixed_model_name="current", force_training=force)
    if verbose:
        result = rasa_train(**arguments)
    else:
        print(f"training: output in {LOG.relative_to(paths.ROOT)}", file=sys.stderr, flush=True)
        with quiet(LOG):
            result = rasa_train(**arguments)
    elapsed = time.monotonic() - started
    if result.code != 0 or not paths.MODEL.exists():
        tail = "" if verbose else f"; the last lines of {LOG}:\n" + "".join(LOG.read_text(errors="replace")
                                                                           .splitlines(True)[-30:])
        raise SystemExit(f"training failed (code {result.code}){tail}")
    print(f"model: {paths.MODEL.relative_to(paths.ROOT)} ready in {elapsed:.0f}s", file=sys.stderr)
    return elapsed


if __name__ == "__main__":
    train(force="--force" in sys.argv, verbose="--verbose" in sys.argv or os.environ.get("TRAIN_VERBOSE") == "1")
