"""`make model` stays readable: the training log goes to a file, the terminal gets a line per component and
a progress line every fifth of the epochs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.train import Progress, quiet


def lines_written(tmp_path: Path, chunks: list[str]) -> list[str]:
    out = tmp_path / "terminal.txt"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        progress = Progress(tmp_path / "unused.log", fd)
        for chunk in chunks:
            progress.feed(chunk)
    finally:
        os.close(fd)
    return out.read_text().splitlines()


def test_components_and_every_fifth_of_the_epochs_are_reported(tmp_path: Path) -> None:
    bars = "".join(f"\rEpochs:  {p:>2}%|###   | {p // 2}/50 [00:10<01:00, t_loss=3.1]" for p in range(0, 101, 2))
    chunks = [
        "2026-12-07 INFO rasa.engine.training.hooks - Restored component 'CountVectorsFeaturizer' from cache.\n",
        "WARNING something noisy\n",
        "INFO rasa.engine.training.hooks - Starting to train component 'DIETClassifier'.\n",
        bars[: len(bars) // 2], bars[len(bars) // 2:],  # a progress bar arrives in pieces
        "\rEpochs:   0%|   | 0/30 [00:00<?, ?it/s]\rEpochs: 100%|###| 30/30 [00:10<00:00]",  # the next, unnamed
    ]
    assert lines_written(tmp_path, chunks) == [
        "training: CountVectorsFeaturizer (cached)",
        "training: DIETClassifier (training)",
        "training: DIETClassifier epoch 0/50",
        "training: DIETClassifier epoch 10/50",
        "training: DIETClassifier epoch 20/50",
        "training: DIETClassifier epoch 30/50",
        "training: DIETClassifier epoch 40/50",
        "training: DIETClassifier epoch 50/50",
        "training: DIETClassifier epoch 0/30",  # Rasa logged no name for it: still shown, under the last one
        "training: DIETClassifier epoch 30/30",
    ]


def test_library_output_goes_to_the_log_and_not_to_the_terminal(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "train.log"
    with quiet(log):
        os.write(2, b"a C library's warning\n")
        os.write(1, b"INFO - Starting to train component 'ResponseSelector'.\n")  # as Rasa's logging writes it
    captured = capfd.readouterr()
    assert "a C library's warning" in log.read_text()
    assert "a C library's warning" not in captured.err + captured.out
    assert "training: ResponseSelector (training)" in captured.err
