"""The loaded heap is frozen out of the garbage collector's reach, unless the operator turns that off."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import gc
from common.runtime import freeze_loaded_heap
model = [[i] for i in range(200_000)]  # a 'loaded model': many long-lived container objects
print(freeze_loaded_heap(), gc.get_freeze_count())
"""


@pytest.mark.parametrize(("setting", "frozen"), [(None, True), ("false", False), ("maybe", False)])
def test_freeze_after_load(setting: str | None, frozen: bool) -> None:
    env = {"PATH": "/usr/bin:/bin", **({"GC_FREEZE_AFTER_LOAD": setting} if setting else {})}
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env=env, cwd=REPO
    )
    done, count = result.stdout.split()
    assert done == str(frozen)
    if setting == "maybe":  # a malformed flag is reported, and the process goes on unfrozen
        assert "GC_FREEZE_AFTER_LOAD" in result.stderr
    assert int(count) >= 200_000 if frozen else int(count) == 0
