"""`make evaluate`: how well the trained model understands phrasing it has never seen.

Runs `rasa test nlu` on the held-out set (tests/nlu/heldout.yml, written independently of data/nlu and
checked by `make validate` never to leak into training). Rasa writes the per-class reports, confusion
matrices and confidence histograms (PNG) under reports/nlu/; this adds what Rasa lacks: one score that
counts an FAQ message right only when the topic is right too, per-class F1 sorted worst first, and the
most frequent confusions, in reports/nlu/summary.md and summary.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bot import paths

OUT = paths.REPORTS / "nlu"


def _load(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else []


def run_rasa_test(model: Path, test_file: Path, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "rasa",
        "test",
        "nlu",
        "--model",
        str(model),
        "--nlu",
        str(test_file),
        "--out",
        str(out),
        "--successes",
    ]
    print(f"evaluating {model.name} on {test_file.relative_to(paths.ROOT)} (Rasa shows its progress) ...", flush=True)
    subprocess.run(cmd, cwd=paths.ROOT, check=True)


def summarise(out: Path, total: int) -> dict[str, Any]:
    """Combine Rasa's intent and response-selection reports into the figures a content editor reads."""
    intent_report = _load(out / "intent_report.json") or {}
    rs_report = _load(out / "response_selection_report.json") or {}
    intent_errors = _load(out / "intent_errors.json")
    rs_errors = _load(out / "response_selection_errors.json")

    confusions: Counter[tuple[str, str]] = Counter()
    wrong_texts: set[str] = set()
    for error in intent_errors:
        confusions[(error["intent"], error["intent_prediction"]["name"] or "none")] += 1
        wrong_texts.add(error["text"])
    for error in rs_errors:
        if error["text"] in wrong_texts:
            continue  # already counted as an intent error
        wrong_texts.add(error["text"])
        predicted = error["intent_response_key_prediction"]["name"] or "none"
        confusions[(error["intent_response_key_target"], predicted)] += 1

    per_class: dict[str, dict[str, float]] = {}
    for report in (intent_report, rs_report):
        for label, scores in report.items():
            if isinstance(scores, dict) and "f1-score" in scores and label not in {"faq"} and "avg" not in label:
                per_class[label] = {
                    "precision": round(scores["precision"], 3),
                    "recall": round(scores["recall"], 3),
                    "f1": round(scores["f1-score"], 3),
                    "support": scores["support"],
                }
    correct = total - len(wrong_texts)
    return {
        "examples": total,
        "accuracy_intent_and_topic": round(correct / total, 4) if total else 0.0,
        "intent_accuracy": round(intent_report.get("accuracy", 0.0), 4),
        "intent_macro_f1": round((intent_report.get("macro avg") or {}).get("f1-score", 0.0), 4),
        "faq_topic_accuracy": round(rs_report.get("accuracy", 0.0), 4),
        "per_class": dict(sorted(per_class.items(), key=lambda kv: (kv[1]["f1"], kv[0]))),
        "worst_confusions": [
            {"expected": expected, "predicted": predicted, "count": count}
            for (expected, predicted), count in confusions.most_common(15)
        ],
    }


def write_markdown(summary: dict[str, Any], out: Path) -> Path:
    lines = [
        "# NLU evaluation on the held-out set",
        "",
        f"- examples: {summary['examples']}",
        f"- intent and FAQ topic both right: **{summary['accuracy_intent_and_topic']:.1%}**",
        f"- intent accuracy: {summary['intent_accuracy']:.1%} (macro F1 {summary['intent_macro_f1']:.3f})",
        f"- FAQ topic accuracy: {summary['faq_topic_accuracy']:.1%}",
        "",
        "Pictures: `intent_confusion_matrix.png`, `response_selection_confusion_matrix.png`, "
        "`intent_histogram.png` in this folder.",
        "",
        "## Per intent / FAQ topic (worst first)",
        "",
        "| class | precision | recall | F1 | examples |",
        "|---|---|---|---|---|",
    ]
    for label, s in summary["per_class"].items():
        lines.append(f"| {label} | {s['precision']:.2f} | {s['recall']:.2f} | {s['f1']:.2f} | {s['support']} |")
    lines += ["", "## Most frequent confusions", "", "| expected | predicted instead | times |", "|---|---|---|"]
    for c in summary["worst_confusions"]:
        lines.append(f"| {c['expected']} | {c['predicted']} | {c['count']} |")
    path = out / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def count_examples(test_file: Path) -> int:
    from bot.nlu_data import load_examples

    return len(load_examples([test_file]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nlu", type=Path, default=paths.HELDOUT, help="held-out examples (Rasa NLU YAML)")
    parser.add_argument("--model", type=Path, default=paths.MODEL)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if not args.model.exists():
        from bot.train import train

        train()
    run_rasa_test(args.model, args.nlu, args.out)
    summary = summarise(args.out, count_examples(args.nlu))
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    report = write_markdown(summary, args.out)
    print(report.read_text())
    print(f"full reports and images: {args.out.relative_to(paths.ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
