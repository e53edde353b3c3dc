"""`make evaluate`: how the trained model does on every evaluation set, at its own configured thresholds.

The sets in tests/nlu/ were written independently of data/nlu (`make validate` fails if any of their sentences,
or a near copy, is a training example): the held-out set, far-away out-of-scope messages, and three sets
frozen before the pipeline was tuned for issue 16: finance-adjacent out-of-scope questions, Devanagari and
mixed-script messages, and noisy WhatsApp-style in-scope messages.

One model is loaded once and parses every message, exactly as the served assistant would (its thresholds
included: an answer below the intent or FAQ-topic threshold is a fallback). Per set it reports:
- accuracy: in-scope messages answered with the right intent and FAQ topic, out-of-scope ones refused;
- out-of-scope rejection: the share of out-of-scope messages refused (scope reply or fallback);
- wrong-answer rate: messages answered, but wrongly (a wrong intent or topic, or an out-of-scope message
  answered as if it were ours): the number that matters most to a fund house;
- fallback rate: in-scope messages refused (the investor gets buttons or the scope reply: a lost turn, not a
  wrong answer);
- calibration: expected calibration error of the classifier's own best guess, and a reliability diagram;
- the most frequent confusions.
It writes reports/nlu/summary.md and summary.json, reliability.png, the held-out set's confusion matrices
and confidence histogram, and parses.jsonl (every parse, for bot/compare_pipelines.py and later analysis).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot import paths
from bot.calibration import Outcome, expected_calibration_error, reliability
from bot.nlu_data import load_examples, plain
from bot.taxonomy import OUT_OF_SCOPE

OUT = paths.REPORTS / "nlu"
EVAL_DIR = paths.ROOT / "tests" / "nlu"
SETS = {
    "heldout": "held-out (all intents and topics)",
    "out_of_scope_far": "far out-of-scope",
    "finance_adjacent_oos": "finance-adjacent out-of-scope",
    "devanagari": "Devanagari and mixed script",
    "noisy_in_scope": "noisy WhatsApp-style in-scope",
}
IN_SCOPE_POOL = ("heldout", "devanagari", "noisy_in_scope")  # "all in-scope sets together" (issue 16)


@dataclass(frozen=True)
class Scored:
    """One evaluation message with its expected label and what the model made of it."""

    text: str
    expected: str
    outcome: Outcome

    @property
    def in_scope(self) -> bool:
        return self.expected != OUT_OF_SCOPE

    @property
    def right(self) -> bool:
        return (not self.outcome.answered) if not self.in_scope else self.outcome.label == self.expected

    @property
    def wrong_answer(self) -> bool:
        return self.outcome.answered and self.outcome.label != self.expected


def evaluation_sets(names: Iterable[str] | None = None) -> dict[str, Path]:
    """The evaluation files that exist, by set name."""
    chosen = list(names or SETS)
    return {name: EVAL_DIR / f"{name}.yml" for name in chosen if (EVAL_DIR / f"{name}.yml").exists()}


def quiet_rasa() -> None:
    """Rasa's per-message debug lines would bury the report; keep warnings only."""
    import logging

    from rasa.utils.log_utils import configure_structlog

    logging.getLogger("rasa").setLevel(logging.WARNING)
    configure_structlog(logging.WARNING)


async def parse_all(model: Path, sets: dict[str, Path]) -> dict[str, list[dict[str, Any]]]:
    """Every message of every set parsed by one loaded model: {set: [{text, expected, parse}]}."""
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    parsed: dict[str, list[dict[str, Any]]] = {}
    for name, path in sets.items():
        rows = []
        for example in load_examples([path]):
            parse = await agent.parse_message(plain(example.text))
            keep = {k: parse.get(k) for k in ("intent", "intent_ranking", "response_selector", "entities")}
            rows.append({"text": plain(example.text), "expected": example.label, "parse": keep})
        parsed[name] = rows
        print(f"  {name}: {len(rows)} messages parsed", flush=True)
    return parsed


def score(rows: list[dict[str, Any]]) -> list[Scored]:
    return [Scored(r["text"], r["expected"], Outcome.of(r["parse"])) for r in rows]


def figures(scored: list[Scored]) -> dict[str, Any]:
    """The per-set figures described in the module docstring."""
    inside = [s for s in scored if s.in_scope]
    outside = [s for s in scored if not s.in_scope]
    confusions = Counter((s.expected, s.outcome.label) for s in scored if not s.right)
    points = [(s.outcome.confidence, s.outcome.guess == s.expected) for s in scored]

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

    return {
        "messages": len(scored),
        "in_scope": len(inside),
        "out_of_scope": len(outside),
        "accuracy": share(sum(s.right for s in scored), len(scored)),
        "in_scope_accuracy": share(sum(s.right for s in inside), len(inside)),
        "oos_rejection": share(sum(s.right for s in outside), len(outside)),
        "wrong_answer_rate": share(sum(s.wrong_answer for s in scored), len(scored)),
        "in_scope_wrong_answer_rate": share(sum(s.wrong_answer for s in inside), len(inside)),
        "fallback_rate": share(sum(not s.outcome.answered for s in inside), len(inside)),
        "ece": round(expected_calibration_error(points), 4),
        "reliability": reliability(points),
        "worst_confusions": [{"expected": e, "predicted": p, "count": c} for (e, p), c in confusions.most_common(10)],
    }


def summarise(parsed: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    scored = {name: score(rows) for name, rows in parsed.items()}
    summary: dict[str, Any] = {"sets": {name: figures(s) for name, s in scored.items()}}
    pool = [s for name in IN_SCOPE_POOL for s in scored.get(name, []) if s.in_scope]
    everything = [s for rows in scored.values() for s in rows]
    summary["in_scope_pool"] = {
        "sets": [n for n in IN_SCOPE_POOL if n in scored],
        "messages": len(pool),
        "wrong_answer_rate": round(sum(s.wrong_answer for s in pool) / len(pool), 4) if pool else None,
        "accuracy": round(sum(s.right for s in pool) / len(pool), 4) if pool else None,
    }
    points = [(s.outcome.confidence, s.outcome.guess == s.expected) for s in everything]
    summary["all_sets"] = {"messages": len(everything), "ece": round(expected_calibration_error(points), 4)}
    return summary


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def write_markdown(summary: dict[str, Any], model: Path, out: Path) -> Path:
    lines = [
        "# NLU evaluation on every set",
        "",
        f"Model `{model.name}`, at its configured thresholds (a message below the intent or FAQ-topic threshold "
        "is a fallback). Accuracy counts an in-scope message right when intent and FAQ topic are both right, an "
        "out-of-scope one when it is refused. Wrong answer: answered, but wrongly. Fallback: an in-scope message "
        "refused. ECE: expected calibration error of the classifier's own best guess (10 bins).",
        "",
        "| set | messages | accuracy | out-of-scope rejected | wrong answers | in-scope fallback | ECE |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, f in summary["sets"].items():
        lines.append(
            f"| {SETS.get(name, name)} | {f['messages']} | {pct(f['accuracy'])} | {pct(f['oos_rejection'])} "
            f"| {pct(f['wrong_answer_rate'])} | {pct(f['fallback_rate'])} | {f['ece']:.3f} |"
        )
    pool = summary["in_scope_pool"]
    lines += [
        "",
        f"- All in-scope messages of {', '.join(pool['sets'])} together ({pool['messages']}): "
        f"wrong answers **{pct(pool['wrong_answer_rate'])}**, right {pct(pool['accuracy'])}.",
        f"- Calibration over all {summary['all_sets']['messages']} messages: ECE {summary['all_sets']['ece']:.3f}; "
        "reliability diagram: `reliability.png`.",
        "- Held-out set pictures: `intent_confusion_matrix.png`, `response_selection_confusion_matrix.png`, "
        "`intent_histogram.png` in this folder.",
    ]
    for name, f in summary["sets"].items():
        lines += ["", f"## {SETS.get(name, name)}: most frequent confusions", ""]
        if not f["worst_confusions"]:
            lines.append("None.")
            continue
        lines += ["| expected | got instead | times |", "|---|---|---|"]
        lines += [f"| {c['expected']} | {c['predicted']} | {c['count']} |" for c in f["worst_confusions"]]
    path = out / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def plot_reliability(summary: dict[str, Any], path: Path) -> None:
    """One reliability diagram per set: share right against mean confidence per bin, the diagonal is perfect."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = summary["sets"]
    fig, axes = plt.subplots(1, len(sets), figsize=(3.2 * len(sets), 3.4), squeeze=False)
    for ax, (name, f) in zip(axes[0], sets.items(), strict=True):
        table = f["reliability"]
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
        ax.bar(
            [(r["low"] + r["high"]) / 2 for r in table],
            [r["accuracy"] for r in table],
            width=0.09,
            color="#2b7bb9",
            alpha=0.8,
        )
        ax.plot([r["confidence"] for r in table], [r["accuracy"] for r in table], "o", color="black", markersize=3)
        ax.set_title(f"{name}\nECE {f['ece']:.3f}", fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("confidence")
    axes[0][0].set_ylabel("share right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_heldout(rows: list[dict[str, Any]], out: Path) -> None:
    """Rasa's pictures for the held-out set, from the same parses: confusion matrices and confidence histogram."""
    import matplotlib

    matplotlib.use("Agg")
    from rasa.utils.plotting import plot_confusion_matrix, plot_paired_histogram
    from sklearn.metrics import confusion_matrix

    scored = score(rows)

    def intent_of(label: str) -> str:
        return "faq" if label.startswith("faq/") else label

    expected = [intent_of(s.expected) for s in scored]
    got = [intent_of(s.outcome.label) for s in scored]
    labels = sorted(set(expected) | set(got))
    plot_confusion_matrix(
        confusion_matrix(expected, got, labels=labels),
        classes=labels,
        title="Intent confusion matrix (held-out, at the thresholds)",
        output_file=str(out / "intent_confusion_matrix.png"),
    )
    faq = [s for s in scored if s.expected.startswith("faq/")]
    topics = sorted({s.expected for s in faq} | {s.outcome.label for s in faq})
    plot_confusion_matrix(
        confusion_matrix([s.expected for s in faq], [s.outcome.label for s in faq], labels=topics),
        classes=topics,
        title="FAQ topic confusion matrix (held-out, at the thresholds)",
        output_file=str(out / "response_selection_confusion_matrix.png"),
    )
    right = [s.outcome.confidence for s in scored if s.outcome.guess == s.expected]
    wrong = [s.outcome.confidence for s in scored if s.outcome.guess != s.expected]
    plot_paired_histogram(
        [right, wrong], title="Confidence of the best guess (held-out)", output_file=str(out / "intent_histogram.png")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=paths.MODEL)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--sets", nargs="*", help=f"evaluation sets (default all: {', '.join(SETS)})")
    parser.add_argument("--parses", type=Path, help="score saved parses (parses.jsonl) instead of parsing again")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.parses:
        parsed: dict[str, list[dict[str, Any]]] = {}
        for line in args.parses.read_text().splitlines():
            row = json.loads(line)
            parsed.setdefault(row.pop("set"), []).append(row)
    else:
        if not args.model.exists():
            from bot.train import train

            train()
        quiet_rasa()
        print(f"parsing every evaluation set with {args.model.name} ...", flush=True)
        parsed = asyncio.run(parse_all(args.model, evaluation_sets(args.sets)))
        with (args.out / "parses.jsonl").open("w") as handle:
            for name, rows in parsed.items():
                for row in rows:
                    handle.write(json.dumps({"set": name, **row}, ensure_ascii=False, default=str) + "\n")
    summary = summarise(parsed)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    plot_reliability(summary, args.out / "reliability.png")
    if "heldout" in parsed:
        plot_heldout(parsed["heldout"], args.out)
    report = write_markdown(summary, args.model, args.out)
    print(report.read_text())
    print(f"full reports and images: {args.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
