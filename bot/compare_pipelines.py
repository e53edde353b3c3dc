"""`make compare`: choose the NLU pipeline by evidence.

For each candidate in bot/pipelines/*.yml:
1. stratified k-fold cross-validation on data/nlu (Rasa's own `cross_validate`): intent and FAQ-topic
   accuracy and F1 on the held-out folds, mean ± std;
2. a full training on data/nlu (timed), then every message of the independent held-out set
   (tests/nlu/heldout.yml) and of the far-out-of-scope set (tests/nlu/out_of_scope_far.yml) parsed by
   the trained model, to measure generalisation to unseen phrasing and to sweep the fallback threshold:
   for each threshold, the share of in-domain messages answered correctly and of far-away messages
   rejected (predicted out_of_scope, or below the threshold).

Writes reports/compare/comparison.md and .json; docs/nlu-pipeline.md quotes them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot import paths
from bot.calibration import base_label
from bot.evaluate import evaluation_sets, figures, parse_all, score
from bot.nlu_data import load_examples, plain

PIPELINES = paths.ROOT / "bot" / "pipelines"
OUT = paths.REPORTS / "compare"
FAR_OOS = paths.ROOT / "tests" / "nlu" / "out_of_scope_far.yml"
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
REJECT = {"out_of_scope", "nlu_fallback"}


def mean_std(values: list[float]) -> tuple[float, float]:
    return (statistics.mean(values), statistics.pstdev(values)) if values else (0.0, 0.0)


async def cross_validation(config: Path, folds: int, out: Path) -> dict[str, Any]:
    from rasa.nlu.test import cross_validate, drop_intents_below_freq
    from rasa.shared.nlu.training_data.loading import load_data

    data = drop_intents_below_freq(load_data(str(paths.NLU_DATA)), cutoff=folds)
    intents, _entities, responses = await cross_validate(data, folds, str(config), str(out), disable_plotting=False)
    acc, acc_sd = mean_std(intents.test.get("Accuracy", []))
    f1, f1_sd = mean_std(intents.test.get("F1-score", []))
    rs_acc, rs_sd = mean_std(responses.test.get("Accuracy", []))
    return {"cv_intent_accuracy": [acc, acc_sd], "cv_intent_f1": [f1, f1_sd], "cv_faq_topic_accuracy": [rs_acc, rs_sd]}


def predicted_label(parse: dict[str, Any]) -> tuple[str, float]:
    """Top label ignoring the FallbackClassifier (so thresholds can be swept), with FAQ topics resolved and
    out-of-scope kinds read as `out_of_scope` (for candidates without bot.components.scope.ScopeKinds)."""
    ranking = [r for r in parse.get("intent_ranking") or [] if r["name"] != "nlu_fallback"]
    if not ranking:
        return "nlu_fallback", 0.0
    name, confidence = base_label(str(ranking[0]["name"])), float(ranking[0]["confidence"])
    if name == "faq":
        key = ((parse.get("response_selector") or {}).get("faq") or {}).get("response", {}).get("intent_response_key")
        name = key or "faq"
    return name, confidence


async def generalisation(config: Path, work: Path) -> dict[str, Any]:
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu

    started = time.monotonic()
    model = train_nlu(str(config), str(paths.NLU_DATA), str(work), fixed_model_name="candidate")
    train_seconds = time.monotonic() - started
    if model is None:
        raise RuntimeError(f"training {config.name} failed")
    agent = Agent.load(model)
    # every evaluation set at the candidate's own configured thresholds, scored as `make evaluate` does
    parsed = await parse_all(Path(model), evaluation_sets())
    per_set = {
        name: {k: v for k, v in figures(score(rows)).items() if k != "reliability"} for name, rows in parsed.items()
    }
    heldout = load_examples([paths.HELDOUT])
    far = load_examples([FAR_OOS]) if FAR_OOS.exists() else []
    rows: list[tuple[str, str, float]] = []
    latencies: list[float] = []
    for example in [*heldout, *far]:
        t0 = time.perf_counter()
        parse = await agent.parse_message(plain(example.text))
        latencies.append(time.perf_counter() - t0)
        label, confidence = predicted_label(parse)
        rows.append((example.label, label, confidence))
    in_domain = rows[: len(heldout)]
    far_rows = rows[len(heldout) :]
    sweep = {}
    for threshold in THRESHOLDS:

        def right(expected: str, label: str, conf: float, t: float = threshold) -> bool:
            if expected == "out_of_scope":
                return label in REJECT or conf < t
            return label == expected and conf >= t

        sweep[str(threshold)] = {
            "heldout_accuracy": sum(right(*r) for r in in_domain) / len(in_domain),
            "far_oos_rejected": (sum(lbl in REJECT or c < threshold for _, lbl, c in far_rows) / len(far_rows))
            if far_rows
            else None,
        }
    latencies.sort()
    return {
        "train_seconds": train_seconds,
        "heldout_examples": len(in_domain),
        "far_oos_examples": len(far_rows),
        "heldout_accuracy_no_threshold": sum(e == lbl for e, lbl, _ in in_domain) / len(in_domain),
        "threshold_sweep": sweep,
        "parse_p50_ms": 1000 * latencies[len(latencies) // 2],
        "sets": per_set,
    }


def table(results: dict[str, dict[str, Any]], chosen_threshold: str) -> str:
    lines = [
        f"| pipeline | CV intent acc | CV intent F1 | CV FAQ topic acc | held-out acc (no threshold) "
        f"| held-out acc @{chosen_threshold} | far-OOS rejected @{chosen_threshold} | train s | parse p50 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        s = r["threshold_sweep"][chosen_threshold]
        far = "n/a" if s["far_oos_rejected"] is None else f"{s['far_oos_rejected']:.1%}"
        lines.append(
            f"| {name} | {r['cv_intent_accuracy'][0]:.3f} ± {r['cv_intent_accuracy'][1]:.3f} "
            f"| {r['cv_intent_f1'][0]:.3f} ± {r['cv_intent_f1'][1]:.3f} "
            f"| {r['cv_faq_topic_accuracy'][0]:.3f} ± {r['cv_faq_topic_accuracy'][1]:.3f} "
            f"| {r['heldout_accuracy_no_threshold']:.1%} | {s['heldout_accuracy']:.1%} | {far} "
            f"| {r['train_seconds']:.0f} | {r['parse_p50_ms']:.1f} |"
        )
    return "\n".join(lines)


def sets_table(results: dict[str, dict[str, Any]]) -> str:
    """Accuracy / wrong-answer rate per evaluation set, each candidate at its own configured thresholds."""
    names = sorted({s for r in results.values() for s in r.get("sets", {})})
    lines = ["| pipeline | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for name, r in results.items():
        cells = []
        for set_name in names:
            f = r.get("sets", {}).get(set_name)
            cells.append("n/a" if not f else f"{f['accuracy']:.1%} / {f['wrong_answer_rate']:.1%} wrong")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sweep_table(name: str, result: dict[str, Any]) -> str:
    lines = [f"Threshold sweep for {name}:", "", "| threshold | held-out acc | far-OOS rejected |", "|---|---|---|"]
    for t, s in result["threshold_sweep"].items():
        far = "n/a" if s["far_oos_rejected"] is None else f"{s['far_oos_rejected']:.1%}"
        lines.append(f"| {t} | {s['heldout_accuracy']:.1%} | {far} |")
    return "\n".join(lines)


async def run(names: list[str], folds: int) -> dict[str, dict[str, Any]]:
    from bot.spacy_pipeline import build

    build()
    OUT.mkdir(parents=True, exist_ok=True)
    candidates = sorted(PIPELINES.glob("*.yml"))
    for index, config in enumerate(candidates, start=1):
        name = config.stem
        if names and name not in names:
            continue
        print(f"[{index}/{len(candidates)}] {name}: {folds}-fold cross-validation ...", flush=True)
        started = time.monotonic()
        result = await cross_validation(config, folds, OUT / name)
        print(f"[{index}/{len(candidates)}] {name}: full training + held-out parsing ...", flush=True)
        with tempfile.TemporaryDirectory() as work:
            result.update(await generalisation(config, Path(work)))
        result["wall_seconds"] = time.monotonic() - started
        # one file per candidate, so candidates can be run in parallel processes (`make compare NAME`)
        (OUT / f"{name}.json").write_text(json.dumps(result, indent=2))
        print(f"[{index}/{len(candidates)}] {name}: done in {result['wall_seconds']:.0f}s", flush=True)
    return collected()


def collected() -> dict[str, dict[str, Any]]:
    """Every candidate's latest result (reports/compare/<name>.json)."""
    return {
        path.stem: json.loads(path.read_text())
        for path in sorted(OUT.glob("*.json"))
        if path.stem != "comparison" and (PIPELINES / f"{path.stem}.yml").exists()
    }


def quiet_rasa() -> None:
    """Rasa's per-message debug lines would bury the progress lines; keep warnings only."""
    import logging

    from rasa.utils.log_utils import configure_structlog

    logging.getLogger("rasa").setLevel(logging.WARNING)
    configure_structlog(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="candidates to (re)run; default all")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--threshold", default="0.5", help="threshold column shown in the main table")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the table from saved results")
    args = parser.parse_args(argv)
    quiet_rasa()
    results = collected() if args.report_only else asyncio.run(run(args.names, args.folds))
    report = [table(results, args.threshold), "", sets_table(results), ""]
    report += [sweep_table(name, r) + "\n" for name, r in results.items()]
    (OUT / "comparison.md").write_text("\n".join(report))
    (OUT / "comparison.json").write_text(json.dumps(results, indent=2))
    print("\n".join(report))
    print(json.dumps({name: {k: v for k, v in r.items() if k != "threshold_sweep"} for name, r in results.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
