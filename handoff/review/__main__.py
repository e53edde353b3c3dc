"""The content team's commands (docs/review.md):

    python -m handoff.review export --out data/nlu/reviewed.yml   # labelled groups -> Rasa training data
    python -m handoff.review choices                              # refresh choices.json from domain/

Uses DATABASE_URL like the service. `export` exits 1 when the written file would still fail `make validate`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from handoff.config import Settings
from handoff.db import Database
from handoff.review import export, labels

ROOT = Path(__file__).resolve().parents[2]


def run_export(out: Path, database_url: str) -> int:
    from bot.nlu_data import nlu_files
    from bot.validate import evaluation_files

    db = Database(database_url)
    try:
        db.open()
        with db.transaction() as s:
            decisions = export.rows(s)
    finally:
        db.close()
    training = [p for p in nlu_files() if p.resolve() != out.resolve()]
    result = export.build(decisions, domain=ROOT / "domain", training=training, evaluation=evaluation_files())
    export.write_yaml(result, out)
    for text, label, why in result.skipped:
        print(f'skipped "{text}" ({label}): {why}')
    written = sum(len(v) for v in result.examples.values())
    print(f"{out}: {written} examples under {len(result.examples)} intents; {len(result.skipped)} skipped")
    if result.answers:
        print(f"approved new FAQ answers to add to domain/faq.yml: {out.with_suffix('.answers.yml')}")
    problems = validation_problems(training, out)
    for problem in problems:
        print(f"must fix: {problem}")
    return 1 if problems else 0


def validation_problems(training: list[Path], out: Path) -> list[str]:
    """What `make validate` would say about the written file (duplicates across intents, evaluation leaks)."""
    from bot.nlu_data import load_examples
    from bot.validate import Findings, check_duplicates, check_evaluation_leaks

    findings = Findings()
    examples = load_examples([*training, out])
    check_duplicates(examples, findings)
    check_evaluation_leaks(examples, findings)
    return [e for e in findings.errors if out.name in e]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m handoff.review", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    exp = commands.add_parser("export", help="write the labelled examples as Rasa NLU training data")
    exp.add_argument("--out", type=Path, default=ROOT / "data" / "nlu" / "reviewed.yml")
    commands.add_parser("choices", help="refresh handoff/review/choices.json from domain/")
    args = parser.parse_args(argv)
    if args.command == "choices":
        labels.CHOICES.write_text(json.dumps(labels.catalogue_from_domain(ROOT / "domain"), indent=2) + "\n")
        print(f"wrote {labels.CHOICES}")
        return 0
    return run_export(args.out, Settings.from_env().database_url)


if __name__ == "__main__":
    sys.exit(main())
