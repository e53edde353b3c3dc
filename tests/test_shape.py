"""The codebase's shape, kept (issue 15): no function a reader cannot take in at once.

Migrations are exempt (Alembic writes them as one `upgrade`); everything else, tests included, stays under
60 lines per function."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 60


def our_sources(root: Path) -> list[Path]:
    """The Python files git tracks (not the venvs and image trees the tests build), migrations aside."""
    listed = subprocess.run(["git", "ls-files", "*.py"], cwd=root, capture_output=True, text=True, check=True)
    return [root / name for name in listed.stdout.splitlines() if "/migrations/" not in f"/{name}"]


def long_functions(paths: list[Path], root: Path) -> list[str]:
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LIMIT:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_is_longer_than_sixty_lines() -> None:
    sources = our_sources(ROOT)
    assert len(sources) > 100 and ROOT / "handoff" / "ingest.py" in sources  # the listing is the project's own
    assert long_functions(sources, ROOT) == []


def test_the_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (tmp_path / "long.py").write_text(f"def too_long():\n{body}\n")
    assert long_functions([tmp_path / "long.py"], tmp_path) == [f"long.py:1 too_long ({LIMIT + 1} lines)"]
