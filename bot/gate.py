"""`make gate CANDIDATE=models/candidate.tar.gz`: may a model trained with new data replace the one in service?

Both models parse every evaluation set in tests/nlu/ with bot/evaluate.py's own machinery (`parse_all`,
`score`, `figures`), at their configured thresholds, plus the content team's exported examples
(data/nlu/reviewed.yml, `python -m handoff.review export`). The candidate passes when, on every set:
- accuracy does not drop by more than 0.5 point;
- the wrong-answer rate does not rise;
- out-of-scope rejection does not fall (sets with out-of-scope messages).
It writes reports/gate/summary.md (rules, verdict, per-set and per-intent deltas, and which reviewed messages
the candidate now gets right), summary.json and deltas.png (per-set deltas, in points). Exit code 1 on a fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot import paths
from bot.calibration import base_label
from bot.evaluate import SETS, Scored, evaluation_sets, figures, parse_all, pct, quiet_rasa, score

OUT = paths.REPORTS / "gate"
REVIEWED = paths.NLU_DATA / "reviewed.yml"
REVIEWED_SET = "reviewed"


@dataclass(frozen=True)
class Rules:
    max_accuracy_drop: float = 0.005  # 0.5 point
    max_wrong_answer_rise: float = 0.0
    max_oos_rejection_drop: float = 0.0


@dataclass
class Verdict:
    passed: bool
    failures: list[str]
    sets: dict[str, dict[str, Any]]  # name -> {current, candidate, delta} of the gated figures
    intents: list[dict[str, Any]]  # per expected label: support, recall before/after, delta (worst first)
    reviewed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # now_right / still_wrong / broken


GATED = ("accuracy", "wrong_answer_rate", "oos_rejection")


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else round(after - before, 4)


def set_checks(name: str, current: dict[str, Any], candidate: dict[str, Any], rules: Rules) -> list[str]:
    """The rules' failures on one set, in plain words."""
    failures = []
    drop = _delta(candidate["accuracy"], current["accuracy"])
    if drop is not None and drop > rules.max_accuracy_drop:
        failures.append(f"{name}: accuracy drops {drop:.1%} ({pct(current['accuracy'])} -> "
                        f"{pct(candidate['accuracy'])}), more than {rules.max_accuracy_drop:.1%}")
    rise = _delta(current["wrong_answer_rate"], candidate["wrong_answer_rate"])
    if rise is not None and rise > rules.max_wrong_answer_rise:
        failures.append(f"{name}: wrong answers rise {pct(current['wrong_answer_rate'])} -> "
                        f"{pct(candidate['wrong_answer_rate'])}")
    fall = _delta(candidate["oos_rejection"], current["oos_rejection"])
    if fall is not None and fall > rules.max_oos_rejection_drop:
        failures.append(f"{name}: out-of-scope rejection falls {pct(current['oos_rejection'])} -> "
                        f"{pct(candidate['oos_rejection'])}")
    return failures


def per_intent(current: list[Scored], candidate: list[Scored]) -> list[dict[str, Any]]:
    """Recall per expected label over all sets, before and after; the largest drops first."""
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # support, right before, right after
    for before, after in zip(current, candidate, strict=True):
        row = tally[before.expected]
        row[0] += 1
        row[1] += before.right
        row[2] += after.right
    out = [
        {"label": label, "support": n, "before": round(a / n, 4), "after": round(b / n, 4),
         "delta": round((b - a) / n, 4)}
        for label, (n, a, b) in tally.items()
    ]
    return sorted(out, key=lambda r: (r["delta"], r["label"]))


def reviewed_outcomes(current: list[Scored], candidate: list[Scored]) -> dict[str, list[dict[str, Any]]]:
    """The exported (labelled) messages: which the candidate now gets right, still gets wrong, or broke."""
    out: dict[str, list[dict[str, Any]]] = {"now_right": [], "still_wrong": [], "broken": []}
    for before, after in zip(current, candidate, strict=True):
        row = {"text": after.text, "expected": after.expected, "before": before.outcome.label,
               "after": after.outcome.label}
        if after.right and not before.right:
            out["now_right"].append(row)
        elif not after.right:
            out["broken" if before.right else "still_wrong"].append(row)
    return out


def compare(current: dict[str, list[Scored]], candidate: dict[str, list[Scored]], rules: Rules = Rules(),
            reviewed: tuple[list[Scored], list[Scored]] | None = None) -> Verdict:
    """The gate's decision from both models' scored evaluation sets (the same messages in the same order)."""
    failures: list[str] = []
    sets: dict[str, dict[str, Any]] = {}
    for name in current:
        before, after = figures(current[name]), figures(candidate[name])
        failures += set_checks(name, before, after, rules)
        sets[name] = {key: {"current": before[key], "candidate": after[key], "delta": _delta(before[key], after[key])}
                      for key in GATED} | {"messages": before["messages"]}
    everything = [s for name in current for s in current[name]], [s for name in current for s in candidate[name]]
    verdict = Verdict(not failures, failures, sets, per_intent(*everything))
    if reviewed is not None:
        verdict.reviewed = reviewed_outcomes(*reviewed)
    return verdict


def as_expected(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Exported labels are training labels: an out-of-scope kind is scored as `out_of_scope`."""
    return [{**r, "expected": base_label(str(r["expected"]))} for r in rows]


async def parse_both(current: Path, candidate: Path, reviewed: Path | None) -> tuple[dict[str, Any], dict[str, Any]]:
    sets = evaluation_sets()
    if reviewed is not None and reviewed.exists():
        sets[REVIEWED_SET] = reviewed
    print(f"parsing with the model in service, {current} ...", flush=True)
    before = await parse_all(current, sets)
    print(f"parsing with the candidate, {candidate} ...", flush=True)
    after = await parse_all(candidate, sets)
    return before, after


def verdict_from_parses(before: dict[str, Any], after: dict[str, Any], rules: Rules = Rules()) -> Verdict:
    reviewed = None
    if REVIEWED_SET in before:
        reviewed = score(as_expected(before.pop(REVIEWED_SET))), score(as_expected(after.pop(REVIEWED_SET)))
    return compare({n: score(r) for n, r in before.items()}, {n: score(r) for n, r in after.items()}, rules,
                   reviewed)


def points(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:+.1f} pt"


def write_markdown(verdict: Verdict, current: Path, candidate: Path, out: Path, rules: Rules = Rules(),
                   reviewed: Path = REVIEWED) -> Path:
    lines = [
        "# Model gate", "",
        f"Candidate `{candidate}` against the model in service `{current}`, both at their configured thresholds, "
        "on every evaluation set in tests/nlu/.", "",
        f"Rules, on every set: accuracy drops by at most {rules.max_accuracy_drop * 100:.1f} point; the wrong-answer "
        "rate does not rise; out-of-scope rejection does not fall.", "",
        f"**Verdict: {'PASS' if verdict.passed else 'FAIL'}**", "",
    ]
    lines += [f"- {f}" for f in verdict.failures] + ([""] if verdict.failures else [])
    lines += ["| set | messages | accuracy | Δ | wrong answers | Δ | out-of-scope rejected | Δ |",
              "|---|---|---|---|---|---|---|---|"]
    for name, s in verdict.sets.items():
        cells = [f"{pct(s[k]['current'])} → {pct(s[k]['candidate'])} | {points(s[k]['delta'])}" for k in GATED]
        lines.append(f"| {SETS.get(name, name)} | {s['messages']} | " + " | ".join(cells) + " |")
    changed = [r for r in verdict.intents if r["delta"] != 0]
    lines += ["", "## Per intent and FAQ topic (recall over all sets; changes only)", ""]
    lines += ["| label | messages | before | after | Δ |", "|---|---|---|---|---|"] if changed else ["No change."]
    lines += [f"| {r['label']} | {r['support']} | {pct(r['before'])} | {pct(r['after'])} | {points(r['delta'])} |"
              for r in changed]
    lines += _reviewed_lines(verdict.reviewed, reviewed)
    lines += ["", "Per-set deltas: `deltas.png`."]
    path = out / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _reviewed_lines(reviewed: dict[str, list[dict[str, Any]]], path: Path) -> list[str]:
    if not reviewed:
        return ["", "## Reviewed messages", "", f"No export found ({path})."]
    lines = ["", f"## Reviewed messages ({path})", "",
             f"{len(reviewed['now_right'])} now right, {len(reviewed['still_wrong'])} still wrong, "
             f"{len(reviewed['broken'])} right before and wrong now."]
    for title, key in (("Now right", "now_right"), ("Still wrong", "still_wrong"), ("Broken", "broken")):
        if reviewed[key]:
            lines += ["", f"### {title}", "", "| message | label | before | after |", "|---|---|---|---|"]
            lines += [f"| {r['text']} | {r['expected']} | {r['before']} | {r['after']} |" for r in reviewed[key]]
    return lines


def plot_deltas(verdict: Verdict, path: Path) -> None:
    """Grouped bars: per set, the change of accuracy, wrong-answer rate and out-of-scope rejection, in points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(verdict.sets)
    fig, ax = plt.subplots(figsize=(1.8 * len(names) + 2, 3.6))
    width = 0.27
    for i, (key, colour) in enumerate(zip(GATED, ("#2b7bb9", "#c0392b", "#27ae60"), strict=True)):
        values = [(verdict.sets[n][key]["delta"] or 0.0) * 100 for n in names]
        ax.bar([x + (i - 1) * width for x in range(len(names))], values, width, label=key.replace("_", " "),
               color=colour)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(names)), names, rotation=15, fontsize=8)
    ax.set_ylabel("candidate − current (points)")
    ax.set_title(f"Model gate: {'PASS' if verdict.passed else 'FAIL'}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidate", type=Path, help="the model trained with the new data")
    parser.add_argument("--current", type=Path, default=paths.MODEL, help="the model in service")
    parser.add_argument("--reviewed", type=Path, default=REVIEWED, help="the exported review labels")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    for model in (args.current, args.candidate):
        if not model.exists():
            parser.error(f"no model at {model}")
    args.out.mkdir(parents=True, exist_ok=True)
    quiet_rasa()
    before, after = asyncio.run(parse_both(args.current, args.candidate, args.reviewed))
    verdict = verdict_from_parses(before, after)
    (args.out / "summary.json").write_text(json.dumps(verdict.__dict__, indent=2))
    plot_deltas(verdict, args.out / "deltas.png")
    print(write_markdown(verdict, args.current, args.candidate, args.out, reviewed=args.reviewed).read_text())
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
