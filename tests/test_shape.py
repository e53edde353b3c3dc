"""The codebase's shape, kept (issue 15): no function a reader cannot take in at once.

Migrations are exempt (Alembic writes them as one `upgrade`); everything else, tests included, stays under
60 lines per function."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 60
SKIPPED = {".venv", "migrations", "node_modules", "var", "models", "reports"}


def long_functions(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(part in SKIPPED or part.startswith(".") for part in parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > LIMIT:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_is_longer_than_sixty_lines() -> None:
    assert long_functions(ROOT) == []


def test_the_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT))
    (tmp_path / "long.py").write_text(f"def too_long():\n{body}\n")
    assert long_functions(tmp_path) == [f"long.py:1 too_long ({LIMIT + 1} lines)"]
