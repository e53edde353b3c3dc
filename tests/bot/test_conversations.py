"""Test conversations (tests/test_stories*.yml) replayed by Rasa itself with --fail-on-prediction-errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot import paths


def test_every_test_conversation_is_predicted_exactly(trained_model: Path, tmp_path: Path) -> None:
    assert list((paths.ROOT / "tests").glob("test_stories*.yml")), "no test conversations found"
    cmd = [
        sys.executable,
        "-m",
        "rasa",
        "test",
        "core",
        "--model",
        str(trained_model),
        "--stories",
        str(paths.ROOT / "tests"),
        "--out",
        str(tmp_path),
        "--fail-on-prediction-errors",
        "--no-plot",
    ]
    proc = subprocess.run(cmd, cwd=paths.ROOT, capture_output=True, text=True)
    failed = tmp_path / "failed_test_stories.yml"
    detail = failed.read_text() if failed.exists() else proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.returncode == 0, f"conversations predicted wrongly:\n{detail}"
